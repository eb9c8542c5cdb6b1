//! [`SharedConnection`]: one connection that many threads use at once, their commands
//! pipelined together.
//!
//! No thread of its own: the first caller to find the connection free writes every command
//! queued so far in one system call, reads the replies owed in order, writes what queued up
//! meanwhile, hands each answer to its caller and wakes them (and one more caller to take the
//! next turn). Replies are matched to commands by their order on the one connection, as RESP
//! requires.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};
use resp_proto::Value;

use crate::{Connection, ConnectionConfig, Error};

/// One connection to a server, shared by every thread that sends through it: commands that
/// arrive while a round trip is under way wait for it to end and then go out together, in
/// one write. Under concurrency this trades a pool's connection per thread for fewer,
/// fuller round trips (fewer system calls and wake-ups on both sides).
///
/// What it guarantees:
///
/// * Each caller gets the reply to its own command: replies are taken in the order the
///   commands were written, on one connection, by one thread at a time.
/// * When the connection fails (timeout, reset, closed, malformed reply), every command
///   written on it that has no reply yet fails with that error; whether it ran is unknown,
///   and nothing is sent again. The commands still queued were never written: they go out
///   on a new connection. When no usable connection can be had (the connect, or the health
///   check before the write, fails), the commands about to be written fail with that error
///   although nothing was written.
/// * [`SharedConnection::close`] lets the connection give the replies it owes, writes
///   nothing more on it, and the next commands go out on a new one.
/// * Before writing on a connection that owes no reply, it is checked without a round trip
///   (a peek at the socket, as a pool checkout does) and, after
///   [`ConnectionConfig::health_check_interval`] of idleness, with a PING; a dead one is
///   replaced before anything is written.
/// * No lock is held during I/O, and no background thread runs.
///
/// What the caller must ensure: only commands that neither block the connection (BLPOP,
/// XREAD BLOCK, WAIT, ...) nor change its state (SELECT, MULTI, WATCH, SUBSCRIBE, CLIENT
/// ..., ...) go through it; they would hold up or change every other caller's commands.
/// A slow command delays the commands queued behind it.
///
/// ```no_run
/// use redis_conn::{ConnectionConfig, SharedConnection};
/// use resp_proto::Value;
///
/// let shared = SharedConnection::new(ConnectionConfig::from_url("redis://127.0.0.1:6379")?);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             // `$4\r\nPING\r\n`: the command's one argument as a RESP bulk string.
///             let reply = shared.request(1, b"$4\r\nPING\r\n").expect("PING");
///             assert!(matches!(reply, Value::SimpleString(_)));
///         });
///     }
/// });
/// # Ok::<(), redis_conn::Error>(())
/// ```
pub struct SharedConnection {
    config: Arc<ConnectionConfig>,
    state: Mutex<State>,
}

impl std::fmt::Debug for SharedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConnection")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// The connection, when no thread is using it and it has not failed.
    conn: Option<Connection>,
    /// A thread is writing to or reading from the connection.
    io_busy: bool,
    /// Commands not written yet, encoded back to back.
    queued: Vec<u8>,
    /// Tickets are handed out in order: `first_unanswered..first_unwritten` are written and
    /// wait for their replies (in that order), `first_unwritten..next_ticket` are queued.
    first_unanswered: u64,
    first_unwritten: u64,
    next_ticket: u64,
    /// Answers not yet collected by their callers.
    done: Vec<(u64, Result<Value, Error>)>,
    /// The callers waiting, by ticket: each is woken when its answer is in, and one when
    /// the connection is free and work remains.
    parked: Vec<(u64, std::thread::Thread)>,
    /// Buffers kept for the next turn.
    spare: Vec<u8>,
    replies: Vec<Value>,
    /// [`SharedConnection::close`] was called while the connection was in use: it is dropped
    /// as soon as no reply is owed on it.
    closing: bool,
    stats: SharedStats,
}

