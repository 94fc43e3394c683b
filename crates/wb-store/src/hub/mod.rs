//! Storage of a `wb-hub` relay: registered instances with their pinned
//! keys, hashed upload tokens, and each instance's bundles, content
//! addressed.
//!
//! [`HubStore`](crate::hub::HubStore) follows the shape of [`crate::Store`]: one handle over a
//! SQLite or Postgres pool, each query written once in `hub/backend.rs` and
//! compiled for both backends (the few that differ — arrays of hashes — live
//! in the `sqlite` and `postgres` modules below). Its tables are prefixed
//! `hub_` and its migrations (`migrations/hub/{sqlite,postgres}`) are
//! tracked in their own table, `_wb_hub_migrations`, so a hub may share a
//! database (or a Postgres schema) with an instance without either
//! disturbing the other.
//!
//! **Content addressed** (migration 0002). A bundle is stored as its signed
//! manifest (with `bundle.sig` and `key-rotations.txt`, in
//! `hub_manifests`) and its entity files, each distinct file once in
//! `hub_files` keyed by its SHA-256 — the hash the manifest names. An
//! instance keeps its latest [`KEPT_MANIFESTS`](crate::hub::KEPT_MANIFESTS) manifests, so the hub can
//! answer a client holding an older one with what changed. Files are never
//! deleted while the hub runs, so a reader that has the manifest of a
//! bundle can always read its files.
//!
//! **Publishing** is one transaction: the manifest row, the files the hub
//! lacked, and the conditional move of the instance's pointer
//! (`hub_bundles`, only to a higher sequence). Several hub processes
//! sharing one Postgres cannot both publish for the same instance: the
//! pointer's upsert locks its row, and the later transaction re-checks the
//! sequence against the committed winner; the loser rolls back everything
//! it wrote.

use sqlx::migrate::Migrator;
use wb_model::{InstanceName, Timestamp};

use crate::{Pool, Result, Store};

/// The table in which the hub's migrations are recorded.
pub const MIGRATIONS_TABLE: &str = "_wb_hub_migrations";

fn migrator(sqlite: bool) -> Migrator {
    let mut migrator = if sqlite {
        sqlx::migrate!("../../migrations/hub/sqlite")
    } else {
        sqlx::migrate!("../../migrations/hub/postgres")
    };
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// A handle on a hub's database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HubStore {
    pool: Pool,
}

/// An instance registered on the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubInstance {
    /// Its name.
    pub name: InstanceName,
    /// Its pinned public key (minisign one-line form).
    pub public_key: String,
    /// When it was registered.
    pub registered_at: Timestamp,
}

/// An upload token as stored: only the SHA-256 of its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct HubToken {
    /// The token's public id (part of the token text).
    pub id: String,
    /// The instance it may publish for.
    pub instance: InstanceName,
    /// SHA-256 of the token's secret.
    pub secret_sha256: [u8; 32],
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl std::fmt::Debug for HubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubToken")
            .field("id", &self.id)
            .field("instance", &self.instance)
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// How many manifests of each instance the hub keeps: the latest and the
/// ones before it, so a client holding one of them gets a delta.
pub const KEPT_MANIFESTS: i64 = 4;

/// What is known of one of an instance's bundles, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleInfo {
    /// The publishing instance.
    pub instance: InstanceName,
    /// The bundle's sequence.
    pub sequence: u64,
    /// SHA-256 (hex) of its manifest.
    pub manifest_sha256: String,
    /// Size of the bundle's canonical archive in bytes.
    pub size: u64,
    /// The HTTP entity tag of the archive (without quotes).
    pub etag: String,
    /// When the hub accepted it.
    pub published_at: Timestamp,
}

/// A stored bundle's signed part: its manifest, signature and rotation
/// chain. Its entity files are in the content-addressed store
/// ([`HubStore::files`]), named by the manifest's lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    /// Sequence, manifest hash, size, etag and time of publication.
    pub info: BundleInfo,
    /// The bytes of `manifest.sync.txt`.
    pub manifest: Vec<u8>,
    /// The bytes of `bundle.sig`.
    pub signature: Vec<u8>,
    /// The bytes of `key-rotations.txt`, when the bundle has one.
    pub key_rotations: Option<Vec<u8>>,
}

