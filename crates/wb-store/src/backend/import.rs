//! Applying a verified bundle in one transaction: under the origin's lock
//! (the contract's item 3), check the pin and the high-water mark, insert
//! new rows (in multi-row statements), replace newer ones, retract the rows
//! the bundle no longer holds, and record the origin's new state.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::LazyLock;

use sqlx::Row as _;
use wb_model::{Comment, EntityKind, Invite, Request, SyncScope, Timestamp, User, Uuid, Vouch};

use super::decode::{corrupt, get_text, get_uuid};
use super::edits::{
    delete_sql, insert_comment_on, insert_invite_on, insert_request_on, insert_user_on,
    insert_vouch_on, set_scope_sql,
};
use super::pins::{change_pin_on, pinned_key_on};
use super::{D, DbConn, DbQuery, Pool, multi_row_sqls, statement_size};
use crate::dialect::Dialect;
use crate::{ImportBatch, ImportCounts, ImportPin, Result, StoreError};

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
            Ok((
                get_uuid(row, "id")?,
                (row.try_get("updated_at")?, get_text(row, "sync_scope")?),
            ))
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
        StoreError::Constraint { .. } => StoreError::IdCollision {
            kind,
            id: id.to_string(),
        },
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
            sqlx::query_scalar::<_, bool>(sql)
                .bind(id.to_string())
                .fetch_one(&mut *conn)
                .await?
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
        sqlx::query(delete_sql(kind))
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

// ---- multi-row inserts -------------------------------------------------------

/// The multi-row `INSERT`s of new users, one per size in `INSERT_SIZES`.
static INSERT_USERS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let head = "INSERT INTO users (id, origin, username, display_name, bio, email, role, \
                invited_by, sync_scope, created_at, updated_at)";
    multi_row_sqls(head, 11, "")
});
/// The multi-row `INSERT`s of new requests.
static INSERT_REQUESTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let head = "INSERT INTO requests (id, origin, author_id, title, body, status, sync_scope, \
                created_at, updated_at)";
    multi_row_sqls(head, 9, "")
});
/// The multi-row `INSERT`s of new comments.
static INSERT_COMMENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let head = "INSERT INTO comments (id, origin, request_id, author_id, body, sync_scope, \
                created_at, updated_at)";
    multi_row_sqls(head, 8, "")
});
/// The multi-row `INSERT`s of new invites.
static INSERT_INVITES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let head = "INSERT INTO invites (id, origin, inviter_id, invitee_id, status, code, \
                sync_scope, created_at, updated_at)";
    multi_row_sqls(head, 9, "")
});
/// The multi-row `INSERT`s of new vouches.
static INSERT_VOUCHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let head = "INSERT INTO vouches (id, origin, voucher_user_id, subject_user_id, signature, \
                sync_scope, created_at, updated_at)";
    multi_row_sqls(head, 8, "")
});

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

/// One entity kind as an import applies it.
trait Imported: Sync {
    /// The kind.
    const KIND: EntityKind;
    /// `id, updated_at, sync_scope` of the origin's stored rows of the
    /// kind: `$1` the origin.
    const EXISTING: &'static str;
    /// The multi-row `INSERT`s of the kind, one per size in `INSERT_SIZES`.
    fn inserts() -> &'static [String];
    /// The row's id.
    fn id(&self) -> Uuid;
    /// The row's version.
    fn updated_at(&self) -> Timestamp;
    /// Binds the row's columns, in the order of [`Imported::inserts`].
    fn bind<'a>(query: DbQuery<'a>, row: &Self) -> DbQuery<'a>;
    /// Inserts one row.
    fn insert_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send;
    /// Replaces a stored row by this newer version.
    fn update_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send;
}

impl Imported for User {
    const KIND: EntityKind = EntityKind::User;
    const EXISTING: &'static str = "SELECT id, updated_at, sync_scope FROM users WHERE origin = $1";
    fn inserts() -> &'static [String] {
        &INSERT_USERS
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn bind<'a>(query: DbQuery<'a>, row: &Self) -> DbQuery<'a> {
        bind_user(query, row)
    }
    fn insert_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        insert_user_on(conn, row)
    }
    fn update_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        update_user_on(conn, row)
    }
}

impl Imported for Request {
    const KIND: EntityKind = EntityKind::Request;
    const EXISTING: &'static str =
        "SELECT id, updated_at, sync_scope FROM requests WHERE origin = $1";
    fn inserts() -> &'static [String] {
        &INSERT_REQUESTS
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn bind<'a>(query: DbQuery<'a>, row: &Self) -> DbQuery<'a> {
        bind_request(query, row)
    }
    fn insert_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        insert_request_on(conn, row)
    }
    fn update_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        update_request_on(conn, row)
    }
}

