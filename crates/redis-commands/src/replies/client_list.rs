//! CLIENT LIST and CLIENT INFO: one `name=value ...` line per connection.

use std::ops::Deref;
use std::str::FromStr;

use resp_proto::Value;

use super::util::text;
use crate::reply::{ConversionError, FromReply};

/// One connection as `CLIENT INFO` and each line of `CLIENT LIST` describe it
/// (`id=3 addr=127.0.0.1:5000 laddr=... fd=8 name= age=0 ...`).
///
/// The common fields are typed; a field is `None` when the server did not send it (older or
/// newer versions), and [`ClientInfo::get`] reads any field, typed or not, as text. A typed
/// field whose value does not parse makes the conversion fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// `id`: the unique, never reused connection id.
    pub id: u64,
    /// `addr`: the client's address and port.
    pub addr: String,
    /// `laddr`: the local (server side) address the client connected to (Redis 6.2+).
    pub laddr: Option<String>,
    /// `fd`: the socket file descriptor, -1 for internal clients.
    pub fd: Option<i64>,
    /// `name`: the name set with `CLIENT SETNAME`; `None` when unset (the server sends
    /// `name=`).
    pub name: Option<String>,
    /// `age`: seconds since the connection was opened.
    pub age: Option<u64>,
    /// `idle`: seconds since the last command.
    pub idle: Option<u64>,
    /// `flags`: the client flags, one letter each (`N` for a normal client, `S` for a
    /// replica, `x` inside MULTI, ...).
    pub flags: Option<String>,
    /// `db`: the selected database.
    pub db: Option<u32>,
    /// `sub`: how many channels the client is subscribed to.
    pub sub: Option<u64>,
    /// `psub`: how many patterns the client is subscribed to.
    pub psub: Option<u64>,
    /// `multi`: commands queued in MULTI, -1 outside a transaction.
    pub multi: Option<i64>,
    /// `cmd`: the last command run (`client|list` for subcommands).
    pub cmd: Option<String>,
    /// `user`: the authenticated ACL user (Redis 6+).
    pub user: Option<String>,
    /// `resp`: the protocol version of the connection, 2 or 3 (Redis 7+).
    pub resp: Option<u8>,
    fields: Vec<(String, String)>,
}

impl ClientInfo {
    /// The value of any field as the server sent it, `""` for an empty one (`name=`).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == field)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `flags` contains the letter `flag`.
    pub fn has_flag(&self, flag: char) -> bool {
        self.flags.as_deref().is_some_and(|f| f.contains(flag))
    }

    /// Every field in line order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Parses one line.
    fn parse_line(line: &str) -> Result<ClientInfo, ConversionError> {
        let fields: Vec<(String, String)> = line
            .split(' ')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (n, v) = part.split_once('=').unwrap_or((part, ""));
                (n.to_owned(), v.to_owned())
            })
            .collect();
        let mut info = ClientInfo {
            fields,
            ..ClientInfo::default()
        };
        info.id = info
            .typed("id")?
            .ok_or_else(|| malformed("missing field `id`"))?;
        info.addr = info
            .get("addr")
            .ok_or_else(|| malformed("missing field `addr`"))?
            .to_owned();
        info.laddr = info.get("laddr").map(str::to_owned);
        info.fd = info.typed("fd")?;
        info.name = info
            .get("name")
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        info.age = info.typed("age")?;
        info.idle = info.typed("idle")?;
        info.flags = info.get("flags").map(str::to_owned);
        info.db = info.typed("db")?;
        info.sub = info.typed("sub")?;
        info.psub = info.typed("psub")?;
        info.multi = info.typed("multi")?;
        info.cmd = info.get("cmd").map(str::to_owned);
        info.user = info.get("user").map(str::to_owned);
        info.resp = info.typed("resp")?;
        Ok(info)
    }

    fn typed<T: FromStr>(&self, field: &str) -> Result<Option<T>, ConversionError> {
        self.get(field)
            .map(|v| {
                v.parse()
                    .map_err(|_| malformed(format!("field `{field}`: {v:?} is not a number")))
            })
            .transpose()
    }
}

fn malformed(detail: impl Into<String>) -> ConversionError {
    ConversionError::malformed("ClientInfo", "a client line", detail)
}

/// The `CLIENT INFO` reply: a bulk or verbatim string of one line. If the text has several
/// lines, the first non-empty one is read.
impl FromReply for ClientInfo {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let text = text(value, "ClientInfo")?;
        let line = text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .find(|l| !l.is_empty())
            .ok_or_else(|| malformed("empty reply"))?;
        ClientInfo::parse_line(line)
    }
}

/// The `CLIENT LIST` reply: one [`ClientInfo`] per line of a single bulk or verbatim string.
///
/// It dereferences to a slice of [`ClientInfo`], in reply order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientList {
    /// The connections, one per line.
    pub clients: Vec<ClientInfo>,
}

impl ClientList {
    /// The connection with id `id`.
    pub fn by_id(&self, id: u64) -> Option<&ClientInfo> {
        self.clients.iter().find(|c| c.id == id)
    }
}

impl Deref for ClientList {
    type Target = [ClientInfo];
    fn deref(&self) -> &[ClientInfo] {
        &self.clients
    }
}

impl IntoIterator for ClientList {
    type Item = ClientInfo;
    type IntoIter = std::vec::IntoIter<ClientInfo>;
    fn into_iter(self) -> Self::IntoIter {
        self.clients.into_iter()
    }
}

impl<'a> IntoIterator for &'a ClientList {
    type Item = &'a ClientInfo;
    type IntoIter = std::slice::Iter<'a, ClientInfo>;
    fn into_iter(self) -> Self::IntoIter {
        self.clients.iter()
    }
}

/// A bulk or verbatim string; empty lines are skipped, and a line that does not parse makes
/// the conversion fail, naming the line.
impl FromReply for ClientList {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let text = text(value, "ClientList")?;
        let clients = text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, line)| {
                ClientInfo::parse_line(line).map_err(|e| e.with_detail(format!("line {i}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(ClientList { clients })
    }
}
