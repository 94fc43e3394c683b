//! The hub's storage on every backend: migrations beside an instance's,
//! instances, hashed tokens and revocation, the conditional publish, and
//! the content-addressed files and kept manifests (issue 13, part 1).

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::BTreeSet;
use std::path::Path;

use wb_model::{InstanceName, Timestamp};
use wb_store::hub::{
    BundleInfo, HubFile, HubInstance, HubStore, HubToken, KEPT_MANIFESTS, NewBundle,
    PublishOutcome, StoredManifest,
};
use wb_store::testing::TestDb;
use wb_store::{BackendKind, StoreError};

/// A 64-hex-digit stand-in for a hash (the store trusts what it is given),
/// one per short label.
fn hash(label: &str) -> String {
    format!("{:0>64}", hex::encode(label))
}

fn file(content: &str) -> HubFile {
    let mut sha256 = [0; 32];
    hex::decode_to_slice(hash(content), &mut sha256).unwrap();
    HubFile {
        sha256,
        content: content.as_bytes().to_vec(),
    }
}

/// A bundle of alpha at `sequence` whose manifest is `manifest` and which
/// brings `files`.
fn bundle_with(sequence: u64, manifest: &str, files: &[&str]) -> NewBundle {
    NewBundle {
        manifest: StoredManifest {
            info: BundleInfo {
                instance: InstanceName::parse("alpha.example").unwrap(),
                sequence,
                manifest_sha256: hash(manifest),
                size: manifest.len() as u64,
                etag: format!("etag-{manifest}"),
                published_at: Timestamp::from_unix_micros(1_700_000_000_000_000).unwrap(),
            },
            manifest: manifest.as_bytes().to_vec(),
            signature: format!("sig-{manifest}").into_bytes(),
            key_rotations: None,
        },
        files: files.iter().map(|f| file(f)).collect(),
        base: None,
    }
}

fn bundle(sequence: u64, manifest: &str, bytes: &[u8]) -> NewBundle {
    let content = String::from_utf8(bytes.to_vec()).unwrap();
    bundle_with(sequence, manifest, &[content.as_str()])
}

async fn registered_hub(db: &TestDb) -> HubStore {
    let hub = HubStore::connect(&db.url, false).await.unwrap();
    hub.migrate().await.unwrap();
    hub.add_instance(&HubInstance {
        name: InstanceName::parse("alpha.example").unwrap(),
        public_key: "RWQkey".to_owned(),
        registered_at: Timestamp::now(),
    })
    .await
    .unwrap();
    hub
}

