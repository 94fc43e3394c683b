//! Tables read whole, without holding them (`Store::scan_*`, what an
//! export into an empty directory reads): chunk by chunk, each chunk packed
//! by the database into one text.
//!
//! A scan query returns the next chunk of rows after the key `$1` (at most
//! `$2`), as one text of one JSON array per row (the contract's item 7),
//! joined by newlines (item 5; JSON escapes newlines, so lines split
//! cleanly), and the chunk's last key. The key is the table's storage order
//! where the database has one (item 8): SQLite's `rowid`, so a scan reads
//! each page of a table once (by `id` it would jump between the index and
//! the table for every row); Postgres's `id`. One row per chunk instead of
//! one per row: SQLite's driver hands every row from its worker thread over
//! a channel, which costs more than the database's own work for a table
//! read whole.

use sqlx::Row as _;
use wb_model::{Comment, Invite, Request, User, Vouch};

use super::decode::{
    Packed, comment_from_row, corrupt, invite_from_row, request_from_row, user_from_row,
    vouch_from_row,
};
use super::{D, DbRow, Pool};
use crate::Result;
use crate::dialect::{Dialect, PerDialect};

/// Rows `scan` asks for at a time.
const SCAN_CHUNK: i64 = 500;

/// `scan` of `users`.
const SCAN_USERS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(json_array(id, origin, username, display_name, bio, email, role, \
             invited_by, sync_scope, created_at, updated_at), char(10)), \
             CAST(MAX(scan_key) AS TEXT) \
             FROM (SELECT id, origin, username, display_name, bio, email, role, invited_by, \
             sync_scope, created_at, updated_at, rowid AS scan_key \
             FROM users \
             WHERE rowid > CAST($1 AS INTEGER) ORDER BY rowid LIMIT $2) AS chunk",
    postgres: "SELECT string_agg(CAST(json_build_array(id, origin, username, display_name, bio, \
               email, role, invited_by, sync_scope, created_at, updated_at) AS TEXT), chr(10)), \
               CAST(MAX(scan_key) AS TEXT) \
               FROM (SELECT id, origin, username, display_name, bio, email, role, invited_by, \
               sync_scope, created_at, updated_at, id AS scan_key \
               FROM users \
               WHERE id > $1 ORDER BY id LIMIT $2) AS chunk",
};
/// The columns of [`SCAN_USERS`]'s packed rows, in order.
const USER_COLUMNS: &[&str] = &[
    "id",
    "origin",
    "username",
    "display_name",
    "bio",
    "email",
    "role",
    "invited_by",
    "sync_scope",
    "created_at",
    "updated_at",
];

/// `scan` of `requests`.
const SCAN_REQUESTS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(json_array(id, origin, author_id, title, body, status, \
             sync_scope, created_at, updated_at), char(10)), \
             CAST(MAX(scan_key) AS TEXT) \
             FROM (SELECT id, origin, author_id, title, body, status, sync_scope, created_at, \
             updated_at, rowid AS scan_key \
             FROM requests \
             WHERE rowid > CAST($1 AS INTEGER) ORDER BY rowid LIMIT $2) AS chunk",
    postgres: "SELECT string_agg(CAST(json_build_array(id, origin, author_id, title, body, status, \
               sync_scope, created_at, updated_at) AS TEXT), chr(10)), \
               CAST(MAX(scan_key) AS TEXT) \
               FROM (SELECT id, origin, author_id, title, body, status, sync_scope, created_at, \
               updated_at, id AS scan_key \
               FROM requests \
               WHERE id > $1 ORDER BY id LIMIT $2) AS chunk",
};
/// The columns of [`SCAN_REQUESTS`]'s packed rows, in order.
const REQUEST_COLUMNS: &[&str] = &[
    "id",
    "origin",
    "author_id",
    "title",
    "body",
    "status",
    "sync_scope",
    "created_at",
    "updated_at",
];

/// `scan` of `comments`.
const SCAN_COMMENTS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(json_array(id, origin, request_id, author_id, body, sync_scope, \
             created_at, updated_at), char(10)), \
             CAST(MAX(scan_key) AS TEXT) \
             FROM (SELECT id, origin, request_id, author_id, body, sync_scope, created_at, \
             updated_at, rowid AS scan_key \
             FROM comments \
             WHERE rowid > CAST($1 AS INTEGER) ORDER BY rowid LIMIT $2) AS chunk",
    postgres: "SELECT string_agg(CAST(json_build_array(id, origin, request_id, author_id, body, \
               sync_scope, created_at, updated_at) AS TEXT), chr(10)), \
               CAST(MAX(scan_key) AS TEXT) \
               FROM (SELECT id, origin, request_id, author_id, body, sync_scope, created_at, \
               updated_at, id AS scan_key \
               FROM comments \
               WHERE id > $1 ORDER BY id LIMIT $2) AS chunk",
};
/// The columns of [`SCAN_COMMENTS`]'s packed rows, in order.
const COMMENT_COLUMNS: &[&str] = &[
    "id",
    "origin",
    "request_id",
    "author_id",
    "body",
    "sync_scope",
    "created_at",
    "updated_at",
];

