//! INFO: sections of `name:value` lines.

use std::str::FromStr;

use resp_proto::Value;

use super::util::{Line, colon_lines, comma_fields, text};
use crate::reply::{ConversionError, FromReply};

/// The reply to `INFO`: sections (`# Server`, `# Clients`, ...) of `name:value` lines.
///
/// The reply arrives as a bulk string (RESP2) or a verbatim string (RESP3); lines before the
/// first header belong to a section with an empty name. Values stay text: [`Info::get_as`]
/// parses one on demand, [`Info::keyspace`] reads the `db0:keys=1,...` lines.
///
/// ```
/// use redis_commands::FromReply;
/// use redis_commands::replies::Info;
/// use resp_proto::Value;
///
/// let reply = Value::BulkString(
///     "# Server\r\nredis_version:7.0.15\r\n\r\n# Keyspace\r\ndb0:keys=7,expires=1,avg_ttl=99\r\n"
///         .into(),
/// );
/// let info = Info::from_reply(reply)?;
/// assert_eq!(info.get("redis_version"), Some("7.0.15"));
/// assert_eq!(info.section("server").map(|s| s.len()), Some(1));
/// assert_eq!(info.keyspace()[0].keys, 7);
/// # Ok::<(), redis_commands::ConversionError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    sections: Vec<InfoSection>,
}

/// One section of an [`Info`] reply: its name and its fields in reply order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InfoSection {
    name: String,
    fields: Vec<(String, String)>,
}

/// One `dbN:keys=...,expires=...,avg_ttl=...` line of the `# Keyspace` section.
///
/// A count the line leaves out is 0; other parts (`subexpiry` on newer servers) are in
/// `fields`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyspaceInfo {
    /// The database index (`N` in `dbN`).
    pub db: u32,
    /// How many keys the database holds.
    pub keys: u64,
    /// How many of them have an expiry.
    pub expires: u64,
    /// The average time to live of keys with an expiry, in milliseconds (an estimate).
    pub avg_ttl: u64,
    /// Every `name=value` part of the line, the three above included, in line order.
    pub fields: Vec<(String, String)>,
}

impl Info {
    /// Parses INFO text. Never fails: lines that are not headers or `name:value` are skipped.
    pub fn parse(text: &str) -> Info {
        let mut sections: Vec<InfoSection> = Vec::new();
        for line in colon_lines(text) {
            match line {
                Line::Header(name) => sections.push(InfoSection {
                    name: name.to_owned(),
                    fields: Vec::new(),
                }),
                Line::Field(name, value) => {
                    if sections.is_empty() {
                        sections.push(InfoSection::default());
                    }
                    if let Some(section) = sections.last_mut() {
                        section.fields.push((name.to_owned(), value.to_owned()));
                    }
                }
            }
        }
        Info { sections }
    }

    /// The section called `name`, compared without regard to case (`"keyspace"` finds
    /// `# Keyspace`).
    pub fn section(&self, name: &str) -> Option<&InfoSection> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The value of field `name` in the first section that has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.sections.iter().find_map(|s| s.get(name))
    }

    /// The value of field `name` parsed as `T`; `None` when it is absent or does not parse.
    pub fn get_as<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    /// The `name=value` parts of a comma-separated field such as `slave0` or
    /// `cmdstat_get`, from the first section that has it.
    pub fn subfields(&self, name: &str) -> Option<Vec<(&str, &str)>> {
        self.sections.iter().find_map(|s| s.subfields(name))
    }

    /// The sections in reply order.
    pub fn sections(&self) -> std::slice::Iter<'_, InfoSection> {
        self.sections.iter()
    }

    /// The `dbN:...` lines of the keyspace section, in reply order. Lines that do not parse
    /// are skipped; a reply without a keyspace section gives an empty list.
    pub fn keyspace(&self) -> Vec<KeyspaceInfo> {
        let Some(section) = self.section("keyspace") else {
            return Vec::new();
        };
        section
            .iter()
            .filter_map(|(name, value)| KeyspaceInfo::parse(name, value))
            .collect()
    }
}

impl<'a> IntoIterator for &'a Info {
    type Item = &'a InfoSection;
    type IntoIter = std::slice::Iter<'a, InfoSection>;
    fn into_iter(self) -> Self::IntoIter {
        self.sections.iter()
    }
}

/// A bulk, simple or verbatim string of INFO text.
impl FromReply for Info {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        Ok(Info::parse(&text(value, "Info")?))
    }
}

impl InfoSection {
    /// The section name as the server wrote it (`Server`, `Keyspace`), empty for lines before
    /// the first header.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of field `name` parsed as `T`; `None` when it is absent or does not parse.
    pub fn get_as<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    /// The `name=value` parts of a comma-separated field (`db0`, `slave0`, `cmdstat_get`).
    pub fn subfields(&self, name: &str) -> Option<Vec<(&str, &str)>> {
        self.get(name).map(|v| comma_fields(v).collect())
    }

    /// The fields in reply order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many fields the section has.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the section has no fields (a header with nothing under it).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl KeyspaceInfo {
    fn parse(name: &str, value: &str) -> Option<KeyspaceInfo> {
        let db = name.strip_prefix("db")?.parse().ok()?;
        let fields: Vec<(String, String)> = comma_fields(value)
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let number = |key: &str| -> Option<u64> {
            match fields.iter().find(|(n, _)| n == key) {
                Some((_, v)) => v.parse().ok(),
                None => Some(0),
            }
        };
        Some(KeyspaceInfo {
            db,
            keys: number("keys")?,
            expires: number("expires")?,
            avg_ttl: number("avg_ttl")?,
            fields,
        })
    }
}
