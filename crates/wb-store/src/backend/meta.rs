//! `instance_meta` (the instance's name, export state, renderer) and the
//! migration table.

use super::Pool;
use crate::Result;

/// Versions recorded in sqlx's migration table; empty on a fresh database.
pub(crate) async fn applied_migrations(pool: &Pool) -> Vec<i64> {
    // A fresh database has no migration table yet: that reads as "none applied".
    sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

/// The value of `key`.
pub(crate) async fn meta(pool: &Pool, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT value FROM instance_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?,
    )
}

/// Upserts `instance_meta`'s `key` to a value: `$1` the key, `$2` the value.
pub(super) const SET_META: &str = "INSERT INTO instance_meta (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Sets `key` to `value`.
pub(crate) async fn set_meta(pool: &Pool, key: &str, value: &str) -> Result<()> {
    sqlx::query(SET_META)
        .bind(key)
        .bind(value)
        .execute(pool)
        .await?;
    Ok(())
}