/// A file of the content-addressed store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubFile {
    /// SHA-256 of `content` (the caller computes or checks it; the store
    /// trusts it). The store keys it as 64 lowercase hex digits; held as
    /// bytes, a bundle of 100k files costs no allocation per hash.
    pub sha256: [u8; 32],
    /// The file's bytes.
    pub content: Vec<u8>,
}

/// A bundle to publish: its signed manifest and the files the hub may
/// lack. Files already stored may be left out (and are ignored if given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBundle {
    /// The manifest, signature and rotations, with the bundle's description.
    pub manifest: StoredManifest,
    /// Entity files, by hash; a content the store already holds is kept
    /// as it is.
    pub files: Vec<HubFile>,
    /// For a bundle published as a delta: the SHA-256 of the kept manifest
    /// of the same instance it was rebuilt from, whose files it names
    /// without giving them. It is published only if that manifest is still
    /// kept when the transaction runs (so no garbage collection removed
    /// those files meanwhile); otherwise [`PublishOutcome::BaseGone`].
    pub base: Option<String>,
}

/// What [`HubStore::collect_garbage`] removed and kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GarbageReport {
    /// Files removed: no kept manifest names them.
    pub removed_files: u64,
    /// Their bytes.
    pub removed_bytes: u64,
    /// Files kept.
    pub kept_files: u64,
}

/// A registered instance with its latest bundle, if any (the hub's listing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceListing {
    /// The instance.
    pub instance: HubInstance,
    /// Its latest bundle.
    pub bundle: Option<BundleInfo>,
}

/// What [`HubStore::publish`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishOutcome {
    /// The bundle is now the instance's latest.
    Published,
    /// The very same bundle (sequence and manifest hash) was already the
    /// latest: nothing changed.
    Unchanged,
    /// The stored bundle's sequence is equal (with different content) or
    /// higher: nothing changed.
    Stale {
        /// The sequence stored.
        stored_sequence: u64,
    },
    /// [`HubStore::publish_rotated`] only: the registered key is no longer
    /// the one the rotation starts from (the operator or another upload
    /// changed it meanwhile): nothing changed.
    KeyChanged,
    /// A bundle published as a delta ([`NewBundle::base`]) whose base
    /// manifest is no longer kept: nothing changed; publish it whole.
    BaseGone,
}

/// Runs the same backend function on whichever pool the store holds.
macro_rules! on_hub_backend {
    ($self:ident, $f:ident($($arg:expr),*)) => {
        match &$self.pool {
            Pool::Sqlite(pool) => sqlite::$f(pool $(, $arg)*).await,
            Pool::Postgres(pool) => postgres::$f(pool $(, $arg)*).await,
        }
    };
}

impl HubStore {
    /// Connects to `sqlite://…` or `postgres://…`. With `create`, a missing
    /// SQLite file is created; a Postgres database must already exist.
    /// SQLite is opened as [`Store`] opens it (WAL, `synchronous=FULL`,
    /// busy timeout, foreign keys), with SQLite's default page cache of
    /// 2 MiB per connection: the hub writes and reads each file once, and
    /// its memory is counted in bundles (issue 13).
    pub async fn connect(url: &str, create: bool) -> Result<Self> {
        let store = Store::connect_with_cache(url, create, 2 * 1024).await?;
        Ok(Self { pool: store.pool })
    }

