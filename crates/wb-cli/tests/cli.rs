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

#[path = "cli/hostile_hub.rs"]
mod hostile_hub;

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

/// The value of `field` of the row `id` in `wb list ENTITY --json`.
fn field(wb: &Wb, entity: &str, id: &str, field: &str) -> Value {
    wb.list(entity)
        .into_iter()
        .find(|row| row["id"] == id)
        .map_or(Value::Null, |row| row[field].clone())
}

/// Edits, deletions and revocations (issue #14 §1): the permission rules
/// hold, and each change reaches a peer as an update or a retraction.
#[tokio::test]
async fn rows_change_and_go_away_and_peers_follow() {
    let mut alphas = instances().await;
    let mut betas = instances().await;
    while let (Some(alpha), Some(beta)) = (alphas.pop(), betas.pop()) {
        alpha.ok(&["init", "--instance", "alpha.example"]);
        beta.ok(&["init", "--instance", "beta.example"]);
        alpha.ok(&["user", "add", "erin", "--email", "erin@example.org"]);
        alpha.ok(&["user", "add", "frank"]);
        alpha.ok(&["user", "add", "ada", "--role", "admin"]);
        alpha.ok(&["scope", "set", "user", "erin", "public", "--as", "erin"]);
        let request = created_id(&alpha.ok(&[
            "request",
            "add",
            "--as",
            "erin",
            "--title",
            "Borrow a drill",
            "--body",
            "Sunday",
        ]));
        let comment = created_id(&alpha.ok(&[
            "comment",
            "add",
            "--as",
            "erin",
            "--request",
            &request,
            "--body",
            "Any size",
        ]));
        let invite = created_id(&alpha.ok(&["invite", "add", "--as", "erin"]));
        for (entity, id) in [
            ("request", &request),
            ("comment", &comment),
            ("invite", &invite),
        ] {
            alpha.ok(&["scope", "set", entity, id, "public", "--as", "erin"]);
        }
        let key = alpha.ok(&["sync", "keygen"]);
        let bundle = alpha.dir.path().join("data/public_sync");
        let bundle = bundle.to_str().unwrap();
        let summary: Value =
            serde_json::from_str(&alpha.ok(&["sync", "export", "--json"])).unwrap();
        assert_eq!(summary["origin"], "alpha.example");
        assert_eq!(summary["sequence"], 1);
        assert_eq!(summary["files"], 4);
        assert_eq!(summary["changed"], true);
        assert_eq!(summary["strategy"], "fresh");
        let out: Value = serde_json::from_str(&beta.ok(&[
            "sync",
            "import",
            bundle,
            "--key",
            key.trim(),
            "--json",
        ]))
        .unwrap();
        assert_eq!(out["applied"], 1);
        assert_eq!(out["bundles"][0]["result"], "applied");
        assert_eq!(out["bundles"][0]["origin"], "alpha.example");
        assert_eq!(out["bundles"][0]["counts"]["added"], 4);
        assert_eq!(out["bundles"][0]["pinned_key"], key.trim());
        // A refusal in JSON: its stable code, and a non-zero exit.
        let refused = alpha
            .cmd()
            .args(["sync", "import", bundle, "--json"])
            .assert()
            .failure()
            .get_output()
            .stdout
            .clone();
        let refused: Value = serde_json::from_slice(&refused).unwrap();
        assert_eq!(refused["refused"], 1);
        assert_eq!(refused["bundles"][0]["refusal"]["code"], "own-bundle");

        // The rules: owner or admin; roles by admins; imported rows read-only.
        let err = alpha.fails(&[
            "request", "edit", &request, "--as", "frank", "--title", "Mine",
        ]);
        assert!(err.contains("denied by rule owner-or-admin"), "{err}");
        let err = alpha.fails(&["comment", "delete", &comment, "--as", "frank"]);
        assert!(err.contains("owner-or-admin"), "{err}");
        let err = alpha.fails(&["user", "edit", "erin", "--as", "erin", "--role", "admin"]);
        assert!(err.contains("denied by rule admin-only"), "{err}");
        beta.ok(&["user", "add", "bo", "--role", "admin"]);
        let err = beta.fails(&[
            "request", "edit", &request, "--as", "bo", "--status", "closed",
        ]);
        assert!(err.contains("imported-read-only"), "{err}");
        assert_eq!(
            field(&alpha, "request", &request, "title"),
            "Borrow a drill"
        );

        // Edits travel as updates.
        alpha.ok(&[
            "user",
            "edit",
            "erin",
            "--as",
            "erin",
            "--bio",
            "Fixes bikes",
        ]);
        alpha.ok(&[
            "user",
            "edit",
            "erin",
            "--as",
            "ada",
            "--role",
            "moderator",
            "--no-email",
        ]);
        let out = alpha.ok(&[
            "request",
            "edit",
            &request,
            "--as",
            "erin",
            "--status",
            "fulfilled",
            "--title",
            "Borrow a big drill",
        ]);
        assert!(out.contains("fulfilled"), "{out}");
        alpha.ok(&[
            "comment",
            "edit",
            &comment,
            "--as",
            "ada",
            "--body",
            "Any size, really",
        ]);
        assert_eq!(
            alpha
                .ok(&["invite", "revoke", &invite, "--as", "erin"])
                .trim(),
            format!("invite {invite} is revoked")
        );
        alpha.ok(&["sync", "export"]);
        let out = beta.ok(&["sync", "import", bundle]);
        assert!(
            out.contains("0 added, 4 updated, 0 unchanged, 0 retracted"),
            "{out}"
        );
        assert_eq!(
            field(&beta, "request", &request, "title"),
            "Borrow a big drill"
        );
        assert_eq!(field(&beta, "request", &request, "status"), "fulfilled");
        assert_eq!(
            field(&beta, "comment", &comment, "body"),
            "Any size, really"
        );
        assert_eq!(field(&beta, "invite", &invite, "status"), "revoked");
        let users = beta.ok(&["user", "list", "--json"]);
        assert!(
            users.contains("Fixes bikes") && !users.contains("erin@example.org"),
            "{users}"
        );
        // Revoking a revoked invite changes nothing.
        let out = alpha.ok(&["invite", "revoke", &invite, "--as", "ada"]);
        assert_eq!(out.trim(), format!("invite {invite} is revoked"));

        // Deletions travel as retractions; a request takes its comments along.
        let err = alpha.fails(&["user", "delete", "erin", "--as", "ada"]);
        assert!(err.contains("denied by rule still-referenced"), "{err}");
        assert!(
            err.contains("1 request") && err.contains("private"),
            "{err}"
        );
        alpha
            .ok(&["request", "delete", &request, "--as", "erin"])
            .contains("and its 1 comment(s)")
            .then_some(())
            .unwrap();
        assert_eq!(field(&alpha, "comment", &comment, "id"), Value::Null);
        alpha.ok(&["sync", "export"]);
        let out = beta.ok(&["sync", "import", bundle]);
        assert!(out.contains("2 retracted"), "{out}");
        assert_eq!(field(&beta, "request", &request, "id"), Value::Null);
        assert_eq!(field(&beta, "comment", &comment, "id"), Value::Null);
        assert_eq!(
            alpha.ok(&["user", "delete", "frank", "--as", "ada"]).trim(),
            "deleted user @frank"
        );
        assert_eq!(alpha.list("user").len(), 2);
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
fn every_help_has_an_example_and_says_each_default_once() {
    let commands: &[&[&str]] = &[
        &[],
        &["init"],
        &["migrate"],
        &["fixtures"],
        &["fixtures", "load"],
        &["user"],
        &["user", "add"],
        &["user", "edit"],
        &["user", "delete"],
        &["user", "list"],
        &["request"],
        &["request", "add"],
        &["request", "edit"],
        &["request", "delete"],
        &["request", "list"],
        &["comment"],
        &["comment", "add"],
        &["comment", "edit"],
        &["comment", "delete"],
        &["comment", "list"],
        &["invite"],
        &["invite", "add"],
        &["invite", "accept"],
        &["invite", "revoke"],
        &["invite", "list"],
        &["scope"],
        &["scope", "set"],
        &["scope", "show"],
        &["list"],
        &["sync"],
        &["sync", "vouch"],
        &["sync", "keygen"],
        &["sync", "export"],
        &["sync", "import"],
        &["sync", "push"],
        &["sync", "pull"],
        &["sync", "peers", "add"],
        &["sync", "peers", "list"],
        &["sync", "peers", "remove"],
        &["serve"],
        &["completions"],
        &["man"],
    ];
    for args in commands {
        let out = Command::new(assert_cmd::cargo::cargo_bin!("wb"))
            .args(*args)
            .arg("--help")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let help = String::from_utf8(out).unwrap();
        assert!(
            help.contains("Example"),
            "wb {} --help: {help}",
            args.join(" ")
        );
        assert!(
            !help.contains("(default: ") && !help.contains("[default: \"\"]"),
            "wb {} --help states a default twice or an empty one: {help}",
            args.join(" ")
        );
    }
}

/// Issue #14 §3–§4: the small surprises an operator met.
#[tokio::test]
async fn operator_conveniences() {
    for wb in instances().await {
        wb.ok(&["init", "--instance", "alpha.example"]);
        wb.ok(&["user", "add", "erin"]);
        let err = wb.fails(&["user", "add", "erin"]);
        assert!(err.contains("user erin already exists"), "{err}");
        assert!(
            !err.contains("UNIQUE") && !err.contains("constraint"),
            "{err}"
        );

        // --key is checked when parsed, before anything is opened.
        for args in [
            &["sync", "import", "somewhere", "--key", "RWQnotakey"][..],
            &[
                "sync",
                "peers",
                "add",
                "x.example",
                "--url",
                "ftp://x",
                "--key",
                "RWQnotakey",
            ],
            &["sync", "peers", "pin", "x.example", "--key", "RWQnotakey"],
        ] {
            wb.cmd()
                .args(args)
                .assert()
                .code(2)
                .stderr(predicate::str::contains("not a public key"));
        }

        // A closed pipe ends quietly: 1,000 members list to well over a
        // pipe's buffer, and the reader stops after 100 bytes.
        let fixtures = tempfile::tempdir().unwrap();
        let users: Vec<Value> = (0..1000)
            .map(|i| serde_json::json!({"username": format!("member{i}"), "bio": "x".repeat(100)}))
            .collect();
        std::fs::write(
            fixtures.path().join("many.json"),
            serde_json::json!({ "users": users }).to_string(),
        )
        .unwrap();
        wb.ok(&["fixtures", "load", fixtures.path().to_str().unwrap()]);
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("wb"))
            .current_dir(wb.dir.path())
            .env_remove("WB_DATABASE_URL")
            .args(["--database-url", &wb.db.url, "list", "user", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 100];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Completions and man pages come from the grammar.
        for shell in ["bash", "zsh", "fish"] {
            let script = wb.ok(&["completions", shell]);
            assert!(
                script.contains("revoke") && script.contains("accept-new-keys"),
                "{shell}"
            );
        }
        let man = tempfile::tempdir().unwrap();
        wb.ok(&["man", "--out", man.path().to_str().unwrap()]);
        let page = std::fs::read_to_string(man.path().join("wb-sync-import.1")).unwrap();
        assert!(page.contains("accept\\-new\\-keys"), "{page}");
    }
}

/// Issue #14 §2: ids by unique prefix, users by `name@origin`, and
/// messages that name users and requests instead of printing UUIDs.
#[tokio::test]
async fn rows_are_named_by_prefix_and_name_and_named_back() {
    let mut alphas = instances().await;
    let mut betas = instances().await;
    while let (Some(alpha), Some(beta)) = (alphas.pop(), betas.pop()) {
        alpha.ok(&["init", "--instance", "alpha.example", "--fixtures", &demo()]);
        beta.ok(&["init", "--instance", "beta.example"]);

        // Held back because of a private user: the reason names her.
        let requests = alpha.list("request");
        let held = requests
            .iter()
            .find(|r| r["effective"] == "held-back")
            .unwrap();
        let reason = held["held_back_reason"].as_str().unwrap();
        assert!(reason.starts_with("its author @"), "{reason}");
        assert!(!reason.contains('-'), "no UUID in {reason}");
        let id = held["id"].as_str().unwrap();
        let shown = alpha.ok(&["scope", "show", "request", &id[..30]]);
        assert!(
            shown.contains(&format!("request {}", held["title"])),
            "{shown}"
        );
        assert!(shown.contains("held back: its author @"), "{shown}");

        // A unique prefix works everywhere an id does; a short or ambiguous
        // one is explained.
        let out = alpha.ok(&["scope", "set", "user", "ada", "private", "--as", "ada"]);
        assert_eq!(out.trim(), "user @ada is now private (effective: Private)");
        let err = alpha.fails(&["scope", "show", "request", "01"]);
        assert!(err.contains("at least 4"), "{err}");
        // UUID v7s made in the same millisecond share their first 13
        // characters (or, made in different ones, share fewer).
        let ids: Vec<&str> = requests.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let common = ids[0]
            .chars()
            .enumerate()
            .take_while(|(i, c)| ids.iter().all(|id| id[*i..].starts_with(*c)))
            .count();
        if common >= 4 {
            let err = alpha.fails(&["scope", "show", "request", &ids[0][..common]]);
            assert!(err.contains("names more than one request"), "{err}");
            assert!(err.contains("type more of the id"), "{err}");
        }

        // An imported user is `name@origin` on the importing instance.
        alpha.ok(&["scope", "set", "user", "ada", "public", "--as", "ada"]);
        let key = alpha.ok(&["sync", "keygen"]);
        alpha.ok(&["sync", "export"]);
        let bundle = alpha.dir.path().join("data/public_sync");
        beta.ok(&[
            "sync",
            "import",
            bundle.to_str().unwrap(),
            "--key",
            key.trim(),
        ]);
        let shown = beta.ok(&["scope", "show", "user", "ada@alpha.example"]);
        assert!(shown.starts_with("user @ada@alpha.example\n"), "{shown}");
        assert!(shown.contains("imported, read-only here"), "{shown}");
        let err = beta.fails(&["scope", "show", "user", "ada"]);
        assert!(err.contains("no local user \"ada\""), "{err}");
        let shown: Value = serde_json::from_str(&beta.ok(&[
            "scope",
            "show",
            "user",
            "ada@alpha.example",
            "--json",
        ]))
        .unwrap();
        assert_eq!(shown["name"], "@ada@alpha.example");
        assert_eq!(shown["origin"], "alpha.example");
        assert_eq!(shown["local"], false);
        assert_eq!(shown["scope"], "public");
        assert_eq!(shown["effective"], "public");
        let shown: Value =
            serde_json::from_str(&alpha.ok(&["scope", "show", "request", id, "--json"])).unwrap();
        assert_eq!(shown["effective"], "held-back");
        assert!(
            shown["held_back_reason"]
                .as_str()
                .unwrap()
                .starts_with("its author @"),
            "{shown}"
        );
    }
}

/// `wb -C DIR fixtures load FIXTURES` loads into DIR's instance, whatever
/// the current directory (the fixtures' directory used to be taken as the
/// instance).
#[test]
fn fixtures_load_into_the_instance_of_dash_c() {
    let cwd = tempfile::tempdir().unwrap();
    let wb = || {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("wb"));
        cmd.current_dir(cwd.path()).env_remove("WB_DATABASE_URL");
        cmd
    };
    wb().args(["-C", "alpha", "init", "--instance", "alpha.example"])
        .assert()
        .success();
    wb().args(["-C", "alpha", "fixtures", "load", &demo()])
        .assert()
        .success()
        .stdout(predicate::str::contains("loaded 4 users"));
    wb().args(["-C", "alpha", "list", "user"])
        .assert()
        .success()
        .stdout(predicate::str::contains("@ada"));
    assert!(!Path::new(&demo()).join("wb.db").exists());
}

#[test]
fn serve_takes_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let wb = || {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("wb"));
        cmd.current_dir(dir.path()).env_remove("WB_DATABASE_URL");
        cmd
    };
    wb().args(["init", "--instance", "alpha.example"])
        .assert()
        .success();
    wb().args(["serve", "--bind", "no-such-host.invalid:8090"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not HOST:PORT"));
    // localhost resolves to a loopback address: served without --public.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("wb"))
        .current_dir(dir.path())
        .env_remove("WB_DATABASE_URL")
        .args(["serve", "--bind", "localhost:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        line.contains("http://127.0.0.1:") || line.contains("http://[::1]:"),
        "{line}"
    );
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
        assert!(err.trim_end().ends_with(" [key-not-pinned]"), "{err}");
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
        assert!(err.trim_end().ends_with(" [key-mismatch]"), "{err}");
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
        // peers add never changes a pin; peers pin does, on purpose.
        beta.ok(&["sync", "peers", "remove", "alpha.example"]);
        let err = beta.fails(&[
            "sync",
            "peers",
            "add",
            "alpha.example",
            "--url",
            &hub,
            "--key",
            &key,
        ]);
        assert!(err.contains("wb sync peers pin alpha.example"), "{err}");
        beta.ok(&["sync", "peers", "add", "alpha.example", "--url", &hub]);
        beta.ok(&["sync", "peers", "pin", "alpha.example", "--key", &key]);
        let listed = beta.ok(&["sync", "peers", "list"]);
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with("alpha.example  peer") && l.contains(&key)),
            "{listed}"
        );

        let out = beta.ok(&["sync", "pull", "--no-import"]);
        assert!(out.contains("not imported"), "{out}");
        assert!(beta.list("request").is_empty());
        let out = beta.ok(&["sync", "pull", "--hub", &hub]);
        assert!(
            out.contains("not downloaded") && out.contains("imported: "),
            "{out}"
        );
        assert!(!beta.list("request").is_empty());
        let out: Value = serde_json::from_str(&beta.ok(&["sync", "pull", "--json"])).unwrap();
        assert_eq!(out["failed"], 0);
        assert_eq!(out["peers"][0]["name"], "alpha.example");
        assert_eq!(out["peers"][0]["result"], "already-imported");
        assert_eq!(out["peers"][0]["downloaded"], false);
        let receipt: Value = serde_json::from_str(&alpha.ok(&[
            "sync",
            "push",
            "--hub",
            &hub,
            "--token-file",
            "token",
            "--json",
        ]))
        .unwrap();
        assert_eq!(receipt["instance"], "alpha.example");
        assert_eq!(receipt["status"], "unchanged");

        // An unreachable hub is one clear line.
        handle.stop(false).await;
        let err = beta.fails(&["sync", "pull"]);
        assert!(err.contains("cannot reach the hub"), "{err}");
    }
}

