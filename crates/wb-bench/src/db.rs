//! Where the bench's databases live: SQLite files under the work directory
//! (the default), or schemas of one Postgres database (`--database-url`),
//! one per instance, dropped at the end.
//!
//! Every database is fresh: the source instance, and each import target
//! ("an empty database"). On SQLite an empty target is a copy of a migrated
//! template file; on Postgres a new schema, migrated.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use sqlx::Executor as _;
use wb_engine::Instance;
use wb_model::InstanceName;
use wb_store::Store;

/// The backend the scenarios run on.
#[derive(Debug)]
pub enum Backend {
    /// SQLite files in the work directory.
    Sqlite,
    /// One Postgres database; each instance in its own schema.
    Postgres {
        /// The URL as given.
        url: String,
        /// An administrative pool, to create and drop schemas.
        admin: sqlx::PgPool,
        /// Schemas created so far, dropped by [`Backend::cleanup`].
        schemas: std::cell::RefCell<Vec<String>>,
    },
}

/// One database of an instance.
#[derive(Debug, Clone)]
pub struct Database {
    /// What `Store::connect` takes.
    pub url: String,
    /// The SQLite file, if SQLite.
    pub file: Option<PathBuf>,
    /// The Postgres schema, if Postgres.
    pub schema: Option<String>,
}

impl Backend {
    /// SQLite unless `url` names Postgres.
    pub async fn from_url(url: Option<&str>) -> Result<Self> {
        match url {
            None => Ok(Self::Sqlite),
            Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
                let admin = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .context("connecting to --database-url")?;
                Ok(Self::Postgres {
                    url: url.to_owned(),
                    admin,
                    schemas: std::cell::RefCell::new(Vec::new()),
                })
            }
            Some(other) => {
                bail!("--database-url must be postgres://… (SQLite is the default): {other}")
            }
        }
    }

    /// "sqlite" or "postgres".
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// A new, empty database called `name` (a file name or schema suffix).
    pub async fn fresh(&self, work: &Path, name: &str) -> Result<Database> {
        match self {
            Self::Sqlite => {
                let file = work.join(format!("{name}.db"));
                remove_sqlite(&file);
                Ok(Database {
                    url: format!("sqlite://{}", file.display()),
                    file: Some(file),
                    schema: None,
                })
            }
            Self::Postgres {
                url,
                admin,
                schemas,
            } => {
                let schema = format!("wb_bench_{}_{name}", std::process::id()).replace('-', "_");
                let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                let create = format!("CREATE SCHEMA {schema}");
                admin
                    .execute(sqlx::AssertSqlSafe(drop))
                    .await
                    .context("dropping a bench schema")?;
                admin
                    .execute(sqlx::AssertSqlSafe(create))
                    .await
                    .context("creating a bench schema")?;
                schemas.borrow_mut().push(schema.clone());
                let separator = if url.contains('?') { '&' } else { '?' };
                Ok(Database {
                    url: format!("{url}{separator}options=-c%20search_path%3D{schema}"),
                    file: None,
                    schema: Some(schema),
                })
            }
        }
    }

    /// Removes a database made by [`Backend::fresh`].
    pub async fn remove(&self, db: &Database) -> Result<()> {
        if let Some(file) = &db.file {
            remove_sqlite(file);
        }
        if let (Self::Postgres { admin, schemas, .. }, Some(schema)) = (self, &db.schema) {
            let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            admin.execute(sqlx::AssertSqlSafe(drop)).await?;
            schemas.borrow_mut().retain(|s| s != schema);
        }
        Ok(())
    }

    /// A fresh database holding a copy of `template` (SQLite: the file;
    /// Postgres: a new schema, migrated and named like the template).
    pub async fn copy_of(
        &self,
        template: &Database,
        work: &Path,
        name: &str,
        instance: &InstanceName,
    ) -> Result<Database> {
        let db = self.fresh(work, name).await?;
        match (&db.file, &template.file) {
            (Some(file), Some(from)) => {
                std::fs::copy(from, file).with_context(|| format!("copying {}", from.display()))?;
            }
            _ => {
                let store = Store::connect(&db.url, true).await?;
                Instance::init(store.clone(), instance.clone()).await?;
                store.close().await;
            }
        }
        Ok(db)
    }

    /// Runs the command-line client of the backend (`sqlite3` or `psql`) on
    /// the SQL script `script` against `db`, failing on the first error.
    pub fn load_script(&self, db: &Database, script: &Path) -> Result<()> {
        let input =
            std::fs::File::open(script).with_context(|| format!("opening {}", script.display()))?;
        let mut command = match (self, &db.file) {
            (Self::Sqlite, Some(file)) => {
                let mut command = Command::new("sqlite3");
                command.arg("-bail").arg(file);
                command
            }
            (Self::Postgres { url, .. }, _) => {
                let mut command = Command::new("psql");
                command
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
                    .arg(url)
                    .env(
                        "PGOPTIONS",
                        format!(
                            "-c search_path={}",
                            db.schema.as_deref().unwrap_or("public")
                        ),
                    );
                command
            }
            (Self::Sqlite, None) => bail!("a SQLite database without a file"),
        };
        let program = format!("{:?}", command.get_program());
        let output = command
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {program} (is it installed?)"))?;
        if !output.status.success() {
            bail!(
                "{program} failed loading {}: {}",
                script.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Drops every schema still there (Postgres).
    pub async fn cleanup(&self) {
        if let Self::Postgres { admin, schemas, .. } = self {
            let left: Vec<String> = schemas.borrow_mut().drain(..).collect();
            for schema in left {
                let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                let _ = admin.execute(sqlx::AssertSqlSafe(drop)).await;
            }
            admin.close().await;
        }
    }
}

/// Removes a SQLite file and its WAL and shared-memory files.
fn remove_sqlite(file: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(path));
    }
}
