//! Persistence of a wb instance on SQLite (embedded, the default) or
//! Postgres (production), behind one API.
//!
//! [`Store`] is a cheap-to-clone handle over a connection pool. Its queries
//! live in `backend/`, one file per concern, each readable whole where it is
//! defined, and are compiled once per dialect. Everything in which the
//! dialects differ is stated once, by the `Dialect` trait of `dialect.rs`
//! (eight items: the driver, the write transaction, the origin lock, the
//! journal read, and four pieces of SQL that only the queries written out
//! per dialect use); ARCHITECTURE.md quotes that list verbatim.
//!
//! Invariants kept here:
//! - migrations for both dialects live in `migrations/instance/{sqlite,postgres}`
//!   with the same version numbers and are embedded at build time;
//! - SQLite runs in WAL mode with `synchronous=FULL`, a busy timeout and
//!   foreign keys on, and write transactions start with `BEGIN IMMEDIATE`;
//! - ids are stored as canonical UUID text and timestamps as integer
//!   microseconds since the Unix epoch, identically on both backends.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod dialect;
mod error;
/// Storage of a `wb-hub` relay (its own tables and migrations).
pub mod hub;
mod list;
#[cfg(feature = "test-support")]
pub mod testing;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use wb_model::{
    Comment, EntityKind, InstanceName, Invite, Request, SyncScope, Timestamp, User, Username, Uuid,
    Vouch,
};

use dialect::{postgres, sqlite};
pub use error::StoreError;
use error::{connect_error, redact_url};
pub use list::{
    COUNT_CAP, Cursor, DEFAULT_PAGE_SIZE, Exported, ListFilter, ListPage, MAX_PAGE_SIZE, SyncRun,
    SyncRunKind,
};

/// Result alias of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/instance/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/instance/postgres");

/// Key of the local instance's name in `instance_meta`.
const META_INSTANCE_NAME: &str = "instance_name";
/// Key of the last exported bundle: `"<sequence> <manifest sha256>"`.
const META_EXPORT_STATE: &str = "export_state";
const META_RENDERED_BY: &str = "export_files_renderer";

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// An embedded SQLite file.
    Sqlite,
    /// A Postgres server.
    Postgres,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on an instance's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

/// Rows written together by [`Store::insert_batch`], in one transaction.
///
/// Rows are inserted kind by kind in dependency order (users, requests,
/// comments, invites) and, within a kind, in the order given: a user whose
/// `invited_by` names another user of the batch must come after it.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Users to insert.
    pub users: Vec<User>,
    /// Requests to insert.
    pub requests: Vec<Request>,
    /// Comments to insert.
    pub comments: Vec<Comment>,
    /// Invites to insert.
    pub invites: Vec<Invite>,
    /// Vouches to insert.
    pub vouches: Vec<Vouch>,
}

/// What this instance knows of another instance whose bundles it imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginState {
    /// The other instance.
    pub instance: InstanceName,
    /// The key that signed the bundle applied last (minisign one-line
    /// form), kept to relay that bundle. Not a pin: see [`Pin`].
    pub public_key: String,
    /// The sequence of the last bundle applied.
    pub last_sequence: u64,
    /// SHA-256 (hex) of that bundle's manifest.
    pub manifest_sha256: String,
    /// That bundle's `bundle.sig`, kept to relay the bundle verbatim.
    pub signature: String,
    /// When it was applied.
    pub imported_at: Timestamp,
    /// That bundle's rotation chain (`key-rotations.txt`), kept to relay
    /// it with the bundle; `None` when it carried none.
    pub key_rotations: Option<String>,
}

/// How a pin came to be (column `sync_pins.pinned_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PinSource {
    /// Carried over by migration 0006 from the key an earlier import
    /// recorded (trust on first use, as earlier versions did).
    Migrated,
    /// Adopted from a `Key:` line of `sync_peers.txt`.
    Registry,
    /// `wb sync peers add NAME --key KEY`.
    PeersAdd,
    /// `wb sync peers pin NAME --key KEY`.
    PeersPin,
    /// `wb sync import --key KEY` for an origin without a pin.
    ImportKey,
    /// `wb sync import --accept-new-keys` for an origin without a pin.
    AcceptNew,
    /// A key rotation statement that verified against the old pin.
    Rotation,
}

