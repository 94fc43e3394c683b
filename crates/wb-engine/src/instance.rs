//! An initialised instance and the operations on its rows.

use wb_model::{
    Actor, Comment, EffectiveScope, EntityKind, InstanceName, Invite, InviteStatus, Request,
    RequestStatus, Role, ScopeTarget, SyncScope, Timestamp, User, Username, Uuid,
    check_scope_change, new_id,
};
use wb_store::Store;

use crate::{EngineError, Result, ScopeResolver};

/// Longest title accepted, in characters.
const MAX_TITLE_CHARS: usize = 200;
/// Longest free-text field accepted, in bytes (keeps sync files small).
pub(crate) const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A database that `wb init` has named: the handle every operation goes
/// through.
#[derive(Clone, Debug)]
pub struct Instance {
    store: Store,
    name: InstanceName,
}

/// The fields of a new member.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Unique on this instance.
    pub username: Username,
    /// Defaults to the username when empty.
    pub display_name: String,
    /// Free text.
    pub bio: String,
    /// Private contact address.
    pub email: Option<String>,
    /// Member, moderator or admin.
    pub role: Role,
    /// The local member who invited them, if any.
    pub invited_by: Option<Username>,
}

/// The outcome of a scope toggle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeChange {
    /// The own scope before.
    pub before: SyncScope,
    /// The own scope now.
    pub after: SyncScope,
    /// The effective scope now.
    pub effective: EffectiveScope,
}

/// A row's own and effective scope, for `wb scope show` and the admin UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeReport {
    /// Its kind.
    pub kind: EntityKind,
    /// Its id.
    pub id: Uuid,
    /// Where it was created.
    pub origin: InstanceName,
    /// Its own flag.
    pub own: SyncScope,
    /// Whether it leaves the instance, and why not.
    pub effective: EffectiveScope,
}

pub(crate) fn check_text(field: &'static str, value: &str, max_bytes: usize) -> Result<()> {
    if value.len() > max_bytes {
        return Err(EngineError::InvalidField {
            field,
            reason: format!(
                "{} bytes is more than the limit of {max_bytes}",
                value.len()
            ),
        });
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(EngineError::InvalidField {
            field,
            reason: "control characters other than newline and tab are not allowed".into(),
        });
    }
    Ok(())
}

/// An email address: something like name@example.org, one line, no spaces.
pub(crate) fn check_email(email: &str) -> Result<()> {
    if !email.contains('@') || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EngineError::InvalidField {
            field: "email",
            reason: "expected an address like name@example.org".into(),
        });
    }
    check_text("email", email, 254)
}

pub(crate) fn check_title(title: &str) -> Result<()> {
    let trimmed = title.trim();
    if trimmed.is_empty() || title.contains('\n') || trimmed.chars().count() > MAX_TITLE_CHARS {
        return Err(EngineError::InvalidField {
            field: "title",
            reason: format!("use one non-empty line of at most {MAX_TITLE_CHARS} characters"),
        });
    }
    check_text("title", title, MAX_TEXT_BYTES)
}

impl Instance {
    /// Migrates `store` and names it `name` — or, if it is already named
    /// `name`, just migrates it. Renaming is refused.
    pub async fn init(store: Store, name: InstanceName) -> Result<Self> {
        store.migrate().await?;
        match store.instance_name().await? {
            Some(existing) if existing != name => Err(EngineError::AlreadyInitialised {
                existing,
                requested: name,
            }),
            Some(_) => Ok(Self { store, name }),
            None => {
                store.set_instance_name(&name).await?;
                Ok(Self { store, name })
            }
        }
    }

    /// Opens an initialised instance.
    pub async fn open(store: Store) -> Result<Self> {
        store.migrate().await?;
        let name = store
            .instance_name()
            .await?
            .ok_or(EngineError::NotInitialised)?;
        Ok(Self { store, name })
    }

    /// The instance's name.
    pub fn name(&self) -> &InstanceName {
        &self.name
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A resolver of effective scopes for this instance.
    pub fn resolver(&self) -> ScopeResolver<'_> {
        ScopeResolver::new(&self.store, &self.name)
    }

