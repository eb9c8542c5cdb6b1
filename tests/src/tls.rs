//! TLS fixtures: certificates generated at test time with `rcgen` ([`TlsCerts`]), and a
//! `redis-server` that listens for TLS ([`TlsServerBuilder`], [`TlsRedisServer`]).
//!
//! The TLS server also keeps a plaintext listener on another loopback port: the fixture's
//! readiness probe PINGs there, and tests use it to look at the server (`INFO`, `CLIENT KILL`)
//! without going through the TLS code under test.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use tempfile::TempDir;

use crate::server::{RedisServer, RedisServerBuilder};

/// A certificate chain file and its private key file, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl CertFiles {
    /// The PEM certificate.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// The PEM private key (PKCS#8).
    pub fn key(&self) -> &Path {
        &self.key
    }
}

/// Every certificate the TLS tests need, written to a temporary directory that lives as long
/// as this value (keep it alive while a server reads the files, restarts included).
///
/// * a CA ([`ca_cert`](Self::ca_cert)) and another, unrelated CA
///   ([`other_ca_cert`](Self::other_ca_cert));
/// * [`server`](Self::server): from the CA, SAN `IP:127.0.0.1` and `DNS:localhost`;
/// * [`wrong_name_server`](Self::wrong_name_server): from the CA, SAN `DNS:wrong.example` only;
/// * [`self_signed_server`](Self::self_signed_server): the right names, but signed by itself;
/// * [`expired_server`](Self::expired_server): from the CA, the right names, valid only in 2000;
/// * [`client`](Self::client): a client certificate from the CA;
/// * [`foreign_client`](Self::foreign_client): a client certificate from the other CA.
///
/// Keys are ECDSA P-256 (fast to generate with ring).
#[derive(Debug)]
pub struct TlsCerts {
    ca: PathBuf,
    other_ca: PathBuf,
    server: CertFiles,
    wrong_name: CertFiles,
    self_signed: CertFiles,
    expired: CertFiles,
    client: CertFiles,
    foreign_client: CertFiles,
    dir: TempDir,
}

/// Names every good server certificate carries.
const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// What a leaf certificate is for.
#[derive(Clone, Copy)]
enum Role {
    Server,
    Client,
}

/// A CA that signs leaves.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        valid_now(&mut params);
        let key = KeyPair::generate().expect("generate a CA key");
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Authority {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }
}

fn valid_now(params: &mut CertificateParams) {
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2200, 1, 1);
}

fn leaf_params(names: &[&str], common_name: &str, role: Role) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("leaf parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![match role {
        Role::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Role::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    params.use_authority_key_identifier_extension = true;
    valid_now(&mut params);
    params
}

impl TlsCerts {
    /// Generates every certificate into a fresh temporary directory.
    ///
    /// # Panics
    ///
    /// When generation or writing fails.
    pub fn generate() -> TlsCerts {
        let dir = tempfile::Builder::new()
            .prefix("redis-tls-")
            .tempdir()
            .expect("a temporary directory for certificates");
        let write = |name: &str, text: &str| -> PathBuf {
            let path = dir.path().join(name);
            fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            path
        };
        let signed = |name: &str, params: CertificateParams, ca: Option<&Authority>| {
            let key = KeyPair::generate().expect("generate a key");
            let cert = match ca {
                Some(ca) => params.signed_by(&key, &ca.issuer),
                None => params.self_signed(&key),
            }
            .expect("sign a certificate");
            CertFiles {
                cert: write(&format!("{name}.crt"), &cert.pem()),
                key: write(&format!("{name}.key"), &key.serialize_pem()),
            }
        };

        let ca = Authority::new("redis-client test CA");
        let other = Authority::new("some other CA");
        let server = signed(
            "server",
            leaf_params(&SERVER_NAMES, "localhost", Role::Server),
            Some(&ca),
        );
        let wrong_name = signed(
            "wrong-name",
            leaf_params(&["wrong.example"], "wrong.example", Role::Server),
            Some(&ca),
        );
        let self_signed = signed(
            "self-signed",
            leaf_params(&SERVER_NAMES, "localhost", Role::Server),
            None,
        );
        let mut expired_params = leaf_params(&SERVER_NAMES, "localhost", Role::Server);
        expired_params.not_before = date_time_ymd(2000, 1, 1);
        expired_params.not_after = date_time_ymd(2001, 1, 1);
        let expired = signed("expired", expired_params, Some(&ca));
        let client = signed(
            "client",
            leaf_params(&[], "test-client", Role::Client),
            Some(&ca),
        );
        let foreign_client = signed(
            "foreign-client",
            leaf_params(&[], "foreign-client", Role::Client),
            Some(&other),
        );
        TlsCerts {
            ca: write("ca.crt", &ca.pem),
            other_ca: write("other-ca.crt", &other.pem),
            server,
            wrong_name,
            self_signed,
            expired,
            client,
            foreign_client,
            dir,
        }
    }

    /// The directory holding every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The test CA's certificate (PEM).
    pub fn ca_cert(&self) -> &Path {
        &self.ca
    }

    /// Another CA's certificate (PEM), which signed nothing but [`foreign_client`](Self::foreign_client).
    pub fn other_ca_cert(&self) -> &Path {
        &self.other_ca
    }

    /// The good server certificate: from the CA, for `127.0.0.1` and `localhost`.
    pub fn server(&self) -> &CertFiles {
        &self.server
    }

    /// A server certificate from the CA for `wrong.example` only.
    pub fn wrong_name_server(&self) -> &CertFiles {
        &self.wrong_name
    }

