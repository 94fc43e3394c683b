//! Sync scope and the effective-scope rule (SPEC §1).

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::EntityKind;
use crate::entity::word_enum;

word_enum! {
    /// A row's own privacy flag. New rows are private.
    SyncScope {
        /// Stays on this instance.
        Private = "private",
        /// May be exported, if everything it references is exported too.
        Public = "public",
    }
}

#[expect(
    clippy::derivable_impls,
    reason = "word_enum! declares the variants and derives no Default"
)]
impl Default for SyncScope {
    fn default() -> Self {
        SyncScope::Private
    }
}

/// How a row references another row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The author of a request or comment.
    Author,
    /// The request a comment belongs to.
    Request,
    /// The member who issued an invite.
    Inviter,
    /// The member who accepted an invite.
    Invitee,
    /// The member who vouches.
    Voucher,
    /// The member vouched for.
    Subject,
}

impl Relation {
    /// The kind of row on the other end of the relation.
    pub fn target_kind(self) -> EntityKind {
        match self {
            Relation::Request => EntityKind::Request,
            _ => EntityKind::User,
        }
    }

    /// The relation in words, as a reason shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Author => "author",
            Relation::Request => "request",
            Relation::Inviter => "inviter",
            Relation::Invitee => "invitee",
            Relation::Voucher => "voucher",
            Relation::Subject => "subject",
        }
    }
}

/// One row referenced by the row whose scope is being decided, with that
/// row's own effective scope already known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// How it is referenced.
    pub relation: Relation,
    /// Its id.
    pub id: Uuid,
    /// Whether it is exported (or was imported, which counts as exported).
    pub exported: bool,
    /// Its own scope, to tell "is private" from "is itself held back".
    pub own_scope: SyncScope,
}

/// Why a public row is not exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldReason {
    /// The first referenced row that is not exported.
    pub relation: Relation,
    /// Its id.
    pub id: Uuid,
    /// True when that row is private itself; false when it is public but held
    /// back in turn.
    pub referenced_is_private: bool,
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.relation.target_kind();
        let what = if self.referenced_is_private {
            "private"
        } else {
            "itself held back"
        };
        write!(
            f,
            "its {} ({kind} {}) is {what}",
            self.relation.as_str(),
            self.id
        )
    }
}

/// Whether a row leaves the instance, and why not when it could.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EffectiveScope {
    /// Exported (or imported from its origin, which published it).
    Public,
    /// Private by its own flag.
    Private,
    /// Public by its own flag, but something it references stays home.
    HeldBack(HoldReason),
}

impl EffectiveScope {
    /// True only for [`EffectiveScope::Public`].
    pub fn is_exported(&self) -> bool {
        matches!(self, EffectiveScope::Public)
    }
}

impl fmt::Display for EffectiveScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EffectiveScope::Public => f.write_str("Public"),
            EffectiveScope::Private => f.write_str("Private"),
            EffectiveScope::HeldBack(reason) => write!(f, "Public, held back: {reason}"),
        }
    }
}

/// The effective-scope rule of SPEC §1: a row is exported only if its own
/// scope is public and every row it references is exported; a row imported
/// from another instance counts as exported, since its origin published it.
///
/// For an imported row, `own` is what its origin last published: public, or
/// private once the origin withdrew it while local rows still reference it.
///
/// `references` must list every row the public projection of this row
/// names; the first one not exported becomes the reason.
pub fn effective_scope(own: SyncScope, imported: bool, references: &[Reference]) -> EffectiveScope {
    if own == SyncScope::Private {
        return EffectiveScope::Private;
    }
    if imported {
        return EffectiveScope::Public;
    }
    match references.iter().find(|r| !r.exported) {
        None => EffectiveScope::Public,
        Some(r) => EffectiveScope::HeldBack(HoldReason {
            relation: r.relation,
            id: r.id,
            referenced_is_private: r.own_scope == SyncScope::Private,
        }),
    }
}
