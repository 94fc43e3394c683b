//! Public projections: exactly the fields SPEC §1 lets out of an instance.
//!
//! Each projection is built from its entity by `From`, so a private field can
//! only reach an export by being added here, where review sees it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Comment, Invite, InviteStatus, Request, RequestStatus, Timestamp, User, Username, Vouch,
};

/// The public part of a profile: no email, no role, no inviter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicUser {
    /// Unique per origin.
    pub username: Username,
    /// Shown name.
    pub display_name: String,
    /// About the member.
    pub bio: String,
    /// When the profile was created.
    pub created_at: Timestamp,
}

/// The public part of a request: all of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicRequest {
    /// The posting member.
    pub author_id: Uuid,
    /// One line.
    pub title: String,
    /// Free text.
    pub body: String,
    /// Open, fulfilled or closed.
    pub status: RequestStatus,
    /// When it was posted.
    pub created_at: Timestamp,
}

/// The public part of a comment: all of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicComment {
    /// The request commented on.
    pub request_id: Uuid,
    /// The commenting member.
    pub author_id: Uuid,
    /// Free text.
    pub body: String,
    /// When it was posted.
    pub created_at: Timestamp,
}

/// The public part of an invite: never its code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicInvite {
    /// The inviting member.
    pub inviter_id: Uuid,
    /// The new member, once accepted.
    pub invitee_id: Option<Uuid>,
    /// Pending, accepted or revoked.
    pub status: InviteStatus,
    /// When it was issued.
    pub created_at: Timestamp,
}

/// The public part of a vouch: all of it, including the signature that lets
/// any importer check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicVouch {
    /// The vouching member.
    pub voucher_id: Uuid,
    /// The member vouched for.
    pub subject_id: Uuid,
    /// The origin's signature over the vouch.
    pub signature: String,
    /// When the vouch was made.
    pub created_at: Timestamp,
}

impl From<&User> for PublicUser {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            bio: u.bio.clone(),
            created_at: u.created_at,
        }
    }
}

impl From<&Request> for PublicRequest {
    fn from(r: &Request) -> Self {
        Self {
            author_id: r.author_id,
            title: r.title.clone(),
            body: r.body.clone(),
            status: r.status,
            created_at: r.created_at,
        }
    }
}

impl From<&Comment> for PublicComment {
    fn from(c: &Comment) -> Self {
        Self {
            request_id: c.request_id,
            author_id: c.author_id,
            body: c.body.clone(),
            created_at: c.created_at,
        }
    }
}

impl From<&Invite> for PublicInvite {
    fn from(i: &Invite) -> Self {
        Self {
            inviter_id: i.inviter_id,
            invitee_id: i.invitee_id,
            status: i.status,
            created_at: i.created_at,
        }
    }
}

impl From<&Vouch> for PublicVouch {
    fn from(v: &Vouch) -> Self {
        Self {
            voucher_id: v.voucher_id,
            subject_id: v.subject_id,
            signature: v.signature.clone(),
            created_at: v.created_at,
        }
    }
}
