//! [`Cmd`]: a command built argument by argument, and [`Runner`], what can run it.

use resp_proto::Value;

use crate::arg::{ToArg, ToArgs};
use crate::reply::{ConversionError, FromReply};

/// A command under construction: its arguments, already encoded as RESP bulk strings.
///
/// ```
/// use redis_commands::cmd;
///
/// let mut set = cmd("SET");
/// set.arg("key").arg(42).arg("EX").arg(10);
/// assert_eq!(set.len(), 5);
/// assert_eq!(set.name(), b"SET");
/// let mut wire = Vec::new();
/// set.write_packed(&mut wire);
/// assert!(wire.starts_with(b"*5\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n42\r\n"));
/// ```
#[derive(Default, PartialEq, Eq)]
pub struct Cmd {
    /// The arguments, each a complete bulk string.
    args: Vec<u8>,
    count: usize,
    /// Where the first argument's bytes are in `args`.
    name: (usize, usize),
    /// The first problem found while building: an argument, and the option it needs (`None`:
    /// a list that needs at least one value was empty).
    invalid: Option<(&'static str, Option<&'static str>)>,
}

/// A command whose arguments cannot be sent (redis-py's `DataError`): a list that needs at
/// least one value was empty, or an option was set without the option it qualifies (`ANY`
/// without `COUNT`). Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError {
    command: String,
    argument: &'static str,
    needs: Option<&'static str>,
}

impl std::fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.needs {
            None => write!(
                f,
                "{} needs at least one `{}`; nothing was sent",
                self.command, self.argument
            ),
            Some(needs) => write!(
                f,
                "{}: `{}` is only valid with `{needs}`; nothing was sent",
                self.command, self.argument
            ),
        }
    }
}

impl std::error::Error for ArgumentError {}

impl ArgumentError {
    /// The command's name.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The argument that was empty, or set without what it needs.
    pub fn argument(&self) -> &'static str {
        self.argument
    }

    /// The option the argument needs, when that was the problem.
    pub fn needs(&self) -> Option<&'static str> {
        self.needs
    }
}

std::thread_local! {
    /// One argument buffer kept per thread, so that building a command in a loop does not
    /// allocate each time: a dropped `Cmd` leaves its buffer here and the next `Cmd::new` takes it.
    static SPARE: std::cell::Cell<Option<Vec<u8>>> = const { std::cell::Cell::new(None) };
}

/// Buffers larger than this are freed rather than kept for the next command.
const SPARE_LIMIT: usize = 4096;

impl Clone for Cmd {
    fn clone(&self) -> Self {
        Cmd {
            args: self.args.clone(),
            count: self.count,
            name: self.name,
            invalid: self.invalid,
        }
    }

    /// Reuses this command's buffer: a batch that keeps its cleared commands copies new ones
    /// into them without allocating.
    fn clone_from(&mut self, source: &Self) {
        self.args.clear();
        self.args.extend_from_slice(&source.args);
        self.count = source.count;
        self.name = source.name;
        self.invalid = source.invalid;
    }
}

impl Drop for Cmd {
    fn drop(&mut self) {
        let capacity = self.args.capacity();
        if capacity == 0 || capacity > SPARE_LIMIT {
            return;
        }
        let mut args = std::mem::take(&mut self.args);
        args.clear();
        // `try_with`: during thread teardown the slot may be gone; then the buffer is freed.
        let _ = SPARE.try_with(|spare| {
            if spare
                .take()
                .is_none_or(|old| old.capacity() < args.capacity())
            {
                spare.set(Some(args));
            }
        });
    }
}

/// Starts a command; `name` may hold a subcommand after a space (`"CONFIG GET"`), which
/// becomes a separate argument.
pub fn cmd(name: &str) -> Cmd {
    let mut cmd = Cmd::new();
    for word in name.split(' ').filter(|w| !w.is_empty()) {
        cmd.arg(word);
    }
    cmd
}

impl Cmd {
    /// A command with no arguments yet.
    pub fn new() -> Self {
        // Room for a typical command, so that building one allocates once.
        let args = SPARE
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_else(|| Vec::with_capacity(64));
        Cmd {
            args,
            count: 0,
            name: (0, 0),
            invalid: None,
        }
    }

    /// Adds any number of arguments, and marks the command invalid when there are none: for
    /// lists the command needs at least one of (`DEL key [key ...]`).
    pub fn args_required<T: ToArgs>(&mut self, argument: &'static str, args: T) -> &mut Self {
        let before = self.count;
        self.args(args);
        if self.count == before {
            self.reject_empty(argument);
        }
        self
    }