impl PinSource {
    /// The word stored in the database (and shown by `wb sync peers list`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PinSource::Migrated => "migrated",
            PinSource::Registry => "registry",
            PinSource::PeersAdd => "peers-add",
            PinSource::PeersPin => "peers-pin",
            PinSource::ImportKey => "import-key",
            PinSource::AcceptNew => "accept-new",
            PinSource::Rotation => "rotation",
        }
    }
}

impl std::fmt::Display for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PinSource {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        [
            PinSource::Migrated,
            PinSource::Registry,
            PinSource::PeersAdd,
            PinSource::PeersPin,
            PinSource::ImportKey,
            PinSource::AcceptNew,
            PinSource::Rotation,
        ]
        .into_iter()
        .find(|source| source.as_str() == s)
        .ok_or_else(|| format!("unknown pin source {s:?}"))
    }
}

/// The key pinned for another instance: the only key whose bundles of that
/// origin are imported (table `sync_pins`, the one source of truth for
/// pins; see `docs/peers.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The other instance.
    pub instance: InstanceName,
    /// Its key, minisign one-line form. No other origin has this key.
    pub public_key: String,
    /// When it was pinned.
    pub pinned_at: Timestamp,
    /// How.
    pub source: PinSource,
}

/// A change of an origin's pin, made compare-and-set: it applies only if
/// the origin's pin is still [`PinChange::replaces`] (see
/// [`Store::change_pin`], and [`ImportPin::Change`] inside an import, e.g.
/// a first pin or a key rotation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinChange {
    /// The origin.
    pub instance: InstanceName,
    /// The key this change replaces: `None` when the origin must not have
    /// a pin yet.
    pub replaces: Option<String>,
    /// The key to pin.
    pub public_key: String,
    /// How it is pinned.
    pub source: PinSource,
    /// When.
    pub at: Timestamp,
    /// Also forget the origin's high-water mark (its `sync_origins` row:
    /// last applied sequence, manifest digest, signature), so that the
    /// next bundle of any sequence is accepted. Its rows stay.
    pub reset_sequence: bool,
}

/// What an import requires of the origin's pin, checked inside its
/// transaction after the origin is locked (see [`Store::apply_import`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportPin {
    /// The bundle was verified against this pinned key, which must still
    /// be the origin's pin.
    Pinned(String),
    /// The bundle was verified against a key this import pins: the first
    /// pin of an origin (`replaces: None`) or a move from an old key to a
    /// new one (`replaces: Some(old)`, a rotation). Applied with the rows,
    /// compare-and-set. Its `reset_sequence` must be false.
    Change(PinChange),
}

impl ImportPin {
    /// The key the origin is pinned to once the import is applied.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            ImportPin::Pinned(key) => key,
            ImportPin::Change(change) => &change.public_key,
        }
    }
}

/// One verified bundle, ready to apply (see [`Store::apply_import`]).
#[derive(Clone, Debug)]
pub struct ImportBatch {
    /// The origin's state after this import.
    pub state: OriginState,
    /// The pin the bundle was verified against, or the pin it sets; its
    /// key must be `state.public_key`.
    pub pin: ImportPin,
    /// Every user of the bundle (origin = `state.instance`).
    pub users: Vec<User>,
    /// Every request of the bundle.
    pub requests: Vec<Request>,
    /// Every comment of the bundle.
    pub comments: Vec<Comment>,
    /// Every invite of the bundle.
    pub invites: Vec<Invite>,
    /// Every vouch of the bundle.
    pub vouches: Vec<Vouch>,
}

/// What [`Store::apply_import`] did, in rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// New rows inserted.
    pub added: u64,
    /// Rows replaced by a newer version (or re-published after a withdrawal).
    pub updated: u64,
    /// Rows already up to date.
    pub unchanged: u64,
    /// Rows of the origin the bundle no longer holds: deleted, or kept as
    /// withdrawn (private) where local rows still reference them.
    pub retracted: u64,
}

/// How many rows refer to one row (see [`Store::references_to`]): what
/// stands in the way of deleting it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct References {
    /// Requests by this user.
    pub requests: u64,
    /// Comments by this user, or on this request.
    pub comments: u64,
    /// Invites this user issued or accepted.
    pub invites: u64,
    /// Vouches by or for this user.
    pub vouches: u64,
    /// Users this user invited.
    pub invited_users: u64,
}

