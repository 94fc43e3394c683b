// Hub queries shared by both backends, `include!`d into the `sqlite` and
// `postgres` modules of hub/mod.rs (each defines `Db` and `insert_files`).
// Portable SQL only: `$N` placeholders, `ON CONFLICT … DO UPDATE … WHERE`,
// which SQLite (3.24+) and Postgres both support.

use sqlx::Row as _;
use wb_model::{InstanceName, Timestamp};

use super::{
    BundleInfo, HubInstance, HubToken, InstanceListing, KEPT_MANIFESTS, NewBundle,
    PublishOutcome, StoredManifest,
};
use crate::{Result, StoreError};

type DbRow = <Db as sqlx::Database>::Row;

pub(super) async fn applied_migrations(pool: &sqlx::Pool<Db>) -> Vec<i64> {
    // A fresh database has no migration table yet: that reads as "none applied".
    sqlx::query_scalar::<_, i64>("SELECT version FROM _wb_hub_migrations WHERE success = TRUE")
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what, detail: detail.to_string() }
}

/// A stored file's key (64 hex digits) as the bytes of its SHA-256.
fn digest(hex_digits: &str) -> Result<[u8; 32]> {
    let mut digest = [0; 32];
    hex::decode_to_slice(hex_digits, &mut digest)
        .map_err(|e| corrupt("hub_files.sha256", format!("{hex_digits:?}: {e}")))?;
    Ok(digest)
}

fn to_i64(what: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| corrupt(what, format!("{value} is too large to store")))
}

fn get_u64(row: &DbRow, column: &'static str) -> Result<u64> {
    let value = row.try_get::<i64, _>(column)?;
    u64::try_from(value).map_err(|e| corrupt(column, e))
}

fn get_time(row: &DbRow, column: &'static str) -> Result<Timestamp> {
    Timestamp::from_unix_micros(row.try_get::<i64, _>(column)?).map_err(|e| corrupt(column, e))
}

fn get_name(row: &DbRow, column: &'static str) -> Result<InstanceName> {
    InstanceName::parse(&row.try_get::<String, _>(column)?).map_err(|e| corrupt(column, e))
}

fn instance_from_row(row: &DbRow) -> Result<HubInstance> {
    Ok(HubInstance {
        name: get_name(row, "name")?,
        public_key: row.try_get("public_key")?,
        registered_at: get_time(row, "registered_at")?,
    })
}

fn token_from_row(row: &DbRow) -> Result<HubToken> {
    let hash: Vec<u8> = row.try_get("secret_sha256")?;
    Ok(HubToken {
        id: row.try_get("id")?,
        instance: get_name(row, "instance")?,
        secret_sha256: hash
            .try_into()
            .map_err(|_| corrupt("secret_sha256", "not 32 bytes"))?,
        created_at: get_time(row, "created_at")?,
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(|t| Timestamp::from_unix_micros(t).map_err(|e| corrupt("revoked_at", e)))
            .transpose()?,
    })
}

fn manifest_from_row(row: &DbRow) -> Result<StoredManifest> {
    Ok(StoredManifest {
        info: bundle_info_from_row(row)?,
        manifest: row.try_get("manifest")?,
        signature: row.try_get("signature")?,
        key_rotations: row.try_get("key_rotations")?,
    })
}

/// The columns of a `BundleInfo` from `hub_manifests m`.
macro_rules! info_columns {
    () => {
        "m.instance, m.sequence, m.manifest_sha256, m.size, m.etag, m.published_at"
    };
}

/// The columns of a `StoredManifest` from `hub_manifests m`.
macro_rules! manifest_columns {
    () => {
        concat!(info_columns!(), ", m.manifest, m.signature, m.key_rotations")
    };
}

fn bundle_info_from_row(row: &DbRow) -> Result<BundleInfo> {
    Ok(BundleInfo {
        instance: get_name(row, "instance")?,
        sequence: get_u64(row, "sequence")?,
        manifest_sha256: row.try_get("manifest_sha256")?,
        size: get_u64(row, "size")?,
        etag: row.try_get("etag")?,
        published_at: get_time(row, "published_at")?,
    })
}

