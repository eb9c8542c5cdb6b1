//! [`RedisServer`]: one `redis-server` process per test, on a free loopback port, in its own
//! temporary directory, stopped (by the PID it started, and only that one) when dropped.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use resp_proto::Value;
use tempfile::TempDir;

use crate::raw::RawConnection;

/// Environment variable that names the `redis-server` binary to use instead of the one on `PATH`.
pub const REDIS_SERVER_BIN_ENV: &str = "REDIS_SERVER_BIN";

/// How long [`RedisServerBuilder::start`] and [`RedisServer::restart`] wait for a server to
/// answer `PING`, unless [`RedisServerBuilder::ready_timeout`] says otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often readiness is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How many fresh ports a first start tries when the chosen one was taken in the meantime.
const START_ATTEMPTS: usize = 5;

/// How long a restart keeps retrying its (fixed) port while something else holds it.
const RESTART_BIND_PATIENCE: Duration = Duration::from_secs(5);

/// Timeout for connections the fixture opens on behalf of a test.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `pause`/`resume` wait for the kernel to report the new process state.
const STATE_TIMEOUT: Duration = Duration::from_secs(2);

/// Name of the server log inside the temporary directory.
const LOG_FILE: &str = "redis.log";
/// Name of the file that collects the server's stdout and stderr (config errors land there).
const OUTPUT_FILE: &str = "redis.out";
/// Name of the Unix socket inside the temporary directory.
const SOCKET_FILE: &str = "redis.sock";
/// Name of the configuration file written by [`RedisServerBuilder::config`] (and
/// [`RedisServerBuilder::sentinel`]) inside the temporary directory.
pub const CONFIG_FILE: &str = "redis.conf";

/// Which loopback address the server's TCP listener binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loopback {
    V4,
    V6,
}

impl Loopback {
    fn ip(self) -> IpAddr {
        match self {
            Loopback::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Loopback::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }

    fn host(self) -> &'static str {
        match self {
            Loopback::V4 => "127.0.0.1",
            Loopback::V6 => "::1",
        }
    }
}

/// Configures and starts a [`RedisServer`].
///
/// ```no_run
/// let server = tests::RedisServer::builder()
///     .arg("--requirepass")
///     .arg("secret")
///     .start();
/// # drop(server);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct RedisServerBuilder {
    binary: Option<PathBuf>,
    extra_args: Vec<OsString>,
    loopback: Loopback,
    tcp: bool,
    unix_socket: bool,
    ready_timeout: Duration,
    config: Option<String>,
    sentinel: bool,
}

impl RedisServerBuilder {
    fn new() -> Self {
        RedisServerBuilder {
            binary: None,
            extra_args: Vec::new(),
            loopback: Loopback::V4,
            tcp: true,
            unix_socket: false,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            config: None,
            sentinel: false,
        }
    }

    /// Writes `text` to [`CONFIG_FILE`] in the server's temporary directory and starts the
    /// server with that file as its first argument. The fixture's options and the
    /// [`arg`](Self::arg)s follow it on the command line, so they override it.
    ///
    /// The server may rewrite the file (`CONFIG REWRITE`, Sentinel's state); a
    /// [`restart`](RedisServer::restart) starts from the file as rewritten.
    pub fn config(mut self, text: impl Into<String>) -> Self {
        self.config = Some(text.into());
        self
    }

    /// Runs the process as Redis Sentinel (`--sentinel`).
    ///
    /// Sentinel needs a writable configuration file: give it one with
    /// [`config`](Self::config) (usually `sentinel monitor ...` lines); without one an empty
    /// file is used. Readiness is confirmed from Sentinel's start-up line, since Redis 7.0 in
    /// Sentinel mode never logs "Ready to accept connections".
    pub fn sentinel(mut self) -> Self {
        self.sentinel = true;
        self
    }

