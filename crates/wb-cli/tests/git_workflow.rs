//! The manual workflow with git, through the real `wb` binary.
//!
//! `docs/workflow.md` runs as written: every ```sh block, in order, with
//! bash, the real `wb` first on `PATH`, real `git`, `HOME` a temporary
//! directory holding the instances (`~/alpha`, …) and the community's bare
//! repository (`~/community.git`). Between blocks, the test plays the
//! members (rows made with `wb`) and the steps the page shows for another
//! instance (beta joining), then checks what arrived where. The other tests
//! pin the command-line side: keygen, exit codes, refusals.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The ```sh blocks of a Markdown page, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_end() == "```sh" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unterminated ```sh block");
    blocks
}

/// The sandbox: a home directory, `wb` and `git` with a fixed identity.
struct Sandbox {
    home: tempfile::TempDir,
    path: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let wb = PathBuf::from(assert_cmd::cargo::cargo_bin!("wb"));
        let bin = wb.parent().unwrap().to_owned();
        let path = std::env::join_paths(
            std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        Sandbox {
            home: tempfile::tempdir().unwrap(),
            path: path.into_string().unwrap(),
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.home())
            .env("HOME", self.home())
            .env("PATH", &self.path)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Docs Test")
            .env("GIT_AUTHOR_EMAIL", "docs@example.org")
            .env("GIT_COMMITTER_NAME", "Docs Test")
            .env("GIT_COMMITTER_EMAIL", "docs@example.org")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("WB_DATABASE_URL")
            .env_remove("WB_HUB_TOKEN");
        cmd
    }

    /// Runs a block of the page with bash, stopping at its first failure;
    /// returns its standard output.
    fn run_block(&self, number: usize, block: &str) -> String {
        let out = self
            .command("bash")
            .args(["-euo", "pipefail", "-c", block])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "docs/workflow.md block {number} failed ({}):\n{block}\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `wb -C ~/NAME ARGS…`, which must succeed; its standard output.
    fn wb(&self, instance: &str, args: &[&str]) -> String {
        let out = self
            .command("wb")
            .arg("-C")
            .arg(self.home().join(instance))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wb -C ~/{instance} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn list(&self, instance: &str, entity: &str) -> Vec<Value> {
        serde_json::from_str(&self.wb(instance, &["list", entity, "--json"])).unwrap()
    }

    /// Rows of `entity` on `instance` that came from `origin`.
    fn rows_from(&self, instance: &str, entity: &str, origin: &str) -> Vec<Value> {
        self.list(instance, entity)
            .into_iter()
            .filter(|row| row["origin"] == origin)
            .collect()
    }

    /// A shell script run as glue (not part of the page).
    fn glue(&self, script: &str) {
        self.run_block(0, script);
    }

    /// A new instance `~/NAME` with a public member and a public request;
    /// returns the request's id.
    fn instance_with_request(&self, dir: &str, name: &str, user: &str, title: &str) -> String {
        self.wb(dir, &["init", "--instance", name]);
        self.wb(dir, &["user", "add", user, "--display-name", user]);
        self.wb(dir, &["scope", "set", "user", user, "public", "--as", user]);
        let request = self.wb(
            dir,
            &[
                "request", "add", "--as", user, "--title", title, "--body", "Please",
            ],
        );
        self.wb(
            dir,
            &["scope", "set", "request", &request, "public", "--as", user],
        );
        request
    }
}

#[test]
fn every_block_of_docs_workflow_runs() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/workflow.md"),
    )
    .unwrap();
    let blocks = sh_blocks(&page);
    assert_eq!(
        blocks.len(),
        6,
        "docs/workflow.md has another number of sh blocks: update this test's script"
    );
    let sandbox = Sandbox::new();
    let run = |n: usize| sandbox.run_block(n + 1, &blocks[n]);

    // Before the page: alpha exists with a public request; so does beta,
    // which has not joined the community yet.
    sandbox.instance_with_request("alpha", "alpha.example", "ada", "Borrow a ladder");
    let beta_request =
        sandbox.instance_with_request("beta", "beta.example", "bob", "Borrow a drill");

    // Starting a community: alpha creates the repository and publishes.
    run(0);
    assert!(
        sandbox
            .home()
            .join("alpha/data/public_sync/alpha.example/manifest.sync.txt")
            .is_file()
    );

