//! The URL matrix: every scheme, every parameter, and every way to get one wrong.

use std::path::PathBuf;
use std::time::Duration;

use redis_conn::{Address, ConnectionConfig};
use resp_proto::Protocol;

fn parse(url: &str) -> ConnectionConfig {
    ConnectionConfig::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn fails(url: &str, parameter: &str) -> String {
    match ConnectionConfig::from_url(url) {
        Ok(config) => panic!("{url} parsed: {config:?}"),
        Err(e) => {
            assert_eq!(e.parameter(), parameter, "{url}: {e}");
            e.to_string()
        }
    }
}

fn tcp(host: &str, port: u16) -> Address {
    Address::Tcp {
        host: host.to_owned(),
        port,
    }
}

#[test]
fn plain_tcp_defaults() {
    let c = parse("redis://localhost");
    assert_eq!(c.address(), &tcp("localhost", 6379));
    assert_eq!(c.db(), 0);
    assert!(c.tls().is_none());
    assert_eq!(c.username(), None);
    assert!(c.password().is_none());
    assert_eq!(c.protocol(), Protocol::Resp2);
    assert_eq!(c.socket_timeout(), None);
    assert_eq!(c.connect_timeout(), None);
    assert!(!c.retry_on_timeout());
    assert_eq!(c.health_check_interval(), None);
}

#[test]
fn host_port_db_and_credentials() {
    let c = parse("redis://alice:p%40ss@Example.COM:6380/3");
    assert_eq!(c.address(), &tcp("example.com", 6380));
    assert_eq!(c.db(), 3);
    assert_eq!(c.username(), Some("alice"));
    assert_eq!(c.password().map(|p| p.expose()), Some("p@ss"));
    let c = parse("redis://:only-password@127.0.0.1");
    assert_eq!(c.username(), None);
    assert_eq!(c.password().map(|p| p.expose()), Some("only-password"));
    let c = parse("redis://user@127.0.0.1");
    assert_eq!(c.username(), Some("user"));
    assert!(c.password().is_none());
}

#[test]
fn ipv6_hosts_lose_their_brackets() {
    assert_eq!(parse("redis://[::1]:7000").address(), &tcp("::1", 7000));
}

#[test]
fn rediss_turns_tls_on_with_verification() {
    let c = parse("rediss://cache:6380");
    let tls = c.tls().expect("tls");
    assert!(!tls.accepts_invalid_certs());
    let c = parse(
        "rediss://cache?ssl_ca_certs=/etc/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem\
         &ssl_cert_reqs=required&ssl_check_hostname=true&ssl_server_name=redis.internal",
    );
    let tls = c.tls().expect("tls");
    assert_eq!(tls.ca_file, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(
        tls.client_cert,
        Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem")))
    );
    assert_eq!(tls.server_name.as_deref(), Some("redis.internal"));
}

#[test]
fn tls_verification_cannot_be_turned_off_from_a_url() {
    let text = fails("rediss://cache?ssl_cert_reqs=none", "ssl_cert_reqs");
    assert!(text.contains("danger_accept_invalid_certs"), "{text}");
    fails("rediss://cache?ssl_cert_reqs=optional", "ssl_cert_reqs");
    fails(
        "rediss://cache?ssl_check_hostname=false",
        "ssl_check_hostname",
    );
}

#[test]
fn tls_parameters_need_rediss() {
    fails("redis://cache?ssl_ca_certs=/ca.pem", "ssl_ca_certs");
    fails("redis://cache?ssl_cert_reqs=required", "ssl_cert_reqs");
    fails("rediss://cache?ssl_certfile=/c.pem", "ssl_keyfile");
    fails("rediss://cache?ssl_keyfile=/k.pem", "ssl_certfile");
}

#[test]
fn unix_sockets() {
    let c = parse("unix:///run/redis/redis.sock?db=4");
    assert_eq!(
        c.address(),
        &Address::Unix(PathBuf::from("/run/redis/redis.sock"))
    );
    assert_eq!(c.db(), 4);
    let c = parse("unix://bob:pw@/tmp/r%20s.sock");
    assert_eq!(c.address(), &Address::Unix(PathBuf::from("/tmp/r s.sock")));
    assert_eq!(c.username(), Some("bob"));
    assert_eq!(c.password().map(|p| p.expose()), Some("pw"));
    fails("unix:///", "path");
}

#[test]
fn every_typed_query_parameter() {
    let c = parse(
        "redis://h/1?socket_timeout=0.25&socket_connect_timeout=2&socket_keepalive=true\
         &retry_on_timeout=yes&max_connections=16&health_check_interval=30\
         &client_name=worker-1&protocol=3&decode_responses=false&encoding=utf-8\
         &encoding_errors=strict",
    );
    assert_eq!(c.db(), 1);
    assert_eq!(c.socket_timeout(), Some(Duration::from_millis(250)));
    assert_eq!(c.connect_timeout(), Some(Duration::from_secs(2)));
    assert!(c.keepalive().is_some());
    assert!(c.retry_on_timeout());
    assert_eq!(c.max_connections(), Some(16));
    assert_eq!(c.health_check_interval(), Some(Duration::from_secs(30)));
    assert_eq!(c.client_name(), Some("worker-1"));
    assert_eq!(c.protocol(), Protocol::Resp3);
}

#[test]
fn connect_timeout_falls_back_to_socket_timeout() {
    assert_eq!(
        parse("redis://h?socket_timeout=3").connect_timeout(),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn health_check_zero_means_off() {
    assert_eq!(
        parse("redis://h?health_check_interval=0").health_check_interval(),
        None
    );
}

#[test]
fn db_precedence_and_conflicts() {
    assert_eq!(parse("redis://h/2?db=2").db(), 2);
    assert_eq!(parse("redis://h?db=7").db(), 7);
    fails("redis://h/2?db=3", "db");
    fails("redis://h/abc", "db");
    fails("redis://h?db=-1", "db");
}

#[test]
fn booleans_are_strict() {
    // redis-py reads the string "False" as true; here it is false, and junk is an error.
    assert!(
        parse("redis://h?socket_keepalive=False")
            .keepalive()
            .is_none()
    );
    assert!(!parse("redis://h?retry_on_timeout=0").retry_on_timeout());
    fails("redis://h?retry_on_timeout=maybe", "retry_on_timeout");
    fails("redis://h?decode_responses=Flase", "decode_responses");
}

#[test]
fn bad_values_name_their_parameter() {
    fails("redis://h?socket_timeout=abc", "socket_timeout");
    fails("redis://h?socket_timeout=-1", "socket_timeout");
    fails("redis://h?socket_timeout=0", "socket_timeout");
    fails(
        "redis://h?socket_connect_timeout=inf",
        "socket_connect_timeout",
    );
    fails("redis://h?max_connections=0", "max_connections");
    fails("redis://h?max_connections=ten", "max_connections");
    fails("redis://h?health_check_interval=x", "health_check_interval");
    fails("redis://h?protocol=4", "protocol");
    fails("redis://h?client_name=a%20b", "client_name");
    fails("redis://h?encoding=latin-1", "encoding");
    fails("redis://h?encoding_errors=ignore", "encoding_errors");
    fails("redis://h?socket_keepalive=", "socket_keepalive");
    fails("redis://h?db=1&db=2", "db");
    fails("redis://h?no_such_thing=1", "no_such_thing");
}

#[test]
fn bad_urls() {
    fails("http://h", "scheme");
    fails("localhost:6379", "scheme");
    fails("not a url", "url");
    fails("redis://", "host");
    fails("redis://h:99999", "url");
    fails("redis://h%zz", "host");
}

#[test]
fn credentials_in_the_query() {
    let c = parse("redis://h?username=u&password=p");
    assert_eq!(c.username(), Some("u"));
    assert_eq!(c.password().map(|p| p.expose()), Some("p"));
    fails("redis://:a@h?password=b", "password");
}

#[test]
fn the_password_never_shows() {
    let secret = "Sup3r-S3cret";
    let urls = [
        format!("redis://user:{secret}@h:1/0"),
        format!("redis://user:{secret}@h?socket_timeout=nope"),
        format!("redis://user:{secret}@h?unknown=1"),
        format!("redis://user:{secret}@h/not-a-db"),
        format!("rediss://user:{secret}@h?ssl_cert_reqs=none"),
        format!("redis://h?password={secret}&db=x"),
        format!("redis://user:{secret}%zz@h"),
        format!("redis://user:{secret}@h:port"),
    ];
    for url in &urls {
        match ConnectionConfig::from_url(url) {
            Ok(config) => {
                let debug = format!("{config:?}");
                assert!(!debug.contains(secret), "{debug}");
                assert!(debug.contains("<redacted>"), "{debug}");
            }
            Err(e) => {
                assert!(!e.to_string().contains(secret), "{e}");
                assert!(!format!("{e:?}").contains(secret), "{e:?}");
            }
        }
    }
}