fn versions(dialect: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations/hub")
        .join(dialect);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .split('_')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn both_dialects_have_the_same_hub_migrations() {
    assert_eq!(versions("sqlite"), versions("postgres"));
}

#[tokio::test]
async fn the_hub_stores_instances_tokens_and_publishes_only_newer_bundles() {
    for db in TestDb::all().await {
        // The instance schema is already there: the hub's lives beside it.
        let hub = HubStore::connect(&db.url, false).await.unwrap();
        assert_eq!(hub.migrate().await.unwrap(), 3);
        assert_eq!(hub.migrate().await.unwrap(), 0);
        if db.backend == BackendKind::Postgres {
            // Migration 0003: a manifest (8 MB at 100k files) is stored
            // without pglz, which gained nothing and cost ~200 ms a publish.
            db.execute(
                "DO $$ BEGIN \
                 IF (SELECT attstorage FROM pg_attribute \
                     WHERE attrelid = 'hub_manifests'::regclass AND attname = 'manifest') <> 'e' \
                 THEN RAISE EXCEPTION 'hub_manifests.manifest is not stored EXTERNAL'; \
                 END IF; END $$",
            )
            .await
            .unwrap();
        }
        assert_eq!(
            db.store.migrate().await.unwrap(),
            0,
            "the instance's migrations are untouched"
        );

        let alpha = InstanceName::parse("alpha.example").unwrap();
        let instance = HubInstance {
            name: alpha.clone(),
            public_key: "RWQkey".to_owned(),
            registered_at: Timestamp::now(),
        };
        hub.add_instance(&instance).await.unwrap();
        assert!(matches!(
            hub.add_instance(&instance).await,
            Err(StoreError::Constraint { .. })
        ));
        assert_eq!(hub.instance(&alpha).await.unwrap().unwrap(), instance);

        let token = HubToken {
            id: "0123456789ab".to_owned(),
            instance: alpha.clone(),
            secret_sha256: [7; 32],
            created_at: Timestamp::now(),
            revoked_at: None,
        };
        hub.add_token(&token).await.unwrap();
        let orphan = HubToken {
            id: "ffffffffffff".to_owned(),
            instance: InstanceName::parse("nobody.example").unwrap(),
            ..token.clone()
        };
        assert!(
            hub.add_token(&orphan).await.is_err(),
            "tokens belong to registered instances"
        );
        assert_eq!(hub.token("0123456789ab").await.unwrap().unwrap(), token);
        assert!(
            hub.revoke_token("0123456789ab", Timestamp::now())
                .await
                .unwrap()
        );
        assert!(!hub.revoke_token("nope", Timestamp::now()).await.unwrap());
        assert!(
            hub.token("0123456789ab")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );

        assert_eq!(hub.listing().await.unwrap()[0].bundle, None);
        let first = bundle(3, "m3", b"three");
        assert_eq!(
            hub.publish(first.clone()).await.unwrap(),
            PublishOutcome::Published
        );
        assert_eq!(
            hub.publish(first.clone()).await.unwrap(),
            PublishOutcome::Unchanged
        );
        assert_eq!(
            hub.publish(bundle(3, "other", b"x")).await.unwrap(),
            PublishOutcome::Stale { stored_sequence: 3 }
        );
        assert_eq!(
            hub.publish(bundle(2, "m2", b"two")).await.unwrap(),
            PublishOutcome::Stale { stored_sequence: 3 }
        );
        let stored = hub.latest_manifest(&alpha).await.unwrap().unwrap();
        assert_eq!(stored, first.manifest);
        assert_eq!(hub.files(&[hash("three")]).await.unwrap(), first.files);
        assert_eq!(
            hub.publish(bundle(4, "m4", b"four")).await.unwrap(),
            PublishOutcome::Published
        );
        let info = hub.bundle_info(&alpha).await.unwrap().unwrap();
        assert_eq!(
            (info.sequence, info.etag.as_str(), info.size),
            (4, "etag-m4", 2)
        );
        assert_eq!(hub.listing().await.unwrap()[0].bundle, Some(info));
        hub.close().await;
    }
}

#[tokio::test]
async fn a_rotated_bundle_moves_the_registered_key_with_it_or_not_at_all() {
    for db in TestDb::all().await {
        let hub = HubStore::connect(&db.url, false).await.unwrap();
        hub.migrate().await.unwrap();
        let alpha = InstanceName::parse("alpha.example").unwrap();
        hub.add_instance(&HubInstance {
            name: alpha.clone(),
            public_key: "RWQold".to_owned(),
            registered_at: Timestamp::now(),
        })
        .await
        .unwrap();
        let key = |hub: HubStore| {
            let alpha = alpha.clone();
            async move { hub.instance(&alpha).await.unwrap().unwrap().public_key }
        };
        hub.publish(bundle(3, "m3", b"three")).await.unwrap();

        // From a key that is not the registered one: nothing changes.
        assert_eq!(
            hub.publish_rotated(bundle(4, "m4", b"four"), "RWQother", "RWQnew")
                .await
                .unwrap(),
            PublishOutcome::KeyChanged
        );
        assert_eq!(key(hub.clone()).await, "RWQold");
        assert_eq!(hub.bundle_info(&alpha).await.unwrap().unwrap().sequence, 3);

        // A stale bundle: neither published nor does the key move.
        assert_eq!(
            hub.publish_rotated(bundle(2, "m2", b"two"), "RWQold", "RWQnew")
                .await
                .unwrap(),
            PublishOutcome::Stale { stored_sequence: 3 }
        );
        assert_eq!(key(hub.clone()).await, "RWQold");

        // The rotation: published, and the key moved, together.
        assert_eq!(
            hub.publish_rotated(bundle(4, "m4", b"four"), "RWQold", "RWQnew")
                .await
                .unwrap(),
            PublishOutcome::Published
        );
        assert_eq!(key(hub.clone()).await, "RWQnew");
        assert_eq!(hub.bundle_info(&alpha).await.unwrap().unwrap().sequence, 4);

        // The operator replaces a key by hand.
        assert!(hub.set_instance_key(&alpha, "RWQoperator").await.unwrap());
        assert_eq!(key(hub.clone()).await, "RWQoperator");
        let nobody = InstanceName::parse("nobody.example").unwrap();
        assert!(!hub.set_instance_key(&nobody, "RWQx").await.unwrap());
        hub.close().await;
    }
}

#[tokio::test]
async fn each_distinct_file_is_stored_once_and_the_last_few_manifests_are_kept() {
    for db in TestDb::all().await {
        let hub = registered_hub(&db).await;
        let alpha = InstanceName::parse("alpha.example").unwrap();
        assert_eq!(
            hub.publish(bundle_with(1, "m1", &["a", "b", "c"]))
                .await
                .unwrap(),
            PublishOutcome::Published
        );
        assert_eq!(hub.file_count().await.unwrap(), 3);
        // The next bundle shares two files and brings one: stored once each
        // (files offered again are ignored).
        assert_eq!(
            hub.publish(bundle_with(2, "m2", &["a", "b", "d"]))
                .await
                .unwrap(),
            PublishOutcome::Published
        );
        assert_eq!(hub.file_count().await.unwrap(), 4);
        assert_eq!(
            hub.missing_files(&[hash("e"), hash("a"), hash("f"), hash("d")])
                .await
                .unwrap(),
            vec![hash("e"), hash("f")],
            "the lacking hashes, in the order asked"
        );
        let mut found: Vec<String> = hub
            .files(&[hash("d"), hash("zz"), hash("a")])
            .await
            .unwrap()
            .into_iter()
            .map(|f| String::from_utf8(f.content).unwrap())
            .collect();
        found.sort();
        assert_eq!(found, ["a", "d"]);

        // The older manifest is still there to diff against, by digest.
        let m1 = hub.manifest(&alpha, &hash("m1")).await.unwrap().unwrap();
        assert_eq!((m1.info.sequence, m1.manifest.as_slice()), (1, &b"m1"[..]));
        assert_eq!(m1.signature, b"sig-m1");
        assert!(hub.manifest(&alpha, &hash("nope")).await.unwrap().is_none());

        // Only the latest KEPT_MANIFESTS are kept.
        for sequence in 3..=7 {
            hub.publish(bundle_with(sequence, &format!("m{sequence}"), &[]))
                .await
                .unwrap();
        }
        let kept: Vec<u64> = hub
            .kept_manifests(&alpha)
            .await
            .unwrap()
            .iter()
            .map(|m| m.sequence)
            .collect();
        let newest = 7;
        let expected: Vec<u64> = (0..KEPT_MANIFESTS)
            .map(|back| newest - u64::try_from(back).unwrap())
            .collect();
        assert_eq!(kept, expected);
        assert!(hub.manifest(&alpha, &hash("m1")).await.unwrap().is_none());
        assert_eq!(
            hub.latest_manifest(&alpha)
                .await
                .unwrap()
                .unwrap()
                .info
                .sequence,
            7
        );
        hub.close().await;
    }
}

#[tokio::test]
async fn a_refused_publish_writes_nothing() {
    for db in TestDb::all().await {
        let hub = registered_hub(&db).await;
        let alpha = InstanceName::parse("alpha.example").unwrap();
        hub.publish(bundle_with(5, "m5", &["a"])).await.unwrap();
        let before = db.snapshot().await;
        let before_files = hub.file_count().await.unwrap();
        // Stale: a lower sequence with new files; equal sequence, other content.
        assert_eq!(
            hub.publish(bundle_with(4, "m4", &["new1", "new2"]))
                .await
                .unwrap(),
            PublishOutcome::Stale { stored_sequence: 5 }
        );
        assert_eq!(
            hub.publish(bundle_with(5, "other", &["new3"]))
                .await
                .unwrap(),
            PublishOutcome::Stale { stored_sequence: 5 }
        );
        assert_eq!(
            hub.publish(bundle_with(5, "m5", &["a"])).await.unwrap(),
            PublishOutcome::Unchanged
        );
        // A rotation from a key that is no longer registered.
        assert_eq!(
            hub.publish_rotated(bundle_with(6, "m6", &["new4"]), "RWQgone", "RWQnew")
                .await
                .unwrap(),
            PublishOutcome::KeyChanged
        );
        assert_eq!(hub.file_count().await.unwrap(), before_files);
        assert_eq!(hub.kept_manifests(&alpha).await.unwrap().len(), 1);
        assert_eq!(db.snapshot().await, before, "nothing changed");
        hub.close().await;
    }
}

/// Several hub processes on one database: many publishers race with
/// different sequences of one instance through separate pools; the highest
/// sequence is the latest, every manifest kept is one that was published
/// whole, and every file of the latest is readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishers_on_one_database_the_highest_sequence_wins() {
    for db in TestDb::all().await {
        let hub = registered_hub(&db).await;
        let alpha = InstanceName::parse("alpha.example").unwrap();
        for round in 0..3_u64 {
            let base = round * 100;
            let mut tasks = Vec::new();
            for offset in [5_u64, 1, 4, 2, 3] {
                let url = db.url.clone();
                tasks.push(tokio::spawn(async move {
                    let other = HubStore::connect(&url, false).await.unwrap();
                    let sequence = base + offset;
                    let name = format!("r{round}s{offset}");
                    let files = [format!("{name}-x"), format!("{name}-y")];
                    let files: Vec<&str> = files.iter().map(String::as_str).collect();
                    let outcome = other
                        .publish(bundle_with(sequence, &name, &files))
                        .await
                        .unwrap();
                    other.close().await;
                    (sequence, outcome)
                }));
            }
            let mut published = Vec::new();
            for task in tasks {
                let (sequence, outcome) = task.await.unwrap();
                match outcome {
                    PublishOutcome::Published => published.push(sequence),
                    PublishOutcome::Stale { stored_sequence } => {
                        assert!(stored_sequence > sequence);
                    }
                    other => panic!("unexpected outcome {other:?}"),
                }
            }
            assert!(published.contains(&(base + 5)), "the highest is published");
            let latest = hub.latest_manifest(&alpha).await.unwrap().unwrap();
            assert_eq!(latest.info.sequence, base + 5);
            let name = format!("r{round}s5");
            assert_eq!(latest.manifest, name.as_bytes());
            assert_eq!(latest.signature, format!("sig-{name}").as_bytes());
            assert!(
                hub.missing_files(&[hash(&format!("{name}-x")), hash(&format!("{name}-y"))])
                    .await
                    .unwrap()
                    .is_empty(),
                "the latest bundle's files are all stored"
            );
            for kept in hub.kept_manifests(&alpha).await.unwrap() {
                let stored = hub
                    .manifest(&alpha, &kept.manifest_sha256)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    stored.signature,
                    [b"sig-".as_slice(), stored.manifest.as_slice()].concat(),
                    "a kept manifest is whole"
                );
            }
        }
        hub.close().await;
    }
}