    /// The local user with this username.
    pub async fn local_user(&self, username: &str) -> Result<User> {
        let unknown = || EngineError::UnknownUser {
            username: username.to_owned(),
        };
        let parsed = Username::parse(username).map_err(|_| unknown())?;
        self.store
            .user_by_username(&self.name, &parsed)
            .await?
            .ok_or_else(unknown)
    }

    /// Builds a new local user row (private, as every new row).
    pub(crate) async fn new_user_row(&self, new: NewUser, at: Timestamp) -> Result<User> {
        check_text("display name", &new.display_name, 200)?;
        check_text("bio", &new.bio, MAX_TEXT_BYTES)?;
        if let Some(email) = &new.email {
            check_email(email)?;
        }
        if self
            .store
            .user_by_username(&self.name, &new.username)
            .await?
            .is_some()
        {
            return Err(EngineError::UserExists {
                username: new.username.to_string(),
            });
        }
        let invited_by = match &new.invited_by {
            Some(name) => Some(self.local_user(name.as_str()).await?.id),
            None => None,
        };
        let display_name = if new.display_name.trim().is_empty() {
            new.username.to_string()
        } else {
            new.display_name
        };
        Ok(User {
            id: new_id(),
            origin: self.name.clone(),
            username: new.username,
            display_name,
            bio: new.bio,
            email: new.email,
            role: new.role,
            invited_by,
            scope: SyncScope::Private,
            created_at: at,
            updated_at: at,
        })
    }

    /// Adds a local member.
    pub async fn add_user(&self, new: NewUser) -> Result<User> {
        let user = self.new_user_row(new, Timestamp::now()).await?;
        self.store.insert_user(&user).await?;
        Ok(user)
    }

