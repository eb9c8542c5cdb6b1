//! [`Pipeline`]: many commands, one write, one round trip; optionally a MULTI/EXEC
//! transaction.

use redis_commands::{Cmd, FromReply, PipelineCommands, ToArg, ToArgs, cmd};
use redis_conn::{ServerError, ServerErrorKind};
use redis_pool::PooledConnection;
use resp_proto::Value;

use crate::batch::Batch;
use crate::client::Client;
use crate::error::Error;

/// Commands buffered and sent together; their replies are read in one pass. By default the
/// batch is a transaction (`MULTI` ... `EXEC`), so it runs atomically;
/// [`Pipeline::transaction`]`(false)` sends it as a plain pipeline.
///
/// Every command is a chaining method through [`PipelineCommands`]
/// (`pipe.set("a", 1).incr("n")`); raw commands go through [`Pipeline::cmd`].
///
/// A batch up to 1 MiB of encoded commands goes out with one write system call. A larger one
/// goes out in 1 MiB chunks, and the replies of each chunk are read while the next one is
/// sent, so a batch of any size neither deadlocks (both socket buffers full) nor holds more
/// than the encoded commands and the replies in memory.
///
/// ```no_run
/// use redis_client::{Client, PipelineCommands};
///
/// let client = Client::open("redis://127.0.0.1:6379")?;
/// let (ok, n): ((), i64) = client.pipeline().set("a", 1).incr("a").query()?;
/// assert_eq!(n, 2);
///
/// // Per-command results: one failed command does not hide the others' results.
/// let results = client.pipeline().transaction(false).incr("a").hget("a", "f").execute()?;
/// assert!(results[0].is_ok() && results[1].is_err());
/// # let _ = ok;
/// # Ok::<(), redis_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pipeline {
    client: Client,
    /// The commands, packed.
    batch: Batch,
    /// Commands run on the same connection before the batch (scripts to load).
    before: Vec<Cmd>,
    /// Whether a command changes its connection's state (SELECT, SUBSCRIBE, ...): the
    /// connection is closed after the batch instead of going back to the pool.
    changes_state: bool,
    transaction: bool,
}

/// The size of one write of a large batch.
const CHUNK: usize = 1 << 20;

impl Client {
    /// A new pipeline on this client's pool, a transaction by default.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline {
            client: self.clone(),
            batch: Batch::default(),
            before: Vec::new(),
            changes_state: false,
            transaction: true,
        }
    }
}

impl Pipeline {
    /// Whether the batch runs as a MULTI/EXEC transaction (the default) or as a plain
    /// pipeline.
    pub fn transaction(&mut self, on: bool) -> &mut Self {
        self.transaction = on;
        self
    }

    /// Starts a command; add its arguments with [`Pipeline::arg`] and [`Pipeline::args`].
    pub fn cmd(&mut self, name: &str) -> &mut Self {
        self.add(cmd(name))
    }

    /// Adds an argument to the command started last (before any command, the argument starts
    /// one and is its name).
    pub fn arg<T: ToArg>(&mut self, arg: T) -> &mut Self {
        if self.batch.arg(arg) {
            self.note_name();
        }
        self
    }

    /// Adds arguments to the command started last.
    pub fn args<T: ToArgs>(&mut self, args: T) -> &mut Self {
        if self.batch.args(args) {
            self.note_name();
        }
        self
    }

    /// Notes whether the last command, just given its name, changes its connection's state.
    fn note_name(&mut self) {
        let last = self.batch.len().saturating_sub(1);
        self.changes_state |= crate::client::is_state_changing(self.batch.name_bytes(last));
    }

    /// Adds a command built elsewhere (for example by [`redis_commands::build`]).
    pub fn add(&mut self, command: Cmd) -> &mut Self {
        self.changes_state |= crate::client::changes_state(&command);
        self.batch.push(&command);
        self
    }

    /// Adds command `index` of another batch (a cluster pipeline's commands for one node).
    pub(crate) fn add_packed(&mut self, from: &Batch, index: usize) -> &mut Self {
        self.changes_state |= crate::client::is_state_changing(from.name_bytes(index));
        self.batch.push_packed(from, index);
        self
    }

    /// Runs `command` on the same connection before the batch, outside any transaction, and
    /// stops with its error if it fails: how scripts get loaded before a transaction that
    /// calls them with EVALSHA.
    pub fn run_first(&mut self, command: Cmd) -> &mut Self {
        // The same script queued twice is loaded once.
        if !self.before.contains(&command) {
            self.before.push(command);
        }
        self
    }

