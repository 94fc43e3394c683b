//! Throw-away databases for tests, on every backend this machine offers
//! (feature `test-support`; not part of the production API).
//!
//! SQLite is always available. Postgres is used when `WB_TEST_POSTGRES_URL`
//! names a server; each [`TestDb`] then gets a schema of its own, dropped
//! again when it goes out of scope. Without the variable the Postgres half is
//! skipped with a notice on stderr — except under `CI=true`, where skipping
//! would hide a missing service, so it panics instead.

use wb_model::Uuid;

use crate::{BackendKind, Store};

/// Environment variable naming the Postgres server for tests.
pub const POSTGRES_URL_VAR: &str = "WB_TEST_POSTGRES_URL";

/// A migrated, empty database that disappears with this value.
#[derive(Debug)]
pub struct TestDb {
    /// The store, migrated, with no instance name set.
    pub store: Store,
    /// A URL another process (e.g. the `wb` binary) can open.
    pub url: String,
    /// Which backend it is.
    pub backend: BackendKind,
    dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// A fresh SQLite file in a temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("wb.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::open_sqlite(&path, true)
            .await
            .expect("open a SQLite test database");
        store
            .migrate()
            .await
            .expect("migrate the SQLite test database");
        Self {
            store,
            url,
            backend: BackendKind::Sqlite,
            dir: Some(dir),
            pg_schema: None,
        }
    }

    /// A fresh schema on the Postgres server of `WB_TEST_POSTGRES_URL`, or
    /// `None` (with a notice) when the variable is unset outside CI.
    pub async fn postgres() -> Option<Self> {
        let base = postgres_url()?;
        let schema = format!("wbt_{}", Uuid::new_v4().simple());
        let admin = Store::connect(&base, false)
            .await
            .expect("connect to WB_TEST_POSTGRES_URL");
        admin
            .execute_raw(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create test schema");
        admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!(
            "{base}{separator}options=-c%20search_path%3D{schema}&application_name={schema}"
        );
        let store = Store::connect(&url, false)
            .await
            .expect("connect to the test schema");
        store
            .migrate()
            .await
            .expect("migrate the Postgres test schema");
        Some(Self {
            store,
            url,
            backend: BackendKind::Postgres,
            dir: None,
            pg_schema: Some((base, schema)),
        })
    }

    /// One test database per available backend: SQLite, then Postgres.
    pub async fn all() -> Vec<Self> {
        let mut dbs = vec![Self::sqlite().await];
        dbs.extend(Self::postgres().await);
        dbs
    }

    /// Runs one SQL statement on the database behind the store's API, as an
    /// operator with a SQL shell could: for tests of what the database
    /// itself notices (the export's journal triggers).
    pub async fn execute(&self, sql: &str) -> crate::Result<()> {
        self.store.execute_raw(sql).await
    }

    /// Every row of every table, in a fixed order, as text — and on SQLite
    /// the answer of `PRAGMA integrity_check`. Two snapshots are equal
    /// exactly when nothing was written in between: the "nothing changed"
    /// half of a hostile test (rows, pins, high-water marks, the export's
    /// journal and records, all at once; a table added later is included
    /// without changing the tests). Left out: the record of the last push
    /// and pull, which a failed run writes by design.
    pub async fn snapshot(&self) -> String {
        self.store
            .snapshot()
            .await
            .expect("read every table of the test database")
    }

    /// The temporary directory of a SQLite database.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.pg_schema.take() else {
            return;
        };
        // A connection of this test still inside a transaction (dropped on an
        // error path, its rollback not yet run) would hold locks that DROP
        // SCHEMA waits on forever: end this test's sessions first; they are
        // tagged with the schema's name as application_name.
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // clean up from a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = Store::connect(&base, false).await {
                    let _ = admin
                        .execute_raw(&format!(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
                        ))
                        .await;
                    let _ = admin
                        .execute_raw(&format!("DROP SCHEMA {schema} CASCADE"))
                        .await;
                    admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The Postgres URL for tests, enforcing the CI rule described above.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "{POSTGRES_URL_VAR} is not set under CI=true: Postgres tests must not skip in CI"
            )
        }
        _ => {
            eprintln!(
                "NOTICE: {POSTGRES_URL_VAR} is not set; skipping the Postgres half of this test"
            );
            None
        }
    }
}
