//! The running admin server: binds the address (loopback unless allowed
//! otherwise) and knows the one URL that opens a session.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_web::HttpServer;
use actix_web::dev::{Server, ServerHandle};
use wb_engine::Instance;

use crate::{AdminError, AdminState, ServeConfig, app};

/// How many worker threads serve requests: plenty for one operator.
const WORKERS: usize = 2;

/// A bound admin server, not yet running: [`AdminServer::run`] serves it.
pub struct AdminServer {
    server: Server,
    addr: SocketAddr,
    login_url: String,
}

impl fmt::Debug for AdminServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminServer")
            .field("addr", &self.addr)
            .field("login_url", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AdminServer {
    /// Checks the configuration, makes a fresh secret token and binds the
    /// address. Must be called inside a Tokio or actix runtime.
    pub fn bind(instance: Instance, config: &ServeConfig) -> Result<Self, AdminError> {
        config.check()?;
        let state = AdminState::new(instance)?.with_instance_dir(config.instance_dir.clone());
        let login_path = state.login_path();
        let server = HttpServer::new(move || app(state.clone()))
            .workers(WORKERS)
            .bind(config.bind)
            .map_err(|source| AdminError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| AdminError::Bind {
                addr: config.bind,
                source: std::io::Error::other("no address was bound"),
            })?;
        // An unspecified address (0.0.0.0) is reachable on loopback too.
        let shown = match addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from((Ipv4Addr::LOCALHOST, a.port()))
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((Ipv6Addr::LOCALHOST, a.port()))
            }
            other => other,
        };
        Ok(Self {
            server: server.run(),
            addr,
            login_url: format!("http://{shown}{login_path}"),
        })
    }

    /// The address actually bound (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL that opens a session. It carries the secret token: print it
    /// for the operator, never log it.
    pub fn login_url(&self) -> &str {
        &self.login_url
    }

    /// A handle to stop the server (e.g. `handle.stop(true).await`).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (Ctrl-C, or [`ServerHandle::stop`]).
    pub async fn run(self) -> Result<(), AdminError> {
        self.server.await.map_err(AdminError::Server)
    }
}