/// Counters of a [`SharedConnection`] since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedStats {
    /// Commands written.
    pub requests: u64,
    /// Writes: each carries every command queued at the time, so fewer than `requests`
    /// when commands went out together.
    pub writes: u64,
    /// Connections opened.
    pub connects: u64,
    /// Times the connection failed (every command waiting on it failed with it).
    pub failures: u64,
}

/// What one thread's turn at the connection did, handed back under the lock.
struct Turn {
    conn: Option<Connection>,
    /// Replies read, for the tickets from `first_unanswered` on.
    replies: Vec<Value>,
    /// Tickets written during the turn: the new `first_unwritten`.
    written_to: u64,
    /// The failure that ended the turn: every written ticket without a reply fails with it.
    failure: Option<Error>,
    /// Commands written, and writes.
    written: u64,
    writes: u64,
    opened: bool,
}

impl SharedConnection {
    /// A shared connection to the server `config` names; nothing is opened before the first
    /// request.
    pub fn new(config: impl Into<Arc<ConnectionConfig>>) -> Self {
        SharedConnection {
            config: config.into(),
            state: Mutex::new(State::default()),
        }
    }

    /// The settings connections are opened with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Sends one command, given as its `count` arguments encoded as RESP bulk strings back
    /// to back (`$3\r\nGET\r\n$1\r\nk\r\n`, what `redis_commands::Cmd::packed_args`
    /// holds), and returns its reply. A server error reply is returned as a value
    /// ([`Value::Error`] or [`Value::BulkError`]), as [`Connection::read_reply`] does.
    ///
    /// `packed` must hold exactly `count` (at least one) well-formed bulk strings, or the
    /// command is refused with [`Error::InvalidCommand`] before anything is written: replies
    /// are matched to commands by their order, so one malformed command would shift every
    /// caller's reply. A command that changes the connection's state
    /// ([`is_state_changing`](crate::is_state_changing): `SELECT`, `MULTI`, `SUBSCRIBE`,
    /// `CLIENT REPLY`, ...) is refused the same way: it would change every other caller's
    /// commands, or the number of replies they get.
    pub fn request(&self, count: usize, packed: &[u8]) -> Result<Value, Error> {
        let name = check_packed(count, packed)?;
        if crate::is_state_changing(name) {
            return Err(Error::InvalidCommand(format!(
                "{} changes the connection's state; send it on a connection of its own",
                String::from_utf8_lossy(name)
            )));
        }
        let mut state = self.state.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        resp_proto::write_array_header(&mut state.queued, count);
        state.queued.extend_from_slice(packed);
        loop {
            if let Some(at) = state.done.iter().position(|(t, _)| *t == ticket) {
                return state.done.swap_remove(at).1;
            }
            if state.io_busy {
                // Parked until its answer is in, or until it is its turn at the connection.
                state.parked.push((ticket, std::thread::current()));
                MutexGuard::unlocked(&mut state, std::thread::park);
                if let Some(at) = state.parked.iter().position(|(t, _)| *t == ticket) {
                    state.parked.swap_remove(at);
                }
                continue;
            }
            self.take_turn(&mut state, ticket);
        }
    }

