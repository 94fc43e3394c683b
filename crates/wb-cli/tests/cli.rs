//! The real `wb` binary against temporary instances: SQLite directories and,
//! when `WB_TEST_POSTGRES_URL` is set, Postgres schemas via --database-url.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use wb_model::Uuid;
use wb_store::testing::TestDb;

/// `wb` pointed at one test database.
struct Wb {
    db: TestDb,
    dir: tempfile::TempDir,
}

impl Wb {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("wb"));
        cmd.current_dir(self.dir.path())
            .env_remove("WB_DATABASE_URL")
            .arg("--database-url")
            .arg(&self.db.url);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self
            .cmd()
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self
            .cmd()
            .args(args)
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let stderr = String::from_utf8(out).unwrap();
        assert_eq!(stderr.lines().count(), 1, "one-line error, got: {stderr}");
        stderr
    }

    fn list(&self, entity: &str) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["list", entity, "--json"])).unwrap()
    }
}

async fn instances() -> Vec<Wb> {
    let mut all = Vec::new();
    for db in TestDb::all().await {
        all.push(Wb {
            db,
            dir: tempfile::tempdir().unwrap(),
        });
    }
    all
}

fn demo() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/demo")
        .display()
        .to_string()
}

fn created_id(stdout: &str) -> String {
    let line = stdout.lines().next().unwrap();
    Uuid::parse_str(line).unwrap_or_else(|_| panic!("expected an id, got {stdout:?}"));
    line.to_owned()
}

#[tokio::test]
async fn init_with_fixtures_shows_scopes() {
    for wb in instances().await {
        let out = wb.ok(&["init", "--instance", "alpha.example", "--fixtures", &demo()]);
        assert!(
            out.contains("loaded 4 users, 4 requests, 4 comments, 5 invites"),
            "{out}"
        );
        let users = wb.list("user");
        assert_eq!(users.len(), 4);
        let requests = wb.list("request");
        let effective: Vec<&str> = requests
            .iter()
            .map(|r| r["effective"].as_str().unwrap())
            .collect();
        assert_eq!(effective, ["public", "public", "private", "held-back"]);
        assert!(
            requests[3]["held_back_reason"]
                .as_str()
                .unwrap()
                .contains("its author")
        );
        // Listings show no secrets.
        let table = wb.ok(&["list", "user"]);
        assert!(
            table.contains("Ada Okafor") && !table.contains("@alpha.example"),
            "{table}"
        );
        let invites = wb.ok(&["list", "invite", "--json"]);
        assert!(!invites.contains("code"), "{invites}");
        // Re-running migrate is a no-op.
        assert_eq!(wb.ok(&["migrate"]), "database is up to date\n");
    }
}

#[tokio::test]
async fn create_rows_and_toggle_scopes() {
    for wb in instances().await {
        wb.ok(&["init", "--instance", "alpha.example"]);
        created_id(&wb.ok(&[
            "user",
            "add",
            "ada",
            "--role",
            "admin",
            "--email",
            "ada@x.invalid",
        ]));
        created_id(&wb.ok(&[
            "user",
            "add",
            "ben",
            "--role",
            "moderator",
            "--invited-by",
            "ada",
        ]));
        created_id(&wb.ok(&["user", "add", "cleo"]));
        let request = created_id(&wb.ok(&[
            "request", "add", "--as", "cleo", "--title", "Ladder", "--body", "Sat",
        ]));
        let comment = created_id(&wb.ok(&[
            "comment",
            "add",
            "--as",
            "ben",
            "--request",
            &request,
            "--body",
            "Mine",
        ]));

        let show = wb.ok(&["scope", "show", "request", &request]);
        assert!(
            show.contains("own scope: private") && show.contains("effective: Private"),
            "{show}"
        );

        // Denied: a moderator may not publish; one line naming the rule; nothing changes.
        let err = wb.fails(&["scope", "set", "request", &request, "public", "--as", "ben"]);
        assert!(
            err.contains("denied by rule moderator-private-only"),
            "{err}"
        );
        assert!(
            wb.ok(&["scope", "show", "request", &request])
                .contains("own scope: private")
        );

        let out = wb.ok(&[
            "scope", "set", "request", &request, "public", "--as", "cleo",
        ]);
        assert!(
            out.contains("is now public (effective: Public, held back: its author"),
            "{out}"
        );
        wb.ok(&["scope", "set", "user", "cleo", "public", "--as", "cleo"]);
        let show = wb.ok(&["scope", "show", "request", &request]);
        assert!(show.contains("effective: Public\n"), "{show}");
        let out = wb.ok(&["scope", "set", "comment", &comment, "public", "--as", "ben"]);
        assert!(
            out.contains("held back: its author"),
            "ben's profile is private: {out}"
        );

        let invite = wb.ok(&["invite", "add", "--as", "ada"]);
        let mut lines = invite.lines();
        created_id(lines.next().unwrap());
        let code = lines.next().unwrap().to_owned();
        created_id(&wb.ok(&["invite", "accept", &code, "dora"]));
        let err = wb.fails(&["invite", "accept", &code, "eli"]);
        assert!(err.contains("no pending invite has this code"), "{err}");
        assert_eq!(wb.list("user").len(), 4);
    }
}

