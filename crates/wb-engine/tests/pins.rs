//! Pins on every path (issue 11, parts 2, 3 and 7), on every backend: an
//! impostor, an unpinned origin, one key for two origins and a frozen
//! origin are refused with nothing changed; `--accept-new-keys` and
//! `--key` pin; `peers pin --reset-sequence` recovers; concurrent imports
//! of one origin end at the higher sequence.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::{Path, PathBuf};

use wb_engine::Instance;
use wb_engine::sync::peers::PeerRegistry;
use wb_engine::sync::pins::{adopt_registry_keys, list_origins, pin_key};
use wb_engine::sync::{ImportOptions, ImportOutcome, NoProgress, import_bundle, relay_bundle};
use wb_model::InstanceName;
use wb_store::testing::TestDb;
use wb_store::{PinSource, Store};

mod common;
use common::{Node, accept_new_keys as accept_new, with_key};

fn alpha_name() -> InstanceName {
    InstanceName::parse("alpha.example").unwrap()
}

/// (alpha with one public member, beta) on each backend.
async fn pairs() -> Vec<(Node, Node)> {
    let out = common::pairs().await;
    for (alpha, _) in &out {
        alpha.member("ada", "v1").await;
    }
    out
}

/// A stranger calling itself `name`, with its own key and one member.
async fn impostor(name: &str) -> Node {
    let node = Node::new(TestDb::sqlite().await, name).await;
    node.member("mallory", "hi").await;
    node
}

#[tokio::test]
async fn an_unpinned_origin_is_imported_only_with_a_key_or_accept_new() {
    for (alpha, beta) in pairs().await {
        let bundle = alpha.export("out").await;
        let before = beta.snapshot().await;
        let err = beta
            .import_with(&bundle, &ImportOptions::default())
            .await
            .unwrap_err()
            .to_string();
        let key = alpha.public_key();
        assert!(err.contains("no key is pinned for alpha.example"), "{err}");
        assert!(err.contains(&format!("signed by key {key}")), "{err}");
        assert!(err.contains(&format!("--key {key}")), "{err}");
        assert!(err.contains("--accept-new-keys"), "{err}");
        assert_eq!(beta.snapshot().await, before, "nothing changed");

        // --key with another key than the bundle's.
        let other = impostor("gamma.example").await;
        other.export("out").await;
        let err = beta
            .import_with(&bundle, &with_key(&other.public_key()))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the key expected for alpha.example is"),
            "{err}"
        );
        assert_eq!(beta.snapshot().await, before, "nothing changed");

        // --accept-new-keys pins the bundle's key, listed with its sequence.
        match beta.import_with(&bundle, &accept_new()).await.unwrap() {
            ImportOutcome::Applied { pinned_key, .. } => {
                assert_eq!(pinned_key.as_deref(), Some(key.as_str()));
            }
            other => panic!("{other:?}"),
        }
        let listed = list_origins(&beta.instance, &PeerRegistry::default())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        let pin = listed[0].pin.as_ref().unwrap();
        assert_eq!(
            (listed[0].name.as_str(), pin.public_key.as_str(), pin.source),
            ("alpha.example", key.as_str(), PinSource::AcceptNew)
        );
        assert_eq!(listed[0].applied.as_ref().unwrap().last_sequence, 1);
    }
}

#[tokio::test]
async fn an_impostor_of_a_pinned_origin_is_refused_by_manual_import() {
    for (alpha, beta) in pairs().await {
        let bundle = alpha.export("out").await;
        // Pinned with --key on the first import.
        match beta
            .import_with(&bundle, &with_key(&alpha.public_key()))
            .await
            .unwrap()
        {
            ImportOutcome::Applied { pinned_key, .. } => assert!(pinned_key.is_some()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            beta.instance
                .store()
                .pin(&alpha_name())
                .await
                .unwrap()
                .unwrap()
                .source,
            PinSource::ImportKey
        );
        let fake = impostor("alpha.example").await;
        let fake_bundle = fake.export("out").await;
        let before = beta.snapshot().await;
        for options in [
            ImportOptions::default(),
            accept_new(),
            with_key(&fake.public_key()),
        ] {
            let err = beta
                .import_with(&fake_bundle, &options)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("pinned for alpha.example"), "{err}");
            assert!(err.contains("wb sync peers pin alpha.example"), "{err}");
            assert_eq!(beta.snapshot().await, before, "nothing changed");
        }
        // The real alpha still imports.
        alpha.member("bob", "").await;
        let next = alpha.export("next").await;
        assert!(matches!(
            beta.import_with(&next, &ImportOptions::default())
                .await
                .unwrap(),
            ImportOutcome::Applied {
                sequence: 2,
                pinned_key: None,
                ..
            }
        ));
    }
}

