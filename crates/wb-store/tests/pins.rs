//! Pins (`sync_pins`, migration 0006) and the serialisation of imports of
//! one origin, on SQLite and Postgres: every refusal leaves every table as
//! it was.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::{at, beta, user};
use wb_model::{InstanceName, SyncScope, User};
use wb_store::testing::TestDb;
use wb_store::{ImportBatch, ImportPin, OriginState, PinChange, PinSource, Store, StoreError};

const KEY_A: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
const KEY_B: &str = "RWQBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

fn gamma() -> InstanceName {
    InstanceName::parse("gamma.example").unwrap()
}

fn change(origin: &InstanceName, replaces: Option<&str>, key: &str) -> PinChange {
    PinChange {
        instance: origin.clone(),
        replaces: replaces.map(str::to_owned),
        public_key: key.to_owned(),
        source: PinSource::PeersPin,
        at: at(50),
        reset_sequence: false,
    }
}

/// Bundle `sequence` of `origin`, signed by `key`, holding `users`.
fn bundle(
    origin: &InstanceName,
    key: &str,
    pin: ImportPin,
    sequence: u64,
    users: Vec<User>,
) -> ImportBatch {
    ImportBatch {
        state: OriginState {
            instance: origin.clone(),
            public_key: key.to_owned(),
            last_sequence: sequence,
            manifest_sha256: format!("{sequence:064x}"),
            signature: format!("sig {sequence}"),
            imported_at: at(100),
            key_rotations: None,
        },
        pin,
        users,
        requests: vec![],
        comments: vec![],
        invites: vec![],
        vouches: vec![],
    }
}

/// Every table and, on SQLite, `PRAGMA integrity_check`.
async fn snapshot(db: &TestDb) -> String {
    let snapshot = db.snapshot().await;
    assert!(snapshot.contains("== sync_pins"), "{snapshot}");
    snapshot
}

fn remote(name: &str, origin: &InstanceName, display: &str) -> User {
    User {
        origin: origin.clone(),
        display_name: display.to_owned(),
        email: None,
        scope: SyncScope::Public,
        ..user(name, origin.clone(), SyncScope::Public, at(10))
    }
}

#[tokio::test]
async fn a_pin_is_set_compare_and_set_and_one_key_pins_one_origin() {
    for db in TestDb::all().await {
        let store = &db.store;
        assert_eq!(store.pin(&beta()).await.unwrap(), None);
        store
            .change_pin(&change(&beta(), None, KEY_A))
            .await
            .unwrap();
        let pin = store.pin(&beta()).await.unwrap().unwrap();
        assert_eq!(
            (pin.public_key.as_str(), pin.source, pin.pinned_at),
            (KEY_A, PinSource::PeersPin, at(50))
        );
        let before = snapshot(&db).await;

        // Another origin under the same key.
        let err = store
            .change_pin(&change(&gamma(), None, KEY_A))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::KeyPinnedElsewhere { pinned_for, .. } if pinned_for == "beta.example"),
            "{:?}: {err}",
            db.backend
        );
        assert!(
            err.to_string()
                .contains("one key cannot be pinned for two origins")
        );
        // A change that expects no pin, or another one, than the pin.
        let err = store
            .change_pin(&change(&beta(), None, KEY_B))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::PinChanged { .. }), "{err}");
        let err = store
            .change_pin(&change(&beta(), Some(KEY_B), KEY_B))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::PinChanged { .. }), "{err}");
        assert_eq!(
            snapshot(&db).await,
            before,
            "{:?}: nothing changed",
            db.backend
        );

        // On purpose: from the pin to a new key.
        store
            .change_pin(&change(&beta(), Some(KEY_A), KEY_B))
            .await
            .unwrap();
        assert_eq!(store.pin(&beta()).await.unwrap().unwrap().public_key, KEY_B);
        // The old key is free again.
        store
            .change_pin(&change(&gamma(), None, KEY_A))
            .await
            .unwrap();
        let pins = store.pins().await.unwrap();
        let names: Vec<_> = pins.iter().map(|p| p.instance.as_str()).collect();
        assert_eq!(names, ["beta.example", "gamma.example"]);
    }
}

