//! Rows to `.sync.txt` files and back, through the public projections of
//! `wb-model`: the only path by which a field can leave or enter.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wb_model::{
    Comment, InstanceName, Invite, PublicComment, PublicInvite, PublicRequest, PublicUser,
    PublicVouch, Request, Role, SyncScope, Timestamp, User, Uuid, Vouch,
};
use wb_syncfmt::{CURRENT_SCHEMA_VERSION, EntityKind, Scope, SyncFile};

/// Builds the file of one exported row.
pub(crate) fn to_file<P: Serialize>(
    entity: EntityKind,
    id: Uuid,
    origin: &InstanceName,
    updated_at: Timestamp,
    projection: &P,
) -> Result<SyncFile, String> {
    let body = match serde_json::to_value(projection).map_err(|e| e.to_string())? {
        Value::Object(map) => map,
        other => return Err(format!("projection is not a JSON object: {other}")),
    };
    Ok(SyncFile {
        entity,
        id: id.to_string(),
        instance: origin.to_string(),
        schema_version: CURRENT_SCHEMA_VERSION,
        sync_scope: Scope::Public,
        updated_at: updated_at.datetime(),
        body,
    })
}

/// A parsed file's public projection, or why its body does not fit.
fn projection<P: DeserializeOwned>(body: &Map<String, Value>) -> Result<P, String> {
    serde_json::from_value(Value::Object(body.clone())).map_err(|e| format!("body: {e}"))
}

/// The common columns of an imported row.
pub(crate) struct Common {
    pub id: Uuid,
    pub origin: InstanceName,
    pub updated_at: Timestamp,
}

pub(crate) fn common(file: &SyncFile) -> Result<Common, String> {
    let id = Uuid::parse_str(&file.id).map_err(|e| format!("ID: {e}"))?;
    let origin = InstanceName::parse(&file.instance).map_err(|e| format!("Instance: {e}"))?;
    let updated_at = Timestamp::from_datetime(file.updated_at);
    Ok(Common {
        id,
        origin,
        updated_at,
    })
}

pub(crate) fn user_from(file: &SyncFile) -> Result<User, String> {
    let c = common(file)?;
    let p: PublicUser = projection(&file.body)?;
    Ok(User {
        id: c.id,
        origin: c.origin,
        username: p.username,
        display_name: p.display_name,
        bio: p.bio,
        email: None,
        role: Role::Member,
        invited_by: None,
        scope: SyncScope::Public,
        created_at: p.created_at,
        updated_at: c.updated_at,
    })
}

pub(crate) fn request_from(file: &SyncFile) -> Result<Request, String> {
    let c = common(file)?;
    let p: PublicRequest = projection(&file.body)?;
    Ok(Request {
        id: c.id,
        origin: c.origin,
        author_id: p.author_id,
        title: p.title,
        body: p.body,
        status: p.status,
        scope: SyncScope::Public,
        created_at: p.created_at,
        updated_at: c.updated_at,
    })
}

pub(crate) fn comment_from(file: &SyncFile) -> Result<Comment, String> {
    let c = common(file)?;
    let p: PublicComment = projection(&file.body)?;
    Ok(Comment {
        id: c.id,
        origin: c.origin,
        request_id: p.request_id,
        author_id: p.author_id,
        body: p.body,
        scope: SyncScope::Public,
        created_at: p.created_at,
        updated_at: c.updated_at,
    })
}

pub(crate) fn invite_from(file: &SyncFile) -> Result<Invite, String> {
    let c = common(file)?;
    // Every key is required; `invitee_id` is the one field serde would
    // otherwise default (to null) when missing.
    if !file.body.contains_key("invitee_id") {
        return Err("body: missing field `invitee_id` (null until the invite is accepted)".into());
    }
    let p: PublicInvite = projection(&file.body)?;
    Ok(Invite {
        id: c.id,
        origin: c.origin,
        inviter_id: p.inviter_id,
        invitee_id: p.invitee_id,
        status: p.status,
        code: None,
        scope: SyncScope::Public,
        created_at: p.created_at,
        updated_at: c.updated_at,
    })
}

pub(crate) fn vouch_from(file: &SyncFile) -> Result<Vouch, String> {
    let c = common(file)?;
    let p: PublicVouch = projection(&file.body)?;
    Ok(Vouch {
        id: c.id,
        origin: c.origin,
        voucher_id: p.voucher_id,
        subject_id: p.subject_id,
        signature: p.signature,
        scope: SyncScope::Public,
        created_at: p.created_at,
        updated_at: c.updated_at,
    })
}
