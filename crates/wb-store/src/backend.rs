// Queries shared by both backends. This file is `include!`d into the
// `sqlite` and `postgres` modules of lib.rs, each of which defines `Db` and
// `begin`; everything here is therefore compiled once per backend, against
// concrete sqlx types. Keep the SQL portable: `$N` placeholders, no
// dialect-specific functions (the one exception, aggregating text, goes
// through the `lines_of!` macro each module defines).

use sqlx::Row as _;
use wb_model::{
    Comment, EntityKind, InstanceName, Invite, Request, SyncScope, Timestamp, User, Username, Uuid,
    Vouch,
};

use std::collections::{HashMap, HashSet};

use crate::{
    Batch, ImportBatch, ImportCounts, ImportPin, OriginState, Pin, PinChange, References, Result,
    StoreError,
};

type DbConn = <Db as sqlx::Database>::Connection;
type DbQueryResult = <Db as sqlx::Database>::QueryResult;

/// Versions recorded in sqlx's migration table; empty on a fresh database.
pub(crate) async fn applied_migrations(pool: &sqlx::Pool<Db>) -> Vec<i64> {
    // A fresh database has no migration table yet: that reads as "none applied".
    sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

pub(crate) async fn meta(pool: &sqlx::Pool<Db>, key: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar::<_, String>("SELECT value FROM instance_meta WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await?)
}

pub(crate) async fn set_meta(pool: &sqlx::Pool<Db>, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO instance_meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(pool)
    .await?;
    Ok(())
}

// ---- decoding ---------------------------------------------------------------

fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what, detail: detail.to_string() }
}