pub(super) async fn add_instance(pool: &sqlx::Pool<Db>, instance: &HubInstance) -> Result<()> {
    sqlx::query("INSERT INTO hub_instances (name, public_key, registered_at) VALUES ($1, $2, $3)")
        .bind(instance.name.as_str())
        .bind(&instance.public_key)
        .bind(instance.registered_at.unix_micros())
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn instance(
    pool: &sqlx::Pool<Db>,
    name: &InstanceName,
) -> Result<Option<HubInstance>> {
    sqlx::query("SELECT name, public_key, registered_at FROM hub_instances WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(instance_from_row)
        .transpose()
}

pub(super) async fn add_token(pool: &sqlx::Pool<Db>, token: &HubToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO hub_tokens (id, instance, secret_sha256, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&token.id)
    .bind(token.instance.as_str())
    .bind(token.secret_sha256.to_vec())
    .bind(token.created_at.unix_micros())
    .bind(token.revoked_at.map(Timestamp::unix_micros))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn token(pool: &sqlx::Pool<Db>, id: &str) -> Result<Option<HubToken>> {
    sqlx::query(
        "SELECT id, instance, secret_sha256, created_at, revoked_at FROM hub_tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(token_from_row)
    .transpose()
}

pub(super) async fn revoke_token(pool: &sqlx::Pool<Db>, id: &str, at: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE hub_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
    )
    .bind(id)
    .bind(at.unix_micros())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn set_instance_key(
    pool: &sqlx::Pool<Db>,
    name: &InstanceName,
    key: &str,
) -> Result<bool> {
    let done = sqlx::query("UPDATE hub_instances SET public_key = $2 WHERE name = $1")
        .bind(name.as_str())
        .bind(key)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Publishes `bundle` in one transaction; with `rotation = (from, to)`,
/// moves the registered key from `from` to `to` in it too.
pub(super) async fn publish(
    pool: &sqlx::Pool<Db>,
    bundle: NewBundle,
    rotation: Option<(&str, &str)>,
) -> Result<PublishOutcome> {
    let NewBundle {
        manifest: stored,
        mut files,
        base,
    } = bundle;
    let StoredManifest {
        info,
        manifest,
        signature,
        key_rotations,
    } = stored;
    let info = &info;
    let sequence = to_i64("sequence", info.sequence)?;
    let mut tx = pool.begin().await?;
    lock_for_publish(&mut tx).await?;
    if let Some((from_key, to_key)) = rotation {
        // A write first: on SQLite it takes the write lock for the whole
        // transaction (waiting out the busy timeout rather than failing
        // later).
        let moved = sqlx::query(
            "UPDATE hub_instances SET public_key = $3 WHERE name = $1 AND public_key = $2",
        )
        .bind(info.instance.as_str())
        .bind(from_key)
        .bind(to_key)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(PublishOutcome::KeyChanged);
        }
    }
    if let Some(base) = &base {
        let kept = sqlx::query(
            "SELECT 1 FROM hub_manifests WHERE instance = $1 AND manifest_sha256 = $2",
        )
        .bind(info.instance.as_str())
        .bind(base)
        .fetch_optional(&mut *tx)
        .await?;
        if kept.is_none() {
            tx.rollback().await?;
            return Ok(PublishOutcome::BaseGone);
        }
    }
    // The manifest row first (the pointer references it). A row of this
    // sequence can only exist if it is, or was, published: then the
    // pointer below does not move and everything rolls back.
    sqlx::query(
        "INSERT INTO hub_manifests \
         (instance, sequence, manifest_sha256, manifest, signature, key_rotations, \
          size, etag, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (instance, sequence) DO NOTHING",
    )
    .bind(info.instance.as_str())
    .bind(sequence)
    .bind(&info.manifest_sha256)
    // By value: the store's driver copies a borrowed parameter, and a
    // manifest of 100k rows is several MB.
    .bind(manifest)
    .bind(signature)
    .bind(key_rotations)
    .bind(to_i64("size", info.size)?)
    .bind(&info.etag)
    .bind(info.published_at.unix_micros())
    .execute(&mut *tx)
    .await?;
    // The pointer moves only to a higher sequence. On Postgres the upsert
    // locks the instance's row; a concurrent publisher waits, then
    // re-checks its sequence against the committed winner.
    let moved = sqlx::query(
        "INSERT INTO hub_bundles (instance, sequence, manifest_sha256) VALUES ($1, $2, $3) \
         ON CONFLICT (instance) DO UPDATE SET \
         sequence = excluded.sequence, manifest_sha256 = excluded.manifest_sha256 \
         WHERE hub_bundles.sequence < excluded.sequence",
    )
    .bind(info.instance.as_str())
    .bind(sequence)
    .bind(&info.manifest_sha256)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        tx.rollback().await?;
        return not_published(pool, info).await;
    }
    // In key order, each insert lands beside the last in the index on
    // `sha256`; in a bundle's (path) order they land at random in an
    // index larger than SQLite's 2 MiB page cache (100k files: 5 MB).
    files.sort_unstable_by_key(|f| f.sha256);
    insert_files(&mut tx, files).await?;
    sqlx::query(
        "DELETE FROM hub_manifests WHERE instance = $1 AND sequence NOT IN \
         (SELECT sequence FROM hub_manifests WHERE instance = $1 \
          ORDER BY sequence DESC LIMIT $2)",
    )
    .bind(info.instance.as_str())
    .bind(KEPT_MANIFESTS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(PublishOutcome::Published)
}

/// Why `info` was not published: the same bundle, or an older one.
async fn not_published(pool: &sqlx::Pool<Db>, info: &BundleInfo) -> Result<PublishOutcome> {
    // Not published: a bundle with an equal or higher sequence is the
    // latest. Pointers are never deleted, so it is still there.
    let row = sqlx::query("SELECT sequence, manifest_sha256 FROM hub_bundles WHERE instance = $1")
        .bind(info.instance.as_str())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| corrupt("hub_bundles", "conflicting row vanished"))?;
    let stored_sequence = get_u64(&row, "sequence")?;
    let stored_sha: String = row.try_get("manifest_sha256")?;
    if stored_sequence == info.sequence && stored_sha == info.manifest_sha256 {
        Ok(PublishOutcome::Unchanged)
    } else {
        Ok(PublishOutcome::Stale { stored_sequence })
    }
}

pub(super) async fn bundle_info(
    pool: &sqlx::Pool<Db>,
    instance: &InstanceName,
) -> Result<Option<BundleInfo>> {
    sqlx::query(concat!(
        "SELECT ",
        info_columns!(),
        " FROM hub_bundles b JOIN hub_manifests m \
         ON m.instance = b.instance AND m.sequence = b.sequence WHERE b.instance = $1"
    ))
    .bind(instance.as_str())
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(bundle_info_from_row)
    .transpose()
}

pub(super) async fn latest_manifest(
    pool: &sqlx::Pool<Db>,
    instance: &InstanceName,
) -> Result<Option<StoredManifest>> {
    sqlx::query(concat!(
        "SELECT ",
        manifest_columns!(),
        " FROM hub_bundles b JOIN hub_manifests m \
         ON m.instance = b.instance AND m.sequence = b.sequence WHERE b.instance = $1"
    ))
    .bind(instance.as_str())
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(manifest_from_row)
    .transpose()
}

pub(super) async fn manifest(
    pool: &sqlx::Pool<Db>,
    instance: &InstanceName,
    manifest_sha256: &str,
) -> Result<Option<StoredManifest>> {
    sqlx::query(concat!(
        "SELECT ",
        manifest_columns!(),
        " FROM hub_manifests m WHERE m.instance = $1 AND m.manifest_sha256 = $2 \
         ORDER BY m.sequence DESC LIMIT 1"
    ))
    .bind(instance.as_str())
    .bind(manifest_sha256)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(manifest_from_row)
    .transpose()
}

pub(super) async fn kept_manifests(
    pool: &sqlx::Pool<Db>,
    instance: &InstanceName,
) -> Result<Vec<BundleInfo>> {
    sqlx::query(concat!(
        "SELECT ",
        info_columns!(),
        " FROM hub_manifests m WHERE m.instance = $1 ORDER BY m.sequence DESC"
    ))
    .bind(instance.as_str())
    .fetch_all(pool)
    .await?
    .iter()
    .map(bundle_info_from_row)
    .collect()
}

pub(super) async fn file_count(pool: &sqlx::Pool<Db>) -> Result<u64> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hub_files")
        .fetch_one(pool)
        .await?;
    u64::try_from(count).map_err(|e| corrupt("hub_files", e))
}

pub(super) async fn listing(pool: &sqlx::Pool<Db>) -> Result<Vec<InstanceListing>> {
    let rows = sqlx::query(concat!(
        "SELECT i.name, i.public_key, i.registered_at, ",
        info_columns!(),
        " FROM hub_instances i LEFT JOIN hub_bundles b ON b.instance = i.name \
         LEFT JOIN hub_manifests m ON m.instance = b.instance AND m.sequence = b.sequence \
         ORDER BY i.name"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let has_bundle = row.try_get::<Option<String>, _>("instance")?.is_some();
            Ok(InstanceListing {
                instance: instance_from_row(row)?,
                bundle: if has_bundle {
                    Some(bundle_info_from_row(row)?)
                } else {
                    None
                },
            })
        })
        .collect()
}

/// The hashes a stored manifest names: the first field of each file line
/// (the lines after the empty line that ends the headers).
fn add_named_hashes(manifest: &[u8], into: &mut std::collections::HashSet<String>) {
    let text = String::from_utf8_lossy(manifest);
    let Some((_, lines)) = text.split_once("\n\n") else {
        return;
    };
    for line in lines.lines() {
        if let Some(hash) = line.split(' ').next()
            && !into.contains(hash)
        {
            into.insert(hash.to_owned());
        }
    }
}

pub(super) async fn collect_garbage(pool: &sqlx::Pool<Db>) -> Result<super::GarbageReport> {
    use futures_util::TryStreamExt as _;
    let mut tx = pool.begin().await?;
    lock_for_garbage(&mut tx).await?;
    let mut named = std::collections::HashSet::new();
    {
        let mut manifests = sqlx::query_scalar::<_, Vec<u8>>("SELECT manifest FROM hub_manifests")
            .fetch(&mut *tx);
        while let Some(manifest) = manifests.try_next().await? {
            add_named_hashes(&manifest, &mut named);
        }
    }
    let stored: Vec<(String, i64)> = sqlx::query_as("SELECT sha256, size FROM hub_files")
        .fetch_all(&mut *tx)
        .await?;
    let mut report = super::GarbageReport::default();
    let mut garbage = Vec::new();
    for (sha256, size) in stored {
        if named.contains(&sha256) {
            report.kept_files += 1;
        } else {
            report.removed_files += 1;
            report.removed_bytes += u64::try_from(size).unwrap_or(0);
            garbage.push(sha256);
        }
    }
    delete_files(&mut tx, &garbage).await?;
    tx.commit().await?;
    Ok(report)
}