    /// Appends one argument to the server's command line, after the fixture's own arguments
    /// (so it can override them, e.g. `--save 60 1`).
    ///
    /// Do not lower `--loglevel` below `notice`: readiness is confirmed from the log.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.extra_args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends several arguments, as [`arg`](Self::arg) does.
    pub fn args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        self.extra_args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Binds the TCP listener to `::1` instead of `127.0.0.1`.
    pub fn ipv6(mut self) -> Self {
        self.loopback = Loopback::V6;
        self
    }

    /// Also listens on a Unix socket in the temporary directory (mode 700).
    pub fn unix_socket(mut self) -> Self {
        self.unix_socket = true;
        self
    }

    /// Listens on a Unix socket only (`--port 0`): no TCP listener at all.
    pub fn unix_socket_only(mut self) -> Self {
        self.unix_socket = true;
        self.tcp = false;
        self
    }

    /// Uses this `redis-server` binary instead of `$REDIS_SERVER_BIN` or the one on `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// How long to wait for the server to answer `PING` (default 10 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the server and waits until it answers `PING`.
    ///
    /// # Panics
    ///
    /// When `redis-server` cannot be found (the message says to run `cargo xtask test`, which
    /// installs it), when the server exits early for a reason other than a port taken in the
    /// meantime, or when it is not ready within the timeout. Panic messages include its log.
    pub fn start(self) -> RedisServer {
        let binary = locate_binary(self.binary.as_deref());
        let dir = tempfile::Builder::new()
            .prefix("redis-test-")
            .tempdir()
            .unwrap_or_else(|e| {
                panic!("cannot create a temporary directory for redis-server: {e}")
            });
        let socket = dir.path().join(SOCKET_FILE);
        if self.unix_socket {
            // sun_path holds 108 bytes including the terminating NUL.
            let len = socket.as_os_str().len();
            assert!(
                len < 100,
                "Unix socket path {} is {len} bytes, too long for sun_path; use a shorter TMPDIR",
                socket.display()
            );
        }
        let config_file = if self.config.is_some() || self.sentinel {
            let path = dir.path().join(CONFIG_FILE);
            fs::write(&path, self.config.as_deref().unwrap_or_default()).unwrap_or_else(|e| {
                panic!(
                    "cannot write the configuration file {}: {e}",
                    path.display()
                )
            });
            Some(path)
        } else {
            None
        };
        let mut server = RedisServer {
            binary,
            config_file,
            sentinel: self.sentinel,
            extra_args: self.extra_args,
            loopback: self.loopback,
            tcp: self.tcp,
            unix_socket: self.unix_socket.then_some(socket),
            ready_timeout: self.ready_timeout,
            port: 0,
            child: None,
            paused: false,
            dir,
        };
        server.first_start();
        server
    }
}

/// A `redis-server` process owned by one test.
///
/// It runs in the foreground (`--daemonize no`) as a child of the test, with its data, log and
/// optional Unix socket in a fresh temporary directory, and with
/// `--save "" --appendonly no --enable-debug-command local`. The TCP port is chosen free on
/// loopback (bind port 0, read it, release it, start; a start that loses the race for the port
/// is retried on a new one). Dropping the fixture SIGKILLs the process it started, by PID, and
/// reaps it.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    /// The configuration file, the first argument, when the builder wrote one.
    config_file: Option<PathBuf>,
    /// Whether the process runs as Sentinel (`--sentinel`).
    sentinel: bool,
    extra_args: Vec<OsString>,
    loopback: Loopback,
    tcp: bool,
    unix_socket: Option<PathBuf>,
    ready_timeout: Duration,
    /// The TCP port; 0 when TCP is off.
    port: u16,
    /// The running process; `None` after [`RedisServer::kill`].
    child: Option<Child>,
    paused: bool,
    // Last, so the directory is removed after the process is gone.
    dir: TempDir,
}

/// Why one start attempt failed.
enum StartFailure {
    /// The port was taken between our probe and the server's bind.
    AddressInUse,
    /// Anything else: the message says what, the log follows it.
    Other(String),
}

