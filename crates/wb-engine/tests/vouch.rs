//! Vouches on every backend: root users, duplicates, signatures, and their
//! journey through export and import.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::{Path, PathBuf};

use wb_crypto::{KeyStore, bundle_trusted_comment, sign_minisign};
use wb_engine::sync::{ImportOptions, NoProgress, export_bundle, import_bundle, relay_bundle};
use wb_engine::{EngineError, Instance, VouchError, fixtures};
use wb_model::{EntityKind, InstanceName, SyncScope};
use wb_store::testing::TestDb;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo")
}

async fn node(db: &TestDb, name: &str) -> Instance {
    Instance::init(db.store.clone(), InstanceName::parse(name).unwrap())
        .await
        .unwrap()
}

fn usernames(users: &[wb_model::User]) -> Vec<String> {
    users
        .iter()
        .map(|u| format!("{}@{}", u.username, u.origin))
        .collect()
}

#[tokio::test]
async fn root_users_vouches_and_duplicates() {
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::new(dir.path().join("keys"));
        let alpha = node(&db, "alpha.example").await;
        fixtures::load(&alpha, &demo()).await.unwrap();
        // In the demo only ada is a root user (ben, chloe, dev were invited).
        assert_eq!(
            usernames(&alpha.vouch_candidates("ben").await.unwrap()),
            ["ada@alpha.example"]
        );
        assert!(
            alpha.vouch_candidates("ada").await.unwrap().is_empty(),
            "not for themself"
        );

        let ada = alpha.local_user("ada").await.unwrap();
        let vouch = alpha.add_vouch(&keys, "ben", ada.id).await.unwrap();
        assert_eq!(vouch.scope, SyncScope::Private);
        assert!(
            alpha.vouch_candidates("ben").await.unwrap().is_empty(),
            "vouched already"
        );
        let err = alpha.add_vouch(&keys, "ben", ada.id).await.unwrap_err();
        assert!(
            matches!(err, EngineError::Vouch(VouchError::Duplicate { .. })),
            "{err}"
        );
        assert!(
            err.to_string().contains("already vouches for @ada"),
            "{err}"
        );
        let err = alpha.add_vouch(&keys, "ada", ada.id).await.unwrap_err();
        assert!(
            matches!(err, EngineError::Vouch(VouchError::SelfVouch)),
            "{err}"
        );
        assert_eq!(db.store.vouches().await.unwrap().len(), 1);

        // The voucher (or an admin) may publish it; a member may not.
        let err = alpha
            .set_scope(EntityKind::Vouch, vouch.id, SyncScope::Public, "dev")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("voucher"), "{err}");
        let change = alpha
            .set_scope(EntityKind::Vouch, vouch.id, SyncScope::Public, "ben")
            .await
            .unwrap();
        assert!(change.effective.is_exported(), "{}", change.effective);
    }
}

