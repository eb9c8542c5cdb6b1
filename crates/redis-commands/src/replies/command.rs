//! COMMAND INFO and COMMAND DOCS.

use std::collections::BTreeMap;

use resp_proto::Value;

use super::util::{MAX_NESTING, Record, convert, entries, leading, scalar_text};
use crate::reply::{ConversionError, FromReply, plain};

/// One element of the `COMMAND INFO` (and `COMMAND`) reply: what the server knows about a
/// command.
///
/// The reply is positional: `[name, arity, flags, first-key, last-key, step, acl-categories,
/// tips, key-specs, subcommands]`. Servers before 7.0 send fewer elements; the missing ones
/// are empty. `COMMAND INFO` answers a null for an unknown command: ask for
/// `Vec<Option<CommandInfo>>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CommandInfo {
    /// The command name in lower case (`get`, `config|get` for a subcommand).
    pub name: String,
    /// The number of arguments, the command name included; negative means "at least".
    pub arity: i64,
    /// Command flags (`readonly`, `fast`, `write`, ...).
    pub flags: Vec<String>,
    /// The position of the first key argument, 0 when there is none.
    pub first_key: i64,
    /// The position of the last key argument; negative counts from the end.
    pub last_key: i64,
    /// The step between key arguments.
    pub step: i64,
    /// ACL categories (`@read`, `@string`, ...); Redis 6.0+.
    pub acl_categories: Vec<String>,
    /// Hints for clients and proxies (`nondeterministic_output`, `request_policy:all_nodes`);
    /// Redis 7.0+.
    pub tips: Vec<String>,
    /// Key specifications, as sent (maps in RESP3, flat lists in RESP2); Redis 7.0+.
    pub key_specs: Vec<Value>,
    /// Subcommands, each described the same way; Redis 7.0+.
    pub subcommands: Vec<CommandInfo>,
}

impl CommandInfo {
    fn parse(value: Value, depth: usize) -> Result<Self, ConversionError> {
        if depth > MAX_NESTING {
            return Err(ConversionError::malformed(
                "CommandInfo",
                "a reply",
                "subcommands nested too deep",
            ));
        }
        let ([name, arity, flags, first, last, step], mut rest) = leading(value, "CommandInfo")?;
        let mut info = CommandInfo {
            name: convert(name, "command name")?,
            arity: convert(arity, "arity")?,
            flags: convert(flags, "flags")?,
            first_key: convert(first, "first key")?,
            last_key: convert(last, "last key")?,
            step: convert(step, "step")?,
            ..CommandInfo::default()
        };
        if let Some(v) = rest.next() {
            info.acl_categories = convert(v, "acl categories")?;
        }
        if let Some(v) = rest.next() {
            info.tips = convert(v, "tips")?;
        }
        if let Some(v) = rest.next() {
            info.key_specs = convert(v, "key specs")?;
        }
        if let Some(v) = rest.next() {
            info.subcommands = match plain(v) {
                Value::Null => Vec::new(),
                v => super::util::items(v, "CommandInfo")?
                    .into_iter()
                    .map(|s| CommandInfo::parse(s, depth + 1))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.with_detail(format!("subcommands of {}", info.name)))?,
            };
        }
        Ok(info)
    }
}

impl FromReply for CommandInfo {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        CommandInfo::parse(value, 0)
    }
}

/// The reply to `COMMAND DOCS`: each command's documentation, by name, in reply order.
///
/// RESP3 sends a map, RESP2 a flat list of names and documentation. Unknown commands are
/// left out by the server.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CommandDocs {
    /// Each command name with its documentation.
    pub commands: Vec<(String, CommandDoc)>,
}

/// The documentation of one command in a [`CommandDocs`] reply.
///
/// Common fields are typed; everything else the server sends (`arguments`, `history`,
/// `doc_flags`, `deprecated_since`, `replaced_by`, `module`, ...) stays in `extra` as sent.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CommandDoc {
    /// `summary`: a one-line description.
    pub summary: Option<String>,
    /// `since`: the Redis version that added the command.
    pub since: Option<String>,
    /// `group`: the command group (`string`, `stream`, `server`, ...).
    pub group: Option<String>,
    /// `complexity`: the time complexity, as text.
    pub complexity: Option<String>,
    /// `subcommands`: the documentation of the subcommands, empty when there are none.
    pub subcommands: CommandDocs,
    /// The other fields, by name.
    pub extra: BTreeMap<String, Value>,
}

impl CommandDocs {
    /// The documentation of command `name` (compared without regard to case).
    pub fn get(&self, name: &str) -> Option<&CommandDoc> {
        self.commands
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, d)| d)
    }

    /// The commands in reply order.
    pub fn iter(&self) -> std::slice::Iter<'_, (String, CommandDoc)> {
        self.commands.iter()
    }

    /// How many commands the reply documents.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether the reply documents no command.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    fn parse(value: Value, depth: usize) -> Result<Self, ConversionError> {
        if depth > MAX_NESTING {
            return Err(ConversionError::malformed(
                "CommandDocs",
                "a reply",
                "subcommands nested too deep",
            ));
        }
        let commands = match plain(value) {
            Value::Null => Vec::new(),
            v => entries(v, "CommandDocs")?
                .into_iter()
                .map(|(name, doc)| {
                    let name = scalar_text(name.clone())
                        .ok_or_else(|| ConversionError::new("CommandDocs", &name))?;
                    let doc = CommandDoc::parse(doc, depth)
                        .map_err(|e| e.with_detail(format!("docs of {name}")))?;
                    Ok((name, doc))
                })
                .collect::<Result<_, ConversionError>>()?,
        };
        Ok(CommandDocs { commands })
    }
}

impl CommandDoc {
    fn parse(value: Value, depth: usize) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "CommandDoc")?;
        let subcommands = match r.take("subcommands") {
            Some(v) => CommandDocs::parse(v, depth + 1)?,
            None => CommandDocs::default(),
        };
        Ok(CommandDoc {
            summary: r.opt("summary")?,
            since: r.opt("since")?,
            group: r.opt("group")?,
            complexity: r.opt("complexity")?,
            subcommands,
            extra: r.into_rest(),
        })
    }
}

impl<'a> IntoIterator for &'a CommandDocs {
    type Item = &'a (String, CommandDoc);
    type IntoIter = std::slice::Iter<'a, (String, CommandDoc)>;
    fn into_iter(self) -> Self::IntoIter {
        self.commands.iter()
    }
}

impl FromReply for CommandDocs {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        CommandDocs::parse(value, 0)
    }
}

impl FromReply for CommandDoc {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        CommandDoc::parse(value, 0)
    }
}
