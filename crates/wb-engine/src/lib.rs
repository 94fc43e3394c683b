//! The core of a wb instance: the operations the CLI and the admin UI offer,
//! with every rule of SPEC §1 enforced here rather than in a front end.
//!
//! - [`Instance`]: an initialised database with its instance name; creating
//!   members, requests, comments and invites; accepting invites.
//! - [`Instance::set_scope`] and [`Instance::scope_report`]: scope toggles
//!   checked by `wb_model::check_scope_change`, and effective scopes with
//!   their reasons ([`ScopeResolver`]).
//! - [`Instance::edit_request`], [`Instance::delete_request`] and the
//!   other edits and deletions of local rows ([`UserEdit`], [`RequestEdit`]),
//!   checked by `wb_model::check_row_change`.
//! - [`Instance::resolve`] and [`Instance::describe`]: rows named by id
//!   prefix or `name@origin`, and named back as `@name` or by title.
//! - [`listing`]: pages of rows with their effective scopes, reasons and
//!   names, filtered and keyset-paged: what `wb list` and the admin UI show.
//! - [`sync_runs`]: the outcome of the last push and pull.
//! - [`fixtures`]: loading a demo or seed community from JSON files.
//! - [`sync`]: signed bundle export and import (SPEC §2, §5).
//! - [`Instance::vouch_candidates`] and [`Instance::add_vouch`]: signed
//!   vouches for root users (SPEC §4).
//!
//! The engine owns orchestration only: rules live in `wb-model`, SQL in
//! `wb-store`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod fixtures;
mod instance;
mod lifecycle;
pub mod listing;
mod naming;
pub mod par;
mod resolver;
pub mod sync;
pub mod sync_runs;
mod vouch;

pub use error::{BundleRefusal, EngineError};
pub use instance::{Instance, NewUser, ScopeChange, ScopeReport};
pub use lifecycle::{Deleted, RequestEdit, UserEdit};
pub use naming::MIN_PREFIX;
pub use resolver::ScopeResolver;
pub use vouch::VouchError;

/// Result alias of this crate.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
