//! Export and import of signed bundles, on every backend: determinism,
//! incremental export, lossless round trip, retraction, tamper refusal and
//! privacy canaries.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wb_crypto::{bundle_trusted_comment, sign_minisign};
use wb_engine::fixtures;
use wb_engine::sync::{
    ExportStrategy, ExportSummary, ImportOptions, ImportOutcome, NoProgress, import_bundle,
    relay_bundle,
};
use wb_model::{EntityKind, InstanceName, Role, SyncScope, Username};
use wb_store::testing::TestDb;

mod common;
use common::{Node, demo, first_file, pairs, tree};

impl Node {
    /// Exports its own bundle into `out`; what the export did.
    async fn export_summary(&self, out: &str) -> ExportSummary {
        self.export_to(&self.path(out), None).await.unwrap()
    }

    async fn export_copy(&self, origin: &str, out: &str) -> ExportSummary {
        let origin = InstanceName::parse(origin).unwrap();
        let summary = relay_bundle(&self.instance, &origin, &self.path(out), &NoProgress)
            .await
            .unwrap();
        assert_eq!(summary.strategy, ExportStrategy::Relay);
        summary
    }

    async fn row_count(&self) -> usize {
        let store = self.instance.store();
        store.users().await.unwrap().len()
            + store.requests().await.unwrap().len()
            + store.comments().await.unwrap().len()
            + store.invites().await.unwrap().len()
    }
}

fn applied(outcome: ImportOutcome) -> wb_engine::sync::ImportCounts {
    match outcome {
        ImportOutcome::Applied { counts, .. } => counts,
        other => panic!("expected an applied import, got {other:?}"),
    }
}

#[tokio::test]
async fn export_is_deterministic_and_incremental() {
    for (alpha, _) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        let first = alpha.export_summary("out").await;
        assert_eq!((first.sequence, first.changed, first.files), (1, true, 10));
        assert_eq!(first.strategy, ExportStrategy::Fresh);
        assert!(first.key_created.is_some(), "first export creates the key");
        let before = tree(&alpha.path("out"));

        // Same database, same bytes — in the same directory or a fresh one.
        let again = alpha.export_summary("out").await;
        assert_eq!(
            (again.sequence, again.changed, again.written),
            (1, false, 0)
        );
        // Its own bundle in the directory, but no records of rendered
        // files yet: every row's head is read.
        assert_eq!(again.strategy, ExportStrategy::Heads);
        assert!(again.key_created.is_none(), "the key is created once");
        assert_eq!(tree(&alpha.path("out")), before);
        let elsewhere = alpha.export_summary("elsewhere").await;
        assert_eq!(elsewhere.strategy, ExportStrategy::Fresh);
        assert_eq!(tree(&alpha.path("elsewhere")), before);

        // One row made private: exactly its file goes; manifest and sig change.
        let comment = alpha
            .instance
            .store()
            .comments()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.body.starts_with("I have one"))
            .unwrap();
        alpha
            .instance
            .set_scope(EntityKind::Comment, comment.id, SyncScope::Private, "dev")
            .await
            .unwrap();
        let changed = alpha.export_summary("out").await;
        assert_eq!(
            (changed.sequence, changed.written, changed.removed),
            (2, 0, 1)
        );
        assert_eq!(changed.strategy, ExportStrategy::Journaled);
        let after = tree(&alpha.path("out"));
        let differing: Vec<&String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let gone = format!("comment/{}.sync.txt", comment.id);
        assert_eq!(
            differing,
            vec!["bundle.sig", gone.as_str(), "manifest.sync.txt"]
        );
    }
}

/// Sets the modification time of every row file under `dir` to two seconds
/// before the manifest's, as if the export had written them earlier (file
/// times are a clock tick coarse, and a small export writes its files and
/// its manifest within one tick).
fn backdate_row_files(dir: &Path) {
    let manifest = std::fs::metadata(dir.join("manifest.sync.txt"))
        .unwrap()
        .modified()
        .unwrap();
    let earlier = manifest - std::time::Duration::from_secs(2);
    for path in tree(dir).keys().filter(|p| p.contains('/')) {
        std::fs::File::options()
            .write(true)
            .open(dir.join(path))
            .unwrap()
            .set_modified(earlier)
            .unwrap();
    }
}

