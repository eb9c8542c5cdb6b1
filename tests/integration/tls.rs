//! TLS against real `redis-server` TLS listeners with certificates made at test time
//! (RELIABILITY.md section 6, tests 43-47): verification on by default, no way to turn it off
//! from a URL, mutual TLS, protocol mismatches, and abrupt closes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use redis_client::conn::{self, Phase};
use redis_client::{Client, Error, TlsConfig, Value, cmd};
use tests::eventually;
use tests::{
    ClientAuth, Direction, FaultProxy, RawConnection, RedisServer, TlsCerts, TlsRedisServer,
    TlsServerExt,
};

const PASSWORD: &str = "tls-pw-Q7";

/// A TLS server presenting `cert`, requiring [`PASSWORD`].
fn server_with(certs: &TlsCerts, cert: &tests::CertFiles) -> TlsRedisServer {
    RedisServer::builder()
        .args(["--requirepass", PASSWORD])
        .tls(cert, certs.ca_cert())
        .start()
}

/// An authenticated admin connection over the plaintext port.
fn admin(server: &RedisServer) -> RawConnection {
    let mut raw = server.raw();
    assert_eq!(
        raw.request(["AUTH", PASSWORD]),
        Value::SimpleString("OK".into())
    );
    raw
}

fn info(raw: &mut RawConnection, section: &str) -> String {
    match raw.request(["INFO", section]) {
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO {section}: {other:?}"),
    }
}

/// Calls of `command` the server counted so far: (calls, rejected, failed).
fn calls(raw: &mut RawConnection, command: &str) -> (u64, u64, u64) {
    let stats = info(raw, "commandstats");
    let Some(line) = stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:")))
    else {
        return (0, 0, 0);
    };
    let field = |name: &str| -> u64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(0)
    };
    (
        field("calls"),
        field("rejected_calls"),
        field("failed_calls"),
    )
}

/// What the server counted of the commands a client could have sent over TLS.
fn client_commands(raw: &mut RawConnection) -> Vec<(u64, u64, u64)> {
    ["auth", "ping", "hello", "get", "set"]
        .iter()
        .map(|c| calls(raw, c))
        .collect()
}

/// `rediss://:PASSWORD@<host>:<tls port>?ssl_ca_certs=<ca>&socket_connect_timeout=5`.
fn url(server: &TlsRedisServer, host: &str, certs: &TlsCerts) -> String {
    format!(
        "rediss://:{PASSWORD}@{host}:{}?ssl_ca_certs={}&socket_connect_timeout=5",
        server.tls_port(),
        certs.ca_cert().display()
    )
}

fn ping(client: &Client) -> Result<String, Error> {
    cmd("PING").query::<String, _>(client)
}

/// Connecting through a verified URL fails with a TLS error; returns its message.
fn rejected(server: &TlsRedisServer, certs: &TlsCerts) -> String {
    let mut raw = admin(server);
    let before = client_commands(&mut raw);
    let client = Client::open(&url(server, "127.0.0.1", certs)).unwrap();
    let started = Instant::now();
    let err = ping(&client).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let Error::Connection(conn::Error::Tls(message)) = &err else {
        panic!("expected a TLS error, got {err:?}");
    };
    let text = format!("{err} {err:?}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(err.is_connection() && !err.is_retryable() && !err.is_timeout());
    let stats = client.pool().stats();
    assert_eq!((stats.created, stats.in_use, stats.idle), (0, 0, 0));
    // Nothing reached Redis: no AUTH was run, or even rejected.
    assert_eq!(client_commands(&mut raw), before);
    message.to_ascii_lowercase()
}

#[test]
fn a_certificate_for_another_name_is_rejected() {
    // RELIABILITY test 43 (a). Debian's redis-cli 7.0 accepts this one.
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.wrong_name_server());
    let message = rejected(&server, &certs);
    assert!(message.contains("not valid for name"), "{message}");
}

#[test]
fn a_self_signed_certificate_is_rejected() {
    // RELIABILITY test 43 (b).
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.self_signed_server());
    let message = rejected(&server, &certs);
    assert!(
        message.contains("unknownissuer") || message.contains("unknown issuer"),
        "{message}"
    );
}

#[test]
fn an_expired_certificate_is_rejected() {
    // RELIABILITY test 43 (c).
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.expired_server());
    let message = rejected(&server, &certs);
    assert!(message.contains("expired"), "{message}");
}

