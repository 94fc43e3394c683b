//! Rows and records shared by the store's tests of the export (each test
//! file uses some of them).

#![allow(dead_code, reason = "each test file uses part of this module")]

use wb_model::{
    Comment, InstanceName, Invite, InviteStatus, Request, RequestStatus, Role, SyncScope,
    Timestamp, User, Username, Vouch, new_id,
};
use wb_store::RenderedFile;

pub fn alpha() -> InstanceName {
    InstanceName::parse("alpha.example").unwrap()
}

pub fn beta() -> InstanceName {
    InstanceName::parse("beta.example").unwrap()
}

pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000 + seconds * 1_000_000).unwrap()
}

pub fn user(name: &str, origin: InstanceName, scope: SyncScope, updated_at: Timestamp) -> User {
    User {
        id: new_id(),
        origin,
        username: Username::parse(name).unwrap(),
        display_name: format!("{name} display"),
        bio: String::new(),
        email: None,
        role: Role::Member,
        invited_by: None,
        scope,
        created_at: at(1),
        updated_at,
    }
}

pub fn request(
    author: &User,
    origin: InstanceName,
    scope: SyncScope,
    updated_at: Timestamp,
) -> Request {
    Request {
        id: new_id(),
        origin,
        author_id: author.id,
        title: "Need a ladder".into(),
        body: "Two metres, for Saturday.\nThanks!".into(),
        status: RequestStatus::Open,
        scope,
        created_at: at(2),
        updated_at,
    }
}

pub fn comment(
    request: &Request,
    author: &User,
    origin: InstanceName,
    scope: SyncScope,
    updated_at: Timestamp,
) -> Comment {
    Comment {
        id: new_id(),
        origin,
        request_id: request.id,
        author_id: author.id,
        body: "I have one — with spaces\nand a newline".into(),
        scope,
        created_at: at(3),
        updated_at,
    }
}

pub fn invite(
    inviter: &User,
    invitee: Option<&User>,
    origin: InstanceName,
    scope: SyncScope,
    updated_at: Timestamp,
) -> Invite {
    Invite {
        id: new_id(),
        origin,
        inviter_id: inviter.id,
        invitee_id: invitee.map(|u| u.id),
        status: if invitee.is_some() {
            InviteStatus::Accepted
        } else {
            InviteStatus::Pending
        },
        code: invitee
            .is_none()
            .then(|| format!("code-{}", new_id().simple())),
        scope,
        created_at: at(4),
        updated_at,
    }
}

pub fn vouch(
    voucher: &User,
    subject: &User,
    origin: InstanceName,
    scope: SyncScope,
    updated_at: Timestamp,
) -> Vouch {
    Vouch {
        id: new_id(),
        origin,
        voucher_id: voucher.id,
        subject_id: subject.id,
        signature: "c2ln".into(),
        scope,
        created_at: at(5),
        updated_at,
    }
}

/// A distinct, well-formed record for test number `n`.
pub fn file(n: u64, updated_at: Timestamp) -> RenderedFile {
    RenderedFile {
        updated_at,
        length: n * 1_000_003,
        sha256: format!("{n:064x}"),
    }
}
