//! The conformance suite (`fixtures/conformance/`, `docs/conformance.md`)
//! run to the end: keys, signatures, trusted comments, bodies and actor
//! origins through `wb_engine::sync::verify` with the suite's test key
//! pinned; and every bundle case through `import_bundle` into an empty
//! instance (`local.example`), after the cases it requires. A refused
//! import leaves the database exactly as it was.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wb_crypto::{KeyStore, PublicKey, TrustedComment, parse_bundle_trusted_comment};
use wb_engine::sync::verify::{KeyPolicy, verify_bundle};
use wb_engine::sync::{ImportOptions, NoProgress, import_bundle};
use wb_engine::{EngineError, Instance};
use wb_model::InstanceName;
use wb_store::testing::TestDb;
use wb_syncfmt::bundle::{BundleReader, Limits};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance")
}

fn index() -> Value {
    serde_json::from_slice(&std::fs::read(suite_dir().join("index.json")).unwrap()).unwrap()
}

/// Copies the bundle directory `from` to `to` (regular files and
/// directories: a case with `create` holds nothing else).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A case's directory copied with the entries git cannot store made, and
/// the listeners of its sockets (kept open while the copy is used).
type Made = (tempfile::TempDir, Vec<std::os::unix::net::UnixListener>);

/// For a case with entries git cannot store (`create`: FIFOs, sockets,
/// empty directories), a copy of its directory with them made; `None`
/// for every other case. The socket's listener is kept open with the copy.
fn materialize(case: &Value) -> Option<Made> {
    let create = case["create"].as_array()?;
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("bundle");
    copy_dir(&suite_dir().join(case["path"].as_str().unwrap()), &dir);
    let mut listeners = Vec::new();
    for entry in create {
        let path = dir.join(entry["path"].as_str().unwrap());
        match entry["type"].as_str().unwrap() {
            "dir" => std::fs::create_dir(&path).unwrap(),
            "socket" => listeners.push(std::os::unix::net::UnixListener::bind(&path).unwrap()),
            "fifo" => {
                let status = std::process::Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .expect("mkfifo (coreutils) makes the FIFOs of the suite");
                assert!(status.success(), "mkfifo {}", path.display());
            }
            other => panic!("unknown entry type {other}"),
        }
    }
    Some((temp, listeners))
}

/// The directory to run `case` from: the suite's, or the copy
/// [`materialize`] made.
fn case_dir(case: &Value, made: Option<&Made>) -> PathBuf {
    match made {
        Some((temp, _)) => temp.path().join("bundle"),
        None => suite_dir().join(case["path"].as_str().unwrap()),
    }
}

