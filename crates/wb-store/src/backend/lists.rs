//! Keyset-paged, filtered lists (`Store::list_*`; the types and the rules
//! of the filters are `crate::list`'s). The list queries are written in SQL
//! both dialects accept and use none of the contract's items but
//! `comment_counts`'s JSON set (item 6).
//!
//! The list queries are still assembled from per-kind predicates by the
//! macros below: the listing read model is being reworked separately
//! (issue 16, part 3), and this file was moved here as it was so that the
//! rework applies to it unchanged.

use sqlx::Row as _;
use wb_model::{Comment, EntityKind, InstanceName, Invite, Request, SyncScope, User, Uuid, Vouch};

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

// ---- lists (keyset paging, filters in SQL) ----------------------------------
//
// Parameters of every list query: $1 the local instance's name, $2 the own
// scope or NULL, $3 `shared`/`held` or NULL, $4 the origin or NULL, $5 a
// lowercase LIKE pattern or NULL; the page queries add $6 the cursor id and
// $7 the limit. The row is `t`.

/// `t`'s reference in column `$col` names a user whose own scope is public
/// (a user's effective scope is its own scope: users reference nothing).
macro_rules! user_is_public {
    ($col:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM users pu WHERE pu.id = t.",
            $col,
            " AND pu.sync_scope = 'public')"
        )
    };
}

/// Held back (`wb_model::effective_scope`): public, local, and some
/// reference not exported. Users reference nothing and are never held back.
macro_rules! held_user {
    () => {
        "(t.origin = $1 AND 1 = 0)"
    };
}
macro_rules! held_request {
    () => {
        concat!(
            "(t.sync_scope = 'public' AND t.origin = $1 AND NOT ",
            user_is_public!("author_id"),
            ")"
        )
    };
}
macro_rules! held_comment {
    () => {
        concat!(
            "(t.sync_scope = 'public' AND t.origin = $1 AND (NOT ", user_is_public!("author_id"),
            " OR NOT EXISTS (SELECT 1 FROM requests pr WHERE pr.id = t.request_id \
             AND pr.sync_scope = 'public' AND (pr.origin <> $1 OR EXISTS (SELECT 1 FROM users pa \
             WHERE pa.id = pr.author_id AND pa.sync_scope = 'public')))))"
        )
    };
}
macro_rules! held_invite {
    () => {
        concat!(
            "(t.sync_scope = 'public' AND t.origin = $1 AND (NOT ",
            user_is_public!("inviter_id"),
            " OR (t.invitee_id IS NOT NULL AND NOT ",
            user_is_public!("invitee_id"),
            ")))"
        )
    };
}
macro_rules! held_vouch {
    () => {
        concat!(
            "(t.sync_scope = 'public' AND t.origin = $1 AND (NOT ",
            user_is_public!("voucher_user_id"),
            " OR NOT ",
            user_is_public!("subject_user_id"),
            "))"
        )
    };
}

/// The username of the user in `t`'s column `$col` matches the pattern $5.
macro_rules! username_like {
    ($col:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM users tu WHERE tu.id = t.",
            $col,
            " AND LOWER(tu.username) LIKE $5 ESCAPE '\\')"
        )
    };
}
macro_rules! text_user {
    () => {
        "(LOWER(t.username) LIKE $5 ESCAPE '\\' OR LOWER(t.display_name) LIKE $5 ESCAPE '\\')"
    };
}
macro_rules! text_request {
    () => {
        concat!(
            "(LOWER(t.title) LIKE $5 ESCAPE '\\' OR ",
            username_like!("author_id"),
            ")"
        )
    };
}
macro_rules! text_comment {
    () => {
        concat!(
            "(LOWER(t.body) LIKE $5 ESCAPE '\\' OR ",
            username_like!("author_id"),
            ")"
        )
    };
}
macro_rules! text_invite {
    () => {
        concat!(
            "(",
            username_like!("inviter_id"),
            " OR ",
            username_like!("invitee_id"),
            ")"
        )
    };
}
macro_rules! text_vouch {
    () => {
        concat!(
            "(",
            username_like!("voucher_user_id"),
            " OR ",
            username_like!("subject_user_id"),
            ")"
        )
    };
}

