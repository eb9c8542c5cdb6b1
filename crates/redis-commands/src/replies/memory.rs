//! MEMORY STATS.

use std::collections::BTreeMap;

use resp_proto::Value;

use super::util::Record;
use crate::reply::{ConversionError, FromReply};

/// The reply to `MEMORY STATS`: named memory counters (a RESP3 map, or a RESP2 flat list of
/// names and values).
///
/// Common counters have accessors; [`MemoryStats::get`] and [`MemoryStats::get_as`] read any
/// of them by name. The per-database entries (`db.0`, `db.1`, ...) are read into
/// [`MemoryStats::databases`] and are not among the named counters.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MemoryStats {
    fields: BTreeMap<String, Value>,
    databases: Vec<DbMemoryStats>,
}

/// The overhead of one database in a [`MemoryStats`] reply (the `db.N` entry).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DbMemoryStats {
    /// The database index.
    pub db: u32,
    /// `overhead.hashtable.main`: bytes used by the main dictionary.
    pub overhead_hashtable_main: Option<u64>,
    /// `overhead.hashtable.expires`: bytes used by the expiry dictionary.
    pub overhead_hashtable_expires: Option<u64>,
    /// Every field of the entry, the two above included, by name.
    pub fields: BTreeMap<String, Value>,
}

impl MemoryStats {
    /// The counter called `name` (`peak.allocated`, `dataset.percentage`, ...), as sent.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// The counter called `name` converted to `T`; `None` when it is absent or does not
    /// convert. Ratios arrive as strings in RESP2 and as doubles in RESP3; `f64` reads both.
    pub fn get_as<T: FromReply>(&self, name: &str) -> Option<T> {
        self.get(name).and_then(|v| T::from_reply(v.clone()).ok())
    }

    /// The counters by name, `db.N` entries excluded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// `peak.allocated`: the peak memory allocated by Redis, in bytes.
    pub fn peak_allocated(&self) -> Option<u64> {
        self.get_as("peak.allocated")
    }

    /// `total.allocated`: the memory allocated by Redis now, in bytes.
    pub fn total_allocated(&self) -> Option<u64> {
        self.get_as("total.allocated")
    }

    /// `startup.allocated`: the memory Redis allocated at startup, in bytes.
    pub fn startup_allocated(&self) -> Option<u64> {
        self.get_as("startup.allocated")
    }

    /// `keys.count`: the number of keys in all databases.
    pub fn keys_count(&self) -> Option<u64> {
        self.get_as("keys.count")
    }

    /// `dataset.bytes`: the memory used by the data itself, in bytes.
    pub fn dataset_bytes(&self) -> Option<u64> {
        self.get_as("dataset.bytes")
    }

    /// `overhead.total`: the memory used by Redis's own structures, in bytes.
    pub fn overhead_total(&self) -> Option<u64> {
        self.get_as("overhead.total")
    }

    /// `fragmentation`: the ratio of resident memory to allocated memory.
    pub fn fragmentation(&self) -> Option<f64> {
        self.get_as("fragmentation")
    }

    /// The per-database entries (`db.N`) in reply order.
    pub fn databases(&self) -> &[DbMemoryStats] {
        &self.databases
    }

    /// The entry of database `db`.
    pub fn db(&self, db: u32) -> Option<&DbMemoryStats> {
        self.databases.iter().find(|d| d.db == db)
    }
}

impl FromReply for MemoryStats {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let record = Record::parse(value, "MemoryStats")?;
        let mut stats = MemoryStats::default();
        for (name, value) in record.into_fields() {
            match name.strip_prefix("db.").and_then(|n| n.parse::<u32>().ok()) {
                Some(db) => stats.databases.push(DbMemoryStats::parse(db, value)?),
                None => {
                    stats.fields.entry(name).or_insert(value);
                }
            }
        }
        Ok(stats)
    }
}

impl DbMemoryStats {
    fn parse(db: u32, value: Value) -> Result<Self, ConversionError> {
        let fields = Record::parse(value, "DbMemoryStats")
            .map_err(|e| e.with_detail(format!("entry db.{db}")))?
            .into_rest();
        let typed = |name: &str| -> Result<Option<u64>, ConversionError> {
            fields
                .get(name)
                .map(|v| u64::from_reply(v.clone()))
                .transpose()
                .map_err(|e| e.with_detail(format!("field `{name}` of db.{db}")))
        };
        Ok(DbMemoryStats {
            db,
            overhead_hashtable_main: typed("overhead.hashtable.main")?,
            overhead_hashtable_expires: typed("overhead.hashtable.expires")?,
            fields,
        })
    }
}