    /// The number of commands.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether no command was added.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Removes every command, keeping the settings.
    pub fn clear(&mut self) -> &mut Self {
        self.batch.clear();
        self.before.clear();
        self.changes_state = false;
        self
    }

    /// Runs the batch and returns one result per command, in order: a server error of one
    /// command is its own `Err` and does not hide the others' results.
    ///
    /// The outer `Err` is for what affects the whole batch: the connection failing (the
    /// connection is closed; which commands ran is unknown), a transaction the server discarded
    /// ([`Error::ExecAbort`]), or a watched key that changed ([`Error::WatchConflict`]).
    pub fn execute(&self) -> Result<Vec<Result<Value, Error>>, Error> {
        self.validate()?;
        if self.batch.is_empty() && self.before.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.client.pool().get()?;
        Ok(self
            .run_on(&mut conn)?
            .into_iter()
            .map(into_result)
            .collect())
    }

    /// Runs the batch and converts the list of replies to `T` (a tuple with one element per
    /// command, a `Vec`, ...), failing on the first command that failed, with its index and
    /// name.
    pub fn query<T: FromReply>(&self) -> Result<T, Error> {
        self.validate()?;
        if self.batch.is_empty() && self.before.is_empty() {
            return Ok(T::from_reply(Value::Array(Vec::new().into()))?);
        }
        let mut conn = self.client.pool().get()?;
        let values = self.run_on(&mut conn)?;
        self.convert(values)
    }