    /// One thread's turn at the connection, the lock released for the I/O: writes what is
    /// queued, reads the replies of everything written, writes what was queued meanwhile
    /// (so that the server has work while the answers are handed out and another thread
    /// takes the next turn), then records the answers and wakes the callers.
    fn take_turn(&self, state: &mut MutexGuard<'_, State>, own: u64) {
        state.io_busy = true;
        let conn = state.conn.take();
        let first_unanswered = state.first_unanswered;
        let first_unwritten = state.first_unwritten;
        // A connection being closed only gives the replies it owes; the queue waits for
        // the next one.
        let to_write = if state.closing {
            0
        } else {
            state.next_ticket - first_unwritten
        };
        let bytes = if to_write > 0 {
            let spare = std::mem::take(&mut state.spare);
            std::mem::replace(&mut state.queued, spare)
        } else {
            std::mem::take(&mut state.spare)
        };
        state.first_unwritten = first_unwritten + to_write;
        let replies = std::mem::take(&mut state.replies);
        let outcome = MutexGuard::unlocked(state, || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.first_half(
                    conn,
                    bytes,
                    to_write,
                    first_unanswered,
                    first_unwritten,
                    replies,
                )
            }))
        });
        let (mut turn, mut bytes) = match outcome {
            Ok(turn) => turn,
            Err(panic) => self.unwound(state, own, panic),
        };
        // Commands queued while this turn read: out now, read by the next turn.
        if turn.failure.is_none() && !state.closing && state.next_ticket > state.first_unwritten {
            let count = state.next_ticket - state.first_unwritten;
            bytes.clear();
            std::mem::swap(&mut bytes, &mut state.queued);
            let written_to = state.next_ticket;
            state.first_unwritten = written_to;
            let mut conn = turn.conn.take();
            let outcome = MutexGuard::unlocked(state, || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    write_all(&mut conn, &bytes, count)
                }))
            });
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => turn.failure = Some(e),
                Err(panic) => self.unwound(state, own, panic),
            }
            // (After a failure, `finish_turn` drops it outside the lock.)
            turn.conn = conn;
            turn.writes += 1;
            turn.written += count;
            turn.written_to = written_to;
        }
        self.finish_turn(state, turn, bytes);
    }

    /// The I/O of a turn: a usable connection, the queued commands written, the replies of
    /// every written command read.
    fn first_half(
        &self,
        conn: Option<Connection>,
        bytes: Vec<u8>,
        to_write: u64,
        first_unanswered: u64,
        first_unwritten: u64,
        mut replies: Vec<Value>,
    ) -> (Turn, Vec<u8>) {
        let mut turn = Turn {
            conn: None,
            replies: Vec::new(),
            written_to: first_unwritten,
            failure: None,
            written: 0,
            writes: 0,
            opened: false,
        };
        let in_flight = first_unwritten - first_unanswered;
        let mut conn = match self.usable(conn, in_flight, &mut turn.opened) {
            Ok(conn) => conn,
            Err(e) => {
                turn.failure = Some(e);
                turn.replies = replies;
                return (turn, bytes);
            }
        };
        let mut outcome = Ok(());
        if to_write > 0 {
            outcome = conn.send_packed(&bytes, usize::try_from(to_write).unwrap_or(usize::MAX));
            turn.writes = 1;
            turn.written = to_write;
            turn.written_to = first_unwritten + to_write;
        }
        let owed = usize::try_from(turn.written_to - first_unanswered).unwrap_or(usize::MAX);
        let outcome = outcome.and_then(|()| conn.read_replies(owed, &mut replies));
        match outcome {
            Ok(()) => turn.conn = Some(conn),
            Err(e) => turn.failure = Some(e),
        }
        turn.replies = replies;
        (turn, bytes)
    }

    /// The connection to use: the current one, checked when nothing is in flight on it (a
    /// peek, and a PING after the health-check interval), or a new one.
    fn usable(
        &self,
        conn: Option<Connection>,
        in_flight: u64,
        opened: &mut bool,
    ) -> Result<Connection, Error> {
        if in_flight > 0 {
            // Replies are owed on this connection: it is the only one that can give them.
            return conn.ok_or(Error::Broken);
        }
        let mut current = conn;
        if current.as_mut().is_some_and(|c| !c.is_idle()) {
            // Closed by the server, or sent something unasked: replaced before any write.
            current = None;
        }
        let mut conn = match current {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_shared(Arc::clone(&self.config))?;
                *opened = true;
                conn
            }
        };
        conn.check_health(Instant::now())?;
        Ok(conn)
    }

    /// Records a turn's answers, gives the connection back and wakes every waiting caller.
    fn finish_turn(&self, state: &mut MutexGuard<'_, State>, mut turn: Turn, mut bytes: Vec<u8>) {
        if turn.failure.is_some() {
            // A failed connection goes (its drop, outside the lock, below).
            state.closing = false;
        }
        let first = state.first_unanswered;
        let answered = turn.replies.len() as u64;
        for (i, value) in turn.replies.drain(..).enumerate() {
            state.done.push((first + i as u64, Ok(value)));
        }
        state.first_unanswered = first + answered;
        if let Some(failure) = &turn.failure {
            // Every written command without a reply: its outcome is unknown.
            for ticket in state.first_unanswered..turn.written_to.max(state.first_unwritten) {
                state.done.push((ticket, Err(failure.duplicate())));
            }
            state.first_unanswered = turn.written_to.max(state.first_unwritten);
            state.first_unwritten = state.first_unanswered;
            state.stats.failures += 1;
        }
        state.stats.requests += turn.written;
        state.stats.writes += turn.writes;
        state.stats.connects += u64::from(turn.opened);
        let owed = state.first_unanswered < state.first_unwritten;
        let dropped = if turn.failure.is_some() || (state.closing && !owed) {
            state.closing = false;
            turn.conn.take()
        } else {
            state.conn = turn.conn.take();
            None
        };
        // Buffers are kept for the next turn unless a burst made them large.
        if turn.replies.capacity() <= KEEP_REPLIES {
            state.replies = turn.replies;
        }
        if bytes.capacity() <= KEEP_BYTES {
            bytes.clear();
            state.spare = bytes;
        }
        state.io_busy = false;
        wake(state);
        if dropped.is_some() {
            // Closing a socket is a system call: not under the lock.
            MutexGuard::unlocked(state, || drop(dropped));
        }
    }

    /// After a panic during a turn (a bug): every command written or being written fails,
    /// the connection is dropped, the callers are woken, and the panic goes on.
    fn unwound(
        &self,
        state: &mut MutexGuard<'_, State>,
        own: u64,
        panic: Box<dyn std::any::Any + Send>,
    ) -> ! {
        for ticket in state.first_unanswered..state.first_unwritten {
            // The panicking caller collects nothing: no answer is left for it.
            if ticket != own {
                state.done.push((ticket, Err(Error::Broken)));
            }
        }
        state.first_unanswered = state.first_unwritten;
        state.closing = false;
        state.stats.failures += 1;
        state.io_busy = false;
        wake(state);
        std::panic::resume_unwind(panic)
    }

    /// Counters since creation.
    pub fn stats(&self) -> SharedStats {
        self.state.lock().stats
    }

    /// Closes the connection: now when no round uses it, else when its round ends. The next
    /// request opens a new one.
    pub fn close(&self) {
        let mut state = self.state.lock();
        let owed = state.first_unanswered < state.first_unwritten;
        if state.io_busy || owed {
            state.closing = true;
        } else {
            let conn = state.conn.take();
            drop(state);
            drop(conn);
        }
    }
}

