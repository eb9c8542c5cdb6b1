//! SENTINEL MASTER, MASTERS, REPLICAS and SENTINELS.

use std::collections::BTreeMap;
use std::str::FromStr;

use resp_proto::Value;

use super::util::{Record, scalar_text};
use crate::reply::{ConversionError, FromReply};

/// What a Sentinel knows about a master, replica or other Sentinel: the reply to
/// `SENTINEL MASTER name` and each element of `SENTINEL MASTERS`, `SENTINEL REPLICAS name`
/// and `SENTINEL SENTINELS name`.
///
/// Sentinel sends a flat list of names and values (RESP2) or a map (RESP3), every value a
/// string. The fields are kept as text; accessors read the common ones. Values that are not
/// scalars (none are today) are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentinelState {
    fields: BTreeMap<String, String>,
}

impl SentinelState {
    /// The value of field `name` (`runid`, `role-reported`, `master-link-status`, ...).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The value of field `name` parsed as `T`; `None` when absent or not parsable.
    pub fn get_as<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    /// Every field, by name.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }

    /// `name`: the master name, or `ip:port` for a replica, or the Sentinel's run id.
    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }

    /// `ip`: the instance's address.
    pub fn ip(&self) -> Option<&str> {
        self.get("ip")
    }

    /// `port`: the instance's port.
    pub fn port(&self) -> Option<u16> {
        self.get_as("port")
    }

    /// `flags`, split at commas (`master`, `slave`, `s_down`, `o_down`, `disconnected`, ...).
    pub fn flags(&self) -> Vec<&str> {
        self.get("flags")
            .map(|f| f.split(',').filter(|f| !f.is_empty()).collect())
            .unwrap_or_default()
    }

    /// Whether `flags` contains `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags().contains(&flag)
    }

    /// Whether the instance is a master.
    pub fn is_master(&self) -> bool {
        self.has_flag("master")
    }

    /// Whether the instance is a replica (`slave`).
    pub fn is_replica(&self) -> bool {
        self.has_flag("slave") || self.has_flag("replica")
    }

    /// Whether the instance is a Sentinel.
    pub fn is_sentinel(&self) -> bool {
        self.has_flag("sentinel")
    }

    /// Whether this Sentinel thinks the instance is down (`s_down`).
    pub fn is_sdown(&self) -> bool {
        self.has_flag("s_down")
    }

    /// Whether enough Sentinels agree the instance is down (`o_down`).
    pub fn is_odown(&self) -> bool {
        self.has_flag("o_down")
    }

    /// Whether the link to the instance is down (`disconnected`).
    pub fn is_disconnected(&self) -> bool {
        self.has_flag("disconnected")
    }

    /// Whether the other Sentinel reported the master down (`master_down`).
    pub fn is_master_down(&self) -> bool {
        self.has_flag("master_down")
    }

    /// `num-slaves`: how many replicas the master has.
    pub fn num_slaves(&self) -> Option<u64> {
        self.get_as("num-slaves")
    }

    /// `num-other-sentinels`: how many other Sentinels monitor the master.
    pub fn num_other_sentinels(&self) -> Option<u64> {
        self.get_as("num-other-sentinels")
    }

    /// `quorum`: Sentinels needed to agree that the master is down.
    pub fn quorum(&self) -> Option<u64> {
        self.get_as("quorum")
    }
}

impl FromReply for SentinelState {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let fields = Record::parse(value, "SentinelState")?
            .into_fields()
            .into_iter()
            .filter_map(|(name, value)| scalar_text(value).map(|v| (name, v)))
            .collect();
        Ok(SentinelState { fields })
    }
}
