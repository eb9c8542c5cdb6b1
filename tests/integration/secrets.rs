//! Secrets never show (RELIABILITY.md section 6, tests 48-50): not in the `Debug` of
//! configurations, clients, pools and connections, not in any error from a URL, a
//! configuration or a handshake, not in a server's echo of the handshake, and not in the
//! `Debug` of commands that carry them.

use std::error::Error as StdError;
use std::fmt::{Debug, Display};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use redis_client::conn::{Connection, ConnectionConfig};
use redis_client::{Client, Error, ServerErrorKind, Value, cmd};
use tests::RedisServer;

const SECRET: &str = "s3cr3t-XYZ";

/// Every way the secret could be spelled in a text: as is, percent-encoded, upper-cased.
fn leaks(text: &str) -> bool {
    text.contains(SECRET)
        || text.contains("s3cr3t%2DXYZ")
        || text.contains("s3cr3t%2dXYZ")
        || text
            .to_ascii_uppercase()
            .contains(&SECRET.to_ascii_uppercase())
}

fn assert_hidden(label: &str, value: &(impl Debug + ?Sized)) {
    for text in [format!("{value:?}"), format!("{value:#?}")] {
        assert!(!leaks(&text), "{label} shows the secret: {text}");
    }
}

/// Display, Debug and every source of an error.
fn assert_error_hidden(label: &str, err: &(dyn StdError + 'static)) {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        for text in [e.to_string(), format!("{e:?}"), format!("{e:#?}")] {
            assert!(!leaks(&text), "{label}: an error shows the secret: {text}");
        }
        current = e.source();
    }
}

fn assert_display_hidden(label: &str, value: &impl Display) {
    let text = value.to_string();
    assert!(!leaks(&text), "{label} shows the secret: {text}");
}

#[test]
fn configurations_clients_pools_and_connections_hide_the_password() {
    // RELIABILITY test 48.
    let server = RedisServer::builder()
        .args(["--requirepass", SECRET])
        .start();
    let port = server.port();
    let urls = [
        format!("redis://:{SECRET}@127.0.0.1:{port}/0"),
        format!("redis://default:{SECRET}@127.0.0.1:{port}/0"),
        format!("redis://127.0.0.1:{port}?password={SECRET}"),
        format!("redis://:s3cr3t%2DXYZ@127.0.0.1:{port}"),
        format!("rediss://:{SECRET}@127.0.0.1:{port}?ssl_server_name=localhost"),
        format!("unix://:{SECRET}@/tmp/redis.sock?db=1"),
    ];
    for url in &urls {
        let config = ConnectionConfig::from_url(url).unwrap();
        assert_eq!(config.password().map(|p| p.expose()), Some(SECRET));
        assert_hidden(url, &config);
        assert_hidden(url, &config.clone().into_builder());
        let client = Client::open(url).unwrap();
        assert_hidden(url, &client);
        assert_hidden(url, client.pool());
        assert_hidden(url, &Client::builder_from_url(url).unwrap());
    }

    let client = Client::builder()
        .host("127.0.0.1")
        .port(port)
        .password(SECRET)
        .client_name("secret-test")
        .max_connections(2)
        .build();
    assert_hidden("builder client", &client);
    // Live connections, whose write buffers held AUTH and the password.
    let pooled = client.pool().get().unwrap();
    assert_hidden("pooled connection", &pooled);
    assert_hidden("pool with a connection out", client.pool());
    drop(pooled);
    let mut dedicated = client.get_connection().unwrap();
    cmd("AUTH").arg(SECRET).execute(&mut dedicated).unwrap();
    assert_hidden("dedicated connection", &dedicated);
    assert_hidden("its connection", dedicated.connection());
    let mut own = Connection::open(client.pool().config()).unwrap();
    own.request(&["AUTH", SECRET]).unwrap();
    assert_hidden("a connection of its own", &own);
    assert_hidden("pool", client.pool());
    assert_hidden("stats", &client.pool().stats());

    // A sentinel password, and a cluster client's.
    let options = redis_client::SentinelOptions::new().password(SECRET);
    assert_hidden("sentinel options", &options);
    let sentinel = redis_client::Sentinel::with_options([("127.0.0.1", port)], options).unwrap();
    assert_hidden("sentinel", &sentinel);
    let cluster = redis_client::ClusterClient::builder()
        .seed("127.0.0.1", port)
        .password(SECRET);
    assert_hidden("cluster builder", &cluster);
}

