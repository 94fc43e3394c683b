//! Key rotation through the importer (SPEC §5, issue #11 §4), on SQLite and
//! Postgres: a peer that pinned an old key (or an intermediate one) follows
//! the bundle's chain to the new key, and moves its pin with the import; a
//! bundle whose chain is missing, tampered, for another instance, or does
//! not lead from the pin is refused with its code, naming
//! `key-rotations.txt`, and leaves every table as it was.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::{Path, PathBuf};

use wb_engine::sync::{ImportOutcome, NoProgress, export_bundle, relay_bundle};
use wb_engine::{EngineError, fixtures};
use wb_model::InstanceName;

const ALPHA: &str = "alpha.example";

mod common;
use common::{Node, demo, per_backend, with_key};

impl Node {
    /// Imports `dir` expecting `key` (the operator's `--key`).
    async fn import_expecting(&self, dir: &Path, key: &str) -> Result<ImportOutcome, EngineError> {
        self.import_with(dir, &with_key(key)).await
    }

    /// The key pinned for alpha (the pin table, the one source of truth).
    async fn pinned(&self) -> Option<String> {
        let alpha = InstanceName::parse(ALPHA).unwrap();
        self.instance
            .store()
            .pin(&alpha)
            .await
            .unwrap()
            .map(|pin| pin.public_key)
    }
}

