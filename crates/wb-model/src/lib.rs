//! The domain of a wb community board, free of I/O.
//!
//! This crate owns what the rest of the workspace agrees on:
//!
//! - the five entities ([`User`], [`Request`], [`Comment`], [`Invite`],
//!   [`Vouch`]) with their UUID ids and their **origin instance**;
//! - [`SyncScope`], the per-row privacy flag (private by default);
//! - the **public projection** of each entity ([`PublicUser`], …): exactly the
//!   fields SPEC §1 allows out of the instance, and nothing else;
//! - the **effective scope** rule ([`effective_scope`]) with the reason a
//!   public row is held back, and [`EffectiveScopes`], its one evaluator
//!   over many rows (listings and export alike);
//! - the **permission rules** for toggling scope ([`check_scope_change`])
//!   and for editing or deleting a row ([`check_row_change`]);
//! - [`text::escape_control`], how text from outside is shown on a
//!   terminal (control characters escaped).
//!
//! Nothing here touches a database, a file or the network; the store and the
//! engine feed these functions and act on their verdicts.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod entity;
mod names;
mod permission;
mod projection;
mod scope;
pub mod text;
mod time_stamp;

pub use entity::{
    Comment, EntityKind, Invite, InviteStatus, Request, RequestStatus, Role, User, Vouch,
};
pub use names::{InstanceName, NameError, Username};
pub use permission::{
    Actor, ChangeDenied, ScopeDenied, ScopeTarget, check_row_change, check_scope_change,
};
pub use projection::{PublicComment, PublicInvite, PublicRequest, PublicUser, PublicVouch};
pub use scope::{
    EffectiveScope, EffectiveScopes, HoldReason, Reference, Relation, ScopeFacts, SyncScope,
    effective_scope,
};
pub use time_stamp::{Timestamp, TimestampError};
pub use uuid::Uuid;

/// Makes a new row id: a UUID v7, so ids sort roughly by creation time.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
