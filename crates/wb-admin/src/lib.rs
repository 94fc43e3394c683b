//! The admin UI of a wb instance (`wb serve`, SPEC §1 "Admin UI badges").
//!
//! A small server-rendered web UI (actix-web, maud templates compiled in,
//! no JavaScript): lists of requests, users and invites, a request's detail
//! with its comments, a profile editor and an invite form. Every row shows
//! its effective scope as a badge — `Public`, `Private` or
//! `Public, held back: <reason>` — and, when it is local, a toggle that goes
//! through [`wb_engine::Instance::set_scope`], so the same rules as the CLI
//! apply. Imported rows show their origin and no toggle.
//!
//! Security model (see `docs/admin-ui.md`): loopback by default; a secret
//! token printed at start-up opens a session (an `HttpOnly`,
//! `SameSite=Strict` cookie); every change is a POST carrying the session's
//! CSRF token; secrets are compared in constant time and never logged.
//!
//! - [`serve`]: what `wb serve` runs.
//! - [`AdminServer`]: bind, learn the URL, run — for embedding and tests.
//! - [`app`] and [`AdminState`]: the application itself, for
//!   `actix_web::test`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod response;
mod routes;
mod secret;
mod server;
mod session;
mod state;
mod status;
mod views;

pub use config::{DEFAULT_PORT, ServeConfig};
pub use error::AdminError;
pub use routes::app;
pub use server::AdminServer;
pub use state::AdminState;

use wb_engine::Instance;

/// Serves the admin UI of `instance` until interrupted: prints the one URL
/// (with its fresh secret token) that opens a session on stdout, and a
/// warning on stderr when the address is reachable from other machines.
pub async fn serve(instance: Instance, config: ServeConfig) -> Result<(), AdminError> {
    let server = AdminServer::bind(instance, &config)?;
    if config.is_exposed() {
        eprintln!(
            "warning: the admin UI listens on {}, reachable from other machines, over plain HTTP; \
             anyone who gets the token can act as any member",
            server.local_addr()
        );
    }
    println!("{}", server.login_url());
    server.run().await
}
