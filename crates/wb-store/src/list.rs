//! Lists that scale: one page of rows of a kind, filtered in SQL and paged
//! by key (`WHERE id > $cursor ORDER BY id LIMIT n + 1`), with the total
//! count of rows that match (see [`crate::Store::list_users`] and its
//! siblings).
//!
//! Each combination of filters is its own statement (`backend/lists.rs`, compiled
//! once per backend), with only the predicates in use, so that the planner
//! can use the indexes of migration 0008; counts stop at [`COUNT_CAP`].
//!
//! The effective-scope filter ([`Exported`]) is evaluated by the database:
//! each kind's query carries the rule of `wb_model::effective_scope` as a
//! SQL predicate over the row's own scope, its origin and the own scopes of
//! the rows it references (two levels at most: a comment's request's
//! author). `wb-engine`'s tests check that this predicate and the model's
//! rule agree on every row of a mixed instance; the badges themselves are
//! still computed by the model, for the rows of the page only.

use wb_model::{EntityKind, InstanceName, SyncScope, Timestamp, Uuid};

use crate::{Pool, Result, Store, StoreError};

/// Rows per page unless asked otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most rows one page may hold.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The most rows a list counts: past it, [`ListPage::total_capped`] is set
/// and pages say "1,000+" (counting every match of a filter on a large
/// instance would cost more than the page itself: the held-back predicate
/// is evaluated on each row counted).
pub const COUNT_CAP: u64 = 1_000;

/// Whether a row leaves the instance, as a list filter sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exported {
    /// Effective scope public: the row is exported.
    Shared,
    /// Own scope public, but a row it references is not exported, so it is
    /// held back.
    HeldBack,
}

impl Exported {
    /// The word used in URLs and in SQL: `shared` or `held`.
    pub fn as_str(self) -> &'static str {
        match self {
            Exported::Shared => "shared",
            Exported::HeldBack => "held",
        }
    }
}

impl std::str::FromStr for Exported {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "shared" => Ok(Exported::Shared),
            "held" => Ok(Exported::HeldBack),
            other => Err(format!(
                "unknown effective scope filter {other:?} (expected shared or held)"
            )),
        }
    }
}

/// Which rows a list shows; every field left `None` lets every row through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only rows whose own scope is this.
    pub own: Option<SyncScope>,
    /// Only rows exported, or only rows held back.
    pub exported: Option<Exported>,
    /// Only rows created on this instance (the local one or a peer).
    pub origin: Option<InstanceName>,
    /// Only rows whose text contains this, ignoring ASCII case: a user's
    /// username or display name; a request's title or its author's
    /// username; a comment's body or its author's username; an invite's
    /// inviter's or invitee's username; a vouch's voucher's or subject's
    /// username. Empty counts as `None`.
    pub text: Option<String>,
}

/// Where a page starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cursor {
    /// The first page.
    #[default]
    First,
    /// The rows after this id (the "next" link: the last id shown).
    After(Uuid),
    /// The rows before this id (the "previous" link: the first id shown).
    Before(Uuid),
    /// The rows from this id on, itself included (a link to the page that
    /// shows a given row first).
    At(Uuid),
}

/// One page of a list, in id order (ids are UUIDv7, so roughly creation
/// order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage<T> {
    /// The rows of the page, at most the page size.
    pub rows: Vec<T>,
    /// How many rows match the filter, on every page, at most
    /// [`COUNT_CAP`].
    pub total: u64,
    /// Whether more than [`COUNT_CAP`] rows match (`total` is the cap).
    pub total_capped: bool,
    /// Whether rows come after this page (link to `Cursor::After(last)`).
    pub has_next: bool,
    /// Whether rows come before this page (link to `Cursor::Before(first)`).
    pub has_previous: bool,
}

impl ListFilter {
    /// The text filter as a lowercase `LIKE` pattern (`%` and `_` and the
    /// escape character `\` escaped), or `None` when there is no text.
    pub(crate) fn like_pattern(&self) -> Option<String> {
        let text = self
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())?;
        let mut pattern = String::with_capacity(text.len() + 2);
        pattern.push('%');
        for c in text.to_ascii_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Some(pattern)
    }
}