#[test]
fn the_webpki_roots_do_not_trust_a_private_ca() {
    // Without ssl_ca_certs the client trusts the public roots only.
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.server());
    let client = Client::open(&format!(
        "rediss://:{PASSWORD}@127.0.0.1:{}",
        server.tls_port()
    ))
    .unwrap();
    let err = ping(&client).unwrap_err();
    assert!(
        matches!(&err, Error::Connection(conn::Error::Tls(m)) if m.to_ascii_lowercase().contains("unknownissuer")),
        "{err:?}"
    );
}

#[test]
fn a_good_certificate_is_accepted_by_ip_and_by_name() {
    // RELIABILITY test 43 (d) and (e).
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.server());
    let mut clients = Vec::new();
    for host in ["127.0.0.1", "localhost"] {
        let client = Client::open(&url(&server, host, &certs)).unwrap();
        assert_eq!(ping(&client).unwrap(), "PONG", "via {host}");
        cmd("SET").arg("k").arg(host).execute(&client).unwrap();
        let v: String = cmd("GET").arg("k").query(&client).unwrap();
        assert_eq!(v, host);
        assert_eq!(client.pool().stats().created, 1);
        clients.push(client);
    }
    // The connections really are TLS: the server counts them on its TLS listener only.
    let mut raw = admin(&server);
    let list = match raw.request(["CLIENT", "LIST"]) {
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(
        list.lines()
            .filter(|l| l.contains(&format!("laddr=127.0.0.1:{}", server.tls_port())))
            .count()
            == 2,
        "{list}"
    );
}

#[test]
fn the_verified_name_can_be_set_apart_from_the_host() {
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.wrong_name_server());
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.tls_port())
        .password(PASSWORD)
        .tls(
            TlsConfig::new()
                .ca_file(certs.ca_cert())
                .server_name("wrong.example"),
        )
        .build();
    assert_eq!(ping(&client).unwrap(), "PONG");
    let url = format!(
        "{}&ssl_server_name=wrong.example",
        url(&server, "127.0.0.1", &certs)
    );
    assert_eq!(ping(&Client::open(&url).unwrap()).unwrap(), "PONG");
}

#[test]
fn verification_cannot_be_turned_off_from_a_url() {
    // RELIABILITY test 44.
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.self_signed_server());
    let base = format!("rediss://:{PASSWORD}@127.0.0.1:{}", server.tls_port());
    for (query, parameter) in [
        ("ssl_cert_reqs=none", "ssl_cert_reqs"),
        ("ssl_cert_reqs=optional", "ssl_cert_reqs"),
        ("ssl_check_hostname=false", "ssl_check_hostname"),
    ] {
        let err = Client::open(&format!("{base}?{query}")).unwrap_err();
        let Error::Config(config) = &err else {
            panic!("{query}: expected a config error, got {err:?}");
        };
        assert_eq!(config.parameter(), parameter, "{err}");
        assert!(err.to_string().contains("danger_") || parameter == "ssl_check_hostname");
        assert!(!format!("{err} {err:?}").contains(PASSWORD));
    }
    // Only the loudly named builder call does it.
    let client = Client::builder_from_url(&base)
        .unwrap()
        .tls(TlsConfig::new().danger_accept_invalid_certs())
        .build();
    assert_eq!(ping(&client).unwrap(), "PONG");
    let v: Option<String> = cmd("GET").arg("nothing").query(&client).unwrap();
    assert_eq!(v, None);
}

#[test]
fn a_url_fragment_cannot_ask_for_insecure_tls() {
    // RELIABILITY test 44: `rediss://...#insecure` must be a configuration error rather than
    // be ignored in silence.
    let err = Client::open("rediss://127.0.0.1:6380#insecure").map(|_| ());
    assert!(
        matches!(err, Err(Error::Config(_))),
        "a URL fragment was accepted: {err:?}"
    );
}

#[test]
fn danger_accept_invalid_certs_accepts_any_name_and_issuer() {
    let certs = TlsCerts::generate();
    for cert in [
        certs.wrong_name_server(),
        certs.expired_server(),
        certs.self_signed_server(),
    ] {
        let server = server_with(&certs, cert);
        let client = Client::builder()
            .host("127.0.0.1")
            .port(server.tls_port())
            .password(PASSWORD)
            .tls(TlsConfig::new().danger_accept_invalid_certs())
            .build();
        assert_eq!(ping(&client).unwrap(), "PONG", "{}", cert.cert().display());
    }
    // The process was told, once, on standard error (RELIABILITY test 44).
    assert!(redis_client::insecure_tls_warned());
}

