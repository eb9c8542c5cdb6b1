//! The connection layer's errors.

use std::fmt;
use std::io;

use crate::url::ConfigError;

/// What went wrong while connecting to or talking with a server.
///
/// Any error other than [`Error::Server`] leaves the connection broken: it is closed and never
/// used again, so no later request can read a reply meant for this one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The host name did not resolve.
    #[error("could not resolve `{host}`: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No address of the server accepted a connection.
    #[error("could not connect to {target}: {source}")]
    Connect {
        /// The server, as configured.
        target: String,
        /// The last address's error.
        #[source]
        source: io::Error,
    },
    /// An operation did not finish within its timeout. The request may or may not have run on
    /// the server.
    #[error("timed out {0}")]
    Timeout(Phase),
    /// The socket failed.
    #[error("connection failed ({phase}): {source}")]
    Io {
        /// What the connection was doing.
        phase: Phase,
        /// The socket's error.
        #[source]
        source: io::Error,
    },
    /// The server closed the connection.
    #[error("the server closed the connection ({0})")]
    Closed(Phase),
    /// The server sent bytes that are not valid RESP (or beyond the decoder's limits).
    #[error("the server sent an invalid reply: {0}")]
    Protocol(#[from] resp_proto::Error),
    /// The server sent something other than what the protocol step expects (for example a
    /// handshake reply that is not `OK`).
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// The server answered with an error reply.
    #[error("{0}")]
    Server(ServerError),
    /// The server refused the credentials.
    #[error("authentication failed: {0}")]
    Auth(ServerError),
    /// The server does not speak the requested protocol (`HELLO 3` on a server before 6.0).
    #[error("the server does not support RESP3: {0}")]
    NoProto(ServerError),
    /// TLS could not be set up or failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// An earlier failure broke this connection; open a new one.
    #[error("the connection is broken by an earlier failure and cannot be used; open a new one")]
    Broken,
    /// The command was refused before anything was sent: it is not one well-formed command.
    #[error("the command cannot be sent: {0}")]
    InvalidCommand(String),
}

impl Error {
    /// Whether an operation timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// Whether the connection itself failed (resolve, connect, I/O, close, timeout, broken).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Resolve { .. }
                | Error::Connect { .. }
                | Error::Timeout(_)
                | Error::Io { .. }
                | Error::Closed(_)
                | Error::Broken
        )
    }

    /// The server's error, when the server answered with one.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) | Error::Auth(e) | Error::NoProto(e) => Some(e),
            _ => None,
        }
    }

    /// An equal error for another request that failed with this one (several requests
    /// sharing one connection fail together). A socket error keeps its kind and message.
    pub fn duplicate(&self) -> Self {
        let io = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
        match self {
            Error::Config(e) => Error::Config(e.clone()),
            Error::Resolve { host, source } => Error::Resolve {
                host: host.clone(),
                source: io(source),
            },
            Error::Connect { target, source } => Error::Connect {
                target: target.clone(),
                source: io(source),
            },
            Error::Timeout(phase) => Error::Timeout(*phase),
            Error::Io { phase, source } => Error::Io {
                phase: *phase,
                source: io(source),
            },
            Error::Closed(phase) => Error::Closed(*phase),
            Error::Protocol(e) => Error::Protocol(*e),
            Error::UnexpectedReply(text) => Error::UnexpectedReply(text.clone()),
            Error::Server(e) => Error::Server(e.clone()),
            Error::Auth(e) => Error::Auth(e.clone()),
            Error::NoProto(e) => Error::NoProto(e.clone()),
            Error::Tls(text) => Error::Tls(text.clone()),
            Error::Broken => Error::Broken,
            Error::InvalidCommand(text) => Error::InvalidCommand(text.clone()),
        }
    }

    /// Re-labels a failure during the handshake as a connecting failure.
    pub(crate) fn in_handshake(self) -> Self {
        match self {
            Error::Timeout(_) => Error::Timeout(Phase::Handshake),
            Error::Io { source, .. } => Error::Io {
                phase: Phase::Handshake,
                source,
            },
            Error::Closed(_) => Error::Closed(Phase::Handshake),
            other => other,
        }
    }

    /// Maps a socket error, turning timeouts into [`Error::Timeout`].
    pub(crate) fn io(phase: Phase, source: io::Error) -> Self {
        // rustls reports TLS failures (a refused client certificate, a bad record) as I/O
        // errors wrapping its own error.
        if let Some(tls) = source
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return Error::Tls(tls_message(tls));
        }
        match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout(phase),
            io::ErrorKind::UnexpectedEof => Error::Closed(phase),
            _ => Error::Io { phase, source },
        }
    }
}

/// What a connection was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the socket.
    Connecting,
    /// The TLS handshake.
    TlsHandshake,
    /// The Redis handshake (AUTH or HELLO, CLIENT SETNAME, SELECT).
    Handshake,
    /// Writing a request.
    Writing,
    /// Waiting for or reading a reply.
    Reading,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connecting => "connecting",
            Phase::TlsHandshake => {
                "during the TLS handshake (is the server speaking TLS on this port?)"
            }
            Phase::Handshake => "during the handshake (AUTH, HELLO, SELECT)",
            Phase::Writing => "writing the request",
            Phase::Reading => "reading the reply",
        })
    }
}

/// An error reply from the server: its code (the first word) and the whole message.
///
/// ```
/// use redis_conn::{ServerError, ServerErrorKind};
///
/// let e = ServerError::parse(b"WRONGTYPE Operation against a key holding the wrong kind of value");
/// assert_eq!(e.kind(), ServerErrorKind::WrongType);
/// assert_eq!(e.code(), "WRONGTYPE");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    kind: ServerErrorKind,
    message: String,
}

