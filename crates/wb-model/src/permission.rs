//! Who may toggle a row's scope (SPEC §1), decided in one place.

use uuid::Uuid;

use crate::{EntityKind, InstanceName, Role, SyncScope};

/// The member asking for a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The member's user id.
    pub user_id: Uuid,
    /// The member's role on its origin.
    pub role: Role,
    /// The member's origin instance: only local members act here.
    pub origin: InstanceName,
}

/// The row whose scope would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeTarget {
    /// Its kind.
    pub kind: EntityKind,
    /// Its id.
    pub id: Uuid,
    /// The member the rules call its owner: the author of a request or
    /// comment, the user of a profile, the inviter of an invite, the voucher
    /// of a vouch.
    pub owner_id: Uuid,
    /// The instance where it was created.
    pub origin: InstanceName,
}

/// A refused scope change, naming the rule that refused it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeDenied {
    /// Rule `imported-read-only`.
    #[error(
        "denied by rule imported-read-only: {kind} {id} was imported from {origin}; only its origin can change it"
    )]
    ImportedRow {
        /// Kind of the row.
        kind: EntityKind,
        /// Its id.
        id: Uuid,
        /// Where it comes from.
        origin: InstanceName,
    },
    /// Rule `local-actor`.
    #[error(
        "denied by rule local-actor: the acting user belongs to {origin}, not to this instance ({local})"
    )]
    ForeignActor {
        /// The actor's instance.
        origin: InstanceName,
        /// This instance.
        local: InstanceName,
    },
    /// Rule `moderator-private-only`.
    #[error(
        "denied by rule moderator-private-only: moderators may make a {kind} private but not public; ask its {owner} or an admin"
    )]
    ModeratorCannotPublish {
        /// Kind of the row.
        kind: EntityKind,
        /// What its owner is called ("author", "inviter", …).
        owner: &'static str,
    },
    /// Rule `owner-or-admin`.
    #[error(
        "denied by rule owner-or-admin: only the {kind}'s {owner} or an admin may change its scope"
    )]
    NotOwner {
        /// Kind of the row.
        kind: EntityKind,
        /// What its owner is called ("author", "inviter", …).
        owner: &'static str,
    },
}

/// A refused edit or deletion, naming the rule that refused it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeDenied {
    /// Rule `imported-read-only`.
    #[error(
        "denied by rule imported-read-only: {kind} {id} was imported from {origin}; only its origin can change it"
    )]
    ImportedRow {
        /// Kind of the row.
        kind: EntityKind,
        /// Its id.
        id: Uuid,
        /// Where it comes from.
        origin: InstanceName,
    },
    /// Rule `local-actor`.
    #[error(
        "denied by rule local-actor: the acting user belongs to {origin}, not to this instance ({local})"
    )]
    ForeignActor {
        /// The actor's instance.
        origin: InstanceName,
        /// This instance.
        local: InstanceName,
    },
    /// Rule `owner-or-admin`.
    #[error("denied by rule owner-or-admin: only the {kind}'s {owner} or an admin may {action} it")]
    NotOwner {
        /// Kind of the row.
        kind: EntityKind,
        /// What its owner is called ("author", "inviter", …).
        owner: &'static str,
        /// What was asked: "edit", "delete", "revoke".
        action: &'static str,
    },
    /// Rule `admin-only`: roles are given by admins.
    #[error("denied by rule admin-only: only an admin may {action}")]
    AdminOnly {
        /// What was asked, e.g. "change a member's role".
        action: &'static str,
    },
}

impl ChangeDenied {
    /// The short, stable name of the rule, for scripts and the admin UI.
    pub fn rule(&self) -> &'static str {
        match self {
            ChangeDenied::ImportedRow { .. } => "imported-read-only",
            ChangeDenied::ForeignActor { .. } => "local-actor",
            ChangeDenied::NotOwner { .. } => "owner-or-admin",
            ChangeDenied::AdminOnly { .. } => "admin-only",
        }
    }
}

/// Decides whether `actor`, acting on the instance `local`, may `action`
/// ("edit", "delete", "revoke") the row `target` (SPEC §1): nobody changes
/// an imported row; only local members act; the owner or an admin may.
/// Moderators have no say here: they may hide a row (make it private), not
/// rewrite or remove it.
pub fn check_row_change(
    local: &InstanceName,
    actor: &Actor,
    target: &ScopeTarget,
    action: &'static str,
) -> Result<(), ChangeDenied> {
    if target.origin != *local {
        return Err(ChangeDenied::ImportedRow {
            kind: target.kind,
            id: target.id,
            origin: target.origin.clone(),
        });
    }
    if actor.origin != *local {
        return Err(ChangeDenied::ForeignActor {
            origin: actor.origin.clone(),
            local: local.clone(),
        });
    }
    if actor.user_id == target.owner_id || actor.role == Role::Admin {
        return Ok(());
    }
    Err(ChangeDenied::NotOwner {
        kind: target.kind,
        owner: owner_word(target.kind),
        action,
    })
}

impl ScopeDenied {
    /// The short, stable name of the rule, for scripts and the admin UI.
    pub fn rule(&self) -> &'static str {
        match self {
            ScopeDenied::ImportedRow { .. } => "imported-read-only",
            ScopeDenied::ForeignActor { .. } => "local-actor",
            ScopeDenied::ModeratorCannotPublish { .. } => "moderator-private-only",
            ScopeDenied::NotOwner { .. } => "owner-or-admin",
        }
    }
}

/// What the owner of each kind is called in the rules.
fn owner_word(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "user themself",
        EntityKind::Request | EntityKind::Comment => "author",
        EntityKind::Invite => "inviter",
        EntityKind::Vouch => "voucher",
    }
}

/// Decides whether `actor`, acting on the instance `local`, may set the
/// scope of `target` to `to`.
///
/// The rules, in order: nobody changes an imported row; only local members
/// act; the owner may set either scope; an admin may set either scope on any
/// local row; a moderator may make a row private but not public.
pub fn check_scope_change(
    local: &InstanceName,
    actor: &Actor,
    target: &ScopeTarget,
    to: SyncScope,
) -> Result<(), ScopeDenied> {
    if target.origin != *local {
        return Err(ScopeDenied::ImportedRow {
            kind: target.kind,
            id: target.id,
            origin: target.origin.clone(),
        });
    }
    if actor.origin != *local {
        return Err(ScopeDenied::ForeignActor {
            origin: actor.origin.clone(),
            local: local.clone(),
        });
    }
    if actor.user_id == target.owner_id || actor.role == Role::Admin {
        return Ok(());
    }
    match (actor.role, to) {
        (Role::Moderator, SyncScope::Private) => Ok(()),
        (Role::Moderator, SyncScope::Public) => Err(ScopeDenied::ModeratorCannotPublish {
            kind: target.kind,
            owner: owner_word(target.kind),
        }),
        _ => Err(ScopeDenied::NotOwner {
            kind: target.kind,
            owner: owner_word(target.kind),
        }),
    }
}