    /// Marks the command invalid: `argument` needed at least one value. Running it fails
    /// with an [`ArgumentError`] before anything is sent.
    pub fn reject_empty(&mut self, argument: &'static str) -> &mut Self {
        self.invalid.get_or_insert((argument, None));
        self
    }

    /// Marks the command invalid: `argument` was given without `needs`, which it qualifies.
    pub fn reject_missing(&mut self, argument: &'static str, needs: &'static str) -> &mut Self {
        self.invalid.get_or_insert((argument, Some(needs)));
        self
    }

    /// `Ok` when the command can be sent; the [`ArgumentError`] otherwise.
    #[inline]
    pub fn check(&self) -> Result<(), ArgumentError> {
        match self.invalid {
            None => Ok(()),
            Some((argument, needs)) => Err(self.argument_error(argument, needs)),
        }
    }

    #[cold]
    fn argument_error(&self, argument: &'static str, needs: Option<&'static str>) -> ArgumentError {
        ArgumentError {
            command: String::from_utf8_lossy(self.name()).into_owned(),
            argument,
            needs,
        }
    }

    /// Appends another command's arguments (option structs keep their parts as `Cmd`s).
    pub fn append(&mut self, other: &Cmd) -> &mut Self {
        if self.count == 0 && other.count > 0 {
            let shift = self.args.len();
            self.name = (other.name.0 + shift, other.name.1 + shift);
        }
        self.args.extend_from_slice(&other.args);
        self.count += other.count;
        if let Some(invalid) = other.invalid {
            self.invalid.get_or_insert(invalid);
        }
        self
    }

    /// Adds one argument.
    pub fn arg<T: ToArg>(&mut self, arg: T) -> &mut Self {
        let start = self.args.len();
        arg.write_arg(&mut self.args);
        if self.count == 0 {
            self.name = payload_range(&self.args, start);
        }
        self.count += 1;
        self
    }

    /// Adds any number of arguments.
    pub fn args<T: ToArgs>(&mut self, args: T) -> &mut Self {
        let start = self.args.len();
        let added = args.write_args(&mut self.args);
        if self.count == 0 && added > 0 {
            self.name = payload_range(&self.args, start);
        }
        self.count += added;
        self
    }

    /// The number of arguments, the command name included.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no argument was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first argument: the command's name as given.
    pub fn name(&self) -> &[u8] {
        &self.args[self.name.0..self.name.1]
    }

    /// The arguments, in order, as the bytes sent.
    pub fn arg_bytes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        packed_arg_bytes(&self.args)
    }

    /// The arguments as RESP bulk strings, without the array header: what
    /// [`Cmd::write_packed`] writes after `*<len>\r\n`.
    pub fn packed_args(&self) -> &[u8] {
        &self.args
    }

    /// Appends the whole command, ready for the wire.
    pub fn write_packed(&self, out: &mut Vec<u8>) {
        resp_proto::write_array_header(out, self.count);
        out.extend_from_slice(&self.args);
    }

    /// Runs the command and converts its reply.
    pub fn query<T: FromReply, R: Runner>(&self, mut runner: R) -> Result<T, R::Error> {
        let value = runner.run(self)?;
        T::from_reply(value).map_err(R::Error::from)
    }

    /// Runs the command and ignores its reply (errors still count).
    pub fn execute<R: Runner>(&self, runner: R) -> Result<(), R::Error> {
        self.query::<(), R>(runner)
    }
}

/// The payloads of RESP bulk strings written back to back (`$len\r\n<payload>\r\n...`, what
/// [`Cmd::packed_args`] holds), in order; the iteration stops at the first malformed one.
///
/// ```
/// use redis_commands::{cmd, packed_arg_bytes};
///
/// let set = cmd("SET").arg("k").arg(10).clone();
/// let args: Vec<&[u8]> = packed_arg_bytes(set.packed_args()).collect();
/// assert_eq!(args, [&b"SET"[..], b"k", b"10"]);
/// ```
pub fn packed_arg_bytes(packed: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = packed;
    std::iter::from_fn(move || {
        let (&marker, tail) = rest.split_first()?;
        if marker != b'$' {
            return None;
        }
        let mut len: usize = 0;
        let mut digits: usize = 0;
        for &d in tail {
            if !d.is_ascii_digit() {
                break;
            }
            len = len.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
            digits += 1;
        }
        let start = 1 + digits + 2;
        let end = start.checked_add(len)?;
        let payload = rest.get(start..end)?;
        rest = rest.get(end + 2..)?;
        Some(payload)
    })
}

