//! Rows change and go away: edits, deletions and revocations of local rows,
//! under the permission rules of SPEC §1 (`wb_model::check_row_change`:
//! the owner or an admin; imported rows stay read-only).
//!
//! Each change moves the row's `updated_at` forward, so the next export
//! carries it as an update; a deletion makes the row disappear from the next
//! export, so every peer retracts it on import. The database's journal
//! (`export_changes`) notes both without help from here.
//!
//! Deleting what others still refer to is refused with what refers to it,
//! never cascaded silently across instances: a request's own comments of
//! this instance go with it, but a comment another instance published on it
//! keeps it (close the request instead); a user who wrote, invited or
//! vouched keeps their row (make the profile private instead).

use wb_model::{
    Actor, Comment, EntityKind, Invite, InviteStatus, Request, RequestStatus, Role, ScopeTarget,
    Timestamp, User, Uuid, check_row_change,
};
use wb_store::StoreError;

use crate::instance::{MAX_TEXT_BYTES, check_email, check_text, check_title};
use crate::{EngineError, Instance, Result};

/// The changes to a member's profile; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserEdit {
    /// New display name (empty: the username).
    pub display_name: Option<String>,
    /// New bio.
    pub bio: Option<String>,
    /// New private email; `Some(None)` removes it.
    pub email: Option<Option<String>>,
    /// New role (admins only).
    pub role: Option<Role>,
}

/// The changes to a request; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestEdit {
    /// New title (one line).
    pub title: Option<String>,
    /// New body.
    pub body: Option<String>,
    /// New status.
    pub status: Option<RequestStatus>,
}

/// What a deletion removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The row asked for.
    pub kind: EntityKind,
    /// Its id.
    pub id: Uuid,
    /// Comments of this instance removed with a request.
    pub comments: usize,
}

impl Instance {
    /// Checks that the local member `actor` may `action` the row `kind`/`id`.
    async fn allowed(
        &self,
        kind: EntityKind,
        id: Uuid,
        actor: &str,
        action: &'static str,
    ) -> Result<User> {
        let actor = self.local_user(actor).await?;
        let target: ScopeTarget = self.scope_target(kind, id).await?;
        let as_actor = Actor {
            user_id: actor.id,
            role: actor.role,
            origin: actor.origin.clone(),
        };
        check_row_change(self.name(), &as_actor, &target, action)?;
        Ok(actor)
    }

    /// Edits the local member `username`'s profile on behalf of `actor`:
    /// the member themself or an admin; only an admin changes a role.
    /// Unchanged values leave the row (and its export) untouched.
    pub async fn edit_user(&self, username: &str, actor: &str, edit: UserEdit) -> Result<User> {
        let target = self.local_user(username).await?;
        let acting = self
            .allowed(EntityKind::User, target.id, actor, "edit")
            .await?;
        if edit.role.is_some_and(|role| role != target.role) && acting.role != Role::Admin {
            return Err(wb_model::ChangeDenied::AdminOnly {
                action: "change a member's role",
            }
            .into());
        }
        let mut user = target.clone();
        if let Some(display_name) = edit.display_name {
            check_text("display name", &display_name, 200)?;
            let trimmed = display_name.trim();
            user.display_name = if trimmed.is_empty() {
                user.username.to_string()
            } else {
                trimmed.to_owned()
            };
        }
        if let Some(bio) = edit.bio {
            check_text("bio", &bio, MAX_TEXT_BYTES)?;
            user.bio = bio;
        }
        if let Some(email) = edit.email {
            if let Some(email) = &email {
                check_email(email)?;
            }
            user.email = email;
        }
        if let Some(role) = edit.role {
            user.role = role;
        }
        if user == target {
            return Ok(target);
        }
        let now = Timestamp::now();
        self.store().update_user(&user, now).await?;
        Ok(self.store().user(user.id).await?.unwrap_or(user))
    }

    /// Deletes the local member `username` on behalf of `actor` (the member
    /// themself or an admin) — only when no row refers to them: a member who
    /// wrote, invited, was invited through an invite, vouched or was vouched
    /// for keeps their row, and the refusal says what refers to it and to
    /// make the profile private instead.
    pub async fn delete_user(&self, username: &str, actor: &str) -> Result<Deleted> {
        let target = self.local_user(username).await?;
        self.allowed(EntityKind::User, target.id, actor, "delete")
            .await?;
        let refs = self
            .store()
            .references_to(EntityKind::User, target.id)
            .await?;
        if !refs.is_empty() {
            let mut what = Vec::new();
            for (n, one, many) in [
                (refs.requests, "request", "requests"),
                (refs.comments, "comment", "comments"),
                (refs.invites, "invite", "invites"),
                (refs.vouches, "vouch", "vouches"),
                (refs.invited_users, "invited member", "invited members"),
            ] {
                if n > 0 {
                    what.push(format!("{n} {}", if n == 1 { one } else { many }));
                }
            }
            return Err(EngineError::Denied {
                rule: "still-referenced",
                reason: format!(
                    "@{} still has {}; a member with content is not deleted — hide the \
                     profile instead (`wb scope set user {} private --as {actor}`)",
                    target.username,
                    what.join(", "),
                    target.username
                ),
            });
        }
        self.store()
            .delete_rows(&[(EntityKind::User, target.id)])
            .await?;
        Ok(Deleted {
            kind: EntityKind::User,
            id: target.id,
            comments: 0,
        })
    }