impl Imported for Comment {
    const KIND: EntityKind = EntityKind::Comment;
    const EXISTING: &'static str =
        "SELECT id, updated_at, sync_scope FROM comments WHERE origin = $1";
    fn inserts() -> &'static [String] {
        &INSERT_COMMENTS
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn bind<'a>(query: DbQuery<'a>, row: &Self) -> DbQuery<'a> {
        bind_comment(query, row)
    }
    fn insert_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        insert_comment_on(conn, row)
    }
    fn update_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        update_comment_on(conn, row)
    }
}

impl Imported for Invite {
    const KIND: EntityKind = EntityKind::Invite;
    const EXISTING: &'static str =
        "SELECT id, updated_at, sync_scope FROM invites WHERE origin = $1";
    fn inserts() -> &'static [String] {
        &INSERT_INVITES
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn bind<'a>(query: DbQuery<'a>, row: &Self) -> DbQuery<'a> {
        bind_invite(query, row)
    }
    fn insert_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        insert_invite_on(conn, row)
    }
    fn update_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        update_invite_on(conn, row)
    }
}

impl Imported for Vouch {
    const KIND: EntityKind = EntityKind::Vouch;
    const EXISTING: &'static str =
        "SELECT id, updated_at, sync_scope FROM vouches WHERE origin = $1";
    fn inserts() -> &'static [String] {
        &INSERT_VOUCHES
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    fn bind<'a>(query: DbQuery<'a>, row: &Self) -> DbQuery<'a> {
        bind_vouch(query, row)
    }
    fn insert_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        insert_vouch_on(conn, row)
    }
    fn update_on(conn: &mut DbConn, row: &Self) -> impl Future<Output = Result<()>> + Send {
        update_vouch_on(conn, row)
    }
}

/// Inserts `rows` (new rows of one kind, in order) with multi-row
/// statements. A statement the schema refuses is rolled back to its
/// savepoint and its rows are inserted one by one, so the error names the
/// row at fault exactly as a row-by-row insert would.
async fn insert_new_rows<T: Imported>(conn: &mut DbConn, rows: &[&T]) -> Result<()> {
    let mut start = 0;
    while start < rows.len() {
        let (which, size) = statement_size(rows.len() - start);
        let chunk = &rows[start..start + size];
        let sql: &'static str = T::inserts()[which].as_str();
        let mut query = sqlx::query(sql);
        for row in chunk {
            query = T::bind(query, row);
        }
        sqlx::query("SAVEPOINT import_rows")
            .execute(&mut *conn)
            .await?;
        match query.execute(&mut *conn).await.map_err(StoreError::from) {
            Ok(_) => {}
            Err(StoreError::Constraint { .. }) => {
                sqlx::query("ROLLBACK TO SAVEPOINT import_rows")
                    .execute(&mut *conn)
                    .await?;
                for row in chunk {
                    T::insert_on(conn, row)
                        .await
                        .map_err(collision(T::KIND, row.id()))?;
                }
            }
            Err(other) => return Err(other),
        }
        sqlx::query("RELEASE SAVEPOINT import_rows")
            .execute(&mut *conn)
            .await?;
        start += size;
    }
    Ok(())
}

/// Applies one entity kind of a bundle: insert, update when newer, or
/// leave; returns the stored rows of the origin the bundle no longer holds.
/// New rows are inserted together after the updates (rows of one kind never
/// reference each other in a bundle).
async fn apply_kind<T: Imported>(
    conn: &mut DbConn,
    counts: &mut ImportCounts,
    origin: &str,
    rows: &[T],
) -> Result<HashMap<Uuid, (i64, String)>> {
    let mut existing = existing_rows(conn, T::EXISTING, origin).await?;
    let mut seen = HashSet::with_capacity(rows.len());
    let mut new_rows = Vec::new();
    for row in rows {
        seen.insert(row.id());
        match replaces(existing.get(&row.id()), row.updated_at()) {
            None => {
                new_rows.push(row);
                counts.added += 1;
            }
            Some(true) => {
                T::update_on(conn, row).await?;
                counts.updated += 1;
            }
            Some(false) => counts.unchanged += 1,
        }
    }
    insert_new_rows(conn, &new_rows).await?;
    existing.retain(|id, _| !seen.contains(id));
    Ok(existing)
}

pub(crate) async fn apply_import(pool: &Pool, batch: &ImportBatch) -> Result<ImportCounts> {
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
    let mut tx = D::begin(pool).await?;
    // First the origin's lock, then, under it, everything the import was
    // verified against: the pin and the high-water mark may have moved
    // since the caller read them.
    D::lock_origin(&mut tx, origin).await?;
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
    let applied =
        sqlx::query("SELECT last_sequence, manifest_sha256 FROM sync_origins WHERE instance = $1")
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
    let gone_users = apply_kind(conn, &mut counts, origin, &batch.users).await?;
    let gone_requests = apply_kind(conn, &mut counts, origin, &batch.requests).await?;
    let gone_comments = apply_kind(conn, &mut counts, origin, &batch.comments).await?;
    let gone_invites = apply_kind(conn, &mut counts, origin, &batch.invites).await?;
    let gone_vouches = apply_kind(conn, &mut counts, origin, &batch.vouches).await?;
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