#[tokio::test]
async fn export_renders_only_rows_that_changed_and_repairs_edited_files() {
    for (alpha, _) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        // Into an empty directory every row is read and rendered; the next
        // export there renders them again (no record of rendered files yet)
        // and records them.
        let out = alpha.path("out");
        for strategy in [ExportStrategy::Fresh, ExportStrategy::Heads] {
            let summary = alpha.export_summary("out").await;
            assert_eq!((summary.files, summary.rendered), (10, 10));
            assert_eq!(summary.strategy, strategy);
            backdate_row_files(&out);
        }
        let before = tree(&out);

        // Nothing changed: every file is kept without reading its row.
        let again = alpha.export_summary("out").await;
        assert_eq!(
            (again.changed, again.rendered, again.written, again.files),
            (false, 0, 0, 10)
        );
        assert_eq!(again.strategy, ExportStrategy::Journaled);
        assert_eq!(tree(&out), before);

        // One profile edited: exactly that row is read and rendered.
        let user = alpha.instance.local_user("ada").await.unwrap();
        alpha
            .instance
            .update_profile("ada", "ada", "Ada O.", "Fixes bikes on Saturdays.")
            .await
            .unwrap();
        let edited = alpha.export_summary("out").await;
        assert_eq!(
            (edited.sequence, edited.rendered, edited.written),
            (2, 1, 1)
        );
        assert_eq!(edited.strategy, ExportStrategy::Journaled);
        let user_file = format!("user/{}.sync.txt", user.id);
        let text = String::from_utf8(tree(&out)[&user_file].clone()).unwrap();
        assert!(text.contains("Fixes bikes on Saturdays."), "{text}");
        backdate_row_files(&out);
        let current = tree(&out);

        // A row file changed by hand after the export (same length). The
        // export trusts the bundle it wrote last and looks only at the rows
        // the journal names, so the way to repair it (docs/workflow.md) is
        // to delete the manifest first: then every row is rendered, the
        // edited file restored, and the bundle is unchanged.
        let victim = current
            .keys()
            .find(|p| p.starts_with("request/"))
            .unwrap()
            .clone();
        let mut bytes = current[&victim].clone();
        let at = bytes.len() - 3;
        bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(out.join(&victim), &bytes).unwrap();
        let trusted = alpha.export_summary("out").await;
        assert_eq!((trusted.changed, trusted.rendered), (false, 0));
        assert_eq!(trusted.strategy, ExportStrategy::Journaled);
        std::fs::remove_file(out.join("manifest.sync.txt")).unwrap();
        let repaired = alpha.export_summary("out").await;
        assert_eq!(repaired.strategy, ExportStrategy::Fresh);
        assert_eq!(
            (
                repaired.changed,
                repaired.sequence,
                repaired.rendered,
                repaired.written
            ),
            (false, 2, 10, 1)
        );
        assert_eq!(tree(&out), current);

        // A row withdrawn and published again comes back rendered.
        let request_id = victim
            .strip_prefix("request/")
            .and_then(|p| p.strip_suffix(".sync.txt"))
            .unwrap()
            .parse()
            .unwrap();
        let mut files_while_private = 0;
        for scope in [SyncScope::Private, SyncScope::Public] {
            alpha
                .instance
                .set_scope(EntityKind::Request, request_id, scope, "ada")
                .await
                .unwrap();
            let summary = alpha.export_summary("out").await;
            backdate_row_files(&out);
            assert_eq!(summary.strategy, ExportStrategy::Journaled);
            assert_eq!(
                tree(&out).contains_key(&victim),
                scope == SyncScope::Public,
                "{scope:?}"
            );
            if scope == SyncScope::Private {
                // Withdrawn with its comments (held back); nothing rendered.
                assert!(summary.removed >= 1, "{summary:?}");
                assert_eq!(summary.rendered, 0, "{summary:?}");
                files_while_private = summary.files;
            } else {
                // Back: exactly the files that return are rendered.
                assert_eq!(summary.files, 10);
                assert_eq!(summary.rendered, 10 - files_while_private, "{summary:?}");
            }
        }

        // Records made by another version of the software are forgotten:
        // the next export renders everything again, then none.
        let store = alpha.instance.store();
        assert!(
            store
                .rendered_by()
                .await
                .unwrap()
                .is_some_and(|r| r.starts_with("wb-engine "))
        );
        // (the same records, as if an older version had made them)
        let mut records = Vec::new();
        for kind in EntityKind::ALL.iter().copied() {
            let heads = store.row_heads(kind, alpha.instance.name()).await.unwrap();
            let made: Vec<_> = heads
                .into_iter()
                .filter_map(|h| h.rendered.map(|r| (h.id, r)))
                .collect();
            records.push((kind, made));
        }
        assert_eq!(records.iter().map(|(_, r)| r.len()).sum::<usize>(), 10);
        store.reset_rendered("wb-engine 0.0.0-older").await.unwrap();
        for (kind, made) in &records {
            store.record_rendered(*kind, made, &[]).await.unwrap();
        }
        for (expected, strategy) in [(10, ExportStrategy::Heads), (0, ExportStrategy::Journaled)] {
            let summary = alpha.export_summary("out").await;
            backdate_row_files(&out);
            assert_eq!(summary.rendered, expected, "{summary:?}");
            assert_eq!(summary.strategy, strategy);
        }

        // Another directory has no previous bundle: everything is rendered,
        // into the same bytes.
        let elsewhere = alpha.export_summary("elsewhere").await;
        assert_eq!(elsewhere.rendered, elsewhere.files);
        assert_eq!(elsewhere.strategy, ExportStrategy::Fresh);
        let out_tree = tree(&out);
        let elsewhere_tree = tree(&alpha.path("elsewhere"));
        assert_eq!(elsewhere_tree, out_tree);
    }
}