#[test]
fn url_and_configuration_errors_hide_the_password() {
    // RELIABILITY test 48: malformed URLs that carry a password.
    let bad = [
        format!("redis://:{SECRET}@127.0.0.1:99999"),
        format!("redis://:{SECRET}@127.0.0.1:port"),
        format!("http://:{SECRET}@127.0.0.1:6379"),
        format!("redis://:{SECRET}@127.0.0.1:6379/not-a-db"),
        format!("redis://:{SECRET}@127.0.0.1:6379/1?db=2"),
        format!("redis://:{SECRET}@127.0.0.1:6379?password={SECRET}"),
        format!("redis://127.0.0.1:6379?password={SECRET}&password={SECRET}"),
        format!("redis://:{SECRET}@127.0.0.1:6379?no_such_option=1"),
        format!("redis://:{SECRET}@127.0.0.1:6379?socket_timeout=soon"),
        format!("redis://:{SECRET}@127.0.0.1:6379?ssl_ca_certs=/ca.pem"),
        format!("rediss://:{SECRET}@127.0.0.1:6379?ssl_cert_reqs=none"),
        format!("rediss://:{SECRET}@127.0.0.1:6379?ssl_certfile=/c.pem"),
        format!("redis://:{SECRET}%zz@127.0.0.1:6379"),
        format!("redis://:{SECRET}@[::1"),
        format!("redis://:{SECRET}@:6379"),
        format!("redis://:{SECRET}@127.0.0.1:6379?protocol=4"),
        format!("unix://:{SECRET}@/path?db=x"),
        format!("unix://:{SECRET}@"),
        format!("redis://:{SECRET}@exa mple.com:6379"),
    ];
    for url in &bad {
        let err = ConnectionConfig::from_url(url).unwrap_err();
        assert_error_hidden(url, &err);
        let err = Client::open(url).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{url}: {err:?}");
        assert_error_hidden(url, &err);
        let err = Client::builder_from_url(url).unwrap_err();
        assert_error_hidden(url, &err);
    }
}

/// Opens a client from `url` and returns the error of its first command.
fn first_error(url: &str) -> Error {
    let client = Client::open(url).unwrap();
    let err = cmd("PING").query::<String, _>(&client).unwrap_err();
    assert_hidden(url, &client);
    err
}

#[test]
fn connect_and_handshake_errors_hide_the_password() {
    // RELIABILITY test 48: every failure of connecting with a password.
    let server = RedisServer::builder()
        .args(["--requirepass", "the-real-one"])
        .start();
    let mut admin = server.raw();
    admin.request(["AUTH", "the-real-one"]);
    admin.request(["ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all"]);
    let port = server.port();
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let cases = [
        (
            format!("redis://:{SECRET}@127.0.0.1:{port}"),
            Some(ServerErrorKind::WrongPass),
        ),
        (
            format!("redis://alice:{SECRET}@127.0.0.1:{port}"),
            Some(ServerErrorKind::WrongPass),
        ),
        (
            format!("redis://nobody:{SECRET}@127.0.0.1:{port}"),
            Some(ServerErrorKind::WrongPass),
        ),
        (
            format!("redis://:{SECRET}@127.0.0.1:{port}?protocol=3"),
            Some(ServerErrorKind::WrongPass),
        ),
        (
            format!("redis://alice:{SECRET}@127.0.0.1:{port}/3?protocol=3&client_name=x"),
            Some(ServerErrorKind::WrongPass),
        ),
        (format!("redis://:{SECRET}@127.0.0.1:{refused}"), None),
        (
            format!("redis://:{SECRET}@no-such-host.invalid:{port}"),
            None,
        ),
        (
            format!("rediss://:{SECRET}@127.0.0.1:{port}?socket_connect_timeout=2"),
            None,
        ),
    ];
    for (url, kind) in &cases {
        let err = first_error(url);
        if let Some(kind) = kind {
            assert_eq!(err.server_kind(), Some(*kind), "{url}: {err:?}");
        } else {
            assert!(err.is_connection(), "{url}: {err:?}");
        }
        assert_error_hidden(url, &err);
    }

    // A handshake that times out (the server is stopped) with a password to send.
    let mut stopped = RedisServer::start();
    stopped.pause();
    let client = Client::builder()
        .host("127.0.0.1")
        .port(stopped.port())
        .password(SECRET)
        .connect_timeout(Duration::from_millis(200))
        .build();
    let err = cmd("PING").query::<String, _>(&client).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_error_hidden("handshake timeout", &err);
    stopped.resume();
}

