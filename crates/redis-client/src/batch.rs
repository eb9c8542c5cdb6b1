//! [`Batch`]: the commands of a pipeline stored back to back, ready for the wire; the storage
//! of both [`Pipeline`](crate::Pipeline) and [`ClusterPipeline`](crate::ClusterPipeline).
//!
//! One buffer holds every command's arguments as RESP bulk strings, so queueing a command
//! copies its bytes once and keeps no allocation per command (the `Cmd` it came in goes back
//! to its thread's spare buffer).

use redis_commands::{ArgumentError, Cmd, ToArg, ToArgs, packed_arg_bytes};

use crate::error::Error;

/// Commands packed back to back.
#[derive(Clone, Default)]
pub(crate) struct Batch {
    /// Every command's arguments, as RESP bulk strings, back to back.
    args: Vec<u8>,
    /// Where each command's arguments start in `args`, and how many there are.
    commands: Vec<Entry>,
    /// The first command found invalid while building.
    invalid: Option<(usize, ArgumentError)>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    count: usize,
}

/// Each command through `Cmd`'s `Debug`, which redacts passwords (AUTH, HELLO, ACL SETUSER,
/// CONFIG SET requirepass, ...).
impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.len()).map(|i| self.to_cmd(i)))
            .finish()
    }
}

impl Batch {
    /// Adds a command built elsewhere.
    pub(crate) fn push(&mut self, command: &Cmd) {
        if let Err(e) = command.check()
            && self.invalid.is_none()
        {
            self.invalid = Some((self.commands.len(), e));
        }
        self.commands.push(Entry {
            start: self.args.len(),
            count: command.len(),
        });
        self.args.extend_from_slice(command.packed_args());
    }

    /// Adds command `index` of `from` (and whether it was invalid). Callers copy from a
    /// batch that passed [`Batch::validate`]; only the first invalid command of `from` is
    /// known, so copying from an unchecked batch could lose a later one's mark.
    pub(crate) fn push_packed(&mut self, from: &Batch, index: usize) {
        debug_assert!(from.invalid.is_none(), "copied from an unchecked batch");
        if let Some((at, e)) = &from.invalid
            && *at == index
            && self.invalid.is_none()
        {
            self.invalid = Some((self.commands.len(), e.clone()));
        }
        self.commands.push(Entry {
            start: self.args.len(),
            count: from.arg_count(index),
        });
        self.args.extend_from_slice(from.packed(index));
    }

    /// Adds an argument to the last command (before any command, starts one). Returns
    /// whether the argument is that command's name.
    pub(crate) fn arg<T: ToArg>(&mut self, arg: T) -> bool {
        let named = self.last().count > 0;
        self.last().count += 1;
        arg.write_arg(&mut self.args);
        !named
    }

    /// Adds arguments to the last command (before any command, starts one). Returns whether
    /// the first of them is that command's name.
    pub(crate) fn args<T: ToArgs>(&mut self, args: T) -> bool {
        let named = self.last().count > 0;
        let added = args.write_args(&mut self.args);
        self.last().count += added;
        !named && added > 0
    }

    fn last(&mut self) -> &mut Entry {
        if self.commands.is_empty() {
            self.commands.push(Entry {
                start: self.args.len(),
                count: 0,
            });
        }
        let last = self.commands.len() - 1;
        &mut self.commands[last]
    }

    /// The number of commands.
    pub(crate) fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether no command was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Removes every command.
    pub(crate) fn clear(&mut self) {
        self.args.clear();
        self.commands.clear();
        self.invalid = None;
    }

    /// Command `index`'s arguments as RESP bulk strings (empty past the end).
    fn packed(&self, index: usize) -> &[u8] {
        let Some(entry) = self.commands.get(index) else {
            return &[];
        };
        let end = self
            .commands
            .get(index + 1)
            .map_or(self.args.len(), |next| next.start);
        &self.args[entry.start..end]
    }

    /// The size of command `index` on the wire, array header excluded.
    pub(crate) fn packed_len(&self, index: usize) -> usize {
        self.packed(index).len()
    }

    /// Appends command `index`, ready for the wire.
    pub(crate) fn write(&self, index: usize, out: &mut Vec<u8>) {
        let count = self.commands.get(index).map_or(0, |e| e.count);
        resp_proto::write_array_header(out, count);
        out.extend_from_slice(self.packed(index));
    }