impl RedisServer {
    /// A builder with the defaults: TCP on `127.0.0.1`, no Unix socket, no extra arguments.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::new()
    }

    /// Starts a server with the defaults; see [`RedisServerBuilder::start`].
    pub fn start() -> RedisServer {
        Self::builder().start()
    }

    /// The TCP address the server listens on.
    ///
    /// # Panics
    ///
    /// When the server was built with [`RedisServerBuilder::unix_socket_only`].
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.loopback.ip(), self.port())
    }

    /// A client builder aimed at this server's TCP listener (`127.0.0.1` or `::1`), for the
    /// tests to add their own settings to.
    pub fn client_builder(&self) -> redis_client::ClientBuilder {
        redis_client::Client::builder()
            .host(self.host())
            .port(self.port())
    }

    /// The TCP port.
    ///
    /// # Panics
    ///
    /// When the server was built with [`RedisServerBuilder::unix_socket_only`].
    pub fn port(&self) -> u16 {
        assert!(
            self.tcp,
            "this RedisServer has no TCP listener (built with unix_socket_only)"
        );
        self.port
    }

    /// The loopback address the TCP listener binds: `"127.0.0.1"` or `"::1"`.
    pub fn host(&self) -> &'static str {
        self.loopback.host()
    }

    /// The Unix socket path.
    ///
    /// # Panics
    ///
    /// When the server was built without [`RedisServerBuilder::unix_socket`] or
    /// [`RedisServerBuilder::unix_socket_only`].
    pub fn unix_path(&self) -> &Path {
        self.unix_socket
            .as_deref()
            .expect("this RedisServer has no Unix socket (build it with .unix_socket())")
    }

    /// The temporary directory holding the server's data, log and socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration file the server was started with, when the builder wrote one
    /// ([`RedisServerBuilder::config`], [`RedisServerBuilder::sentinel`]).
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// The PID of the running process, `None` after [`kill`](Self::kill).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A new raw TCP connection (nodelay on, no timeouts set).
    ///
    /// # Panics
    ///
    /// When the connection cannot be made within 5 s; the message includes the server log.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr(), CONNECT_TIMEOUT)
            .unwrap_or_else(|e| self.fail(&format!("cannot connect to {}: {e}", self.addr())));
        stream
            .set_nodelay(true)
            .unwrap_or_else(|e| self.fail(&format!("cannot set TCP_NODELAY: {e}")));
        stream
    }

    /// A new raw connection to the Unix socket.
    ///
    /// # Panics
    ///
    /// When there is no Unix socket or the connection fails; the message includes the log.
    pub fn connect_unix(&self) -> UnixStream {
        let path = self.unix_path();
        UnixStream::connect(path)
            .unwrap_or_else(|e| self.fail(&format!("cannot connect to {}: {e}", path.display())))
    }

    /// Makes this server a replica of `master` (`REPLICAOF`, as Sentinel does to a demoted
    /// master): from then on it answers writes with READONLY.
    pub fn replicate_from(&self, master: &RedisServer) {
        let port = master.port().to_string();
        self.raw()
            .request(["REPLICAOF", "127.0.0.1", port.as_str()]);
    }

    /// A [`RawConnection`] over a new TCP connection, with default decoder limits.
    pub fn raw(&self) -> RawConnection {
        RawConnection::new(self.connect())
    }

    /// A [`RawConnection`] over a new Unix-socket connection, with default decoder limits.
    pub fn raw_unix(&self) -> RawConnection {
        RawConnection::unix(self.connect_unix())
    }

    /// Stops the process with SIGSTOP: connections stay open and the kernel still accepts new
    /// ones, but nothing is answered until [`resume`](Self::resume).
    ///
    /// # Panics
    ///
    /// When the server is not running or `kill -STOP` fails.
    pub fn pause(&mut self) {
        self.signal("STOP");
        self.paused = true;
        self.wait_for_state(true);
    }

    /// Continues a process stopped by [`pause`](Self::pause) (SIGCONT).
    ///
    /// # Panics
    ///
    /// When the server is not running or `kill -CONT` fails.
    pub fn resume(&mut self) {
        self.signal("CONT");
        self.paused = false;
        self.wait_for_state(false);
    }

    /// Kills the process with SIGKILL and reaps it. Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL to exactly this PID, which is still our unreaped
            // child, so it cannot have been reused by another process.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// Kills the process if it runs, then starts it again with the same arguments on the same
    /// port and socket, and waits until it answers `PING`. The data is not kept (`--save ""`).
    ///
    /// # Panics
    ///
    /// When the port stays taken by something else for 5 s, or the server does not come up.
    pub fn restart(&mut self) {
        self.kill();
        let give_up = Instant::now() + RESTART_BIND_PATIENCE;
        loop {
            match self.start_once() {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(StartFailure::AddressInUse) if Instant::now() < give_up => {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(StartFailure::AddressInUse) => self.fail(&format!(
                    "cannot restart redis-server: port {} stayed in use for {:?}",
                    self.port, RESTART_BIND_PATIENCE
                )),
                Err(StartFailure::Other(message)) => self.fail(&message),
            }
        }
    }

    /// The server's log so far (all runs), followed by anything it wrote to stdout or stderr;
    /// meant for failure messages.
    pub fn log(&self) -> String {
        let mut text = read_lossy(&self.dir.path().join(LOG_FILE));
        let output = read_lossy(&self.dir.path().join(OUTPUT_FILE));
        if !output.trim().is_empty() {
            text.push_str("\n--- stdout/stderr ---\n");
            text.push_str(&output);
        }
        text
    }

    /// Picks a port and starts, trying a new port when the chosen one was taken meanwhile.
    fn first_start(&mut self) {
        for attempt in 1..=START_ATTEMPTS {
            if self.tcp {
                self.port = free_port(self.loopback).unwrap_or_else(|e| {
                    panic!("cannot find a free port on {}: {e}", self.loopback.host())
                });
            }
            match self.start_once() {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(StartFailure::AddressInUse) if attempt < START_ATTEMPTS => {}
                Err(StartFailure::AddressInUse) => self.fail(&format!(
                    "redis-server lost the race for a free port {START_ATTEMPTS} times in a row"
                )),
                Err(StartFailure::Other(message)) => self.fail(&message),
            }
        }
    }

    /// The full command-line arguments of one run.
    fn command_args(&self) -> Vec<OsString> {
        let dir = self.dir.path();
        // A configuration file must be the first argument.
        let mut args: Vec<OsString> = self
            .config_file
            .iter()
            .map(|path| path.as_os_str().to_owned())
            .collect();
        args.extend([
            "--port".into(),
            self.port.to_string().into(),
            "--bind".into(),
            self.loopback.host().into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--enable-debug-command".into(),
            "local".into(),
            "--daemonize".into(),
            "no".into(),
            "--loglevel".into(),
            "notice".into(),
            "--dir".into(),
            dir.into(),
            "--logfile".into(),
            dir.join(LOG_FILE).into(),
        ]);
        if self.sentinel {
            args.push("--sentinel".into());
        }
        if let Some(socket) = &self.unix_socket {
            args.extend([
                "--unixsocket".into(),
                socket.into(),
                "--unixsocketperm".into(),
                "700".into(),
            ]);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Spawns the process once and waits until it is ready, has exited, or the timeout passed.
    fn start_once(&self) -> Result<Child, StartFailure> {
        let dir = self.dir.path();
        let log_path = dir.join(LOG_FILE);
        // The log is appended to across restarts: only what this run writes counts.
        let log_start = fs::metadata(&log_path).map_or(0, |m| m.len());
        let output = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(OUTPUT_FILE))
            .map_err(|e| StartFailure::Other(format!("cannot create the output file: {e}")))?;
        let output_err = output
            .try_clone()
            .map_err(|e| StartFailure::Other(format!("cannot clone the output file: {e}")))?;
        let mut child = Command::new(&self.binary)
            .args(self.command_args())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(output_err)
            .spawn()
            .map_err(|e| {
                StartFailure::Other(format!(
                    "cannot run {}: {e}; run `cargo xtask test`, which installs redis-server",
                    self.binary.display()
                ))
            })?;
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Err(early_exit(status, &log_path, log_start)),
                Ok(None) => {}
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(StartFailure::Other(format!(
                        "cannot poll redis-server: {e}"
                    )));
                }
            }
            // The log line proves that *our* process has bound its listeners (a PING alone
            // could be answered by whatever else took the port); the PING proves it serves.
            if log_says_ready(&log_path, log_start, self.sentinel) && self.ping_ok() {
                return Ok(child);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartFailure::Other(format!(
                    "redis-server (pid {}) did not answer PING within {:?}",
                    child.id(),
                    self.ready_timeout
                )));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// One readiness probe: a PING answered by anything but `-LOADING` (so a server with
    /// `--requirepass` counts as ready when it answers `-NOAUTH`).
    fn ping_ok(&self) -> bool {
        let probe_timeout = Duration::from_millis(500);
        let connection = if self.tcp {
            TcpStream::connect_timeout(&self.addr(), probe_timeout).map(RawConnection::new)
        } else {
            UnixStream::connect(self.unix_path()).map(RawConnection::unix)
        };
        let Ok(mut connection) = connection else {
            return false;
        };
        if connection.set_read_timeout(Some(probe_timeout)).is_err() {
            return false;
        }
        match connection.try_request(["PING"]) {
            Ok(Value::SimpleString(s)) => &s[..] == b"PONG",
            Ok(Value::Error(e)) => !e.starts_with(b"LOADING"),
            _ => false,
        }
    }

    /// Sends a signal to the running process with the `kill` command.
    fn signal(&self, name: &str) {
        let Some(pid) = self.pid() else {
            self.fail(&format!("cannot send SIG{name}: the server is not running"));
        };
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .unwrap_or_else(|e| self.fail(&format!("cannot run `kill -{name} {pid}`: {e}")));
        if !status.success() {
            self.fail(&format!("`kill -{name} {pid}` failed: {status}"));
        }
    }

    /// Waits until `/proc` shows the process stopped (`T`) or not, within a bounded time.
    /// Without a readable `/proc` it returns at once: the signal was sent either way.
    fn wait_for_state(&self, stopped: bool) {
        let Some(pid) = self.pid() else { return };
        let deadline = Instant::now() + STATE_TIMEOUT;
        loop {
            match process_state(pid) {
                None => return,
                Some(state) if (state == 'T') == stopped => return,
                Some(state) if Instant::now() >= deadline => self.fail(&format!(
                    "redis-server (pid {pid}) is in state {state:?} {STATE_TIMEOUT:?} after SIG{}",
                    if stopped { "STOP" } else { "CONT" }
                )),
                Some(_) => thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Panics with `message` followed by the server log.
    fn fail(&self, message: &str) -> ! {
        panic!(
            "{message}\n--- redis-server log ({}) ---\n{}",
            self.dir.path().display(),
            self.log()
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Finds the binary: the builder's choice, else `$REDIS_SERVER_BIN`, else `redis-server` on
/// `PATH`. Panics with instructions when there is none: tests never skip silently.
fn locate_binary(chosen: Option<&Path>) -> PathBuf {
    let explicit = chosen
        .map(|p| (p.to_owned(), "the builder's .binary()"))
        .or_else(|| {
            std::env::var_os(REDIS_SERVER_BIN_ENV)
                .filter(|v| !v.is_empty())
                .map(|v| (PathBuf::from(v), "$REDIS_SERVER_BIN"))
        });
    if let Some((path, source)) = explicit {
        assert!(
            path.is_file(),
            "redis-server binary {} (from {source}) does not exist; run `cargo xtask test`, \
             which installs redis-server, or fix the path",
            path.display()
        );
        return path;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "redis-server is not on PATH: the integration tests need a real server. Run \
             `cargo xtask test`, which installs it (apt-get on Debian/Ubuntu), or set \
             ${REDIS_SERVER_BIN_ENV} to its path"
        )
    })
}

/// A port that was free on the loopback address a moment ago.
fn free_port(loopback: Loopback) -> io::Result<u16> {
    let listener = TcpListener::bind(SocketAddr::new(loopback.ip(), 0))?;
    Ok(listener.local_addr()?.port())
}

/// Classifies an early exit from what this run wrote to the log.
fn early_exit(status: ExitStatus, log_path: &Path, log_start: u64) -> StartFailure {
    let log = read_from(log_path, log_start);
    if log.contains("Address already in use") {
        StartFailure::AddressInUse
    } else {
        StartFailure::Other(format!("redis-server exited during startup ({status})"))
    }
}

/// Whether this run's log says the listeners are up. Redis 7.0 writes "Ready to accept
/// connections" for TCP and "The server is now ready to accept connections at <path>" for a
/// Unix socket; later versions append the listener type. Sentinel 7.0 writes none of these:
/// its "Sentinel ID is <id>" line comes once its listeners are bound.
fn log_says_ready(log_path: &Path, log_start: u64, sentinel: bool) -> bool {
    let log = read_from(log_path, log_start).to_ascii_lowercase();
    log.contains("ready to accept connections") || (sentinel && log.contains("sentinel id is"))
}

/// The file's content from byte `start` on, lossily decoded; empty when it cannot be read.
fn read_from(path: &Path, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn read_lossy(path: &Path) -> String {
    read_from(path, 0)
}

/// The state letter of a process from `/proc/<pid>/stat` (`R`, `S`, `T`, ...).
fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": comm may contain spaces and parentheses, so split at the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

#[cfg(test)]
mod unit {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn a_lost_port_race_is_told_apart_from_other_exits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join(LOG_FILE);
        fs::write(&log, "old run: Address already in use\n").expect("write");
        let start = fs::metadata(&log).expect("metadata").len();
        let status = ExitStatus::from_raw(1 << 8);
        // Only what the current run wrote counts.
        assert!(matches!(
            early_exit(status, &log, start),
            StartFailure::Other(_)
        ));
        let mut text = fs::read_to_string(&log).expect("read");
        text.push_str(
            "# Warning: Could not create server TCP listening socket 127.0.0.1:45055: \
             bind: Address already in use\n",
        );
        fs::write(&log, text).expect("write");
        assert!(matches!(
            early_exit(status, &log, start),
            StartFailure::AddressInUse
        ));
        assert!(matches!(
            early_exit(status, &log, 0),
            StartFailure::AddressInUse
        ));
    }

    #[test]
    fn readiness_lines_of_7_0_and_later() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join(LOG_FILE);
        for line in [
            "* Ready to accept connections",
            "* The server is now ready to accept connections at /tmp/x/redis.sock",
            "* Ready to accept connections tcp",
        ] {
            fs::write(&log, format!("* Server initialized\n{line}\n")).expect("write");
            assert!(log_says_ready(&log, 0, false), "{line}");
            let len = fs::metadata(&log).expect("metadata").len();
            assert!(
                !log_says_ready(&log, len, false),
                "{line} belongs to an earlier run"
            );
        }
        fs::write(&log, "* Running mode=sentinel, port=26379.\n").expect("write");
        assert!(!log_says_ready(&log, 0, true));
        fs::write(
            &log,
            "* Running mode=sentinel, port=26379.\n# Sentinel ID is 0ecb3f84\n",
        )
        .expect("write");
        assert!(log_says_ready(&log, 0, true));
        assert!(
            !log_says_ready(&log, 0, false),
            "only a Sentinel is ready so"
        );
    }

    #[test]
    fn process_state_of_this_process() {
        let state = process_state(std::process::id());
        assert!(matches!(state, Some('R' | 'S')), "{state:?}");
        assert_eq!(process_state(u32::MAX), None);
    }
}
