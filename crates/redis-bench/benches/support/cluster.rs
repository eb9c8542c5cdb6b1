//! A throw-away Redis Cluster for the cluster benchmarks: three primaries, no replicas.
//!
//! [`Cluster::start`] runs three `redis-server`s (from `PATH`) on free loopback ports with
//! cluster mode on and persistence off, each with its own cluster bus port (`--cluster-port`,
//! Redis 7.0+) and its `nodes-<port>.conf` in a fresh temporary directory, joins them with
//! `redis-cli --cluster create ... --cluster-yes` (the 16384 slots split in three), and waits
//! until every node reports `cluster_state:ok`. Dropping the [`Cluster`] kills the servers and
//! removes the directory. Included by `benches/cluster.rs` with `#[path]`.
//!
//! The setup talks to the nodes over raw RESP (following MOVED), so that it does not depend
//! on any of the clients measured.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Primaries of the cluster.
const NODES: usize = 3;
/// How long each wait of the start-up may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two polls of a wait.
const POLL: Duration = Duration::from_millis(50);

/// A running three-primary cluster, killed on drop.
pub(crate) struct Cluster {
    children: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts the three nodes, creates the cluster and waits until it serves every slot.
    pub(crate) fn start() -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "redis-bench-cluster-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("cannot create the cluster's directory");
        // Client port and bus port of each node: all six taken from the kernel while every
        // listener is open, so they differ. Another process could take one before the server
        // binds it; then that server exits and the PING wait below panics.
        let free = free_ports(2 * NODES);
        let (ports, buses) = free.split_at(NODES);
        let mut cluster = Cluster {
            children: Vec::with_capacity(NODES),
            ports: ports.to_vec(),
            dir,
        };
        for (&port, &bus) in ports.iter().zip(buses) {
            let conf = cluster.dir.join(format!("nodes-{port}.conf"));
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .arg("--cluster-config-file")
                .arg(&conf)
                .arg("--dir")
                .arg(&cluster.dir)
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot run redis-server (is it installed at /usr/bin?)");
            cluster.children.push(child);
        }
        for &port in ports {
            wait_for(
                &format!("redis-server on port {port} to answer PING"),
                || raw(port, &[b"PING"]).is_ok_and(|reply| reply == b"+PONG"),
            );
        }
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run redis-cli");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for &port in ports {
            wait_for(&format!("node {port} to report cluster_state:ok"), || {
                Command::new("redis-cli")
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port.to_string(),
                        "cluster",
                        "info",
                    ])
                    .stdin(Stdio::null())
                    .output()
                    .is_ok_and(|out| {
                        let text = String::from_utf8_lossy(&out.stdout);
                        text.lines().any(|l| l.trim() == "cluster_state:ok")
                            && text
                                .lines()
                                .any(|l| l.trim() == format!("cluster_known_nodes:{NODES}"))
                    })
            });
        }
        cluster
    }

    /// The client ports of the primaries.
    pub(crate) fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `redis://127.0.0.1:<port>/` of every primary.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }

    /// Sets every key of `keys` to `value`, each on the node serving it.
    pub(crate) fn set_all(&self, keys: &[String], value: &[u8]) {
        let mut conns = HashMap::new();
        for key in keys {
            let reply = self
                .routed(&mut conns, &[b"SET", key.as_bytes(), value])
                .unwrap_or_else(|e| panic!("SET {key}: {e}"));
            assert_eq!(reply, b"+OK", "SET {key} failed");
        }
    }

    /// Sends one command to the first node, then, as long as the reply is a MOVED, to the
    /// node it names (at most [`NODES`] hops); returns the first line of the last reply.
    fn routed(
        &self,
        conns: &mut HashMap<u16, BufReader<TcpStream>>,
        args: &[&[u8]],
    ) -> std::io::Result<Vec<u8>> {
        let mut port = self.ports[0];
        for _ in 0..=NODES {
            let conn = match conns.entry(port) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(connect(port)?),
            };
            let reply = send(conn, args)?;
            // `-MOVED <slot> <host>:<port>`
            let moved = reply.strip_prefix(b"-MOVED ").and_then(|rest| {
                let text = std::str::from_utf8(rest).ok()?;
                text.rsplit(':').next()?.parse::<u16>().ok()
            });
            match moved {
                Some(next) => port = next,
                None => return Ok(reply),
            }
        }
        Err(std::io::Error::other("too many MOVED replies"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` distinct free ports of 127.0.0.1.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("no free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").port())
        .collect()
}

/// Polls `ready` until it holds, for at most [`START_TIMEOUT`] and a bounded number of
/// polls; panics with `what` otherwise.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + START_TIMEOUT;
    let max_polls = START_TIMEOUT.as_millis() / POLL.as_millis();
    for _ in 0..max_polls {
        if ready() {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    panic!("timed out after {START_TIMEOUT:?} waiting for {what}");
}

fn connect(port: u16) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(BufReader::new(stream))
}

/// Sends one command on a fresh connection to `port` and returns the first line of its
/// reply.
fn raw(port: u16, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    send(&mut connect(port)?, args)
}

/// Writes one command and reads the first line of its reply (only simple replies are
/// expected: status, error, integer).
fn send(conn: &mut BufReader<TcpStream>, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    conn.get_mut().write_all(&out)?;
    let mut line = Vec::new();
    conn.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(std::io::Error::other("connection closed"));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}