    // Beta joins as the page's "new instance" section says (shown there for
    // gamma).
    sandbox.glue(
        "cd ~/beta
         git clone --quiet ~/community.git data/public_sync
         wb sync import data/public_sync --accept-new-keys
         wb sync export
         git -C data/public_sync add -A
         git -C data/public_sync commit --quiet -m 'beta.example: first bundle'
         git -C data/public_sync pull --rebase --quiet
         git -C data/public_sync push --quiet origin HEAD",
    );
    // Alpha receives beta's bundle (the page's receiving section, shown
    // there for beta): a new folder, refused until beta's key is pinned.
    sandbox.glue(
        "cd ~/alpha
         git -C data/public_sync pull --rebase --quiet
         ! wb sync import data/public_sync > ~/refused.txt
         wb sync import data/public_sync/beta.example --key \"$(tail -n 1 ~/beta/.sync/keys/beta.example.pub)\"
         wb sync import data/public_sync",
    );
    let refused = std::fs::read_to_string(sandbox.home().join("refused.txt")).unwrap();
    assert!(refused.contains("beta.example/: refused: "), "{refused}");
    assert!(refused.contains(" [key-not-pinned]\n"), "{refused}");
    assert!(refused.contains("1 refused"), "{refused}");
    // And ada comments on beta's request.
    let comment = sandbox.wb(
        "alpha",
        &[
            "comment",
            "add",
            "--as",
            "ada",
            "--request",
            &beta_request,
            "--body",
            "I have one",
        ],
    );
    sandbox.wb(
        "alpha",
        &["scope", "set", "comment", &comment, "public", "--as", "ada"],
    );

    // Publishing: alpha's bundle now refers to beta's request.
    run(1);
    // Receiving: beta gets ada's comment.
    let received = run(2);
    assert!(
        received.contains("alpha.example/: imported alpha.example sequence 2"),
        "{received}"
    );
    assert!(
        received.contains("beta.example/: skipped: beta.example's own bundle"),
        "{received}"
    );
    assert_eq!(
        sandbox.rows_from("beta", "comment", "alpha.example").len(),
        1
    );

    // A new instance: gamma imports both bundles in one command, beta's
    // before alpha's (which needs beta's request) though alpha's folder
    // comes first, and publishes its own.
    let joined = run(3);
    assert!(
        joined.contains("2 bundles: 2 imported, 0 already imported, 0 skipped, 0 refused"),
        "{joined}"
    );
    assert_eq!(
        sandbox.rows_from("gamma", "comment", "alpha.example").len(),
        1
    );
    assert_eq!(
        sandbox.rows_from("gamma", "request", "beta.example").len(),
        1
    );
    let gamma_key =
        std::fs::read_to_string(sandbox.home().join("gamma/.sync/keys/gamma.example.pub")).unwrap();
    let gamma_key = gamma_key.lines().nth(1).unwrap();
    assert!(
        joined.lines().any(|line| line == gamma_key),
        "keygen printed gamma's public key {gamma_key}: {joined}"
    );
    // The community's repository now holds the three bundles; alpha
    // receives gamma's, pinning the key gamma's keygen printed.
    sandbox.glue(&format!(
        "cd ~/alpha
         git -C data/public_sync pull --rebase --quiet
         wb sync import data/public_sync/gamma.example --key {gamma_key}
         wb sync import data/public_sync > ~/alpha-received.txt"
    ));
    let alpha_received =
        std::fs::read_to_string(sandbox.home().join("alpha-received.txt")).unwrap();
    assert!(
        alpha_received.contains("3 bundles: 0 imported, 2 already imported, 1 skipped, 0 refused"),
        "{alpha_received}"
    );

    // Relaying: beta hands on alpha's bundle and its own; delta imports them.
    let relayed = run(4);
    assert!(
        relayed.contains("alpha's bundle, byte for byte"),
        "{relayed}"
    );
    let delta = run(5);
    assert!(
        delta.contains("2 bundles: 2 imported, 0 already imported, 0 skipped, 0 refused"),
        "{delta}"
    );
    assert_eq!(
        sandbox.rows_from("delta", "comment", "alpha.example").len(),
        1
    );

    // The repositories' .git directories survived every export and import.
    for instance in ["alpha", "beta", "gamma"] {
        let status = sandbox
            .command("git")
            .args(["-C"])
            .arg(sandbox.home().join(instance).join("data/public_sync"))
            .args(["status", "--porcelain"])
            .output()
            .unwrap();
        assert!(status.status.success(), "{instance}: {status:?}");
    }
}