/// A client of a mutual-TLS server; bounded by 2 s timeouts so a failure cannot hang.
fn mtls_client(
    server: &TlsRedisServer,
    certs: &TlsCerts,
    client_cert: Option<&tests::CertFiles>,
) -> Client {
    let mut tls = TlsConfig::new().ca_file(certs.ca_cert());
    if let Some(c) = client_cert {
        tls = tls.client_cert(c.cert(), c.key());
    }
    Client::builder()
        .host("127.0.0.1")
        .port(server.tls_port())
        .password(PASSWORD)
        .tls(tls)
        .connect_timeout(Duration::from_secs(2))
        .socket_timeout(Duration::from_secs(2))
        .build()
}

fn mtls_server(certs: &TlsCerts) -> TlsRedisServer {
    RedisServer::builder()
        .args(["--requirepass", PASSWORD])
        .tls(certs.server(), certs.ca_cert())
        .client_auth(ClientAuth::Required)
        .start()
}

/// A refused client certificate: a connection error naming the certificate problem, within
/// the timeouts, and no command ran.
fn refused_client(server: &TlsRedisServer, client: &Client, words: &[&str]) {
    let mut raw = admin(server);
    let before = client_commands(&mut raw);
    let started = Instant::now();
    let err = ping(client).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1500),
        "took {elapsed:?}: {err}"
    );
    assert!(err.is_connection(), "{err:?}");
    assert!(
        !err.is_timeout(),
        "the server's refusal is not a timeout: {err:?}"
    );
    let text = format!("{err}")
        .to_ascii_lowercase()
        .replace(['_', ' '], "");
    assert!(
        words.iter().any(|w| text.contains(w)),
        "the error should name the certificate problem ({words:?}): {err} / {err:?}"
    );
    let stats = client.pool().stats();
    assert_eq!((stats.in_use, stats.idle), (0, 0), "{stats:?}");
    assert_eq!(client_commands(&mut raw), before, "no command ran");
}

#[test]
fn mutual_tls_without_a_client_certificate_is_refused_clearly() {
    // RELIABILITY test 45: Redis's default `tls-auth-clients yes`.
    let certs = TlsCerts::generate();
    let server = mtls_server(&certs);
    let client = mtls_client(&server, &certs, None);
    refused_client(&server, &client, &["certificaterequired", "certificate"]);
}

#[test]
fn mutual_tls_with_a_certificate_from_another_ca_is_refused() {
    // RELIABILITY test 45.
    let certs = TlsCerts::generate();
    let server = mtls_server(&certs);
    let client = mtls_client(&server, &certs, Some(certs.foreign_client()));
    refused_client(&server, &client, &["unknownca", "certificate"]);
}

#[test]
fn mutual_tls_with_the_right_client_certificate_works() {
    // RELIABILITY test 45.
    let certs = TlsCerts::generate();
    let server = mtls_server(&certs);
    let client = mtls_client(&server, &certs, Some(certs.client()));
    assert_eq!(ping(&client).unwrap(), "PONG");
    let url = format!(
        "{}&ssl_certfile={}&ssl_keyfile={}",
        url(&server, "127.0.0.1", &certs),
        certs.client().cert().display(),
        certs.client().key().display()
    );
    let client = Client::open(&url).unwrap();
    cmd("SET").arg("m").arg("tls").execute(&client).unwrap();
    let v: String = cmd("GET").arg("m").query(&client).unwrap();
    assert_eq!(v, "tls");
}

#[test]
fn a_missing_client_certificate_file_is_reported_before_connecting() {
    let certs = TlsCerts::generate();
    let server = mtls_server(&certs);
    let missing = certs.dir().join("no-such.crt");
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.tls_port())
        .tls(
            TlsConfig::new()
                .ca_file(certs.ca_cert())
                .client_cert(&missing, certs.client().key()),
        )
        .build();
    let err = ping(&client).unwrap_err();
    assert!(
        matches!(&err, Error::Connection(conn::Error::Tls(m)) if m.contains("no-such.crt")),
        "{err:?}"
    );
}

/// A TLS client of `port` with a 1 s connect timeout.
fn tls_client_of(port: u16, certs: &TlsCerts) -> Client {
    Client::builder()
        .host("127.0.0.1")
        .port(port)
        .tls(TlsConfig::new().ca_file(certs.ca_cert()))
        .connect_timeout(Duration::from_secs(1))
        .socket_timeout(Duration::from_secs(1))
        .build()
}