#[tokio::test]
async fn round_trip_is_lossless_and_reimport_is_a_no_op() {
    for (alpha, beta) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        alpha.export_summary("out").await;
        let counts = applied(beta.import(&alpha.path("out")).await.unwrap());
        assert_eq!((counts.added, counts.updated, counts.retracted), (10, 0, 0));
        match beta.import(&alpha.path("out")).await.unwrap() {
            ImportOutcome::AlreadyApplied { sequence: 1, .. } => {}
            other => panic!("re-import should be a no-op, got {other:?}"),
        }
        let copy = beta.export_copy("alpha.example", "relay").await;
        assert_eq!(copy.sequence, 1);
        assert_eq!(
            tree(&beta.path("relay")),
            tree(&alpha.path("out")),
            "byte-identical"
        );
        // Beta's own export holds none of alpha's rows.
        assert_eq!(beta.export_summary("own").await.files, 0);
    }
}

#[tokio::test]
async fn changes_and_retractions_travel_and_stick() {
    for (alpha, beta) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        alpha.export_summary("v1").await;
        applied(beta.import(&alpha.path("v1")).await.unwrap());
        let v1 = tree(&alpha.path("v1"));

        // Beta comments locally on alpha's ladder request.
        let ladder = beta
            .instance
            .store()
            .requests()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.title.contains("ladder"))
            .unwrap();
        beta.member("bea", "").await;
        let local = beta
            .instance
            .add_comment("bea", ladder.id, "Me too")
            .await
            .unwrap();
        beta.instance
            .set_scope(EntityKind::Comment, local.id, SyncScope::Public, "bea")
            .await
            .unwrap();
        let report = beta
            .instance
            .scope_report(EntityKind::Comment, local.id)
            .await
            .unwrap();
        assert!(
            report.effective.is_exported(),
            "alpha's request counts as exported"
        );

        // Alpha edits one profile and withdraws the ladder request.
        alpha
            .instance
            .update_profile("ada", "ada", "Ada O.", "Still here")
            .await
            .unwrap();
        alpha
            .instance
            .set_scope(EntityKind::Request, ladder.id, SyncScope::Private, "ben")
            .await
            .unwrap();
        std::fs::create_dir_all(alpha.path("v2")).unwrap();
        for (rel, bytes) in &v1 {
            let path = alpha.path("v2").join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        assert_eq!(alpha.export_summary("v2").await.sequence, 2);
        let counts = applied(beta.import(&alpha.path("v2")).await.unwrap());
        // The request and its one public comment are retracted; ada updated.
        assert_eq!((counts.updated, counts.retracted), (1, 2), "{counts:?}");
        let ada = beta
            .instance
            .store()
            .users()
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.username.as_str() == "ada")
            .unwrap();
        assert_eq!(ada.display_name, "Ada O.");
        // The request is kept, withdrawn, because beta's comment refers to it.
        let kept = beta
            .instance
            .store()
            .request(ladder.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.scope, SyncScope::Private);
        let report = beta
            .instance
            .scope_report(EntityKind::Comment, local.id)
            .await
            .unwrap();
        assert!(
            report.effective.to_string().contains("its request"),
            "{}",
            report.effective
        );

        // Retraction sticks: the old bundle is refused, and changes nothing.
        let rows = beta.row_count().await;
        let err = beta
            .import(&alpha.path("v1"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sequence 1 of alpha.example is not newer than sequence 2"),
            "{err}"
        );
        assert_eq!(beta.row_count().await, rows);
        // Round trip still holds after changes.
        beta.export_copy("alpha.example", "relay").await;
        assert_eq!(tree(&beta.path("relay")), tree(&alpha.path("v2")));
    }
}