#[tokio::test]
async fn a_registry_key_line_is_adopted_and_a_disagreeing_one_refused() {
    for (alpha, beta) in pairs().await {
        let key = alpha.public_key();
        let fake = impostor("alpha.example").await;
        let text = |key: &str| {
            format!("Name: alpha.example\nKind: peer\nURL: https://hub.example\nKey: {key}\n")
        };
        let registry = PeerRegistry::parse(&text(&key), Path::new("sync_peers.txt")).unwrap();
        let adopted = adopt_registry_keys(&beta.instance, &registry, None)
            .await
            .unwrap();
        assert_eq!(adopted.len(), 1);
        assert_eq!(
            beta.instance
                .store()
                .pin(&alpha_name())
                .await
                .unwrap()
                .unwrap()
                .source,
            PinSource::Registry
        );
        // Adopting again changes nothing.
        assert!(
            adopt_registry_keys(&beta.instance, &registry, None)
                .await
                .unwrap()
                .is_empty()
        );
        // The finding: the registry pinned the real key, an impostor came.
        let before = beta.snapshot().await;
        let err = beta
            .import_with(&fake.export("out").await, &ImportOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("but key {key} is pinned")), "{err}");
        assert_eq!(beta.snapshot().await, before);

        // A Key line that disagrees with the pin names both keys.
        let registry =
            PeerRegistry::parse(&text(&fake.public_key()), Path::new("sync_peers.txt")).unwrap();
        let err = adopt_registry_keys(&beta.instance, &registry, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&key) && err.contains(&fake.public_key()),
            "{err}"
        );
        assert!(err.contains("wb sync peers pin alpha.example"), "{err}");
        assert_eq!(beta.snapshot().await, before);
    }
}

#[tokio::test]
async fn one_key_is_never_pinned_for_two_origins() {
    for (alpha, beta) in pairs().await {
        let bundle = alpha.export("out").await;
        beta.import_with(&bundle, &accept_new()).await.unwrap();
        // gamma signs with alpha's key.
        let gamma = impostor("gamma.example").await;
        let keys = gamma.keys();
        std::fs::create_dir_all(keys.dir()).unwrap();
        for ext in ["key", "pub"] {
            let text =
                std::fs::read_to_string(alpha.path(&format!(".sync/keys/alpha.example.{ext}")))
                    .unwrap()
                    .replace("alpha.example", "gamma.example");
            let path = gamma.path(&format!(".sync/keys/gamma.example.{ext}"));
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
        }
        assert_eq!(gamma.public_key(), alpha.public_key());
        let gamma_bundle = gamma.export("out").await;
        let before = beta.snapshot().await;
        for options in [accept_new(), with_key(&alpha.public_key())] {
            let err = beta
                .import_with(&gamma_bundle, &options)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("which is pinned for alpha.example")
                    && err.contains("one key cannot be pinned for two origins"),
                "{err}"
            );
            assert_eq!(beta.snapshot().await, before, "nothing changed");
        }
        let gamma_name = InstanceName::parse("gamma.example").unwrap();
        let err = pin_key(
            &beta.instance,
            &gamma_name,
            &alpha.public_key(),
            PinSource::PeersPin,
            false,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("one key cannot be pinned for two origins"),
            "{err}"
        );
        assert_eq!(beta.snapshot().await, before, "nothing changed");
    }
}