#[tokio::test]
async fn vouches_travel_signed_and_forgeries_are_refused() {
    for (a, b) in [(TestDb::sqlite().await, TestDb::sqlite().await)]
        .into_iter()
        .chain(match (TestDb::postgres().await, TestDb::postgres().await) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        })
    {
        let dir = tempfile::tempdir().unwrap();
        let keys_a = KeyStore::new(dir.path().join("a"));
        let keys_b = KeyStore::new(dir.path().join("b"));
        let alpha = node(&a, "alpha.example").await;
        let beta = node(&b, "beta.example").await;
        fixtures::load(&alpha, &demo()).await.unwrap();
        let ada = alpha.local_user("ada").await.unwrap();
        let vouch = alpha.add_vouch(&keys_a, "ben", ada.id).await.unwrap();
        alpha
            .set_scope(EntityKind::Vouch, vouch.id, SyncScope::Public, "ben")
            .await
            .unwrap();
        let out = dir.path().join("out");
        let summary = export_bundle(&alpha, &keys_a, &out, &NoProgress)
            .await
            .unwrap();
        assert_eq!(summary.files, 11, "the demo's 10 public rows and the vouch");
        let vouch_file = out.join(format!("vouch/{}.sync.txt", vouch.id));
        let text = std::fs::read_to_string(&vouch_file).unwrap();
        assert!(
            text.contains(&format!("\"signature\": \"{}\"", vouch.signature)),
            "{text}"
        );

        // A re-signed bundle whose vouch body was altered: the manifest
        // signature is valid, the vouch signature is not.
        let forged = dir.path().join("forged");
        copy_tree(&out, &forged);
        let forged_file = forged.join(format!("vouch/{}.sync.txt", vouch.id));
        let body = text.replace(&vouch.subject_id.to_string(), &ada_peer(&alpha).await);
        std::fs::write(&forged_file, body).unwrap();
        resign(&forged, &keys_a, 2);
        let err = import_bundle(
            &beta,
            &keys_b,
            &forged,
            &ImportOptions {
                accept_new_keys: true,
                ..ImportOptions::default()
            },
            &NoProgress,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("vouch signature does not verify"), "{err}");
        assert!(
            err.contains(&format!("vouch/{}.sync.txt", vouch.id)),
            "{err}"
        );
        assert!(b.store.users().await.unwrap().is_empty(), "nothing written");

        // A vouch signed by another instance's key is refused the same way.
        let other = KeyStore::new(dir.path().join("other"));
        let stranger = other.generate("alpha.example").unwrap();
        let foreign = dir.path().join("foreign");
        copy_tree(&out, &foreign);
        let signature = {
            use base64::Engine as _;
            let bytes = wb_syncfmt::vouch_signing_bytes(
                "alpha.example",
                &vouch.voucher_id.to_string(),
                &vouch.subject_id.to_string(),
                &vouch.created_at.to_string(),
            );
            base64::engine::general_purpose::STANDARD.encode(stranger.sign(&bytes))
        };
        let foreign_file = foreign.join(format!("vouch/{}.sync.txt", vouch.id));
        std::fs::write(&foreign_file, text.replace(&vouch.signature, &signature)).unwrap();
        resign(&foreign, &keys_a, 2);
        let err = import_bundle(
            &beta,
            &keys_b,
            &foreign,
            &ImportOptions {
                accept_new_keys: true,
                ..ImportOptions::default()
            },
            &NoProgress,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("vouch signature does not verify"), "{err}");

        // The genuine bundle imports, and the vouch round-trips.
        import_bundle(
            &beta,
            &keys_b,
            &out,
            &ImportOptions {
                accept_new_keys: true,
                ..ImportOptions::default()
            },
            &NoProgress,
        )
        .await
        .unwrap();
        let imported = b.store.vouch(vouch.id).await.unwrap().unwrap();
        assert_eq!(
            (imported.signature, imported.origin.as_str()),
            (vouch.signature.clone(), "alpha.example")
        );
        // Beta's members can vouch for alpha's root user ada.
        let relay = dir.path().join("relay");
        let alpha_name = InstanceName::parse("alpha.example").unwrap();
        relay_bundle(&beta, &alpha_name, &relay, &NoProgress)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(relay.join("manifest.sync.txt")).unwrap(),
            std::fs::read(out.join("manifest.sync.txt")).unwrap()
        );
        beta.add_user(wb_engine::NewUser {
            username: wb_model::Username::parse("bo").unwrap(),
            display_name: String::new(),
            bio: String::new(),
            email: None,
            role: wb_model::Role::Member,
            invited_by: None,
        })
        .await
        .unwrap();
        let candidates = usernames(&beta.vouch_candidates("bo").await.unwrap());
        assert_eq!(
            candidates,
            ["ada@alpha.example"],
            "imported root users; ben was invited"
        );
    }
}

async fn ada_peer(alpha: &Instance) -> String {
    alpha.local_user("dev").await.unwrap().id.to_string()
}

fn copy_tree(src: &Path, dst: &Path) {
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let target = dst.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&path, &target);
        } else {
            std::fs::create_dir_all(dst).unwrap();
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Rewrites the manifest of `dir` for its current files and signs it with
/// the instance's real key, as a compromised exporter could.
fn resign(dir: &Path, keys: &KeyStore, sequence: u64) {
    let path = dir.join("manifest.sync.txt");
    let mut manifest = wb_syncfmt::Manifest::parse(&std::fs::read(&path).unwrap(), "m").unwrap();
    for entry in &mut manifest.files {
        let bytes = std::fs::read(dir.join(&entry.path)).unwrap();
        *entry = wb_syncfmt::ManifestEntry::for_bytes(entry.path.clone(), &bytes);
    }
    manifest.sequence = sequence;
    let text = manifest.to_text().unwrap();
    std::fs::write(&path, &text).unwrap();
    let key = keys.load("alpha.example").unwrap();
    let comment = bundle_trusted_comment("alpha.example", sequence).unwrap();
    std::fs::write(
        dir.join("bundle.sig"),
        sign_minisign(&key, text.as_bytes(), &comment),
    )
    .unwrap();
}