#[tokio::test]
async fn bad_input_gets_one_line_that_says_what_to_do() {
    for wb in instances().await {
        wb.ok(&["init", "--instance", "alpha.example"]);
        let err = wb.fails(&["request", "add", "--as", "nobody", "--title", "t"]);
        assert!(
            err.contains("no local user \"nobody\": list users with `wb list user`"),
            "{err}"
        );
        let err = wb.fails(&["scope", "show", "request", "not-a-uuid"]);
        assert!(err.contains("wb list request"), "{err}");
        let missing = Uuid::now_v7().to_string();
        let err = wb.fails(&["scope", "show", "comment", &missing]);
        assert!(
            err.contains(&format!("no comment with id {missing}")),
            "{err}"
        );
        let err = wb.fails(&["init", "--instance", "beta.example"]);
        assert!(
            err.contains("already belongs to instance alpha.example"),
            "{err}"
        );
        let err = wb.fails(&["init", "--instance", "Bad Name"]);
        assert!(err.contains("invalid instance name"), "{err}");
    }
    // Unknown entity: clap's usage error, exit code 2.
    let wb = Wb {
        db: TestDb::sqlite().await,
        dir: tempfile::tempdir().unwrap(),
    };
    wb.cmd()
        .args(["list", "post"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "possible values: user, request, comment, invite, vouch",
        ));
}

#[test]
fn a_missing_instance_or_bad_url_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let wb = || {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("wb"));
        cmd.current_dir(dir.path()).env_remove("WB_DATABASE_URL");
        cmd
    };
    wb().args(["list", "user"]).assert().failure().stderr(
        predicate::str::contains("no wb instance in")
            .and(predicate::str::contains("run `wb init --instance NAME`")),
    );
    assert!(
        !dir.path().join("wb.db").exists(),
        "a failed command creates nothing"
    );
    wb().args(["--database-url", "mysql://root@localhost/x", "list", "user"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("use sqlite://PATH or postgres://"));
    // The default instance is the directory's wb.db, created by init.
    wb().args(["init", "--instance", "alpha.example"])
        .assert()
        .success();
    assert!(dir.path().join("wb.db").exists());
    wb().args(["list", "user"])
        .assert()
        .success()
        .stdout("no user rows\n");
}