#[tokio::test]
async fn peers_pin_with_reset_sequence_recovers_a_frozen_origin() {
    for (alpha, beta) in pairs().await {
        // A bundle signed with the largest sequence freezes alpha.
        let frozen = u64::try_from(i64::MAX).unwrap();
        alpha
            .instance
            .store()
            .set_export_state(frozen - 1, None)
            .await
            .unwrap();
        let bundle = alpha.export("frozen").await;
        match beta.import_with(&bundle, &accept_new()).await.unwrap() {
            ImportOutcome::Applied { sequence, .. } => assert_eq!(sequence, frozen),
            other => panic!("{other:?}"),
        }
        // alpha starts over (say, restored from a backup) and changes.
        alpha
            .instance
            .store()
            .set_export_state(1, None)
            .await
            .unwrap();
        alpha.member("bob", "").await;
        let next = alpha.export("next").await;
        let before = beta.snapshot().await;
        let err = beta
            .import_with(&next, &ImportOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not newer than sequence"), "{err}");
        assert_eq!(beta.snapshot().await, before, "nothing changed");

        // The recovery: confirm the pin, forget the high-water mark.
        let outcome = pin_key(
            &beta.instance,
            &alpha_name(),
            &alpha.public_key(),
            PinSource::PeersPin,
            true,
        )
        .await
        .unwrap();
        assert_eq!(outcome.forgotten_sequence, Some(frozen));
        assert!(!outcome.changed);
        match beta
            .import_with(&next, &ImportOptions::default())
            .await
            .unwrap()
        {
            ImportOutcome::Applied { sequence, .. } => assert_eq!(sequence, 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(beta.instance.store().users().await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_new_pin_stops_relaying_what_the_old_key_signed() {
    for (alpha, beta) in pairs().await {
        beta.import_with(&alpha.export("out").await, &accept_new())
            .await
            .unwrap();
        relay_bundle(
            &beta.instance,
            &alpha_name(),
            &beta.path("relay"),
            &NoProgress,
        )
        .await
        .unwrap();
        // alpha's key was lost: a new one is pinned on purpose.
        let fresh = impostor("alpha.example").await;
        fresh.export("out").await;
        let outcome = pin_key(
            &beta.instance,
            &alpha_name(),
            &fresh.public_key(),
            PinSource::PeersPin,
            false,
        )
        .await
        .unwrap();
        assert!(outcome.changed);
        let err = relay_bundle(
            &beta.instance,
            &alpha_name(),
            &beta.path("relay2"),
            &NoProgress,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the key pinned for alpha.example is now"),
            "{err}"
        );
        assert!(!beta.path("relay2").join("manifest.sync.txt").exists());
        // And the old key is refused on import; peers add cannot change it.
        let err = beta
            .import_with(&alpha.path("out"), &ImportOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("is pinned for alpha.example"), "{err}");
        let err = pin_key(
            &beta.instance,
            &alpha_name(),
            &alpha.public_key(),
            PinSource::PeersAdd,
            false,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("to change it on purpose"), "{err}");
    }
}

/// Exports alpha as bundle `out` after giving ada the bio `bio`.
async fn version(alpha: &Node, out: &str, bio: &str) -> PathBuf {
    alpha
        .instance
        .update_profile("ada", "ada", "", bio)
        .await
        .unwrap();
    alpha.export(out).await
}

#[tokio::test]
async fn concurrent_imports_of_one_origin_end_at_the_higher_sequence() {
    for (alpha, beta) in pairs().await {
        // A second handle on beta's database, as a second `wb` process.
        let other = Instance::open(Store::connect(&beta.db.url, false).await.unwrap())
            .await
            .unwrap();
        let keys = beta.keys();
        beta.import_with(&alpha.export("b0").await, &accept_new())
            .await
            .unwrap();
        for trial in 0..8 {
            let older = version(&alpha, &format!("o{trial}"), &format!("older {trial}")).await;
            let newer = version(&alpha, &format!("n{trial}"), &format!("newer {trial}")).await;
            let none = ImportOptions::default();
            let (a, b) = if trial % 2 == 0 {
                (&older, &newer)
            } else {
                (&newer, &older)
            };
            let (ra, rb) = tokio::join!(
                import_bundle(&beta.instance, &keys, a, &none, &NoProgress),
                import_bundle(&other, &keys, b, &none, &NoProgress)
            );
            for result in [ra, rb] {
                if let Err(err) = result {
                    assert!(err.to_string().contains("not newer"), "{err}");
                }
            }
            let state = beta
                .instance
                .store()
                .origin_state(&alpha_name())
                .await
                .unwrap()
                .unwrap();
            let expected = alpha.instance.store().export_state().await.unwrap().0;
            assert_eq!(
                state.last_sequence, expected,
                "{:?} trial {trial}",
                beta.db.backend
            );
            let users = beta.instance.store().users().await.unwrap();
            let ada = users.iter().find(|u| u.origin == alpha_name()).unwrap();
            assert_eq!(ada.bio, format!("newer {trial}"), "{:?}", beta.db.backend);

            // The very same bundle twice at once: applied once, no error.
            let again = version(&alpha, &format!("s{trial}"), &format!("same {trial}")).await;
            let (ra, rb) = tokio::join!(
                import_bundle(&beta.instance, &keys, &again, &none, &NoProgress),
                import_bundle(&other, &keys, &again, &none, &NoProgress)
            );
            let outcomes = [ra.unwrap(), rb.unwrap()];
            let applied = outcomes
                .iter()
                .filter(|o| matches!(o, ImportOutcome::Applied { .. }))
                .count();
            assert_eq!(applied, 1, "{outcomes:?}");
        }
        other.store().close().await;
    }
}
