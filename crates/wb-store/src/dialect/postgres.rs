//! Postgres's side of the dialect contract, and the queries compiled for it.

use super::{Dialect, PerDialect};

/// The database server.
pub(crate) enum Postgres {}

/// What `backend/` (compiled here as [`queries`]) runs on.
type D = Postgres;
/// `D`'s row, named concretely (see `dialect/sqlite.rs`).
type DbRow = sqlx::postgres::PgRow;

impl Dialect for Postgres {
    type Db = sqlx::Postgres;

    fn sql(query: &PerDialect) -> &'static str {
        query.postgres
    }

    async fn begin(
        pool: &sqlx::Pool<sqlx::Postgres>,
    ) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        pool.begin().await
    }

    /// A transaction-scoped advisory lock keyed by the origin's name, taken
    /// before anything is read. A concurrent import of the same origin waits
    /// here until this transaction ends, then reads the pin and high-water
    /// mark this one committed.
    async fn lock_origin(conn: &mut sqlx::PgConnection, origin: &str) -> sqlx::Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(crate::origin_lock_key(origin))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Postgres draws `seq` when a row is written but shows it at commit, so
    /// a transaction still open may hold a lower number than one already
    /// visible; the lock waits for every transaction that wrote to the
    /// journal to end, and holds new writers back until the read is done
    /// (they then draw higher numbers).
    async fn read_journal(
        pool: &sqlx::Pool<sqlx::Postgres>,
        sql: &'static str,
        limit: i64,
    ) -> sqlx::Result<Vec<DbRow>> {
        let mut tx = pool.begin().await?;
        sqlx::query("LOCK TABLE export_changes IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(sql).bind(limit).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// The store's queries, compiled for Postgres.
#[path = "../backend/mod.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "compiled once per dialect on purpose (ARCHITECTURE.md, \"Store shape\")"
)]
pub(crate) mod queries;
