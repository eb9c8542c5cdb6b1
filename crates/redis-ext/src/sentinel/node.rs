//! Connections to the data nodes the Sentinels name: opened with the data nodes' own
//! configuration, checked with `ROLE` within a bounded time, and, for master pools, tagged so
//! that the pool's connections to a demoted master can be closed ("fenced") on the server.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_commands::replies::{ClientInfo, Role};
use redis_commands::{Cmd, FromReply, build, cmd};
use redis_conn::{Connection, ConnectionConfig, Phase, ServerError, ServerErrorKind};
use resp_proto::Value;

use super::NodeAddr;

/// The role a connection must find on its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    Master,
    Replica,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expect::Master => "master",
            Expect::Replica => "replica",
        })
    }
}

/// Why a node failed its check.
#[derive(Debug)]
pub(super) enum VerifyError {
    /// Connecting, the handshake or the `ROLE` exchange failed.
    Conn(redis_conn::Error),
    /// The server answered, with another role.
    WrongRole(String),
    /// The master was not even tried: the Sentinel's view is older than one already seen.
    Stale(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Conn(e) => e.fmt(f),
            VerifyError::WrongRole(role) => write!(f, "it answered ROLE as {role}"),
            VerifyError::Stale(why) => f.write_str(why),
        }
    }
}

/// One connection of ours on a server, as the server knows it (`CLIENT INFO`): its id and
/// its address, both needed to close it with `CLIENT KILL ID <id> ADDR <addr>` and never
/// another client (ids restart at 1 when a server restarts; the pair does not repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientTag {
    pub(super) id: u64,
    pub(super) addr: String,
}

/// The base configuration with a connect timeout when it had none; its address is a
/// placeholder that every connection replaces.
pub(super) fn bounded(
    base: &ConnectionConfig,
    default_connect_timeout: Duration,
) -> ConnectionConfig {
    if base.connect_timeout().is_some() {
        return base.clone();
    }
    base.clone()
        .into_builder()
        .connect_timeout(default_connect_timeout)
        .build()
}

/// Opens a connection to `addr` with `config` (whose address is replaced) and checks with
/// `ROLE` (or `INFO replication` where ROLE is refused) that the server has the `expect`ed
/// role, all within the connect timeout plus `verify_timeout`. With `tag`, also asks
/// `CLIENT INFO` in the same round trip.
pub(super) fn open_verified(
    config: &ConnectionConfig,
    addr: &NodeAddr,
    expect: Expect,
    verify_timeout: Duration,
    tag: bool,
) -> Result<(Connection, Option<ClientTag>), VerifyError> {
    let config = Arc::new(
        config
            .clone()
            .into_builder()
            .host(addr.host.clone())
            .port(addr.port)
            .build(),
    );
    let mut conn = Connection::open_shared(config).map_err(VerifyError::Conn)?;
    let mut cmds = vec![build::role()];
    if tag {
        cmds.push(client_info());
    }
    let deadline = deadline_after(verify_timeout);
    let mut replies = exchange(&mut conn, &cmds, deadline).map_err(VerifyError::Conn)?;
    let info = if tag { replies.pop() } else { None };
    let role = match replies.pop() {
        Some(Value::Error(text) | Value::BulkError(text)) => {
            let error = ServerError::parse(&text);
            if matches!(
                error.kind(),
                ServerErrorKind::NoAuth | ServerErrorKind::WrongPass
            ) {
                return Err(VerifyError::Conn(redis_conn::Error::Auth(error)));
            }
            // ROLE renamed or refused by an ACL: INFO replication says the same thing.
            let mut info =
                exchange(&mut conn, &[info_replication()], deadline).map_err(VerifyError::Conn)?;
            match info.pop().as_ref().and_then(text_of) {
                Some(text) => role_from_info(&text),
                None => {
                    return Err(VerifyError::Conn(redis_conn::Error::Server(error)));
                }
            }
        }
        Some(value) => match Role::from_reply(value) {
            Ok(Role::Master { .. }) => "master".to_owned(),
            Ok(Role::Replica { .. }) => "replica".to_owned(),
            Ok(Role::Sentinel { .. }) => "sentinel".to_owned(),
            Ok(_) => "an unknown role".to_owned(),
            Err(e) => {
                return Err(VerifyError::Conn(redis_conn::Error::UnexpectedReply(
                    format!("ROLE: {e}"),
                )));
            }
        },
        None => "nothing".to_owned(),
    };
    if role != expect.to_string() {
        return Err(VerifyError::WrongRole(role));
    }
    let tag = info
        .and_then(|value| ClientInfo::from_reply(value).ok())
        .and_then(|info| {
            (!info.addr.is_empty()).then_some(ClientTag {
                id: info.id,
                addr: info.addr,
            })
        });
    Ok((conn, tag))
}