/// `wb` in the sandbox, any outcome: (success, stdout, stderr).
fn wb_any(sandbox: &Sandbox, instance: &str, args: &[&str]) -> (bool, String, String) {
    let out = sandbox
        .command("wb")
        .arg("-C")
        .arg(sandbox.home().join(instance))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn keygen_twice_prints_the_same_key_and_succeeds() {
    let sandbox = Sandbox::new();
    sandbox.wb("alpha", &["init", "--instance", "alpha.example"]);
    let first = sandbox.wb("alpha", &["sync", "keygen"]);
    let (ok, second, stderr) = wb_any(&sandbox, "alpha", &["sync", "keygen"]);
    assert!(ok, "{stderr}");
    assert_eq!(second.trim(), first);
    assert!(stderr.contains("already has a signing key"), "{stderr}");
    let public =
        std::fs::read_to_string(sandbox.home().join("alpha/.sync/keys/alpha.example.pub")).unwrap();
    assert_eq!(public.lines().nth(1).unwrap(), first);
}

#[test]
fn importing_a_missing_directory_is_one_error_and_creates_no_key() {
    let sandbox = Sandbox::new();
    sandbox.wb("beta", &["init", "--instance", "beta.example"]);
    let (ok, stdout, stderr) = wb_any(&sandbox, "beta", &["sync", "import", "incoming/alpha"]);
    assert!(!ok);
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("incoming/alpha: no such directory"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("incoming/alpha").count(), 1, "{stderr}");
    assert!(!sandbox.home().join("beta/.sync/keys").exists());
}

#[test]
fn a_set_with_a_refused_bundle_exits_non_zero_and_keeps_the_others() {
    let sandbox = Sandbox::new();
    sandbox.instance_with_request("alpha", "alpha.example", "ada", "Borrow a ladder");
    sandbox.instance_with_request("beta", "beta.example", "bob", "Borrow a drill");
    sandbox.wb(
        "alpha",
        &["sync", "export", "--out", "../set/alpha.example"],
    );
    sandbox.wb("beta", &["sync", "export", "--out", "../set/beta.example"]);
    // Beta's manifest no longer matches its signature.
    let manifest = sandbox.home().join("set/beta.example/manifest.sync.txt");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("Sequence: 1", "Sequence: 7")).unwrap();
    sandbox.wb("gamma", &["init", "--instance", "gamma.example"]);

    let (ok, stdout, stderr) = wb_any(
        &sandbox,
        "gamma",
        &["sync", "import", "../set", "--accept-new-keys"],
    );
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("alpha.example/: imported alpha.example sequence 1"),
        "{stdout}"
    );
    assert!(stdout.contains("beta.example/: refused: "), "{stdout}");
    assert!(stdout.contains("signature rejected"), "{stdout}");
    assert!(
        stdout.contains("2 bundles: 1 imported, 0 already imported, 0 skipped, 1 refused"),
        "{stdout}"
    );
    assert!(stderr.contains("the others stay imported"), "{stderr}");
    assert_eq!(
        sandbox.rows_from("gamma", "request", "alpha.example").len(),
        1
    );
    assert!(
        sandbox
            .rows_from("gamma", "request", "beta.example")
            .is_empty()
    );
}

#[test]
fn export_into_another_instances_bundle_is_refused_and_changes_nothing() {
    let sandbox = Sandbox::new();
    sandbox.instance_with_request("alpha", "alpha.example", "ada", "Borrow a ladder");
    sandbox.wb("alpha", &["sync", "export"]);
    // Beta was given alpha's bundle as its data/public_sync and exports:
    // the bootstrap mistake that used to delete alpha's bundle.
    sandbox.wb("beta", &["init", "--instance", "beta.example"]);
    let target = sandbox.home().join("beta/data/public_sync");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let copied = sandbox
        .command("cp")
        .arg("-a")
        .arg(sandbox.home().join("alpha/data/public_sync"))
        .arg(&target)
        .status()
        .unwrap();
    assert!(copied.success());
    let before = snapshot(&target);
    let (ok, _, stderr) = wb_any(&sandbox, "beta", &["sync", "export"]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("holds the bundle of alpha.example"),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&target),
        before,
        "alpha's bundle is byte-identical"
    );
    assert!(
        !sandbox.home().join("beta/.sync/keys").exists(),
        "no key created"
    );
    // Imported, and relayed by the export of alpha's rows into it: allowed,
    // and byte for byte what is there.
    sandbox.wb(
        "beta",
        &["sync", "import", "data/public_sync", "--accept-new-keys"],
    );
    sandbox.wb(
        "beta",
        &[
            "sync",
            "export",
            "--instance",
            "alpha.example",
            "--out",
            "data/public_sync",
        ],
    );
    assert_eq!(snapshot(&target), before);
}

/// Every file under `dir`: relative path → bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push((
                    path.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
