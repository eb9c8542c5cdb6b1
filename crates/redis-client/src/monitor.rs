//! [`Monitor`]: the commands a server runs, as parsed events (MONITOR).

use std::time::Duration;

use bytes::Bytes;
use redis_conn::Connection;
use resp_proto::Value;

use crate::client::Client;
use crate::error::Error;

/// Who sent a monitored command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorSource {
    /// A TCP client, `ip:port` (`[ip]:port` for IPv6, as `SocketAddr` parses it).
    Tcp(String),
    /// A Unix-socket client; the socket path.
    Unix(String),
    /// A Lua script (`redis.call`).
    Lua,
    /// Anything else the server printed.
    Other(String),
}

/// One command the server ran, as MONITOR reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MonitorEvent {
    /// When it ran, in seconds since the Unix epoch (microsecond precision).
    pub timestamp: f64,
    /// The database it ran in.
    pub db: u32,
    /// Who sent it.
    pub source: MonitorSource,
    /// The command and its arguments, with the server's escaping undone.
    pub args: Vec<Bytes>,
}

impl MonitorEvent {
    /// The command's name, upper-cased (`"SET"`).
    pub fn command(&self) -> String {
        self.args
            .first()
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
            .unwrap_or_default()
    }

    /// Parses one MONITOR line: `1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`. The
    /// client's address can hold brackets itself (an IPv6 client is `[::1]:50123`), so the
    /// bracket that ends it is the one the quoted arguments follow.
    pub fn parse(line: &[u8]) -> Result<MonitorEvent, Error> {
        let bad = |why: &str| {
            Error::InvalidRequest(format!(
                "cannot parse the MONITOR line {:?}: {why}",
                String::from_utf8_lossy(line)
            ))
        };
        let open = line
            .iter()
            .position(|&b| b == b'[')
            .ok_or_else(|| bad("no '['"))?;
        let close = source_end(&line[open..])
            .map(|p| p + open)
            .ok_or_else(|| bad("no ']'"))?;
        let timestamp = std::str::from_utf8(&line[..open])
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .ok_or_else(|| bad("no timestamp"))?;
        let inside = std::str::from_utf8(&line[open + 1..close]).map_err(|_| bad("not UTF-8"))?;
        let (db, who) = inside.split_once(' ').unwrap_or((inside, ""));
        let db = db.parse::<u32>().map_err(|_| bad("no database"))?;
        let source = if who == "lua" {
            MonitorSource::Lua
        } else if let Some(path) = who.strip_prefix("unix:") {
            MonitorSource::Unix(path.to_owned())
        } else if who.contains(':') {
            MonitorSource::Tcp(who.to_owned())
        } else {
            MonitorSource::Other(who.to_owned())
        };
        let args = unquote_all(&line[close + 1..]).ok_or_else(|| bad("bad quoting"))?;
        Ok(MonitorEvent {
            timestamp,
            db,
            source,
            args,
        })
    }
}

/// Where the `]` closing the database and client part of a line (starting at its `[`) is:
/// the first `]` followed by ` "` (the arguments) or by the end of the line. An IPv6
/// address's own `]` is followed by `:` and the port.
fn source_end(part: &[u8]) -> Option<usize> {
    part.iter()
        .enumerate()
        .position(|(i, &b)| b == b']' && matches!(&part[i + 1..], [] | [b' ', b'"', ..]))
}

/// Splits `"a" "b\"c" "\x00"` into its unescaped strings (the server's `sdscatrepr` form).
fn unquote_all(mut rest: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    loop {
        while let [b' ', tail @ ..] = rest {
            rest = tail;
        }
        match rest {
            [] => return Some(args),
            [b'"', tail @ ..] => {
                let (arg, after) = unquote(tail)?;
                args.push(Bytes::from(arg));
                rest = after;
            }
            _ => return None,
        }
    }
}

/// One quoted string after its opening quote: the bytes and what follows the closing quote.
fn unquote(mut rest: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    loop {
        match rest {
            [b'"', tail @ ..] => return Some((out, tail)),
            [b'\\', b'x', h, l, tail @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let hex = [*h, *l];
                let text = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                rest = tail;
            }
            [b'\\', c, tail @ ..] => {
                out.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'a' => 0x07,
                    b'b' => 0x08,
                    other => *other,
                });
                rest = tail;
            }
            [c, tail @ ..] => {
                out.push(*c);
                rest = tail;
            }
            [] => return None,
        }
    }
}

/// The commands a server runs, on a connection of its own (redis-py's `Monitor`).
///
/// MONITOR slows a busy server down noticeably; use it for debugging.
///
/// ```no_run
/// use std::time::Duration;
/// use redis_client::Client;
///
/// let client = Client::open("redis://127.0.0.1:6379")?;
/// let mut monitor = client.monitor()?;
/// if let Some(event) = monitor.next_event(Duration::from_secs(1))? {
///     println!("{} {:?}", event.command(), event.args);
/// }
/// # Ok::<(), redis_client::Error>(())
/// ```
#[derive(Debug)]
pub struct Monitor {
    conn: Connection,
}

impl Client {
    /// Starts MONITOR on a connection of its own.
    pub fn monitor(&self) -> Result<Monitor, Error> {
        let mut conn = self.pool().get()?.detach();
        match conn.request(&["MONITOR"])? {
            Value::SimpleString(s) if &s[..] == b"OK" => Ok(Monitor { conn }),
            other => Err(Error::InvalidRequest(format!(
                "MONITOR answered {other:?} instead of OK"
            ))),
        }
    }
}