impl References {
    /// No row refers to it.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == References::default()
    }
}

/// A row as the export first sees it: what decides whether it is exported
/// and whether its file must be rendered again, without its text (see
/// [`Store::row_heads`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowHead {
    /// The row's id.
    pub id: Uuid,
    /// Whether the row is the local instance's own.
    pub local: bool,
    /// The row's own scope.
    pub scope: SyncScope,
    /// The row's version: every change moves it forward.
    pub updated_at: Timestamp,
    /// The rows it references, in this order: none for a user; the author
    /// for a request; the request and the author for a comment; the inviter
    /// and the invitee (once accepted) for an invite; the voucher and the
    /// subject for a vouch.
    pub refs: [Option<Uuid>; 2],
    /// What the export last rendered this row into, if it did.
    pub rendered: Option<RenderedFile>,
}

/// The export's journal of changes as one export reads it (see
/// [`Store::export_changes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes {
    /// The last entry of the journal when it was read (0: empty), to hand
    /// to [`Store::forget_changes`] once the export is written.
    pub through: i64,
    /// The rows changed, each once, in the order first changed; `None`
    /// when the journal held more entries than the limit asked for.
    pub rows: Option<Vec<(EntityKind, Uuid)>>,
}

/// The file a row was rendered into by an export: recorded so that the next
/// export can keep it without rendering the row again while the row's
/// `updated_at` has not moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    /// The row's `updated_at` when it was rendered.
    pub updated_at: Timestamp,
    /// The file's length in bytes.
    pub length: u64,
    /// The file's SHA-256, lowercase hex.
    pub sha256: String,
}