    /// Refuses a batch that cannot be sent: a command without a name or with an invalid
    /// argument, or one after which replies no longer come one per command (the (un)subscribe
    /// commands, MONITOR, CLIENT REPLY): replies are matched to commands by their order.
    fn validate(&self) -> Result<(), Error> {
        self.batch.validate()?;
        // Only a batch with a state-changing command can hold one of those.
        if self.changes_state || !self.before.is_empty() {
            let batch =
                (0..self.batch.len()).map(|i| (i, self.batch.arg_bytes(i).take(2).collect()));
            let before = self
                .before
                .iter()
                .map(|c| (usize::MAX, c.arg_bytes().take(2).collect()));
            for (index, args) in batch.chain(before) {
                let args: Vec<&[u8]> = args;
                if let Some(name) = breaks_reply_order(&args) {
                    let place = if index == usize::MAX {
                        "a command run first".to_owned()
                    } else {
                        format!("command {index} of the pipeline")
                    };
                    return Err(Error::InvalidRequest(format!(
                        "{place} ({name}) changes how many replies the commands after it get; \
                         send it on a connection of its own"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The replies as `T`, or the first command error, with its index and name.
    fn convert<T: FromReply>(&self, values: Vec<Value>) -> Result<T, Error> {
        if let Some(index) = values
            .iter()
            .position(|v| matches!(v, Value::Error(_) | Value::BulkError(_)))
            && let Value::Error(text) | Value::BulkError(text) = &values[index]
        {
            return Err(Error::Pipeline {
                index,
                command: self.batch.name(index),
                error: ServerError::parse(text),
            });
        }
        Ok(T::from_reply(Value::Array(values.into()))?)
    }

    /// Sends the batch on `conn` and reads every reply: the replies of a plain pipeline, or
    /// the elements of EXEC's reply for a transaction. A failure part-way leaves the
    /// connection broken, and the pool closes it.
    ///
    /// A `-READONLY` anywhere in the batch (a plain pipeline's replies, MULTI's reply, a
    /// command rejected while queueing, EXEC's reply or its elements, a command run first)
    /// goes through [`Client::after_request`] like a single command's: with
    /// [`Client::clear_pool_on_readonly`] the connection is not returned and the pool is
    /// cleared, so a workload of pipelines or transactions alone also moves off a demoted
    /// master.
    fn run_on(&self, conn: &mut PooledConnection) -> Result<Vec<Value>, Error> {
        let mut readonly = false;
        let result = self.run_batch(conn, &mut readonly);
        readonly |= match &result {
            Ok(values) => values.iter().any(crate::client::is_readonly_reply),
            Err(e) => crate::client::is_readonly(e),
        };
        self.client.after_request(conn, readonly);
        result
    }

    /// [`Pipeline::run_on`] without the READONLY check; sets `readonly` when a reply that
    /// does not reach the result (MULTI's, a queued command's, EXEC's error) is `-READONLY`.
    fn run_batch(
        &self,
        conn: &mut PooledConnection,
        readonly: &mut bool,
    ) -> Result<Vec<Value>, Error> {
        for command in &self.before {
            crate::client::check(command)?;
            crate::client::run_on(conn, command)?;
        }
        if self.batch.is_empty() {
            return Ok(Vec::new());
        }
        // A pipeline that SELECTs, SUBSCRIBEs, ... leaves its connection changed: it is closed
        // after the batch instead of going back to the pool.
        if self.changes_state {
            conn.mark_dirty();
        }
        let n = self.batch.len();
        let mut replies: Vec<Value> = Vec::with_capacity(n + 2);
        // Commands go out in chunks; the replies of the previous chunk are read while the
        // server works on the current one, so neither side waits on a full socket buffer.
        let mut owed_before = 0;
        let mut next = 0;
        while next < n {
            let first = next == 0;
            let end = self.batch.chunk_end(next, CHUNK);
            let last = end == n;
            let extra =
                usize::from(self.transaction && first) + usize::from(self.transaction && last);
            let count = end - next + extra;
            conn.send_with(count, |buf| {
                if first && self.transaction {
                    resp_proto::encode_command(buf, ["MULTI"]);
                }
                for index in next..end {
                    self.batch.write(index, buf);
                }
                if last && self.transaction {
                    resp_proto::encode_command(buf, ["EXEC"]);
                }
            })?;
            next = end;
            conn.read_replies(owed_before, &mut replies)?;
            owed_before = count;
        }
        conn.read_replies(owed_before, &mut replies)?;
        if !self.transaction {
            return Ok(replies);
        }
        *readonly = replies.iter().any(crate::client::is_readonly_reply);
        self.transaction_results(conn, replies)
    }

    /// MULTI's +OK, one +QUEUED (or a rejection) per command, then EXEC's reply.
    fn transaction_results(
        &self,
        conn: &mut PooledConnection,
        replies: Vec<Value>,
    ) -> Result<Vec<Value>, Error> {
        let n = self.batch.len();
        let mut replies = replies.into_iter();
        let multi = replies.next().unwrap_or(Value::Null);
        let mut rejected = Vec::new();
        for index in 0..n {
            if let Err(Error::Server(error)) = into_result(replies.next().unwrap_or(Value::Null)) {
                rejected.push((index, self.batch.name(index), error));
            }
        }
        let exec = replies.next().unwrap_or(Value::Null);
        if let Value::Error(text) | Value::BulkError(text) = &multi {
            // Without MULTI the server ran each command on its own as it came: not a
            // transaction, and not "nothing ran".
            return Err(Error::MultiRefused {
                error: ServerError::parse(text),
            });
        }
        match exec {
            Value::Array(replies) if replies.len() == n => Ok(replies.into_vec()),
            Value::Null => Err(Error::WatchConflict),
            Value::Error(text) | Value::BulkError(text) => {
                let error = ServerError::parse(&text);
                if error.kind() == ServerErrorKind::ExecAbort {
                    Err(Error::ExecAbort { rejected })
                } else {
                    Err(Error::Server(error))
                }
            }
            other => {
                conn.mark_dirty();
                Err(Error::InvalidRequest(format!(
                    "EXEC answered {} for {n} commands",
                    redis_commands::shape(&other),
                )))
            }
        }
    }

    /// Pins a connection and WATCHes `keys` on it; see [`WatchedPipeline`]. The batch built
    /// so far becomes the watched pipeline's transaction.
    pub fn watch(&self, keys: impl ToArgs) -> Result<WatchedPipeline, Error> {
        let mut batch = self.clone();
        batch.transaction = true;
        WatchedPipeline::start(&self.client, keys, batch)
    }
}

pub(crate) fn into_result(value: Value) -> Result<Value, Error> {
    match value {
        Value::Error(text) | Value::BulkError(text) => {
            Err(Error::Server(ServerError::parse(&text)))
        }
        value => Ok(value),
    }
}

/// Every command as a chaining method: `pipe.set("a", 1).incr("n").get("a")`.
impl PipelineCommands for Pipeline {
    fn queue_cmd(&mut self, cmd: Cmd) -> &mut Self {
        self.add(cmd)
    }
}

/// A transaction with optimistic locking (redis-py's pipeline after `watch()`): a connection
/// is pinned and the keys WATCHed on it; commands run at once through [`Commands`]
/// (read what the transaction depends on), then [`WatchedPipeline::multi`] gives the batch to
/// fill, and [`WatchedPipeline::execute`] runs it as MULTI/EXEC. If a watched key changed in
/// between, the server runs nothing and the result is [`Error::WatchConflict`].
///
/// Dropped without executing, the pinned connection is closed rather than returned to the
/// pool, so no pooled connection is ever left watching keys. [`Client::transaction`] wraps
/// the whole loop, retries included.
///
/// [`Commands`]: redis_commands::Commands
#[derive(Debug)]
pub struct WatchedPipeline {
    conn: std::cell::RefCell<PooledConnection>,
    batch: Pipeline,
    watching: bool,
    /// Commands run at once that are not known reads (they may have written).
    writes_sent: std::cell::Cell<usize>,
}

impl WatchedPipeline {
    fn start(client: &Client, keys: impl ToArgs, batch: Pipeline) -> Result<Self, Error> {
        let mut watch = Cmd::new();
        watch.arg("WATCH").args_required("keys", keys);
        crate::client::check(&watch)?;
        let conn = client.pool().get()?;
        let mut pipeline = WatchedPipeline {
            conn: std::cell::RefCell::new(conn),
            batch,
            watching: true,
            writes_sent: std::cell::Cell::new(0),
        };
        crate::client::run_raw(pipeline.conn.get_mut(), &watch)?;
        Ok(pipeline)
    }

    /// WATCHes more keys.
    pub fn watch(&mut self, keys: impl ToArgs) -> Result<(), Error> {
        let mut watch = Cmd::new();
        watch.arg("WATCH").args_required("keys", keys);
        crate::client::check(&watch)?;
        crate::client::run_raw(self.conn.get_mut(), &watch)?;
        self.watching = true;
        Ok(())
    }

    /// The transaction's batch: the commands MULTI/EXEC will run, added with the chaining
    /// methods of [`PipelineCommands`].
    pub fn multi(&mut self) -> &mut Pipeline {
        &mut self.batch
    }

    /// Runs the batch as MULTI/EXEC on the pinned connection (which EXEC unwatches) and
    /// returns one result per command; [`Error::WatchConflict`] if a watched key changed.
    pub fn execute(mut self) -> Result<Vec<Result<Value, Error>>, Error> {
        Ok(self.run()?.into_iter().map(into_result).collect())
    }

    fn run(&mut self) -> Result<Vec<Value>, Error> {
        self.batch.validate()?;
        let conn = self.conn.get_mut();
        let result = if self.batch.is_empty() {
            crate::client::run_raw(conn, &cmd("UNWATCH")).map(|_| Vec::new())
        } else {
            self.batch.run_on(conn)
        };
        // Only an EXEC that ran (or was discarded, or found a conflict) or an UNWATCH that
        // succeeded ends the watch. Any other failure (a command run first, a refused MULTI,
        // EXEC's own error) may leave keys watched: the connection is then closed on drop.
        if matches!(
            &result,
            Ok(_) | Err(Error::WatchConflict | Error::ExecAbort { .. })
        ) {
            self.watching = false;
        }
        result
    }

    /// [`WatchedPipeline::execute`], with the replies converted to `T` (see
    /// [`Pipeline::query`]).
    pub fn query<T: FromReply>(mut self) -> Result<T, Error> {
        let values = self.run()?;
        self.batch.convert(values)
    }

    /// How many commands run at once on this pipeline were not known reads: they may have
    /// written, outside the transaction.
    pub(crate) fn writes_sent(&self) -> usize {
        self.writes_sent.get()
    }

    /// Sends UNWATCH and empties the batch; the connection can go back to the pool.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.batch.clear();
        crate::client::run_raw(self.conn.get_mut(), &cmd("UNWATCH"))?;
        self.watching = false;
        Ok(())
    }
}

impl redis_commands::Commands for WatchedPipeline {
    type Error = Error;

    /// Runs a command at once on the pinned connection. MULTI, EXEC and DISCARD are refused:
    /// [`WatchedPipeline::multi`] and [`WatchedPipeline::execute`] run the transaction. A
    /// command that changes the connection's state (SELECT, CLIENT ...) has it closed after
    /// the transaction instead of going back to the pool.
    fn run_cmd(&self, cmd: &Cmd) -> Result<Value, Error> {
        crate::client::check(cmd)?;
        if [&b"MULTI"[..], b"EXEC", b"DISCARD"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(cmd.name()))
        {
            return Err(Error::InvalidRequest(format!(
                "{} cannot run directly on a watched pipeline; use multi() and execute()",
                String::from_utf8_lossy(cmd.name())
            )));
        }
        let mut conn = self.conn.try_borrow_mut().map_err(|_| {
            Error::InvalidRequest("the connection is already running a command".to_owned())
        })?;
        let result = crate::client::run_on(&mut conn, cmd);
        // A redirect or a passing refusal (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) says the command
        // did not run; anything else that is not a known read may have written.
        let refused = matches!(&result, Err(Error::Server(e)) if matches!(
            e.kind(),
            ServerErrorKind::Moved
                | ServerErrorKind::Ask
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
        ));
        if !refused && !crate::cluster::replicas::is_read_only(cmd) {
            self.writes_sent.set(self.writes_sent.get() + 1);
        }
        let readonly = matches!(&result, Err(e) if crate::client::is_readonly(e));
        self.batch.client.after_request(&mut conn, readonly);
        result
    }
}

impl Drop for WatchedPipeline {
    fn drop(&mut self) {
        if self.watching {
            // Still watching keys (no EXEC, no UNWATCH): never back to the pool as it is.
            self.conn.get_mut().mark_dirty();
        }
    }
}

/// How [`Client::transaction_with`] retries after a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// At most this many attempts in all (`None`: until one succeeds, as redis-py does).
    pub max_attempts: Option<u32>,
    /// A pause between attempts.
    pub delay: std::time::Duration,
}

impl RetryPolicy {
    /// Retry until success, without pause.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives up after `attempts` attempts with [`Error::WatchConflict`].
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Waits `delay` before each new attempt.
    pub fn delay(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }
}

impl Client {
    /// Pins a connection and WATCHes `keys`; see [`WatchedPipeline`].
    pub fn watch(&self, keys: impl ToArgs) -> Result<WatchedPipeline, Error> {
        self.pipeline().watch(keys)
    }

    /// Runs `f` as an optimistic transaction on `keys` until it commits (redis-py's
    /// `transaction()`): WATCH the keys, call `f` (which reads through the
    /// [`Commands`](redis_commands::Commands) methods of the [`WatchedPipeline`] and queues the
    /// writes in [`WatchedPipeline::multi`]), then EXEC; when a watched key changed, do it all
    /// again. Returns what `f` returned for the attempt that committed.
    ///
    /// ```no_run
    /// use redis_client::{Client, Commands, PipelineCommands};
    ///
    /// let client = Client::open("redis://127.0.0.1:6379")?;
    /// let next = client.transaction(&["seq"], |pipe| {
    ///     let current: i64 = pipe.get::<Option<i64>>("seq")?.unwrap_or(0);
    ///     pipe.multi().set("seq", current + 1);
    ///     Ok(current + 1)
    /// })?;
    /// # let _ = next;
    /// # Ok::<(), redis_client::Error>(())
    /// ```
    pub fn transaction<T, K: ToArgs>(
        &self,
        keys: K,
        f: impl FnMut(&mut WatchedPipeline) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.transaction_with(keys, RetryPolicy::new(), f)
    }

    /// [`Client::transaction`] with a bound on attempts and a pause between them.
    pub fn transaction_with<T, K: ToArgs>(
        &self,
        keys: K,
        policy: RetryPolicy,
        mut f: impl FnMut(&mut WatchedPipeline) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            let mut pipe = self.watch(&keys)?;
            let value = match f(&mut pipe) {
                Ok(value) => value,
                Err(e) => {
                    // Leave the connection clean if we can; dropping closes it otherwise.
                    let _ = pipe.reset();
                    return Err(e);
                }
            };
            match pipe.execute() {
                Ok(_) => return Ok(value),
                Err(Error::WatchConflict)
                    if policy.max_attempts.is_none_or(|max| attempt < max) =>
                {
                    if !policy.delay.is_zero() {
                        std::thread::sleep(policy.delay);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Scripts queued in a pipeline are loaded before it runs.
impl redis_ext::ScriptPipeline for Pipeline {
    fn run_first(&mut self, cmd: Cmd) -> &mut Self {
        Pipeline::run_first(self, cmd)
    }
}

/// The name of a command after which replies no longer come one per command, if `args` (its
/// first two arguments) is one ([`redis_conn::changes_reply_count`]).
fn breaks_reply_order(args: &[&[u8]]) -> Option<String> {
    let name = args.first()?;
    if !redis_conn::changes_reply_count(name, args.get(1).copied()) {
        return None;
    }
    let name = String::from_utf8_lossy(name).to_uppercase();
    Some(if name == "CLIENT" {
        "CLIENT REPLY".to_owned()
    } else {
        name
    })
}
