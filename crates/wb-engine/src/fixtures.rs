//! Loading a community from fixture files (`wb fixtures load DIR`,
//! `wb init --fixtures DIR`).
//!
//! A fixture directory holds `*.json` files, read in name order. Each file
//! is an object with any of the sections `users`, `requests`, `comments` and
//! `invites`; rows refer to each other by **username** and by a request
//! **key** local to the fixtures, never by id, so fixtures are easy to write
//! by hand and load into any instance with fresh ids. The format is
//! documented in `docs/fixtures.md`.
//!
//! Loading is all or nothing: every row is checked first, then all are
//! written in one transaction. Errors name the file and the field, e.g.
//! `fixtures/demo/community.json: requests[2].author: no user "zed"`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wb_model::{
    Comment, InviteStatus, Request, RequestStatus, Role, SyncScope, Timestamp, Username, Uuid,
    new_id,
};
use wb_store::Batch;

use crate::instance::{MAX_TEXT_BYTES, check_text, check_title};
use crate::{EngineError, Instance, NewUser, Result};

/// How many rows of each kind a load wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// Users created.
    pub users: usize,
    /// Requests created.
    pub requests: usize,
    /// Comments created.
    pub comments: usize,
    /// Invites created.
    pub invites: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(default)]
    users: Vec<FixtureUser>,
    #[serde(default)]
    requests: Vec<FixtureRequest>,
    #[serde(default)]
    comments: Vec<FixtureComment>,
    #[serde(default)]
    invites: Vec<FixtureInvite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureUser {
    username: Username,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    bio: String,
    email: Option<String>,
    #[serde(default = "member")]
    role: Role,
    invited_by: Option<String>,
    #[serde(default)]
    scope: SyncScope,
}

fn member() -> Role {
    Role::Member
}

fn open() -> RequestStatus {
    RequestStatus::Open
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureRequest {
    key: String,
    author: String,
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default = "open")]
    status: RequestStatus,
    #[serde(default)]
    scope: SyncScope,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureComment {
    request: String,
    author: String,
    body: String,
    #[serde(default)]
    scope: SyncScope,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureInvite {
    inviter: String,
    invitee: Option<String>,
    status: Option<InviteStatus>,
    #[serde(default)]
    scope: SyncScope,
}

/// Collects rows and resolves names while loading.
struct Loader<'a> {
    instance: &'a Instance,
    batch: Batch,
    users: HashMap<String, Uuid>,
    requests: HashMap<String, Uuid>,
    /// Each row gets its own microsecond, so listings keep fixture order.
    clock: Timestamp,
}

