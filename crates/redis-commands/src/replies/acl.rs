//! ACL GETUSER and ACL LOG.

use std::collections::BTreeMap;

use resp_proto::Value;

use super::client_list::ClientInfo;
use super::util::Record;
use crate::reply::{ConversionError, FromReply, plain};

/// The reply to `ACL GETUSER name`: a user's rules (a RESP3 map, or a RESP2 flat list).
///
/// An unknown user gives a null: ask for `Option<AclUser>`. The rules are in Redis 7 form
/// (`keys` is `~pattern ...`, `channels` is `&pattern ...`); servers before 7.0 send lists
/// of bare patterns, which are joined into that form.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AclUser {
    /// `flags`: `on`/`off`, `nopass`, `allkeys`, ...
    pub flags: Vec<String>,
    /// `passwords`: SHA-256 hashes of the user's passwords, in hex.
    pub passwords: Vec<String>,
    /// `commands`: the command rules (`+@all -debug`).
    pub commands: String,
    /// `keys`: the key patterns (`~k* %R~r*`).
    pub keys: String,
    /// `channels`: the Pub/Sub channel patterns (`&ch*`).
    pub channels: String,
    /// `selectors`: additional rule sets (Redis 7.0+).
    pub selectors: Vec<AclSelector>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

/// One selector of an [`AclUser`]: a set of rules that applies on its own.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AclSelector {
    /// `commands`: the command rules.
    pub commands: String,
    /// `keys`: the key patterns.
    pub keys: String,
    /// `channels`: the Pub/Sub channel patterns.
    pub channels: String,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

impl AclUser {
    /// Whether the user is enabled (`on` among the flags).
    pub fn is_enabled(&self) -> bool {
        self.flags.iter().any(|f| f == "on")
    }
}

/// A rule field: a string, or (before Redis 7.0) a list of patterns each given `prefix`.
fn rules(record: &mut Record, name: &str, prefix: &str) -> Result<String, ConversionError> {
    match record.take(name).map(plain) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(v @ (Value::Array(_) | Value::Set(_))) => {
            let patterns = Vec::<String>::from_reply(v)
                .map_err(|e| e.with_detail(format!("field `{name}`")))?;
            Ok(patterns
                .iter()
                .map(|p| format!("{prefix}{p}"))
                .collect::<Vec<_>>()
                .join(" "))
        }
        Some(v) => String::from_reply(v).map_err(|e| e.with_detail(format!("field `{name}`"))),
    }
}

impl FromReply for AclUser {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "AclUser")?;
        Ok(AclUser {
            flags: r.or_default("flags")?,
            passwords: r.or_default("passwords")?,
            commands: rules(&mut r, "commands", "")?,
            keys: rules(&mut r, "keys", "~")?,
            channels: rules(&mut r, "channels", "&")?,
            selectors: r.or_default("selectors")?,
            extra: r.into_rest(),
        })
    }
}

impl FromReply for AclSelector {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "AclSelector")?;
        Ok(AclSelector {
            commands: rules(&mut r, "commands", "")?,
            keys: rules(&mut r, "keys", "~")?,
            channels: rules(&mut r, "channels", "&")?,
            extra: r.into_rest(),
        })
    }
}

/// One element of the `ACL LOG` reply: a denied command or failed authentication.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AclLogEntry {
    /// `count`: how many times this event happened (similar events are grouped).
    pub count: u64,
    /// `reason`: `command`, `key`, `channel` or `auth`.
    pub reason: String,
    /// `context`: `toplevel`, `multi`, `lua` or `module`.
    pub context: String,
    /// `object`: the command, key or channel that was denied (`AUTH` for authentication).
    pub object: String,
    /// `username`: the user involved.
    pub username: String,
    /// `age-seconds`: seconds since the event was last seen.
    pub age_seconds: f64,
    /// `client-info`: the client, as a `CLIENT LIST` line; [`AclLogEntry::client`] parses it.
    pub client_info: String,
    /// `entry-id`: a unique id for the entry (Redis 7.2+).
    pub entry_id: Option<u64>,
    /// `timestamp-created`: when the entry was created, in Unix milliseconds (Redis 7.2+).
    pub timestamp_created: Option<i64>,
    /// `timestamp-last-updated`: when the entry was last updated, in Unix milliseconds
    /// (Redis 7.2+).
    pub timestamp_last_updated: Option<i64>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

impl AclLogEntry {
    /// The `client-info` line parsed.
    pub fn client(&self) -> Result<ClientInfo, ConversionError> {
        ClientInfo::from_reply(Value::BulkString(self.client_info.clone().into()))
    }
}

impl FromReply for AclLogEntry {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "AclLogEntry")?;
        Ok(AclLogEntry {
            count: r.req("count")?,
            reason: r.req("reason")?,
            context: r.or_default("context")?,
            object: r.or_default("object")?,
            username: r.or_default("username")?,
            age_seconds: r.or_default("age-seconds")?,
            client_info: r.or_default("client-info")?,
            entry_id: r.opt("entry-id")?,
            timestamp_created: r.opt("timestamp-created")?,
            timestamp_last_updated: r.opt("timestamp-last-updated")?,
            extra: r.into_rest(),
        })
    }
}