fn assert_tls_hint(err: &Error) {
    let text = err.to_string();
    assert!(
        text.contains("speaking TLS"),
        "the error should suggest that the server may not speak TLS: {text} / {err:?}"
    );
}

#[test]
fn tls_to_a_plaintext_redis_port_fails_within_the_connect_timeout() {
    // RELIABILITY test 46, against a real server. What Redis does with a ClientHello depends
    // on its random bytes (it waits for a newline, or answers an inline-protocol error), so
    // only the bound and the kind are checked here; the fake servers below pin both cases.
    let certs = TlsCerts::generate();
    let server = RedisServer::start();
    let client = tls_client_of(server.port(), &certs);
    let started = Instant::now();
    let err = ping(&client).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_connection(), "{err:?}");
}

/// A plaintext peer on loopback that reads what comes, then answers `reply` (if any) and keeps
/// the socket open for `hold`. Serves one connection; the thread ends within `hold` + 5 s.
fn plaintext_peer(reply: Option<&'static [u8]>, hold: Duration) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let Some(mut stream) = tests::accept_within(&listener, Duration::from_secs(5)) else {
            return;
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let until = Instant::now() + hold;
        let mut answered = false;
        while Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {
                    if let (Some(reply), false) = (reply, answered) {
                        let _ = stream.write_all(reply);
                        answered = true;
                    }
                }
                Err(_) => {}
            }
        }
    });
    (port, handle)
}

#[test]
fn tls_to_a_silent_plaintext_server_times_out_with_a_hint() {
    // RELIABILITY test 46: the server waits for a newline that never comes.
    let certs = TlsCerts::generate();
    let (port, peer) = plaintext_peer(None, Duration::from_secs(3));
    let client = tls_client_of(port, &certs);
    let started = Instant::now();
    let err = ping(&client).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2500),
        "{elapsed:?}"
    );
    assert!(
        matches!(
            err,
            Error::Connection(conn::Error::Timeout(Phase::TlsHandshake))
        ),
        "{err:?}"
    );
    assert_tls_hint(&err);
    drop(client);
    peer.join().unwrap();
}

#[test]
fn tls_to_a_plaintext_server_that_answers_fails_with_a_hint() {
    // RELIABILITY test 46: Redis answers a ClientHello that contains a newline with an
    // inline-protocol error in plain text.
    let certs = TlsCerts::generate();
    let (port, peer) = plaintext_peer(
        Some(b"-ERR unknown command '\x16\x03\x01', with args beginning with: \r\n"),
        Duration::from_secs(2),
    );
    let client = tls_client_of(port, &certs);
    let started = Instant::now();
    let err = ping(&client).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(err.is_connection(), "{err:?}");
    assert_tls_hint(&err);
    drop(client);
    peer.join().unwrap();
}

#[test]
fn plaintext_to_a_tls_port_fails_fast() {
    // RELIABILITY test 46, the other way round.
    let certs = TlsCerts::generate();
    let server = RedisServer::builder()
        .tls(certs.server(), certs.ca_cert())
        .start();
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.tls_port())
        .connect_timeout(Duration::from_secs(1))
        .socket_timeout(Duration::from_secs(1))
        .build();
    let started = Instant::now();
    let err = ping(&client).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the server's refusal must not wait for the timeout: {:?} {err}",
        started.elapsed()
    );
    assert!(err.is_connection() && !err.is_timeout(), "{err:?}");
    assert_eq!(client.pool().stats().in_use, 0);
    // With a password the failure comes in the handshake, just as fast.
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.tls_port())
        .password("pw")
        .connect_timeout(Duration::from_secs(1))
        .build();
    let started = Instant::now();
    let err = ping(&client).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(900), "{err}");
    assert!(err.is_connection(), "{err:?}");
}

/// A pool of one TLS connection to `port` (the server's, or a proxy's), checked with a PING.
fn pooled_tls(certs: &TlsCerts, port: u16) -> Client {
    let client = Client::builder()
        .host("127.0.0.1")
        .port(port)
        .password(PASSWORD)
        .tls(TlsConfig::new().ca_file(certs.ca_cert()))
        .connect_timeout(Duration::from_secs(5))
        .socket_timeout(Duration::from_secs(10))
        .max_connections(1)
        .build();
    assert_eq!(ping(&client).unwrap(), "PONG", "TLS via port {port}");
    client
}

