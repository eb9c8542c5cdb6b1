//! The optional `+switch-master` watcher of a master pool: one thread, subscribed on one
//! Sentinel at a time, that tells the pool's state when its master moved. It holds the state
//! weakly and ends soon after the pool is dropped.

use std::sync::Weak;
use std::thread;
use std::time::{Duration, Instant};

use redis_commands::cmd;
use redis_conn::Connection;
use resp_proto::Value;

use super::pool::MasterState;
use super::{NodeAddr, Sentinel};

/// How long one wait for a message lasts; also how soon the thread notices the pool is gone.
const POLL: Duration = Duration::from_millis(250);
/// Silence after which the subscription is PINGed.
const PING_AFTER: Duration = Duration::from_secs(2);
/// Silence after which the Sentinel is given up for the next one.
const DEAD_AFTER: Duration = Duration::from_secs(4);
/// The longest pause between two rounds over the Sentinels.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Starts the watcher thread; when no thread can be started the pool works without it.
pub(super) fn spawn(sentinel: Sentinel, name: String, state: Weak<MasterState>) {
    let spawned = thread::Builder::new()
        .name("redis-sentinel-watch".to_owned())
        .spawn(move || run(&sentinel, &name, &state));
    drop(spawned);
}

fn run(sentinel: &Sentinel, name: &str, state: &Weak<MasterState>) {
    let mut pause = Duration::from_millis(100);
    while state.strong_count() > 0 {
        for addr in sentinel.sentinels() {
            if state.strong_count() == 0 {
                return;
            }
            if let Some(conn) = subscribe(sentinel, &addr) {
                listen(conn, name, state);
                pause = Duration::from_millis(100);
            }
        }
        // Every Sentinel failed (or dropped us): wait a little, checking on the pool.
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if state.strong_count() == 0 {
                return;
            }
            thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// A connection to the Sentinel at `addr` subscribed to `+switch-master`.
fn subscribe(sentinel: &Sentinel, addr: &NodeAddr) -> Option<Connection> {
    let mut conn = Connection::open(&sentinel.sentinel_config(addr)).ok()?;
    let mut subscribe = cmd("SUBSCRIBE");
    subscribe.arg("+switch-master");
    // Nothing is "expected": in subscribed mode every value is read with `next_value`.
    conn.send_with(0, |buf| subscribe.write_packed(buf)).ok()?;
    let deadline = super::node::deadline_after(sentinel.options().socket_timeout);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        match conn.next_value(left).ok()? {
            Some(Value::Array(items) | Value::Push(items))
                if items.first().and_then(Value::as_bytes).map(|b| &b[..])
                    == Some(b"subscribe") =>
            {
                return Some(conn);
            }
            Some(Value::Error(_) | Value::BulkError(_)) => return None,
            _ => {}
        }
    }
}

/// Reads messages until the connection fails, stays silent too long, or the pool is gone.
fn listen(mut conn: Connection, name: &str, state: &Weak<MasterState>) {
    let mut last_heard = Instant::now();
    let mut pinged = false;
    loop {
        if state.strong_count() == 0 {
            return;
        }
        match conn.next_value(POLL) {
            Ok(Some(value)) => {
                last_heard = Instant::now();
                pinged = false;
                if let Some(old) = switch_event(&value, name)
                    && let Some(state) = state.upgrade()
                {
                    state.switched_from(&old);
                }
            }
            Ok(None) => {
                let silent = last_heard.elapsed();
                if silent > DEAD_AFTER {
                    return;
                }
                if silent > PING_AFTER && !pinged {
                    if conn
                        .send_with(0, |buf| cmd("PING").write_packed(buf))
                        .is_err()
                    {
                        return;
                    }
                    pinged = true;
                }
            }
            Err(_) => return,
        }
    }
}

/// The old master of a `+switch-master` message about `name`:
/// `["message", "+switch-master", "<name> <old-ip> <old-port> <new-ip> <new-port>"]`.
fn switch_event(value: &Value, name: &str) -> Option<NodeAddr> {
    let (Value::Array(items) | Value::Push(items)) = value else {
        return None;
    };
    let [kind, channel, payload] = items.as_slice() else {
        return None;
    };
    if kind.as_bytes().map(|b| &b[..]) != Some(b"message")
        || channel.as_bytes().map(|b| &b[..]) != Some(b"+switch-master")
    {
        return None;
    }
    let payload = std::str::from_utf8(payload.as_bytes()?).ok()?;
    let parts: Vec<&str> = payload.split_whitespace().collect();
    let [event_name, old_ip, old_port, _new_ip, _new_port] = parts.as_slice() else {
        return None;
    };
    if *event_name != name {
        return None;
    }
    Some(NodeAddr::new(*old_ip, old_port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: &str, payload: &str) -> Value {
        let bulk = |s: &str| Value::BulkString(bytes::Bytes::copy_from_slice(s.as_bytes()));
        Value::Array(vec![bulk("message"), bulk(channel), bulk(payload)].into())
    }

    #[test]
    fn parses_switch_master_for_our_name_only() {
        let v = message("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380");
        assert_eq!(
            switch_event(&v, "mymaster"),
            Some(NodeAddr::new("127.0.0.1", 6379))
        );
        assert_eq!(switch_event(&v, "other"), None);
        assert_eq!(switch_event(&message("+sdown", "x"), "mymaster"), None);
        assert_eq!(
            switch_event(
                &message("+switch-master", "mymaster 1.2.3.4 notaport 1 2"),
                "mymaster"
            ),
            None
        );
        assert_eq!(switch_event(&Value::Null, "mymaster"), None);
    }
}
