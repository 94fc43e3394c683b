//! Pins through the real `wb` binary (issue 11, parts 2, 3 and 7), on
//! SQLite and, with `WB_TEST_POSTGRES_URL`, Postgres: each hostile case is
//! refused with a message saying what to do, and changes nothing (every
//! table, pins, high-water marks, caches, `PRAGMA integrity_check`, and
//! `sync_peers.txt`).

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;
use wb_store::Store;
use wb_store::testing::TestDb;

/// `wb` pointed at one test database, in its own instance directory.
struct Wb {
    db: TestDb,
    dir: tempfile::TempDir,
}

struct Out {
    stdout: String,
    stderr: String,
}

impl Wb {
    fn new(db: TestDb, name: &str) -> Self {
        let wb = Wb {
            db,
            dir: tempfile::tempdir().unwrap(),
        };
        wb.ok(&["init", "--instance", name]);
        wb
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("wb"));
        cmd.current_dir(self.dir.path())
            .env_remove("WB_DATABASE_URL")
            .arg("--database-url")
            .arg(&self.db.url);
        cmd
    }

    fn run(&self, args: &[&str]) -> Out {
        let out = self
            .cmd()
            .args(args)
            .assert()
            .success()
            .get_output()
            .clone();
        Out {
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.run(args).stdout
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self
            .cmd()
            .args(args)
            .assert()
            .failure()
            .get_output()
            .clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "one-line error, got: {stderr}");
        stderr
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// This instance's public key (its signing key is created if missing).
    fn key(&self) -> String {
        if !self.path(".sync/keys").exists() {
            return self.ok(&["sync", "keygen"]).trim().to_owned();
        }
        let name = std::fs::read_dir(self.path(".sync/keys"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "pub"))
            .unwrap();
        std::fs::read_to_string(name)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }

    /// Exports into `out` and returns the bundle's path.
    fn export(&self, out: &str) -> String {
        self.ok(&["sync", "export", "--out", out]);
        self.path(out).to_str().unwrap().to_owned()
    }

    fn add_public_member(&self, name: &str) {
        self.ok(&["user", "add", name]);
        self.ok(&["scope", "set", "user", name, "public", "--as", name]);
    }

    fn peers_json(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["sync", "peers", "list", "--json"])).unwrap()
    }

    /// Everything a refused command must leave as it was.
    async fn snapshot(&self) -> String {
        let mut snapshot = self.db.snapshot().await;
        if self.db.backend == wb_store::BackendKind::Sqlite {
            assert!(snapshot.ends_with("== integrity_check\nok\n"), "{snapshot}");
        }
        let registry = std::fs::read_to_string(self.path("sync_peers.txt")).unwrap_or_default();
        snapshot.push_str(&format!("== sync_peers.txt\n{registry}"));
        snapshot
    }
}

/// (alpha with a public member and a key, beta) per backend.
async fn pairs() -> Vec<(Wb, Wb)> {
    let mut dbs = vec![(TestDb::sqlite().await, TestDb::sqlite().await)];
    if let (Some(a), Some(b)) = (TestDb::postgres().await, TestDb::postgres().await) {
        dbs.push((a, b));
    }
    let mut out = Vec::new();
    for (a, b) in dbs {
        let alpha = Wb::new(a, "alpha.example");
        alpha.add_public_member("ada");
        out.push((alpha, Wb::new(b, "beta.example")));
    }
    out
}

/// Another instance calling itself `name`, with its own key.
async fn stranger(name: &str) -> Wb {
    let wb = Wb::new(TestDb::sqlite().await, name);
    wb.add_public_member("mallory");
    wb
}

