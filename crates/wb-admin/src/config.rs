//! How `wb serve` listens: the address, and whether a non-loopback one is
//! allowed.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::AdminError;

/// The port `wb serve` uses unless told otherwise.
pub const DEFAULT_PORT: u16 = 8080;

/// Where the admin server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    /// The address to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Allow a non-loopback address. The UI is then reachable by anyone who
    /// can reach the address (the secret token still guards it).
    pub public: bool,
    /// The instance's directory (`wb -C DIR`): where its signing key, its
    /// export and `sync_peers.txt` live, for the sync status page. `None`
    /// leaves that page saying so.
    pub instance_dir: Option<PathBuf>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            public: false,
            instance_dir: None,
        }
    }
}

impl ServeConfig {
    /// Refuses a non-loopback address unless [`ServeConfig::public`] is set.
    pub fn check(&self) -> Result<(), AdminError> {
        if self.bind.ip().is_loopback() || self.public {
            Ok(())
        } else {
            Err(AdminError::NotLoopback { addr: self.bind })
        }
    }

    /// True when the server will be reachable from other machines.
    pub fn is_exposed(&self) -> bool {
        !self.bind.ip().is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_unless_public() {
        for (bind, public, allowed) in [
            ("127.0.0.1:8080", false, true),
            ("127.0.0.2:0", false, true),
            ("[::1]:8080", false, true),
            ("0.0.0.0:8080", false, false),
            ("[::]:8080", false, false),
            ("192.0.2.7:8080", false, false),
            ("0.0.0.0:8080", true, true),
        ] {
            let config = ServeConfig {
                bind: bind.parse().expect("an address"),
                public,
                instance_dir: None,
            };
            assert_eq!(config.check().is_ok(), allowed, "{bind} public={public}");
        }
        assert_eq!(ServeConfig::default().bind.to_string(), "127.0.0.1:8080");
    }
}
