//! Two real `wb-hub` processes on one Postgres (issue 13, part 6): the
//! deployment `docs/hub.md` promises works. Concurrent pushes of different
//! sequences of one instance through both processes: the highest wins, and
//! every bundle any reader got during the race — from either process — is
//! one whole published bundle (it verifies, and its manifest is the one of
//! its sequence), never a mix. Then a delta pushed through one process is
//! pulled as a delta through the other.
//!
//! Postgres only (SQLite is one file on one machine); without
//! `WB_TEST_POSTGRES_URL` the test prints a notice and passes, except
//! under `CI=true` (`wb_store::testing`).

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wb_crypto::{KeyStore, bundle_trusted_comment, sign_minisign};
use wb_engine::sync::{NoProgress, export_bundle};
use wb_engine::{Instance, fixtures};
use wb_hub::archive::{pack_dir, pack_files, read_entries};
use wb_hub::client::{ClientConfig, Fetched, HubClient, Transfer, pull_verified};
use wb_hub::verify::verify_files;
use wb_model::InstanceName;
use wb_store::hub::HubStore;
use wb_store::testing::TestDb;

mod common;
use common::{etag_of, push_files};

/// A `wb-hub serve` process on a loopback port; killed when dropped.
struct HubProcess {
    child: Child,
    url: String,
}

