//! The trust boundary between instances (SPEC §5, issue #11), tried as an
//! attacker who holds a valid key: bundles that are correctly signed but
//! speak for another instance's users, break a content rule, or carry a
//! sequence no store can record. Each is refused with its stable code and
//! the file named, and leaves the importing database exactly as it was
//! (every table, pins, high-water marks, export records, and SQLite's
//! integrity check), on SQLite and on Postgres.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use wb_crypto::{bundle_trusted_comment, sign_minisign};
use wb_engine::EngineError;
use wb_engine::sync::{ImportOptions, ImportOutcome, NoProgress, import_files};
use wb_model::{EntityKind, SyncScope, Timestamp, Uuid};
use wb_store::testing::TestDb;
use wb_syncfmt::{
    CURRENT_SCHEMA_VERSION, EntityKind as FileKind, Manifest, ManifestEntry, Scope, SyncFile,
    vouch_signing_bytes,
};

mod common;
use common::{Node, pairs, tree};

/// A file of `origin`'s bundle with `body`, as its publisher would write it.
fn file(kind: FileKind, id: Uuid, origin: &str, body: Value) -> SyncFile {
    let Value::Object(body) = body else {
        panic!("a body is an object")
    };
    SyncFile {
        entity: kind,
        id: id.to_string(),
        instance: origin.to_owned(),
        schema_version: CURRENT_SCHEMA_VERSION,
        sync_scope: Scope::Public,
        updated_at: Timestamp::now().datetime(),
        body,
    }
}