/// A fake server that answers the first command (the handshake's AUTH) with `reply`.
fn answering(reply: &'static [u8]) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let Some(mut stream) = tests::accept_within(&listener, Duration::from_secs(5)) else {
            return;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 1024];
        if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
            let _ = stream.write_all(reply);
        }
        // Until the client closes, at most 2 s.
        let _ = stream.read(&mut buf);
    });
    (port, handle)
}

#[test]
fn servers_that_echo_the_password_are_scrubbed() {
    // RELIABILITY tests 48-49 against scripted servers that quote the password back.
    let replies: [&'static [u8]; 4] = [
        b"-WRONGPASS you said 's3cr3t-XYZ'\r\n",
        b"-ERR unknown command 'AUTH', with args beginning with: 's3cr3t-XYZ' \r\n",
        b"+s3cr3t-XYZ\r\n",
        b"$10\r\ns3cr3t-XYZ\r\n",
    ];
    for reply in replies {
        let (port, peer) = answering(reply);
        let label = String::from_utf8_lossy(reply).into_owned();
        let client = Client::builder()
            .host("127.0.0.1")
            .port(port)
            .password(SECRET)
            .socket_timeout(Duration::from_secs(2))
            .build();
        let err = cmd("PING").query::<String, _>(&client).unwrap_err();
        assert_error_hidden(&label, &err);
        drop(client);
        peer.join().unwrap();
    }
}

#[test]
fn a_server_without_hello_does_not_leak_the_password_through_its_error() {
    // RELIABILITY test 49.
    let server = RedisServer::builder()
        .args(["--rename-command", "HELLO", ""])
        .args(["--requirepass", SECRET])
        .start();
    // The server does echo the password: the test is meaningful.
    let echoed = server
        .raw()
        .request(["HELLO", "3", "AUTH", "default", SECRET]);
    let echoed = String::from_utf8_lossy(echoed.as_error().expect("an error reply")).into_owned();
    assert!(echoed.contains(SECRET), "{echoed}");

    for url in [
        format!("redis://:{SECRET}@127.0.0.1:{}?protocol=3", server.port()),
        format!(
            "redis://default:{SECRET}@127.0.0.1:{}?protocol=3&client_name=app",
            server.port()
        ),
    ] {
        let err = first_error(&url);
        assert_error_hidden(&url, &err);
        assert!(
            matches!(
                err,
                Error::Connection(redis_client::conn::Error::NoProto(_))
            ),
            "a clear 'no RESP3' failure: {err:?}"
        );
        assert!(err.to_string().contains("<redacted>"), "{err}");
    }
    // RESP2 works: AUTH exists.
    let client = Client::open(&format!("redis://:{SECRET}@127.0.0.1:{}", server.port())).unwrap();
    assert_eq!(cmd("PING").query::<String, _>(&client).unwrap(), "PONG");
}

