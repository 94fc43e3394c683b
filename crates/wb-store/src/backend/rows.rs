//! Reading rows: one by id or key, every row of a kind, ids by prefix,
//! counts, and the root users.

use wb_model::{
    Comment, EntityKind, InstanceName, Invite, Request, Timestamp, User, Username, Uuid, Vouch,
};

use super::decode::{
    comment_from_row, corrupt, decode_error, get_uuid, invite_from_row, request_from_row,
    user_from_row, vouch_from_row,
};
use super::{DbRow, Pool};
use crate::Result;

async fn fetch_one_by<T>(
    pool: &Pool,
    sql: &'static str,
    key: &str,
    decode: fn(&DbRow) -> Result<T>,
) -> Result<Option<T>> {
    let row = sqlx::query(sql).bind(key).fetch_optional(pool).await?;
    row.as_ref().map(decode).transpose()
}

/// Every row of `sql`, decoded as it arrives (rows are not all held twice,
/// as driver rows and as values).
async fn fetch_all<T: Send + Unpin>(
    pool: &Pool,
    sql: &'static str,
    decode: fn(&DbRow) -> Result<T>,
) -> Result<Vec<T>> {
    sqlx::query(sql)
        .try_map(move |row: DbRow| decode(&row).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .fetch_all(pool)
        .await
        .map_err(decode_error)
}

/// Every row of `sql` (which has no `ORDER BY`), sorted by creation time
/// then id. Sorting here rather than in SQL keeps the database from
/// spilling whole rows, bodies included, into a temporary sort file; the
/// order is the same, as ids are canonical lowercase UUID text, which sorts
/// like the UUID's bytes.
async fn fetch_all_by_creation<T: Send + Unpin>(
    pool: &Pool,
    sql: &'static str,
    decode: fn(&DbRow) -> Result<T>,
    key: fn(&T) -> (Timestamp, Uuid),
) -> Result<Vec<T>> {
    let mut rows = fetch_all(pool, sql, decode).await?;
    rows.sort_unstable_by_key(key);
    Ok(rows)
}

pub(crate) async fn user(pool: &Pool, id: Uuid) -> Result<Option<User>> {
    let sql = "SELECT id, origin, username, display_name, bio, email, role, invited_by, \
         sync_scope, created_at, updated_at \
         FROM users WHERE id = $1";
    fetch_one_by(pool, sql, &id.to_string(), user_from_row).await
}

pub(crate) async fn user_by_username(
    pool: &Pool,
    origin: &InstanceName,
    username: &Username,
) -> Result<Option<User>> {
    let sql = "SELECT id, origin, username, display_name, bio, email, role, invited_by, \
         sync_scope, created_at, updated_at \
         FROM users WHERE origin = $1 AND username = $2";
    let row = sqlx::query(sql)
        .bind(origin.as_str())
        .bind(username.as_str())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(crate) async fn ids_with_prefix(
    pool: &Pool,
    kind: EntityKind,
    prefix: &str,
    limit: u32,
) -> Result<Vec<Uuid>> {
    let sql = match kind {
        EntityKind::User => "SELECT id FROM users WHERE id LIKE $1 ORDER BY id LIMIT $2",
        EntityKind::Request => "SELECT id FROM requests WHERE id LIKE $1 ORDER BY id LIMIT $2",
        EntityKind::Comment => "SELECT id FROM comments WHERE id LIKE $1 ORDER BY id LIMIT $2",
        EntityKind::Invite => "SELECT id FROM invites WHERE id LIKE $1 ORDER BY id LIMIT $2",
        EntityKind::Vouch => "SELECT id FROM vouches WHERE id LIKE $1 ORDER BY id LIMIT $2",
    };
    let rows = sqlx::query(sql)
        .bind(format!("{prefix}%"))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(|row| get_uuid(row, "id")).collect()
}

pub(crate) async fn users(pool: &Pool) -> Result<Vec<User>> {
    let sql = "SELECT id, origin, username, display_name, bio, email, role, invited_by, \
         sync_scope, created_at, updated_at \
         FROM users ORDER BY origin, username";
    fetch_all(pool, sql, user_from_row).await
}

pub(crate) async fn request(pool: &Pool, id: Uuid) -> Result<Option<Request>> {
    let sql = "SELECT id, origin, author_id, title, body, status, sync_scope, \
         created_at, updated_at \
         FROM requests WHERE id = $1";
    fetch_one_by(pool, sql, &id.to_string(), request_from_row).await
}

pub(crate) async fn requests(pool: &Pool) -> Result<Vec<Request>> {
    let sql = "SELECT id, origin, author_id, title, body, status, sync_scope, \
         created_at, updated_at \
         FROM requests";
    fetch_all_by_creation(pool, sql, request_from_row, |r| (r.created_at, r.id)).await
}

pub(crate) async fn comment(pool: &Pool, id: Uuid) -> Result<Option<Comment>> {
    let sql = "SELECT id, origin, request_id, author_id, body, sync_scope, created_at, updated_at \
         FROM comments WHERE id = $1";
    fetch_one_by(pool, sql, &id.to_string(), comment_from_row).await
}

pub(crate) async fn comments(pool: &Pool) -> Result<Vec<Comment>> {
    let sql = "SELECT id, origin, request_id, author_id, body, sync_scope, created_at, updated_at \
         FROM comments";
    fetch_all_by_creation(pool, sql, comment_from_row, |c| (c.created_at, c.id)).await
}

pub(crate) async fn comments_of(pool: &Pool, request_id: Uuid) -> Result<Vec<Comment>> {
    let sql = "SELECT id, origin, request_id, author_id, body, sync_scope, created_at, updated_at \
         FROM comments WHERE request_id = $1 ORDER BY created_at, id";
    let rows = sqlx::query(sql)
        .bind(request_id.to_string())
        .fetch_all(pool)
        .await?;
    rows.iter().map(comment_from_row).collect()
}

pub(crate) async fn invite(pool: &Pool, id: Uuid) -> Result<Option<Invite>> {
    let sql = "SELECT id, origin, inviter_id, invitee_id, status, code, sync_scope, \
         created_at, updated_at \
         FROM invites WHERE id = $1";
    fetch_one_by(pool, sql, &id.to_string(), invite_from_row).await
}

pub(crate) async fn invite_by_code(pool: &Pool, code: &str) -> Result<Option<Invite>> {
    let sql = "SELECT id, origin, inviter_id, invitee_id, status, code, sync_scope, \
         created_at, updated_at \
         FROM invites WHERE code = $1";
    fetch_one_by(pool, sql, code, invite_from_row).await
}

pub(crate) async fn vouch(pool: &Pool, id: Uuid) -> Result<Option<Vouch>> {
    let sql = "SELECT id, origin, voucher_user_id, subject_user_id, signature, \
         sync_scope, created_at, updated_at \
         FROM vouches WHERE id = $1";
    fetch_one_by(pool, sql, &id.to_string(), vouch_from_row).await
}

pub(crate) async fn vouches(pool: &Pool) -> Result<Vec<Vouch>> {
    let sql = "SELECT id, origin, voucher_user_id, subject_user_id, signature, \
         sync_scope, created_at, updated_at \
         FROM vouches";
    fetch_all_by_creation(pool, sql, vouch_from_row, |v| (v.created_at, v.id)).await
}

pub(crate) async fn root_users(pool: &Pool) -> Result<Vec<User>> {
    let sql = "SELECT id, origin, username, display_name, bio, email, role, invited_by, \
         sync_scope, created_at, updated_at FROM users \
         WHERE invited_by IS NULL \
         AND NOT EXISTS (SELECT 1 FROM invites WHERE invites.invitee_id = users.id) \
         AND (sync_scope = 'public' \
              OR origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')) \
         ORDER BY origin, username";
    fetch_all(pool, sql, user_from_row).await
}

pub(crate) async fn invites(pool: &Pool) -> Result<Vec<Invite>> {
    let sql = "SELECT id, origin, inviter_id, invitee_id, status, code, sync_scope, \
         created_at, updated_at \
         FROM invites";
    fetch_all_by_creation(pool, sql, invite_from_row, |i| (i.created_at, i.id)).await
}

pub(crate) async fn row_count(pool: &Pool, kind: EntityKind) -> Result<u64> {
    let sql = match kind {
        EntityKind::User => "SELECT COUNT(*) FROM users",
        EntityKind::Request => "SELECT COUNT(*) FROM requests",
        EntityKind::Comment => "SELECT COUNT(*) FROM comments",
        EntityKind::Invite => "SELECT COUNT(*) FROM invites",
        EntityKind::Vouch => "SELECT COUNT(*) FROM vouches",
    };
    let count: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
    u64::try_from(count).map_err(|e| corrupt("row count", e))
}