/// Copies a bundle directory, lets `tamper` change the copy, and returns it.
fn tampered(src: &Path, dst: &Path, tamper: impl FnOnce(&Path)) -> PathBuf {
    for (rel, bytes) in tree(src) {
        let path = dst.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    tamper(dst);
    dst.to_owned()
}

#[tokio::test]
async fn tampered_bundles_are_refused_and_nothing_is_written() {
    for (alpha, beta) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        alpha.export_summary("out").await;
        let src = alpha.path("out");
        let work = tempfile::tempdir().unwrap();
        let mut n = 0;
        let mut case = |tamper: &dyn Fn(&Path)| {
            n += 1;
            tampered(&src, &work.path().join(format!("case{n}")), tamper)
        };
        let cases: Vec<(PathBuf, &str)> = vec![
            (
                case(&|d| {
                    let f = first_file(d, "request");
                    let mut bytes = std::fs::read(&f).unwrap();
                    let last = bytes.len() - 3;
                    bytes[last] ^= 1;
                    std::fs::write(f, bytes).unwrap();
                }),
                "SHA-256",
            ),
            (
                case(&|d| std::fs::remove_file(first_file(d, "user")).unwrap()),
                "missing",
            ),
            (
                case(&|d| {
                    std::fs::write(
                        d.join("user/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt"),
                        "x",
                    )
                    .unwrap()
                }),
                "not listed in the manifest",
            ),
            (
                case(&|d| {
                    let manifest = d.join("manifest.sync.txt");
                    let text = std::fs::read_to_string(&manifest).unwrap();
                    std::fs::write(manifest, text.replace("Sequence: 1", "Sequence: 7")).unwrap();
                }),
                "signature rejected",
            ),
            (
                case(&|d| std::fs::remove_file(d.join("bundle.sig")).unwrap()),
                "bundle.sig",
            ),
            (
                case(&|d| {
                    // Swap in a file from another bundle under a listed name.
                    let a = first_file(d, "user");
                    let b = {
                        let mut all: Vec<PathBuf> = std::fs::read_dir(d.join("user"))
                            .unwrap()
                            .map(|e| e.unwrap().path())
                            .collect();
                        all.sort();
                        all.pop().unwrap()
                    };
                    std::fs::copy(b, a).unwrap();
                }),
                "but the manifest says",
            ),
        ];
        for (dir, expected) in cases {
            let err = beta.import(&dir).await.unwrap_err().to_string();
            assert!(err.contains(expected), "{}: {err}", dir.display());
            assert!(
                err.contains(&dir.display().to_string()),
                "error names the bundle: {err}"
            );
            assert_eq!(
                beta.row_count().await,
                0,
                "nothing written for {}",
                dir.display()
            );
        }
    }
}