#[tokio::test]
async fn an_import_checks_the_pin_under_the_lock_and_refuses_without_a_trace() {
    for db in TestDb::all().await {
        let store = &db.store;
        store
            .change_pin(&change(&beta(), None, KEY_A))
            .await
            .unwrap();
        let one = remote("bea", &beta(), "v1");
        store
            .apply_import(&bundle(
                &beta(),
                KEY_A,
                ImportPin::Pinned(KEY_A.into()),
                1,
                vec![one.clone()],
            ))
            .await
            .unwrap();
        let before = snapshot(&db).await;
        let newer = User {
            display_name: "v2".into(),
            updated_at: at(20),
            ..one.clone()
        };

        // Verified against a key that is no longer (or never was) the pin.
        let err = store
            .apply_import(&bundle(
                &beta(),
                KEY_B,
                ImportPin::Pinned(KEY_B.into()),
                2,
                vec![newer.clone()],
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::PinChanged { .. }), "{err}");
        // A first pin for an origin that has one meanwhile.
        let err = store
            .apply_import(&bundle(
                &beta(),
                KEY_B,
                ImportPin::Change(PinChange {
                    source: PinSource::AcceptNew,
                    ..change(&beta(), None, KEY_B)
                }),
                2,
                vec![newer.clone()],
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::PinChanged { .. }), "{err}");
        // Another origin claiming beta's key.
        let err = store
            .apply_import(&bundle(
                &gamma(),
                KEY_A,
                ImportPin::Change(change(&gamma(), None, KEY_A)),
                1,
                vec![remote("gil", &gamma(), "g")],
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::KeyPinnedElsewhere { .. }),
            "{err}"
        );
        // The pin does not match the key the state records.
        let err = store
            .apply_import(&bundle(
                &beta(),
                KEY_B,
                ImportPin::Pinned(KEY_A.into()),
                2,
                vec![newer.clone()],
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::PinChanged { .. }), "{err}");
        // The very bundle applied last, and an older one.
        let err = store
            .apply_import(&bundle(
                &beta(),
                KEY_A,
                ImportPin::Pinned(KEY_A.into()),
                1,
                vec![one.clone()],
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::AlreadyApplied { sequence: 1, .. }),
            "{err}"
        );
        let mut stale = bundle(
            &beta(),
            KEY_A,
            ImportPin::Pinned(KEY_A.into()),
            1,
            vec![newer.clone()],
        );
        stale.state.manifest_sha256 = "f".repeat(64);
        let err = store.apply_import(&stale).await.unwrap_err();
        assert!(matches!(err, StoreError::StaleSequence { .. }), "{err}");
        assert_eq!(
            snapshot(&db).await,
            before,
            "{:?}: nothing changed",
            db.backend
        );
    }
}

#[tokio::test]
async fn a_reset_sequence_forgets_the_high_water_mark_so_a_frozen_origin_recovers() {
    for db in TestDb::all().await {
        let store = &db.store;
        store
            .change_pin(&change(&beta(), None, KEY_A))
            .await
            .unwrap();
        let frozen = u64::try_from(i64::MAX).unwrap();
        store
            .apply_import(&bundle(
                &beta(),
                KEY_A,
                ImportPin::Pinned(KEY_A.into()),
                frozen,
                vec![remote("bea", &beta(), "frozen")],
            ))
            .await
            .unwrap();
        let err = store
            .apply_import(&bundle(
                &beta(),
                KEY_A,
                ImportPin::Pinned(KEY_A.into()),
                2,
                vec![],
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::StaleSequence { .. }), "{err}");

        // A new key, and the mark forgotten, in one change.
        let forgotten = store
            .change_pin(&PinChange {
                reset_sequence: true,
                ..change(&beta(), Some(KEY_A), KEY_B)
            })
            .await
            .unwrap();
        assert_eq!(forgotten, Some(frozen));
        assert_eq!(store.origin_state(&beta()).await.unwrap(), None);
        assert_eq!(store.users().await.unwrap().len(), 1, "its rows stay");
        store
            .apply_import(&bundle(
                &beta(),
                KEY_B,
                ImportPin::Pinned(KEY_B.into()),
                2,
                vec![],
            ))
            .await
            .unwrap();
        let state = store.origin_state(&beta()).await.unwrap().unwrap();
        assert_eq!((state.last_sequence, state.public_key.as_str()), (2, KEY_B));
        assert!(store.users().await.unwrap().is_empty(), "retracted");
    }
}

