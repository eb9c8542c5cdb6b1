//! Stream entries and the replies made of them: XRANGE, XREAD, XREADGROUP, XCLAIM, XAUTOCLAIM.

use bytes::Bytes;
use resp_proto::Value;

use super::util::{convert, entries, items, leading};
use crate::reply::{ConversionError, FromReply, plain};

/// One stream entry: its id and its field/value pairs, as `XRANGE`, `XREVRANGE`, `XCLAIM`,
/// `XREAD` and `XREADGROUP` return them (`[id, [field, value, ...]]`).
///
/// `XREADGROUP` reading a consumer's history (an id other than `>`) returns entries that were
/// deleted after delivery as `[id, null]`: such an entry has `deleted` set and no fields.
///
/// In a list (`Vec<StreamEntry>`), null elements are skipped: servers before 7.0 return them
/// for entries that `XCLAIM` found deleted. Ask for `Vec<Option<StreamEntry>>` to keep them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamEntry {
    /// The entry id, `<milliseconds>-<sequence>`.
    pub id: String,
    /// The field/value pairs in entry order (a field may repeat).
    pub fields: Vec<(Bytes, Bytes)>,
    /// Whether the entry was deleted: the server sent its id with a null instead of fields.
    pub deleted: bool,
}

impl StreamEntry {
    /// The value of the first field called `field`.
    pub fn get(&self, field: impl AsRef<[u8]>) -> Option<&Bytes> {
        let field = field.as_ref();
        self.fields
            .iter()
            .find(|(f, _)| f.as_ref() == field)
            .map(|(_, v)| v)
    }

    /// The value of the first field called `field` as UTF-8 text.
    pub fn get_str(&self, field: impl AsRef<[u8]>) -> Option<&str> {
        self.get(field).and_then(|v| std::str::from_utf8(v).ok())
    }
}

impl FromReply for StreamEntry {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let parts = items(value, "StreamEntry")?;
        let len = parts.len();
        let mut parts = parts.into_iter();
        let (Some(id), Some(fields), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ConversionError::malformed(
                "StreamEntry",
                "an array",
                format!("{len} elements, expected an id and fields"),
            ));
        };
        let id = convert(id, "entry id")?;
        let (fields, deleted) = match plain(fields) {
            Value::Null => (Vec::new(), true),
            fields => {
                let pairs = entries(fields, "StreamEntry")?
                    .into_iter()
                    .map(|(f, v)| Ok((Bytes::from_reply(f)?, Bytes::from_reply(v)?)))
                    .collect::<Result<_, ConversionError>>()
                    .map_err(|e| e.with_detail(format!("fields of entry {id}")))?;
                (pairs, false)
            }
        };
        Ok(StreamEntry {
            id,
            fields,
            deleted,
        })
    }

    fn from_reply_list(items: Vec<Value>) -> Result<Vec<Self>, ConversionError> {
        items
            .into_iter()
            .filter(|v| !plain_is_null(v))
            .enumerate()
            .map(|(i, v)| Self::from_reply(v).map_err(|e| e.with_detail(format!("entry {i}"))))
            .collect()
    }
}

fn plain_is_null(value: &Value) -> bool {
    let mut value = value;
    while let Value::Attribute { value: inner, .. } = value {
        value = inner;
    }
    value.is_null()
}

/// The reply to `XREAD` and `XREADGROUP`: the entries read, per stream.
///
/// RESP2 sends `[[key, [entry, ...]], ...]`, RESP3 a map from key to entries; a null (the
/// command blocked and timed out, or nothing was new) gives an empty reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamRead {
    /// Each stream key with the entries read from it, in reply order.
    pub streams: Vec<(String, Vec<StreamEntry>)>,
}

impl StreamRead {
    /// The entries read from stream `key`.
    pub fn get(&self, key: &str) -> Option<&[StreamEntry]> {
        self.streams
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, e)| e.as_slice())
    }

    /// Whether no entry was read from any stream.
    pub fn is_empty(&self) -> bool {
        self.streams.iter().all(|(_, e)| e.is_empty())
    }

    /// The streams in reply order.
    pub fn iter(&self) -> std::slice::Iter<'_, (String, Vec<StreamEntry>)> {
        self.streams.iter()
    }
}

impl IntoIterator for StreamRead {
    type Item = (String, Vec<StreamEntry>);
    type IntoIter = std::vec::IntoIter<(String, Vec<StreamEntry>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.streams.into_iter()
    }
}

impl FromReply for StreamRead {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let streams = Vec::<(String, Vec<StreamEntry>)>::from_reply(value)
            .map_err(|e| e.with_detail("StreamRead"))?;
        Ok(StreamRead { streams })
    }
}

/// The reply to `XAUTOCLAIM`: `[next-cursor, [entry, ...], [deleted-id, ...]]`.
///
/// With `JUSTID` the server sends ids instead of entries: `entries` is then empty and
/// `claimed_ids` holds them. Without it, `claimed_ids` holds the ids of `entries`, so it
/// always lists what was claimed. Redis 6.2 sends no third element: `deleted_ids` is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct XAutoClaim {
    /// The id to pass as `start` to continue the scan; `0-0` when it is complete.
    pub next_cursor: String,
    /// The claimed entries (empty with `JUSTID`).
    pub entries: Vec<StreamEntry>,
    /// The ids of the claimed entries, with or without `JUSTID`.
    pub claimed_ids: Vec<String>,
    /// Ids that were pending but no longer exist in the stream; the server removed them from
    /// the pending list (Redis 7.0+).
    pub deleted_ids: Vec<String>,
}

impl FromReply for XAutoClaim {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([cursor, claimed], mut rest) = leading(value, "XAutoClaim")?;
        let next_cursor = convert(cursor, "next cursor")?;
        let mut entries = Vec::new();
        let mut claimed_ids = Vec::new();
        let claimed = match plain(claimed) {
            Value::Null => Vec::new(),
            v => items(v, "XAutoClaim")?,
        };
        for item in claimed {
            match plain(item) {
                Value::Null => {}
                v @ (Value::Array(_) | Value::Set(_)) => {
                    let entry = StreamEntry::from_reply(v)?;
                    claimed_ids.push(entry.id.clone());
                    entries.push(entry);
                }
                v => claimed_ids.push(convert(v, "claimed id")?),
            }
        }
        let deleted_ids = match rest.next() {
            Some(v) => convert(v, "deleted ids")?,
            None => Vec::new(),
        };
        Ok(XAutoClaim {
            next_cursor,
            entries,
            claimed_ids,
            deleted_ids,
        })
    }
}
