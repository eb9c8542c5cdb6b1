//! `cargo xtask demo [EXAMPLE | --all | --list]`: the guided tour, one example, or every
//! example of `redis-client`, against a throwaway redis-server.

use std::collections::BTreeMap;
use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The example `cargo xtask demo` runs without arguments.
const TOUR: &str = "tour";

/// How long one example may run before it is stopped and counted as failed. The examples
/// finish in a few seconds; this only keeps a hung one from hanging CI.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "usage: cargo xtask demo [EXAMPLE | --all | --list]

  (no argument)  run the guided tour (examples/tour.rs)
  EXAMPLE        run crates/redis-client/examples/EXAMPLE.rs
  --all          run the tour and every other example against one server (FLUSHALL between
                 them), report each, and fail if any fails
  --list         list the examples";

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
        let mut command = Command::new("redis-server");
        command
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
            .arg(&dir);
        // A Unix socket too, for the unix_socket example (which finds it with CONFIG GET).
        // Socket paths are limited to about 100 bytes; without one the example says so.
        let socket = dir.join("redis.sock");
        if socket.as_os_str().len() < 100 {
            command
                .arg("--unixsocket")
                .arg(&socket)
                .args(["--unixsocketperm", "700"]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let server = ThrowawayServer { child, dir, port };
        server.wait_ready()?;
        Ok(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Polls with PING until the server answers, for at most ten seconds.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.request(b"PING\r\n", b"+PONG\r\n").is_ok() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        ))
    }

    /// Empties every database, so that each example starts from a clean server.
    fn flushall(&self) -> Result<(), String> {
        self.request(b"FLUSHALL\r\n", b"+OK\r\n")
            .map_err(|e| format!("FLUSHALL on the demo server failed: {e}"))
    }

    /// Sends one inline command and checks that the reply is exactly `expected`.
    fn request(&self, command: &[u8], expected: &[u8]) -> Result<(), String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        stream.write_all(command).map_err(|e| e.to_string())?;
        let mut reply = vec![0u8; expected.len()];
        stream.read_exact(&mut reply).map_err(|e| e.to_string())?;
        if reply == expected {
            Ok(())
        } else {
            Err(format!(
                "unexpected reply {:?}",
                String::from_utf8_lossy(&reply)
            ))
        }
    }
}

impl Drop for ThrowawayServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `cargo xtask demo [EXAMPLE | --all | --list]`.
pub(crate) fn run(extra: &[String]) -> Result<(), String> {
    match extra {
        [] => run_one(TOUR),
        [flag] if flag == "--all" => run_all(),
        [flag] if flag == "--list" => {
            for name in example_names()? {
                println!("{name}");
            }
            Ok(())
        }
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        [name] if !name.starts_with('-') => run_one(name),
        _ => Err(USAGE.to_owned()),
    }
}

/// Builds one example, starts the server, runs the example against it, stops the server.
fn run_one(name: &str) -> Result<(), String> {
    let names = example_names()?;
    if !names.iter().any(|n| n == name) {
        return Err(format!(
            "there is no example `{name}`; the examples are: {}",
            names.join(", ")
        ));
    }
    let binaries = build_examples(Some(name))?;
    let binary = binaries
        .get(name)
        .ok_or_else(|| format!("cargo built no binary for the `{name}` example"))?;
    crate::provision::ensure_redis()?;
    let server = ThrowawayServer::start()?;
    println!(
        "xtask: redis-server started on 127.0.0.1:{} (stopped when the demo ends)\n",
        server.port
    );
    let outcome = run_example(binary, &server.url());
    drop(server);
    match outcome {
        Outcome::Passed => Ok(()),
        failed => Err(format!("the `{name}` example failed ({failed})")),
    }
}

