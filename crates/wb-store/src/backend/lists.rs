//! Keyset-paged, filtered lists (`Store::list_*`; the types and the rules
//! of the filters are `crate::list`'s). The list queries are written in SQL
//! both dialects accept and use none of the contract's items but
//! `comment_counts`'s JSON set (item 6).
//!
//! One statement per combination of filters: only the filters in use appear
//! in the WHERE clause, each as a plain predicate, so the planner sees each
//! combination whole. (One statement for every combination, with
//! `$n IS NULL OR …` for each filter, let Postgres settle on one generic
//! plan that could use no index: 164–290 ms for a held-back page at 100k
//! rows.) `ListSql::of` assembles the clause from the predicates below,
//! each written out whole; `Store::list_statements` prints one statement of
//! each kind.

use sqlx::Row as _;
use wb_model::{Comment, EntityKind, InstanceName, Invite, Request, User, Uuid, Vouch};

use super::decode::{
    comment_from_row, corrupt, decode_error, get_uuid, invite_from_row, request_from_row,
    user_from_row, vouch_from_row,
};
use super::{D, DbQuery, DbRow, Pool, json_ids};
use crate::Result;
use crate::dialect::{Dialect, PerDialect};

// Each table's columns, as identifiers handed to a macro: `column_list!`
// makes the SELECT list.
macro_rules! user_columns {
    ($m:ident) => {
        $m!(
            origin,
            username,
            display_name,
            bio,
            email,
            role,
            invited_by,
            sync_scope,
            created_at,
            updated_at
        )
    };
}
macro_rules! request_columns {
    ($m:ident) => {
        $m!(
            origin, author_id, title, body, status, sync_scope, created_at, updated_at
        )
    };
}
macro_rules! comment_columns {
    ($m:ident) => {
        $m!(
            origin, request_id, author_id, body, sync_scope, created_at, updated_at
        )
    };
}
macro_rules! invite_columns {
    ($m:ident) => {
        $m!(
            origin, inviter_id, invitee_id, status, code, sync_scope, created_at, updated_at
        )
    };
}
macro_rules! vouch_columns {
    ($m:ident) => {
        $m!(
            origin,
            voucher_user_id,
            subject_user_id,
            signature,
            sync_scope,
            created_at,
            updated_at
        )
    };
}
/// `id, a, b, …`
macro_rules! column_list {
    ($($column:ident),*) => { concat!("id" $(, ", ", stringify!($column))*) };
}

struct ListSql {
    table: &'static str,
    columns: &'static str,
    clauses: Vec<String>,
    params: Vec<String>,
}

/// The most rows a list counts; past it the total shows as `1,000+`.
const COUNT_CAP: u64 = crate::list::COUNT_CAP;

impl ListSql {
    /// Adds a parameter and returns its placeholder.
    fn param(&mut self, value: String) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// Every row of `kind`, no filter yet.
    fn new(kind: EntityKind) -> Self {
        let (table, columns) = match kind {
            EntityKind::User => ("users", user_columns!(column_list)),
            EntityKind::Request => ("requests", request_columns!(column_list)),
            EntityKind::Comment => ("comments", comment_columns!(column_list)),
            EntityKind::Invite => ("invites", invite_columns!(column_list)),
            EntityKind::Vouch => ("vouches", vouch_columns!(column_list)),
        };
        Self {
            table,
            columns,
            clauses: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The rows of `kind` that `filter` lets through (`local` is this
    /// instance's name, what the effective-scope filter needs).
    fn of(kind: EntityKind, local: &InstanceName, filter: &crate::ListFilter) -> Self {
        let mut sql = Self::new(kind);
        if let Some(own) = filter.own {
            let p = sql.param(own.as_str().to_owned());
            sql.clauses.push(format!("t.sync_scope = {p}"));
        }
        if let Some(origin) = &filter.origin {
            let p = sql.param(origin.as_str().to_owned());
            sql.clauses.push(format!("t.origin = {p}"));
        }
        if let Some(exported) = filter.exported {
            let local = sql.param(local.as_str().to_owned());
            let held = held_back(kind, &local);
            sql.clauses.push(match exported {
                crate::Exported::HeldBack => held,
                crate::Exported::Shared => format!("t.sync_scope = 'public' AND NOT ({held})"),
            });
        }
        if let Some(pattern) = filter.like_pattern() {
            let p = sql.param(pattern);
            sql.clauses.push(text_matches(kind, &p));
        }
        sql
    }

    fn where_clause(&self, keyset: Option<&str>) -> String {
        let mut clauses: Vec<String> = self.clauses.iter().map(|c| format!("({c})")).collect();
        clauses.extend(keyset.map(str::to_owned));
        if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        }
    }

    /// The rows after (`>`, or `>=`) or before (`<`, nearest first) the
    /// cursor — the last parameter — at most `limit` of them; `ids_only`
    /// selects just the id (to learn whether a neighbour exists).
    fn page(&self, compare: &str, limit: u32, ids_only: bool) -> String {
        let cursor = format!("${}", self.params.len() + 1);
        let keyset = format!("t.id {compare} {cursor}");
        let order = if compare == "<" { "DESC" } else { "ASC" };
        format!(
            "SELECT {columns} FROM {table} t{where_clause} ORDER BY t.id {order} LIMIT {limit}",
            columns = if ids_only { "id" } else { self.columns },
            table = self.table,
            where_clause = self.where_clause(Some(&keyset)),
        )
    }

    /// How many rows match, counting no further than one past the cap.
    fn count(&self) -> String {
        format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {table} t{where_clause} LIMIT {limit}) matching",
            table = self.table,
            where_clause = self.where_clause(None),
            limit = COUNT_CAP + 1,
        )
    }

