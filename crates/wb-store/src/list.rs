//! Lists that scale: one page of rows of a kind, filtered in SQL and paged
//! by key (`WHERE id > $cursor ORDER BY id LIMIT n + 1`), with the total
//! count of rows that match (see [`crate::Store::list_users`] and its
//! siblings).
//!
//! The effective-scope filter ([`Exported`]) is evaluated by the database:
//! each kind's query carries the rule of `wb_model::effective_scope` as a
//! SQL predicate over the row's own scope, its origin and the own scopes of
//! the rows it references (two levels at most: a comment's request's
//! author). `wb-engine`'s tests check that this predicate and the model's
//! rule agree on every row of a mixed instance; the badges themselves are
//! still computed by the model, for the rows of the page only.

use wb_model::{InstanceName, SyncScope, Uuid};

/// Rows per page unless asked otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most rows one page may hold.
pub const MAX_PAGE_SIZE: u32 = 500;

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
}

/// One page of a list, in id order (ids are UUIDv7, so roughly creation
/// order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage<T> {
    /// The rows of the page, at most the page size.
    pub rows: Vec<T>,
    /// How many rows match the filter, on every page.
    pub total: u64,
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