impl ServerError {
    /// Parses an error reply's text (without the leading `-`).
    pub fn parse(text: &[u8]) -> Self {
        let message = String::from_utf8_lossy(text).into_owned();
        let code = message.split(' ').next().unwrap_or_default();
        ServerError {
            kind: ServerErrorKind::from_code(code),
            message,
        }
    }

    /// The parsed code.
    pub fn kind(&self) -> ServerErrorKind {
        self.kind
    }

    /// The code word as the server sent it (`ERR`, `WRONGTYPE`, ...); empty when the message
    /// has no upper-case code.
    pub fn code(&self) -> &str {
        let code = self.message.split(' ').next().unwrap_or_default();
        if !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        {
            code
        } else {
            ""
        }
    }

    /// The whole message, code included.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Replaces every occurrence of each secret in the message with `<redacted>` (servers
    /// without HELLO echo its arguments, password included, in their error).
    ///
    /// The server quotes the arguments of a command it does not know after "with args
    /// beginning with:", cut to a length that can split a secret, so that quote is dropped
    /// whole.
    pub(crate) fn scrub(mut self, secrets: &[&str]) -> Self {
        const QUOTE: &str = "with args beginning with:";
        if let Some(at) = self.message.find(QUOTE) {
            self.message.truncate(at + QUOTE.len());
            self.message.push_str(" <redacted>");
        }
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            if self.message.contains(secret) {
                self.message = self.message.replace(secret, "<redacted>");
            }
        }
        self
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server error: {}", self.message)
    }
}

impl std::error::Error for ServerError {}

/// The kinds of server error, from the reply's code word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// `ERR`: a generic error (syntax, wrong number of arguments, ...).
    Err,
    /// `WRONGTYPE`: the key holds another type.
    WrongType,
    /// `NOSCRIPT`: EVALSHA of a script the server does not have.
    NoScript,
    /// `READONLY`: a write sent to a replica.
    ReadOnly,
    /// `LOADING`: the server is loading its dataset.
    Loading,
    /// `EXECABORT`: a transaction was discarded because a command was rejected.
    ExecAbort,
    /// `BUSY`: a script or function is running.
    Busy,
    /// `NOAUTH`: authentication is required.
    NoAuth,
    /// `WRONGPASS`: bad user name or password.
    WrongPass,
    /// `NOPERM`: the ACL user may not run this.
    NoPerm,
    /// `OOM`: the server is out of memory.
    Oom,
    /// `MOVED`: the slot lives on another cluster node.
    Moved,
    /// `ASK`: the slot is migrating.
    Ask,
    /// `TRYAGAIN`: a multi-key command during resharding.
    TryAgain,
    /// `CLUSTERDOWN`: the cluster is down.
    ClusterDown,
    /// `CROSSSLOT`: the keys of a command are in different cluster hash slots.
    CrossSlot,
    /// `MASTERDOWN`: the replica lost its master.
    MasterDown,
    /// `NOPROTO`: unsupported protocol version.
    NoProto,
    /// `NOREPLICAS`: not enough good replicas to write.
    NoReplicas,
    /// `BUSYKEY`: the target key exists (RESTORE, MIGRATE).
    BusyKey,
    /// `UNBLOCKED`: a blocked client was unblocked by `CLIENT UNBLOCK ... ERROR`.
    Unblocked,
    /// Any other code; see [`ServerError::code`].
    Other,
}

impl ServerErrorKind {
    fn from_code(code: &str) -> Self {
        match code {
            "ERR" => Self::Err,
            "WRONGTYPE" => Self::WrongType,
            "NOSCRIPT" => Self::NoScript,
            "READONLY" => Self::ReadOnly,
            "LOADING" => Self::Loading,
            "EXECABORT" => Self::ExecAbort,
            "BUSY" => Self::Busy,
            "NOAUTH" => Self::NoAuth,
            "WRONGPASS" => Self::WrongPass,
            "NOPERM" => Self::NoPerm,
            "OOM" => Self::Oom,
            "MOVED" => Self::Moved,
            "ASK" => Self::Ask,
            "TRYAGAIN" => Self::TryAgain,
            "CLUSTERDOWN" => Self::ClusterDown,
            "CROSSSLOT" => Self::CrossSlot,
            "MASTERDOWN" => Self::MasterDown,
            "NOPROTO" => Self::NoProto,
            "NOREPLICAS" => Self::NoReplicas,
            "BUSYKEY" => Self::BusyKey,
            "UNBLOCKED" => Self::Unblocked,
            _ => Self::Other,
        }
    }
}

/// A TLS error in words, with a hint when the peer is probably not speaking TLS.
pub(crate) fn tls_message(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("{error} (is the server speaking TLS on this port?)")
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, Phase};
    use std::io;

    #[test]
    fn a_duplicate_keeps_the_kind_and_the_message() {
        let errors = [
            Error::Io {
                phase: Phase::Reading,
                source: io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer"),
            },
            Error::Timeout(Phase::Reading),
            Error::Closed(Phase::Writing),
            Error::Connect {
                target: "127.0.0.1:1".to_owned(),
                source: io::Error::new(io::ErrorKind::ConnectionRefused, "refused"),
            },
            Error::Broken,
            Error::InvalidCommand("no name".to_owned()),
            Error::Tls("bad certificate".to_owned()),
        ];
        for error in errors {
            let copy = error.duplicate();
            assert_eq!(copy.to_string(), error.to_string());
            assert_eq!(copy.is_connection(), error.is_connection());
            assert_eq!(copy.is_timeout(), error.is_timeout());
            if let (Error::Io { source: a, .. }, Error::Io { source: b, .. }) = (&error, &copy) {
                assert_eq!(a.kind(), b.kind());
            }
        }
    }
}