    /// `sql` (one of this list's statements) with the filter's parameters
    /// bound. The text is assembled from the fixed predicates above and
    /// `$n` placeholders only — every value is a bound parameter — hence
    /// `AssertSqlSafe`.
    fn bound<'q>(&'q self, sql: &str) -> DbQuery<'q> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for param in &self.params {
            query = query.bind(param.as_str());
        }
        query
    }
}

/// Held back (`wb_model::effective_scope`): public, local (`$local`), and a
/// row it references is not exported. A user references nothing, a
/// request its author, a comment its author and its request (exported when
/// public and imported, or public with a public author), an invite its
/// inviter and invitee, a vouch its voucher and subject.
fn held_back(kind: EntityKind, local: &str) -> String {
    let private_user = |column: &str| {
        format!(
            "NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.{column} AND u.sync_scope = 'public')"
        )
    };
    let public_local = format!("t.sync_scope = 'public' AND t.origin = {local}");
    match kind {
        EntityKind::User => "1 = 0".to_owned(),
        EntityKind::Request => format!("{public_local} AND {}", private_user("author_id")),
        EntityKind::Comment => format!(
            "{public_local} AND ({author} OR NOT EXISTS (SELECT 1 FROM requests r \
             WHERE r.id = t.request_id AND r.sync_scope = 'public' AND (r.origin <> {local} \
             OR EXISTS (SELECT 1 FROM users ra WHERE ra.id = r.author_id AND ra.sync_scope = 'public'))))",
            author = private_user("author_id"),
        ),
        EntityKind::Invite => format!(
            "{public_local} AND ({inviter} OR (t.invitee_id IS NOT NULL AND {invitee}))",
            inviter = private_user("inviter_id"),
            invitee = private_user("invitee_id"),
        ),
        EntityKind::Vouch => format!(
            "{public_local} AND ({voucher} OR {subject})",
            voucher = private_user("voucher_user_id"),
            subject = private_user("subject_user_id"),
        ),
    }
}

/// The text filter (`$pattern`, a lowercase LIKE pattern): see
/// [`crate::ListFilter::text`] for what each kind searches.
fn text_matches(kind: EntityKind, pattern: &str) -> String {
    let like = |expr: &str| format!("LOWER({expr}) LIKE {pattern} ESCAPE '\\'");
    let username = |column: &str| {
        format!(
            "t.{column} IN (SELECT u.id FROM users u WHERE {})",
            like("u.username")
        )
    };
    match kind {
        EntityKind::User => format!("{} OR {}", like("t.username"), like("t.display_name")),
        EntityKind::Request => format!("{} OR {}", like("t.title"), username("author_id")),
        EntityKind::Comment => format!("{} OR {}", like("t.body"), username("author_id")),
        EntityKind::Invite => format!("{} OR {}", username("inviter_id"), username("invitee_id")),
        EntityKind::Vouch => format!(
            "{} OR {}",
            username("voucher_user_id"),
            username("subject_user_id")
        ),
    }
}