#[tokio::test]
async fn only_the_pinned_key_is_accepted() {
    for (alpha, beta) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        alpha.export_summary("out").await;
        // A stranger claiming to be alpha, with its own key.
        let impostor = Node::new(TestDb::sqlite().await, "alpha.example").await;
        fixtures::load(&impostor.instance, &demo()).await.unwrap();
        impostor.export_summary("out").await;

        // An explicit expected key that differs is refused before pinning.
        let real_key = alpha
            .keys()
            .load_public("alpha.example")
            .unwrap()
            .to_string();
        let options = ImportOptions {
            expected_key: Some(real_key),
            ..ImportOptions::default()
        };
        let err = import_bundle(
            &beta.instance,
            &beta.keys(),
            &impostor.path("out"),
            &options,
            &NoProgress,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the key expected for alpha.example is"),
            "{err}"
        );
        assert_eq!(beta.row_count().await, 0);

        // First import pins alpha's key; the impostor is refused afterwards.
        match beta.import(&alpha.path("out")).await.unwrap() {
            ImportOutcome::Applied {
                pinned_key: Some(key),
                ..
            } => {
                assert_eq!(
                    key,
                    alpha
                        .keys()
                        .load_public("alpha.example")
                        .unwrap()
                        .to_string()
                );
            }
            other => panic!("{other:?}"),
        }
        let rows = beta.row_count().await;
        let err = beta
            .import(&impostor.path("out"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("is pinned for alpha.example"), "{err}");
        assert_eq!(beta.row_count().await, rows);

        // An instance never imports its own bundle.
        let err = alpha
            .import(&alpha.path("out"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("own bundle"), "{err}");
    }
}

#[tokio::test]
async fn a_signed_private_file_is_refused() {
    for (alpha, beta) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        alpha.export_summary("out").await;
        // Alpha's own key signs a bundle with a file marked private: the
        // signature is valid, the content is not.
        let dir = tampered(&alpha.path("out"), &alpha.path("evil"), |d| {
            let f = first_file(d, "user");
            let text = std::fs::read_to_string(&f).unwrap();
            std::fs::write(
                &f,
                text.replace("Sync-Scope: public", "Sync-Scope: private"),
            )
            .unwrap();
            let rel = f.strip_prefix(d).unwrap().to_string_lossy().into_owned();
            let manifest_path = d.join("manifest.sync.txt");
            let mut manifest =
                wb_syncfmt::Manifest::parse(&std::fs::read(&manifest_path).unwrap(), "m").unwrap();
            let bytes = std::fs::read(&f).unwrap();
            for entry in &mut manifest.files {
                if entry.path == rel {
                    *entry = wb_syncfmt::ManifestEntry::for_bytes(rel.clone(), &bytes);
                }
            }
            manifest.sequence = 2;
            let text = manifest.to_text().unwrap();
            std::fs::write(&manifest_path, &text).unwrap();
            let key = alpha.keys().load("alpha.example").unwrap();
            let comment = bundle_trusted_comment("alpha.example", 2).unwrap();
            std::fs::write(
                d.join("bundle.sig"),
                sign_minisign(&key, text.as_bytes(), &comment),
            )
            .unwrap();
        });
        let err = beta.import(&dir).await.unwrap_err().to_string();
        assert!(err.contains("private"), "{err}");
        assert_eq!(beta.row_count().await, 0);
    }
}

#[tokio::test]
async fn rows_referring_to_unknown_rows_are_refused_with_the_file_named() {
    for (alpha, beta) in pairs().await {
        // gamma's request reaches alpha; alpha comments on it publicly.
        let gamma = Node::new(TestDb::sqlite().await, "gamma.example").await;
        fixtures::load(&gamma.instance, &demo()).await.unwrap();
        gamma.export_summary("out").await;
        applied(alpha.import(&gamma.path("out")).await.unwrap());
        let ladder = alpha
            .instance
            .store()
            .requests()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.title.contains("ladder"))
            .unwrap();
        alpha.member("ann", "").await;
        let comment = alpha
            .instance
            .add_comment("ann", ladder.id, "Count me in")
            .await
            .unwrap();
        alpha
            .instance
            .set_scope(EntityKind::Comment, comment.id, SyncScope::Public, "ann")
            .await
            .unwrap();
        assert_eq!(
            alpha.export_summary("out").await.files,
            2,
            "ann and her comment on gamma's request"
        );

        // Beta has not seen gamma: the comment's request is unknown there.
        let err = beta
            .import(&alpha.path("out"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("comment/{}.sync.txt", comment.id)),
            "{err}"
        );
        assert!(
            err.contains("import the bundle of the instance it comes from first"),
            "{err}"
        );
        assert_eq!(beta.row_count().await, 0);
        // Once gamma's bundle is in, alpha's imports cleanly.
        applied(beta.import(&gamma.path("out")).await.unwrap());
        applied(beta.import(&alpha.path("out")).await.unwrap());
    }
}