/// Builds every example once, then runs the tour and each example against one server,
/// emptied between them.
fn run_all() -> Result<(), String> {
    let mut names = example_names()?;
    // The tour first, then the others in alphabetical order.
    names.sort_by_key(|n| (n.as_str() != TOUR, n.clone()));
    let binaries = build_examples(None)?;
    crate::provision::ensure_redis()?;
    let server = ThrowawayServer::start()?;
    println!(
        "xtask: redis-server started on 127.0.0.1:{}; running {} examples\n",
        server.port,
        names.len()
    );
    let mut results: Vec<(String, Outcome, Duration)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            server.flushall()?;
        }
        println!("==> {name}");
        let started = Instant::now();
        let outcome = match binaries.get(name) {
            Some(binary) => run_example(binary, &server.url()),
            None => Outcome::NotBuilt,
        };
        let took = started.elapsed();
        println!(
            "<== {name}: {} in {:.1} s\n",
            if outcome == Outcome::Passed {
                "passed".to_owned()
            } else {
                format!("FAILED ({outcome})")
            },
            took.as_secs_f64()
        );
        results.push((name.clone(), outcome, took));
    }
    drop(server);

    let width = names.iter().map(String::len).max().unwrap_or(0);
    println!("xtask: demo --all");
    for (name, outcome, took) in &results {
        let status = if *outcome == Outcome::Passed {
            "ok  "
        } else {
            "FAIL"
        };
        let why = if *outcome == Outcome::Passed {
            String::new()
        } else {
            format!("  {outcome}")
        };
        println!(
            "  {status}  {name:<width$}  {:>5.1} s{why}",
            took.as_secs_f64()
        );
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, outcome, _)| *outcome != Outcome::Passed)
        .map(|(name, _, _)| name.as_str())
        .collect();
    println!(
        "xtask: {} examples, {} passed, {} failed",
        results.len(),
        results.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("examples failed: {}", failed.join(", ")))
    }
}

/// The examples of `redis-client`: the `.rs` files of its `examples/` directory.
fn example_names() -> Result<Vec<String>, String> {
    let dir = examples_dir();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        .join("crates/redis-client/examples")
}

/// Builds one example (or all of them) with cargo and returns each example's executable, read
/// from cargo's JSON messages (so a custom target directory works too).
fn build_examples(only: Option<&str>) -> Result<BTreeMap<String, PathBuf>, String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--quiet",
        "--locked",
        "-p",
        "redis-client",
        "--message-format=json-render-diagnostics",
    ]);
    match only {
        Some(name) => command.args(["--example", name]),
        None => command.arg("--examples"),
    };
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    let mut binaries = BTreeMap::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading cargo's output: {e}"))?;
            if let Some((name, path)) = example_artifact(&line) {
                binaries.insert(name, path);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the examples failed ({status})"));
    }
    Ok(binaries)
}

/// The name and executable of an example from one line of cargo's JSON output.
fn example_artifact(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let target = &message["target"];
    let is_example = target["kind"]
        .as_array()?
        .iter()
        .any(|kind| kind == "example");
    if !is_example {
        return None;
    }
    let name = target["name"].as_str()?.to_owned();
    let executable = message["executable"].as_str()?;
    Some((name, PathBuf::from(executable)))
}

/// How one example run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed(ExitStatus),
    TimedOut,
    NotBuilt,
    CouldNotRun(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Passed => write!(f, "passed"),
            Outcome::Failed(status) => write!(f, "{status}"),
            Outcome::TimedOut => write!(
                f,
                "still running after {} s, stopped",
                EXAMPLE_TIMEOUT.as_secs()
            ),
            Outcome::NotBuilt => write!(f, "cargo built no binary for it"),
            Outcome::CouldNotRun(e) => write!(f, "could not start: {e}"),
        }
    }
}

/// Runs an example binary with the server URL as its argument, its output going to ours,
/// and stops it if it runs longer than [`EXAMPLE_TIMEOUT`].
fn run_example(binary: &Path, url: &str) -> Outcome {
    let mut child = match Command::new(binary).arg(url).stdin(Stdio::null()).spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::CouldNotRun(e.to_string()),
    };
    let deadline = Instant::now() + EXAMPLE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Outcome::Passed,
            Ok(Some(status)) => return Outcome::Failed(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::TimedOut;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::CouldNotRun(e.to_string());
            }
        }
    }
}
