//! The five entities of a board and their small enums.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{InstanceName, SyncScope, Timestamp, Username};

/// Declares a closed set of lowercase words with `as_str`, `Display`,
/// `FromStr` and serde, so every layer spells them the same way.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word used in the database, the CLI and the sync format.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word,)+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown {} {:?}: expected one of {}",
                        stringify!($name).to_lowercase(),
                        s,
                        [$($word),+].join(", ")
                    )),
                }
            }
        }
    };
}
pub(crate) use word_enum;

word_enum! {
    /// The kinds of rows that can be synced; the same words as the format's
    /// `Entity` header, the export paths and the CLI's `ENTITY` argument.
    /// Declared in dependency order: a row only references kinds before it.
    EntityKind {
        /// A member profile.
        User = "user",
        /// A request posted by a member.
        Request = "request",
        /// A comment on a request.
        Comment = "comment",
        /// An invitation of a new member by an existing one.
        Invite = "invite",
        /// A vouch of one member for another.
        Vouch = "vouch",
    }
}

word_enum! {
    /// A member's role on its own instance.
    Role {
        /// An ordinary member.
        Member = "member",
        /// May make any local row private, but not public.
        Moderator = "moderator",
        /// May change the scope of any local row.
        Admin = "admin",
    }
}

word_enum! {
    /// Where a request stands.
    RequestStatus {
        /// Still looking for help.
        Open = "open",
        /// Someone helped.
        Fulfilled = "fulfilled",
        /// Withdrawn or stale.
        Closed = "closed",
    }
}

word_enum! {
    /// Where an invite stands.
    InviteStatus {
        /// Issued, not used yet.
        Pending = "pending",
        /// Used by its invitee.
        Accepted = "accepted",
        /// Withdrawn by its inviter.
        Revoked = "revoked",
    }
}

/// A member profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Globally unique id.
    pub id: Uuid,
    /// The instance where this row was created; only it may change the row.
    pub origin: InstanceName,
    /// Unique per origin.
    pub username: Username,
    /// Free text shown instead of the username.
    pub display_name: String,
    /// Free text about the member.
    pub bio: String,
    /// Private: never exported. `None` on imported rows.
    pub email: Option<String>,
    /// Private: never exported. Imported rows are `member`.
    pub role: Role,
    /// Private: who invited this member. `None` for root users.
    pub invited_by: Option<Uuid>,
    /// The row's own scope.
    pub scope: SyncScope,
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

/// A request posted by a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Globally unique id.
    pub id: Uuid,
    /// The instance where this row was created.
    pub origin: InstanceName,
    /// The posting member.
    pub author_id: Uuid,
    /// One line.
    pub title: String,
    /// Free text.
    pub body: String,
    /// Open, fulfilled or closed.
    pub status: RequestStatus,
    /// The row's own scope.
    pub scope: SyncScope,
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

/// A comment on a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Globally unique id.
    pub id: Uuid,
    /// The instance where this row was created.
    pub origin: InstanceName,
    /// The request commented on.
    pub request_id: Uuid,
    /// The commenting member.
    pub author_id: Uuid,
    /// Free text.
    pub body: String,
    /// The row's own scope.
    pub scope: SyncScope,
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

/// An invitation of a new member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// Globally unique id.
    pub id: Uuid,
    /// The instance where this row was created.
    pub origin: InstanceName,
    /// The inviting member.
    pub inviter_id: Uuid,
    /// The new member, once the invite is accepted.
    pub invitee_id: Option<Uuid>,
    /// Pending, accepted or revoked.
    pub status: InviteStatus,
    /// Private: the secret code. `None` on imported rows.
    pub code: Option<String>,
    /// The row's own scope.
    pub scope: SyncScope,
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

/// A signed statement that one member vouches for another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vouch {
    /// Globally unique id.
    pub id: Uuid,
    /// The instance where this row was created (and whose key signed it).
    pub origin: InstanceName,
    /// The vouching member.
    pub voucher_id: Uuid,
    /// The member vouched for; never the voucher.
    pub subject_id: Uuid,
    /// The origin instance's signature (base64) over the vouch.
    pub signature: String,
    /// The row's own scope.
    pub scope: SyncScope,
    /// When the vouch was made (covered by the signature).
    pub created_at: Timestamp,
    /// When the row last changed (scope changes only).
    pub updated_at: Timestamp,
}
