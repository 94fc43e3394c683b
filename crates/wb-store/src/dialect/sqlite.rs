//! SQLite's side of the dialect contract, and the queries compiled for it.

use super::{Dialect, PerDialect};

/// The embedded database.
pub(crate) enum Sqlite {}

/// What `backend/` (compiled here as [`queries`]) runs on.
type D = Sqlite;
/// `D`'s row, named concretely: trait impls on the projection
/// `<Db as Database>::Row` would overlap any other.
type DbRow = sqlx::sqlite::SqliteRow;

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;

    fn sql(query: &PerDialect) -> &'static str {
        query.sqlite
    }

    /// `BEGIN IMMEDIATE`: the write lock is taken up front, so two writers
    /// queue on the busy timeout instead of failing when a reader upgrades.
    async fn begin(
        pool: &sqlx::Pool<sqlx::Sqlite>,
    ) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Nothing to do: a transaction begun with `BEGIN IMMEDIATE` is the only
    /// writer.
    async fn lock_origin(_conn: &mut sqlx::SqliteConnection, _origin: &str) -> sqlx::Result<()> {
        Ok(())
    }

    /// One statement reads one consistent snapshot, and SQLite has one
    /// writer at a time, so every entry numbered below the last one read is
    /// visible.
    async fn read_journal(
        pool: &sqlx::Pool<sqlx::Sqlite>,
        sql: &'static str,
        limit: i64,
    ) -> sqlx::Result<Vec<DbRow>> {
        sqlx::query(sql).bind(limit).fetch_all(pool).await
    }
}

/// The store's queries, compiled for SQLite.
#[path = "../backend/mod.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "compiled once per dialect on purpose (ARCHITECTURE.md, \"Store shape\")"
)]
pub(crate) mod queries;
