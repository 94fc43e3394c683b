//! Local writes: inserting rows, accepting and revoking invites, changing
//! scopes and fields, deleting rows.
//!
//! Every change to a local row moves its `updated_at` forward: to the
//! given time, or one microsecond past the old value when the clock has
//! not moved past it, by
//! `updated_at = CASE WHEN $at > updated_at THEN $at ELSE updated_at + 1 END`
//! in each `UPDATE` below. Importers (newer wins) and the export's record of
//! rendered files rely on it.

use sqlx::Row as _;
use wb_model::{Comment, EntityKind, Invite, Request, SyncScope, Timestamp, User, Uuid, Vouch};

use super::{D, DbConn, DbQueryResult, Pool};
use crate::dialect::Dialect;
use crate::{Batch, References, Result, StoreError};

pub(super) async fn insert_user_on(conn: &mut DbConn, u: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, origin, username, display_name, bio, email, role, invited_by, \
         sync_scope, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(u.id.to_string())
    .bind(u.origin.as_str())
    .bind(u.username.as_str())
    .bind(&u.display_name)
    .bind(&u.bio)
    .bind(u.email.as_deref())
    .bind(u.role.as_str())
    .bind(u.invited_by.map(|id| id.to_string()))
    .bind(u.scope.as_str())
    .bind(u.created_at.unix_micros())
    .bind(u.updated_at.unix_micros())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_request_on(conn: &mut DbConn, r: &Request) -> Result<()> {
    sqlx::query(
        "INSERT INTO requests (id, origin, author_id, title, body, status, sync_scope, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(r.id.to_string())
    .bind(r.origin.as_str())
    .bind(r.author_id.to_string())
    .bind(&r.title)
    .bind(&r.body)
    .bind(r.status.as_str())
    .bind(r.scope.as_str())
    .bind(r.created_at.unix_micros())
    .bind(r.updated_at.unix_micros())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_comment_on(conn: &mut DbConn, c: &Comment) -> Result<()> {
    sqlx::query(
        "INSERT INTO comments (id, origin, request_id, author_id, body, sync_scope, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(c.id.to_string())
    .bind(c.origin.as_str())
    .bind(c.request_id.to_string())
    .bind(c.author_id.to_string())
    .bind(&c.body)
    .bind(c.scope.as_str())
    .bind(c.created_at.unix_micros())
    .bind(c.updated_at.unix_micros())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_invite_on(conn: &mut DbConn, i: &Invite) -> Result<()> {
    sqlx::query(
        "INSERT INTO invites (id, origin, inviter_id, invitee_id, status, code, sync_scope, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(i.id.to_string())
    .bind(i.origin.as_str())
    .bind(i.inviter_id.to_string())
    .bind(i.invitee_id.map(|id| id.to_string()))
    .bind(i.status.as_str())
    .bind(i.code.as_deref())
    .bind(i.scope.as_str())
    .bind(i.created_at.unix_micros())
    .bind(i.updated_at.unix_micros())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_vouch_on(conn: &mut DbConn, v: &Vouch) -> Result<()> {
    sqlx::query(
        "INSERT INTO vouches (id, origin, voucher_user_id, subject_user_id, signature, sync_scope, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(v.id.to_string())
    .bind(v.origin.as_str())
    .bind(v.voucher_id.to_string())
    .bind(v.subject_id.to_string())
    .bind(&v.signature)
    .bind(v.scope.as_str())
    .bind(v.created_at.unix_micros())
    .bind(v.updated_at.unix_micros())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn insert_batch(pool: &Pool, batch: &Batch) -> Result<()> {
    let mut tx = D::begin(pool).await?;
    for user in &batch.users {
        insert_user_on(&mut tx, user).await?;
    }
    for request in &batch.requests {
        insert_request_on(&mut tx, request).await?;
    }
    for comment in &batch.comments {
        insert_comment_on(&mut tx, comment).await?;
    }
    for invite in &batch.invites {
        insert_invite_on(&mut tx, invite).await?;
    }
    for vouch in &batch.vouches {
        insert_vouch_on(&mut tx, vouch).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn accept_invite(pool: &Pool, invite_id: Uuid, new_user: &User) -> Result<()> {
    let mut tx = D::begin(pool).await?;
    insert_user_on(&mut tx, new_user).await?;
    let done = sqlx::query(
        "UPDATE invites SET invitee_id = $1, status = 'accepted', \
         updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END \
         WHERE id = $3 AND status = 'pending'",
    )
    .bind(new_user.id.to_string())
    .bind(new_user.created_at.unix_micros())
    .bind(invite_id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(StoreError::Constraint {
            constraint: "invite is no longer pending".into(),
        });
    }
    tx.commit().await?;
    Ok(())
}

/// `UPDATE` of a row's own scope: `$1` the scope, `$2` the time, `$3` the id.
pub(super) fn set_scope_sql(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => {
            "UPDATE users SET sync_scope = $1, \
             updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END WHERE id = $3"
        }
        EntityKind::Request => {
            "UPDATE requests SET sync_scope = $1, \
             updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END WHERE id = $3"
        }
        EntityKind::Comment => {
            "UPDATE comments SET sync_scope = $1, \
             updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END WHERE id = $3"
        }
        EntityKind::Invite => {
            "UPDATE invites SET sync_scope = $1, \
             updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END WHERE id = $3"
        }
        EntityKind::Vouch => {
            "UPDATE vouches SET sync_scope = $1, \
             updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END WHERE id = $3"
        }
    }
}

pub(crate) async fn set_scope(
    pool: &Pool,
    kind: EntityKind,
    id: Uuid,
    scope: SyncScope,
    at: Timestamp,
) -> Result<()> {
    let done = sqlx::query(set_scope_sql(kind))
        .bind(scope.as_str())
        .bind(at.unix_micros())
        .bind(id.to_string())
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            kind,
            id: id.to_string(),
        });
    }
    Ok(())
}

pub(crate) async fn update_profile(
    pool: &Pool,
    id: Uuid,
    display_name: &str,
    bio: &str,
    at: Timestamp,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE users SET display_name = $1, bio = $2, \
         updated_at = CASE WHEN $3 > updated_at THEN $3 ELSE updated_at + 1 END WHERE id = $4",
    )
    .bind(display_name)
    .bind(bio)
    .bind(at.unix_micros())
    .bind(id.to_string())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            kind: EntityKind::User,
            id: id.to_string(),
        });
    }
    Ok(())
}

/// Fails with [`StoreError::NotFound`] when `done` changed no row.
fn changed_one(done: &DbQueryResult, kind: EntityKind, id: Uuid) -> Result<()> {
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            kind,
            id: id.to_string(),
        });
    }
    Ok(())
}

