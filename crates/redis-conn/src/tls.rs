//! TLS over TCP, with rustls and the ring crypto provider.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};
use socket2::SockRef;

use crate::config::TlsConfig;
use crate::error::{Error, Phase};
use crate::transport::{Transport, peek_idle};

/// A TLS stream over TCP.
pub(crate) type TlsStream = StreamOwned<ClientConnection, TcpStream>;

impl Transport for TlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn is_idle(&mut self) -> io::Result<bool> {
        // Decrypted bytes nobody read, or any record waiting on the socket (data or
        // close_notify), mean the connection is not clean.
        let state = self.conn.process_new_packets().map_err(io::Error::other)?;
        if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
            return Ok(false);
        }
        peek_idle(SockRef::from(&self.sock))
    }
}

/// Wraps a connected TCP stream in TLS and completes the handshake before `deadline`.
pub(crate) fn connect(
    tcp: TcpStream,
    host: &str,
    tls: &TlsConfig,
    deadline: Option<Instant>,
) -> Result<TlsStream, Error> {
    let config = client_config(tls)?;
    let name = tls.server_name.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| Error::Tls(format!("`{name}` is not a valid server name or IP address")))?;
    let mut conn = ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut tcp = tcp;
    while conn.is_handshaking() {
        // Each exchange gets the time left, so a peer that answers slowly cannot stretch the
        // handshake past the deadline.
        let left = crate::transport::time_left(deadline, Phase::TlsHandshake)?;
        tcp.set_read_timeout(left)
            .and_then(|()| tcp.set_write_timeout(left))
            .map_err(|e| Error::io(Phase::TlsHandshake, e))?;
        if let Err(e) = conn.complete_io(&mut tcp) {
            return Err(
                match e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                {
                    Some(tls_error) => Error::Tls(format!(
                        "handshake failed: {}",
                        crate::error::tls_message(tls_error)
                    )),
                    None => Error::io(Phase::TlsHandshake, e),
                },
            );
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Whether a connection without certificate verification was made in this process (the
/// warning of [`TlsConfig::danger_accept_invalid_certs`] was printed).
static INSECURE_WARNED: std::sync::Once = std::sync::Once::new();

/// Prints, once per process, that certificate verification is off (the library has no
/// logger: standard error is the one place every deployment sees).
fn warn_insecure_once() {
    INSECURE_WARNED.call_once(|| {
        eprintln!(
            "redis-conn warning: TLS certificate verification is OFF \
             (TlsConfig::danger_accept_invalid_certs): anyone on the network path can \
             impersonate the server and read the password. Use it for tests only."
        );
    });
}

/// Whether this process connected over TLS without certificate verification (and printed
/// the warning that says so, once).
pub fn insecure_tls_warned() -> bool {
    INSECURE_WARNED.is_completed()
}

fn client_config(tls: &TlsConfig) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = if tls.accepts_invalid_certs() {
        warn_insecure_once();
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                provider.signature_verification_algorithms,
            )))
    } else {
        builder.with_root_certificates(root_store(tls)?)
    };
    match &tls.client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_path, key_path)) => {
            let certs = CertificateDer::pem_file_iter(cert_path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::Tls(format!(
                        "cannot read client certificate {}: {e}",
                        cert_path.display()
                    ))
                })?;
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
                Error::Tls(format!(
                    "cannot read client key {}: {e}",
                    key_path.display()
                ))
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| Error::Tls(format!("bad client certificate or key: {e}")))
        }
    }
}

fn root_store(tls: &TlsConfig) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| Error::Tls(format!("cannot read CA file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(Error::Tls(format!(
                    "no certificate in CA file {}",
                    path.display()
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    Error::Tls(format!(
                        "bad certificate in CA file {}: {e}",
                        path.display()
                    ))
                })?;
            }
        }
    }
    Ok(roots)
}

/// The verifier behind [`TlsConfig::danger_accept_invalid_certs`]: any certificate, any name.
/// Signatures are still checked, so the peer must hold the key of the certificate it sends.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
