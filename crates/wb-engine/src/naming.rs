//! Names, not UUIDs: how operators name rows on the command line, and how
//! messages name rows back to them.
//!
//! A row is named by its full id, by a unique prefix of it (git-style; an
//! ambiguous prefix lists the candidates), and a user also by `name` (a
//! local member) or `name@origin` (any member, imported ones included).
//! Messages call users `@name` (`@name@origin` when imported) and requests
//! by their title.

use wb_model::{EntityKind, HoldReason, InstanceName, Username, Uuid};

use crate::{EngineError, Instance, Result};

/// The shortest id prefix accepted: fewer characters match too much.
pub const MIN_PREFIX: usize = 4;
/// How many candidates an ambiguous prefix lists.
const CANDIDATES: u32 = 5;

impl Instance {
    /// The row of `kind` that `text` names: its id, a unique prefix of its
    /// id of at least [`MIN_PREFIX`] characters, or for a user `name` (a
    /// local member) or `name@origin`.
    pub async fn resolve(&self, kind: EntityKind, text: &str) -> Result<Uuid> {
        let text = text.trim();
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(id);
        }
        if kind == EntityKind::User
            && let Ok(id) = self.resolve_user(text).await
        {
            return Ok(id);
        }
        let lower = text.to_ascii_lowercase();
        let is_prefix =
            lower.len() >= MIN_PREFIX && lower.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if kind == EntityKind::User && !is_prefix {
            return self.resolve_user(text).await;
        }
        if !is_prefix {
            return Err(EngineError::UnknownRow {
                kind,
                id: format!(
                    "{text} (give an id, or at least {MIN_PREFIX} of its first characters)"
                ),
            });
        }
        let found = self
            .store()
            .ids_with_prefix(kind, &lower, CANDIDATES + 1)
            .await?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] if kind == EntityKind::User => self.resolve_user(text).await,
            [] => Err(EngineError::UnknownRow {
                kind,
                id: text.to_owned(),
            }),
            many => {
                let mut candidates = Vec::new();
                for id in many.iter().take(CANDIDATES as usize) {
                    candidates.push(format!("{id} ({})", self.describe(kind, *id).await?));
                }
                if many.len() > CANDIDATES as usize {
                    candidates.push("…".to_owned());
                }
                Err(EngineError::AmbiguousId {
                    kind,
                    prefix: text.to_owned(),
                    candidates,
                })
            }
        }
    }

    /// A user named `name` (local) or `name@origin`.
    async fn resolve_user(&self, text: &str) -> Result<Uuid> {
        let unknown = || EngineError::UnknownUser {
            username: text.to_owned(),
        };
        let (name, origin) = match text.split_once('@') {
            Some((name, origin)) => (name, InstanceName::parse(origin).map_err(|_| unknown())?),
            None => (text, self.name().clone()),
        };
        let name = name.strip_prefix('@').unwrap_or(name);
        let username = Username::parse(name).map_err(|_| unknown())?;
        Ok(self
            .store()
            .user_by_username(&origin, &username)
            .await?
            .ok_or_else(unknown)?
            .id)
    }

    /// How people call a row: `@ada`, `@bea@beta.example`, `request
    /// "Borrow a ladder"`, `comment 0193abcd` (comments, invites and vouches
    /// have no name: the start of their id). A row that is gone is called
    /// by its id.
    pub async fn describe(&self, kind: EntityKind, id: Uuid) -> Result<String> {
        let short = || {
            let text = id.to_string();
            format!("{kind} {}", &text[..8])
        };
        Ok(match kind {
            EntityKind::User => match self.store().user(id).await? {
                Some(user) if user.origin == *self.name() => format!("@{}", user.username),
                Some(user) => format!("@{}@{}", user.username, user.origin),
                None => short(),
            },
            EntityKind::Request => match self.store().request(id).await? {
                Some(request) => format!("request {:?}", request.title),
                None => short(),
            },
            EntityKind::Comment | EntityKind::Invite | EntityKind::Vouch => short(),
        })
    }

    /// A held-back reason in words: `its author @chloe is private`, `its
    /// request "Borrow a ladder" is itself held back`.
    pub async fn describe_hold(&self, reason: &HoldReason) -> Result<String> {
        let named = self
            .describe(reason.relation.target_kind(), reason.id)
            .await?;
        // `describe` calls a request `request "…"`: after "its request",
        // once is enough.
        let relation = reason.relation.as_str();
        let named = named
            .strip_prefix(relation)
            .and_then(|rest| rest.strip_prefix(' '))
            .map_or(named.clone(), str::to_owned);
        let what = if reason.referenced_is_private {
            "private"
        } else {
            "itself held back"
        };
        Ok(format!("its {relation} {named} is {what}"))
    }
}