    /// Command `index`'s arguments, its name first.
    pub(crate) fn arg_bytes(&self, index: usize) -> impl Iterator<Item = &[u8]> + '_ {
        packed_arg_bytes(self.packed(index))
    }

    /// The number of arguments of command `index`, its name included.
    pub(crate) fn arg_count(&self, index: usize) -> usize {
        self.commands.get(index).map_or(0, |e| e.count)
    }

    /// The name of command `index` as sent.
    pub(crate) fn name_bytes(&self, index: usize) -> &[u8] {
        self.arg_bytes(index).next().unwrap_or_default()
    }

    /// The name of command `index`, for messages.
    pub(crate) fn name(&self, index: usize) -> String {
        String::from_utf8_lossy(self.name_bytes(index)).into_owned()
    }

    /// Command `index` as a [`Cmd`] of its own (an allocation: for the paths that send one
    /// command alone).
    pub(crate) fn to_cmd(&self, index: usize) -> Cmd {
        let mut cmd = Cmd::new();
        for arg in self.arg_bytes(index) {
            cmd.arg(arg);
        }
        cmd
    }

    /// The index after the last command of the chunk that starts at `first`: at least one
    /// command, and no more than about `limit` bytes on the wire.
    pub(crate) fn chunk_end(&self, first: usize, limit: usize) -> usize {
        let start = self.commands.get(first).map_or(0, |e| e.start);
        let mut end = first + 1;
        while end < self.commands.len() {
            let end_of_next = self
                .commands
                .get(end + 1)
                .map_or(self.args.len(), |next| next.start);
            if end_of_next - start + 16 * (end + 1 - first) > limit {
                break;
            }
            end += 1;
        }
        end
    }

    /// [`Batch::validate`] for command `index` alone, so that a caller checking command by
    /// command reports the first problem in the caller's order.
    pub(crate) fn validate_command(&self, index: usize) -> Result<(), Error> {
        if self.arg_count(index) == 0 {
            return Err(Error::InvalidRequest(format!(
                "command {index} of the pipeline has no name"
            )));
        }
        match &self.invalid {
            Some((at, e)) if *at == index => Err(Error::InvalidRequest(format!(
                "command {index} of the pipeline: {e}"
            ))),
            _ => Ok(()),
        }
    }

    /// Fails when a command has no name or was built with an invalid argument.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(index) = self.commands.iter().position(|c| c.count == 0) {
            return Err(Error::InvalidRequest(format!(
                "command {index} of the pipeline has no name"
            )));
        }
        if let Some((index, e)) = &self.invalid {
            return Err(Error::InvalidRequest(format!(
                "command {index} of the pipeline: {e}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Batch;
    use redis_commands::cmd;

    #[test]
    fn commands_pack_back_to_back_and_come_out_whole() {
        let mut batch = Batch::default();
        // Before any command, an argument starts one and is its name.
        assert!(batch.arg("INCR"));
        assert!(!batch.arg("n"));
        assert!(!batch.args(["GET", "k"]));
        batch.push(&cmd("SET").arg("k").arg(1).clone());
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.name(1), "SET");
        assert_eq!(batch.name_bytes(0), b"INCR");
        assert_eq!(batch.arg_count(0), 4);
        let args: Vec<&[u8]> = batch.arg_bytes(0).collect();
        assert_eq!(args, [&b"INCR"[..], b"n", b"GET", b"k"]);
        let mut out = Vec::new();
        batch.write(1, &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n");
        assert_eq!(batch.packed_len(1), out.len() - 4);
        assert_eq!(batch.to_cmd(1), cmd("SET").arg("k").arg(1).clone());
        assert_eq!(batch.name(7), "");
        let mut copy = Batch::default();
        copy.push_packed(&batch, 0);
        assert_eq!(copy.to_cmd(0), batch.to_cmd(0));
        batch.clear();
        assert!(batch.is_empty());
        assert!(batch.validate().is_ok());
    }

    #[test]
    fn a_nameless_or_invalid_command_fails_validation() {
        let mut batch = Batch::default();
        batch.args(Vec::<&str>::new());
        assert!(batch.validate().is_err());
        let mut batch = Batch::default();
        batch.push(
            &cmd("SET")
                .args_required("values", Vec::<&str>::new())
                .clone(),
        );
        let e = batch.validate().unwrap_err().to_string();
        assert!(e.contains("command 0"), "{e}");
        assert!(batch.validate_command(0).is_err());
        let mut two = Batch::default();
        two.push(&cmd("PING").clone());
        two.args(Vec::<&str>::new());
        assert!(two.validate_command(0).is_ok());
        let e = two.validate_command(1).unwrap_err().to_string();
        assert!(e.contains("command 1") && e.contains("no name"), "{e}");
    }

    #[test]
    fn debug_shows_commands_with_their_secrets_redacted() {
        let mut batch = Batch::default();
        batch.push(&cmd("AUTH").arg("user").arg("hunter2").clone());
        batch.push(&cmd("GET").arg("k").clone());
        let text = format!("{batch:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("AUTH") && text.contains("GET"), "{text}");
    }

    #[test]
    fn chunks_hold_at_least_one_command_and_respect_the_limit() {
        let mut batch = Batch::default();
        for _ in 0..10 {
            batch.push(&cmd("SET").arg("key").arg("value").clone());
        }
        // Each command is 29 bytes packed plus 16 counted for its header.
        assert_eq!(batch.chunk_end(0, 1), 1);
        assert_eq!(batch.chunk_end(0, 45 * 3), 3);
        assert_eq!(batch.chunk_end(8, 1 << 20), 10);
    }
}
