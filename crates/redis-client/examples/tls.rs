//! redis-py 3.5.2 README, SSL connections (`redis.Redis(ssl=True, ssl_ca_certs=...)` and
//! `rediss://` URLs): TLS with the certificate and the host name always verified.
//!
//! The server of `cargo xtask demo` speaks plain TCP and has no certificates, so this example
//! connects only when the environment says where a TLS server is:
//!
//! * `REDIS_TLS_URL`: the server, for example `rediss://127.0.0.1:6380/0` (`redis://` is
//!   accepted and upgraded to TLS by the builder);
//! * `REDIS_TLS_CA` (optional): a PEM file of the CA that signed the server's certificate;
//!   without it the webpki roots (the public CAs) are trusted;
//! * `REDIS_TLS_CERT` and `REDIS_TLS_KEY` (optional, together): a client certificate and key,
//!   for servers that require mutual TLS (`tls-auth-clients yes`).
//!
//! Without `REDIS_TLS_URL` it prints what it would do and how to run it, and exits
//! successfully. For example:
//!
//! ```text
//! redis-server --port 0 --tls-port 6380 --tls-cert-file server.crt --tls-key-file server.key \
//!     --tls-ca-cert-file ca.crt --tls-auth-clients optional
//! REDIS_TLS_URL=rediss://127.0.0.1:6380/0 REDIS_TLS_CA=ca.crt \
//!     cargo run -p redis-client --example tls
//! ```
//!
//! It only touches keys that start with `tls:` and deletes them at the end.

use std::env;
use std::path::PathBuf;

use redis_client::{Client, Commands, Error, TlsConfig};

fn main() -> Result<(), Error> {
    let Some(tls_url) = env::var("REDIS_TLS_URL").ok().filter(|u| !u.is_empty()) else {
        println!(
            "REDIS_TLS_URL is not set: there is no TLS server to talk to, so this is what the example does.\n\
             \n\
             1. Client::builder().host(..).port(6380).tls(TlsConfig::new().ca_file(\"ca.crt\"))\n\
             \x20  (redis.Redis(ssl=True, ssl_ca_certs='ca.crt')), with .client_cert(cert, key) for mutual TLS;\n\
             \x20  SET and GET over it.\n\
             2. Client::open(\"rediss://host:6380/0?ssl_ca_certs=/path/to/ca.crt\")\n\
             \x20  (redis.Redis.from_url('rediss://...?ssl_ca_certs=...')): the same, from a URL.\n\
             3. Without the CA, the same server is refused: certificates and host names are always\n\
             \x20  checked (ssl_cert_reqs='none' has no URL form; TlsConfig::danger_accept_invalid_certs() in code).\n\
             \n\
             To run it, start a TLS server and point the example at it:\n\
             \x20 redis-server --port 0 --tls-port 6380 --tls-cert-file server.crt --tls-key-file server.key \\\n\
             \x20     --tls-ca-cert-file ca.crt --tls-auth-clients optional\n\
             \x20 REDIS_TLS_URL=rediss://127.0.0.1:6380/0 REDIS_TLS_CA=ca.crt cargo run -p redis-client --example tls\n\
             (REDIS_TLS_CERT and REDIS_TLS_KEY add a client certificate.)"
        );
        return Ok(());
    };
    let ca = env::var_os("REDIS_TLS_CA")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let client_cert = match (env::var_os("REDIS_TLS_CERT"), env::var_os("REDIS_TLS_KEY")) {
        (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
        (None, None) => None,
        _ => {
            return Err(Error::InvalidRequest(
                "set both REDIS_TLS_CERT and REDIS_TLS_KEY, or neither".to_owned(),
            ));
        }
    };

    // The settings redis-py takes as ssl_ca_certs, ssl_certfile and ssl_keyfile.
    let mut tls = TlsConfig::new();
    if let Some(ca) = &ca {
        tls = tls.ca_file(ca);
    }
    if let Some((cert, key)) = &client_cert {
        tls = tls.client_cert(cert, key);
    }

    // >>> r = redis.Redis(host=..., port=6380, ssl=True, ssl_ca_certs='ca.crt')
    println!(
        "1. Client::builder_from_url({tls_url:?}).tls(TlsConfig::new(){}{})",
        if ca.is_some() {
            ".ca_file(REDIS_TLS_CA)"
        } else {
            ""
        },
        if client_cert.is_some() {
            ".client_cert(REDIS_TLS_CERT, REDIS_TLS_KEY)"
        } else {
            ""
        },
    );
    let r = Client::builder_from_url(&tls_url)?.tls(tls).build();
    r.set("tls:greeting", "hello, privately")?;
    let greeting: Option<String> = r.get("tls:greeting")?;
    assert_eq!(greeting.as_deref(), Some("hello, privately"));
    println!("   SET then GET tls:greeting over TLS -> {greeting:?}");

    // >>> redis.Redis.from_url('rediss://host:6380/0?ssl_ca_certs=ca.crt')
    if let (Some(ca), None, true) = (
        &ca,
        &client_cert,
        tls_url.starts_with("rediss://") && !tls_url.contains('?'),
    ) {
        let url = format!("{tls_url}?ssl_ca_certs={}", ca.display());
        println!("2. Client::open({url:?})");
        let from_url = Client::open(&url)?;
        let greeting: Option<String> = from_url.get("tls:greeting")?;
        assert_eq!(greeting.as_deref(), Some("hello, privately"));
        println!("   GET tls:greeting -> {greeting:?}");
    } else {
        println!(
            "2. (the URL form with ?ssl_ca_certs= is shown for a rediss:// URL without query, a CA and no client certificate)"
        );
    }

    // Verification cannot be skipped by accident: without the private CA, the public roots
    // do not vouch for the server.
    if ca.is_some() {
        println!("3. The same server with only the public roots trusted (TlsConfig::new())");
        let mut unverified = TlsConfig::new();
        if let Some((cert, key)) = &client_cert {
            unverified = unverified.client_cert(cert, key);
        }
        let refused = Client::builder_from_url(&tls_url)?
            .tls(unverified)
            .connect_retries(0)
            .build();
        let err = refused.ping::<String>().unwrap_err();
        assert!(err.is_connection(), "{err:?}");
        println!("   PING -> refused: {err}");
    }

    let deleted = r.del("tls:greeting")?;
    assert_eq!(deleted, 1);
    println!("Done (deleted {deleted} key).");
    Ok(())
}
