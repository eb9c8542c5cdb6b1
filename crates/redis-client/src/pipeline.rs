//! [`Pipeline`]: many commands, one write, one round trip; optionally a MULTI/EXEC
//! transaction.

use redis_commands::{Cmd, FromReply, ToArg, ToArgs, cmd};
use redis_conn::{ServerError, ServerErrorKind};
use resp_proto::Value;

use crate::client::Client;
use crate::error::Error;

/// Commands buffered and sent together with one write system call; their replies are read in
/// one pass. By default the batch is a transaction (`MULTI` ... `EXEC`), so it runs atomically;
/// [`Pipeline::transaction`]`(false)` sends it as a plain pipeline.
///
/// ```no_run
/// use redis_client::Client;
///
/// let client = Client::open("redis://127.0.0.1:6379")?;
/// let (ok, n): ((), i64) = client.pipeline().cmd("SET").arg("a").arg(1).cmd("INCR").arg("a").query()?;
/// assert_eq!(n, 2);
///
/// // Per-command results: one failed command does not hide the others' results.
/// let results = client.pipeline().transaction(false).cmd("INCR").arg("a").cmd("HGET").arg("a").arg("f").execute()?;
/// assert!(results[0].is_ok() && results[1].is_err());
/// # let _ = ok;
/// # Ok::<(), redis_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pipeline {
    client: Client,
    commands: Vec<Cmd>,
    transaction: bool,
}

impl Client {
    /// A new pipeline on this client's pool, a transaction by default.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline {
            client: self.clone(),
            commands: Vec::new(),
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
        self.commands.push(cmd(name));
        self
    }

    /// Adds an argument to the command started last (before any command, the argument starts
    /// one and is its name).
    pub fn arg<T: ToArg>(&mut self, arg: T) -> &mut Self {
        self.current().arg(arg);
        self
    }

    /// Adds arguments to the command started last.
    pub fn args<T: ToArgs>(&mut self, args: T) -> &mut Self {
        self.current().args(args);
        self
    }

    /// Adds a command built elsewhere.
    pub fn add(&mut self, command: Cmd) -> &mut Self {
        self.commands.push(command);
        self
    }

    /// The number of commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether no command was added.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Removes every command, keeping the settings.
    pub fn clear(&mut self) -> &mut Self {
        self.commands.clear();
        self
    }

    fn current(&mut self) -> &mut Cmd {
        if self.commands.is_empty() {
            self.commands.push(Cmd::new());
        }
        let last = self.commands.len() - 1;
        &mut self.commands[last]
    }

    /// Runs the batch and returns one result per command, in order: a server error of one
    /// command is its own `Err` and does not hide the others' results.
    ///
    /// The outer `Err` is for what affects the whole batch: the connection failing (the
    /// connection is closed; which commands ran is unknown), a transaction the server discarded
    /// ([`Error::ExecAbort`]), or a watched key that changed ([`Error::WatchConflict`]).
    pub fn execute(&self) -> Result<Vec<Result<Value, Error>>, Error> {
        if let Some(index) = self.commands.iter().position(Cmd::is_empty) {
            return Err(Error::InvalidRequest(format!(
                "command {index} of the pipeline has no name"
            )));
        }
        if self.commands.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.client.pool().get()?;
        // A failure part-way leaves the connection broken, and the pool closes it.
        let replies = self.commands.len() + if self.transaction { 2 } else { 0 };
        conn.send_with(replies, |buf| {
            if self.transaction {
                resp_proto::encode_command(buf, ["MULTI"]);
            }
            for command in &self.commands {
                command.write_packed(buf);
            }
            if self.transaction {
                resp_proto::encode_command(buf, ["EXEC"]);
            }
        })?;
        if !self.transaction {
            let mut results = Vec::with_capacity(self.commands.len());
            for _ in &self.commands {
                results.push(into_result(conn.read_reply()?));
            }
            return Ok(results);
        }
        // MULTI's +OK, one +QUEUED (or a rejection) per command, then EXEC's reply.
        let multi = conn.read_reply()?;
        let mut rejected = Vec::new();
        for (index, command) in self.commands.iter().enumerate() {
            if let Err(Error::Server(error)) = into_result(conn.read_reply()?) {
                rejected.push((index, name(command), error));
            }
        }
        let exec = conn.read_reply()?;
        if let Value::Error(text) = &multi {
            return Err(Error::Server(ServerError::parse(text)));
        }
        match exec {
            Value::Array(replies) if replies.len() == self.commands.len() => {
                Ok(replies.into_iter().map(into_result).collect())
            }
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
                    "EXEC answered {} for {} commands",
                    redis_commands::shape(&other),
                    self.commands.len()
                )))
            }
        }
    }

    /// Runs the batch and converts the list of replies to `T` (a tuple with one element per
    /// command, a `Vec`, ...), failing on the first command that failed, with its index and
    /// name.
    pub fn query<T: FromReply>(&self) -> Result<T, Error> {
        let mut values = Vec::with_capacity(self.commands.len());
        for (index, result) in self.execute()?.into_iter().enumerate() {
            match result {
                Ok(value) => values.push(value),
                Err(Error::Server(error)) => {
                    return Err(Error::Pipeline {
                        index,
                        command: name(&self.commands[index]),
                        error,
                    });
                }
                Err(other) => return Err(other),
            }
        }
        Ok(T::from_reply(Value::Array(values.into()))?)
    }
}

fn into_result(value: Value) -> Result<Value, Error> {
    match value {
        Value::Error(text) | Value::BulkError(text) => {
            Err(Error::Server(ServerError::parse(&text)))
        }
        value => Ok(value),
    }
}

fn name(command: &Cmd) -> String {
    String::from_utf8_lossy(command.name()).into_owned()
}
