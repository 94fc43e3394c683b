//! The hub's storage on every backend: migrations beside an instance's,
//! instances, hashed tokens and revocation, and the conditional publish.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::BTreeSet;
use std::path::Path;

use wb_model::{InstanceName, Timestamp};
use wb_store::StoreError;
use wb_store::hub::{BundleInfo, HubInstance, HubStore, HubToken, NewBundle, PublishOutcome};
use wb_store::testing::TestDb;

fn bundle(sequence: u64, manifest: &str, bytes: &[u8]) -> NewBundle {
    NewBundle {
        info: BundleInfo {
            instance: InstanceName::parse("alpha.example").unwrap(),
            sequence,
            manifest_sha256: manifest.to_owned(),
            size: bytes.len() as u64,
            etag: format!("etag-{manifest}"),
            published_at: Timestamp::now(),
        },
        archive: bytes.to_vec(),
    }
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
        assert_eq!(hub.migrate().await.unwrap(), 1);
        assert_eq!(hub.migrate().await.unwrap(), 0);
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
            hub.publish(&first).await.unwrap(),
            PublishOutcome::Published
        );
        assert_eq!(
            hub.publish(&first).await.unwrap(),
            PublishOutcome::Unchanged
        );
        assert_eq!(
            hub.publish(&bundle(3, "other", b"x")).await.unwrap(),
            PublishOutcome::Stale { stored_sequence: 3 }
        );
        assert_eq!(
            hub.publish(&bundle(2, "m2", b"two")).await.unwrap(),
            PublishOutcome::Stale { stored_sequence: 3 }
        );
        let stored = hub.bundle(&alpha).await.unwrap().unwrap();
        assert_eq!(
            (stored.info.sequence, stored.archive.as_slice()),
            (3, &b"three"[..])
        );
        assert_eq!(
            hub.publish(&bundle(4, "m4", b"four")).await.unwrap(),
            PublishOutcome::Published
        );
        let info = hub.bundle_info(&alpha).await.unwrap().unwrap();
        assert_eq!(
            (info.sequence, info.etag.as_str(), info.size),
            (4, "etag-m4", 4)
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
        hub.publish(&bundle(3, "m3", b"three")).await.unwrap();

        // From a key that is not the registered one: nothing changes.
        assert_eq!(
            hub.publish_rotated(&bundle(4, "m4", b"four"), "RWQother", "RWQnew")
                .await
                .unwrap(),
            PublishOutcome::KeyChanged
        );
        assert_eq!(key(hub.clone()).await, "RWQold");
        assert_eq!(hub.bundle_info(&alpha).await.unwrap().unwrap().sequence, 3);

        // A stale bundle: neither published nor does the key move.
        assert_eq!(
            hub.publish_rotated(&bundle(2, "m2", b"two"), "RWQold", "RWQnew")
                .await
                .unwrap(),
            PublishOutcome::Stale { stored_sequence: 3 }
        );
        assert_eq!(key(hub.clone()).await, "RWQold");

        // The rotation: published, and the key moved, together.
        assert_eq!(
            hub.publish_rotated(&bundle(4, "m4", b"four"), "RWQold", "RWQnew")
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