pub(crate) async fn update_user(pool: &Pool, user: &User, at: Timestamp) -> Result<()> {
    let done = sqlx::query(
        "UPDATE users SET display_name = $1, bio = $2, email = $3, role = $4, \
         updated_at = CASE WHEN $5 > updated_at THEN $5 ELSE updated_at + 1 END WHERE id = $6",
    )
    .bind(&user.display_name)
    .bind(&user.bio)
    .bind(user.email.as_deref())
    .bind(user.role.as_str())
    .bind(at.unix_micros())
    .bind(user.id.to_string())
    .execute(pool)
    .await?;
    changed_one(&done, EntityKind::User, user.id)
}

pub(crate) async fn update_request(pool: &Pool, request: &Request, at: Timestamp) -> Result<()> {
    let done = sqlx::query(
        "UPDATE requests SET title = $1, body = $2, status = $3, \
         updated_at = CASE WHEN $4 > updated_at THEN $4 ELSE updated_at + 1 END WHERE id = $5",
    )
    .bind(&request.title)
    .bind(&request.body)
    .bind(request.status.as_str())
    .bind(at.unix_micros())
    .bind(request.id.to_string())
    .execute(pool)
    .await?;
    changed_one(&done, EntityKind::Request, request.id)
}

pub(crate) async fn update_comment(pool: &Pool, id: Uuid, body: &str, at: Timestamp) -> Result<()> {
    let done = sqlx::query(
        "UPDATE comments SET body = $1, \
         updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END WHERE id = $3",
    )
    .bind(body)
    .bind(at.unix_micros())
    .bind(id.to_string())
    .execute(pool)
    .await?;
    changed_one(&done, EntityKind::Comment, id)
}

pub(crate) async fn revoke_invite(pool: &Pool, id: Uuid, at: Timestamp) -> Result<()> {
    let done = sqlx::query(
        "UPDATE invites SET status = 'revoked', \
         updated_at = CASE WHEN $1 > updated_at THEN $1 ELSE updated_at + 1 END \
         WHERE id = $2 AND status = 'pending'",
    )
    .bind(at.unix_micros())
    .bind(id.to_string())
    .execute(pool)
    .await?;
    changed_one(&done, EntityKind::Invite, id)
}

pub(crate) async fn references_to(pool: &Pool, kind: EntityKind, id: Uuid) -> Result<References> {
    let sql = match kind {
        EntityKind::User => {
            "SELECT (SELECT count(*) FROM requests WHERE author_id = $1), \
             (SELECT count(*) FROM comments WHERE author_id = $1), \
             (SELECT count(*) FROM invites WHERE inviter_id = $1 OR invitee_id = $1), \
             (SELECT count(*) FROM vouches WHERE voucher_user_id = $1 OR subject_user_id = $1), \
             (SELECT count(*) FROM users WHERE invited_by = $1)"
        }
        EntityKind::Request => {
            "SELECT CAST(0 AS BIGINT), (SELECT count(*) FROM comments WHERE request_id = $1), \
             CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT)"
        }
        EntityKind::Comment | EntityKind::Invite | EntityKind::Vouch => {
            return Ok(References::default());
        }
    };
    let row = sqlx::query(sql)
        .bind(id.to_string())
        .fetch_one(pool)
        .await?;
    let count = |i: usize| -> Result<u64> {
        let n: i64 = row.try_get(i)?;
        Ok(u64::try_from(n).unwrap_or_default())
    };
    Ok(References {
        requests: count(0)?,
        comments: count(1)?,
        invites: count(2)?,
        vouches: count(3)?,
        invited_users: count(4)?,
    })
}

pub(crate) async fn delete_rows(pool: &Pool, rows: &[(EntityKind, Uuid)]) -> Result<()> {
    let mut tx = D::begin(pool).await?;
    for (kind, id) in rows {
        let done = sqlx::query(delete_sql(*kind))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        changed_one(&done, *kind, *id)?;
    }
    tx.commit().await?;
    Ok(())
}

/// `DELETE` of one row: `$1` the id.
pub(super) fn delete_sql(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "DELETE FROM users WHERE id = $1",
        EntityKind::Request => "DELETE FROM requests WHERE id = $1",
        EntityKind::Comment => "DELETE FROM comments WHERE id = $1",
        EntityKind::Invite => "DELETE FROM invites WHERE id = $1",
        EntityKind::Vouch => "DELETE FROM vouches WHERE id = $1",
    }
}
