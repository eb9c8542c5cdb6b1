//! Support for the typed-command suites: one server, a client per protocol, and version gates
//! that skip visibly.

use std::io::Write as _;

use redis_client::{Client, Commands, Protocol};

use crate::RedisServer;

/// A server with a RESP2 client and a RESP3 client on it.
#[derive(Debug)]
pub struct CommandServer {
    /// The server; dropped last.
    pub server: RedisServer,
    version: (u32, u32, u32),
}

impl CommandServer {
    /// Starts a server for command tests.
    pub fn start() -> CommandServer {
        Self::with(RedisServer::start())
    }

    /// Wraps a server started with extra arguments.
    pub fn with(server: RedisServer) -> CommandServer {
        let client = server.client_builder().build();
        let info = client
            .info_with(&redis_client::InfoOptions::new().section(["server"]))
            .expect("INFO server");
        let version = info
            .get("redis_version")
            .map(parse_version)
            .expect("INFO has redis_version");
        CommandServer { server, version }
    }

    /// A client speaking `protocol`, with a fresh database 0 (FLUSHALL first).
    pub fn client(&self, protocol: Protocol) -> Client {
        let client = self.server.client_builder().protocol(protocol).build();
        client.flushall().expect("FLUSHALL");
        client
    }

    /// Runs `test` once with a RESP2 client and once with a RESP3 client, each on an empty
    /// database, so every assertion holds under both protocols.
    pub fn each_protocol(&self, mut test: impl FnMut(&Client, Protocol)) {
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            let client = self.client(protocol);
            test(&client, protocol);
        }
    }

    /// The server's version.
    pub fn version(&self) -> (u32, u32, u32) {
        self.version
    }

    /// Whether the server is at least `version` (`"7.2.0"`). When it is not, prints a line
    /// saying what was skipped and why (straight to the terminal, past the test harness's
    /// output capture), so skips are never silent.
    pub fn supports(&self, version: &str, what: &str) -> bool {
        let needed = parse_version(version);
        if self.version >= needed {
            return true;
        }
        let (a, b, c) = self.version;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {what}: needs Redis {version}, the server is {a}.{b}.{c}"
        );
        false
    }
}

fn parse_version(text: &str) -> (u32, u32, u32) {
    let mut parts = text.trim().split('.').map(|p| p.parse().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}
