//! Integration tests of wb-syncfmt, through its public API only.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on unexpected errors; expected errors are checked explicitly"
)]

mod bundle;
mod conformance;
mod corpus;
mod docs_examples;
mod file;
mod manifest;
mod memory;
mod props;
mod writer_keep;
mod writer_update;

use serde_json::{Map, Value, json};
use time::macros::datetime;
use wb_syncfmt::{CURRENT_SCHEMA_VERSION, EntityKind, Scope, SyncFile};

/// A valid public request file.
pub fn sample_file() -> SyncFile {
    SyncFile {
        entity: EntityKind::Request,
        id: "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65".to_owned(),
        instance: "alpha.example".to_owned(),
        schema_version: CURRENT_SCHEMA_VERSION,
        sync_scope: Scope::Public,
        updated_at: datetime!(2026-11-24 10:00 UTC),
        body: object(json!({
            "author_id": "01936f3e-0000-7000-8000-000000000001",
            "status": "open",
            "title": "A ladder for the orchard",
        })),
    }
}

/// The object inside `value`.
pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// Parses `input` as a `.sync.txt` file named `path` and checks the result:
/// `Ok(())` means it must parse and render back byte-identically, `Err(s)`
/// means the error's `Display` form must contain `s`.
pub fn check(input: &[u8], path: &str, expected: Result<(), &str>) {
    let result = SyncFile::parse(input, path);
    match (result, expected) {
        (Ok(file), Ok(())) => {
            let text = file.to_text().unwrap();
            assert_eq!(
                text.as_bytes(),
                input,
                "{path}: parse then render is not byte-identical"
            );
        }
        (Err(err), Err(fragment)) => {
            let message = err.to_string();
            assert!(
                message.contains(fragment),
                "{path}: error {message:?} does not contain {fragment:?}"
            );
            assert!(
                message.starts_with(path),
                "{path}: error {message:?} does not name the file"
            );
        }
        (Ok(_), Err(fragment)) => {
            panic!("{path}: parsed, but expected an error containing {fragment:?}")
        }
        (Err(err), Ok(())) => panic!("{path}: expected to parse, got: {err}"),
    }
}

/// User `n`: a public user file with its own id and username.
pub fn user(n: u32) -> SyncFile {
    let mut file = sample_file();
    file.entity = EntityKind::User;
    file.id = format!("01936f3e-0000-7000-8000-{n:012x}");
    file.body = object(json!({"username": format!("user{n}")}));
    file
}

/// Request `n`: the sample request with its own id.
pub fn request(n: u32) -> SyncFile {
    let mut file = sample_file();
    file.id = format!("01936f3e-5c1a-7b2e-9a4d-{n:012x}");
    file
}

/// Two users and two requests, out of order.
pub fn rows() -> Vec<SyncFile> {
    vec![request(2), user(1), request(1), user(2)]
}

/// Sets the modification time of every row file of the bundle in `dir` to
/// two seconds before its manifest's, as if written well before it: the
/// writer stores files on its own thread and a small bundle's files land in
/// the same clock tick as the manifest, which the quick check (rightly)
/// does not trust.
pub fn backdate_row_files(dir: &std::path::Path) {
    let manifest = std::fs::metadata(dir.join(wb_syncfmt::MANIFEST_FILE_NAME))
        .and_then(|meta| meta.modified())
        .expect("the bundle has a manifest");
    let earlier = manifest - std::time::Duration::from_secs(2);
    for entity in std::fs::read_dir(dir).expect("bundle directory") {
        let entity = entity.expect("entry").path();
        if !entity.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&entity).expect("entity directory") {
            std::fs::File::options()
                .write(true)
                .open(file.expect("entry").path())
                .and_then(|f| f.set_modified(earlier))
                .expect("backdate a row file");
        }
    }
}

/// The instance of the writer tests' bundles.
pub const INSTANCE: &str = "alpha.example";
/// The public key of the writer tests' bundles.
pub const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

/// A first export of `files` into `dir` with `BundleWriter::create`,
/// sequence 1, with the files older than the manifest.
pub fn first_export(
    dir: &std::path::Path,
    files: &[SyncFile],
) -> wb_syncfmt::bundle::WrittenBundle {
    let mut writer = wb_syncfmt::bundle::BundleWriter::create(dir).unwrap();
    for file in files {
        writer.add(file).unwrap();
    }
    let written = writer.finish(INSTANCE, KEY, 1).unwrap();
    backdate_row_files(dir);
    written
}

/// Every file under `dir`: relative path → bytes.
pub fn tree(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        out: &mut std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    ) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
