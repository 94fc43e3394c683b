//! Storage of a `wb-hub` relay: registered instances with their pinned
//! keys, hashed upload tokens, and the latest bundle of each instance.
//!
//! [`HubStore`](crate::hub::HubStore) follows the shape of [`crate::Store`]: one handle over a
//! SQLite or Postgres pool, each query written once in `hub/backend.rs` and
//! compiled for both backends. Its tables are prefixed `hub_` and its
//! migrations (`migrations/hub/{sqlite,postgres}`) are tracked in their own
//! table, `_wb_hub_migrations`, so a hub may share a database (or a Postgres
//! schema) with an instance without either disturbing the other.
//!
//! Publishing is one conditional upsert, so several hub processes sharing
//! one Postgres cannot both publish for the same instance: the row only
//! changes when the offered sequence is higher than the stored one.

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

/// What is known of an instance's latest bundle, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleInfo {
    /// The publishing instance.
    pub instance: InstanceName,
    /// The bundle's sequence.
    pub sequence: u64,
    /// SHA-256 (hex) of its manifest.
    pub manifest_sha256: String,
    /// Size of the archive in bytes.
    pub size: u64,
    /// The HTTP entity tag of the archive (without quotes).
    pub etag: String,
    /// When the hub accepted it.
    pub published_at: Timestamp,
}

/// A bundle to publish: its description and the archive bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBundle {
    /// Sequence, manifest hash, size, etag and time of publication.
    pub info: BundleInfo,
    /// The archive as uploaded.
    pub archive: Vec<u8>,
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
    /// busy timeout, foreign keys).
    pub async fn connect(url: &str, create: bool) -> Result<Self> {
        let store = Store::connect(url, create).await?;
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
    /// higher than the stored one, in one statement (atomic, race-free
    /// across processes sharing the database).
    pub async fn publish(&self, bundle: &NewBundle) -> Result<PublishOutcome> {
        on_hub_backend!(self, publish(bundle))
    }

    /// Publishes `bundle` (as [`HubStore::publish`]) and moves the
    /// instance's registered key from `from_key` to `to_key`, in one
    /// transaction: the bundle of a key rotation the caller verified. If
    /// the registered key is no longer `from_key`, nothing changes
    /// ([`PublishOutcome::KeyChanged`]); if the bundle is not published,
    /// the key does not move either.
    pub async fn publish_rotated(
        &self,
        bundle: &NewBundle,
        from_key: &str,
        to_key: &str,
    ) -> Result<PublishOutcome> {
        on_hub_backend!(self, publish_rotated(bundle, from_key, to_key))
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

    /// The latest bundle of `instance` with its archive, read in one
    /// statement (a reader sees the old bundle or the new one, never a mix).
    pub async fn bundle(&self, instance: &InstanceName) -> Result<Option<NewBundle>> {
        on_hub_backend!(self, bundle(instance))
    }

    /// Every registered instance with its latest bundle, by name.
    pub async fn listing(&self) -> Result<Vec<InstanceListing>> {
        on_hub_backend!(self, listing())
    }
}

mod sqlite {
    type Db = sqlx::Sqlite;

    include!("backend.rs");
}

mod postgres {
    type Db = sqlx::Postgres;

    include!("backend.rs");
}