/// The statements of one list for `filter`, whole (for the docs and tests).
pub(crate) fn list_statements(
    kind: EntityKind,
    local: &InstanceName,
    filter: &crate::ListFilter,
) -> Vec<String> {
    let sql = ListSql::of(kind, local, filter);
    vec![
        sql.page(">", crate::DEFAULT_PAGE_SIZE + 1, false),
        sql.count(),
    ]
}

/// Cursor ids below and above every canonical UUID text.
const BEFORE_ALL: &str = "";
const AFTER_ALL: &str = "~";

async fn list_rows<T: Send + Unpin>(
    pool: &Pool,
    sql: &ListSql,
    statement: &str,
    cursor: &str,
    decode: fn(&DbRow) -> Result<T>,
) -> Result<Vec<T>> {
    sql.bound(statement)
        .bind(cursor)
        .try_map(move |row: DbRow| decode(&row).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .fetch_all(pool)
        .await
        .map_err(decode_error)
}

/// Whether a row matching `sql` lies after (or, `backwards`, before) the
/// cursor.
async fn any_beyond(pool: &Pool, sql: &ListSql, backwards: bool, cursor: &str) -> Result<bool> {
    let statement = sql.page(if backwards { "<" } else { ">" }, 1, true);
    Ok(sql
        .bound(&statement)
        .bind(cursor)
        .fetch_optional(pool)
        .await?
        .is_some())
}

/// How a list's rows decode, and their ids.
type RowsOf<T> = (fn(&DbRow) -> Result<T>, fn(&T) -> Uuid);

/// One page of the rows `sql` selects (which `decode` reads and `id_of`
/// names): the rows after or before the cursor, one more to learn whether
/// the page has a neighbour on that side, a probe past the other end for
/// the other neighbour, and the capped count.
async fn list_page<T: Send + Unpin>(
    pool: &Pool,
    sql: ListSql,
    (decode, id_of): RowsOf<T>,
    cursor: crate::Cursor,
    size: u32,
) -> Result<crate::ListPage<T>> {
    let size = size.clamp(1, crate::MAX_PAGE_SIZE);
    let (compare, from) = match cursor {
        crate::Cursor::First => (">", BEFORE_ALL.to_owned()),
        crate::Cursor::After(id) => (">", id.to_string()),
        crate::Cursor::Before(id) => ("<", id.to_string()),
        crate::Cursor::At(id) => (">=", id.to_string()),
    };
    let backwards = compare == "<";
    let statement = sql.page(compare, size + 1, false);
    let mut rows = list_rows(pool, &sql, &statement, &from, decode).await?;
    let more_this_side = rows.len() > size as usize;
    rows.truncate(size as usize);
    if backwards {
        rows.reverse();
    }
    // The other side: is there a row past the page's other end?
    let other_side = match (backwards, rows.first(), rows.last()) {
        (false, Some(first), _) => any_beyond(pool, &sql, true, &id_of(first).to_string()).await?,
        (true, _, Some(last)) => any_beyond(pool, &sql, false, &id_of(last).to_string()).await?,
        // An empty page after a cursor: whatever matches lies on the other side.
        (false, None, _) => {
            cursor != crate::Cursor::First && any_beyond(pool, &sql, true, AFTER_ALL).await?
        }
        (true, _, None) => any_beyond(pool, &sql, false, BEFORE_ALL).await?,
    };
    let count = sql.count();
    let total: i64 = sql.bound(&count).fetch_one(pool).await?.try_get(0)?;
    let total = u64::try_from(total).map_err(|e| corrupt("row count", e))?;
    let (has_next, has_previous) = if backwards {
        (other_side, more_this_side)
    } else {
        (more_this_side, other_side)
    };
    Ok(crate::ListPage {
        rows,
        total: total.min(COUNT_CAP),
        total_capped: total > COUNT_CAP,
        has_next,
        has_previous,
    })
}

pub(crate) async fn list_users(
    pool: &Pool,
    local: &InstanceName,
    filter: &crate::ListFilter,
    cursor: crate::Cursor,
    size: u32,
) -> Result<crate::ListPage<User>> {
    let rows = (
        user_from_row as fn(&DbRow) -> Result<User>,
        (|u: &User| u.id) as fn(&User) -> Uuid,
    );
    list_page(
        pool,
        ListSql::of(EntityKind::User, local, filter),
        rows,
        cursor,
        size,
    )
    .await
}

pub(crate) async fn list_requests(
    pool: &Pool,
    local: &InstanceName,
    filter: &crate::ListFilter,
    cursor: crate::Cursor,
    size: u32,
) -> Result<crate::ListPage<Request>> {
    let rows = (
        request_from_row as fn(&DbRow) -> Result<Request>,
        (|r: &Request| r.id) as fn(&Request) -> Uuid,
    );
    list_page(
        pool,
        ListSql::of(EntityKind::Request, local, filter),
        rows,
        cursor,
        size,
    )
    .await
}

pub(crate) async fn list_comments(
    pool: &Pool,
    local: &InstanceName,
    filter: &crate::ListFilter,
    cursor: crate::Cursor,
    size: u32,
) -> Result<crate::ListPage<Comment>> {
    let rows = (
        comment_from_row as fn(&DbRow) -> Result<Comment>,
        (|c: &Comment| c.id) as fn(&Comment) -> Uuid,
    );
    list_page(
        pool,
        ListSql::of(EntityKind::Comment, local, filter),
        rows,
        cursor,
        size,
    )
    .await
}

pub(crate) async fn list_invites(
    pool: &Pool,
    local: &InstanceName,
    filter: &crate::ListFilter,
    cursor: crate::Cursor,
    size: u32,
) -> Result<crate::ListPage<Invite>> {
    let rows = (
        invite_from_row as fn(&DbRow) -> Result<Invite>,
        (|i: &Invite| i.id) as fn(&Invite) -> Uuid,
    );
    list_page(
        pool,
        ListSql::of(EntityKind::Invite, local, filter),
        rows,
        cursor,
        size,
    )
    .await
}

pub(crate) async fn list_vouches(
    pool: &Pool,
    local: &InstanceName,
    filter: &crate::ListFilter,
    cursor: crate::Cursor,
    size: u32,
) -> Result<crate::ListPage<Vouch>> {
    let rows = (
        vouch_from_row as fn(&DbRow) -> Result<Vouch>,
        (|v: &Vouch| v.id) as fn(&Vouch) -> Uuid,
    );
    list_page(
        pool,
        ListSql::of(EntityKind::Vouch, local, filter),
        rows,
        cursor,
        size,
    )
    .await
}

/// One page of the comments on request `request_id` (keyset paging by id,
/// no filters), with their count.
pub(crate) async fn list_comments_of(
    pool: &Pool,
    request_id: Uuid,
    cursor: crate::Cursor,
    size: u32,
) -> Result<crate::ListPage<Comment>> {
    let mut sql = ListSql::new(EntityKind::Comment);
    let p = sql.param(request_id.to_string());
    sql.clauses.push(format!("t.request_id = {p}"));
    let rows = (
        comment_from_row as fn(&DbRow) -> Result<Comment>,
        (|c: &Comment| c.id) as fn(&Comment) -> Uuid,
    );
    list_page(pool, sql, rows, cursor, size).await
}

const COMMENT_COUNTS: PerDialect = PerDialect {
    sqlite: "SELECT request_id, COUNT(*) AS n FROM comments \
             WHERE request_id IN (SELECT value FROM json_each($1)) \
             GROUP BY request_id",
    postgres: "SELECT request_id, COUNT(*) AS n FROM comments \
               WHERE request_id IN (SELECT json_array_elements_text(CAST($1 AS json))) \
               GROUP BY request_id",
};

/// How many comments each of `ids` has (requests without comments are
/// left out).
pub(crate) async fn comment_counts(pool: &Pool, ids: &[Uuid]) -> Result<Vec<(Uuid, u64)>> {
    let rows = sqlx::query(D::sql(&COMMENT_COUNTS))
        .bind(json_ids(ids))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let n: i64 = row.try_get("n")?;
            Ok((
                get_uuid(row, "request_id")?,
                u64::try_from(n).map_err(|e| corrupt("comment count", e))?,
            ))
        })
        .collect()
}

/// How many changes the export journal holds: rows changed since the last
/// export, counted no further than the cap (the status page's "waiting for
/// the next export").
pub(crate) async fn pending_changes(pool: &Pool) -> Result<u64> {
    let sql = "SELECT COUNT(*) FROM (SELECT 1 FROM export_changes LIMIT 1001) pending";
    let n: i64 = sqlx::query(sql).fetch_one(pool).await?.try_get(0)?;
    u64::try_from(n).map_err(|e| corrupt("change count", e))
}