/// What an attacker with `signer`'s key can publish: `base`'s files plus
/// `files` (replacing any at the same path), with a manifest listing them
/// under `sequence`, signed with `signer`'s real key.
fn forged(
    signer: &Node,
    base: &Path,
    dst: &Path,
    files: &[SyncFile],
    raw: &[(&str, &[u8])],
    sequence: u64,
) -> PathBuf {
    let mut all = tree(base);
    all.remove("manifest.sync.txt");
    all.remove("bundle.sig");
    for f in files {
        all.insert(f.relative_path(), f.to_text().unwrap().into_bytes());
    }
    for (path, bytes) in raw {
        all.insert((*path).to_owned(), bytes.to_vec());
    }
    let manifest = Manifest {
        instance: signer.instance.name().to_string(),
        public_key: signer.public_key(),
        schema_version: CURRENT_SCHEMA_VERSION,
        sequence: 1,
        files: all
            .iter()
            .map(|(path, bytes)| ManifestEntry::for_bytes(path.clone(), bytes))
            .collect(),
    };
    // A sequence no writer accepts is written by hand, as an attacker would.
    let text = manifest.to_text().unwrap().replacen(
        "Sequence: 1\n",
        &format!("Sequence: {sequence}\n"),
        1,
    );
    let key = signer.keys().load(signer.instance.name().as_str()).unwrap();
    let comment = bundle_trusted_comment(signer.instance.name().as_str(), sequence).unwrap();
    let signature = sign_minisign(&key, text.as_bytes(), &comment);
    let _ = std::fs::remove_dir_all(dst);
    for (path, bytes) in all.into_iter().chain([
        ("manifest.sync.txt".to_owned(), text.into_bytes()),
        ("bundle.sig".to_owned(), signature.into_bytes()),
    ]) {
        let path = dst.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dst.to_owned()
}

/// A vouch body signed with `signer`'s real key.
fn signed_vouch(signer: &Node, voucher: Uuid, subject: Uuid) -> Value {
    let created_at = Timestamp::now();
    let bytes = vouch_signing_bytes(
        signer.instance.name().as_str(),
        &voucher.to_string(),
        &subject.to_string(),
        &created_at.to_string(),
    );
    let key = signer.keys().load(signer.instance.name().as_str()).unwrap();
    json!({
        "created_at": created_at,
        "signature": STANDARD.encode(key.sign(&bytes)),
        "subject_id": subject,
        "voucher_id": voucher,
    })
}

/// Imports `dir` into `node`, expects a refusal with `code` whose message
/// contains every one of `needles`, and checks that nothing changed.
async fn refused(node: &Node, dir: &Path, code: &str, needles: &[&str]) {
    let before = node.db.snapshot().await;
    let err = node.import(dir).await.unwrap_err();
    let EngineError::Refused { refusal, .. } = &err else {
        panic!("{}: expected a refusal, got {err:?}", dir.display())
    };
    assert_eq!(refusal.code(), code, "{err}");
    let text = err.to_string();
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
    assert!(
        !text.contains("wbt_"),
        "no database detail in the message: {text}"
    );
    assert_eq!(node.db.snapshot().await, before, "nothing changed: {text}");
}

/// Alpha and beta know each other: beta's public member bea is on alpha,
/// alpha's public member ann (with a public request) is on beta, and each
/// pinned the other's key. Returns (bea, ann, ann's request, alpha's bundle).
async fn acquainted(alpha: &Node, beta: &Node) -> (Uuid, Uuid, Uuid, PathBuf) {
    let bea = beta.member("bea", "").await;
    let ann = alpha.member("ann", "").await;
    let request = alpha
        .instance
        .add_request("ann", "Borrow a ladder", "Sunday")
        .await
        .unwrap();
    alpha
        .instance
        .set_scope(EntityKind::Request, request.id, SyncScope::Public, "ann")
        .await
        .unwrap();
    let beta_bundle = beta.export("out").await;
    alpha.import(&beta_bundle).await.unwrap();
    let bundle = alpha.export("out").await;
    beta.import(&bundle).await.unwrap();
    (bea.id, ann.id, request.id, bundle)
}

#[tokio::test]
async fn a_bundle_cannot_speak_for_another_instances_users() {
    for (alpha, beta) in pairs().await {
        let (bea, ann, request, base) = acquainted(&alpha, &beta).await;
        let origin = "alpha.example";
        let (c, r, i, v) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let now = Timestamp::now();
        let cases = [
            (
                file(
                    FileKind::Comment,
                    c,
                    origin,
                    json!({"author_id": bea, "body": "I agree", "created_at": now, "request_id": request}),
                ),
                "author_id",
            ),
            (
                file(
                    FileKind::Request,
                    r,
                    origin,
                    json!({"author_id": bea, "body": "", "created_at": now, "status": "open", "title": "Free bikes"}),
                ),
                "author_id",
            ),
            (
                file(
                    FileKind::Invite,
                    i,
                    origin,
                    json!({"created_at": now, "invitee_id": bea, "inviter_id": ann, "status": "accepted"}),
                ),
                "invitee_id",
            ),
            (
                file(
                    FileKind::Invite,
                    i,
                    origin,
                    json!({"created_at": now, "invitee_id": null, "inviter_id": bea, "status": "pending"}),
                ),
                "inviter_id",
            ),
            (
                file(FileKind::Vouch, v, origin, signed_vouch(&alpha, bea, ann)),
                "voucher_id",
            ),
        ];
        for (n, (forged_file, field)) in cases.into_iter().enumerate() {
            let path = forged_file.relative_path();
            let dir = forged(
                &alpha,
                &base,
                &alpha.path(&format!("evil{n}")),
                &[forged_file],
                &[],
                2,
            );
            refused(
                &beta,
                &dir,
                "actor-origin",
                &[
                    &path,
                    field,
                    &bea.to_string(),
                    "not a user of alpha.example",
                ],
            )
            .await;
        }

        // Acting on another instance's rows is fine: a comment of ann on
        // beta's … here, a vouch of ann for bea, properly signed.
        let vouch = file(FileKind::Vouch, v, origin, signed_vouch(&alpha, ann, bea));
        let dir = forged(&alpha, &base, &alpha.path("fine"), &[vouch], &[], 2);
        match beta.import(&dir).await.unwrap() {
            ImportOutcome::Applied { sequence: 2, .. } => {}
            other => panic!("{other:?}"),
        }
        assert!(beta.instance.store().vouch(v).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn the_content_rules_of_local_input_hold_for_imports() {
    for (alpha, beta) in pairs().await {
        let (_, ann, _, base) = acquainted(&alpha, &beta).await;
        let origin = "alpha.example";
        let now = Timestamp::now();
        let user = |bio: &str| {
            file(
                FileKind::User,
                ann,
                origin,
                json!({"bio": bio, "created_at": now, "display_name": "Ann", "username": "ann"}),
            )
        };
        let invite = |body: Value| file(FileKind::Invite, Uuid::now_v7(), origin, body);
        let cases: Vec<(SyncFile, &str, &str)> = vec![
            (
                user("\u{1b}]0;pwned\u{7}\u{1b}[2J"),
                "invalid-text",
                "control characters",
            ),
            (
                user("tab\tand\nnewline are fine, but not \u{7f}"),
                "invalid-text",
                "bio",
            ),
            (
                invite(json!({"created_at": now, "inviter_id": ann, "status": "pending"})),
                "invalid-body",
                "invitee_id",
            ),
            (
                invite(
                    json!({"created_at": now, "invitee_id": null, "inviter_id": ann, "status": "accepted"}),
                ),
                "invite-status",
                "accepted without an invitee",
            ),
            (
                invite(
                    json!({"created_at": now, "invitee_id": ann, "inviter_id": ann, "status": "revoked"}),
                ),
                "invite-status",
                "revoked with an invitee",
            ),
        ];
        for (n, (bad, code, needle)) in cases.into_iter().enumerate() {
            let path = bad.relative_path();
            let dir = forged(
                &alpha,
                &base,
                &alpha.path(&format!("bad{n}")),
                &[bad],
                &[],
                2,
            );
            refused(&beta, &dir, code, &[&path, needle]).await;
        }
    }
}

#[tokio::test]
async fn sequences_are_one_range_everywhere() {
    for (alpha, beta) in pairs().await {
        let (_, _, _, base) = acquainted(&alpha, &beta).await;
        for sequence in [1u64 << 63, u64::MAX] {
            let dir = forged(&alpha, &base, &alpha.path("far"), &[], &[], sequence);
            refused(
                &beta,
                &dir,
                "sequence-out-of-range",
                &["manifest.sync.txt:5", "out of range"],
            )
            .await;
        }
        // The largest sequence is accepted (and recorded exactly).
        let max = wb_syncfmt::MAX_SEQUENCE;
        let dir = forged(&alpha, &base, &alpha.path("max"), &[], &[], max);
        match beta.import(&dir).await.unwrap() {
            ImportOutcome::Applied { sequence, .. } => assert_eq!(sequence, max),
            other => panic!("{other:?}"),
        }
        let state = beta
            .instance
            .store()
            .origin_state(alpha.instance.name())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.last_sequence, max);
    }
}

#[tokio::test]
async fn an_instance_without_a_pin_needs_the_operators_word() {
    for (alpha, beta) in pairs().await {
        alpha.member("ann", "").await;
        let bundle = alpha.export("out").await;
        let key = alpha.public_key();

        let before = beta.db.snapshot().await;
        let err = beta
            .import_with(&bundle, &ImportOptions::default())
            .await
            .unwrap_err();
        let EngineError::Refused { refusal, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(refusal.code(), "key-not-pinned");
        let text = err.to_string();
        assert!(text.contains(&format!("--key {key}")), "{text}");
        assert!(text.contains("--accept-new-keys"), "{text}");
        assert_eq!(beta.db.snapshot().await, before);
        assert!(!beta.has_key(), "a refused import creates no signing key");

        // Naming the key pins it.
        let options = ImportOptions {
            expected_key: Some(key.clone()),
            ..ImportOptions::default()
        };
        match beta.import_with(&bundle, &options).await.unwrap() {
            ImportOutcome::Applied {
                pinned_key: Some(pinned),
                ..
            } => assert_eq!(pinned, key),
            other => panic!("{other:?}"),
        }

        // An impostor under another key is then refused, whatever it asks.
        let impostor = Node::new(TestDb::sqlite().await, "alpha.example").await;
        impostor.member("mallory", "").await;
        let fake = impostor.export("out").await;
        let before = beta.db.snapshot().await;
        for options in [
            ImportOptions::default(),
            ImportOptions {
                accept_new_keys: true,
                ..ImportOptions::default()
            },
            ImportOptions {
                expected_key: Some(impostor.public_key()),
                ..ImportOptions::default()
            },
        ] {
            let err = beta.import_with(&fake, &options).await.unwrap_err();
            let EngineError::Refused { refusal, .. } = &err else {
                panic!("{err:?}")
            };
            assert_eq!(refusal.code(), "key-mismatch", "{err}");
            assert!(
                err.to_string().contains("is pinned for alpha.example"),
                "{err}"
            );
            assert_eq!(beta.db.snapshot().await, before);
        }
    }
}

#[tokio::test]
async fn a_bundle_held_in_memory_is_checked_like_a_directory() {
    for (alpha, beta) in pairs().await {
        alpha.member("ann", "").await;
        let bundle = alpha.export("out").await;
        let options = ImportOptions {
            accept_new_keys: true,
            ..ImportOptions::default()
        };

        // A tampered file in memory: refused, naming the file, nothing written.
        let mut files = tree(&bundle);
        let (path, bytes) = files
            .iter_mut()
            .find(|(path, _)| path.starts_with("user/"))
            .unwrap();
        let path = path.clone();
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        let before = beta.db.snapshot().await;
        let err = import_files(
            &beta.instance,
            &beta.keys(),
            "alpha.example from the hub",
            files,
            &options,
            &NoProgress,
        )
        .await
        .unwrap_err();
        let EngineError::Refused { refusal, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(refusal.code(), "hash-mismatch");
        assert_eq!(refusal.path(), Some(path.as_str()));
        assert!(
            err.to_string()
                .starts_with(&format!("alpha.example from the hub/{path}: ")),
            "{err}"
        );
        assert_eq!(beta.db.snapshot().await, before);

        // The same bundle, intact, imports from memory.
        let outcome = import_files(
            &beta.instance,
            &beta.keys(),
            "alpha.example from the hub",
            tree(&bundle),
            &options,
            &NoProgress,
        )
        .await
        .unwrap();
        assert!(
            matches!(outcome, ImportOutcome::Applied { .. }),
            "{outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_local_row_with_another_instances_actor_is_never_exported() {
    for (alpha, beta) in pairs().await {
        let (bea, _, request, _) = acquainted(&alpha, &beta).await;
        // Only a hand-edited database holds this: a local public comment
        // whose author is beta's user.
        let now = Timestamp::now();
        let comment = wb_model::Comment {
            id: Uuid::now_v7(),
            origin: alpha.instance.name().clone(),
            request_id: request,
            author_id: bea,
            body: "spoken for bea".into(),
            scope: SyncScope::Public,
            created_at: now,
            updated_at: now,
        };
        alpha
            .instance
            .store()
            .insert_comment(&comment)
            .await
            .unwrap();
        for out in ["out", "fresh"] {
            let dir = alpha.export(out).await;
            assert!(
                !dir.join(format!("comment/{}.sync.txt", comment.id))
                    .exists(),
                "{out}: the comment stays home"
            );
        }
        // And what alpha does export, beta imports.
        let dir = alpha.path("out");
        beta.import(&dir).await.unwrap();
    }
}

/// A body key the format does not know is refused, as is a missing one.
#[tokio::test]
async fn every_body_key_is_required_and_no_other_is_allowed() {
    for (alpha, beta) in pairs().await {
        let (_, ann, _, base) = acquainted(&alpha, &beta).await;
        let mut body = Map::new();
        body.insert("created_at".into(), json!(Timestamp::now()));
        body.insert("display_name".into(), json!("Ann"));
        body.insert("username".into(), json!("ann"));
        let missing = file(
            FileKind::User,
            ann,
            "alpha.example",
            Value::Object(body.clone()),
        );
        body.insert("bio".into(), json!(""));
        body.insert("email".into(), json!("ann@example.org"));
        let extra = file(FileKind::User, ann, "alpha.example", Value::Object(body));
        for (n, (bad, needle)) in [(missing, "bio"), (extra, "email")].into_iter().enumerate() {
            let dir = forged(
                &alpha,
                &base,
                &alpha.path(&format!("keys{n}")),
                &[bad],
                &[],
                2,
            );
            refused(&beta, &dir, "invalid-body", &[needle]).await;
        }
    }
}

/// Deleting a request another instance commented on would leave that
/// instance's comment pointing nowhere here: refused, nothing changed.
#[tokio::test]
async fn a_request_another_instance_commented_on_is_not_deleted() {
    for (alpha, beta) in pairs().await {
        let (_, _, request, _) = acquainted(&alpha, &beta).await;
        let comment = beta
            .instance
            .add_comment("bea", request, "I can help")
            .await
            .unwrap();
        beta.instance
            .set_scope(EntityKind::Comment, comment.id, SyncScope::Public, "bea")
            .await
            .unwrap();
        let bundle = beta.export("out").await;
        alpha.import(&bundle).await.unwrap();

        let before = alpha.db.snapshot().await;
        let err = alpha
            .instance
            .delete_request(request, "ann")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("denied by rule still-referenced"), "{text}");
        assert!(text.contains("--status closed"), "{text}");
        assert_eq!(alpha.db.snapshot().await, before);
    }
}
