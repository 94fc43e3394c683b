//! The store's dialect contract: everything in which SQLite and Postgres
//! differ for this crate, stated once, by the trait [`Dialect`].
//!
//! The queries live in `backend/`, one file per concern, and are compiled
//! once per dialect: `dialect/sqlite.rs` and `dialect/postgres.rs` each
//! implement [`Dialect`] and declare `backend/` as their child module
//! `queries`, naming themselves `D` for it (with `DbRow`, the driver's row
//! type, named concretely). `backend/` therefore compiles against concrete
//! sqlx types; a query that needs one of items 5–8 below is a
//! [`PerDialect`], its two texts written out whole side by side.
//!
//! The list below is also ARCHITECTURE.md's ("Store shape"), word for
//! word; a test keeps the two identical.
//!
#![doc = include_str!("dialect.md")]

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::future::Future;

/// A database the store runs on: items 1–4 of the contract (see the module
/// docs), and the choice of text for the queries that differ (items 5–8).
pub(crate) trait Dialect {
    /// Item 1: the sqlx driver.
    type Db: sqlx::Database;

    /// This dialect's text of `query` (items 5–8).
    fn sql(query: &PerDialect) -> &'static str;

    /// Item 2: begins a write transaction.
    fn begin(
        pool: &sqlx::Pool<Self::Db>,
    ) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send;

    /// Item 3: serialises writers of one origin's sync state (imports and pin
    /// changes) within the transaction on `conn`, before it reads anything.
    fn lock_origin(
        conn: &mut <Self::Db as sqlx::Database>::Connection,
        origin: &str,
    ) -> impl Future<Output = sqlx::Result<()>> + Send;

    /// Item 4: runs the journal read `sql` (bound to `limit`) so that it sees
    /// every entry numbered below the last one it reads.
    fn read_journal(
        pool: &sqlx::Pool<Self::Db>,
        sql: &'static str,
        limit: i64,
    ) -> impl Future<Output = sqlx::Result<Vec<<Self::Db as sqlx::Database>::Row>>> + Send;
}

/// A query whose text differs between the dialects (items 5–8 only),
/// written out whole for each; [`Dialect::sql`] picks one.
pub(crate) struct PerDialect {
    /// The text run on SQLite.
    pub(crate) sqlite: &'static str,
    /// The text run on Postgres.
    pub(crate) postgres: &'static str,
}

#[cfg(test)]
mod tests {
    /// `text`'s lines without their indentation.
    fn dedented(text: &str) -> String {
        text.lines()
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// ARCHITECTURE.md ("Store shape") states the contract in the very
    /// words of this module's docs (indented there as part of a list item).
    #[test]
    fn architecture_states_the_same_contract() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ARCHITECTURE.md");
        let architecture = std::fs::read_to_string(path).expect("ARCHITECTURE.md is readable");
        assert!(
            dedented(&architecture).contains(&dedented(include_str!("dialect.md"))),
            "ARCHITECTURE.md must quote crates/wb-store/src/dialect.md verbatim"
        );
    }
}