/// Exports `node` into `out` (incrementally, by `strategy`) and into a new
/// directory (the fresh strategy: every row rendered), and checks both hold
/// the same bytes; returns the incremental export's summary.
async fn export_matches_fresh(
    node: &Node,
    out: &str,
    fresh: &str,
    strategy: ExportStrategy,
) -> ExportSummary {
    let summary = node.export_summary(out).await;
    assert_eq!(summary.strategy, strategy, "{summary:?}");
    assert_eq!(
        node.export_summary(fresh).await.strategy,
        ExportStrategy::Fresh
    );
    let (incremental, fresh) = (tree(&node.path(out)), tree(&node.path(fresh)));
    let differing: Vec<String> = incremental
        .keys()
        .chain(fresh.keys())
        .filter(|path| incremental.get(*path) != fresh.get(*path))
        .map(|path| {
            let text = |t: &BTreeMap<String, Vec<u8>>| {
                t.get(path).map(|b| String::from_utf8_lossy(b).into_owned())
            };
            format!("{path}:\n{:?}\n{:?}", text(&incremental), text(&fresh))
        })
        .collect();
    assert!(
        differing.is_empty(),
        "incremental export into {out} differs from a fresh one ({summary:?}):\n{}",
        differing.join("\n")
    );
    summary
}

#[tokio::test]
async fn journaled_exports_equal_fresh_exports_after_every_kind_of_change() {
    for (alpha, beta) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        // Two exports: the first writes the bundle, the second records what
        // each row was rendered into; from then on the journal drives.
        alpha.export_summary("out").await;
        alpha.export_summary("out").await;
        let store = alpha.instance.store().clone();
        let files = |summary: &ExportSummary| (summary.files, summary.rendered);
        let mut fresh = 0;
        let mut next_fresh = || {
            fresh += 1;
            format!("fresh{fresh}")
        };

        // Nothing changed: nothing rendered.
        let same =
            export_matches_fresh(&alpha, "out", &next_fresh(), ExportStrategy::Journaled).await;
        assert_eq!(files(&same), (10, 0));
        assert!(!same.changed);

        // A user withdrawn takes the rows that depend on it along (their
        // requests, the comments on them, their comments); back again, they
        // all return.
        let ada = alpha.instance.local_user("ada").await.unwrap();
        alpha
            .instance
            .set_scope(EntityKind::User, ada.id, SyncScope::Private, "ada")
            .await
            .unwrap();
        let withdrawn =
            export_matches_fresh(&alpha, "out", &next_fresh(), ExportStrategy::Journaled).await;
        assert!(
            withdrawn.files < 10 && withdrawn.removed >= 2,
            "{withdrawn:?}"
        );
        assert_eq!(withdrawn.rendered, 0);
        alpha
            .instance
            .set_scope(EntityKind::User, ada.id, SyncScope::Public, "ada")
            .await
            .unwrap();
        let back =
            export_matches_fresh(&alpha, "out", &next_fresh(), ExportStrategy::Journaled).await;
        assert_eq!(files(&back), (10, 10 - withdrawn.files));

        // A request withdrawn takes its comments along; back, they return.
        let request = store
            .requests()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.scope == SyncScope::Public)
            .unwrap();
        let author = store.user(request.author_id).await.unwrap().unwrap();
        let author = author.username.as_str();
        for scope in [SyncScope::Private, SyncScope::Public] {
            alpha
                .instance
                .set_scope(EntityKind::Request, request.id, scope, author)
                .await
                .unwrap();
            export_matches_fresh(&alpha, "out", &next_fresh(), ExportStrategy::Journaled).await;
        }

        // New rows, and a profile edit: only they are rendered.
        let comment = alpha
            .instance
            .add_comment("ada", request.id, "On my way")
            .await
            .unwrap();
        alpha
            .instance
            .set_scope(EntityKind::Comment, comment.id, SyncScope::Public, "ada")
            .await
            .unwrap();
        alpha
            .instance
            .update_profile("ada", "ada", "Ada O.", "Fixes bikes")
            .await
            .unwrap();
        let added =
            export_matches_fresh(&alpha, "out", &next_fresh(), ExportStrategy::Journaled).await;
        assert_eq!(files(&added), (11, 2), "{added:?}");

        // A change made behind wb's back, in SQL, without moving updated_at,
        // is noted by the database's triggers and rendered too.
        alpha
            .db
            .execute(&format!(
                "UPDATE requests SET title = 'Edited in SQL' WHERE id = '{}'",
                request.id
            ))
            .await
            .unwrap();
        let by_hand =
            export_matches_fresh(&alpha, "out", &next_fresh(), ExportStrategy::Journaled).await;
        assert_eq!(by_hand.rendered, 1, "{by_hand:?}");
        let text = tree(&alpha.path("out"))
            .into_iter()
            .find(|(path, _)| path.contains(&request.id.to_string()))
            .map(|(_, bytes)| String::from_utf8(bytes).unwrap())
            .unwrap();
        assert!(text.contains("Edited in SQL"), "{text}");

        // Another instance's row withdrawn by its origin: beta's own comment
        // on it stops being exported by beta, through the journal.
        applied(beta.import(&alpha.path("out")).await.unwrap());
        beta.member("bea", "").await;
        let on_remote = beta
            .instance
            .add_comment("bea", request.id, "Me too")
            .await
            .unwrap();
        beta.instance
            .set_scope(EntityKind::Comment, on_remote.id, SyncScope::Public, "bea")
            .await
            .unwrap();
        beta.export_summary("out").await;
        beta.export_summary("out").await;
        let with_comment =
            export_matches_fresh(&beta, "out", "fresh-b1", ExportStrategy::Journaled).await;
        assert_eq!(with_comment.files, 2, "{with_comment:?}");
        alpha
            .instance
            .set_scope(EntityKind::Request, request.id, SyncScope::Private, author)
            .await
            .unwrap();
        alpha.export_summary("out").await;
        applied(beta.import(&alpha.path("out")).await.unwrap());
        let without =
            export_matches_fresh(&beta, "out", "fresh-b2", ExportStrategy::Journaled).await;
        assert_eq!((without.files, without.removed), (1, 1), "{without:?}");

        // Every export forgot the changes it handled.
        let left = store.export_changes(1024).await.unwrap();
        assert_eq!(left.rows, Some(Vec::new()));
    }
}