/// The WHERE clause of a list: the four filters, each off when its
/// parameter is NULL.
macro_rules! list_where {
    ($held:ident, $text:ident) => {
        concat!(
            " WHERE (CAST($2 AS TEXT) IS NULL OR t.sync_scope = CAST($2 AS TEXT))",
            " AND (CAST($3 AS TEXT) IS NULL",
            " OR (CAST($3 AS TEXT) = 'held' AND ",
            $held!(),
            ")",
            " OR (CAST($3 AS TEXT) = 'shared' AND t.sync_scope = 'public' AND NOT ",
            $held!(),
            "))",
            " AND (CAST($4 AS TEXT) IS NULL OR t.origin = CAST($4 AS TEXT))",
            " AND (CAST($5 AS TEXT) IS NULL OR ",
            $text!(),
            ")"
        )
    };
}

/// The three queries of one kind's list: the page after $6, the page
/// before $6 (in descending order), and the count.
struct ListSql {
    after: &'static str,
    before: &'static str,
    count: &'static str,
}

macro_rules! list_sql {
    ($columns:ident, $table:literal, $held:ident, $text:ident) => {
        ListSql {
            after: concat!(
                "SELECT ",
                $columns!(column_list),
                " FROM ",
                $table,
                " t",
                list_where!($held, $text),
                " AND t.id > $6 ORDER BY t.id LIMIT $7"
            ),
            before: concat!(
                "SELECT ",
                $columns!(column_list),
                " FROM ",
                $table,
                " t",
                list_where!($held, $text),
                " AND t.id < $6 ORDER BY t.id DESC LIMIT $7"
            ),
            count: concat!(
                "SELECT COUNT(*) FROM ",
                $table,
                " t",
                list_where!($held, $text)
            ),
        }
    };
}

const LIST_USERS: ListSql = list_sql!(user_columns, "users", held_user, text_user);
const LIST_REQUESTS: ListSql = list_sql!(request_columns, "requests", held_request, text_request);
const LIST_COMMENTS: ListSql = list_sql!(comment_columns, "comments", held_comment, text_comment);
const LIST_INVITES: ListSql = list_sql!(invite_columns, "invites", held_invite, text_invite);
const LIST_VOUCHES: ListSql = list_sql!(vouch_columns, "vouches", held_vouch, text_vouch);

/// Cursor ids below and above every canonical UUID text.
const BEFORE_ALL: &str = "";
const AFTER_ALL: &str = "~";

fn list_sql(kind: EntityKind) -> &'static ListSql {
    match kind {
        EntityKind::User => &LIST_USERS,
        EntityKind::Request => &LIST_REQUESTS,
        EntityKind::Comment => &LIST_COMMENTS,
        EntityKind::Invite => &LIST_INVITES,
        EntityKind::Vouch => &LIST_VOUCHES,
    }
}

/// The filter's five parameters, as text or NULL.
struct FilterParams {
    local: String,
    own: Option<&'static str>,
    exported: Option<&'static str>,
    origin: Option<String>,
    text: Option<String>,
}

impl FilterParams {
    fn of(local: &InstanceName, filter: &crate::ListFilter) -> Self {
        Self {
            local: local.as_str().to_owned(),
            own: filter.own.map(SyncScope::as_str),
            exported: filter.exported.map(crate::Exported::as_str),
            origin: filter.origin.as_ref().map(|o| o.as_str().to_owned()),
            text: filter.like_pattern(),
        }
    }

    fn bind<'a>(&'a self, sql: &'static str) -> DbQuery<'a> {
        sqlx::query(sql)
            .bind(self.local.as_str())
            .bind(self.own)
            .bind(self.exported)
            .bind(self.origin.as_deref())
            .bind(self.text.as_deref())
    }
}