/// The named columns of one row: as the driver hands it, or as the database
/// packed it into a JSON object (`scan`).
trait Fields {
    fn text(&self, column: &'static str) -> Result<String>;
    fn opt_text(&self, column: &'static str) -> Result<Option<String>>;
    fn int(&self, column: &'static str) -> Result<i64>;
}

impl Fields for DbRow {
    fn text(&self, column: &'static str) -> Result<String> {
        Ok(self.try_get::<String, _>(column)?)
    }

    fn opt_text(&self, column: &'static str) -> Result<Option<String>> {
        Ok(self.try_get::<Option<String>, _>(column)?)
    }

    fn int(&self, column: &'static str) -> Result<i64> {
        Ok(self.try_get::<i64, _>(column)?)
    }
}

/// A row the database packed as a JSON array (`scan`), with the names of
/// its columns in order. Reading a column takes its value out (a decoder
/// reads each column once), so text is moved rather than copied.
struct Packed {
    names: &'static [&'static str],
    values: std::cell::RefCell<Vec<serde_json::Value>>,
}

impl Packed {
    fn take(&self, column: &'static str) -> Option<serde_json::Value> {
        let index = self.names.iter().position(|name| *name == column)?;
        self.values.borrow_mut().get_mut(index).map(std::mem::take)
    }
}

/// Errors name the column, never its value (which may be private).
impl Fields for Packed {
    fn text(&self, column: &'static str) -> Result<String> {
        match self.take(column) {
            Some(serde_json::Value::String(text)) => Ok(text),
            _ => Err(corrupt(column, "not text")),
        }
    }

    fn opt_text(&self, column: &'static str) -> Result<Option<String>> {
        match self.take(column) {
            Some(serde_json::Value::String(text)) => Ok(Some(text)),
            Some(serde_json::Value::Null) => Ok(None),
            _ => Err(corrupt(column, "not text")),
        }
    }

    fn int(&self, column: &'static str) -> Result<i64> {
        self.take(column)
            .as_ref()
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| corrupt(column, "not an integer"))
    }
}

fn get_text(row: &impl Fields, column: &'static str) -> Result<String> {
    row.text(column)
}

fn get_uuid(row: &impl Fields, column: &'static str) -> Result<Uuid> {
    Uuid::parse_str(&get_text(row, column)?).map_err(|e| corrupt(column, e))
}

fn get_opt_uuid(row: &impl Fields, column: &'static str) -> Result<Option<Uuid>> {
    row.opt_text(column)?
        .map(|text| Uuid::parse_str(&text).map_err(|e| corrupt(column, e)))
        .transpose()
}

fn get_time(row: &impl Fields, column: &'static str) -> Result<Timestamp> {
    Timestamp::from_unix_micros(row.int(column)?).map_err(|e| corrupt(column, e))
}

fn get_word<T: std::str::FromStr<Err = String>>(
    row: &impl Fields,
    column: &'static str,
) -> Result<T> {
    get_text(row, column)?.parse().map_err(|e: String| corrupt(column, e))
}

fn get_origin(row: &impl Fields) -> Result<InstanceName> {
    InstanceName::parse(&get_text(row, "origin")?).map_err(|e| corrupt("origin", e))
}

fn user_from_row(row: &impl Fields) -> Result<User> {
    Ok(User {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        username: Username::parse(&get_text(row, "username")?)
            .map_err(|e| corrupt("username", e))?,
        display_name: get_text(row, "display_name")?,
        bio: get_text(row, "bio")?,
        email: row.opt_text("email")?,
        role: get_word(row, "role")?,
        invited_by: get_opt_uuid(row, "invited_by")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn request_from_row(row: &impl Fields) -> Result<Request> {
    Ok(Request {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        author_id: get_uuid(row, "author_id")?,
        title: get_text(row, "title")?,
        body: get_text(row, "body")?,
        status: get_word(row, "status")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn comment_from_row(row: &impl Fields) -> Result<Comment> {
    Ok(Comment {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        request_id: get_uuid(row, "request_id")?,
        author_id: get_uuid(row, "author_id")?,
        body: get_text(row, "body")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn invite_from_row(row: &impl Fields) -> Result<Invite> {
    Ok(Invite {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        inviter_id: get_uuid(row, "inviter_id")?,
        invitee_id: get_opt_uuid(row, "invitee_id")?,
        status: get_word(row, "status")?,
        code: row.opt_text("code")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn vouch_from_row(row: &impl Fields) -> Result<Vouch> {
    Ok(Vouch {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        voucher_id: get_uuid(row, "voucher_user_id")?,
        subject_id: get_uuid(row, "subject_user_id")?,
        signature: get_text(row, "signature")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

// ---- writes -----------------------------------------------------------------

async fn insert_user_on(conn: &mut DbConn, u: &User) -> Result<()> {
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

async fn insert_request_on(conn: &mut DbConn, r: &Request) -> Result<()> {
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

async fn insert_comment_on(conn: &mut DbConn, c: &Comment) -> Result<()> {
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

async fn insert_invite_on(conn: &mut DbConn, i: &Invite) -> Result<()> {
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

async fn insert_vouch_on(conn: &mut DbConn, v: &Vouch) -> Result<()> {
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

async fn update_vouch_on(conn: &mut DbConn, v: &Vouch) -> Result<()> {
    sqlx::query(
        "UPDATE vouches SET voucher_user_id = $1, subject_user_id = $2, signature = $3, \
         sync_scope = $4, created_at = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(v.voucher_id.to_string())
    .bind(v.subject_id.to_string())
    .bind(&v.signature)
    .bind(v.scope.as_str())
    .bind(v.created_at.unix_micros())
    .bind(v.updated_at.unix_micros())
    .bind(v.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn insert_batch(pool: &sqlx::Pool<Db>, batch: &Batch) -> Result<()> {
    let mut tx = begin(pool).await?;
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

/// The new `updated_at` of a changed local row: the given time, or one
/// microsecond past the old value when the clock has not moved past it.
/// Every change to a row therefore moves its `updated_at` forward, which is
/// what importers (newer wins) and the export's record of rendered files
/// rely on.
macro_rules! bump_updated_at {
    ($at:literal) => {
        concat!("CASE WHEN ", $at, " > updated_at THEN ", $at, " ELSE updated_at + 1 END")
    };
}

pub(crate) async fn accept_invite(
    pool: &sqlx::Pool<Db>,
    invite_id: Uuid,
    new_user: &User,
) -> Result<()> {
    let mut tx = begin(pool).await?;
    insert_user_on(&mut tx, new_user).await?;
    let done = sqlx::query(
        concat!(
            "UPDATE invites SET invitee_id = $1, status = 'accepted', updated_at = ",
            bump_updated_at!("$2"),
            " WHERE id = $3 AND status = 'pending'"
        ),
    )
    .bind(new_user.id.to_string())
    .bind(new_user.created_at.unix_micros())
    .bind(invite_id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(StoreError::Constraint { constraint: "invite is no longer pending".into() });
    }
    tx.commit().await?;
    Ok(())
}

fn set_scope_sql(kind: EntityKind) -> &'static str {
    macro_rules! update {
        ($table:literal) => {
            concat!(
                "UPDATE ",
                $table,
                " SET sync_scope = $1, updated_at = ",
                bump_updated_at!("$2"),
                " WHERE id = $3"
            )
        };
    }
    match kind {
        EntityKind::User => update!("users"),
        EntityKind::Request => update!("requests"),
        EntityKind::Comment => update!("comments"),
        EntityKind::Invite => update!("invites"),
        EntityKind::Vouch => update!("vouches"),
    }
}

pub(crate) async fn set_scope(
    pool: &sqlx::Pool<Db>,
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
        return Err(StoreError::NotFound { kind, id: id.to_string() });
    }
    Ok(())
}

pub(crate) async fn update_profile(
    pool: &sqlx::Pool<Db>,
    id: Uuid,
    display_name: &str,
    bio: &str,
    at: Timestamp,
) -> Result<()> {
    let done = sqlx::query(
        concat!(
            "UPDATE users SET display_name = $1, bio = $2, updated_at = ",
            bump_updated_at!("$3"),
            " WHERE id = $4"
        ),
    )
    .bind(display_name)
    .bind(bio)
    .bind(at.unix_micros())
    .bind(id.to_string())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound { kind: EntityKind::User, id: id.to_string() });
    }
    Ok(())
}

/// Fails with [`StoreError::NotFound`] when `done` changed no row.
fn changed_one(done: &DbQueryResult, kind: EntityKind, id: Uuid) -> Result<()> {
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound { kind, id: id.to_string() });
    }
    Ok(())
}

pub(crate) async fn update_user(pool: &sqlx::Pool<Db>, user: &User, at: Timestamp) -> Result<()> {
    let done = sqlx::query(concat!(
        "UPDATE users SET display_name = $1, bio = $2, email = $3, role = $4, updated_at = ",
        bump_updated_at!("$5"),
        " WHERE id = $6"
    ))
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

pub(crate) async fn update_request(
    pool: &sqlx::Pool<Db>,
    request: &Request,
    at: Timestamp,
) -> Result<()> {
    let done = sqlx::query(concat!(
        "UPDATE requests SET title = $1, body = $2, status = $3, updated_at = ",
        bump_updated_at!("$4"),
        " WHERE id = $5"
    ))
    .bind(&request.title)
    .bind(&request.body)
    .bind(request.status.as_str())
    .bind(at.unix_micros())
    .bind(request.id.to_string())
    .execute(pool)
    .await?;
    changed_one(&done, EntityKind::Request, request.id)
}

pub(crate) async fn update_comment(
    pool: &sqlx::Pool<Db>,
    id: Uuid,
    body: &str,
    at: Timestamp,
) -> Result<()> {
    let done = sqlx::query(concat!(
        "UPDATE comments SET body = $1, updated_at = ",
        bump_updated_at!("$2"),
        " WHERE id = $3"
    ))
    .bind(body)
    .bind(at.unix_micros())
    .bind(id.to_string())
    .execute(pool)
    .await?;
    changed_one(&done, EntityKind::Comment, id)
}

pub(crate) async fn revoke_invite(pool: &sqlx::Pool<Db>, id: Uuid, at: Timestamp) -> Result<()> {
    let done = sqlx::query(concat!(
        "UPDATE invites SET status = 'revoked', updated_at = ",
        bump_updated_at!("$1"),
        " WHERE id = $2 AND status = 'pending'"
    ))
    .bind(at.unix_micros())
    .bind(id.to_string())
    .execute(pool)
    .await?;
    changed_one(&done, EntityKind::Invite, id)
}

pub(crate) async fn references_to(
    pool: &sqlx::Pool<Db>,
    kind: EntityKind,
    id: Uuid,
) -> Result<References> {
    let sql = match kind {
        EntityKind::User => concat!(
            "SELECT (SELECT count(*) FROM requests WHERE author_id = $1), ",
            "(SELECT count(*) FROM comments WHERE author_id = $1), ",
            "(SELECT count(*) FROM invites WHERE inviter_id = $1 OR invitee_id = $1), ",
            "(SELECT count(*) FROM vouches WHERE voucher_user_id = $1 OR subject_user_id = $1), ",
            "(SELECT count(*) FROM users WHERE invited_by = $1)"
        ),
        EntityKind::Request => concat!(
            "SELECT CAST(0 AS BIGINT), (SELECT count(*) FROM comments WHERE request_id = $1), ",
            "CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT)"
        ),
        EntityKind::Comment | EntityKind::Invite | EntityKind::Vouch => {
            return Ok(References::default());
        }
    };
    let row = sqlx::query(sql).bind(id.to_string()).fetch_one(pool).await?;
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

pub(crate) async fn delete_rows(pool: &sqlx::Pool<Db>, rows: &[(EntityKind, Uuid)]) -> Result<()> {
    let mut tx = begin(pool).await?;
    for (kind, id) in rows {
        let done = sqlx::query(delete_sql(*kind)).bind(id.to_string()).execute(&mut *tx).await?;
        changed_one(&done, *kind, *id)?;
    }
    tx.commit().await?;
    Ok(())
}

// ---- import -----------------------------------------------------------------

pub(crate) async fn origin_state(
    pool: &sqlx::Pool<Db>,
    instance: &InstanceName,
) -> Result<Option<OriginState>> {
    let row = sqlx::query(
        "SELECT instance, public_key, last_sequence, manifest_sha256, signature, imported_at, \
         key_rotations FROM sync_origins WHERE instance = $1",
    )
    .bind(instance.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(origin_from_row).transpose()
}

pub(crate) async fn origin_states(pool: &sqlx::Pool<Db>) -> Result<Vec<OriginState>> {
    let rows = sqlx::query(
        "SELECT instance, public_key, last_sequence, manifest_sha256, signature, imported_at, \
         key_rotations FROM sync_origins ORDER BY instance",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(origin_from_row).collect()
}

fn pin_from_row(row: &DbRow) -> Result<Pin> {
    Ok(Pin {
        instance: InstanceName::parse(&get_text(row, "instance")?)
            .map_err(|e| corrupt("instance", e))?,
        public_key: get_text(row, "public_key")?,
        pinned_at: get_time(row, "pinned_at")?,
        source: get_word(row, "pinned_by")?,
    })
}

pub(crate) async fn pin(pool: &sqlx::Pool<Db>, instance: &InstanceName) -> Result<Option<Pin>> {
    let row = sqlx::query(concat!(
        "SELECT instance, public_key, pinned_at, pinned_by FROM sync_pins",
        " WHERE instance = $1"
    ))
    .bind(instance.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(pin_from_row).transpose()
}

pub(crate) async fn pins(pool: &sqlx::Pool<Db>) -> Result<Vec<Pin>> {
    let rows = sqlx::query(concat!(
        "SELECT instance, public_key, pinned_at, pinned_by FROM sync_pins",
        " ORDER BY instance"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(pin_from_row).collect()
}

/// The key pinned for `origin`, read inside a transaction that holds the
/// origin's lock.
async fn pinned_key_on(conn: &mut DbConn, origin: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar::<_, String>("SELECT public_key FROM sync_pins WHERE instance = $1")
        .bind(origin)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Applies `change` on a transaction that holds its origin's lock, after
/// checking that the pin is still `change.replaces` and that no other
/// origin has the key. Returns whether the pin moved.
async fn change_pin_on(conn: &mut DbConn, change: &PinChange) -> Result<bool> {
    let origin = change.instance.as_str();
    let found = pinned_key_on(conn, origin).await?;
    // Already the wanted pin (say, two imports of one bundle pinning its
    // key at once): nothing to change.
    if found.as_deref() == Some(change.public_key.as_str()) {
        return Ok(false);
    }
    if found != change.replaces {
        return Err(StoreError::PinChanged {
            instance: origin.to_owned(),
            expected: change.replaces.clone(),
            found,
        });
    }
    let elsewhere: Option<String> = sqlx::query_scalar(
        "SELECT instance FROM sync_pins WHERE public_key = $1 AND instance <> $2",
    )
    .bind(&change.public_key)
    .bind(origin)
    .fetch_optional(&mut *conn)
    .await?;
    let pinned_elsewhere = |pinned_for: String| StoreError::KeyPinnedElsewhere {
        key: change.public_key.clone(),
        pinned_for,
        wanted: origin.to_owned(),
    };
    if let Some(other) = elsewhere {
        return Err(pinned_elsewhere(other));
    }
    // Another origin pinning the same key at this very moment (it holds
    // its own origin's lock, not this one's) is stopped by the UNIQUE
    // constraint.
    sqlx::query(
        "INSERT INTO sync_pins (instance, public_key, pinned_at, pinned_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (instance) DO UPDATE SET \
         public_key = excluded.public_key, pinned_at = excluded.pinned_at, \
         pinned_by = excluded.pinned_by",
    )
    .bind(origin)
    .bind(&change.public_key)
    .bind(change.at.unix_micros())
    .bind(change.source.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Constraint { .. } => pinned_elsewhere("another origin".to_owned()),
        other => other,
    })?;
    Ok(true)
}

pub(crate) async fn change_pin(pool: &sqlx::Pool<Db>, change: &PinChange) -> Result<Option<u64>> {
    let origin = change.instance.as_str();
    let mut tx = begin(pool).await?;
    lock_origin(&mut tx, origin).await?;
    change_pin_on(&mut tx, change).await?;
    let mut forgotten = None;
    if change.reset_sequence {
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT last_sequence FROM sync_origins WHERE instance = $1")
                .bind(origin)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM sync_origins WHERE instance = $1")
            .bind(origin)
            .execute(&mut *tx)
            .await?;
        forgotten = applied
            .map(|applied| u64::try_from(applied).map_err(|e| corrupt("last_sequence", e)))
            .transpose()?;
    }
    tx.commit().await?;
    Ok(forgotten)
}

fn origin_from_row(row: &DbRow) -> Result<OriginState> {
    let sequence: i64 = row.try_get("last_sequence")?;
    Ok(OriginState {
        instance: InstanceName::parse(&get_text(row, "instance")?)
            .map_err(|e| corrupt("instance", e))?,
        public_key: get_text(row, "public_key")?,
        last_sequence: u64::try_from(sequence).map_err(|e| corrupt("last_sequence", e))?,
        manifest_sha256: get_text(row, "manifest_sha256")?,
        signature: get_text(row, "signature")?,
        imported_at: get_time(row, "imported_at")?,
        key_rotations: row.try_get("key_rotations")?,
    })
}

fn sequence_i64(sequence: u64) -> Result<i64> {
    i64::try_from(sequence).map_err(|e| corrupt("sequence", e))
}

/// `id → (updated_at, sync_scope)` of every row of `origin` in one table.
async fn existing_rows(
    conn: &mut DbConn,
    sql: &'static str,
    origin: &str,
) -> Result<HashMap<Uuid, (i64, String)>> {
    let rows = sqlx::query(sql).bind(origin).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok((get_uuid(row, "id")?, (row.try_get("updated_at")?, get_text(row, "sync_scope")?)))
        })
        .collect()
}

/// Whether an incoming row replaces the stored one: it is newer, or the
/// stored one was withdrawn and the origin publishes it again.
fn replaces(stored: Option<&(i64, String)>, incoming: Timestamp) -> Option<bool> {
    stored.map(|(updated_at, scope)| {
        incoming.unix_micros() > *updated_at || scope == SyncScope::Private.as_str()
    })
}

/// Maps a primary-key clash on insert to [`StoreError::IdCollision`].
fn collision(kind: EntityKind, id: Uuid) -> impl FnOnce(StoreError) -> StoreError {
    move |err| match err {
        StoreError::Constraint { .. } => StoreError::IdCollision { kind, id: id.to_string() },
        other => other,
    }
}

async fn update_user_on(conn: &mut DbConn, u: &User) -> Result<()> {
    sqlx::query(
        "UPDATE users SET username = $1, display_name = $2, bio = $3, sync_scope = $4, \
         created_at = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(u.username.as_str())
    .bind(&u.display_name)
    .bind(&u.bio)
    .bind(u.scope.as_str())
    .bind(u.created_at.unix_micros())
    .bind(u.updated_at.unix_micros())
    .bind(u.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn update_request_on(conn: &mut DbConn, r: &Request) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET author_id = $1, title = $2, body = $3, status = $4, sync_scope = $5, \
         created_at = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(r.author_id.to_string())
    .bind(&r.title)
    .bind(&r.body)
    .bind(r.status.as_str())
    .bind(r.scope.as_str())
    .bind(r.created_at.unix_micros())
    .bind(r.updated_at.unix_micros())
    .bind(r.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn update_comment_on(conn: &mut DbConn, c: &Comment) -> Result<()> {
    sqlx::query(
        "UPDATE comments SET request_id = $1, author_id = $2, body = $3, sync_scope = $4, \
         created_at = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(c.request_id.to_string())
    .bind(c.author_id.to_string())
    .bind(&c.body)
    .bind(c.scope.as_str())
    .bind(c.created_at.unix_micros())
    .bind(c.updated_at.unix_micros())
    .bind(c.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn update_invite_on(conn: &mut DbConn, i: &Invite) -> Result<()> {
    sqlx::query(
        "UPDATE invites SET inviter_id = $1, invitee_id = $2, status = $3, sync_scope = $4, \
         created_at = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(i.inviter_id.to_string())
    .bind(i.invitee_id.map(|id| id.to_string()))
    .bind(i.status.as_str())
    .bind(i.scope.as_str())
    .bind(i.created_at.unix_micros())
    .bind(i.updated_at.unix_micros())
    .bind(i.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Retracts one row its origin no longer publishes: deletes it, or marks it
/// withdrawn (private) when rows of other origins still reference it.
async fn retract(conn: &mut DbConn, kind: EntityKind, id: Uuid, scope: &str) -> Result<bool> {
    let referenced_sql = match kind {
        EntityKind::User => Some(
            "SELECT EXISTS (SELECT 1 FROM requests WHERE author_id = $1) \
             OR EXISTS (SELECT 1 FROM comments WHERE author_id = $1) \
             OR EXISTS (SELECT 1 FROM invites WHERE inviter_id = $1 OR invitee_id = $1) \
             OR EXISTS (SELECT 1 FROM users WHERE invited_by = $1) \
             OR EXISTS (SELECT 1 FROM vouches WHERE voucher_user_id = $1 OR subject_user_id = $1)",
        ),
        EntityKind::Request => Some("SELECT EXISTS (SELECT 1 FROM comments WHERE request_id = $1)"),
        EntityKind::Comment | EntityKind::Invite | EntityKind::Vouch => None,
    };
    let referenced = match referenced_sql {
        Some(sql) => {
            sqlx::query_scalar::<_, bool>(sql).bind(id.to_string()).fetch_one(&mut *conn).await?
        }
        None => false,
    };
    if referenced {
        if scope == SyncScope::Private.as_str() {
            return Ok(false);
        }
        sqlx::query(set_scope_sql(kind))
            .bind(SyncScope::Private.as_str())
            .bind(Timestamp::now().unix_micros())
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
    } else {
        sqlx::query(delete_sql(kind)).bind(id.to_string()).execute(&mut *conn).await?;
    }
    Ok(true)
}

fn delete_sql(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "DELETE FROM users WHERE id = $1",
        EntityKind::Request => "DELETE FROM requests WHERE id = $1",
        EntityKind::Comment => "DELETE FROM comments WHERE id = $1",
        EntityKind::Invite => "DELETE FROM invites WHERE id = $1",
        EntityKind::Vouch => "DELETE FROM vouches WHERE id = $1",
    }
}

// ---- multi-row inserts of an import ------------------------------------------

type DbQuery<'a> = sqlx::query::Query<'a, Db, <Db as sqlx::Database>::Arguments>;

/// Rows per `INSERT` statement of an import, largest first: new rows go in
/// statements of 16 rows, the rest in smaller ones. One statement per row
/// costs a round trip each (to SQLite's worker thread or the Postgres
/// server); much larger statements cost more than they save, because
/// binding parameter `$i` makes SQLite scan its parameter names
/// (`sqlite3_bind_parameter_name`), quadratic in the parameters of a
/// statement (measured with wb-bench: 256 rows were slower than 1).
const INSERT_SIZES: [usize; 3] = [16, 4, 1];

/// The largest statement of [`INSERT_SIZES`] for `left` rows (at least 1):
/// its index and its size.
fn statement_size(left: usize) -> (usize, usize) {
    INSERT_SIZES
        .iter()
        .enumerate()
        .find(|(_, size)| **size <= left)
        .map(|(which, size)| (which, *size))
        .unwrap_or((INSERT_SIZES.len() - 1, 1))
}

/// `<head> VALUES ($1, …, $columns), (…)` for `rows` rows.
fn values_sql(head: &str, columns: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * columns * 6);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * columns + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// The multi-row `INSERT` statements of one table, one per size in
/// [`INSERT_SIZES`]. They are built once from constants, never from input,
/// and live for the whole program, so they are `&'static str` like every
/// other query here.
macro_rules! multi_insert {
    ($name:ident, $head:literal, $columns:literal) => {
        static $name: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
            INSERT_SIZES.iter().map(|&rows| values_sql($head, $columns, rows)).collect()
        });
    };
}

multi_insert!(
    INSERT_USERS,
    "INSERT INTO users (id, origin, username, display_name, bio, email, role, invited_by, \
     sync_scope, created_at, updated_at)",
    11
);
multi_insert!(
    INSERT_REQUESTS,
    "INSERT INTO requests (id, origin, author_id, title, body, status, sync_scope, created_at, \
     updated_at)",
    9
);
multi_insert!(
    INSERT_COMMENTS,
    "INSERT INTO comments (id, origin, request_id, author_id, body, sync_scope, created_at, \
     updated_at)",
    8
);
multi_insert!(
    INSERT_INVITES,
    "INSERT INTO invites (id, origin, inviter_id, invitee_id, status, code, sync_scope, \
     created_at, updated_at)",
    9
);
multi_insert!(
    INSERT_VOUCHES,
    "INSERT INTO vouches (id, origin, voucher_user_id, subject_user_id, signature, sync_scope, \
     created_at, updated_at)",
    8
);

fn bind_user<'a>(q: DbQuery<'a>, u: &User) -> DbQuery<'a> {
    q.bind(u.id.to_string())
        .bind(u.origin.as_str())
        .bind(u.username.as_str())
        .bind(u.display_name.as_str())
        .bind(u.bio.as_str())
        .bind(u.email.as_deref())
        .bind(u.role.as_str())
        .bind(u.invited_by.map(|id| id.to_string()))
        .bind(u.scope.as_str())
        .bind(u.created_at.unix_micros())
        .bind(u.updated_at.unix_micros())
}

fn bind_request<'a>(q: DbQuery<'a>, r: &Request) -> DbQuery<'a> {
    q.bind(r.id.to_string())
        .bind(r.origin.as_str())
        .bind(r.author_id.to_string())
        .bind(r.title.as_str())
        .bind(r.body.as_str())
        .bind(r.status.as_str())
        .bind(r.scope.as_str())
        .bind(r.created_at.unix_micros())
        .bind(r.updated_at.unix_micros())
}

fn bind_comment<'a>(q: DbQuery<'a>, c: &Comment) -> DbQuery<'a> {
    q.bind(c.id.to_string())
        .bind(c.origin.as_str())
        .bind(c.request_id.to_string())
        .bind(c.author_id.to_string())
        .bind(c.body.as_str())
        .bind(c.scope.as_str())
        .bind(c.created_at.unix_micros())
        .bind(c.updated_at.unix_micros())
}

fn bind_invite<'a>(q: DbQuery<'a>, i: &Invite) -> DbQuery<'a> {
    q.bind(i.id.to_string())
        .bind(i.origin.as_str())
        .bind(i.inviter_id.to_string())
        .bind(i.invitee_id.map(|id| id.to_string()))
        .bind(i.status.as_str())
        .bind(i.code.as_deref())
        .bind(i.scope.as_str())
        .bind(i.created_at.unix_micros())
        .bind(i.updated_at.unix_micros())
}

fn bind_vouch<'a>(q: DbQuery<'a>, v: &Vouch) -> DbQuery<'a> {
    q.bind(v.id.to_string())
        .bind(v.origin.as_str())
        .bind(v.voucher_id.to_string())
        .bind(v.subject_id.to_string())
        .bind(v.signature.as_str())
        .bind(v.scope.as_str())
        .bind(v.created_at.unix_micros())
        .bind(v.updated_at.unix_micros())
}

/// Inserts `rows` (new rows of one kind, in order) with multi-row
/// statements. A statement the schema refuses is rolled back to its
/// savepoint and its rows are inserted one by one, so the error names the
/// row at fault exactly as a row-by-row insert would.
macro_rules! insert_new_rows {
    ($conn:expr, $kind:expr, $rows:expr, $sqls:expr, $bind:ident, $insert:ident) => {{
        let rows = $rows;
        let mut start = 0;
        while start < rows.len() {
            let (which, size) = statement_size(rows.len() - start);
            let chunk = &rows[start..start + size];
            let sql: &'static str = $sqls[which].as_str();
            let mut query = sqlx::query(sql);
            for row in chunk {
                query = $bind(query, row);
            }
            sqlx::query("SAVEPOINT import_rows").execute(&mut *$conn).await?;
            match query.execute(&mut *$conn).await.map_err(StoreError::from) {
                Ok(_) => {}
                Err(StoreError::Constraint { .. }) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT import_rows").execute(&mut *$conn).await?;
                    for row in chunk {
                        $insert($conn, row).await.map_err(collision($kind, row.id))?;
                    }
                }
                Err(other) => return Err(other),
            }
            sqlx::query("RELEASE SAVEPOINT import_rows").execute(&mut *$conn).await?;
            start += size;
        }
    }};
}

/// Applies one entity kind of a bundle: insert, update when newer, or
/// leave; returns the stored rows of the origin the bundle no longer holds.
/// New rows are inserted together after the updates (rows of one kind never
/// reference each other in a bundle).
macro_rules! apply_kind {
    ($conn:expr, $counts:expr, $origin:expr, $kind:expr, $rows:expr, $table:literal,
     $insert:ident, $update:ident, $sqls:expr, $bind:ident) => {{
        let mut existing = existing_rows(
            $conn,
            concat!("SELECT id, updated_at, sync_scope FROM ", $table, " WHERE origin = $1"),
            $origin,
        )
        .await?;
        let mut seen = HashSet::with_capacity($rows.len());
        let mut new_rows = Vec::new();
        for row in $rows {
            seen.insert(row.id);
            match replaces(existing.get(&row.id), row.updated_at) {
                None => {
                    new_rows.push(row);
                    $counts.added += 1;
                }
                Some(true) => {
                    $update($conn, row).await?;
                    $counts.updated += 1;
                }
                Some(false) => $counts.unchanged += 1,
            }
        }
        insert_new_rows!($conn, $kind, &new_rows, $sqls, $bind, $insert);
        existing.retain(|id, _| !seen.contains(id));
        existing
    }};
}

pub(crate) async fn apply_import(pool: &sqlx::Pool<Db>, batch: &ImportBatch) -> Result<ImportCounts> {
    let state = &batch.state;
    let origin = state.instance.as_str();
    let sequence = sequence_i64(state.last_sequence)?;
    if batch.pin.key() != state.public_key {
        return Err(StoreError::PinChanged {
            instance: origin.to_owned(),
            expected: Some(state.public_key.clone()),
            found: Some(batch.pin.key().to_owned()),
        });
    }
    let mut tx = begin(pool).await?;
    // First the origin's lock, then, under it, everything the import was
    // verified against: the pin and the high-water mark may have moved
    // since the caller read them.
    lock_origin(&mut tx, origin).await?;
    match &batch.pin {
        ImportPin::Pinned(key) => {
            let found = pinned_key_on(&mut tx, origin).await?;
            if found.as_deref() != Some(key.as_str()) {
                return Err(StoreError::PinChanged {
                    instance: origin.to_owned(),
                    expected: Some(key.clone()),
                    found,
                });
            }
        }
        ImportPin::Change(change) => {
            if change.instance != state.instance || change.reset_sequence {
                return Err(corrupt("pin change", "not for this import's origin"));
            }
            change_pin_on(&mut tx, change).await?;
        }
    }
    let applied = sqlx::query(
        "SELECT last_sequence, manifest_sha256 FROM sync_origins WHERE instance = $1",
    )
    .bind(origin)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = applied {
        let applied: i64 = row.try_get("last_sequence")?;
        let digest = get_text(&row, "manifest_sha256")?;
        if applied == sequence && digest == state.manifest_sha256 {
            return Err(StoreError::AlreadyApplied {
                instance: origin.to_owned(),
                sequence: state.last_sequence,
            });
        }
        if applied >= sequence {
            return Err(StoreError::StaleSequence {
                instance: origin.to_owned(),
                applied: u64::try_from(applied).unwrap_or_default(),
                offered: state.last_sequence,
            });
        }
    }

    let mut counts = ImportCounts::default();
    let conn: &mut DbConn = &mut tx;
    let gone_users = apply_kind!(
        conn, counts, origin, EntityKind::User, &batch.users, "users", insert_user_on,
        update_user_on, INSERT_USERS, bind_user
    );
    let gone_requests = apply_kind!(
        conn, counts, origin, EntityKind::Request, &batch.requests, "requests",
        insert_request_on, update_request_on, INSERT_REQUESTS, bind_request
    );
    let gone_comments = apply_kind!(
        conn, counts, origin, EntityKind::Comment, &batch.comments, "comments",
        insert_comment_on, update_comment_on, INSERT_COMMENTS, bind_comment
    );
    let gone_invites = apply_kind!(
        conn, counts, origin, EntityKind::Invite, &batch.invites, "invites",
        insert_invite_on, update_invite_on, INSERT_INVITES, bind_invite
    );
    let gone_vouches = apply_kind!(
        conn, counts, origin, EntityKind::Vouch, &batch.vouches, "vouches",
        insert_vouch_on, update_vouch_on, INSERT_VOUCHES, bind_vouch
    );
    // Retract dependents first, so a row's own origin never holds it back.
    for (kind, gone) in [
        (EntityKind::Vouch, gone_vouches),
        (EntityKind::Invite, gone_invites),
        (EntityKind::Comment, gone_comments),
        (EntityKind::Request, gone_requests),
        (EntityKind::User, gone_users),
    ] {
        let mut gone: Vec<_> = gone.into_iter().collect();
        gone.sort_by_key(|(id, _)| *id);
        for (id, (_, scope)) in gone {
            if retract(conn, kind, id, &scope).await? {
                counts.retracted += 1;
            }
        }
    }

    sqlx::query(
        "INSERT INTO sync_origins (instance, public_key, last_sequence, manifest_sha256, \
         signature, imported_at, key_rotations) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (instance) DO UPDATE SET public_key = excluded.public_key, \
         last_sequence = excluded.last_sequence, manifest_sha256 = excluded.manifest_sha256, \
         signature = excluded.signature, imported_at = excluded.imported_at, \
         key_rotations = excluded.key_rotations",
    )
    .bind(origin)
    .bind(&state.public_key)
    .bind(sequence)
    .bind(&state.manifest_sha256)
    .bind(&state.signature)
    .bind(state.imported_at.unix_micros())
    .bind(&state.key_rotations)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(counts)
}

// ---- reads ------------------------------------------------------------------

// Column lists are macros so that every query stays a `&'static str`: sqlx
// 0.9 only takes dynamic SQL behind `AssertSqlSafe`, and we need none.
// Each table's columns are listed once, as identifiers handed to a macro:
// `column_list` makes the SELECT list (and the values `scan` packs into a
// JSON array), `column_names` the names of those values.
macro_rules! user_columns {
    ($m:ident) => { $m!(origin, username, display_name, bio, email, role, invited_by, sync_scope,
        created_at, updated_at) };
}
macro_rules! request_columns {
    ($m:ident) => { $m!(origin, author_id, title, body, status, sync_scope, created_at, updated_at) };
}
macro_rules! comment_columns {
    ($m:ident) => { $m!(origin, request_id, author_id, body, sync_scope, created_at, updated_at) };
}
macro_rules! invite_columns {
    ($m:ident) => { $m!(origin, inviter_id, invitee_id, status, code, sync_scope, created_at,
        updated_at) };
}
macro_rules! vouch_columns {
    ($m:ident) => { $m!(origin, voucher_user_id, subject_user_id, signature, sync_scope, created_at,
        updated_at) };
}
/// `id, a, b, …`
macro_rules! column_list {
    ($($column:ident),*) => { concat!("id" $(, ", ", stringify!($column))*) };
}
/// `["id", "a", "b", …]`
macro_rules! column_names {
    ($($column:ident),*) => { &["id" $(, stringify!($column))*] };
}
macro_rules! select_users {
    ($($rest:literal)*) => { concat!("SELECT ", user_columns!(column_list), " FROM users ", $($rest),*) };
}
macro_rules! select_requests {
    ($($rest:literal)*) => { concat!("SELECT ", request_columns!(column_list), " FROM requests ", $($rest),*) };
}
macro_rules! select_comments {
    ($($rest:literal)*) => { concat!("SELECT ", comment_columns!(column_list), " FROM comments ", $($rest),*) };
}
macro_rules! select_invites {
    ($($rest:literal)*) => { concat!("SELECT ", invite_columns!(column_list), " FROM invites ", $($rest),*) };
}

async fn fetch_one_by<T>(
    pool: &sqlx::Pool<Db>,
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
    pool: &sqlx::Pool<Db>,
    sql: &'static str,
    decode: fn(&DbRow) -> Result<T>,
) -> Result<Vec<T>> {
    sqlx::query(sql)
        .try_map(move |row: DbRow| decode(&row).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .fetch_all(pool)
        .await
        .map_err(decode_error)
}

/// A [`StoreError`] raised while decoding inside sqlx's `try_map`, back out
/// of the `sqlx::Error::Decode` it travelled in.
fn decode_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Decode(inner) => match inner.downcast::<StoreError>() {
            Ok(decoded) => *decoded,
            Err(other) => StoreError::Database(sqlx::Error::Decode(other)),
        },
        other => other.into(),
    }
}

/// Every row of `sql` (which has no `ORDER BY`), sorted by creation time
/// then id. Sorting here rather than in SQL keeps the database from
/// spilling whole rows, bodies included, into a temporary sort file; the
/// order is the same, as ids are canonical lowercase UUID text, which sorts
/// like the UUID's bytes.
async fn fetch_all_by_creation<T: Send + Unpin>(
    pool: &sqlx::Pool<Db>,
    sql: &'static str,
    decode: fn(&DbRow) -> Result<T>,
    key: fn(&T) -> (Timestamp, Uuid),
) -> Result<Vec<T>> {
    let mut rows = fetch_all(pool, sql, decode).await?;
    rows.sort_unstable_by_key(key);
    Ok(rows)
}

pub(crate) async fn user(pool: &sqlx::Pool<Db>, id: Uuid) -> Result<Option<User>> {
    let sql = select_users!("WHERE id = $1");
    fetch_one_by(pool, sql, &id.to_string(), user_from_row).await
}

pub(crate) async fn user_by_username(
    pool: &sqlx::Pool<Db>,
    origin: &InstanceName,
    username: &Username,
) -> Result<Option<User>> {
    let sql = select_users!("WHERE origin = $1 AND username = $2");
    let row = sqlx::query(sql)
        .bind(origin.as_str())
        .bind(username.as_str())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(crate) async fn ids_with_prefix(
    pool: &sqlx::Pool<Db>,
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

pub(crate) async fn users(pool: &sqlx::Pool<Db>) -> Result<Vec<User>> {
    let sql = select_users!("ORDER BY origin, username");
    fetch_all(pool, sql, user_from_row).await
}

pub(crate) async fn request(pool: &sqlx::Pool<Db>, id: Uuid) -> Result<Option<Request>> {
    let sql = select_requests!("WHERE id = $1");
    fetch_one_by(pool, sql, &id.to_string(), request_from_row).await
}

pub(crate) async fn requests(pool: &sqlx::Pool<Db>) -> Result<Vec<Request>> {
    let sql = select_requests!();
    fetch_all_by_creation(pool, sql, request_from_row, |r| (r.created_at, r.id)).await
}

pub(crate) async fn comment(pool: &sqlx::Pool<Db>, id: Uuid) -> Result<Option<Comment>> {
    let sql = select_comments!("WHERE id = $1");
    fetch_one_by(pool, sql, &id.to_string(), comment_from_row).await
}

pub(crate) async fn comments(pool: &sqlx::Pool<Db>) -> Result<Vec<Comment>> {
    let sql = select_comments!();
    fetch_all_by_creation(pool, sql, comment_from_row, |c| (c.created_at, c.id)).await
}

pub(crate) async fn comments_of(pool: &sqlx::Pool<Db>, request_id: Uuid) -> Result<Vec<Comment>> {
    let sql = select_comments!("WHERE request_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(sql).bind(request_id.to_string()).fetch_all(pool).await?;
    rows.iter().map(comment_from_row).collect()
}

pub(crate) async fn invite(pool: &sqlx::Pool<Db>, id: Uuid) -> Result<Option<Invite>> {
    let sql = select_invites!("WHERE id = $1");
    fetch_one_by(pool, sql, &id.to_string(), invite_from_row).await
}

pub(crate) async fn invite_by_code(pool: &sqlx::Pool<Db>, code: &str) -> Result<Option<Invite>> {
    let sql = select_invites!("WHERE code = $1");
    fetch_one_by(pool, sql, code, invite_from_row).await
}

macro_rules! select_vouches {
    ($($rest:literal)*) => { concat!("SELECT ", vouch_columns!(column_list), " FROM vouches ", $($rest),*) };
}

pub(crate) async fn vouch(pool: &sqlx::Pool<Db>, id: Uuid) -> Result<Option<Vouch>> {
    let sql = select_vouches!("WHERE id = $1");
    fetch_one_by(pool, sql, &id.to_string(), vouch_from_row).await
}

pub(crate) async fn vouches(pool: &sqlx::Pool<Db>) -> Result<Vec<Vouch>> {
    let sql = select_vouches!();
    fetch_all_by_creation(pool, sql, vouch_from_row, |v| (v.created_at, v.id)).await
}

pub(crate) async fn root_users(pool: &sqlx::Pool<Db>) -> Result<Vec<User>> {
    let sql = select_users!(
        "WHERE invited_by IS NULL \
         AND NOT EXISTS (SELECT 1 FROM invites WHERE invites.invitee_id = users.id) \
         AND (sync_scope = 'public' \
              OR origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')) \
         ORDER BY origin, username"
    );
    fetch_all(pool, sql, user_from_row).await
}

pub(crate) async fn invites(pool: &sqlx::Pool<Db>) -> Result<Vec<Invite>> {
    let sql = select_invites!();
    fetch_all_by_creation(pool, sql, invite_from_row, |i| (i.created_at, i.id)).await
}

pub(crate) async fn row_count(pool: &sqlx::Pool<Db>, kind: EntityKind) -> Result<u64> {
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

/// Rows `scan` asks for at a time.
const SCAN_CHUNK: i64 = 500;

/// The `scan` query of a table: the next chunk of rows after key `$1` (at
/// most `$2`; the key is `scan_key!`, the table's storage order where the
/// database has one), packed by the database into one text of one JSON array per
/// line (JSON escapes newlines, so lines split cleanly), and the chunk's
/// last key. One row per chunk instead of one per row: SQLite's driver hands
/// every row from its worker thread over a channel, which costs more than
/// the database's own work for a table read whole.
macro_rules! scan_sql {
    ($columns:ident, $table:literal) => {
        concat!(
            "SELECT ",
            lines_of!(json_row!($columns!(column_list))),
            ", CAST(MAX(scan_key) AS TEXT) FROM (SELECT ",
            $columns!(column_list),
            ", ",
            scan_key!(),
            " AS scan_key FROM ",
            $table,
            " WHERE ",
            scan_key!(),
            " > ",
            scan_after!(),
            " ORDER BY ",
            scan_key!(),
            " LIMIT $2) AS chunk"
        )
    };
}

/// The chunk of `sql` (a `scan_sql!`) after the key `after`.
async fn fetch_chunk(pool: sqlx::Pool<Db>, sql: &'static str, after: String) -> Result<DbRow> {
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
    pool: &sqlx::Pool<Db>,
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
            let row = Packed {
                names,
                values: std::cell::RefCell::new(values),
            };
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

pub(crate) async fn scan_users(pool: &sqlx::Pool<Db>, each: &mut dyn FnMut(User) -> bool) -> Result<()> {
    let names = user_columns!(column_names);
    scan(pool, scan_sql!(user_columns, "users"), names, user_from_row, each).await
}

pub(crate) async fn scan_requests(
    pool: &sqlx::Pool<Db>,
    each: &mut dyn FnMut(Request) -> bool,
) -> Result<()> {
    let names = request_columns!(column_names);
    scan(pool, scan_sql!(request_columns, "requests"), names, request_from_row, each).await
}

pub(crate) async fn scan_comments(
    pool: &sqlx::Pool<Db>,
    each: &mut dyn FnMut(Comment) -> bool,
) -> Result<()> {
    let names = comment_columns!(column_names);
    scan(pool, scan_sql!(comment_columns, "comments"), names, comment_from_row, each).await
}

pub(crate) async fn scan_invites(
    pool: &sqlx::Pool<Db>,
    each: &mut dyn FnMut(Invite) -> bool,
) -> Result<()> {
    let names = invite_columns!(column_names);
    scan(pool, scan_sql!(invite_columns, "invites"), names, invite_from_row, each).await
}

pub(crate) async fn scan_vouches(
    pool: &sqlx::Pool<Db>,
    each: &mut dyn FnMut(Vouch) -> bool,
) -> Result<()> {
    let names = vouch_columns!(column_names);
    scan(pool, scan_sql!(vouch_columns, "vouches"), names, vouch_from_row, each).await
}

// ---- the export's record of rendered files -----------------------------------

/// The heads of one table (see `RowHead`), packed by the database into one
/// text of one line per row: `id local scope updated_at ref1 ref2
/// rendered_at rendered_length rendered_sha256`, space-separated, absent
/// values empty. None of these values can hold a space or a newline (UUIDs,
/// scope words, integers, hex). One row instead of thousands: the drivers'
/// cost per row (SQLite's worker thread hands every row over a channel) is
/// what a narrow read of many rows spends its time on. `$ref1` and `$ref2`
/// are the table's reference columns in `RowHead::refs` order, or `NULL`.
macro_rules! select_heads {
    ($table:literal, $entity:literal, $ref1:literal, $ref2:literal) => {
        concat!(
            "SELECT ",
            lines_of!(concat!(
                "t.id || ' ' || CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
                 t.sync_scope || ' ' || CAST(t.updated_at AS TEXT) || ' ' || COALESCE(",
                $ref1,
                ", '') || ' ' || COALESCE(",
                $ref2,
                ", '') || ' ' || COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
                 COALESCE(CAST(e.length AS TEXT), '') || ' ' || COALESCE(e.sha256, '')"
            )),
            " FROM ",
            $table,
            " t LEFT JOIN export_files e ON e.entity = '",
            $entity,
            "' AND e.id = t.id"
        )
    };
}

/// `select_heads!` of the rows whose id is in the JSON array `$2` or that
/// reference one in the JSON array `$3`.
macro_rules! select_heads_matching {
    // One reference column: no `NULL IN …` term, which would keep SQLite
    // from searching each term by its index (it would scan the table).
    ($table:literal, $entity:literal, $ref1:literal) => {
        concat!(
            select_heads!($table, $entity, $ref1, "NULL"),
            " WHERE t.id IN ",
            json_texts!("$2"),
            " OR ",
            $ref1,
            " IN ",
            json_texts!("$3")
        )
    };
    ($table:literal, $entity:literal, $ref1:literal, $ref2:literal) => {
        concat!(
            select_heads!($table, $entity, $ref1, $ref2),
            " WHERE t.id IN ",
            json_texts!("$2"),
            " OR ",
            $ref1,
            " IN ",
            json_texts!("$3"),
            " OR ",
            $ref2,
            " IN ",
            json_texts!("$3")
        )
    };
}

fn select_heads_matching_sql(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => concat!(
            select_heads!("users", "user", "NULL", "NULL"),
            " WHERE t.id IN ",
            json_texts!("$2"),
            // Users reference nothing; `$3` is named only so that Postgres
            // knows every parameter's type.
            " AND CAST($3 AS TEXT) IS NOT NULL"
        ),
        EntityKind::Request => {
            select_heads_matching!("requests", "request", "t.author_id")
        }
        EntityKind::Comment => {
            select_heads_matching!("comments", "comment", "t.request_id", "t.author_id")
        }
        EntityKind::Invite => {
            select_heads_matching!("invites", "invite", "t.inviter_id", "t.invitee_id")
        }
        EntityKind::Vouch => select_heads_matching!(
            "vouches",
            "vouch",
            "t.voucher_user_id",
            "t.subject_user_id"
        ),
    }
}

fn select_heads_sql(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => select_heads!("users", "user", "NULL", "NULL"),
        EntityKind::Request => select_heads!("requests", "request", "t.author_id", "NULL"),
        EntityKind::Comment => select_heads!("comments", "comment", "t.request_id", "t.author_id"),
        EntityKind::Invite => select_heads!("invites", "invite", "t.inviter_id", "t.invitee_id"),
        EntityKind::Vouch => {
            select_heads!("vouches", "vouch", "t.voucher_user_id", "t.subject_user_id")
        }
    }
}

/// One line of `select_heads!`.
fn head_from_line(line: &str) -> Result<crate::RowHead> {
    let bad = || corrupt("row head", line);
    let fields: Vec<&str> = line.split(' ').collect();
    let [id, local, scope, updated_at, ref1, ref2, rendered_at, length, sha256] = fields[..]
    else {
        return Err(bad());
    };
    let uuid = |text: &str, what| Uuid::parse_str(text).map_err(|e| corrupt(what, e));
    let opt_uuid = |text: &str, what| (!text.is_empty()).then(|| uuid(text, what)).transpose();
    let micros = |text: &str, what| {
        text.parse::<i64>()
            .map_err(|e| corrupt(what, e))
            .and_then(|n| Timestamp::from_unix_micros(n).map_err(|e| corrupt(what, e)))
    };
    let rendered = if rendered_at.is_empty() {
        None
    } else {
        Some(crate::RenderedFile {
            updated_at: micros(rendered_at, "rendered_at")?,
            length: length.parse().map_err(|e| corrupt("rendered_length", e))?,
            sha256: sha256.to_owned(),
        })
    };
    Ok(crate::RowHead {
        id: uuid(id, "id")?,
        local: match local {
            "1" => true,
            "0" => false,
            _ => return Err(bad()),
        },
        scope: scope.parse().map_err(|e: String| corrupt("sync_scope", e))?,
        updated_at: micros(updated_at, "updated_at")?,
        refs: [opt_uuid(ref1, "reference")?, opt_uuid(ref2, "reference")?],
        rendered,
    })
}

pub(crate) async fn row_heads(
    pool: &sqlx::Pool<Db>,
    kind: EntityKind,
    local: &InstanceName,
) -> Result<Vec<crate::RowHead>> {
    let packed: Option<String> = sqlx::query_scalar(select_heads_sql(kind))
        .bind(local.as_str())
        .fetch_one(pool)
        .await?;
    packed.as_deref().map_or(Ok(Vec::new()), |text| text.split('\n').map(head_from_line).collect())
}

/// `ids` as a JSON array of strings (UUIDs need no escaping).
fn json_ids(ids: &[Uuid]) -> String {
    let mut out = String::with_capacity(2 + ids.len() * 39);
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(&id.to_string());
        out.push('"');
    }
    out.push(']');
    out
}

pub(crate) async fn row_heads_matching(
    pool: &sqlx::Pool<Db>,
    kind: EntityKind,
    local: &InstanceName,
    ids: &[Uuid],
    referencing: &[Uuid],
) -> Result<Vec<crate::RowHead>> {
    let packed: Option<String> = sqlx::query_scalar(select_heads_matching_sql(kind))
        .bind(local.as_str())
        .bind(json_ids(ids))
        .bind(json_ids(referencing))
        .fetch_one(pool)
        .await?;
    packed.as_deref().map_or(Ok(Vec::new()), |text| text.split('\n').map(head_from_line).collect())
}

/// The journal's last `seq` (0 when empty) on every row, with its first
/// `$1` entries in order: one statement, so one consistent view. An empty
/// journal gives one row with no entry.
const READ_JOURNAL: &str = "SELECT j.entity, j.id, m.through \
     FROM (SELECT COALESCE(MAX(seq), 0) AS through FROM export_changes) AS m \
     LEFT JOIN (SELECT seq, entity, id FROM export_changes ORDER BY seq LIMIT $1) AS j ON TRUE \
     ORDER BY j.seq";

pub(crate) async fn export_changes(pool: &sqlx::Pool<Db>, limit: usize) -> Result<crate::Changes> {
    let wanted = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let entries = read_journal(pool, READ_JOURNAL, wanted).await?;
    let through: i64 = match entries.first() {
        Some(first) => first.try_get("through")?,
        None => 0,
    };
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(entries.len());
    let mut count = 0;
    for entry in &entries {
        let Some(kind) = entry.try_get::<Option<String>, _>("entity")? else {
            continue;
        };
        count += 1;
        let kind: EntityKind = kind.parse().map_err(|e: String| corrupt("entity", e))?;
        let id = get_uuid(entry, "id")?;
        if seen.insert((kind, id)) {
            rows.push((kind, id));
        }
    }
    if count > limit {
        return Ok(crate::Changes { through, rows: None });
    }
    Ok(crate::Changes { through, rows: Some(rows) })
}

pub(crate) async fn forget_changes(pool: &sqlx::Pool<Db>, through: i64) -> Result<()> {
    sqlx::query("DELETE FROM export_changes WHERE seq <= $1")
        .bind(through)
        .execute(pool)
        .await?;
    Ok(())
}

/// Multi-row upserts of `export_files`, one per size in [`INSERT_SIZES`].
static UPSERT_RENDERED: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    INSERT_SIZES
        .iter()
        .map(|&rows| {
            values_sql("INSERT INTO export_files (entity, id, updated_at, length, sha256)", 5, rows)
                + " ON CONFLICT (entity, id) DO UPDATE SET updated_at = excluded.updated_at, \
                   length = excluded.length, sha256 = excluded.sha256"
        })
        .collect()
});

pub(crate) async fn record_rendered(
    pool: &sqlx::Pool<Db>,
    kind: EntityKind,
    rendered: &[(Uuid, crate::RenderedFile)],
    forget: &[Uuid],
) -> Result<()> {
    if rendered.is_empty() && forget.is_empty() {
        return Ok(());
    }
    let entity = kind.as_str();
    let upsert = |rows: &[(Uuid, crate::RenderedFile)]| -> Result<_> {
        let sql: &'static str = UPSERT_RENDERED[statement_size(rows.len()).0].as_str();
        let mut query = sqlx::query(sql);
        for (id, file) in rows {
            let length = i64::try_from(file.length).map_err(|e| corrupt("length", e))?;
            query = query
                .bind(entity)
                .bind(id.to_string())
                .bind(file.updated_at.unix_micros())
                .bind(length)
                .bind(file.sha256.as_str());
        }
        Ok(query)
    };
    // What one statement records needs no transaction of its own (the usual
    // case of an export after a few changes: one round trip, not three).
    if forget.is_empty() && statement_size(rendered.len()).1 == rendered.len() {
        upsert(rendered)?.execute(pool).await?;
        return Ok(());
    }
    let mut tx = begin(pool).await?;
    for id in forget {
        sqlx::query("DELETE FROM export_files WHERE entity = $1 AND id = $2")
            .bind(entity)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let mut start = 0;
    while start < rendered.len() {
        let (_, size) = statement_size(rendered.len() - start);
        upsert(&rendered[start..start + size])?.execute(&mut *tx).await?;
        start += size;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn reset_rendered(pool: &sqlx::Pool<Db>, key: &str, renderer: &str) -> Result<()> {
    let mut tx = begin(pool).await?;
    sqlx::query("DELETE FROM export_files").execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO instance_meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(renderer)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

// The list queries live in list_sql.rs, included beside this file.