impl Loader<'_> {
    fn tick(&mut self) -> Timestamp {
        let now = self.clock;
        // Invariant: one microsecond later is always representable here.
        self.clock = Timestamp::from_unix_micros(now.unix_micros() + 1).unwrap_or(now);
        now
    }

    async fn user_id(&self, name: &str) -> std::result::Result<Uuid, String> {
        if let Some(id) = self.users.get(name) {
            return Ok(*id);
        }
        match self.instance.local_user(name).await {
            Ok(user) => Ok(user.id),
            Err(EngineError::UnknownUser { .. }) => Err(format!(
                "no user {name:?} in the fixtures or on this instance"
            )),
            Err(other) => Err(other.to_string()),
        }
    }

    async fn load_file(&mut self, path: &Path) -> Result<()> {
        let fail = |reason: String| EngineError::Fixture {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file: FixtureFile = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;

        for (i, u) in file.users.into_iter().enumerate() {
            let field = |f: &str| format!("users[{i}].{f}");
            if self.users.contains_key(u.username.as_str()) {
                return Err(fail(format!("{}: duplicate username", field("username"))));
            }
            let invited_by = match &u.invited_by {
                Some(name) => Some(
                    self.user_id(name)
                        .await
                        .map_err(|e| fail(format!("{}: {e}", field("invited_by"))))?,
                ),
                None => None,
            };
            let at = self.tick();
            let new = NewUser {
                username: u.username.clone(),
                display_name: u.display_name,
                bio: u.bio,
                email: u.email,
                role: u.role,
                invited_by: None,
            };
            let mut row = self
                .instance
                .new_user_row(new, at)
                .await
                .map_err(|e| fail(format!("users[{i}]: {e}")))?;
            row.invited_by = invited_by;
            row.scope = u.scope;
            self.users.insert(u.username.to_string(), row.id);
            self.batch.users.push(row);
        }

        for (i, r) in file.requests.into_iter().enumerate() {
            let author_id = self
                .user_id(&r.author)
                .await
                .map_err(|e| fail(format!("requests[{i}].author: {e}")))?;
            check_title(&r.title).map_err(|e| fail(format!("requests[{i}]: {e}")))?;
            check_text("body", &r.body, MAX_TEXT_BYTES)
                .map_err(|e| fail(format!("requests[{i}]: {e}")))?;
            if self.requests.contains_key(&r.key) {
                return Err(fail(format!(
                    "requests[{i}].key: duplicate key {:?}",
                    r.key
                )));
            }
            let at = self.tick();
            let row = Request {
                id: new_id(),
                origin: self.instance.name().clone(),
                author_id,
                title: r.title,
                body: r.body,
                status: r.status,
                scope: r.scope,
                created_at: at,
                updated_at: at,
            };
            self.requests.insert(r.key, row.id);
            self.batch.requests.push(row);
        }

        for (i, c) in file.comments.into_iter().enumerate() {
            let request_id = *self.requests.get(&c.request).ok_or_else(|| {
                fail(format!(
                    "comments[{i}].request: no request with key {:?} in the fixtures",
                    c.request
                ))
            })?;
            let author_id = self
                .user_id(&c.author)
                .await
                .map_err(|e| fail(format!("comments[{i}].author: {e}")))?;
            check_text("body", &c.body, MAX_TEXT_BYTES)
                .map_err(|e| fail(format!("comments[{i}]: {e}")))?;
            let at = self.tick();
            self.batch.comments.push(Comment {
                id: new_id(),
                origin: self.instance.name().clone(),
                request_id,
                author_id,
                body: c.body,
                scope: c.scope,
                created_at: at,
                updated_at: at,
            });
        }

        for (i, v) in file.invites.into_iter().enumerate() {
            let inviter_id = self
                .user_id(&v.inviter)
                .await
                .map_err(|e| fail(format!("invites[{i}].inviter: {e}")))?;
            let invitee_id = match &v.invitee {
                Some(name) => Some(
                    self.user_id(name)
                        .await
                        .map_err(|e| fail(format!("invites[{i}].invitee: {e}")))?,
                ),
                None => None,
            };
            let status = match (v.status, invitee_id) {
                (None | Some(InviteStatus::Accepted), Some(_)) => InviteStatus::Accepted,
                (None, None) => InviteStatus::Pending,
                (Some(s @ (InviteStatus::Pending | InviteStatus::Revoked)), None) => s,
                (Some(InviteStatus::Accepted), None) => {
                    return Err(fail(format!(
                        "invites[{i}].status: accepted needs an invitee"
                    )));
                }
                (Some(_), Some(_)) => {
                    return Err(fail(format!(
                        "invites[{i}].status: only accepted invites have an invitee"
                    )));
                }
            };
            let at = self.tick();
            let mut row = self
                .instance
                .new_invite_row(inviter_id, invitee_id, status, at);
            row.scope = v.scope;
            self.batch.invites.push(row);
        }
        Ok(())
    }
}

/// The `*.json` files of a fixture directory, in name order.
fn fixture_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let fail = |reason: String| EngineError::Fixture {
        path: dir.to_owned(),
        reason,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| fail(format!("cannot read directory: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| fail(e.to_string()))?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(fail("no *.json fixture files in this directory".into()));
    }
    Ok(files)
}

/// Loads every fixture file of `dir` into `instance` in one transaction.
pub async fn load(instance: &Instance, dir: &Path) -> Result<LoadSummary> {
    load_with_progress(instance, dir, &crate::sync::NoProgress).await
}

/// [`load`], reporting its progress: one step per fixture file read and
/// checked, then one for writing every row in one transaction.
pub async fn load_with_progress(
    instance: &Instance,
    dir: &Path,
    progress: &dyn crate::sync::Progress,
) -> Result<LoadSummary> {
    let mut loader = Loader {
        instance,
        batch: Batch::default(),
        users: HashMap::new(),
        requests: HashMap::new(),
        clock: Timestamp::now(),
    };
    let files = fixture_files(dir)?;
    progress.start("reading fixture files", files.len() as u64);
    for file in files {
        loader.load_file(&file).await?;
        progress.step();
    }
    progress.finish();
    let batch = loader.batch;
    let summary = LoadSummary {
        users: batch.users.len(),
        requests: batch.requests.len(),
        comments: batch.comments.len(),
        invites: batch.invites.len(),
    };
    progress.start("writing rows", 1);
    instance.store().insert_batch(&batch).await?;
    progress.step();
    progress.finish();
    Ok(summary)
}