    /// Posts a request as the local member `author`.
    pub async fn add_request(&self, author: &str, title: &str, body: &str) -> Result<Request> {
        check_title(title)?;
        check_text("body", body, MAX_TEXT_BYTES)?;
        let author = self.local_user(author).await?;
        let now = Timestamp::now();
        let request = Request {
            id: new_id(),
            origin: self.name.clone(),
            author_id: author.id,
            title: title.trim().to_owned(),
            body: body.to_owned(),
            status: RequestStatus::Open,
            scope: SyncScope::Private,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_request(&request).await?;
        Ok(request)
    }

    /// Comments on a request (local or imported) as the local member `author`.
    pub async fn add_comment(&self, author: &str, request_id: Uuid, body: &str) -> Result<Comment> {
        if body.trim().is_empty() {
            return Err(EngineError::InvalidField {
                field: "body",
                reason: "is empty".into(),
            });
        }
        check_text("body", body, MAX_TEXT_BYTES)?;
        let author = self.local_user(author).await?;
        if self.store.request(request_id).await?.is_none() {
            return Err(EngineError::UnknownRow {
                kind: EntityKind::Request,
                id: request_id.to_string(),
            });
        }
        let now = Timestamp::now();
        let comment = Comment {
            id: new_id(),
            origin: self.name.clone(),
            request_id,
            author_id: author.id,
            body: body.to_owned(),
            scope: SyncScope::Private,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_comment(&comment).await?;
        Ok(comment)
    }

    /// Issues an invite from the local member `inviter`. The code is in the
    /// returned invite and is shown only to the operator.
    pub async fn add_invite(&self, inviter: &str) -> Result<Invite> {
        let inviter = self.local_user(inviter).await?;
        let invite = self.new_invite_row(inviter.id, None, InviteStatus::Pending, Timestamp::now());
        self.store.insert_invite(&invite).await?;
        Ok(invite)
    }

    pub(crate) fn new_invite_row(
        &self,
        inviter_id: Uuid,
        invitee_id: Option<Uuid>,
        status: InviteStatus,
        at: Timestamp,
    ) -> Invite {
        Invite {
            id: new_id(),
            origin: self.name.clone(),
            inviter_id,
            invitee_id,
            status,
            // 122 random bits from the OS, as 32 hex digits.
            code: Some(Uuid::new_v4().simple().to_string()),
            scope: SyncScope::Private,
            created_at: at,
            updated_at: at,
        }
    }

    /// Accepts a pending invite: creates the member `username`, invited by
    /// the inviter, and marks the invite accepted — together or not at all.
    pub async fn accept_invite(&self, code: &str, username: Username) -> Result<User> {
        let invite = self
            .store
            .invite_by_code(code.trim())
            .await?
            .filter(|i| i.status == InviteStatus::Pending && i.origin == self.name)
            .ok_or(EngineError::UnknownInviteCode)?;
        let now = Timestamp::now();
        let mut user = self
            .new_user_row(
                NewUser {
                    username,
                    display_name: String::new(),
                    bio: String::new(),
                    email: None,
                    role: Role::Member,
                    invited_by: None,
                },
                now,
            )
            .await?;
        user.invited_by = Some(invite.inviter_id);
        self.store.accept_invite(invite.id, &user).await?;
        Ok(user)
    }

    /// Edits a local profile's display name and bio on behalf of `actor`:
    /// the user themself or an admin (rule `profile-owner-or-admin`).
    /// Unchanged values leave the row (and its export) untouched.
    pub async fn update_profile(
        &self,
        username: &str,
        actor: &str,
        display_name: &str,
        bio: &str,
    ) -> Result<User> {
        let target = self.local_user(username).await?;
        let actor = self.local_user(actor).await?;
        if actor.id != target.id && actor.role != Role::Admin {
            return Err(EngineError::Denied {
                rule: "profile-owner-or-admin",
                reason: "only the user themself or an admin may edit a profile".into(),
            });
        }
        check_text("display name", display_name, 200)?;
        check_text("bio", bio, MAX_TEXT_BYTES)?;
        let display_name = display_name.trim();
        let display_name = if display_name.is_empty() {
            target.username.as_str()
        } else {
            display_name
        };
        if display_name == target.display_name && bio == target.bio {
            return Ok(target);
        }
        let now = Timestamp::now();
        self.store
            .update_profile(target.id, display_name, bio, now)
            .await?;
        Ok(User {
            display_name: display_name.to_owned(),
            bio: bio.to_owned(),
            updated_at: now,
            ..target
        })
    }

    /// The owner of a row in the sense of the permission rules, and its origin.
    pub(crate) async fn scope_target(&self, kind: EntityKind, id: Uuid) -> Result<ScopeTarget> {
        let missing = || EngineError::UnknownRow {
            kind,
            id: id.to_string(),
        };
        let (owner_id, origin) = match kind {
            EntityKind::User => {
                let u = self.store.user(id).await?.ok_or_else(missing)?;
                (u.id, u.origin)
            }
            EntityKind::Request => {
                let r = self.store.request(id).await?.ok_or_else(missing)?;
                (r.author_id, r.origin)
            }
            EntityKind::Comment => {
                let c = self.store.comment(id).await?.ok_or_else(missing)?;
                (c.author_id, c.origin)
            }
            EntityKind::Invite => {
                let i = self.store.invite(id).await?.ok_or_else(missing)?;
                (i.inviter_id, i.origin)
            }
            EntityKind::Vouch => {
                let v = self.store.vouch(id).await?.ok_or_else(missing)?;
                (v.voucher_id, v.origin)
            }
        };
        Ok(ScopeTarget {
            kind,
            id,
            owner_id,
            origin,
        })
    }

    /// Sets a row's own scope on behalf of the local member `actor`, if the
    /// permission rules allow it; a denial changes nothing and names the rule.
    pub async fn set_scope(
        &self,
        kind: EntityKind,
        id: Uuid,
        to: SyncScope,
        actor: &str,
    ) -> Result<ScopeChange> {
        let actor = self.local_user(actor).await?;
        let target = self.scope_target(kind, id).await?;
        let actor = Actor {
            user_id: actor.id,
            role: actor.role,
            origin: actor.origin,
        };
        check_scope_change(&self.name, &actor, &target, to)?;
        let (before, _) = self.resolver().scopes(kind, id).await?;
        if before != to {
            self.store.set_scope(kind, id, to, Timestamp::now()).await?;
        }
        let effective = self.resolver().effective(kind, id).await?;
        Ok(ScopeChange {
            before,
            after: to,
            effective,
        })
    }

    /// A row's own and effective scope.
    pub async fn scope_report(&self, kind: EntityKind, id: Uuid) -> Result<ScopeReport> {
        let target = self.scope_target(kind, id).await?;
        let (own, effective) = self.resolver().scopes(kind, id).await?;
        Ok(ScopeReport {
            kind,
            id,
            origin: target.origin,
            own,
            effective,
        })
    }
}
