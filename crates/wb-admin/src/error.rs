//! Why the admin UI could not start or stopped.

use std::net::SocketAddr;

/// The admin server could not be started or failed while running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// A non-loopback address was given without `--public`.
    #[error(
        "refusing to serve on {addr}: it is not a loopback address, so other machines could reach the admin UI; \
         use --bind 127.0.0.1:PORT, or pass --public if you really mean it"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The operating system has no randomness to give for the secret token.
    #[error("cannot make a secret token: the system's random number generator failed: {reason}")]
    Random {
        /// The generator's reason.
        reason: String,
    },
    /// The address could not be bound (in use, or not ours).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("the admin server failed: {0}")]
    Server(#[source] std::io::Error),
}