impl Pool {
    async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// Applies `migrator`'s migrations not in `applied` (the versions the
/// database records) and returns how many there were; refuses a database
/// that records a version newer than any `migrator` knows. Shared by the
/// instance and hub schemas.
pub(crate) async fn run_migrations(
    pool: &Pool,
    migrator: &Migrator,
    applied: &[i64],
) -> Result<usize> {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied.iter().copied().max().filter(|v| *v > known) {
        return Err(StoreError::NewerSchema { found, known });
    }
    match pool {
        Pool::Sqlite(pool) => migrator.run(pool).await?,
        Pool::Postgres(pool) => migrator.run(pool).await?,
    }
    Ok(migrator
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .count())
}

/// The Postgres advisory lock key of an origin's sync state: FNV-1a (64
/// bits) of a fixed prefix and the name. Stable across versions and
/// processes (every `wb` and test sharing a database must agree); two names
/// that collide merely share a lock.
fn origin_lock_key(origin: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"wb sync origin ".iter().chain(origin.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// KiB of SQLite page cache per connection of an instance's store: 32 MiB
/// (the default is 2 MiB): a filtered list's count looks up a referenced
/// row for every row, and beyond the cache each lookup is a read from the
/// OS.
const INSTANCE_CACHE_KIB: u32 = 32 * 1024;

/// Runs the same backend function on whichever pool the store holds.
macro_rules! on_backend {
    ($self:ident, $f:ident($($arg:expr),*)) => {
        match &$self.pool {
            Pool::Sqlite(pool) => sqlite::queries::$f(pool $(, $arg)*).await,
            Pool::Postgres(pool) => postgres::queries::$f(pool $(, $arg)*).await,
        }
    };
}

impl Store {
    /// Opens (and with `create`, creates) the SQLite database file at `path`.
    pub async fn open_sqlite(path: &Path, create: bool) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .pragma("cache_size", format!("-{INSTANCE_CACHE_KIB}"));
        Self::open_sqlite_with(options, &path.display().to_string()).await
    }

    /// Connects to `sqlite://…` or `postgres://…`. With `create`, a missing
    /// SQLite file is created; a Postgres database must already exist.
    pub async fn connect(url: &str, create: bool) -> Result<Self> {
        Self::connect_with_cache(url, create, INSTANCE_CACHE_KIB).await
    }

    /// [`Store::connect`] with `cache_kib` KiB of SQLite page cache per
    /// connection (Postgres ignores it).
    pub(crate) async fn connect_with_cache(
        url: &str,
        create: bool,
        cache_kib: u32,
    ) -> Result<Self> {
        let shown = redact_url(url);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| connect_error(&shown, e))?
                .create_if_missing(create)
                .pragma("cache_size", format!("-{cache_kib}"));
            Self::open_sqlite_with(options, &shown).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| connect_error(&shown, e))?
                // No JIT: the planner's estimates for correlated subqueries
                // (a filtered list's count) are high enough to trigger it,
                // and compiling then costs ten times the query itself
                // (300 ms against 35 ms at 38,000 rows).
                .options([("jit", "off")]);
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(|e| connect_error(&shown, e))?;
            Ok(Self {
                pool: Pool::Postgres(pool),
            })
        } else {
            Err(StoreError::UnsupportedUrl { url: shown })
        }
    }

    async fn open_sqlite_with(options: SqliteConnectOptions, shown: &str) -> Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| connect_error(shown, e))?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
        })
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> BackendKind {
        match self.pool {
            Pool::Sqlite(_) => BackendKind::Sqlite,
            Pool::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Applies pending migrations; returns how many were applied (0 when the
    /// schema was already current). Refuses a database migrated by a newer wb.
    pub async fn migrate(&self) -> Result<usize> {
        let (migrator, before) = match &self.pool {
            Pool::Sqlite(pool) => (
                &SQLITE_MIGRATOR,
                sqlite::queries::applied_migrations(pool).await,
            ),
            Pool::Postgres(pool) => (
                &POSTGRES_MIGRATOR,
                postgres::queries::applied_migrations(pool).await,
            ),
        };
        run_migrations(&self.pool, migrator, &before).await
    }

    /// Closes the pool, waiting for connections to finish (and SQLite to
    /// checkpoint its WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// See [`testing::TestDb::snapshot`].
    #[cfg(feature = "test-support")]
    pub(crate) async fn snapshot(&self) -> Result<String> {
        use sqlx::Row as _;
        let mut out = String::new();
        match &self.pool {
            Pool::Sqlite(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                )
                .fetch_all(pool)
                .await?;
                for table in tables {
                    let columns: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
                    )))
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|row| row.try_get::<String, _>(0))
                    .collect::<sqlx::Result<_>>()?;
                    let row_text = columns
                        .iter()
                        .map(|c| format!("quote(\"{c}\")"))
                        .collect::<Vec<_>>()
                        .join(" || ',' || ");
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT {row_text} FROM \"{table}\" ORDER BY 1"
                    )))
                    .fetch_all(pool)
                    .await?;
                    out.push_str(&format!("== {table}\n"));
                    for row in rows {
                        out.push_str(&row);
                        out.push('\n');
                    }
                }
                let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                    .fetch_all(pool)
                    .await?;
                out.push_str(&format!("== integrity_check\n{}\n", check.join("\n")));
            }
            Pool::Postgres(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                     ORDER BY 1",
                )
                .fetch_all(pool)
                .await?;
                for table in tables {
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT t::text FROM \"{table}\" AS t ORDER BY 1"
                    )))
                    .fetch_all(pool)
                    .await?;
                    out.push_str(&format!("== {table}\n"));
                    for row in rows {
                        out.push_str(&row);
                        out.push('\n');
                    }
                }
            }
        }
        // The record of the last push or pull (`list::SyncRun`, in
        // `instance_meta`) is the one write a failed run makes by design:
        // left out, "nothing changed" still means nothing half-written.
        let sync_run = |line: &str| {
            ["'last_push',", "'last_pull',", "(last_push,", "(last_pull,"]
                .iter()
                .any(|key| line.starts_with(key))
        };
        Ok(out
            .lines()
            .filter(|line| !sync_run(line))
            .map(|line| format!("{line}\n"))
            .collect())
    }

    /// Runs one statement without parameters (test-support schema set-up).
    #[cfg(feature = "test-support")]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await?;
            }
            Pool::Postgres(pool) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// The local instance's name, once `wb init` has set it.
    pub async fn instance_name(&self) -> Result<Option<InstanceName>> {
        let value: Option<String> = on_backend!(self, meta(META_INSTANCE_NAME))?;
        value
            .map(|v| {
                InstanceName::parse(&v).map_err(|e| StoreError::Corrupt {
                    what: "instance name",
                    detail: e.to_string(),
                })
            })
            .transpose()
    }

    /// Records the local instance's name (once; see [`Store::instance_name`]).
    pub async fn set_instance_name(&self, name: &InstanceName) -> Result<()> {
        on_backend!(self, set_meta(META_INSTANCE_NAME, name.as_str()))
    }

    /// The sequence of the last bundle this instance exported (0: none yet)
    /// and the SHA-256 (hex) of its manifest, once written.
    pub async fn export_state(&self) -> Result<(u64, Option<String>)> {
        let value: Option<String> = on_backend!(self, meta(META_EXPORT_STATE))?;
        let Some(value) = value else {
            return Ok((0, None));
        };
        let corrupt = || StoreError::Corrupt {
            what: "export state",
            detail: value.clone(),
        };
        let (sequence, digest) = value.split_once(' ').unwrap_or((value.as_str(), ""));
        let sequence = sequence.parse().map_err(|_| corrupt())?;
        Ok((sequence, Some(digest.to_owned()).filter(|d| !d.is_empty())))
    }

    /// Records the sequence of a bundle about to be written (digest `None`),
    /// then, once written, its manifest digest. Recording the number before
    /// writing means a crash may skip a sequence number but never reuse one.
    pub async fn set_export_state(
        &self,
        sequence: u64,
        manifest_sha256: Option<&str>,
    ) -> Result<()> {
        let value = format!("{sequence} {}", manifest_sha256.unwrap_or_default());
        on_backend!(self, set_meta(META_EXPORT_STATE, value.trim_end()))
    }

    /// Every row of `kind` with its version, scope and references but not
    /// its text, each with the file the export last rendered it into; rows
    /// whose origin is `local` are marked [`RowHead::local`]. In no
    /// particular order. One narrow query: an export reads this first and
    /// then reads in full only the rows it has to render.
    pub async fn row_heads(&self, kind: EntityKind, local: &InstanceName) -> Result<Vec<RowHead>> {
        on_backend!(self, row_heads(kind, local))
    }

    /// The heads (as [`Store::row_heads`]) of the rows of `kind` whose id
    /// is in `ids` or that reference any row in `referencing` (by any of
    /// [`RowHead::refs`]). In no particular order.
    pub async fn row_heads_matching(
        &self,
        kind: EntityKind,
        local: &InstanceName,
        ids: &[Uuid],
        referencing: &[Uuid],
    ) -> Result<Vec<RowHead>> {
        if ids.is_empty() && referencing.is_empty() {
            return Ok(Vec::new());
        }
        on_backend!(self, row_heads_matching(kind, local, ids, referencing))
    }

    /// The rows changed since an export last handled the journal: every
    /// insert, update or delete of a local row, and every deletion or
    /// change of scope of another instance's row, as the database's
    /// triggers note them (migration 0005). At most `limit` entries are
    /// read: beyond that [`Changes::rows`] is `None`, and an export looks
    /// at every row instead.
    pub async fn export_changes(&self, limit: usize) -> Result<Changes> {
        on_backend!(self, export_changes(limit))
    }

    /// Deletes the journal's entries up to `through` (from
    /// [`Store::export_changes`]): an export calls this once what it wrote
    /// reflects them. Changes noted since stay for the next export.
    pub async fn forget_changes(&self, through: i64) -> Result<()> {
        on_backend!(self, forget_changes(through))
    }

    /// How many rows of `kind` the database holds (of every origin).
    pub async fn row_count(&self, kind: EntityKind) -> Result<u64> {
        on_backend!(self, row_count(kind))
    }

    /// Hands every user to `each` as it is read, in no particular order,
    /// until `each` returns false: all of them without holding them all
    /// (what an export into an empty directory reads). The `scan_*`
    /// methods of the other kinds do the same.
    pub async fn scan_users(&self, each: &mut dyn FnMut(User) -> bool) -> Result<()> {
        on_backend!(self, scan_users(each))
    }

    /// Every request, as [`Store::scan_users`] hands users.
    pub async fn scan_requests(&self, each: &mut dyn FnMut(Request) -> bool) -> Result<()> {
        on_backend!(self, scan_requests(each))
    }

    /// Every comment, as [`Store::scan_users`] hands users.
    pub async fn scan_comments(&self, each: &mut dyn FnMut(Comment) -> bool) -> Result<()> {
        on_backend!(self, scan_comments(each))
    }

    /// Every invite, as [`Store::scan_users`] hands users.
    pub async fn scan_invites(&self, each: &mut dyn FnMut(Invite) -> bool) -> Result<()> {
        on_backend!(self, scan_invites(each))
    }

    /// Every vouch, as [`Store::scan_users`] hands users.
    pub async fn scan_vouches(&self, each: &mut dyn FnMut(Vouch) -> bool) -> Result<()> {
        on_backend!(self, scan_vouches(each))
    }

    /// Which renderer made the records of rendered files (the name given to
    /// the last [`Store::reset_rendered`]), if any.
    pub async fn rendered_by(&self) -> Result<Option<String>> {
        on_backend!(self, meta(META_RENDERED_BY))
    }

    /// Forgets every record of rendered files, in one transaction with
    /// noting that records from now on are made by `renderer`. An export
    /// calls this when the software that renders rows has changed, as old
    /// records describe files the new one might render differently.
    pub async fn reset_rendered(&self, renderer: &str) -> Result<()> {
        on_backend!(self, reset_rendered(META_RENDERED_BY, renderer))
    }

    /// Records, in one transaction, the files an export rendered rows of
    /// `kind` into (replacing earlier records of those rows), and forgets
    /// the records of the rows in `forget` (no longer exported).
    pub async fn record_rendered(
        &self,
        kind: EntityKind,
        rendered: &[(Uuid, RenderedFile)],
        forget: &[Uuid],
    ) -> Result<()> {
        on_backend!(self, record_rendered(kind, rendered, forget))
    }

    /// What is known of the other instance `instance`, if anything was
    /// imported from it.
    pub async fn origin_state(&self, instance: &InstanceName) -> Result<Option<OriginState>> {
        on_backend!(self, origin_state(instance))
    }

    /// Every origin something was imported from, by name.
    pub async fn origin_states(&self) -> Result<Vec<OriginState>> {
        on_backend!(self, origin_states())
    }

    /// The pin of `instance`, if it has one.
    pub async fn pin(&self, instance: &InstanceName) -> Result<Option<Pin>> {
        on_backend!(self, pin(instance))
    }

    /// Every pin, by origin name.
    pub async fn pins(&self) -> Result<Vec<Pin>> {
        on_backend!(self, pins())
    }

    /// Sets, moves or confirms a pin, compare-and-set, in one transaction
    /// that holds the origin's import lock (so it never interleaves with an
    /// import of that origin): refuses with [`StoreError::PinChanged`]
    /// unless the pin is still `change.replaces` (or already the new key,
    /// which changes nothing), and with
    /// [`StoreError::KeyPinnedElsewhere`] if the key is another origin's
    /// pin. With `reset_sequence`, forgets the origin's high-water mark and
    /// returns the sequence forgotten.
    pub async fn change_pin(&self, change: &PinChange) -> Result<Option<u64>> {
        on_backend!(self, change_pin(change))
    }

    /// Applies a verified bundle in one transaction: inserts new rows,
    /// replaces rows whose `updated_at` is newer, leaves the rest, retracts
    /// rows of the origin the bundle no longer holds, and records the
    /// origin's new state.
    ///
    /// Imports of one origin are serialised: the transaction first takes
    /// the origin's lock (a transaction-scoped advisory lock on Postgres;
    /// SQLite's `BEGIN IMMEDIATE` already admits one writer), then checks,
    /// under it, the pin ([`ImportBatch::pin`]; [`StoreError::PinChanged`],
    /// [`StoreError::KeyPinnedElsewhere`]) and the high-water mark: the very
    /// bundle applied last is [`StoreError::AlreadyApplied`], any other
    /// sequence not above the applied one [`StoreError::StaleSequence`].
    pub async fn apply_import(&self, batch: &ImportBatch) -> Result<ImportCounts> {
        on_backend!(self, apply_import(batch))
    }

    /// Replaces a user's display name, bio, email and role (from `user`,
    /// found by its id), moving `updated_at` forward to at least `at`.
    pub async fn update_user(&self, user: &User, at: Timestamp) -> Result<()> {
        on_backend!(self, update_user(user, at))
    }

    /// Replaces a request's title, body and status, moving `updated_at`
    /// forward to at least `at`.
    pub async fn update_request(&self, request: &Request, at: Timestamp) -> Result<()> {
        on_backend!(self, update_request(request, at))
    }

    /// Replaces a comment's body, moving `updated_at` forward.
    pub async fn update_comment(&self, id: Uuid, body: &str, at: Timestamp) -> Result<()> {
        on_backend!(self, update_comment(id, body, at))
    }

    /// Revokes a pending invite ([`StoreError::NotFound`] if there is no
    /// pending invite with this id).
    pub async fn revoke_invite(&self, id: Uuid, at: Timestamp) -> Result<()> {
        on_backend!(self, revoke_invite(id, at))
    }

    /// How many rows refer to the row `kind`/`id`.
    pub async fn references_to(&self, kind: EntityKind, id: Uuid) -> Result<References> {
        on_backend!(self, references_to(kind, id))
    }

    /// Deletes `rows` in one transaction, in the order given (dependents
    /// first): all of them, or none.
    pub async fn delete_rows(&self, rows: &[(EntityKind, Uuid)]) -> Result<()> {
        on_backend!(self, delete_rows(rows))
    }

    /// The ids of rows of `kind` that start with `prefix` (lowercase hex
    /// digits and hyphens only: the caller checks), at most `limit`, in
    /// order.
    pub async fn ids_with_prefix(
        &self,
        kind: EntityKind,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<Uuid>> {
        on_backend!(self, ids_with_prefix(kind, prefix, limit))
    }

    /// Inserts one user.
    pub async fn insert_user(&self, user: &User) -> Result<()> {
        self.insert_batch(&Batch {
            users: vec![user.clone()],
            ..Batch::default()
        })
        .await
    }

    /// Inserts one request.
    pub async fn insert_request(&self, request: &Request) -> Result<()> {
        self.insert_batch(&Batch {
            requests: vec![request.clone()],
            ..Batch::default()
        })
        .await
    }

    /// Inserts one comment.
    pub async fn insert_comment(&self, comment: &Comment) -> Result<()> {
        self.insert_batch(&Batch {
            comments: vec![comment.clone()],
            ..Batch::default()
        })
        .await
    }

    /// Inserts one invite.
    pub async fn insert_invite(&self, invite: &Invite) -> Result<()> {
        self.insert_batch(&Batch {
            invites: vec![invite.clone()],
            ..Batch::default()
        })
        .await
    }

    /// Inserts one vouch.
    pub async fn insert_vouch(&self, vouch: &Vouch) -> Result<()> {
        self.insert_batch(&Batch {
            vouches: vec![vouch.clone()],
            ..Batch::default()
        })
        .await
    }

    /// Inserts every row of `batch` in one transaction: all or nothing.
    pub async fn insert_batch(&self, batch: &Batch) -> Result<()> {
        on_backend!(self, insert_batch(batch))
    }

    /// Creates `new_user` and marks the pending invite `invite_id` accepted
    /// by them, in one transaction. Fails with [`StoreError::Constraint`] if
    /// the invite is no longer pending.
    pub async fn accept_invite(&self, invite_id: Uuid, new_user: &User) -> Result<()> {
        on_backend!(self, accept_invite(invite_id, new_user))
    }

    /// Sets a row's own scope and its `updated_at`.
    pub async fn set_scope(
        &self,
        kind: EntityKind,
        id: Uuid,
        scope: SyncScope,
        at: Timestamp,
    ) -> Result<()> {
        on_backend!(self, set_scope(kind, id, scope, at))
    }

    /// Changes a user's display name and bio, and its `updated_at`.
    pub async fn update_profile(
        &self,
        id: Uuid,
        display_name: &str,
        bio: &str,
        at: Timestamp,
    ) -> Result<()> {
        on_backend!(self, update_profile(id, display_name, bio, at))
    }

    /// The user with this id.
    pub async fn user(&self, id: Uuid) -> Result<Option<User>> {
        on_backend!(self, user(id))
    }

    /// The user of `origin` with this username.
    pub async fn user_by_username(
        &self,
        origin: &InstanceName,
        username: &Username,
    ) -> Result<Option<User>> {
        on_backend!(self, user_by_username(origin, username))
    }

    /// Every user, by origin then username.
    pub async fn users(&self) -> Result<Vec<User>> {
        on_backend!(self, users())
    }

    /// The request with this id.
    pub async fn request(&self, id: Uuid) -> Result<Option<Request>> {
        on_backend!(self, request(id))
    }

    /// Every request, by creation time then id.
    pub async fn requests(&self) -> Result<Vec<Request>> {
        on_backend!(self, requests())
    }

    /// The comment with this id.
    pub async fn comment(&self, id: Uuid) -> Result<Option<Comment>> {
        on_backend!(self, comment(id))
    }

    /// Every comment, by creation time then id.
    pub async fn comments(&self) -> Result<Vec<Comment>> {
        on_backend!(self, comments())
    }

    /// The comments of one request, by creation time then id.
    pub async fn comments_of(&self, request_id: Uuid) -> Result<Vec<Comment>> {
        on_backend!(self, comments_of(request_id))
    }

    /// The invite with this id.
    pub async fn invite(&self, id: Uuid) -> Result<Option<Invite>> {
        on_backend!(self, invite(id))
    }

    /// The local invite with this secret code.
    pub async fn invite_by_code(&self, code: &str) -> Result<Option<Invite>> {
        on_backend!(self, invite_by_code(code))
    }

    /// The vouch with this id.
    pub async fn vouch(&self, id: Uuid) -> Result<Option<Vouch>> {
        on_backend!(self, vouch(id))
    }

    /// Every vouch, by creation time then id.
    pub async fn vouches(&self) -> Result<Vec<Vouch>> {
        on_backend!(self, vouches())
    }

    /// Local and imported users nobody invited (no `invited_by`, and no
    /// accepted invite names them), excluding withdrawn imported users, by
    /// origin then username.
    pub async fn root_users(&self) -> Result<Vec<User>> {
        on_backend!(self, root_users())
    }

    /// One page of users matching `filter`, in id order, after or before
    /// `cursor`, of at most `size` rows (clamped to 1..=[`MAX_PAGE_SIZE`]),
    /// with the total that match. `local` is this instance's name (what the
    /// effective-scope filter needs). Keyset paging: each page costs the
    /// same however deep it is.
    pub async fn list_users(
        &self,
        local: &InstanceName,
        filter: &ListFilter,
        cursor: Cursor,
        size: u32,
    ) -> Result<ListPage<User>> {
        on_backend!(self, list_users(local, filter, cursor, size))
    }

    /// One page of requests, as [`Store::list_users`].
    pub async fn list_requests(
        &self,
        local: &InstanceName,
        filter: &ListFilter,
        cursor: Cursor,
        size: u32,
    ) -> Result<ListPage<Request>> {
        on_backend!(self, list_requests(local, filter, cursor, size))
    }

    /// One page of comments, as [`Store::list_users`].
    pub async fn list_comments(
        &self,
        local: &InstanceName,
        filter: &ListFilter,
        cursor: Cursor,
        size: u32,
    ) -> Result<ListPage<Comment>> {
        on_backend!(self, list_comments(local, filter, cursor, size))
    }

    /// One page of invites, as [`Store::list_users`].
    pub async fn list_invites(
        &self,
        local: &InstanceName,
        filter: &ListFilter,
        cursor: Cursor,
        size: u32,
    ) -> Result<ListPage<Invite>> {
        on_backend!(self, list_invites(local, filter, cursor, size))
    }

    /// One page of vouches, as [`Store::list_users`].
    pub async fn list_vouches(
        &self,
        local: &InstanceName,
        filter: &ListFilter,
        cursor: Cursor,
        size: u32,
    ) -> Result<ListPage<Vouch>> {
        on_backend!(self, list_vouches(local, filter, cursor, size))
    }

    /// How many comments each request of `ids` has; requests without
    /// comments are left out.
    pub async fn comment_counts(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, u64)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        on_backend!(self, comment_counts(ids))
    }

    /// Every invite, by creation time then id.
    pub async fn invites(&self) -> Result<Vec<Invite>> {
        on_backend!(self, invites())
    }
}
