//! The conformance suite (`fixtures/conformance/`, `docs/conformance.md`):
//! every case that needs neither cryptography nor a database, run against
//! this crate's parsers and bundle reader. Cases decided by a later layer
//! (`verify`, `import`: keys, signatures, bodies, state) must pass this
//! crate's checks; wb-engine's tests run them to the end.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wb_syncfmt::bundle::{BundleReader, Limits};
use wb_syncfmt::{Manifest, SyncFile};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance")
}

fn cases() -> Vec<Value> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(suite_dir().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["format"], "wb-sync-conformance");
    index["cases"].as_array().unwrap().clone()
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

/// What this crate says of a case: `None` for accepted, else the code.
fn run(case: &Value) -> Result<(), String> {
    let made = materialize(case);
    let path = match &made {
        Some((temp, _)) => temp.path().join("bundle"),
        None => suite_dir().join(case["path"].as_str().unwrap()),
    };
    match case["kind"].as_str().unwrap() {
        "file" => {
            let bytes = std::fs::read(&path).unwrap();
            SyncFile::parse(&bytes, "file.sync.txt")
                .map(drop)
                .map_err(|e| e.kind().code().to_owned())
        }
        "manifest" => {
            let bytes = std::fs::read(&path).unwrap();
            Manifest::parse(&bytes, "manifest.sync.txt")
                .map(drop)
                .map_err(|e| e.kind().code().to_owned())
        }
        "bundle" => {
            let reader =
                BundleReader::open(&path, &Limits::default()).map_err(|e| e.code().to_owned())?;
            for entry in reader.entries() {
                entry.map_err(|e| e.code().to_owned())?;
            }
            Ok(())
        }
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn every_format_case_gives_its_expected_result() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases() {
        let kind = case["kind"].as_str().unwrap();
        if !matches!(kind, "file" | "manifest" | "bundle") {
            continue;
        }
        let expected = if case["layer"] == "format" {
            match &case["expected"] {
                Value::String(s) if s == "accept" => Ok(()),
                other => Err(other["refuse"].as_str().unwrap().to_owned()),
            }
        } else {
            // Decided later: the format accepts it.
            Ok(())
        };
        let got = run(&case);
        ran += 1;
        if got != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got {got:?} ({})",
                case["id"], case["rule"]
            ));
        }
    }
    assert!(ran >= 150, "only {ran} cases ran");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