/// Copies the bundle `from` into `to`, then lets `change` edit it.
fn altered(from: &Path, to: &Path, change: impl FnOnce(&Path)) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in walkdir(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
    change(to);
    to.to_owned()
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A hostile change to a bundle: its name, the change, the refusal code
/// and words of the message expected.
type Case = (
    &'static str,
    Box<dyn FnOnce(&Path)>,
    &'static str,
    &'static str,
);

fn refusal(err: &EngineError) -> (String, String) {
    let EngineError::Refused { refusal, .. } = err else {
        panic!("expected a refusal, got {err}");
    };
    (refusal.code().to_owned(), err.to_string())
}

#[tokio::test]
async fn peers_follow_a_chain_from_their_pin_and_refuse_any_other() {
    for set in per_backend(&[ALPHA, "beta.example", "gamma.example", "delta.example"]).await {
        let [alpha, beta, gamma, delta] = <[Node; 4]>::try_from(set).ok().unwrap();
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        let first = alpha.export("out").await;
        let k1 = alpha.public_key();
        // beta and delta pin alpha's first key.
        beta.import_expecting(&first, &k1).await.unwrap();
        delta.import_expecting(&first, &k1).await.unwrap();

        // alpha rotates twice: k1 → k2 → k3.
        let k2 = alpha
            .keys()
            .rotate(ALPHA)
            .unwrap()
            .new
            .public_key()
            .to_string();
        let k3 = alpha
            .keys()
            .rotate(ALPHA)
            .unwrap()
            .new
            .public_key()
            .to_string();
        let second = alpha.export("out").await;
        let chain = std::fs::read_to_string(second.join("key-rotations.txt")).unwrap();
        assert_eq!(
            chain,
            std::fs::read_to_string(alpha.keys().rotations_path(ALPHA).unwrap()).unwrap()
        );

        // Tampered copies, each refused by delta with nothing changed.
        let scratch = alpha.dir.path().join("scratch");
        let before = delta.db.snapshot().await;
        let cases: Vec<Case> = vec![
            (
                "no chain",
                Box::new(|dir: &Path| std::fs::remove_file(dir.join("key-rotations.txt")).unwrap()),
                "key-mismatch",
                "carries no key rotation",
            ),
            (
                "a statement's new key swapped",
                Box::new({
                    let (k2, mallory) = (
                        k2.clone(),
                        wb_crypto::SigningKey::generate().unwrap().public_key(),
                    );
                    move |dir: &Path| {
                        let path = dir.join("key-rotations.txt");
                        let text = std::fs::read_to_string(&path).unwrap();
                        std::fs::write(&path, text.replacen(&k2, &mallory.to_string(), 1)).unwrap();
                    }
                }),
                "bad-key-rotation",
                "key-rotations.txt",
            ),
            (
                "the first statement dropped (the chain no longer starts at the pin)",
                Box::new(|dir: &Path| {
                    let path = dir.join("key-rotations.txt");
                    let text = std::fs::read_to_string(&path).unwrap();
                    let (_, rest) = text.split_once("\n\n").unwrap();
                    std::fs::write(&path, rest).unwrap();
                }),
                "bad-key-rotation",
                "no rotation statement leads from the pinned key",
            ),
            (
                "the last statement dropped (the chain ends at another key)",
                Box::new(|dir: &Path| {
                    let path = dir.join("key-rotations.txt");
                    let text = std::fs::read_to_string(&path).unwrap();
                    let (head, _) = text.rsplit_once("\n\n").unwrap();
                    std::fs::write(&path, format!("{head}\n")).unwrap();
                }),
                "bad-key-rotation",
                "the rotation chain ends at key",
            ),
        ];
        for (index, (name, change, code, words)) in cases.into_iter().enumerate() {
            let dir = altered(&second, &scratch.join(index.to_string()), change);
            let err = delta.import_expecting(&dir, &k1).await.unwrap_err();
            let (found, message) = refusal(&err);
            assert_eq!(found, code, "{name}: {message}");
            assert!(message.contains(words), "{name}: {message}");
            assert_eq!(delta.db.snapshot().await, before, "{name}: nothing changed");
        }

        // beta, pinned at k1, follows both statements; its pin moves to k3.
        match beta.import_expecting(&second, &k1).await.unwrap() {
            ImportOutcome::Applied {
                sequence: 2,
                rotation: Some(rotation),
                ..
            } => assert_eq!((rotation.from, rotation.to), (k1.clone(), k3.clone())),
            other => panic!("expected a followed rotation, got {other:?}"),
        }
        assert_eq!(beta.pinned().await.as_deref(), Some(k3.as_str()));
        let pin = beta
            .instance
            .store()
            .pin(&InstanceName::parse(ALPHA).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (pin.public_key.as_str(), pin.source),
            (k3.as_str(), wb_store::PinSource::Rotation)
        );
        // Again: the same bundle, nothing to do.
        assert!(matches!(
            beta.import_expecting(&second, &k3).await.unwrap(),
            ImportOutcome::AlreadyApplied { .. }
        ));

        // gamma's operator was given alpha's intermediate key k2: the
        // statements before it are not needed.
        let outcome = gamma.import_expecting(&second, &k2).await.unwrap();
        assert!(
            matches!(outcome, ImportOutcome::Applied { sequence: 2, .. }),
            "{outcome:?}"
        );
        assert_eq!(gamma.pinned().await.as_deref(), Some(k3.as_str()));

        // beta relays alpha with its chain.
        let relay = beta.dir.path().join("relay");
        relay_bundle(
            &beta.instance,
            &InstanceName::parse(ALPHA).unwrap(),
            &relay,
            &NoProgress,
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(relay.join("key-rotations.txt")).unwrap(),
            chain
        );
        // and delta, still at k1, follows the chain from the relay.
        delta.import_expecting(&relay, &k1).await.unwrap();
        assert_eq!(delta.pinned().await.as_deref(), Some(k3.as_str()));
    }
}

#[tokio::test]
async fn an_export_refuses_a_chain_that_does_not_end_at_the_instance_key() {
    for set in per_backend(&[ALPHA]).await {
        let [alpha] = <[Node; 1]>::try_from(set).ok().unwrap();
        alpha.export("out").await;
        alpha.keys().rotate(ALPHA).unwrap();
        // The key replaced behind the chain's back.
        let keys = alpha.keys();
        std::fs::remove_file(keys.secret_key_path(ALPHA).unwrap()).unwrap();
        std::fs::remove_file(keys.public_key_path(ALPHA).unwrap()).unwrap();
        keys.generate(ALPHA).unwrap();
        let before = alpha.db.snapshot().await;
        let out = alpha.dir.path().join("out");
        let files_before = walkdir(&out).len();
        let err = export_bundle(&alpha.instance, &keys, &out, &NoProgress)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("alpha.example.rotations") && err.contains("keygen --rotate"),
            "{err}"
        );
        assert_eq!(alpha.db.snapshot().await, before);
        assert_eq!(walkdir(&out).len(), files_before);
    }
}
