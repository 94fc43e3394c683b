//! What this instance knows of other instances: their sync state
//! (`sync_origins`) and their pins (`sync_pins`), and changing a pin
//! compare-and-set under the origin's lock (the contract's item 3).

use sqlx::Row as _;
use wb_model::InstanceName;

use super::decode::{corrupt, get_text, get_time, get_word};
use super::{D, DbConn, DbRow, Pool};
use crate::dialect::Dialect;
use crate::{OriginState, Pin, PinChange, Result, StoreError};

pub(crate) async fn origin_state(
    pool: &Pool,
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

pub(crate) async fn origin_states(pool: &Pool) -> Result<Vec<OriginState>> {
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

pub(crate) async fn pin(pool: &Pool, instance: &InstanceName) -> Result<Option<Pin>> {
    let row = sqlx::query(
        "SELECT instance, public_key, pinned_at, pinned_by FROM sync_pins WHERE instance = $1",
    )
    .bind(instance.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(pin_from_row).transpose()
}

pub(crate) async fn pins(pool: &Pool) -> Result<Vec<Pin>> {
    let rows = sqlx::query(
        "SELECT instance, public_key, pinned_at, pinned_by FROM sync_pins ORDER BY instance",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(pin_from_row).collect()
}

/// The key pinned for `origin`, read inside a transaction that holds the
/// origin's lock.
pub(super) async fn pinned_key_on(conn: &mut DbConn, origin: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT public_key FROM sync_pins WHERE instance = $1")
            .bind(origin)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Applies `change` on a transaction that holds its origin's lock, after
/// checking that the pin is still `change.replaces` and that no other
/// origin has the key. Returns whether the pin moved.
pub(super) async fn change_pin_on(conn: &mut DbConn, change: &PinChange) -> Result<bool> {
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

pub(crate) async fn change_pin(pool: &Pool, change: &PinChange) -> Result<Option<u64>> {
    let origin = change.instance.as_str();
    let mut tx = D::begin(pool).await?;
    D::lock_origin(&mut tx, origin).await?;
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