fn info_replication() -> Cmd {
    let mut c = cmd("INFO");
    c.arg("replication");
    c
}

fn client_info() -> Cmd {
    let mut c = cmd("CLIENT");
    c.arg("INFO");
    c
}

/// The role an `INFO replication` text reports: `master`, `replica` or what it says.
fn role_from_info(text: &str) -> String {
    let role = text
        .lines()
        .find_map(|line| line.trim_end().strip_prefix("role:"))
        .unwrap_or("nothing");
    match role {
        "slave" => "replica".to_owned(),
        other => other.to_owned(),
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::SimpleString(b) | Value::BulkString(b) | Value::Verbatim { text: b, .. } => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

/// Sends `cmds` in one write and reads one reply each, giving up at `deadline` whatever the
/// connection's own socket timeout is (a stopped server must not hold a connect for long).
/// Error replies are returned as values. After a timeout the connection must be dropped.
pub(super) fn exchange(
    conn: &mut Connection,
    cmds: &[Cmd],
    deadline: Instant,
) -> Result<Vec<Value>, redis_conn::Error> {
    // Sent as "unsolicited" replies (0 expected) and read with `next_value`, which bounds
    // each read by the time left; the connection ends with nothing outstanding.
    conn.send_with(0, |buf| {
        for c in cmds {
            c.write_packed(buf);
        }
    })?;
    let mut replies = Vec::with_capacity(cmds.len());
    while replies.len() < cmds.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(redis_conn::Error::Timeout(Phase::Reading));
        }
        match conn.next_value(left)? {
            // A RESP3 push (tracking, ...) is not a reply.
            Some(Value::Push(_)) => {}
            Some(value) => replies.push(value),
            None => {}
        }
    }
    Ok(replies)
}

/// Closes our connections `tags` on the server at `addr` (a master that was replaced) with
/// `CLIENT KILL ID <id> ADDR <addr>`, best effort, within `timeout` after connecting. The
/// pool then finds them closed at checkout and drops them; one in use fails with a
/// connection error instead of writing to a demoted master.
pub(super) fn fence(
    config: &ConnectionConfig,
    addr: &NodeAddr,
    tags: &[ClientTag],
    timeout: Duration,
) {
    if tags.is_empty() {
        return;
    }
    let config = config
        .clone()
        .into_builder()
        .host(addr.host.clone())
        .port(addr.port)
        .build();
    let Ok(mut conn) = Connection::open(&config) else {
        return;
    };
    let cmds: Vec<Cmd> = tags
        .iter()
        .map(|tag| {
            let mut c = cmd("CLIENT");
            c.arg("KILL")
                .arg("ID")
                .arg(tag.id)
                .arg("ADDR")
                .arg(tag.addr.as_str());
            c
        })
        .collect();
    // Errors (no such client, no permission) change nothing: the server-side kick of
    // Sentinel and the pool's checks remain.
    let _ = exchange(&mut conn, &cmds, deadline_after(timeout));
}

/// When a wait of `timeout` that starts now ends. A timeout too large for the clock (a user's
/// `Duration::MAX`, meaning "no limit") ends in a hundred years rather than panicking.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_from_info_text() {
        assert_eq!(
            role_from_info("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"),
            "master"
        );
        assert_eq!(role_from_info("# Replication\r\nrole:slave\r\n"), "replica");
        assert_eq!(role_from_info(""), "nothing");
    }

    #[test]
    fn bounded_adds_a_connect_timeout_only_when_missing() {
        let base = ConnectionConfig::builder().db(3).password("data").build();
        let config = bounded(&base, Duration::from_secs(2));
        assert_eq!(config.db(), 3);
        assert_eq!(config.password().map(|p| p.expose()), Some("data"));
        assert_eq!(config.connect_timeout(), Some(Duration::from_secs(2)));
        let timed = base
            .into_builder()
            .connect_timeout(Duration::from_millis(50))
            .build();
        let config = bounded(&timed, Duration::from_secs(2));
        assert_eq!(config.connect_timeout(), Some(Duration::from_millis(50)));
    }
}
