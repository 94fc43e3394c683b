//! `wb-hub-client`: the hub's wire format and the HTTP client that speaks
//! it, shared by `wb` (`wb sync push|pull`) and `wb-hub` (the server).
//!
//! This crate exists so that `wb` does not link the hub server: both
//! binaries need the same JSON documents, error codes, archive format and
//! bundle check, but only `wb-hub` needs the actix-web server, its token
//! handling and its storage. Putting the shared part here (rather than in
//! `wb-engine`, which knows no HTTP) keeps the engine free of the network
//! and the server out of the client (`ARCHITECTURE.md`, "Hub client
//! placement").
//!
//! - [`api`]: the JSON documents of the API and its constants.
//! - [`ErrorCode`], [`ErrorBody`]: every refusal's machine-readable code
//!   and the JSON body it travels in.
//! - [`archive`]: the deterministic tar archive a bundle travels in, and
//!   its strict in-memory unpacker.
//! - [`delta`]: manifest deltas, what changed between two manifests.
//! - [`verify`]: the checks a bundle passes before the hub accepts it or an
//!   instance imports it (`wb_engine::sync::verify`, the one path).
//! - [`client`]: `awc`-based push and pull (with an on-disk cache keyed by
//!   `ETag`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod archive;
pub mod client;
pub mod delta;
mod error;
pub mod verify;

pub use error::{ErrorBody, ErrorCode};
