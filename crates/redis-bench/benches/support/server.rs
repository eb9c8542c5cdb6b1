//! A throw-away `redis-server` for the client benchmarks, and the data they read.
//!
//! [`Server::start`] runs `redis-server` (from `PATH`) on a free loopback port with
//! persistence off (`--save "" --appendonly no`); dropping the [`Server`] kills it. Included by
//! `benches/client.rs` and `benches/client_alloc.rs` with `#[path]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key every GET and SET uses: the key `redis-benchmark -t get,set` uses when `-r` is not
/// given, so that this client, redis-rs and redis-benchmark read the very same value.
pub(crate) const KEY: &str = "key:__rand_int__";

/// The list LRANGE reads: `redis-benchmark`'s own name for it.
pub(crate) const LIST: &str = "mylist";

/// A 16-byte value, as `redis-benchmark -d 16` writes it (`x` repeated).
pub(crate) const VALUE_16: [u8; 16] = [b'x'; 16];

/// One mebibyte.
pub(crate) const MIB: usize = 1024 * 1024;

/// A running `redis-server`, killed on drop.
pub(crate) struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `redis-server` on a free port of 127.0.0.1 and waits until it answers PING.
    pub(crate) fn start() -> Server {
        // Ask the kernel for a free port, then hand it to the server. Another process could
        // take it in between; then the server fails to bind and the PING wait below panics.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("no free loopback port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run redis-server (is it installed at /usr/bin?)");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if server.raw(&[b"PING"]).is_ok_and(|reply| reply == b"+PONG") {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not answer PING within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port the server listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Sets [`KEY`] to `len` bytes of `x`.
    pub(crate) fn set_value(&self, len: usize) {
        let value = vec![b'x'; len];
        let reply = self.raw(&[b"SET", KEY.as_bytes(), &value]).expect("SET");
        assert_eq!(reply, b"+OK", "SET {KEY} failed");
    }

    /// Replaces [`LIST`] with `len` elements of `elem_len` bytes of `x`.
    pub(crate) fn fill_list(&self, len: usize, elem_len: usize) {
        let elem = vec![b'x'; elem_len];
        self.raw(&[b"DEL", LIST.as_bytes()]).expect("DEL");
        let mut args: Vec<&[u8]> = vec![b"RPUSH", LIST.as_bytes()];
        args.extend(std::iter::repeat_n(&elem[..], len));
        let reply = self.raw(&args).expect("RPUSH");
        assert_eq!(reply, format!(":{len}").into_bytes(), "RPUSH {LIST} failed");
    }

    /// Sends one command on a fresh connection and returns the first line of its reply, so
    /// that the setup does not depend on any of the clients measured.
    fn raw(&self, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        stream.write_all(&out)?;
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        if line.ends_with(b"\r\n") {
            line.truncate(line.len() - 2);
        }
        // Drain a bulk reply's payload, if any, so the server is done with it before return.
        if let Some(len) = line
            .strip_prefix(b"$")
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
        {
            let mut payload = vec![0; len + 2];
            reader.read_exact(&mut payload)?;
        }
        Ok(line)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
