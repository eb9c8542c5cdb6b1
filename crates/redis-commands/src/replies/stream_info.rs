//! Stream metadata: XINFO STREAM, XINFO GROUPS, XINFO CONSUMERS and XPENDING.

use std::collections::BTreeMap;

use resp_proto::Value;

use super::streams::StreamEntry;
use super::util::{Record, convert, leading};
use crate::reply::{ConversionError, FromReply};

/// The reply to `XINFO STREAM key` (the summary form, not `FULL`).
///
/// Fields Redis 5.0 already sent are required; the ones added in 7.0 are `None` when absent.
/// Any other field is kept in `extra`. The `FULL` form has another shape (entries and groups
/// as lists): read it as a [`Value`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct XInfoStream {
    /// `length`: how many entries the stream holds.
    pub length: u64,
    /// `radix-tree-keys`: keys in the underlying radix tree.
    pub radix_tree_keys: u64,
    /// `radix-tree-nodes`: nodes in the underlying radix tree.
    pub radix_tree_nodes: u64,
    /// `groups`: how many consumer groups the stream has.
    pub groups: u64,
    /// `last-generated-id`: the id of the last entry added (it may have been deleted since).
    pub last_generated_id: String,
    /// `max-deleted-entry-id`: the highest id deleted from the stream (Redis 7.0+).
    pub max_deleted_entry_id: Option<String>,
    /// `entries-added`: how many entries were ever added (Redis 7.0+).
    pub entries_added: Option<u64>,
    /// `recorded-first-entry-id`: the id of the first entry (Redis 7.0+).
    pub recorded_first_entry_id: Option<String>,
    /// `first-entry`: the first entry, `None` for an empty stream.
    pub first_entry: Option<StreamEntry>,
    /// `last-entry`: the last entry, `None` for an empty stream.
    pub last_entry: Option<StreamEntry>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

impl FromReply for XInfoStream {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "XInfoStream")?;
        Ok(XInfoStream {
            length: r.req("length")?,
            radix_tree_keys: r.req("radix-tree-keys")?,
            radix_tree_nodes: r.req("radix-tree-nodes")?,
            groups: r.req("groups")?,
            last_generated_id: r.req("last-generated-id")?,
            max_deleted_entry_id: r.opt("max-deleted-entry-id")?,
            entries_added: r.opt("entries-added")?,
            recorded_first_entry_id: r.opt("recorded-first-entry-id")?,
            first_entry: r.opt("first-entry")?,
            last_entry: r.opt("last-entry")?,
            extra: r.into_rest(),
        })
    }
}

/// One element of the `XINFO GROUPS key` reply: a consumer group.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct XInfoGroup {
    /// `name`: the group name.
    pub name: String,
    /// `consumers`: how many consumers the group has.
    pub consumers: u64,
    /// `pending`: how many entries were delivered but not acknowledged.
    pub pending: u64,
    /// `last-delivered-id`: the id of the last entry delivered to the group.
    pub last_delivered_id: String,
    /// `entries-read`: the logical read counter (Redis 7.0+); `None` also when the server
    /// cannot tell (it sends a null).
    pub entries_read: Option<u64>,
    /// `lag`: entries not yet delivered to the group (Redis 7.0+); `None` also when the server
    /// cannot tell (it sends a null).
    pub lag: Option<u64>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

impl FromReply for XInfoGroup {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "XInfoGroup")?;
        Ok(XInfoGroup {
            name: r.req("name")?,
            consumers: r.req("consumers")?,
            pending: r.req("pending")?,
            last_delivered_id: r.req("last-delivered-id")?,
            entries_read: r.opt("entries-read")?,
            lag: r.opt("lag")?,
            extra: r.into_rest(),
        })
    }
}

/// One element of the `XINFO CONSUMERS key group` reply: a consumer of a group.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct XInfoConsumer {
    /// `name`: the consumer name.
    pub name: String,
    /// `pending`: entries delivered to this consumer and not acknowledged.
    pub pending: u64,
    /// `idle`: milliseconds since the consumer last tried to read or claim.
    pub idle_ms: u64,
    /// `inactive`: milliseconds since the consumer last read or claimed successfully, -1 if
    /// never (Redis 7.2+).
    pub inactive_ms: Option<i64>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

impl FromReply for XInfoConsumer {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "XInfoConsumer")?;
        Ok(XInfoConsumer {
            name: r.req("name")?,
            pending: r.req("pending")?,
            idle_ms: r.req("idle")?,
            inactive_ms: r.opt("inactive")?,
            extra: r.into_rest(),
        })
    }
}

/// The reply to `XPENDING key group` (the summary form, without a range):
/// `[count, min-id, max-id, [[consumer, count], ...]]`.
///
/// The ids and the consumer list are null when nothing is pending: they become `None` and an
/// empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct XPendingSummary {
    /// How many entries are pending in the group.
    pub count: u64,
    /// The smallest pending id.
    pub min_id: Option<String>,
    /// The greatest pending id.
    pub max_id: Option<String>,
    /// Each consumer with pending entries and how many it has.
    pub consumers: Vec<(String, u64)>,
}

impl FromReply for XPendingSummary {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([count, min, max, consumers], _) = leading(value, "XPendingSummary")?;
        Ok(XPendingSummary {
            count: convert(count, "count")?,
            min_id: convert(min, "min id")?,
            max_id: convert(max, "max id")?,
            consumers: convert(consumers, "consumers")?,
        })
    }
}

/// One element of the `XPENDING key group [IDLE ms] start end count [consumer]` reply:
/// `[id, consumer, idle-ms, delivery-count]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct XPendingEntry {
    /// The entry id.
    pub id: String,
    /// The consumer that holds the entry.
    pub consumer: String,
    /// Milliseconds since the entry was last delivered.
    pub idle_ms: u64,
    /// How many times the entry was delivered.
    pub delivery_count: u64,
}

impl FromReply for XPendingEntry {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([id, consumer, idle, count], _) = leading(value, "XPendingEntry")?;
        Ok(XPendingEntry {
            id: convert(id, "id")?,
            consumer: convert(consumer, "consumer")?,
            idle_ms: convert(idle, "idle")?,
            delivery_count: convert(count, "delivery count")?,
        })
    }
}