    /// Applies pending hub migrations; returns how many were applied.
    /// Refuses a database migrated by a newer hub.
    pub async fn migrate(&self) -> Result<usize> {
        let sqlite = matches!(self.pool, Pool::Sqlite(_));
        let migrator = migrator(sqlite);
        let before = on_hub_backend!(self, applied_migrations());
        crate::run_migrations(&self.pool, &migrator, &before).await
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Registers an instance and its key. Fails with
    /// [`StoreError::Constraint`](crate::StoreError::Constraint) if the name is already registered.
    pub async fn add_instance(&self, instance: &HubInstance) -> Result<()> {
        on_hub_backend!(self, add_instance(instance))
    }

    /// The registered instance `name`.
    pub async fn instance(&self, name: &InstanceName) -> Result<Option<HubInstance>> {
        on_hub_backend!(self, instance(name))
    }

    /// Stores a new token (its secret already hashed). Fails with
    /// [`StoreError::Constraint`](crate::StoreError::Constraint) for an unknown instance or a reused id.
    pub async fn add_token(&self, token: &HubToken) -> Result<()> {
        on_hub_backend!(self, add_token(token))
    }

    /// The token with this id.
    pub async fn token(&self, id: &str) -> Result<Option<HubToken>> {
        on_hub_backend!(self, token(id))
    }

    /// Marks a token revoked; `false` when no such token exists. Revoking a
    /// revoked token keeps its first revocation time.
    pub async fn revoke_token(&self, id: &str, at: Timestamp) -> Result<bool> {
        on_hub_backend!(self, revoke_token(id, at))
    }

    /// Publishes `bundle` as the latest of its instance if its sequence is
    /// higher than the stored one, in one transaction (atomic, race-free
    /// across processes sharing the database): the manifest, the new
    /// files, the pointer; then forgets manifests beyond the latest
    /// [`KEPT_MANIFESTS`].
    pub async fn publish(&self, bundle: NewBundle) -> Result<PublishOutcome> {
        on_hub_backend!(self, publish(bundle, None))
    }

    /// Publishes `bundle` (as [`HubStore::publish`]) and moves the
    /// instance's registered key from `from_key` to `to_key`, in one
    /// transaction: the bundle of a key rotation the caller verified. If
    /// the registered key is no longer `from_key`, nothing changes
    /// ([`PublishOutcome::KeyChanged`]); if the bundle is not published,
    /// the key does not move either.
    pub async fn publish_rotated(
        &self,
        bundle: NewBundle,
        from_key: &str,
        to_key: &str,
    ) -> Result<PublishOutcome> {
        on_hub_backend!(self, publish(bundle, Some((from_key, to_key))))
    }

    /// Replaces the registered key of `name` (the operator's revocation of a
    /// compromised or lost key); `false` if no such instance is registered.
    pub async fn set_instance_key(&self, name: &InstanceName, key: &str) -> Result<bool> {
        on_hub_backend!(self, set_instance_key(name, key))
    }

    /// The latest bundle of `instance`, without its bytes.
    pub async fn bundle_info(&self, instance: &InstanceName) -> Result<Option<BundleInfo>> {
        on_hub_backend!(self, bundle_info(instance))
    }

    /// The latest bundle's manifest, signature and rotations, read in one
    /// statement (the pointer and the manifest it points at). Its files
    /// stay readable through [`HubStore::files`] whatever is published
    /// meanwhile, so a reader sees the old bundle or the new one, never a
    /// mix.
    pub async fn latest_manifest(&self, instance: &InstanceName) -> Result<Option<StoredManifest>> {
        on_hub_backend!(self, latest_manifest(instance))
    }

    /// The kept manifest of `instance` whose SHA-256 is `manifest_sha256`,
    /// if the hub still has it.
    pub async fn manifest(
        &self,
        instance: &InstanceName,
        manifest_sha256: &str,
    ) -> Result<Option<StoredManifest>> {
        on_hub_backend!(self, manifest(instance, manifest_sha256))
    }

    /// The manifests kept for `instance`, newest first.
    pub async fn kept_manifests(&self, instance: &InstanceName) -> Result<Vec<BundleInfo>> {
        on_hub_backend!(self, kept_manifests(instance))
    }

    /// The stored files among `sha256s` (in no particular order; a hash the
    /// store lacks is left out).
    pub async fn files(&self, sha256s: &[String]) -> Result<Vec<HubFile>> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlite::files(pool, sha256s).await,
            Pool::Postgres(pool) => postgres::files(pool, sha256s).await,
        }
    }

    /// The hashes among `sha256s` the store lacks, in the order given
    /// (duplicates kept).
    pub async fn missing_files(&self, sha256s: &[String]) -> Result<Vec<String>> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlite::missing_files(pool, sha256s).await,
            Pool::Postgres(pool) => postgres::missing_files(pool, sha256s).await,
        }
    }

    /// Removes the files no kept manifest of any instance names, in one
    /// transaction that publishing waits for (and that waits for
    /// publishing): a bundle being published either committed first (its
    /// files are named) or starts after (it stores what it needs, or finds
    /// its delta's base gone).
    ///
    /// Every kept manifest is read once, one at a time; memory grows with
    /// the number of distinct files stored, not with the manifests.
    pub async fn collect_garbage(&self) -> Result<GarbageReport> {
        on_hub_backend!(self, collect_garbage())
    }

    /// How many distinct files the content-addressed store holds.
    pub async fn file_count(&self) -> Result<u64> {
        on_hub_backend!(self, file_count())
    }

    /// Every registered instance with its latest bundle, by name.
    pub async fn listing(&self) -> Result<Vec<InstanceListing>> {
        on_hub_backend!(self, listing())
    }
}

