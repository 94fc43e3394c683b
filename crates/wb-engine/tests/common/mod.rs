//! What the engine's integration tests share: an instance with its own
//! directory and database ([`Node`]), the same instances on every backend
//! ([`per_backend`], [`pairs`]), and reading a directory tree back
//! ([`tree`]). Each test binary includes this module with `mod common;` and
//! adds its own `impl Node` blocks for what only it needs.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wb_crypto::KeyStore;
use wb_engine::sync::{ExportSummary, ImportOptions, ImportOutcome, NoProgress};
use wb_engine::sync::{export_bundle, import_bundle, relay_bundle};
use wb_engine::{EngineError, Instance, NewUser};
use wb_model::{EntityKind, InstanceName, Role, SyncScope, User, Username};
use wb_store::testing::TestDb;

/// An instance with its own directory (keys under `.sync/keys`, bundles)
/// and its own database.
pub struct Node {
    /// The instance.
    pub instance: Instance,
    /// Its directory: keys and whatever the test writes.
    pub dir: tempfile::TempDir,
    /// Its database, kept alive with it.
    pub db: TestDb,
}

impl Node {
    /// A new instance called `name` on `db`.
    pub async fn new(db: TestDb, name: &str) -> Self {
        let instance = Instance::init(db.store.clone(), InstanceName::parse(name).unwrap())
            .await
            .unwrap();
        Node {
            instance,
            dir: tempfile::tempdir().unwrap(),
            db,
        }
    }

    /// The instance's key store.
    pub fn keys(&self) -> KeyStore {
        KeyStore::new(self.path(".sync/keys"))
    }

    /// Whether any key was created.
    pub fn has_key(&self) -> bool {
        self.path(".sync/keys").exists()
    }

    /// `rel` inside the node's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The instance's public key, created if need be.
    pub fn public_key(&self) -> String {
        let (key, _) = self
            .keys()
            .load_or_generate(self.instance.name().as_str())
            .unwrap();
        key.public_key().to_string()
    }

    /// Exports its own bundle into `out` (inside its directory); the path.
    pub async fn export(&self, out: &str) -> PathBuf {
        self.export_to(&self.path(out), None).await.unwrap();
        self.path(out)
    }

    /// Exports into `out`: its own bundle, or `origin`'s (a relay).
    pub async fn export_to(
        &self,
        out: &Path,
        origin: Option<&str>,
    ) -> Result<ExportSummary, EngineError> {
        match origin {
            Some(origin) => {
                let origin = InstanceName::parse(origin).unwrap();
                relay_bundle(&self.instance, &origin, out, &NoProgress).await
            }
            None => export_bundle(&self.instance, &self.keys(), out, &NoProgress).await,
        }
    }

    /// Imports the bundle `dir` under `options`.
    pub async fn import_with(
        &self,
        dir: &Path,
        options: &ImportOptions,
    ) -> Result<ImportOutcome, EngineError> {
        import_bundle(&self.instance, &self.keys(), dir, options, &NoProgress).await
    }

    /// Imports the bundle `dir`, pinning a new key (`--accept-new-keys`).
    pub async fn import(&self, dir: &Path) -> Result<ImportOutcome, EngineError> {
        self.import_with(dir, &accept_new_keys()).await
    }

    /// Adds the local member `username` with `bio`, with a public profile.
    pub async fn member(&self, username: &str, bio: &str) -> User {
        let user = self
            .instance
            .add_user(NewUser {
                username: Username::parse(username).unwrap(),
                display_name: String::new(),
                bio: bio.into(),
                email: None,
                role: Role::Member,
                invited_by: None,
            })
            .await
            .unwrap();
        self.instance
            .set_scope(EntityKind::User, user.id, SyncScope::Public, username)
            .await
            .unwrap();
        user
    }

    /// Every table (pins, high-water marks, the export's journal and
    /// records) and, on SQLite, `PRAGMA integrity_check`, which must pass.
    pub async fn snapshot(&self) -> String {
        let snapshot = self.db.snapshot().await;
        if self.db.backend == wb_store::BackendKind::Sqlite {
            assert!(snapshot.ends_with("== integrity_check\nok\n"), "{snapshot}");
        }
        snapshot
    }
}

/// `--accept-new-keys`.
pub fn accept_new_keys() -> ImportOptions {
    ImportOptions {
        accept_new_keys: true,
        ..ImportOptions::default()
    }
}

/// `--key KEY`.
pub fn with_key(key: &str) -> ImportOptions {
    ImportOptions {
        expected_key: Some(key.to_owned()),
        ..ImportOptions::default()
    }
}

/// `names` as instances on SQLite, then on Postgres when it is configured
/// (`WB_TEST_POSTGRES_URL`; under `CI=true` it must be).
pub async fn per_backend(names: &[&str]) -> Vec<Vec<Node>> {
    let mut out = Vec::new();
    for postgres in [false, true] {
        if let Some(nodes) = on_backend(postgres, names).await {
            out.push(nodes);
        }
    }
    out
}

/// `names` as instances on one backend, or `None` when Postgres is asked
/// for and not configured.
pub async fn on_backend(postgres: bool, names: &[&str]) -> Option<Vec<Node>> {
    let mut out = Vec::new();
    for name in names {
        let db = if postgres {
            TestDb::postgres().await?
        } else {
            TestDb::sqlite().await
        };
        out.push(Node::new(db, name).await);
    }
    Some(out)
}

/// (`alpha.example`, `beta.example`) on each backend.
pub async fn pairs() -> Vec<(Node, Node)> {
    per_backend(&["alpha.example", "beta.example"])
        .await
        .into_iter()
        .map(|nodes| {
            let [alpha, beta]: [Node; 2] = nodes.try_into().ok().unwrap();
            (alpha, beta)
        })
        .collect()
}

/// Every file under `dir` (dot-entries included): relative path → bytes.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The demo community's fixtures.
pub fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo")
}

/// The first file (by name) of `entity`'s folder of the bundle `dir`.
pub fn first_file(dir: &Path, entity: &str) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(entity))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.remove(0)
}