/// The byte range of the payload of the bulk string written at `start` (the first of any
/// written there: `args(["SELECT", "1"])` names the command `SELECT`).
fn payload_range(args: &[u8], start: usize) -> (usize, usize) {
    // `$<len>\r\n<payload>\r\n`, as written by the argument encoders.
    let header = args.get(start + 1..).unwrap_or_default();
    let mut digits = 0;
    let mut len = Some(0usize);
    for &d in header.iter().take_while(|b| b.is_ascii_digit()) {
        len = len
            .and_then(|n| n.checked_mul(10))
            .and_then(|n| n.checked_add(usize::from(d - b'0')));
        digits += 1;
    }
    let len = len.filter(|_| digits > 0);
    let from = start + 1 + digits + 2;
    match len {
        Some(len) if from.saturating_add(len) <= args.len() => (from, from + len),
        _ => (args.len(), args.len()),
    }
}

/// Something that runs commands: a client, a connection.
///
/// Implemented by the facade for `&Client` and `&mut` connections, so
/// `cmd("GET").arg("k").query::<Option<String>>(&client)` works for each.
pub trait Runner {
    /// The error a run can fail with; conversion failures must fit in it.
    type Error: From<ConversionError>;

    /// Sends the command and returns its reply. A server error reply is an `Err`.
    fn run(&mut self, cmd: &Cmd) -> Result<Value, Self::Error>;
}

impl<R: Runner + ?Sized> Runner for &mut R {
    type Error = R::Error;

    fn run(&mut self, cmd: &Cmd) -> Result<Value, Self::Error> {
        (**self).run(cmd)
    }
}

/// Shows the arguments as text, with secrets (passwords of AUTH, HELLO, MIGRATE, ACL SETUSER,
/// CONFIG SET requirepass/masterauth, SENTINEL SET auth-pass) replaced by `<redacted>`, the way
/// the server's own logs redact them.
impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let args: Vec<&[u8]> = self.arg_bytes().collect();
        let secret = secret_positions(&args);
        let mut list = f.debug_list();
        for (i, arg) in args.iter().enumerate() {
            if secret.contains(&i) {
                list.entry(&format_args!("<redacted>"));
            } else {
                list.entry(&String::from_utf8_lossy(arg));
            }
        }
        list.finish()
    }
}

/// Which arguments are secrets.
fn secret_positions(args: &[&[u8]]) -> Vec<usize> {
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let after = |word: &str, skip: usize| -> Vec<usize> {
        (0..args.len())
            .filter(|&i| is(i, word))
            .map(|i| i + 1 + skip)
            .collect()
    };
    let mut secret = Vec::new();
    if is(0, "AUTH") {
        secret.push(args.len().saturating_sub(1));
    } else if is(0, "HELLO") {
        secret.extend(after("AUTH", 1));
    } else if is(0, "MIGRATE") {
        secret.extend(after("AUTH", 0));
        secret.extend(after("AUTH2", 1));
    } else if is(0, "ACL") && is(1, "SETUSER") {
        secret.extend(
            (3..args.len()).filter(|&i| matches!(args[i].first(), Some(b'>' | b'<' | b'#' | b'!'))),
        );
    } else if is(0, "CONFIG") && is(1, "SET") {
        for word in ["requirepass", "masterauth", "masteruser"] {
            secret.extend(after(word, 0));
        }
    } else if is(0, "SENTINEL") {
        secret.extend(after("auth-pass", 0));
        secret.extend(after("sentinel-pass", 0));
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::Cmd;

    #[test]
    fn the_name_is_the_first_argument_however_it_was_added() {
        let mut several = Cmd::new();
        several.args(["SELECT", "1"]);
        assert_eq!(several.name(), b"SELECT");
        let mut one_by_one = Cmd::new();
        one_by_one.arg("GET").arg("k");
        assert_eq!(one_by_one.name(), b"GET");
        let mut after_nothing = Cmd::new();
        after_nothing.args(Vec::<&str>::new());
        after_nothing.arg("PING").arg("x");
        assert_eq!(after_nothing.name(), b"PING");
        let mut appended = Cmd::new();
        appended.append(&several);
        assert_eq!(appended.name(), b"SELECT");
        assert_eq!(Cmd::new().name(), b"");
    }
}