    /// Edits a local request on behalf of `actor` (its author or an admin).
    pub async fn edit_request(&self, id: Uuid, actor: &str, edit: RequestEdit) -> Result<Request> {
        self.allowed(EntityKind::Request, id, actor, "edit").await?;
        let target = self
            .store()
            .request(id)
            .await?
            .ok_or(EngineError::UnknownRow {
                kind: EntityKind::Request,
                id: id.to_string(),
            })?;
        let mut request = target.clone();
        if let Some(title) = edit.title {
            check_title(&title)?;
            request.title = title.trim().to_owned();
        }
        if let Some(body) = edit.body {
            check_text("body", &body, MAX_TEXT_BYTES)?;
            request.body = body;
        }
        if let Some(status) = edit.status {
            request.status = status;
        }
        if request == target {
            return Ok(target);
        }
        self.store()
            .update_request(&request, Timestamp::now())
            .await?;
        Ok(self.store().request(id).await?.unwrap_or(request))
    }

    /// Deletes a local request on behalf of `actor` (its author or an admin),
    /// with this instance's comments on it, in one transaction. Refused
    /// while another instance's comment refers to it: those are not ours to
    /// delete (close the request instead).
    pub async fn delete_request(&self, id: Uuid, actor: &str) -> Result<Deleted> {
        self.allowed(EntityKind::Request, id, actor, "delete")
            .await?;
        let comments: Vec<Comment> = self.store().comments_of(id).await?;
        let foreign = comments.iter().filter(|c| c.origin != *self.name()).count();
        if foreign > 0 {
            return Err(EngineError::Denied {
                rule: "still-referenced",
                reason: format!(
                    "{foreign} comment(s) from other instances refer to request {id}; it cannot \
                     be deleted, close it instead (`wb request edit {id} --status closed --as \
                     {actor}`)"
                ),
            });
        }
        let mut rows: Vec<(EntityKind, Uuid)> = comments
            .iter()
            .map(|c| (EntityKind::Comment, c.id))
            .collect();
        rows.push((EntityKind::Request, id));
        self.store().delete_rows(&rows).await?;
        Ok(Deleted {
            kind: EntityKind::Request,
            id,
            comments: comments.len(),
        })
    }

    /// Edits a local comment's body on behalf of `actor` (its author or an
    /// admin).
    pub async fn edit_comment(&self, id: Uuid, actor: &str, body: &str) -> Result<Comment> {
        self.allowed(EntityKind::Comment, id, actor, "edit").await?;
        check_text("body", body, MAX_TEXT_BYTES)?;
        let target = self
            .store()
            .comment(id)
            .await?
            .ok_or(EngineError::UnknownRow {
                kind: EntityKind::Comment,
                id: id.to_string(),
            })?;
        if target.body == body {
            return Ok(target);
        }
        self.store()
            .update_comment(id, body, Timestamp::now())
            .await?;
        Ok(self.store().comment(id).await?.unwrap_or(target))
    }

    /// Deletes a local comment on behalf of `actor` (its author or an admin).
    pub async fn delete_comment(&self, id: Uuid, actor: &str) -> Result<Deleted> {
        self.allowed(EntityKind::Comment, id, actor, "delete")
            .await?;
        self.store()
            .delete_rows(&[(EntityKind::Comment, id)])
            .await?;
        Ok(Deleted {
            kind: EntityKind::Comment,
            id,
            comments: 0,
        })
    }

    /// Revokes a pending local invite on behalf of `actor` (its inviter or
    /// an admin): its code stops working, and its status travels. An
    /// accepted invite cannot be revoked (the member exists); revoking a
    /// revoked invite changes nothing.
    pub async fn revoke_invite(&self, id: Uuid, actor: &str) -> Result<Invite> {
        self.allowed(EntityKind::Invite, id, actor, "revoke")
            .await?;
        let invite = self
            .store()
            .invite(id)
            .await?
            .ok_or(EngineError::UnknownRow {
                kind: EntityKind::Invite,
                id: id.to_string(),
            })?;
        match invite.status {
            InviteStatus::Revoked => return Ok(invite),
            InviteStatus::Accepted => {
                return Err(EngineError::Denied {
                    rule: "invite-accepted",
                    reason: format!(
                        "invite {id} was accepted already; the member it brought in stays"
                    ),
                });
            }
            InviteStatus::Pending => {}
        }
        match self.store().revoke_invite(id, Timestamp::now()).await {
            // Accepted or revoked in the meantime: report what it is now.
            Err(StoreError::NotFound { .. }) | Ok(()) => {}
            Err(other) => return Err(other.into()),
        }
        Ok(self.store().invite(id).await?.unwrap_or(invite))
    }
}
