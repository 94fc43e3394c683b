//! `wb-hub`: the relay that stores and serves signed bundles between wb
//! instances (SPEC §3), and the HTTP client instances use to talk to it.
//!
//! - [`server`]: the actix-web API (`/v1/...`): upload with a bearer token,
//!   list, download with `ETag`, health. Every rejection carries a
//!   machine-readable [`ErrorCode`] and a human sentence.
//! - [`admin`]: registering instances and issuing and revoking tokens
//!   (what the `wb-hub instance|token` commands call).
//! - [`archive`]: the deterministic tar archive a bundle travels in, and
//!   its strict in-memory unpacker.
//! - [`verify`]: the checks a bundle passes before the hub accepts it or an
//!   instance imports it: layout, signature against a pinned key, trusted
//!   comment, every hash, no private file.
//! - [`client`]: `awc`-based push and pull (with an on-disk cache keyed by
//!   `ETag`), used by `wb sync push|pull`.
//! - [`token`]: upload tokens (`wbt_<id>_<secret>`), hashed at rest and
//!   compared in constant time.
//!
//! Storage is [`wb_store::hub::HubStore`] (SQLite or Postgres).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod api;
pub mod archive;
pub mod client;
mod error;
pub mod server;
pub mod token;
pub mod verify;

pub use error::{ErrorBody, ErrorCode};