/// How many hashes one query of [`HubStore::files`] or
/// [`HubStore::missing_files`] carries.
const HASHES_PER_QUERY: usize = 2_000;

mod sqlite {
    type Db = sqlx::Sqlite;

    include!("backend.rs");

    /// How many bytes of file contents one insert carries.
    const BYTES_PER_INSERT: usize = 4 << 20;

    /// Stores `files` the store lacks, in the caller's transaction; a file
    /// already stored is left as it is. Each statement carries many files
    /// as two parameters — their contents end to end, and a JSON array of
    /// `[sha256, offset, length]` — so that binding costs nothing per file.
    async fn insert_files(
        conn: &mut sqlx::SqliteConnection,
        files: Vec<super::HubFile>,
    ) -> Result<()> {
        // Each file's bytes are freed as they are copied into a statement:
        // the bundle is held once, not twice.
        let mut files = files.into_iter().peekable();
        while files.peek().is_some() {
            let mut blob = Vec::with_capacity(BYTES_PER_INSERT + (64 << 10));
            let mut index = Vec::new();
            while let Some(file) =
                files.next_if(|_| index.is_empty() || blob.len() < BYTES_PER_INSERT)
            {
                // substr() counts from 1.
                index.push((hex::encode(file.sha256), blob.len() + 1, file.content.len()));
                blob.extend_from_slice(&file.content);
            }
            let index = serde_json::to_string(&index).map_err(|e| corrupt("sha256", e))?;
            sqlx::query(
                "INSERT INTO hub_files (sha256, content, size) \
                 SELECT f.value ->> 0, substr($2, f.value ->> 1, f.value ->> 2), f.value ->> 2 \
                 FROM json_each($1) AS f WHERE true \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(index)
            .bind(blob)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Takes the lock that orders publishing and garbage collection: on
    /// SQLite, the database's one write lock, taken by a first write.
    async fn lock_for_garbage(conn: &mut sqlx::SqliteConnection) -> Result<()> {
        sqlx::query("UPDATE hub_bundles SET sequence = sequence WHERE 0")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Publishing needs no lock of its own on SQLite: its first write takes
    /// the database's one write lock.
    #[expect(
        clippy::unused_async,
        reason = "the same signature as Postgres's, which takes a lock"
    )]
    async fn lock_for_publish(_conn: &mut sqlx::SqliteConnection) -> Result<()> {
        Ok(())
    }

    /// Deletes the files `sha256s`.
    async fn delete_files(conn: &mut sqlx::SqliteConnection, sha256s: &[String]) -> Result<()> {
        for chunk in sha256s.chunks(super::HASHES_PER_QUERY) {
            sqlx::query("DELETE FROM hub_files WHERE sha256 IN (SELECT value FROM json_each($1))")
                .bind(json_array(chunk)?)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    fn json_array(hashes: &[String]) -> Result<String> {
        serde_json::to_string(hashes).map_err(|e| corrupt("sha256", e))
    }

    /// The stored files among `sha256s`. Each query answers one row: the
    /// files' hashes and lengths as JSON, and their contents end to end,
    /// so that decoding costs nothing per file.
    pub(super) async fn files(
        pool: &sqlx::Pool<Db>,
        sha256s: &[String],
    ) -> Result<Vec<super::HubFile>> {
        let mut found = Vec::with_capacity(sha256s.len());
        for chunk in sha256s.chunks(super::HASHES_PER_QUERY) {
            let row = sqlx::query(
                "SELECT json_group_array(json_array(sha, size)) AS idx, \
                        CAST(group_concat(content, '') AS BLOB) AS contents \
                 FROM (SELECT f.sha256 AS sha, f.size AS size, f.content AS content \
                       FROM (SELECT DISTINCT value FROM json_each($1)) AS h \
                       JOIN hub_files AS f ON f.sha256 = h.value)",
            )
            .bind(json_array(chunk)?)
            .fetch_one(pool)
            .await?;
            let index: String = row.try_get("idx")?;
            let index: Vec<(String, usize)> =
                serde_json::from_str(&index).map_err(|e| corrupt("hub_files", e))?;
            let contents: Option<Vec<u8>> = row.try_get("contents")?;
            let contents = contents.unwrap_or_default();
            let mut offset = 0;
            for (sha256, size) in index {
                let content = contents
                    .get(offset..offset + size)
                    .ok_or_else(|| corrupt("hub_files", "contents shorter than their sizes"))?
                    .to_vec();
                offset += size;
                found.push(super::HubFile {
                    sha256: digest(&sha256)?,
                    content,
                });
            }
        }
        Ok(found)
    }

    pub(super) async fn missing_files(
        pool: &sqlx::Pool<Db>,
        sha256s: &[String],
    ) -> Result<Vec<String>> {
        let mut missing = Vec::new();
        for chunk in sha256s.chunks(super::HASHES_PER_QUERY) {
            missing.extend(
                sqlx::query_scalar::<_, String>(
                    "SELECT value FROM json_each($1) \
                     WHERE NOT EXISTS (SELECT 1 FROM hub_files WHERE sha256 = value) \
                     ORDER BY key",
                )
                .bind(json_array(chunk)?)
                .fetch_all(pool)
                .await?,
            );
        }
        Ok(missing)
    }
}

mod postgres {
    type Db = sqlx::Postgres;

    include!("backend.rs");

    /// The advisory lock that orders publishing (shared) and garbage
    /// collection (exclusive) across every hub process on the database.
    const GARBAGE_LOCK: i64 = 0x7762_6875_6267_6300; // "wbhubgc\0"

    async fn lock_for_garbage(conn: &mut sqlx::PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(GARBAGE_LOCK)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn lock_for_publish(conn: &mut sqlx::PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(GARBAGE_LOCK)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Deletes the files `sha256s`.
    async fn delete_files(conn: &mut sqlx::PgConnection, sha256s: &[String]) -> Result<()> {
        for chunk in sha256s.chunks(super::HASHES_PER_QUERY) {
            sqlx::query("DELETE FROM hub_files WHERE sha256 = ANY($1::text[])")
                .bind(chunk)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    fn file_from_row(row: &DbRow) -> Result<super::HubFile> {
        Ok(super::HubFile {
            sha256: digest(row.try_get("sha256")?)?,
            content: row.try_get("content")?,
        })
    }

    /// How many files one insert carries (as arrays: one round trip each).
    const FILES_PER_INSERT: usize = 2_000;

    /// Stores `files` the store lacks, a batch of arrays per statement.
    async fn insert_files(conn: &mut sqlx::PgConnection, files: Vec<super::HubFile>) -> Result<()> {
        // A batch at a time, each freed once sent.
        let mut files = files.into_iter().peekable();
        while files.peek().is_some() {
            let chunk: Vec<super::HubFile> = files.by_ref().take(FILES_PER_INSERT).collect();
            let sizes = chunk
                .iter()
                .map(|f| to_i64("size", f.content.len() as u64))
                .collect::<Result<Vec<i64>>>()?;
            let (hashes, contents): (Vec<String>, Vec<Vec<u8>>) = chunk
                .into_iter()
                .map(|f| (hex::encode(f.sha256), f.content))
                .unzip();
            sqlx::query(
                "INSERT INTO hub_files (sha256, content, size) \
                 SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::int8[]) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(hashes)
            .bind(contents)
            .bind(sizes)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub(super) async fn files(
        pool: &sqlx::Pool<Db>,
        sha256s: &[String],
    ) -> Result<Vec<super::HubFile>> {
        let mut found = Vec::with_capacity(sha256s.len());
        for chunk in sha256s.chunks(super::HASHES_PER_QUERY) {
            let rows =
                sqlx::query("SELECT sha256, content FROM hub_files WHERE sha256 = ANY($1::text[])")
                    .bind(chunk)
                    .fetch_all(pool)
                    .await?;
            for row in &rows {
                found.push(file_from_row(row)?);
            }
        }
        Ok(found)
    }

    pub(super) async fn missing_files(
        pool: &sqlx::Pool<Db>,
        sha256s: &[String],
    ) -> Result<Vec<String>> {
        let mut missing = Vec::new();
        for chunk in sha256s.chunks(super::HASHES_PER_QUERY) {
            missing.extend(
                sqlx::query_scalar::<_, String>(
                    "SELECT h FROM UNNEST($1::text[]) WITH ORDINALITY AS t(h, n) \
                     WHERE NOT EXISTS (SELECT 1 FROM hub_files WHERE sha256 = h) \
                     ORDER BY n",
                )
                .bind(chunk)
                .fetch_all(pool)
                .await?,
            );
        }
        Ok(missing)
    }
}