impl HubProcess {
    fn start(database_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wb-hub"))
            .args([
                "--database-url",
                database_url,
                "serve",
                "--bind",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("wb-hub listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        // Keep reading, so the process never writes into a closed pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        HubProcess { child, url }
    }

    fn client(&self) -> HubClient {
        HubClient::new(&self.url, ClientConfig::default()).unwrap()
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file of a bundle directory: path → bytes.
fn bundle_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    read_entries(&pack_dir(dir).unwrap()).unwrap()
}

/// `files` with the manifest rebuilt at `sequence` and signed again with
/// alpha's key, after `change`.
fn resigned(
    keys: &KeyStore,
    mut files: BTreeMap<String, Vec<u8>>,
    sequence: u64,
    change: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
) -> BTreeMap<String, Vec<u8>> {
    change(&mut files);
    let mut manifest = wb_syncfmt::Manifest::parse(&files["manifest.sync.txt"], "m").unwrap();
    manifest.files = files
        .iter()
        .filter(|(path, _)| path.contains('/'))
        .map(|(path, bytes)| wb_syncfmt::ManifestEntry::for_bytes(path.clone(), bytes))
        .collect();
    manifest.sequence = sequence;
    let text = manifest.to_text().unwrap();
    let key = keys.load("alpha.example").unwrap();
    let comment = bundle_trusted_comment("alpha.example", sequence).unwrap();
    files.insert(
        "bundle.sig".to_owned(),
        sign_minisign(&key, text.as_bytes(), &comment).into_bytes(),
    );
    files.insert("manifest.sync.txt".to_owned(), text.into_bytes());
    files
}

/// The sequence of a downloaded archive, after checking it is one whole
/// bundle of alpha (it verifies against alpha's key) whose manifest is the
/// one published under its sequence.
fn whole(archive: &[u8], key: &str, manifests: &BTreeMap<u64, String>) -> u64 {
    let (verified, _) = verify_files(
        read_entries(archive).unwrap(),
        "alpha.example",
        key,
        &Default::default(),
    )
    .unwrap();
    let sequence = verified.manifest.sequence;
    assert_eq!(
        manifests.get(&sequence),
        Some(&verified.manifest_sha256),
        "sequence {sequence} is served with the manifest it was published with"
    );
    sequence
}

#[actix_rt::test]
async fn two_hub_processes_on_one_postgres_agree_and_never_serve_a_mix() {
    let Some(hub_db) = TestDb::postgres().await else {
        return;
    };
    let store = HubStore::connect(&hub_db.url, false).await.unwrap();
    store.migrate().await.unwrap();

    // alpha: the demo community, exported and signed.
    let alpha_db = TestDb::sqlite().await;
    let alpha = Instance::init(
        alpha_db.store.clone(),
        InstanceName::parse("alpha.example").unwrap(),
    )
    .await
    .unwrap();
    fixtures::load(
        &alpha,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo"),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyStore::new(dir.path().join(".sync/keys"));
    export_bundle(&alpha, &keys, &dir.path().join("out"), &NoProgress)
        .await
        .unwrap();
    let key = keys
        .load_public("alpha.example")
        .unwrap()
        .to_minisign_base64();
    wb_hub::admin::add_instance(&store, "alpha.example", &key)
        .await
        .unwrap();
    let token = wb_hub::admin::issue_token(&store, "alpha.example")
        .await
        .unwrap()
        .reveal();

    // Bundles of sequences 2..=9, each different from the others: odd ones
    // lack one comment, so files change too.
    let good = bundle_files(&dir.path().join("out"));
    let comments: Vec<String> = good
        .keys()
        .filter(|k| k.starts_with("comment/"))
        .cloned()
        .collect();
    assert!(!comments.is_empty());
    let mut bundles = BTreeMap::new();
    let mut manifests = BTreeMap::new();
    for sequence in 2..=9_u64 {
        let gone = comments[usize::try_from(sequence).unwrap() % comments.len()].clone();
        let files = resigned(&keys, good.clone(), sequence, |f| {
            if sequence % 2 == 1 {
                f.remove(&gone);
            }
        });
        manifests.insert(
            sequence,
            wb_syncfmt::sha256_hex(&files["manifest.sync.txt"]),
        );
        bundles.insert(sequence, pack_files(&files).unwrap());
    }

    let first = HubProcess::start(&hub_db.url);
    let second = HubProcess::start(&hub_db.url);
    let hubs = [first.client(), second.client()];

    // Sequence 2 first: the race starts from a published bundle, so
    // readers always find one.
    hubs[0]
        .push("alpha.example", &token, bundles[&2].clone())
        .await
        .unwrap();

    // Readers pull from both processes while the pushes race.
    let done = Arc::new(AtomicBool::new(false));
    let readers = {
        let done = Arc::clone(&done);
        let (key, manifests) = (key.clone(), manifests.clone());
        let clients = [first.client(), second.client()];
        async move {
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) || seen.len() < 4 {
                for client in &clients {
                    match client.fetch("alpha.example", None, None).await.unwrap() {
                        Fetched::Archive { bytes, etag } => {
                            assert_eq!(etag_of(&bytes), etag);
                            seen.push(whole(&bytes, &key, &manifests));
                        }
                        other => panic!("expected an archive, got {other:?}"),
                    }
                }
            }
            seen
        }
    };
    let pushes = async {
        let order = [5_u64, 9, 3, 8, 4, 7, 6];
        let results = futures_util::future::join_all(order.iter().map(|sequence| {
            let client = &hubs[usize::try_from(*sequence).unwrap() % 2];
            let (bundle, token) = (bundles[sequence].clone(), token.clone());
            async move {
                (
                    *sequence,
                    client.push("alpha.example", &token, bundle).await,
                )
            }
        }))
        .await;
        done.store(true, Ordering::SeqCst);
        results
    };
    let (seen, results) = futures_util::future::join(readers, pushes).await;
    for (sequence, result) in &results {
        match result {
            Ok(receipt) => assert_eq!(receipt.sequence, *sequence),
            Err(err) => assert_eq!(
                err.hub_code(),
                Some(wb_hub::ErrorCode::StaleSequence),
                "sequence {sequence}: {err}"
            ),
        }
    }
    assert!(
        results.iter().any(|(s, r)| *s == 9 && r.is_ok()),
        "the highest sequence is published: {results:?}"
    );
    assert!(seen.iter().all(|s| (2..=9).contains(s)), "{seen:?}");
    // Both processes serve the winner, whole.
    for client in &hubs {
        let Fetched::Archive { bytes, .. } =
            client.fetch("alpha.example", None, None).await.unwrap()
        else {
            panic!("expected an archive");
        };
        assert_eq!(whole(&bytes, &key, &manifests), 9);
    }

    // A delta pushed through the first process, pulled as a delta through
    // the second by a client whose cache holds sequence 9.
    let pull_cache = tempfile::tempdir().unwrap();
    let pulled = pull_verified(&hubs[1], "alpha.example", &key, pull_cache.path())
        .await
        .unwrap();
    assert_eq!(pulled.bundle.manifest.sequence, 9);
    let push_cache = tempfile::tempdir().unwrap();
    let nine = read_entries(&bundles[&9]).unwrap();
    std::fs::write(
        push_cache.path().join("alpha.example.manifest"),
        &nine["manifest.sync.txt"],
    )
    .unwrap();
    let ten = resigned(&keys, nine.clone(), 10, |f| {
        f.remove(&comments[0]);
    });
    let pushed = push_files(&hubs[0], "alpha.example", &token, &ten, push_cache.path())
        .await
        .unwrap();
    assert_eq!(pushed.transfer, Transfer::Delta);
    assert_eq!(pushed.receipt.sequence, 10);
    let pulled = pull_verified(&hubs[1], "alpha.example", &key, pull_cache.path())
        .await
        .unwrap();
    assert_eq!(pulled.transfer, Transfer::Delta);
    assert_eq!(pulled.bundle.manifest.sequence, 10);
    assert_eq!(
        pulled.bundle.manifest_sha256,
        wb_syncfmt::sha256_hex(&ten["manifest.sync.txt"])
    );
    assert_eq!(
        pulled.files().unwrap(),
        ten,
        "the rebuilt bundle is the pushed one"
    );
    store.close().await;
}