async fn list_ids_and_rows<T: Send + Unpin>(
    pool: &Pool,
    sql: &'static str,
    params: &FilterParams,
    cursor: &str,
    limit: u32,
    decode: fn(&DbRow) -> Result<T>,
) -> Result<Vec<T>> {
    params
        .bind(sql)
        .bind(cursor)
        .bind(i64::from(limit))
        .try_map(move |row: DbRow| decode(&row).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .fetch_all(pool)
        .await
        .map_err(decode_error)
}

/// One page of `kind` (whose rows `decode` reads and `id_of` names): the
/// rows after or before the cursor, one more to learn whether the page has
/// a neighbour on that side, one row past the other end for the other
/// neighbour, and the count.
/// What [`list_page`] lists: a kind, how its rows decode, and their ids.
struct ListOf<T> {
    kind: EntityKind,
    decode: fn(&DbRow) -> Result<T>,
    id_of: fn(&T) -> Uuid,
}

async fn list_page<T: Send + Unpin>(
    pool: &Pool,
    of: ListOf<T>,
    local: &InstanceName,
    filter: &crate::ListFilter,
    cursor: crate::Cursor,
    size: u32,
) -> Result<crate::ListPage<T>> {
    let ListOf {
        kind,
        decode,
        id_of,
    } = of;
    let sql = list_sql(kind);
    let params = FilterParams::of(local, filter);
    let size = size.clamp(1, crate::MAX_PAGE_SIZE);
    let (rows, more_this_side, backwards) = match cursor {
        crate::Cursor::First | crate::Cursor::After(_) => {
            let from = match cursor {
                crate::Cursor::After(id) => id.to_string(),
                _ => BEFORE_ALL.to_owned(),
            };
            let mut rows =
                list_ids_and_rows(pool, sql.after, &params, &from, size + 1, decode).await?;
            let more = rows.len() > size as usize;
            rows.truncate(size as usize);
            (rows, more, false)
        }
        crate::Cursor::Before(id) => {
            let mut rows =
                list_ids_and_rows(pool, sql.before, &params, &id.to_string(), size + 1, decode)
                    .await?;
            let more = rows.len() > size as usize;
            rows.truncate(size as usize);
            rows.reverse();
            (rows, more, true)
        }
    };
    // The other side: is there a row past the page's other end?
    let other_side = match (backwards, rows.last(), rows.first()) {
        (false, _, Some(first)) => !list_ids_and_rows(
            pool,
            sql.before,
            &params,
            &id_of(first).to_string(),
            1,
            decode,
        )
        .await?
        .is_empty(),
        (true, Some(last), _) => !list_ids_and_rows(
            pool,
            sql.after,
            &params,
            &id_of(last).to_string(),
            1,
            decode,
        )
        .await?
        .is_empty(),
        // An empty page after a cursor: whatever matches lies on the other side.
        (false, _, None) => {
            cursor != crate::Cursor::First
                && !list_ids_and_rows(pool, sql.before, &params, AFTER_ALL, 1, decode)
                    .await?
                    .is_empty()
        }
        (true, None, _) => !list_ids_and_rows(pool, sql.after, &params, BEFORE_ALL, 1, decode)
            .await?
            .is_empty(),
    };
    let total: i64 = params.bind(sql.count).fetch_one(pool).await?.try_get(0)?;
    let total = u64::try_from(total).map_err(|e| corrupt("row count", e))?;
    let (has_next, has_previous) = if backwards {
        (other_side, more_this_side)
    } else {
        (more_this_side, other_side)
    };
    Ok(crate::ListPage {
        rows,
        total,
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
    list_page(
        pool,
        ListOf {
            kind: EntityKind::User,
            decode: user_from_row,
            id_of: |u| u.id,
        },
        local,
        filter,
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
    list_page(
        pool,
        ListOf {
            kind: EntityKind::Request,
            decode: request_from_row,
            id_of: |r| r.id,
        },
        local,
        filter,
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
    list_page(
        pool,
        ListOf {
            kind: EntityKind::Comment,
            decode: comment_from_row,
            id_of: |c| c.id,
        },
        local,
        filter,
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
    list_page(
        pool,
        ListOf {
            kind: EntityKind::Invite,
            decode: invite_from_row,
            id_of: |i| i.id,
        },
        local,
        filter,
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
    list_page(
        pool,
        ListOf {
            kind: EntityKind::Vouch,
            decode: vouch_from_row,
            id_of: |v| v.id,
        },
        local,
        filter,
        cursor,
        size,
    )
    .await
}

/// How many comments each request of the JSON array `$1` has (requests
/// without comments are left out).
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
