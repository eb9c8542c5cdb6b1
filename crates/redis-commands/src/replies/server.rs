//! Server introspection: ROLE, TIME, SLOWLOG GET, LATENCY LATEST.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use resp_proto::Value;

use super::util::{convert, leading, scalar_text};
use crate::reply::{ConversionError, FromReply, plain};

/// The reply to `ROLE`: what this server is in a replication setup.
///
/// Redis sends `["master", offset, [[host, port, offset], ...]]`,
/// `["slave", host, port, state, offset]` or `["sentinel", [master-name, ...]]`; a role this
/// version does not know is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// A master, with its connected replicas.
    #[non_exhaustive]
    Master {
        /// The master replication offset.
        replication_offset: i64,
        /// Each connected replica as `(host, port, acknowledged offset)`.
        replicas: Vec<(String, u16, i64)>,
    },
    /// A replica (`slave` on the wire).
    #[non_exhaustive]
    Replica {
        /// The master's host.
        master_host: String,
        /// The master's port.
        master_port: u16,
        /// The link state: `connect`, `connecting`, `sync` or `connected`.
        state: String,
        /// The replication offset received from the master, -1 before the first sync.
        offset: i64,
    },
    /// A Sentinel.
    #[non_exhaustive]
    Sentinel {
        /// The names of the masters it monitors.
        masters: Vec<String>,
    },
}

impl FromReply for Role {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([kind], mut rest) = leading(value, "Role")?;
        let kind: String = convert(kind, "role")?;
        let mut next = |what: &str| {
            rest.next()
                .ok_or_else(|| ConversionError::malformed("Role", "an array", format!("no {what}")))
        };
        match kind.as_str() {
            "master" => Ok(Role::Master {
                replication_offset: convert(next("offset")?, "offset")?,
                replicas: convert(next("replicas")?, "replicas")?,
            }),
            "slave" | "replica" => Ok(Role::Replica {
                master_host: convert(next("master host")?, "master host")?,
                master_port: convert(next("master port")?, "master port")?,
                state: convert(next("state")?, "state")?,
                offset: convert(next("offset")?, "offset")?,
            }),
            "sentinel" => Ok(Role::Sentinel {
                masters: convert(next("masters")?, "masters")?,
            }),
            other => Err(ConversionError::malformed(
                "Role",
                "an array",
                format!("unknown role {other:?}"),
            )),
        }
    }
}

/// The reply to `TIME`: the server clock as seconds and microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct ServerTime {
    seconds: u64,
    microseconds: u32,
}

impl ServerTime {
    /// Whole seconds since the Unix epoch.
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    /// Microseconds into the current second, below 1 000 000.
    pub fn microseconds(&self) -> u32 {
        self.microseconds
    }

    /// The time since the Unix epoch.
    pub fn as_duration_since_epoch(&self) -> Duration {
        Duration::from_secs(self.seconds) + Duration::from_micros(u64::from(self.microseconds))
    }

    /// The time as a [`SystemTime`].
    pub fn to_system_time(&self) -> SystemTime {
        // The conversion checked that the time is representable, so this never falls back.
        SystemTime::UNIX_EPOCH
            .checked_add(self.as_duration_since_epoch())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// `[seconds, microseconds]`, both usually strings of digits. A microsecond count of a
/// second or more, or a time [`SystemTime`] cannot hold, is an error.
impl FromReply for ServerTime {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let (seconds, microseconds): (u64, u32) = FromReply::from_reply(value)?;
        if microseconds >= 1_000_000 {
            return Err(ConversionError::malformed(
                "ServerTime",
                "an array",
                format!("{microseconds} microseconds"),
            ));
        }
        let time = ServerTime {
            seconds,
            microseconds,
        };
        if SystemTime::UNIX_EPOCH
            .checked_add(time.as_duration_since_epoch())
            .is_none()
        {
            return Err(ConversionError::malformed(
                "ServerTime",
                "an array",
                format!("{seconds} seconds is out of range"),
            ));
        }
        Ok(time)
    }
}

/// One element of the `SLOWLOG GET` reply: a command that ran longer than the threshold.
///
/// Redis sends `[id, start-time, duration-us, [arg, ...], client-addr, client-name]`; servers
/// before 4.0 leave out the last two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlowlogEntry {
    /// A unique, increasing id.
    pub id: u64,
    /// When the command started, in seconds since the Unix epoch.
    pub start_time: i64,
    /// How long the command ran (sent in microseconds).
    pub duration: Duration,
    /// The command and its arguments; the server may shorten long ones.
    pub args: Vec<Bytes>,
    /// The client's address, `None` when absent or empty.
    pub client_addr: Option<String>,
    /// The client's name, `None` when absent or empty (no name set).
    pub client_name: Option<String>,
}

impl FromReply for SlowlogEntry {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([id, start, duration, args], mut rest) = leading(value, "SlowlogEntry")?;
        let mut text = |what: &str| -> Result<Option<String>, ConversionError> {
            match rest.next().map(plain) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let t: String = convert(v, what)?;
                    Ok(Some(t).filter(|t| !t.is_empty()))
                }
            }
        };
        Ok(SlowlogEntry {
            id: convert(id, "id")?,
            start_time: convert(start, "start time")?,
            duration: Duration::from_micros(convert(duration, "duration")?),
            args: convert(args, "arguments")?,
            client_addr: text("client address")?,
            client_name: text("client name")?,
        })
    }
}

/// One element of the `LATENCY LATEST` reply: the latest and worst latency of an event.
///
/// Redis sends `[event, timestamp, latest-ms, max-ms]`; extra elements are ignored.
/// `LATENCY HISTORY event` needs no type of its own: ask for `Vec<(i64, u64)>`
/// (timestamp, milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencySample {
    /// The event name (`command`, `fast-command`, `expire-cycle`, ...).
    pub event: String,
    /// When the latest spike happened, in seconds since the Unix epoch.
    pub timestamp: i64,
    /// The latest spike, in milliseconds.
    pub latest_ms: u64,
    /// The worst spike recorded, in milliseconds.
    pub max_ms: u64,
}

impl FromReply for LatencySample {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([event, timestamp, latest, max], _) = leading(value, "LatencySample")?;
        Ok(LatencySample {
            event: scalar_text(event.clone())
                .ok_or_else(|| ConversionError::new("LatencySample", &event))?,
            timestamp: convert(timestamp, "timestamp")?,
            latest_ms: convert(latest, "latest")?,
            max_ms: convert(max, "max")?,
        })
    }
}
