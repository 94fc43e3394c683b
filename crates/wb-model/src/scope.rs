//! Sync scope and the effective-scope rule (SPEC §1): [`effective_scope`]
//! decides one row from what it references; [`EffectiveScopes`] applies it to
//! many rows, remembering what later rows reference, and is the one
//! evaluator behind both the listings' badges and the export.

use std::collections::HashMap;
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

    /// Whether the referenced user *acts* in the row (author, inviter,
    /// invitee, voucher) rather than being acted on (the subject of a
    /// vouch) or being a request. Each origin speaks only for itself (SPEC
    /// §5): an instance's bundle names only its own users as actors.
    pub fn is_actor(self) -> bool {
        match self {
            Relation::Author | Relation::Inviter | Relation::Invitee | Relation::Voucher => true,
            Relation::Request | Relation::Subject => false,
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

impl EntityKind {
    /// How a row of this kind references other rows, in the order the rule
    /// looks at them (the first one not exported is the reason a row is
    /// held back): nothing for a user; the author of a request; the request
    /// and the author of a comment; the inviter and the invitee (once
    /// accepted) of an invite; the voucher and the subject of a vouch.
    ///
    /// Every relation points at a kind declared before this one
    /// ([`EntityKind::ALL`] is in dependency order).
    pub fn relations(self) -> [Option<Relation>; 2] {
        match self {
            EntityKind::User => [None, None],
            EntityKind::Request => [Some(Relation::Author), None],
            EntityKind::Comment => [Some(Relation::Request), Some(Relation::Author)],
            EntityKind::Invite => [Some(Relation::Inviter), Some(Relation::Invitee)],
            EntityKind::Vouch => [Some(Relation::Voucher), Some(Relation::Subject)],
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

/// A row as the effective-scope rule sees it: no text, only what decides
/// whether it leaves the instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeFacts {
    /// The row's kind.
    pub kind: EntityKind,
    /// The row's id.
    pub id: Uuid,
    /// The row's own scope (for an imported row: what its origin last
    /// published).
    pub own: SyncScope,
    /// Whether the row was imported from another instance.
    pub imported: bool,
    /// The ids of the rows it references, in the order of
    /// [`EntityKind::relations`] (`None` where the kind has no such
    /// relation, or an invite has no invitee yet).
    pub refs: [Option<Uuid>; 2],
}

/// What [`EffectiveScopes`] remembers of a user or request, for the rows
/// that reference it.
#[derive(Clone, Copy, Debug)]
struct Decided {
    own: SyncScope,
    imported: bool,
    /// Its effective scope is public (SPEC §1).
    shared: bool,
    /// It counts as exported for an export of this instance: a local row
    /// that the export writes, or an imported row its origin publishes.
    exported: bool,
}

/// The effective-scope rule applied to many rows: the one evaluator of
/// [`effective_scope`] over stored rows, used by the listings and the admin
/// UI (through `wb_engine::ScopeResolver`) and by the export.
///
/// Rows are decided after the rows they reference (users, then requests,
/// then the rest: the order of [`EntityKind::ALL`]); the users and requests
/// decided are remembered, so a row costs one lookup per reference. A
/// reference to a row not decided yet counts as not exported (private).
///
/// Two verdicts come out of the same rule:
/// - [`effective`](Self::effective): the effective scope and its reason, as
///   listings show it (SPEC §1);
/// - [`exported`](Self::exported): whether this instance's bundle carries
///   the row. That is the effective scope with one more condition, because
///   each origin speaks only for itself (SPEC §5): a row is exported only
///   when it is this instance's own and every *actor* it names
///   ([`Relation::is_actor`]) is one of this instance's users, exported
///   in turn. An importer refuses a bundle that breaks this; only a
///   database edited by hand holds such a row, whose badge still shows its
///   effective scope.
///
/// ```
/// use wb_model::{EffectiveScope, EffectiveScopes, EntityKind, ScopeFacts, SyncScope, Uuid};
///
/// let (ada, request) = (Uuid::from_u128(1), Uuid::from_u128(2));
/// let mut scopes = EffectiveScopes::new();
/// let user = ScopeFacts {
///     kind: EntityKind::User,
///     id: ada,
///     own: SyncScope::Private,
///     imported: false,
///     refs: [None, None],
/// };
/// assert_eq!(scopes.effective(&user), EffectiveScope::Private);
/// let row = ScopeFacts {
///     kind: EntityKind::Request,
///     id: request,
///     own: SyncScope::Public,
///     imported: false,
///     refs: [Some(ada), None],
/// };
/// assert_eq!(
///     scopes.effective(&row).to_string(),
///     "Public, held back: its author (user 00000000-0000-0000-0000-000000000001) is private"
/// );
/// assert!(!scopes.exported(&row));
/// ```
#[derive(Clone, Debug, Default)]
pub struct EffectiveScopes {
    users: HashMap<Uuid, Decided>,
    requests: HashMap<Uuid, Decided>,
}

impl EffectiveScopes {
    /// Nothing decided yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The effective scope of `row` (SPEC §1), from the rows decided before
    /// it; remembers `row` for the rows that reference it.
    pub fn effective(&mut self, row: &ScopeFacts) -> EffectiveScope {
        self.decide(row).0
    }

    /// Whether this instance's export writes `row`: it is this instance's,
    /// its effective scope is public, and its actors are this instance's
    /// exported users (see the type's documentation); remembers `row` for
    /// the rows that reference it.
    pub fn exported(&mut self, row: &ScopeFacts) -> bool {
        self.decide(row).1
    }

    /// Whether the row `id` of `kind` was decided already. Only users and
    /// requests are remembered, since only they are referenced.
    #[must_use]
    pub fn knows(&self, kind: EntityKind, id: Uuid) -> bool {
        self.remembered(kind)
            .is_some_and(|decided| decided.contains_key(&id))
    }

    fn remembered(&self, kind: EntityKind) -> Option<&HashMap<Uuid, Decided>> {
        match kind {
            EntityKind::User => Some(&self.users),
            EntityKind::Request => Some(&self.requests),
            EntityKind::Comment | EntityKind::Invite | EntityKind::Vouch => None,
        }
    }

    /// The effective scope of `row` and whether the export writes it.
    fn decide(&mut self, row: &ScopeFacts) -> (EffectiveScope, bool) {
        let mut shared = [None, None];
        let mut exported = [None, None];
        for (i, (relation, id)) in row.kind.relations().into_iter().zip(row.refs).enumerate() {
            let (Some(relation), Some(id)) = (relation, id) else {
                continue;
            };
            let target = self
                .remembered(relation.target_kind())
                .and_then(|decided| decided.get(&id));
            let own_scope = target.map_or(SyncScope::Private, |t| t.own);
            let reference = |exported| Reference {
                relation,
                id,
                exported,
                own_scope,
            };
            shared[i] = Some(reference(target.is_some_and(|t| t.shared)));
            exported[i] =
                Some(reference(target.is_some_and(|t| {
                    t.exported && !(relation.is_actor() && t.imported)
                })));
        }
        let effective = with_present(shared, |refs| effective_scope(row.own, row.imported, refs));
        // Exported references are shared ones too, so this implies that
        // `effective` is public.
        let in_export = !row.imported
            && with_present(exported, |refs| effective_scope(row.own, false, refs)).is_exported();
        let decided = Decided {
            own: row.own,
            imported: row.imported,
            shared: effective.is_exported(),
            // An imported row is exported by its origin; a local one, if
            // this export writes it.
            exported: if row.imported {
                effective.is_exported()
            } else {
                in_export
            },
        };
        match row.kind {
            EntityKind::User => {
                self.users.insert(row.id, decided);
            }
            EntityKind::Request => {
                self.requests.insert(row.id, decided);
            }
            EntityKind::Comment | EntityKind::Invite | EntityKind::Vouch => {}
        }
        (effective, in_export)
    }
}

/// Calls `f` with the references that are there, in order, without
/// allocating.
fn with_present<R>(references: [Option<Reference>; 2], f: impl FnOnce(&[Reference]) -> R) -> R {
    match references {
        [Some(a), Some(b)] => f(&[a, b]),
        [Some(a), None] | [None, Some(a)] => f(&[a]),
        [None, None] => f(&[]),
    }
}