/// Reply lists and write buffers larger than these are freed after a turn rather than kept.
const KEEP_REPLIES: usize = 4096;
const KEEP_BYTES: usize = 1 << 20;

/// Wakes the callers whose answer is in, and, when commands are still queued or owed a
/// reply, one more to take the next turn at the connection.
fn wake(state: &mut State) {
    let mut next_turn = None;
    let mut i = 0;
    while i < state.parked.len() {
        let ticket = state.parked[i].0;
        if state.done.iter().any(|(t, _)| *t == ticket) {
            state.parked.swap_remove(i).1.unpark();
        } else {
            next_turn.get_or_insert(i);
            i += 1;
        }
    }
    let work_left = state.next_ticket > state.first_unanswered;
    if work_left && let Some(i) = next_turn {
        state.parked[i].1.unpark();
    }
}

/// Writes a turn's second batch on the connection the turn holds.
fn write_all(conn: &mut Option<Connection>, bytes: &[u8], count: u64) -> Result<(), Error> {
    let conn = conn.as_mut().ok_or(Error::Broken)?;
    conn.send_packed(bytes, usize::try_from(count).unwrap_or(usize::MAX))
}

/// Checks that `packed` is `count` (at least one) RESP bulk strings back to back, reading
/// only their headers, and returns the first (the command's name); lengths with leading
/// zeros are refused, as the server refuses them.
fn check_packed(count: usize, packed: &[u8]) -> Result<&[u8], Error> {
    let invalid = |why: &str| Err(Error::InvalidCommand(why.to_owned()));
    if count == 0 {
        return invalid("a command needs at least its name");
    }
    // The shortest argument, `$0\r\n\r\n`, takes 6 bytes.
    if count > packed.len() / 6 {
        return invalid("fewer bytes than the arguments counted");
    }
    let mut rest = packed;
    let mut name: &[u8] = &[];
    for i in 0..count {
        let Some((&b'$', tail)) = rest.split_first() else {
            return invalid("an argument is not a RESP bulk string");
        };
        let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || (digits > 1 && tail[0] == b'0') {
            return invalid("an argument's length is not a number");
        }
        let len = std::str::from_utf8(&tail[..digits])
            .ok()
            .and_then(|d| d.parse::<usize>().ok());
        let Some(len) = len else {
            return invalid("an argument's length is not a number");
        };
        let Some(body) = tail[digits..].strip_prefix(b"\r\n") else {
            return invalid("an argument's header does not end with CRLF");
        };
        if body.len() < len || body.get(len..len + 2) != Some(b"\r\n") {
            return invalid("an argument is shorter than its header says");
        }
        if i == 0 {
            name = &body[..len];
        }
        rest = &body[len + 2..];
    }
    if !rest.is_empty() {
        return invalid("more bytes than the arguments counted");
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::{SharedConnection, check_packed};
    use crate::{ConnectionConfig, Error};

    #[test]
    fn one_well_formed_command_passes() {
        assert_eq!(check_packed(1, b"$4\r\nPING\r\n").unwrap(), b"PING");
        assert!(check_packed(3, b"$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n").is_ok());
        // A payload may hold CRLF: only the header says where it ends.
        assert!(check_packed(2, b"$4\r\nECHO\r\n$2\r\n\r\n\r\n").is_ok());
    }

    #[test]
    fn anything_else_is_refused_without_panicking() {
        let refused: &[(usize, &[u8])] = &[
            (0, b""),
            (1, b""),
            (usize::MAX, b"$1\r\nA\r\n$18446744073709551591\r\n"),
            (1, b"$18446744073709551614\r\n"),
            (1, b"$99999999999999999999999\r\nx\r\n"),
            (1, b"$03\r\nabc\r\n"),
            (1, b"$\r\n\r\n"),
            (1, b"$-1\r\n"),
            (1, b"$3\r\nabc"),
            (1, b"$3\r\nabcd\r\n"),
            (1, b"$3\rxabc\r\n"),
            (2, b"$1\r\na\r\n"),
            (1, b"$1\r\na\r\n$1\r\nb\r\n"),
            (1, b"*1\r\n$4\r\nPING\r\n"),
        ];
        for (count, packed) in refused {
            assert!(
                check_packed(*count, packed).is_err(),
                "{count} {:?}",
                String::from_utf8_lossy(packed)
            );
        }
    }

    /// Commands that would change every caller's connection, or the number of replies the
    /// next commands get, are refused before anything is opened or written.
    #[test]
    fn state_changing_commands_are_refused_before_connecting() {
        let config = ConnectionConfig::builder()
            .host("127.0.0.1")
            .port(1)
            .build();
        let shared = SharedConnection::new(config);
        let refused: &[(usize, &[u8])] = &[
            (3, b"$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"),
            (2, b"$6\r\nselect\r\n$1\r\n1\r\n"),
            (1, b"$5\r\nMULTI\r\n"),
            (2, b"$9\r\nSUBSCRIBE\r\n$1\r\na\r\n"),
            (1, b"$11\r\nUNSUBSCRIBE\r\n"),
            (1, b"$7\r\nMONITOR\r\n"),
            (2, b"$5\r\nHELLO\r\n$1\r\n3\r\n"),
        ];
        for (count, packed) in refused {
            match shared.request(*count, packed) {
                Err(Error::InvalidCommand(why)) => assert!(why.contains("state"), "{why}"),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(packed)),
            }
        }
        assert_eq!(shared.stats().connects, 0);
        assert_eq!(shared.stats().requests, 0);
    }
}
