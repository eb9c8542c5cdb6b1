//! `cargo xtask demo`: the guided tour against a throwaway redis-server.

use std::env;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A redis-server started for the demo, killed when dropped.
struct ThrowawayServer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl ThrowawayServer {
    fn start() -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let dir = env::temp_dir().join(format!("redis-demo-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let server = ThrowawayServer { child, dir, port };
        server.wait_ready()?;
        Ok(server)
    }

    /// Polls with PING until the server answers, for at most ten seconds.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return Ok(());
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        ))
    }
}

impl Drop for ThrowawayServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the server, runs the tour example against it, stops the server.
pub(crate) fn run(extra: &[String]) -> Result<(), String> {
    let example = extra.first().map_or("tour", String::as_str);
    crate::provision::ensure_redis()?;
    let server = ThrowawayServer::start()?;
    let url = format!("redis://127.0.0.1:{}/0", server.port);
    println!(
        "xtask: redis-server started on 127.0.0.1:{} (stopped when the demo ends)\n",
        server.port
    );
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--locked",
            "-p",
            "redis-client",
            "--example",
            example,
            "--",
        ])
        .arg(&url)
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    drop(server);
    if status.success() {
        Ok(())
    } else {
        Err(format!("the `{example}` example failed ({status})"))
    }
}