/// `scan` of `invites`.
const SCAN_INVITES: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(json_array(id, origin, inviter_id, invitee_id, status, code, \
             sync_scope, created_at, updated_at), char(10)), \
             CAST(MAX(scan_key) AS TEXT) \
             FROM (SELECT id, origin, inviter_id, invitee_id, status, code, sync_scope, \
             created_at, updated_at, rowid AS scan_key \
             FROM invites \
             WHERE rowid > CAST($1 AS INTEGER) ORDER BY rowid LIMIT $2) AS chunk",
    postgres: "SELECT string_agg(CAST(json_build_array(id, origin, inviter_id, invitee_id, status, \
               code, sync_scope, created_at, updated_at) AS TEXT), chr(10)), \
               CAST(MAX(scan_key) AS TEXT) \
               FROM (SELECT id, origin, inviter_id, invitee_id, status, code, sync_scope, \
               created_at, updated_at, id AS scan_key \
               FROM invites \
               WHERE id > $1 ORDER BY id LIMIT $2) AS chunk",
};
/// The columns of [`SCAN_INVITES`]'s packed rows, in order.
const INVITE_COLUMNS: &[&str] = &[
    "id",
    "origin",
    "inviter_id",
    "invitee_id",
    "status",
    "code",
    "sync_scope",
    "created_at",
    "updated_at",
];

/// `scan` of `vouches`.
const SCAN_VOUCHES: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(json_array(id, origin, voucher_user_id, subject_user_id, \
             signature, sync_scope, created_at, updated_at), char(10)), \
             CAST(MAX(scan_key) AS TEXT) \
             FROM (SELECT id, origin, voucher_user_id, subject_user_id, signature, sync_scope, \
             created_at, updated_at, rowid AS scan_key \
             FROM vouches \
             WHERE rowid > CAST($1 AS INTEGER) ORDER BY rowid LIMIT $2) AS chunk",
    postgres: "SELECT string_agg(CAST(json_build_array(id, origin, voucher_user_id, \
               subject_user_id, signature, sync_scope, created_at, updated_at) AS TEXT), chr(10)), \
               CAST(MAX(scan_key) AS TEXT) \
               FROM (SELECT id, origin, voucher_user_id, subject_user_id, signature, sync_scope, \
               created_at, updated_at, id AS scan_key \
               FROM vouches \
               WHERE id > $1 ORDER BY id LIMIT $2) AS chunk",
};
/// The columns of [`SCAN_VOUCHES`]'s packed rows, in order.
const VOUCH_COLUMNS: &[&str] = &[
    "id",
    "origin",
    "voucher_user_id",
    "subject_user_id",
    "signature",
    "sync_scope",
    "created_at",
    "updated_at",
];

/// The chunk of `sql` (a scan query) after the key `after`.
async fn fetch_chunk(pool: Pool, sql: &'static str, after: String) -> Result<DbRow> {
    Ok(sqlx::query(sql)
        .bind(after)
        .bind(SCAN_CHUNK)
        .fetch_one(&pool)
        .await?)
}

/// Polls `future` once, so that the query it makes is on its way to the
/// database while the caller does other work; its output if already done.
async fn start<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// Hands every row of a table (its `scan_sql!`) to `each`, decoded, chunk
/// by chunk, until `each` returns false. The next chunk is asked for before
/// this one is decoded, so the database packs it meanwhile.
async fn scan<T>(
    pool: &Pool,
    sql: &'static str,
    names: &'static [&'static str],
    decode: impl Fn(&Packed) -> Result<T>,
    each: &mut dyn FnMut(T) -> bool,
) -> Result<()> {
    let mut chunk = fetch_chunk(pool.clone(), sql, String::new()).await?;
    loop {
        let packed: Option<String> = chunk.try_get(0)?;
        let (Some(packed), Some(last)) = (packed, chunk.try_get::<Option<String>, _>(1)?) else {
            return Ok(());
        };
        let mut next = Box::pin(fetch_chunk(pool.clone(), sql, last));
        let ready = start(&mut next).await;
        for line in packed.split('\n') {
            let values = serde_json::from_str(line).map_err(|e| corrupt("packed row", e))?;
            let row = Packed::new(names, values);
            if !each(decode(&row)?) {
                return Ok(());
            }
        }
        chunk = match ready {
            Some(done) => done?,
            None => next.await?,
        };
    }
}

/// Every user, as `Store::scan_users` hands them.
pub(crate) async fn scan_users(pool: &Pool, each: &mut dyn FnMut(User) -> bool) -> Result<()> {
    scan(pool, D::sql(&SCAN_USERS), USER_COLUMNS, user_from_row, each).await
}

/// Every request, as `Store::scan_requests` hands them.
pub(crate) async fn scan_requests(
    pool: &Pool,
    each: &mut dyn FnMut(Request) -> bool,
) -> Result<()> {
    scan(
        pool,
        D::sql(&SCAN_REQUESTS),
        REQUEST_COLUMNS,
        request_from_row,
        each,
    )
    .await
}

/// Every comment, as `Store::scan_comments` hands them.
pub(crate) async fn scan_comments(
    pool: &Pool,
    each: &mut dyn FnMut(Comment) -> bool,
) -> Result<()> {
    scan(
        pool,
        D::sql(&SCAN_COMMENTS),
        COMMENT_COLUMNS,
        comment_from_row,
        each,
    )
    .await
}

/// Every invite, as `Store::scan_invites` hands them.
pub(crate) async fn scan_invites(pool: &Pool, each: &mut dyn FnMut(Invite) -> bool) -> Result<()> {
    scan(
        pool,
        D::sql(&SCAN_INVITES),
        INVITE_COLUMNS,
        invite_from_row,
        each,
    )
    .await
}

/// Every vouch, as `Store::scan_vouches` hands them.
pub(crate) async fn scan_vouches(pool: &Pool, each: &mut dyn FnMut(Vouch) -> bool) -> Result<()> {
    scan(
        pool,
        D::sql(&SCAN_VOUCHES),
        VOUCH_COLUMNS,
        vouch_from_row,
        each,
    )
    .await
}