/// Which way a sync run went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncRunKind {
    /// `wb sync push`: this instance's bundle sent to a hub.
    Push,
    /// `wb sync pull`: peers' bundles fetched from their hubs.
    Pull,
}

impl SyncRunKind {
    fn meta_key(self) -> &'static str {
        match self {
            SyncRunKind::Push => "last_push",
            SyncRunKind::Pull => "last_pull",
        }
    }
}

/// The outcome of the last `wb sync push` or `wb sync pull`, as the status
/// page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRun {
    /// Push or pull.
    pub kind: SyncRunKind,
    /// When it ended.
    pub at: Timestamp,
    /// The sequence pushed, or the highest sequence pulled; `None` when it
    /// got none that far.
    pub sequence: Option<u64>,
    /// Whether it succeeded (for a pull: from every peer).
    pub ok: bool,
    /// One line saying what happened or what failed.
    pub summary: String,
}

impl SyncRun {
    fn to_meta(&self) -> String {
        serde_json::json!({
            "at": self.at.unix_micros(),
            "sequence": self.sequence,
            "ok": self.ok,
            "summary": self.summary,
        })
        .to_string()
    }

    fn from_meta(kind: SyncRunKind, text: &str) -> Result<Self> {
        let corrupt = |detail: String| StoreError::Corrupt {
            what: "sync run record",
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        let at = value["at"]
            .as_i64()
            .ok_or_else(|| corrupt("no time".into()))?;
        Ok(Self {
            kind,
            at: Timestamp::from_unix_micros(at).map_err(|e| corrupt(e.to_string()))?,
            sequence: value["sequence"].as_u64(),
            ok: value["ok"].as_bool().unwrap_or(false),
            summary: value["summary"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

impl Store {
    /// One page of the comments on request `request_id`, in id order (no
    /// filters), with how many it has.
    pub async fn list_comments_of(
        &self,
        request_id: Uuid,
        cursor: Cursor,
        size: u32,
    ) -> Result<ListPage<wb_model::Comment>> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                crate::sqlite::queries::list_comments_of(pool, request_id, cursor, size).await
            }
            Pool::Postgres(pool) => {
                crate::postgres::queries::list_comments_of(pool, request_id, cursor, size).await
            }
        }
    }

    /// How many changes wait in the export journal (rows changed since the
    /// last export), counted up to [`COUNT_CAP`] (`COUNT_CAP + 1`: more).
    pub async fn pending_changes(&self) -> Result<u64> {
        match &self.pool {
            Pool::Sqlite(pool) => crate::sqlite::queries::pending_changes(pool).await,
            Pool::Postgres(pool) => crate::postgres::queries::pending_changes(pool).await,
        }
    }

    /// The statements a list of `kind` runs for `filter` (the page and the
    /// count), as text: each combination of filters is one statement.
    pub fn list_statements(
        &self,
        kind: EntityKind,
        local: &InstanceName,
        filter: &ListFilter,
    ) -> Vec<String> {
        match &self.pool {
            Pool::Sqlite(_) => crate::sqlite::queries::list_statements(kind, local, filter),
            Pool::Postgres(_) => crate::postgres::queries::list_statements(kind, local, filter),
        }
    }

    /// Records the outcome of a push or pull, replacing the last one of its
    /// kind.
    pub async fn record_sync_run(&self, run: &SyncRun) -> Result<()> {
        let key = run.kind.meta_key();
        let value = run.to_meta();
        match &self.pool {
            Pool::Sqlite(pool) => crate::sqlite::queries::set_meta(pool, key, &value).await,
            Pool::Postgres(pool) => crate::postgres::queries::set_meta(pool, key, &value).await,
        }
    }

    /// The last recorded run of `kind`, if any.
    pub async fn last_sync_run(&self, kind: SyncRunKind) -> Result<Option<SyncRun>> {
        let key = kind.meta_key();
        let value = match &self.pool {
            Pool::Sqlite(pool) => crate::sqlite::queries::meta(pool, key).await?,
            Pool::Postgres(pool) => crate::postgres::queries::meta(pool, key).await?,
        };
        value
            .map(|text| SyncRun::from_meta(kind, &text))
            .transpose()
    }
}
