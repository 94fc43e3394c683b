//! Bundles living in git, on every backend: a directory of bundles (a
//! community's shared repository) imported in one call, in an order that
//! satisfies references; exports that never overwrite another instance's
//! bundle; and commands that fail creating no key.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::Path;

use wb_engine::sync::{
    BundleLocation, ImportOptions, ImportOutcome, NoProgress, SetImport, SetResult, import_bundle,
    import_bundle_set, locate_bundles,
};
use wb_model::{EntityKind, InstanceName, SyncScope, Uuid};

mod common;
use common::{Node, accept_new_keys, first_file, on_backend as nodes, tree};

impl Node {
    /// Imports a set, pinning new keys (`--accept-new-keys`).
    async fn import_set(&self, dir: &Path) -> SetImport {
        self.import_set_with(dir, &accept_new_keys()).await
    }

    async fn import_set_with(&self, dir: &Path, options: &ImportOptions) -> SetImport {
        let BundleLocation::Set { bundles, others } = locate_bundles(dir).unwrap() else {
            panic!("{} is not a directory of bundles", dir.display());
        };
        import_bundle_set(
            &self.instance,
            &self.keys(),
            &bundles,
            &others,
            options,
            &NoProgress,
        )
        .await
        .unwrap()
    }

    /// A local member with a public profile and a public request; the
    /// request's id.
    async fn member_with_request(&self, username: &str, title: &str) -> Uuid {
        self.member(username, "").await;
        let request = self
            .instance
            .add_request(username, title, "Please")
            .await
            .unwrap();
        self.instance
            .set_scope(EntityKind::Request, request.id, SyncScope::Public, username)
            .await
            .unwrap();
        request.id
    }

    /// A public comment by `username` on `request`.
    async fn comment(&self, username: &str, request: Uuid) {
        let comment = self
            .instance
            .add_comment(username, request, "I have one")
            .await
            .unwrap();
        self.instance
            .set_scope(EntityKind::Comment, comment.id, SyncScope::Public, username)
            .await
            .unwrap();
    }

    async fn rows_from(&self, origin: &str) -> usize {
        let store = self.instance.store();
        let from = |o: &InstanceName| o.as_str() == origin;
        store
            .users()
            .await
            .unwrap()
            .iter()
            .filter(|r| from(&r.origin))
            .count()
            + store
                .requests()
                .await
                .unwrap()
                .iter()
                .filter(|r| from(&r.origin))
                .count()
            + store
                .comments()
                .await
                .unwrap()
                .iter()
                .filter(|r| from(&r.origin))
                .count()
    }
}

/// A community's repository: `alpha.example/` (whose comment needs beta's
/// request), `beta.example/`, `gamma.example/`, with a `.git`, a README and
/// a folder that is not a bundle. Returns the nodes and the repository.
async fn community(postgres: bool) -> Option<(Vec<Node>, tempfile::TempDir)> {
    let nodes = nodes(
        postgres,
        &["alpha.example", "beta.example", "gamma.example"],
    )
    .await?;
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    std::fs::create_dir_all(root.join(".git/refs")).unwrap();
    std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(root.join("README.md"), "Our community's bundles\n").unwrap();
    std::fs::create_dir_all(root.join("notes")).unwrap();
    let [alpha, beta, gamma] = &nodes[..] else {
        unreachable!()
    };
    let drill = beta.member_with_request("bob", "Borrow a drill").await;
    beta.export_to(&root.join("beta.example"), None)
        .await
        .unwrap();
    alpha.member_with_request("ada", "Borrow a ladder").await;
    alpha.import(&root.join("beta.example")).await.unwrap();
    alpha.comment("ada", drill).await;
    alpha
        .export_to(&root.join("alpha.example"), None)
        .await
        .unwrap();
    gamma.member_with_request("gil", "Borrow a saw").await;
    gamma
        .export_to(&root.join("gamma.example"), None)
        .await
        .unwrap();
    Some((nodes, repo))
}

fn result_of<'a>(report: &'a SetImport, folder: &str) -> &'a SetResult {
    &report
        .entries
        .iter()
        .find(|e| e.dir.file_name().unwrap() == folder)
        .unwrap_or_else(|| panic!("no entry for {folder}: {report:?}"))
        .result
}

