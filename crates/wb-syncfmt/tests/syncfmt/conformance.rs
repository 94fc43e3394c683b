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

/// What this crate says of a case: `None` for accepted, else the code.
fn run(case: &Value) -> Result<(), String> {
    let path = suite_dir().join(case["path"].as_str().unwrap());
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