/// Runs `BLPOP q 30` on the client in a thread and waits until the server shows it blocked.
fn blocked_pop(
    client: &Client,
    raw: &mut RawConnection,
) -> thread::JoinHandle<Result<Value, Error>> {
    let c = client.clone();
    let handle = thread::spawn(move || cmd("BLPOP").arg("q").arg(30).query::<Value, _>(&c));
    assert!(
        eventually(Duration::from_secs(5), || info(raw, "clients")
            .contains("blocked_clients:1")),
        "BLPOP never blocked"
    );
    handle
}

#[test]
fn client_kill_during_a_tls_request_is_a_clean_connection_error() {
    // RELIABILITY test 47: CLIENT KILL while a request waits for its reply, and between
    // replies.
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.server());
    let client = pooled_tls(&certs, server.tls_port());
    let mut raw = admin(&server);

    let pending = blocked_pop(&client, &mut raw);
    raw.request(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    let result = pending.join().unwrap();
    let err = result.expect_err("a killed connection cannot give a reply");
    assert!(err.is_connection() && !err.is_timeout(), "{err:?}");
    assert!(
        matches!(
            err,
            Error::Connection(conn::Error::Closed(Phase::Reading) | conn::Error::Io { .. })
        ),
        "{err:?}"
    );
    assert_eq!(client.pool().stats().closed_broken, 1);
    assert_eq!(ping(&client).unwrap(), "PONG");

    // Between replies: the idle pooled connection is found dead and replaced.
    raw.request(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    let n: i64 = cmd("INCR").arg("n").query(&client).unwrap();
    assert_eq!(n, 1, "the command ran once");
    let stats = client.pool().stats();
    assert_eq!(stats.closed_stale, 1, "{stats:?}");
    assert_eq!(stats.created, 3, "{stats:?}");
}

#[test]
fn sigkill_of_a_tls_server_then_restart() {
    // RELIABILITY test 47: the server dies in the middle of a request.
    let certs = TlsCerts::generate();
    let mut server = server_with(&certs, certs.server());
    let client = pooled_tls(&certs, server.tls_port());
    let mut raw = admin(&server);
    let pending = blocked_pop(&client, &mut raw);
    drop(raw);
    server.kill();
    let err = pending.join().unwrap().expect_err("the server died");
    assert!(err.is_connection() && !err.is_timeout(), "{err:?}");
    assert_eq!(client.pool().stats().closed_broken, 1);
    let err = ping(&client).unwrap_err();
    assert!(err.is_connection() && err.is_retryable(), "{err:?}");
    server.restart();
    assert_eq!(ping(&client).unwrap(), "PONG");
    let stats = client.pool().stats();
    assert_eq!((stats.in_use, stats.idle), (0, 1), "{stats:?}");
}

#[test]
fn a_reset_or_cut_in_the_middle_of_a_tls_reply() {
    // RELIABILITY test 47 through the fault proxy: an RST, and a FIN without close_notify,
    // halfway through a 200 kB reply.
    let certs = TlsCerts::generate();
    let server = server_with(&certs, certs.server());
    let proxy = FaultProxy::start(server.tls_addr());
    let client = pooled_tls(&certs, proxy.port());
    let big = "x".repeat(200_000);
    cmd("SET").arg("big").arg(&big).execute(&client).unwrap();
    for (round, reset) in [(1, true), (2, false)] {
        if reset {
            proxy.reset_after(Direction::ServerToClient, 50_000);
        } else {
            proxy.cut_after(Direction::ServerToClient, 50_000);
        }
        let err = cmd("GET")
            .arg("big")
            .query::<String, _>(&client)
            .unwrap_err();
        assert!(
            err.is_connection() && !err.is_timeout(),
            "reset={reset}: {err:?}"
        );
        assert_eq!(client.pool().stats().closed_broken, round, "reset={reset}");
        let v: String = cmd("GET").arg("big").query(&client).unwrap();
        assert!(v == big, "the next reply is whole and correct");
    }
    // Between replies: the proxy resets the idle connection.
    proxy.reset_all();
    assert!(proxy.wait_for_open_connections(0, Duration::from_secs(5)));
    let v: String = cmd("GET").arg("big").query(&client).unwrap();
    assert!(v == big);
    let stats = client.pool().stats();
    assert_eq!(stats.closed_stale, 1, "{stats:?}");
}