#[test]
fn help_has_examples() {
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["scope", "set", "--help"],
        &["list", "--help"],
    ] {
        Command::new(assert_cmd::cargo::cargo_bin!("wb"))
            .args(args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
}

fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[tokio::test]
async fn two_instances_exchange_bundles_by_directory() {
    let mut alphas = instances().await;
    let mut betas = instances().await;
    while let (Some(alpha), Some(beta)) = (alphas.pop(), betas.pop()) {
        alpha.ok(&["init", "--instance", "alpha.example", "--fixtures", &demo()]);
        beta.ok(&["init", "--instance", "beta.example"]);

        // keygen prints the one-line public key; export reuses it silently.
        let key = alpha.ok(&["sync", "keygen"]);
        assert!(key.starts_with("RW") && key.trim().len() == 56, "{key}");
        // Again: the same key, printed for peers, and success.
        assert_eq!(alpha.ok(&["sync", "keygen"]), key);
        let out = alpha
            .cmd()
            .args(["sync", "export"])
            .assert()
            .success()
            .get_output()
            .clone();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.contains("exported 10 files of alpha.example"),
            "{stdout}"
        );
        assert!(stdout.contains("(sequence 1)"), "{stdout}");
        assert!(
            stdout.contains("10 rendered, 10 written, 0 removed"),
            "{stdout}"
        );
        assert!(out.stderr.is_empty(), "no key warning: the key existed");
        let bundle = alpha.dir.path().join("data/public_sync");
        let manifest = std::fs::read_to_string(bundle.join("manifest.sync.txt")).unwrap();
        assert!(
            manifest.contains(&format!("Public-Key: {}", key.trim())),
            "{manifest}"
        );

        // No pin for alpha yet and no --key or --accept-new-keys: refused,
        // naming the bundle's key and both ways on; no key created.
        let err = beta.fails(&["sync", "import", bundle.to_str().unwrap()]);
        assert!(err.contains("no key is pinned for alpha.example"), "{err}");
        assert!(err.contains(&format!("--key {}", key.trim())), "{err}");
        assert!(err.contains("--accept-new-keys"), "{err}");
        assert!(
            !beta.dir.path().join(".sync/keys").exists(),
            "a refused import creates no key"
        );

        // Beta's first import pins the key it was given, creates beta's key
        // and says where, once.
        let out = beta
            .cmd()
            .args(["sync", "import", "--key", key.trim()])
            .arg(&bundle)
            .assert()
            .success()
            .get_output()
            .clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("warning: created a new signing key for beta.example at"),
            "{stderr}"
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains("pinned key RW"), "{stdout}");
        assert!(
            stdout.contains(
                "imported alpha.example sequence 1: 10 added, 0 updated, 0 unchanged, 0 retracted"
            ),
            "{stdout}"
        );
        let again = beta.ok(&["sync", "import", bundle.to_str().unwrap()]);
        assert!(again.contains("already imported; nothing to do"), "{again}");
        let out = beta
            .cmd()
            .args(["sync", "import"])
            .arg(&bundle)
            .assert()
            .success()
            .get_output()
            .clone();
        assert!(out.stderr.is_empty(), "the key warning appears once");

        // What arrived is listed, read-only.
        let requests = beta.list("request");
        assert_eq!(requests.len(), 2);
        assert!(requests.iter().all(|r| r["origin"] == "alpha.example"));
        let id = requests[0]["id"].as_str().unwrap().to_owned();
        beta.ok(&["user", "add", "bo", "--role", "admin"]);
        let err = beta.fails(&["scope", "set", "request", &id, "private", "--as", "bo"]);
        assert!(err.contains("imported-read-only"), "{err}");

        // Lossless: beta's copy of alpha's rows is byte-identical.
        beta.ok(&[
            "sync",
            "export",
            "--instance",
            "alpha.example",
            "--out",
            "relay",
        ]);
        assert_eq!(tree(&beta.dir.path().join("relay")), tree(&bundle));

        // A wrong --key is refused.
        let err = beta.fails(&[
            "sync",
            "import",
            bundle.to_str().unwrap(),
            "--key",
            "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3",
        ]);
        assert!(
            err.contains("the key expected for alpha.example is"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn serve_refuses_a_public_bind_without_public() {
    let wb = Wb {
        db: TestDb::sqlite().await,
        dir: tempfile::tempdir().unwrap(),
    };
    wb.ok(&["init", "--instance", "alpha.example"]);
    let err = wb.fails(&["serve", "--bind", "0.0.0.0:0"]);
    assert!(err.contains("--public"), "{err}");
}

#[tokio::test]
async fn vouching_works_from_piped_answers_and_never_duplicates() {
    for wb in instances().await {
        wb.ok(&["init", "--instance", "alpha.example", "--fixtures", &demo()]);
        wb.ok(&["user", "add", "zed"]);
        let out = wb
            .cmd()
            .args(["sync", "vouch"])
            .write_stdin("ben\nmaybe\ny\nn\n")
            .assert()
            .success()
            .get_output()
            .clone();
        let (stdout, stderr) = (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        );
        assert!(stderr.contains("your username:"), "{stderr}");
        assert!(
            stderr.contains("vouch for @ada (Ada Okafor, alpha.example)? [y/n]"),
            "{stderr}"
        );
        assert!(stderr.contains("please answer y, yes, n or no"), "{stderr}");
        assert!(
            stdout.contains("vouched for @ada (alpha.example)"),
            "{stdout}"
        );
        assert!(
            stdout.contains("1 vouch(es) made, 1 declined, 0 not asked"),
            "{stdout}"
        );

        let out = wb
            .cmd()
            .args(["sync", "vouch", "--as", "ben"])
            .write_stdin("yes\n")
            .assert()
            .success()
            .get_output()
            .clone();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.contains("vouched for @zed"),
            "only zed is left: {stdout}"
        );
        let again = wb
            .cmd()
            .args(["sync", "vouch", "--as", "ben"])
            .write_stdin("")
            .assert()
            .success()
            .get_output()
            .clone();
        assert!(
            String::from_utf8(again.stdout)
                .unwrap()
                .contains("nobody left to vouch for")
        );
        let vouches = wb.list("vouch");
        assert_eq!(vouches.len(), 2);
        let id = vouches[0]["id"].as_str().unwrap().to_owned();
        let err = wb.fails(&["scope", "set", "vouch", &id, "public", "--as", "dev"]);
        assert!(err.contains("voucher"), "{err}");
        wb.ok(&["scope", "set", "vouch", &id, "public", "--as", "ben"]);
        let out = wb.ok(&["sync", "export"]);
        assert!(out.contains("exported 11 files"), "{out}");
    }
}

/// A hub on a loopback port, in its own thread and actix system, with
/// alpha.example registered under `alpha_key`; returns its URL, an upload
/// token for alpha and the server's handle.
fn start_hub(
    alpha_key: String,
) -> (
    String,
    String,
    actix_web::dev::ServerHandle,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let store = wb_store::hub::HubStore::connect(&url, true).await.unwrap();
            store.migrate().await.unwrap();
            wb_hub::admin::add_instance(&store, "alpha.example", &alpha_key)
                .await
                .unwrap();
            let token = wb_hub::admin::issue_token(&store, "alpha.example")
                .await
                .unwrap()
                .reveal();
            let hub = wb_hub::server::bind(
                store,
                wb_hub::server::HubConfig::default(),
                "127.0.0.1:0".parse().unwrap(),
            )
            .unwrap();
            sender
                .send((format!("http://{}", hub.addr), token, hub.server.handle()))
                .unwrap();
            hub.server.await.unwrap();
        });
    });
    let (url, token, handle) = receiver.recv().unwrap();
    (url, token, handle, dir)
}