    /// A server certificate for the right names that signed itself.
    pub fn self_signed_server(&self) -> &CertFiles {
        &self.self_signed
    }

    /// A server certificate from the CA for the right names that expired in 2001.
    pub fn expired_server(&self) -> &CertFiles {
        &self.expired
    }

    /// A client certificate from the CA.
    pub fn client(&self) -> &CertFiles {
        &self.client
    }

    /// A client certificate from the other CA.
    pub fn foreign_client(&self) -> &CertFiles {
        &self.foreign_client
    }
}

/// Whether the server asks for client certificates (`tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `no`: clients need no certificate.
    Off,
    /// `yes` (Redis's default): mutual TLS, a client certificate from the CA is required.
    Required,
    /// `optional`: a client certificate is verified when one is sent.
    Optional,
}

impl ClientAuth {
    fn value(self) -> &'static str {
        match self {
            ClientAuth::Off => "no",
            ClientAuth::Required => "yes",
            ClientAuth::Optional => "optional",
        }
    }
}

/// Adds TLS to a [`RedisServerBuilder`].
pub trait TlsServerExt {
    /// A server that also listens for TLS on its own port, presenting `cert` and trusting
    /// `ca_cert` for client certificates. Client certificates are off unless
    /// [`TlsServerBuilder::client_auth`] says otherwise.
    fn tls(self, cert: &CertFiles, ca_cert: &Path) -> TlsServerBuilder;
}

impl TlsServerExt for RedisServerBuilder {
    fn tls(self, cert: &CertFiles, ca_cert: &Path) -> TlsServerBuilder {
        TlsServerBuilder {
            inner: self,
            cert: cert.clone(),
            ca_cert: ca_cert.to_owned(),
            client_auth: ClientAuth::Off,
        }
    }
}

/// Configures and starts a [`TlsRedisServer`]; made by [`TlsServerExt::tls`].
///
/// ```no_run
/// use tests::{RedisServer, TlsCerts, TlsServerExt};
///
/// let certs = TlsCerts::generate();
/// let server = RedisServer::builder().tls(certs.server(), certs.ca_cert()).start();
/// let url = server.url(certs.ca_cert());
/// # drop(url);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct TlsServerBuilder {
    inner: RedisServerBuilder,
    cert: CertFiles,
    ca_cert: PathBuf,
    client_auth: ClientAuth,
}

/// How many TLS ports a start tries when the chosen one was taken in the meantime.
const TLS_PORT_ATTEMPTS: usize = 3;

impl TlsServerBuilder {
    /// Sets `tls-auth-clients` (default here: [`ClientAuth::Off`]).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// Appends one server argument, as [`RedisServerBuilder::arg`] does.
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.inner = self.inner.arg(arg);
        self
    }

    /// Appends server arguments, as [`RedisServerBuilder::args`] does.
    pub fn args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<std::ffi::OsStr>,
    {
        self.inner = self.inner.args(args);
        self
    }

    /// Starts the server and waits until both its listeners accept connections.
    ///
    /// # Panics
    ///
    /// As [`RedisServerBuilder::start`] does, and when the TLS port was lost to another
    /// process three times in a row.
    pub fn start(self) -> TlsRedisServer {
        for attempt in 1..=TLS_PORT_ATTEMPTS {
            let tls_port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port for TLS");
            let args: [std::ffi::OsString; 10] = [
                "--tls-port".into(),
                tls_port.to_string().into(),
                "--tls-cert-file".into(),
                self.cert.cert.clone().into(),
                "--tls-key-file".into(),
                self.cert.key.clone().into(),
                "--tls-ca-cert-file".into(),
                self.ca_cert.clone().into(),
                "--tls-auth-clients".into(),
                self.client_auth.value().into(),
            ];
            let builder = self.inner.clone().args(args);
            // The plain port is retried by the fixture itself; a TLS port taken between our
            // probe and the server's bind makes every one of its attempts fail the same way.
            match panic::catch_unwind(AssertUnwindSafe(|| builder.start())) {
                Ok(server) => {
                    let addr = SocketAddr::from(([127, 0, 0, 1], tls_port));
                    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_or_else(|e| {
                        panic!("the TLS listener on {addr} does not accept: {e}")
                    });
                    return TlsRedisServer { server, tls_port };
                }
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .unwrap_or_default();
                    if attempt == TLS_PORT_ATTEMPTS || !message.contains("lost the race") {
                        panic::resume_unwind(payload);
                    }
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }
}

/// A `redis-server` with a TLS listener (and a plaintext one for the fixture and for admin
/// commands). It dereferences to [`RedisServer`]: `raw()`, `port()`, `kill()`, `restart()`
/// and the others work on the plaintext side and on the process.
#[derive(Debug)]
pub struct TlsRedisServer {
    server: RedisServer,
    tls_port: u16,
}

impl TlsRedisServer {
    /// The TLS port on `127.0.0.1`.
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The TLS address.
    pub fn tls_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.tls_port))
    }

    /// `rediss://127.0.0.1:<tls port>?ssl_ca_certs=<ca>`: verified TLS against `ca_cert`.
    pub fn url(&self, ca_cert: &Path) -> String {
        format!(
            "rediss://127.0.0.1:{}?ssl_ca_certs={}",
            self.tls_port,
            ca_cert.display()
        )
    }
}

impl Deref for TlsRedisServer {
    type Target = RedisServer;

    fn deref(&self) -> &RedisServer {
        &self.server
    }
}

impl DerefMut for TlsRedisServer {
    fn deref_mut(&mut self) -> &mut RedisServer {
        &mut self.server
    }
}
