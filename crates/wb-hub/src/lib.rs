//! `wb-hub`: the relay that stores and serves signed bundles between wb
//! instances (SPEC §3).
//!
//! - [`server`]: the actix-web API (`/v2/...`): upload (whole or delta) with a bearer token,
//!   list, download with `ETag`, health. Every rejection carries a
//!   machine-readable [`ErrorCode`] and a human sentence.
//! - [`admin`]: registering instances and issuing and revoking tokens
//!   (what the `wb-hub instance|token` commands call).
//! - [`api`], [`archive`], [`delta`], [`verify`], [`client`], [`ErrorCode`]: the wire
//!   format, the bundle check and the client, re-exported from
//!   [`wb_hub_client`], the crate `wb` uses without linking this server.
//! - [`token`]: upload tokens (`wbt_<id>_<secret>`), hashed at rest and
//!   compared in constant time.
//!
//! Storage is [`wb_store::hub::HubStore`] (SQLite or Postgres).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod cache;
pub mod server;
pub mod token;

pub use wb_hub_client::{ErrorBody, ErrorCode, api, archive, client, delta, verify};