#[tokio::test]
async fn push_and_pull_through_a_hub() {
    let mut pairs = vec![(TestDb::sqlite().await, TestDb::sqlite().await)];
    if let (Some(a), Some(b)) = (TestDb::postgres().await, TestDb::postgres().await) {
        pairs.push((a, b));
    }
    for (a, b) in pairs {
        let alpha = Wb {
            db: a,
            dir: tempfile::tempdir().unwrap(),
        };
        let beta = Wb {
            db: b,
            dir: tempfile::tempdir().unwrap(),
        };
        alpha.ok(&["init", "--instance", "alpha.example", "--fixtures", &demo()]);
        beta.ok(&["init", "--instance", "beta.example"]);
        let key = alpha.ok(&["sync", "keygen"]).trim().to_owned();
        let (hub, token, handle, _hub_dir) = start_hub(key.clone());

        // Push: the token comes from the environment or a file.
        let err = alpha.fails(&["sync", "push", "--hub", &hub]);
        assert!(err.contains("WB_HUB_TOKEN"), "{err}");
        let out = alpha
            .cmd()
            .env("WB_HUB_TOKEN", &token)
            .args(["sync", "push", "--hub", &hub])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("pushed alpha.example sequence 1"), "{out}");
        assert!(out.contains("published"), "{out}");
        std::fs::write(alpha.dir.path().join("token"), &token).unwrap();
        alpha.ok(&[
            "sync",
            "peers",
            "add",
            "hub.example",
            "--url",
            &hub,
            "--kind",
            "hub",
        ]);
        let out = alpha.ok(&[
            "sync",
            "push",
            "--hub",
            "hub.example",
            "--token-file",
            "token",
        ]);
        assert!(out.contains("unchanged"), "{out}");
        let bad = alpha.dir.path().join("bad-token");
        std::fs::write(
            &bad,
            "wbt_000000000000_0000000000000000000000000000000000000000000000000000000000000000",
        )
        .unwrap();
        let err = alpha.fails(&[
            "sync",
            "push",
            "--hub",
            &hub,
            "--token-file",
            bad.to_str().unwrap(),
        ]);
        assert!(
            err.contains("unknown-token") && err.contains("HTTP 403"),
            "{err}"
        );

        // Pull: a wrong pin is refused before anything is imported.
        let other = wb_crypto::SigningKey::generate()
            .unwrap()
            .public_key()
            .to_minisign_base64();
        beta.ok(&[
            "sync",
            "peers",
            "add",
            "alpha.example",
            "--url",
            &hub,
            "--key",
            &other,
        ]);
        let err = beta.fails(&["sync", "pull"]);
        assert!(
            err.contains("alpha.example: the bundle of alpha.example from the hub is refused"),
            "{err}"
        );
        assert!(beta.list("request").is_empty());
        beta.ok(&["sync", "peers", "remove", "alpha.example"]);
        beta.ok(&[
            "sync",
            "peers",
            "add",
            "alpha.example",
            "--url",
            &hub,
            "--key",
            &key,
        ]);
        let listed = beta.ok(&["sync", "peers", "list"]);
        assert!(listed.contains("alpha.example\tpeer"), "{listed}");

        let out = beta.ok(&["sync", "pull", "--no-import"]);
        assert!(out.contains("not imported"), "{out}");
        assert!(beta.list("request").is_empty());
        let out = beta.ok(&["sync", "pull", "--hub", &hub]);
        assert!(
            out.contains("not downloaded") && out.contains("imported: "),
            "{out}"
        );
        assert!(!beta.list("request").is_empty());
        let out = beta.ok(&["sync", "pull"]);
        assert!(out.contains("already imported"), "{out}");

        // An unreachable hub is one clear line.
        handle.stop(false).await;
        let err = beta.fails(&["sync", "pull"]);
        assert!(err.contains("cannot reach the hub"), "{err}");
    }
}
