//! What the helpers need from the error type of the [`Commands`](redis_commands::Commands)
//! they run on.

use redis_conn::ServerErrorKind;

/// The errors of locks that are not errors of a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock could not be acquired in time (or at once, when not blocking).
    #[error("could not acquire the lock {name:?} in time")]
    NotAcquired {
        /// The lock's key.
        name: String,
    },
    /// The lock is not held with this token any more (it expired, or another holder has
    /// it): a release or extend did nothing.
    #[error("the lock {name:?} is no longer owned by this holder; it expired or was taken")]
    NotOwned {
        /// The lock's key.
        name: String,
    },
    /// A lock used in a way its settings do not allow (extend a lock without a timeout,
    /// release a lock never acquired).
    #[error("invalid lock use: {0}")]
    Invalid(String),
}

/// What the helpers need to know about a command error: the server's error code, and how to
/// carry a [`LockError`].
pub trait ExtError: From<LockError> + From<redis_commands::ArgumentError> {
    /// The kind of the server's error reply, when the error is one.
    fn server_error_kind(&self) -> Option<ServerErrorKind>;
}