#[tokio::test]
async fn an_impostor_is_refused_although_only_the_registry_named_the_key() {
    for (alpha, beta) in pairs().await {
        let real = alpha.export("out");
        let key = alpha.key();
        // The finding: sync_peers.txt (as earlier versions wrote it) pins
        // alpha's real key, and an impostor's bundle is imported by hand.
        std::fs::write(
            beta.path("sync_peers.txt"),
            format!("Name: alpha.example\nKind: peer\nURL: https://hub.example\nKey: {key}\n"),
        )
        .unwrap();
        let impostor = stranger("alpha.example").await;
        let fake = impostor.export("out");
        let out = beta.run(&["sync", "peers", "list"]);
        assert!(
            out.stderr.contains(&format!(
                "pinned key {key} for alpha.example (from its Key line"
            )),
            "{}",
            out.stderr
        );
        let before = beta.snapshot().await;
        for extra in [&[][..], &["--accept-new-keys"][..]] {
            let mut args = vec!["sync", "import", fake.as_str()];
            args.extend_from_slice(extra);
            let err = beta.fails(&args);
            assert!(
                err.contains(&format!("but key {key} is pinned for alpha.example")),
                "{err}"
            );
            assert!(err.contains("wb sync peers pin alpha.example"), "{err}");
            assert_eq!(beta.snapshot().await, before, "nothing changed");
        }
        // The real alpha is imported with no flag: its key is the pin.
        let out = beta.ok(&["sync", "import", &real]);
        assert!(out.contains("imported alpha.example sequence 1"), "{out}");
        assert!(!out.contains("pinned key"), "{out}");
    }
}