#[test]
fn a_password_cut_short_in_the_servers_echo_is_still_hidden() {
    // RELIABILITY test 49, the variant the exact-match scrub misses: Redis quotes at most 128
    // characters of the arguments of an unknown command, so with a long user name the
    // password comes back cut short, and a cut password no longer matches the whole one.
    let user = "service-account-for-the-payments-api-in-production-eu-west";
    let password = "Zq8vX2mLr5Tn0bWc4Hy7Kd1Pf9Js3Ga6UeV2oQi5RtY8wEx1NzC4MbL7SkD0FhJ3";
    let server = RedisServer::builder()
        .args(["--rename-command", "HELLO", ""])
        .start();
    let mut raw = server.raw();
    raw.request([
        "ACL",
        "SETUSER",
        user,
        "on",
        &format!(">{password}"),
        "~*",
        "+@all",
    ]);
    let echoed = raw.request(["HELLO", "3", "AUTH", user, password]);
    let echoed = String::from_utf8_lossy(echoed.as_error().expect("an error reply")).into_owned();
    let prefix = &password[..24];
    assert!(
        echoed.contains(prefix) && !echoed.contains(password),
        "the server echoes a cut password: {echoed}"
    );

    let url = format!(
        "redis://{user}:{password}@127.0.0.1:{}?protocol=3",
        server.port()
    );
    let client = Client::open(&url).unwrap();
    let err = cmd("PING").query::<String, _>(&client).unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(
            !text.contains(prefix),
            "the error shows the first {} characters of the password: {text}",
            prefix.len()
        );
    }
}

#[test]
fn commands_that_carry_secrets_are_redacted_in_debug() {
    // RELIABILITY test 50, with one live run of each command.
    let server = RedisServer::builder()
        .args(["--requirepass", SECRET])
        .start();
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.port())
        .password(SECRET)
        .build();
    let mut conn = client.get_connection().unwrap();

    let mut auth = cmd("AUTH");
    auth.arg(SECRET);
    assert_hidden("AUTH", &auth);
    auth.execute(&mut conn).unwrap();

    let mut setuser = cmd("ACL SETUSER");
    setuser
        .arg("bob")
        .arg("on")
        .arg(format!(">{SECRET}"))
        .arg("~*")
        .arg("+@all");
    assert_hidden("ACL SETUSER", &setuser);
    setuser.execute(&mut conn).unwrap();
    let mut auth_bob = cmd("AUTH");
    auth_bob.arg("bob").arg(SECRET);
    assert_hidden("AUTH user", &auth_bob);
    // Pipelines keep commands packed; their Debug shows each command, redacted.
    let mut pipe = client.pipeline();
    pipe.add(auth_bob.clone()).add(setuser.clone());
    assert_hidden("pipeline", &pipe);
    assert!(format!("{pipe:?}").contains("SETUSER"), "{pipe:?}");
    auth_bob.execute(&mut conn).unwrap();

    let mut hello = cmd("HELLO");
    hello
        .arg(3)
        .arg("AUTH")
        .arg("bob")
        .arg(SECRET)
        .arg("SETNAME")
        .arg("x");
    assert_hidden("HELLO AUTH", &hello);
    assert!(format!("{hello:?}").contains("SETNAME"), "{hello:?}");

    let new_password = "s3cr3t-XYZ-2";
    let mut config = cmd("CONFIG SET");
    config.arg("requirepass").arg(new_password);
    assert_hidden("CONFIG SET requirepass", &config);
    config.execute(&mut conn).unwrap();
    let mut raw = server.raw();
    assert!(raw.request(["AUTH", new_password]).as_error().is_none());

    // A failed AUTH does not quote the password it was given.
    let mut wrong = cmd("AUTH");
    wrong.arg("bob").arg(format!("{SECRET}-wrong"));
    let err = wrong.execute(&mut conn).unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::WrongPass));
    assert_error_hidden("AUTH error", &err);
    assert_display_hidden("AUTH error", &err);
    assert_eq!(
        cmd("PING").query::<Value, _>(&mut conn).unwrap(),
        Value::SimpleString("PONG".into())
    );
}