fn expected(case: &Value) -> Result<(), String> {
    match &case["expected"] {
        Value::String(s) if s == "accept" => Ok(()),
        other => Err(other["refuse"].as_str().unwrap().to_owned()),
    }
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Trusted comments, public key files, and bundles up to `verify` with the
/// test key pinned: everything that needs no database.
#[test]
fn every_verify_case_gives_its_expected_result() {
    let index = index();
    let public_key = index["public_key"].as_str().unwrap().to_owned();
    let mut failures = Vec::new();
    for case in index["cases"].as_array().unwrap() {
        let made = materialize(case);
        let path = case_dir(case, made.as_ref());
        let got: Result<(), String> = match (
            case["kind"].as_str().unwrap(),
            case["layer"].as_str().unwrap(),
        ) {
            ("trusted-comment", _) => {
                let text = std::fs::read_to_string(&path).unwrap();
                TrustedComment::new(text)
                    .and_then(|c| parse_bundle_trusted_comment(&c).map(drop))
                    .map_err(|_| "bad-signature".to_owned())
            }
            ("public-key", _) => {
                let text = std::fs::read_to_string(&path).unwrap();
                PublicKey::from_minisign_file(&text)
                    .map(drop)
                    .map_err(|_| "invalid-public-key".to_owned())
            }
            ("bundle", "verify") => {
                let reader = BundleReader::open(&path, &Limits::default()).unwrap();
                let policy = KeyPolicy {
                    pinned: (case["pinned"] == true).then(|| public_key.clone()),
                    ..KeyPolicy::default()
                };
                verify_bundle(&reader, &policy, &NoProgress)
                    .map(drop)
                    .map_err(|r| r.code().to_owned())
            }
            _ => continue,
        };
        let want = expected(case);
        if got != want {
            failures.push(format!(
                "{}: expected {want:?}, got {got:?} ({})",
                case["id"], case["rule"]
            ));
        }
    }
    report(&failures);
}

/// Imports `case` (a bundle) into `instance`.
async fn import(
    instance: &Instance,
    keys: &KeyStore,
    case: &Value,
    public_key: &str,
) -> Result<(), String> {
    let index = index();
    // Each instance's own key: the test key for alpha, beta's for beta.
    let key = if case["id"] == "i-beta-request" {
        index["beta_public_key"].as_str().unwrap()
    } else {
        public_key
    };
    let options = ImportOptions {
        expected_key: (case["pinned"] == true).then(|| key.to_owned()),
        ..ImportOptions::default()
    };
    let made = materialize(case);
    let dir = case_dir(case, made.as_ref());
    match import_bundle(instance, keys, &dir, &options, &NoProgress).await {
        Ok(_) => Ok(()),
        Err(EngineError::Refused { refusal, .. }) => Err(refusal.code().to_owned()),
        Err(other) => Err(format!("not a refusal: {other}")),
    }
}

async fn run_imports(db_for: impl AsyncFn() -> Option<TestDb>, layers: &[&str]) {
    let index = index();
    let public_key = index["public_key"].as_str().unwrap();
    let importer = index["importer"].as_str().unwrap();
    let by_id: HashMap<&str, &Value> = index["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c))
        .collect();
    let mut failures = Vec::new();
    for case in index["cases"].as_array().unwrap() {
        if case["kind"] != "bundle" || !layers.contains(&case["layer"].as_str().unwrap()) {
            continue;
        }
        let Some(db) = db_for().await else { return };
        let instance = Instance::init(db.store.clone(), InstanceName::parse(importer).unwrap())
            .await
            .unwrap();
        let keys_dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::new(keys_dir.path().join("keys"));
        for required in case["requires"].as_array().unwrap() {
            let required = by_id[required.as_str().unwrap()];
            import(&instance, &keys, required, public_key)
                .await
                .unwrap();
        }
        let before = db.snapshot().await;
        let got = import(&instance, &keys, case, public_key).await;
        let want = expected(case);
        if got != want {
            failures.push(format!(
                "{}: expected {want:?}, got {got:?} ({})",
                case["id"], case["rule"]
            ));
        } else if got.is_err() && db.snapshot().await != before {
            failures.push(format!("{}: refused, but the database changed", case["id"]));
        }
    }
    report(&failures);
}

/// Every bundle case, through `import_bundle`, on SQLite.
#[tokio::test]
async fn every_bundle_case_imports_as_expected_on_sqlite() {
    run_imports(
        async || Some(TestDb::sqlite().await),
        &["format", "verify", "import"],
    )
    .await;
}

/// The cases that need local state, on Postgres (when
/// `WB_TEST_POSTGRES_URL` is set).
#[tokio::test]
async fn import_cases_on_postgres() {
    run_imports(TestDb::postgres, &["import"]).await;
}

/// The instance-name rule has one definition, applied alike by the format
/// (`wb_syncfmt::is_valid_instance_name`), the model
/// (`wb_model::InstanceName`) and the key store and trusted comments
/// (`wb-crypto`).
#[test]
fn instance_name_rules_agree() {
    let long = "a".repeat(253);
    let too_long = "a".repeat(254);
    for name in [
        "a",
        "0",
        "alpha.example",
        "1alpha",
        "a-b.c-d",
        long.as_str(),
        too_long.as_str(),
        "",
        "Alpha",
        ".a",
        "a.",
        "-a",
        "a-",
        "a..b",
        "a_b",
        "a/b",
        "a b",
        "é",
        "a.-b",
        "a-.b",
    ] {
        let format = wb_syncfmt::is_valid_instance_name(name);
        let model = InstanceName::parse(name).is_ok();
        let crypto = wb_crypto::bundle_trusted_comment(name, 1).is_ok();
        assert!(
            format == model && model == crypto,
            "{name:?}: format {format}, model {model}, crypto {crypto}"
        );
    }
    // Every refusal quotes the one rule text.
    let model = InstanceName::parse("a..b").unwrap_err().to_string();
    let crypto = wb_crypto::bundle_trusted_comment("a..b", 1)
        .unwrap_err()
        .to_string();
    for message in [model, crypto] {
        assert!(
            message.contains(wb_syncfmt::INSTANCE_NAME_RULE),
            "{message}"
        );
    }
}

/// The username rule has one definition too: the model applies the
/// format's, and its refusal quotes the format's text.
#[test]
fn username_rules_agree() {
    for name in ["ada", "a", "a_", "a-", "_ada", "-ada", "", "Ada", "a.b"] {
        assert_eq!(
            wb_syncfmt::is_valid_username(name),
            wb_model::Username::parse(name).is_ok(),
            "{name:?}"
        );
    }
    let message = wb_model::Username::parse("_ada").unwrap_err().to_string();
    assert!(message.contains(wb_syncfmt::USERNAME_RULE), "{message}");
}

/// The row examples of `docs/format.md` (the request of §2 and its author,
/// the user of "Entity bodies") form a bundle an importer accepts: an
/// implementation following the docs accepts the docs' own examples.
#[tokio::test]
async fn the_docs_examples_are_an_accepted_bundle() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/format.md"))
            .unwrap();
    let mut rows = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(block) if block.starts_with("Entity: ") => rows.push(block),
                Some(_) => {}
                None => current = Some(String::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert_eq!(rows.len(), 2, "the request of §2 and the user example");
    let key = wb_crypto::SigningKey::generate().unwrap();
    let public_key = key.public_key().to_minisign_base64();
    let mut files = std::collections::BTreeMap::new();
    for row in rows {
        let file = wb_syncfmt::SyncFile::parse(row.as_bytes(), "docs/format.md").unwrap();
        files.insert(file.relative_path(), row.into_bytes());
    }
    let manifest = wb_syncfmt::Manifest {
        instance: "alpha.example".to_owned(),
        public_key: public_key.clone(),
        schema_version: wb_syncfmt::CURRENT_SCHEMA_VERSION,
        sequence: 1,
        files: files
            .iter()
            .map(|(path, bytes)| wb_syncfmt::ManifestEntry::for_bytes(path.clone(), bytes))
            .collect(),
    }
    .to_text()
    .unwrap();
    let comment = wb_crypto::bundle_trusted_comment("alpha.example", 1).unwrap();
    let signature = wb_crypto::sign_minisign(&key, manifest.as_bytes(), &comment);
    files.insert("manifest.sync.txt".to_owned(), manifest.into_bytes());
    files.insert("bundle.sig".to_owned(), signature.into_bytes());
    let reader = BundleReader::from_files(files.clone(), &Limits::default()).unwrap();
    let policy = KeyPolicy {
        pinned: Some(public_key.clone()),
        ..KeyPolicy::default()
    };
    let (_, bundle_rows) = verify_bundle(&reader, &policy, &NoProgress).unwrap();
    assert_eq!(
        (bundle_rows.users.len(), bundle_rows.requests.len()),
        (1, 1)
    );

    let db = TestDb::sqlite().await;
    let instance = Instance::init(
        db.store.clone(),
        InstanceName::parse("local.example").unwrap(),
    )
    .await
    .unwrap();
    let keys_dir = tempfile::tempdir().unwrap();
    let options = ImportOptions {
        expected_key: Some(public_key),
        ..ImportOptions::default()
    };
    wb_engine::sync::import_files(
        &instance,
        &KeyStore::new(keys_dir.path().join("keys")),
        "docs/format.md examples",
        files,
        &options,
        &NoProgress,
    )
    .await
    .unwrap();
}