#[tokio::test]
async fn a_set_imports_in_reference_order_skipping_own_and_applied_bundles() {
    for postgres in [false, true] {
        let Some((nodes, repo)) = community(postgres).await else {
            continue;
        };
        let gamma = &nodes[2];
        let root = repo.path();
        let git_before = tree(&root.join(".git"));

        let report = gamma.import_set(root).await;
        // alpha.example/ comes first but needs beta's request: it is applied
        // after beta.example/, in a later round.
        assert!(
            matches!(
                result_of(&report, "alpha.example"),
                SetResult::Imported(ImportOutcome::Applied { .. })
            ),
            "{report:?}"
        );
        assert!(matches!(
            result_of(&report, "beta.example"),
            SetResult::Imported(ImportOutcome::Applied { .. })
        ));
        assert!(matches!(
            result_of(&report, "gamma.example"),
            SetResult::Own
        ));
        assert!(matches!(result_of(&report, "notes"), SetResult::NotABundle));
        assert_eq!(
            (
                report.applied(),
                report.already_applied(),
                report.skipped(),
                report.refused()
            ),
            (2, 0, 2, 0)
        );
        assert_eq!(
            gamma.rows_from("alpha.example").await,
            3,
            "ada, her request, her comment"
        );
        assert_eq!(gamma.rows_from("beta.example").await, 2);
        assert_eq!(tree(&root.join(".git")), git_before);

        // Again: everything is applied already.
        let again = gamma.import_set(root).await;
        assert_eq!(
            (again.applied(), again.already_applied(), again.refused()),
            (0, 2, 0)
        );
    }
}

#[tokio::test]
async fn a_set_follows_the_trust_rules_of_one_bundle() {
    for postgres in [false, true] {
        let Some((nodes, repo)) = community(postgres).await else {
            continue;
        };
        let root = repo.path();
        let Some(delta) = nodes_one(postgres, "delta.example").await else {
            continue;
        };
        // No pins and no --accept-new-keys: every bundle is refused, none
        // pinned.
        let report = delta.import_set_with(root, &ImportOptions::default()).await;
        assert_eq!((report.applied(), report.refused()), (0, 3), "{report:?}");
        let SetResult::Refused(err) = result_of(&report, "beta.example") else {
            panic!("{report:?}")
        };
        assert!(err.to_string().contains("--accept-new-keys"), "{err}");
        assert!(
            delta
                .instance
                .store()
                .origin_state(&InstanceName::parse("beta.example").unwrap())
                .await
                .unwrap()
                .is_none()
        );
        // Beta's key pinned by hand (its folder alone, with --key): the set
        // then applies beta's bundle and refuses the unpinned others.
        let beta_key = nodes[1]
            .keys()
            .load_public("beta.example")
            .unwrap()
            .to_string();
        import_bundle(
            &delta.instance,
            &delta.keys(),
            &root.join("beta.example"),
            &ImportOptions {
                expected_key: Some(beta_key),
                ..ImportOptions::default()
            },
            &NoProgress,
        )
        .await
        .unwrap();
        let report = delta.import_set_with(root, &ImportOptions::default()).await;
        assert_eq!(
            (report.already_applied(), report.applied(), report.refused()),
            (1, 0, 2),
            "{report:?}"
        );
        // With --accept-new-keys, as for one bundle.
        let report = delta.import_set(root).await;
        assert_eq!((report.applied(), report.refused()), (2, 0), "{report:?}");
    }
}

#[tokio::test]
async fn a_refused_bundle_leaves_the_others_applied() {
    for postgres in [false, true] {
        let Some((_nodes, repo)) = community(postgres).await else {
            continue;
        };
        let root = repo.path();
        let aside = tempfile::tempdir().unwrap();
        let elsewhere = aside.path().join("beta.example");
        let newcomer = match nodes_one(postgres, "delta.example").await {
            Some(node) => node,
            None => continue,
        };
        // gamma's bundle is tampered with; beta's is gone, so alpha's
        // comment has no request to refer to.
        let gamma_file = first_file(&root.join("gamma.example"), "request");
        let mut bytes = std::fs::read(&gamma_file).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        std::fs::write(&gamma_file, bytes).unwrap();
        std::fs::rename(root.join("beta.example"), &elsewhere).unwrap();
        std::fs::create_dir_all(root.join("beta.example")).unwrap();
        let report = newcomer.import_set(root).await;
        assert_eq!(report.refused(), 2, "{report:?}");
        let SetResult::Refused(gamma_err) = result_of(&report, "gamma.example") else {
            panic!("{report:?}")
        };
        assert!(gamma_err.to_string().contains("SHA-256"), "{gamma_err}");
        let SetResult::Refused(alpha_err) = result_of(&report, "alpha.example") else {
            panic!("{report:?}")
        };
        assert!(
            alpha_err
                .to_string()
                .contains("import the bundle of the instance it comes from first"),
            "{alpha_err}"
        );
        assert_eq!(newcomer.rows_from("alpha.example").await, 0);
        assert_eq!(newcomer.rows_from("gamma.example").await, 0);
        assert!(!newcomer.has_key(), "a refused import creates no key");

        // Beta's bundle arrives: alpha's now applies, gamma's stays refused,
        // beta's is applied, and each stays applied.
        std::fs::remove_dir(root.join("beta.example")).unwrap();
        std::fs::rename(&elsewhere, root.join("beta.example")).unwrap();
        let report = newcomer.import_set(root).await;
        assert_eq!((report.applied(), report.refused()), (2, 1), "{report:?}");
        assert_eq!(newcomer.rows_from("alpha.example").await, 3);
        assert_eq!(newcomer.rows_from("beta.example").await, 2);
        assert_eq!(newcomer.rows_from("gamma.example").await, 0);
    }
}