#[tokio::test]
async fn migration_0006_carries_earlier_keys_over_as_pins_except_a_shared_one() {
    for db in TestDb::all().await {
        // Back to the schema of 0005 (but for 0007's column, which may
        // stay NULL), with what earlier versions recorded.
        for sql in [
            "DROP TABLE sync_pins",
            "DELETE FROM _sqlx_migrations WHERE version = 6",
            "INSERT INTO sync_origins (instance, public_key, last_sequence, manifest_sha256, \
             signature, imported_at) VALUES ('beta.example', 'RWQbeta', 3, \
             '0000000000000000000000000000000000000000000000000000000000000003', 's', 7)",
            "INSERT INTO sync_origins (instance, public_key, last_sequence, manifest_sha256, \
             signature, imported_at) VALUES ('gamma.example', 'RWQshared', 1, \
             '0000000000000000000000000000000000000000000000000000000000000001', 's', 8)",
            "INSERT INTO sync_origins (instance, public_key, last_sequence, manifest_sha256, \
             signature, imported_at) VALUES ('delta.example', 'RWQshared', 1, \
             '0000000000000000000000000000000000000000000000000000000000000001', 's', 9)",
        ] {
            db.execute(sql).await.unwrap();
        }
        assert_eq!(db.store.migrate().await.unwrap(), 1);
        let pins = db.store.pins().await.unwrap();
        assert_eq!(pins.len(), 1, "{:?}: {pins:?}", db.backend);
        assert_eq!(pins[0].instance, beta());
        assert_eq!(pins[0].public_key, "RWQbeta");
        assert_eq!(pins[0].source, PinSource::Migrated);
        assert_eq!(pins[0].pinned_at.unix_micros(), 7);
        assert_eq!(db.store.origin_states().await.unwrap().len(), 3, "kept");
    }
}

/// The users of one bundle version: one user whose display name says
/// which version it is.
fn version(bea: &User, sequence: u64) -> Vec<User> {
    vec![User {
        display_name: format!("v{sequence}"),
        updated_at: at(i64::try_from(sequence).unwrap() * 10),
        ..bea.clone()
    }]
}

#[tokio::test]
async fn concurrent_imports_of_one_origin_end_at_the_higher_sequence() {
    for db in TestDb::all().await {
        // Two handles (two pools) on one database, as two `wb` processes.
        let first = Store::connect(&db.url, false).await.unwrap();
        let second = Store::connect(&db.url, false).await.unwrap();
        first
            .change_pin(&change(&beta(), None, KEY_A))
            .await
            .unwrap();
        let bea = remote("bea", &beta(), "v0");
        let pinned = || ImportPin::Pinned(KEY_A.into());
        for trial in 0..8_u64 {
            let base = trial * 3 + 1;
            first
                .apply_import(&bundle(&beta(), KEY_A, pinned(), base, version(&bea, base)))
                .await
                .unwrap();
            let older = bundle(&beta(), KEY_A, pinned(), base + 1, version(&bea, base + 1));
            let newer = bundle(&beta(), KEY_A, pinned(), base + 2, version(&bea, base + 2));
            // Alternate which one starts first.
            let (a, b) = if trial % 2 == 0 {
                (&newer, &older)
            } else {
                (&older, &newer)
            };
            let (ra, rb) = tokio::join!(first.apply_import(a), second.apply_import(b));
            for result in [ra, rb] {
                match result {
                    Ok(_) | Err(StoreError::StaleSequence { .. }) => {}
                    Err(other) => panic!("{:?}: {other}", db.backend),
                }
            }
            let state = first.origin_state(&beta()).await.unwrap().unwrap();
            assert_eq!(
                state.last_sequence,
                base + 2,
                "{:?} trial {trial}",
                db.backend
            );
            let users = first.users().await.unwrap();
            assert_eq!(users.len(), 1);
            assert_eq!(
                users[0].display_name,
                format!("v{}", base + 2),
                "{:?} trial {trial}: the higher sequence's content",
                db.backend
            );
        }
        first.close().await;
        second.close().await;
    }
}