/// A bundle of alpha at `sequence` whose manifest (hash: the stand-in of
/// `m<sequence>`) names `named` by their stand-in hashes, as the hub stores
/// a real one — headers, an empty line, one line per file — and which
/// brings `given`.
fn naming(sequence: u64, named: &[&str], given: &[&str]) -> NewBundle {
    let mut text = format!("Format: wb-sync-manifest\nSequence: {sequence}\n\n");
    for f in named {
        text.push_str(&format!("{} {} user/{f}.sync.txt\n", hash(f), f.len()));
    }
    let mut bundle = bundle_with(sequence, &format!("m{sequence}"), given);
    bundle.manifest.manifest = text.into_bytes();
    bundle
}

#[tokio::test]
async fn garbage_collection_removes_only_files_no_kept_manifest_names() {
    for db in TestDb::all().await {
        let hub = registered_hub(&db).await;
        let alpha = InstanceName::parse("alpha.example").unwrap();
        // Sequence 1 names a and b; sequences 2..=5 name b and c: once
        // sequence 5 is published, sequence 1 is no longer kept.
        hub.publish(naming(1, &["a", "b"], &["a", "b"]))
            .await
            .unwrap();
        for sequence in 2..=5 {
            hub.publish(naming(sequence, &["b", "c"], &["c"]))
                .await
                .unwrap();
        }
        assert_eq!(hub.file_count().await.unwrap(), 3);
        assert!(hub.manifest(&alpha, &hash("m1")).await.unwrap().is_none());

        let before = db.snapshot().await;
        let report = hub.collect_garbage().await.unwrap();
        assert_eq!(
            (
                report.removed_files,
                report.removed_bytes,
                report.kept_files
            ),
            (1, 1, 2)
        );
        let left: Vec<String> = hub
            .files(&[hash("a"), hash("b"), hash("c")])
            .await
            .unwrap()
            .into_iter()
            .map(|f| hex::encode(f.sha256))
            .collect();
        assert_eq!(left.len(), 2);
        assert!(
            !left.contains(&hash("a")),
            "a was named by no kept manifest"
        );
        assert_ne!(db.snapshot().await, before);
        // Nothing more to collect.
        let again = hub.collect_garbage().await.unwrap();
        assert_eq!((again.removed_files, again.kept_files), (0, 2));

        // A delta against a manifest no longer kept is not published: the
        // files it names without giving them may be gone.
        let before = db.snapshot().await;
        let mut delta = naming(6, &["a", "c"], &["a"]);
        delta.base = Some(hash("m1"));
        assert_eq!(
            hub.publish(delta.clone()).await.unwrap(),
            PublishOutcome::BaseGone
        );
        assert_eq!(db.snapshot().await, before, "nothing changed");
        // Against a kept manifest it is.
        delta.base = Some(hash("m5"));
        assert_eq!(hub.publish(delta).await.unwrap(), PublishOutcome::Published);
        hub.close().await;
    }
}