/// Everything of beta's that an import could change: its rows and what it
/// knows of alpha (pin, sequence).
async fn beta_state(beta: &Wb) -> (Vec<Vec<Value>>, Option<wb_store::OriginState>) {
    let rows = ["user", "request", "comment", "invite", "vouch"]
        .iter()
        .map(|entity| beta.list(entity))
        .collect();
    let alpha = wb_model::InstanceName::parse("alpha.example").unwrap();
    (rows, beta.db.store.origin_state(&alpha).await.unwrap())
}

/// The key the hub in `hub_dir` has registered for alpha.
async fn hub_key(hub_dir: &tempfile::TempDir) -> String {
    let url = format!("sqlite://{}", hub_dir.path().join("hub.db").display());
    let store = wb_store::hub::HubStore::connect(&url, false).await.unwrap();
    let alpha = wb_model::InstanceName::parse("alpha.example").unwrap();
    let key = store.instance(&alpha).await.unwrap().unwrap().public_key;
    store.close().await;
    key
}

#[tokio::test]
async fn a_rotated_key_travels_through_a_hub_and_a_forged_chain_is_refused() {
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
        let err = alpha.fails(&["sync", "keygen", "--rotate"]);
        assert!(err.contains("nothing to rotate"), "{err}");
        let old = alpha.ok(&["sync", "keygen"]).trim().to_owned();
        let (hub, token, handle, hub_dir) = start_hub(old.clone());
        let push = |who: &Wb| {
            let out = who
                .cmd()
                .env("WB_HUB_TOKEN", &token)
                .args(["sync", "push", "--hub", &hub])
                .assert()
                .success()
                .get_output()
                .stdout
                .clone();
            String::from_utf8(out).unwrap()
        };
        let out = push(&alpha);
        assert!(out.contains("pushed alpha.example sequence 1"), "{out}");
        // beta pins alpha's old key and imports its first bundle.
        beta.ok(&[
            "sync",
            "peers",
            "add",
            "alpha.example",
            "--url",
            &hub,
            "--key",
            &old,
        ]);
        beta.ok(&["sync", "pull"]);
        assert!(!beta.list("request").is_empty());

        // alpha rotates: a new key, the old one kept, a statement signed by it.
        let out = alpha
            .cmd()
            .args(["sync", "keygen", "--rotate"])
            .assert()
            .success()
            .get_output()
            .clone();
        let new = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let said = String::from_utf8(out.stderr).unwrap();
        assert_ne!(new, old);
        assert!(
            said.contains("rotated the signing key of alpha.example"),
            "{said}"
        );
        let keys = alpha.dir.path().join(".sync/keys");
        let chain = std::fs::read_to_string(keys.join("alpha.example.rotations")).unwrap();
        assert!(
            chain.starts_with(&format!("from: {old}\nto: {new}\n")),
            "{chain}"
        );
        let retired = std::fs::read_dir(keys.join("retired")).unwrap().count();
        assert_eq!(retired, 2, "the old key's .key and .pub are kept");
        // Plain keygen prints the new key, and says how to replace it.
        let out = alpha
            .cmd()
            .args(["sync", "keygen"])
            .assert()
            .success()
            .get_output()
            .clone();
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), new);
        let said = String::from_utf8(out.stderr).unwrap();
        assert!(said.contains("wb sync keygen --rotate"), "{said}");

        // alpha pushes with its usual token: the hub follows the chain.
        let out = push(&alpha);
        assert!(
            out.contains("pushed alpha.example sequence 2") && out.contains("published"),
            "{out}"
        );
        let bundle = alpha.dir.path().join("data/public_sync");
        assert_eq!(
            std::fs::read_to_string(bundle.join("key-rotations.txt")).unwrap(),
            chain
        );
        assert_eq!(hub_key(&hub_dir).await, new);

        // beta, which pinned the old key, follows the chain on pull.
        let out = beta.ok(&["sync", "pull"]);
        assert!(
            out.contains(&format!(
                "alpha.example: followed its key rotation: the pin moved from {old} to {new}"
            )),
            "{out}"
        );
        assert!(out.contains("alpha.example sequence 2"), "{out}");
        let (rows, state) = beta_state(&beta).await;
        let state = state.unwrap();
        assert_eq!(state.public_key, new);
        assert_eq!(state.last_sequence, 2);
        assert_eq!(state.key_rotations.as_deref(), Some(chain.as_str()));
        let listed = beta.ok(&["sync", "peers", "list", "--json"]);
        let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
        let entry = listed
            .iter()
            .find(|e| e["name"] == "alpha.example")
            .unwrap();
        assert_eq!(entry["key"], new.as_str(), "{entry}");
        assert_eq!(entry["pinned_by"], "rotation", "{entry}");
        let out = beta.ok(&["sync", "pull"]);
        assert!(out.contains("already imported"), "{out}");

        // beta's relay of alpha carries alpha's chain.
        beta.ok(&[
            "sync",
            "export",
            "--instance",
            "alpha.example",
            "--out",
            "relay",
        ]);
        assert_eq!(
            std::fs::read_to_string(beta.dir.path().join("relay/key-rotations.txt")).unwrap(),
            chain
        );

        // mallory, claiming to be alpha, signs with her own key and appends
        // a statement "alpha's new key → mallory" that she signed herself.
        let mallory = Wb {
            db: TestDb::sqlite().await,
            dir: tempfile::tempdir().unwrap(),
        };
        mallory.ok(&["init", "--instance", "alpha.example"]);
        mallory.ok(&["sync", "export", "--out", "forged"]);
        let mallory_key = wb_crypto::KeyStore::new(mallory.dir.path().join(".sync/keys"))
            .load("alpha.example")
            .unwrap();
        let new_key: wb_crypto::PublicKey = new.parse().unwrap();
        let statement = wb_crypto::RotationStatement::sign(
            "alpha.example",
            &mallory_key,
            &mallory_key.public_key(),
        )
        .unwrap()
        .to_text()
        .replacen(
            &format!("from: {}", mallory_key.public_key()),
            &format!("from: {new}"),
            1,
        )
        .replace(
            &format!("from={}", mallory_key.key_id()),
            &format!("from={}", new_key.key_id()),
        );
        let forged = mallory.dir.path().join("forged");
        std::fs::write(
            forged.join("key-rotations.txt"),
            format!("{chain}\n{statement}"),
        )
        .unwrap();
        assert_eq!(beta_state(&beta).await.0, rows);
        // Every table (rows, pins, high-water marks, the export's journal
        // and records), to show that a refusal changes nothing.
        let before = beta.db.snapshot().await;
        let err = beta.fails(&["sync", "import", forged.to_str().unwrap()]);
        assert!(
            err.contains("key-rotations.txt")
                && err.contains("does not lead from it")
                && err.contains("rotation statement 2"),
            "{err}"
        );
        assert_eq!(beta.db.snapshot().await, before, "nothing changed");
        // Without any chain, an unpinned key is refused just the same.
        std::fs::remove_file(forged.join("key-rotations.txt")).unwrap();
        let err = beta.fails(&["sync", "import", forged.to_str().unwrap()]);
        assert!(err.contains("carries no key rotation"), "{err}");
        assert_eq!(beta.db.snapshot().await, before, "nothing changed");
        handle.stop(false).await;
    }
}
