//! The kinds of rows a bundle carries ([`EntityKind`]) and a file's
//! [`Scope`], with their exact spellings in headers and paths.

use std::fmt;
use std::str::FromStr;

/// The kind of row a `.sync.txt` file holds.
///
/// The spelling returned by [`EntityKind::as_str`] is used both in the
/// `Entity:` header and as the directory name inside a bundle.
///
/// This enum is deliberately exhaustive: a new entity kind is a format change
/// that comes with a new schema version, and importers should fail to compile
/// rather than silently skip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// A member's public profile.
    User,
    /// A request posted by a member.
    Request,
    /// A comment on a request.
    Comment,
    /// An invitation from one member to another.
    Invite,
    /// A vouch of one member for another.
    Vouch,
}

impl EntityKind {
    /// Every kind, in dependency order: a row only references rows of kinds
    /// that come before it (apply imports in this order).
    pub const ALL: [EntityKind; 5] = [
        EntityKind::User,
        EntityKind::Request,
        EntityKind::Comment,
        EntityKind::Invite,
        EntityKind::Vouch,
    ];

    /// The spelling used in the `Entity:` header and in bundle paths.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Request => "request",
            EntityKind::Comment => "comment",
            EntityKind::Invite => "invite",
            EntityKind::Vouch => "vouch",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown entity name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity {name:?} (expected one of user, request, comment, invite, vouch)")]
pub struct UnknownEntityError {
    name: String,
}

impl UnknownEntityError {
    /// The name that was not recognised (at most 64 characters of it).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for EntityKind {
    type Err = UnknownEntityError;

    /// Parses the exact lowercase spelling; anything else is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEntityError {
                name: s.chars().take(64).collect(),
            })
    }
}

/// The `Sync-Scope` of a file.
///
/// Only [`Scope::Public`] files are ever written or accepted in a bundle;
/// the parser still recognises `private` so callers can refuse it precisely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The row is published.
    Public,
    /// The row stays on its instance.
    Private,
}

impl Scope {
    /// The spelling used in the `Sync-Scope:` header.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Public => "public",
            Scope::Private => "private",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown scope name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync scope {name:?} (expected public or private)")]
pub struct UnknownScopeError {
    name: String,
}

impl UnknownScopeError {
    /// The name that was not recognised (at most 64 characters of it).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for Scope {
    type Err = UnknownScopeError;

    /// Parses `public` or `private`, exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Scope::Public),
            "private" => Ok(Scope::Private),
            _ => Err(UnknownScopeError {
                name: s.chars().take(64).collect(),
            }),
        }
    }
}