#[tokio::test]
async fn an_expected_key_is_refused_for_a_set_of_several_bundles() {
    let Some((nodes, repo)) = community(false).await else {
        unreachable!()
    };
    let delta = nodes_one(false, "delta.example").await.unwrap();
    let BundleLocation::Set { bundles, others } = locate_bundles(repo.path()).unwrap() else {
        panic!()
    };
    let options = ImportOptions {
        expected_key: Some(
            nodes[0]
                .keys()
                .load_public("alpha.example")
                .unwrap()
                .to_string(),
        ),
        ..ImportOptions::default()
    };
    let err = import_bundle_set(
        &delta.instance,
        &delta.keys(),
        &bundles,
        &others,
        &options,
        &NoProgress,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("holds 3 bundles"), "{err}");
    assert_eq!(delta.rows_from("alpha.example").await, 0);
}

#[tokio::test]
async fn export_never_overwrites_another_instances_bundle() {
    for postgres in [false, true] {
        let Some((nodes, repo)) = community(postgres).await else {
            continue;
        };
        let root = repo.path();
        let [alpha, beta, gamma] = &nodes[..] else {
            unreachable!()
        };
        let before = tree(root);

        // Into alpha's folder: beta's own export and a relay of gamma's
        // rows are refused; nothing changes.
        for (node, origin) in [(beta, None), (alpha, Some("beta.example"))] {
            let err = node
                .export_to(
                    &root.join(if origin.is_some() {
                        "gamma.example"
                    } else {
                        "alpha.example"
                    }),
                    origin,
                )
                .await
                .unwrap_err();
            assert_eq!(code(&err), "foreign-bundle");
            let err = err.to_string();
            assert!(err.contains("refusing to export"), "{err}");
            assert!(err.contains("holds the bundle of"), "{err}");
            assert_eq!(tree(root), before);
        }
        // Into the repository's top, which holds folders of bundles.
        let err = gamma.export_to(root, None).await.unwrap_err();
        assert_eq!(code(&err), "bundle-set");
        let err = err.to_string();
        assert!(err.contains("holds 3 bundles in its folders"), "{err}");
        assert!(err.contains("gamma.example"), "{err}");
        assert_eq!(tree(root), before);

        // A relay of beta's rows into beta's folder is allowed: byte for
        // byte what is there.
        alpha
            .export_to(&root.join("beta.example"), Some("beta.example"))
            .await
            .unwrap();
        assert_eq!(tree(root), before);
    }
}

#[tokio::test]
async fn failed_commands_create_no_key() {
    let nodes = nodes(false, &["alpha.example", "beta.example"])
        .await
        .unwrap();
    let [alpha, beta] = &nodes[..] else {
        unreachable!()
    };
    // A directory that does not exist: one clear error naming it once.
    let missing = alpha.dir.path().join("incoming/nowhere");
    let err = locate_bundles(&missing).unwrap_err();
    assert_eq!(code(&err), "no-such-directory");
    assert_eq!(
        err.to_string(),
        format!("{}: no such directory", missing.display())
    );
    assert!(alpha.import(&missing).await.is_err());
    // One that is neither a bundle nor holds one (a `.git` does not count).
    let empty = alpha.dir.path().join("empty");
    std::fs::create_dir_all(empty.join(".git")).unwrap();
    let err = locate_bundles(&empty).unwrap_err();
    assert_eq!(code(&err), "not-a-bundle");
    let err = err.to_string();
    assert!(err.contains("neither a bundle"), "{err}");
    assert!(!alpha.has_key(), "a failed import creates no key");

    // An export refused because the directory holds another instance's
    // bundle, or foreign files.
    beta.member_with_request("bob", "Borrow a drill").await;
    let bundle = beta.dir.path().join("bundle");
    beta.export_to(&bundle, None).await.unwrap();
    assert!(alpha.export_to(&bundle, None).await.is_err());
    let foreign = alpha.dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    assert!(alpha.export_to(&foreign, None).await.is_err());
    assert!(!alpha.has_key(), "a failed export creates no key");

    // A successful import creates it (as before), and a successful export
    // finds it.
    assert!(matches!(
        alpha.import(&bundle).await.unwrap(),
        ImportOutcome::Applied {
            key_created: Some(_),
            ..
        }
    ));
    assert!(alpha.has_key());
}

async fn nodes_one(postgres: bool, name: &str) -> Option<Node> {
    nodes(postgres, &[name]).await.map(|mut n| n.remove(0))
}

/// The stable code of a refused bundle: typed, not parsed from the text.
fn code(err: &wb_engine::EngineError) -> &'static str {
    match err {
        wb_engine::EngineError::BundleRefused { reason, .. } => reason.code(),
        other => panic!("not a refused bundle: {other:?}"),
    }
}