#[tokio::test]
async fn accept_new_keys_pins_and_peers_list_shows_it() {
    for (alpha, beta) in pairs().await {
        let bundle = alpha.export("out");
        let key = alpha.key();
        let before = beta.snapshot().await;
        let err = beta.fails(&["sync", "import", &bundle]);
        assert!(err.contains(&format!("signed by key {key}")), "{err}");
        assert!(err.contains(&format!("--key {key}")), "{err}");
        assert!(err.contains("--accept-new-keys"), "{err}");
        assert_eq!(beta.snapshot().await, before, "nothing changed");

        let out = beta.ok(&["sync", "import", &bundle, "--accept-new-keys"]);
        assert!(
            out.contains(&format!("pinned key {key} for alpha.example")),
            "{out}"
        );
        beta.ok(&[
            "sync",
            "peers",
            "add",
            "hub.example",
            "--url",
            "https://hub.example",
            "--kind",
            "hub",
        ]);
        let table = beta.ok(&["sync", "peers", "list"]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(
            lines[0].starts_with("NAME") && lines[0].ends_with("APPLIED"),
            "{table}"
        );
        assert!(lines[1].starts_with("hub.example "), "{table}");
        let alpha_line: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            alpha_line[..5],
            ["alpha.example", "-", "-", &key, "1"],
            "{table}"
        );

        let listed = beta.peers_json();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0]["name"], "hub.example");
        assert_eq!(listed[0]["kind"], "hub");
        assert_eq!(listed[0]["key"], Value::Null);
        let entry = listed[1].as_object().unwrap();
        let keys: Vec<&str> = entry.keys().map(String::as_str).collect();
        let mut expected = [
            "name",
            "kind",
            "url",
            "key",
            "pinned_at",
            "pinned_by",
            "last_sequence",
            "applied_at",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected, "the documented shape");
        assert_eq!(entry["name"], "alpha.example");
        assert_eq!(entry["kind"], Value::Null);
        assert_eq!(entry["url"], Value::Null);
        assert_eq!(entry["key"], key.as_str());
        assert_eq!(entry["pinned_by"], "accept-new");
        assert_eq!(entry["last_sequence"], 1);
        assert!(entry["applied_at"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn one_key_is_refused_for_a_second_origin_and_a_disagreeing_key_line_named() {
    for (alpha, beta) in pairs().await {
        let key = alpha.key();
        beta.ok(&["sync", "peers", "pin", "alpha.example", "--key", &key]);
        let before = beta.snapshot().await;
        let err = beta.fails(&["sync", "peers", "pin", "gamma.example", "--key", &key]);
        assert!(
            err.contains("already pinned for alpha.example")
                && err.contains("one key cannot be pinned for two origins"),
            "{err}"
        );
        assert_eq!(beta.snapshot().await, before, "nothing changed");
        let err = beta.fails(&[
            "sync",
            "peers",
            "add",
            "gamma.example",
            "--url",
            "https://hub.example",
            "--key",
            &key,
        ]);
        assert!(
            err.contains("one key cannot be pinned for two origins"),
            "{err}"
        );
        assert_eq!(beta.snapshot().await, before, "nor the registry written");

        // A hand-written Key line that disagrees with the pin stops every
        // command that reads the registry, naming both keys.
        let other = stranger("alpha.example").await.key();
        let text =
            format!("Name: alpha.example\nKind: peer\nURL: https://hub.example\nKey: {other}\n");
        std::fs::write(beta.path("sync_peers.txt"), &text).unwrap();
        let before = beta.snapshot().await;
        for args in [
            &["sync", "peers", "list"][..],
            &["sync", "pull"][..],
            &["sync", "import", "anything"][..],
        ] {
            let err = beta.fails(args);
            assert!(err.contains(&key) && err.contains(&other), "{err}");
            assert!(
                err.contains(&format!("wb sync peers pin alpha.example --key {other}")),
                "{err}"
            );
            assert_eq!(beta.snapshot().await, before, "nothing changed");
        }
        // Settled on purpose: the pin moves, the Key line is dropped.
        let out = beta.ok(&["sync", "peers", "pin", "alpha.example", "--key", &other]);
        assert!(out.contains(&format!("(was {key})")), "{out}");
        let text = std::fs::read_to_string(beta.path("sync_peers.txt")).unwrap();
        assert!(!text.contains("Key:"), "{text}");
        assert!(text.contains("Name: alpha.example"), "{text}");
        assert_eq!(beta.peers_json()[0]["key"], other.as_str());
    }
}

#[tokio::test]
async fn peers_pin_reset_sequence_recovers_a_frozen_origin() {
    for (alpha, beta) in pairs().await {
        // alpha's database says it last exported sequence 2^63-2: its next
        // bundle has the largest sequence there is.
        let store = Store::connect(&alpha.db.url, false).await.unwrap();
        let frozen = u64::try_from(i64::MAX).unwrap();
        store.set_export_state(frozen - 1, None).await.unwrap();
        let bundle = alpha.export("frozen");
        let key = alpha.key();
        let out = beta.ok(&["sync", "import", &bundle, "--key", &key]);
        assert!(out.contains(&format!("sequence {frozen}")), "{out}");

        // alpha starts counting again; its new bundle is "not newer".
        store.set_export_state(1, None).await.unwrap();
        store.close().await;
        alpha.add_public_member("bob");
        let next = alpha.export("next");
        let before = beta.snapshot().await;
        let err = beta.fails(&["sync", "import", &next]);
        assert!(err.contains("is not newer than sequence"), "{err}");
        assert_eq!(beta.snapshot().await, before, "nothing changed");

        let out = beta.run(&[
            "sync",
            "peers",
            "pin",
            "alpha.example",
            "--key",
            &key,
            "--reset-sequence",
        ]);
        assert!(
            out.stdout
                .contains(&format!("alpha.example is already pinned to key {key}")),
            "{}",
            out.stdout
        );
        assert!(
            out.stderr.contains(&format!(
                "warning: forgot that sequence {frozen} of alpha.example was applied"
            )),
            "{}",
            out.stderr
        );
        assert_eq!(beta.peers_json()[0]["last_sequence"], Value::Null);
        let out = beta.ok(&["sync", "import", &next]);
        assert!(out.contains("imported alpha.example sequence 2"), "{out}");
        assert_eq!(beta.peers_json()[0]["last_sequence"], 2);
    }
}

#[tokio::test]
async fn the_same_bundle_imported_twice_at_once_is_imported_once() {
    for (alpha, beta) in pairs().await {
        let bundle = alpha.export("out");
        let key = alpha.key();
        beta.ok(&["sync", "peers", "pin", "alpha.example", "--key", &key]);
        let spawn = || {
            std::process::Command::new(assert_cmd::cargo::cargo_bin!("wb"))
                .current_dir(beta.dir.path())
                .env_remove("WB_DATABASE_URL")
                .args(["--database-url", &beta.db.url, "sync", "import", &bundle])
                .output()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(spawn);
            let b = s.spawn(spawn);
            (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
        });
        let outputs: Vec<String> = [&a, &b]
            .iter()
            .map(|o| {
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                String::from_utf8(o.stdout.clone()).unwrap()
            })
            .collect();
        let imported = outputs
            .iter()
            .filter(|o| o.contains("imported alpha.example sequence 1"))
            .count();
        let already = outputs
            .iter()
            .filter(|o| o.contains("already imported"))
            .count();
        assert_eq!((imported, already), (1, 1), "{outputs:?}");
    }
}