#[tokio::test]
async fn the_same_bundle_imported_twice_at_once_is_applied_once() {
    for db in TestDb::all().await {
        let first = Store::connect(&db.url, false).await.unwrap();
        let second = Store::connect(&db.url, false).await.unwrap();
        let bea = remote("bea", &beta(), "v0");
        for trial in 1..=8_u64 {
            // Each trial's first bundle also pins the key (first use), from
            // both imports at once.
            let pin = ImportPin::Change(PinChange {
                source: PinSource::AcceptNew,
                ..change(&beta(), None, KEY_A)
            });
            let same = bundle(&beta(), KEY_A, pin, trial, version(&bea, trial));
            let (ra, rb) = tokio::join!(first.apply_import(&same), second.apply_import(&same));
            let mut applied = 0;
            for result in [ra, rb] {
                match result {
                    Ok(_) => applied += 1,
                    Err(StoreError::AlreadyApplied { sequence, .. }) => {
                        assert_eq!(sequence, trial);
                    }
                    Err(other) => panic!("{:?}: {other}", db.backend),
                }
            }
            assert_eq!(applied, 1, "{:?} trial {trial}", db.backend);
            assert_eq!(
                first
                    .origin_state(&beta())
                    .await
                    .unwrap()
                    .unwrap()
                    .last_sequence,
                trial
            );
        }
        assert_eq!(first.pins().await.unwrap().len(), 1);
        first.close().await;
        second.close().await;
    }
}

#[tokio::test]
async fn a_rotation_moves_the_pin_with_the_import_and_keeps_the_chain_for_relays() {
    for db in TestDb::all().await {
        let store = &db.store;
        let first = ImportPin::Change(change(&beta(), None, KEY_A));
        store
            .apply_import(&bundle(&beta(), KEY_A, first, 1, vec![]))
            .await
            .unwrap();

        // Bundle 2 under KEY_B, which a chain led to from KEY_A.
        let rotated = |from: &str| {
            let rotation = ImportPin::Change(PinChange {
                source: PinSource::Rotation,
                ..change(&beta(), Some(from), KEY_B)
            });
            let mut batch = bundle(&beta(), KEY_B, rotation, 2, vec![]);
            batch.state.key_rotations = Some("from: A\nto: B\n".to_owned());
            batch
        };
        // Verified from a key that is no longer the pin (it changed
        // meanwhile): compare-and-set refuses, nothing changes.
        let before = snapshot(&db).await;
        let err = store.apply_import(&rotated(KEY_B)).await.unwrap_err();
        assert!(matches!(err, StoreError::PinChanged { .. }), "{err}");
        assert_eq!(snapshot(&db).await, before);
        store.apply_import(&rotated(KEY_A)).await.unwrap();
        let pin = store.pin(&beta()).await.unwrap().unwrap();
        assert_eq!(
            (pin.public_key.as_str(), pin.source),
            (KEY_B, PinSource::Rotation)
        );
        let state = store.origin_state(&beta()).await.unwrap().unwrap();
        assert_eq!(state.key_rotations.as_deref(), Some("from: A\nto: B\n"));
        assert_eq!(store.origin_states().await.unwrap(), vec![state]);

        // A later bundle without a chain forgets it.
        let plain = bundle(
            &beta(),
            KEY_B,
            ImportPin::Pinned(KEY_B.to_owned()),
            3,
            vec![],
        );
        store.apply_import(&plain).await.unwrap();
        let state = store.origin_state(&beta()).await.unwrap().unwrap();
        assert_eq!(state.key_rotations, None);
    }
}