impl Monitor {
    /// The next command the server ran, waiting up to `timeout` (`Duration::ZERO` does not
    /// wait). `None` when nothing arrived in time.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<MonitorEvent>, Error> {
        match self.conn.next_value(timeout)? {
            None => Ok(None),
            Some(Value::SimpleString(line) | Value::BulkString(line)) => {
                MonitorEvent::parse(&line).map(Some)
            }
            Some(Value::Verbatim { text, .. }) => MonitorEvent::parse(&text).map(Some),
            Some(Value::Error(text) | Value::BulkError(text)) => {
                Err(Error::Server(redis_conn::ServerError::parse(&text)))
            }
            Some(other) => Err(Error::InvalidRequest(format!(
                "unexpected value on a MONITOR connection: {other:?}"
            ))),
        }
    }

    /// Events as an iterator that waits for each; ends after an error, which it yields.
    pub fn iter(&mut self) -> impl Iterator<Item = Result<MonitorEvent, Error>> + '_ {
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            loop {
                match self.next_event(Duration::from_secs(3600)) {
                    Ok(Some(event)) => return Some(Ok(event)),
                    Ok(None) => {}
                    Err(e) => {
                        done = true;
                        return Some(Err(e));
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_unix_and_lua_lines() {
        let e = MonitorEvent::parse(br#"1339518083.107412 [0 127.0.0.1:60866] "keys" "*""#)
            .expect("parses");
        assert_eq!(e.db, 0);
        assert_eq!(e.source, MonitorSource::Tcp("127.0.0.1:60866".to_owned()));
        assert_eq!(e.args, [Bytes::from("keys"), Bytes::from("*")]);
        assert!((e.timestamp - 1_339_518_083.107_412).abs() < 1e-6);

        let e = MonitorEvent::parse(br#"1.5 [3 unix:/tmp/r.sock] "GET" "k""#).expect("parses");
        assert_eq!(e.db, 3);
        assert_eq!(e.source, MonitorSource::Unix("/tmp/r.sock".to_owned()));

        let e = MonitorEvent::parse(br#"1.5 [0 lua] "set" "a" "b""#).expect("parses");
        assert_eq!(e.source, MonitorSource::Lua);
        assert_eq!(e.command(), "SET");
    }

    #[test]
    fn undoes_the_servers_escaping() {
        let e = MonitorEvent::parse(br#"1.0 [0 127.0.0.1:1] "set" "a\"b\\c" "\x00\xff\n\r\t""#)
            .expect("parses");
        assert_eq!(&e.args[1][..], b"a\"b\\c");
        assert_eq!(&e.args[2][..], b"\x00\xff\n\r\t");
    }

    #[test]
    fn parses_ipv6_clients() {
        let e = MonitorEvent::parse(br#"1.0 [0 [::1]:50123] "get" "k""#).expect("parses");
        assert_eq!(e.db, 0);
        assert_eq!(e.source, MonitorSource::Tcp("[::1]:50123".to_owned()));
        assert_eq!(e.args, [Bytes::from("get"), Bytes::from("k")]);
        let MonitorSource::Tcp(addr) = &e.source else {
            unreachable!("checked above")
        };
        assert!(addr.parse::<std::net::SocketAddr>().is_ok(), "{addr}");

        let e = MonitorEvent::parse(br#"1.0 [5 [fe80::1:2]:6379] "set" "a]" "b""#).expect("parses");
        assert_eq!(e.db, 5);
        assert_eq!(e.source, MonitorSource::Tcp("[fe80::1:2]:6379".to_owned()));
        assert_eq!(
            e.args,
            [Bytes::from("set"), Bytes::from("a]"), Bytes::from("b")]
        );
    }

    #[test]
    fn parses_every_kind_of_source_with_brackets_in_the_arguments() {
        let cases: [(&[u8], MonitorSource); 4] = [
            (
                br#"1.0 [0 10.1.2.3:6000] "get" "[x]""#,
                MonitorSource::Tcp("10.1.2.3:6000".to_owned()),
            ),
            (
                br#"1.0 [0 [::1]:6000] "get" "[x]""#,
                MonitorSource::Tcp("[::1]:6000".to_owned()),
            ),
            (
                br#"1.0 [0 unix:/tmp/redis.sock] "get" "[x]""#,
                MonitorSource::Unix("/tmp/redis.sock".to_owned()),
            ),
            (br#"1.0 [0 lua] "get" "[x]""#, MonitorSource::Lua),
        ];
        for (line, source) in cases {
            let e = MonitorEvent::parse(line).expect("parses");
            assert_eq!(e.source, source);
            assert_eq!(e.args, [Bytes::from("get"), Bytes::from("[x]")]);
        }
    }

    #[test]
    fn decodes_bell_and_backspace_escapes() {
        // The server writes BEL and BS as `\a` and `\b` (sdscatrepr).
        let e = MonitorEvent::parse(br#"1.0 [0 127.0.0.1:1] "set" "k" "\a\b""#).expect("parses");
        assert_eq!(&e.args[2][..], [0x07, 0x08]);
        let e =
            MonitorEvent::parse(br#"1.0 [0 127.0.0.1:1] "set" "k" "x\ay\bz\x07""#).expect("parses");
        assert_eq!(&e.args[2][..], b"x\x07y\x08z\x07");
    }

    #[test]
    fn rejects_malformed_lines() {
        for line in [
            &b"no brackets"[..],
            b"1.0 [x 127.0.0.1:1] \"a\"",
            b"1.0 [0 lua] \"open",
        ] {
            assert!(MonitorEvent::parse(line).is_err(), "{line:?}");
        }
    }
}