/// More changes than the journal is read for: the export looks at every
/// row's version instead, writes the same bytes as a fresh export, and
/// forgets the journal all the same.
#[tokio::test]
async fn a_journal_over_its_limit_falls_back_to_every_row() {
    for (alpha, _) in pairs().await {
        fixtures::load(&alpha.instance, &demo()).await.unwrap();
        alpha.export_summary("out").await;
        alpha.export_summary("out").await;
        // A small bundle's files land in the clock tick of its manifest,
        // which the quick check (rightly) does not trust.
        backdate_row_files(&alpha.path("out"));
        let store = alpha.instance.store().clone();
        let users: Vec<wb_model::User> = (0..1100)
            .map(|n| wb_model::User {
                id: wb_model::new_id(),
                origin: alpha.instance.name().clone(),
                username: Username::parse(&format!("member{n}")).unwrap(),
                display_name: format!("Member {n}"),
                bio: String::new(),
                email: Some(format!("member{n}@example.org")),
                role: Role::Member,
                invited_by: None,
                scope: SyncScope::Public,
                created_at: wb_model::Timestamp::now(),
                updated_at: wb_model::Timestamp::now(),
            })
            .collect();
        store
            .insert_batch(&wb_store::Batch {
                users,
                ..wb_store::Batch::default()
            })
            .await
            .unwrap();
        assert_eq!(store.export_changes(1024).await.unwrap().rows, None);
        let summary = export_matches_fresh(&alpha, "out", "fresh", ExportStrategy::Heads).await;
        assert_eq!((summary.files, summary.rendered), (1110, 1100));
        let left = store.export_changes(1024).await.unwrap();
        assert_eq!(left.rows, Some(Vec::new()));
    }
}
