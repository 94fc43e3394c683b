//! The checked-in suite is exactly what the generator produces.

use std::collections::BTreeMap;
use std::path::Path;

use wb_conformance::Entry;

fn read_tree(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Entry>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("{}: {e}", dir.display())))
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        // Not following links: a link of the suite is an entry of its own.
        let file_type = entry
            .file_type()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if file_type.is_symlink() {
            let target =
                std::fs::read_link(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.insert(rel, Entry::Link(target.to_string_lossy().into_owned()));
        } else if file_type.is_dir() {
            read_tree(&path, &rel, out);
        } else {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.insert(rel, Entry::File(bytes));
        }
    }
}

#[test]
fn checked_in_suite_equals_the_generator_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance");
    let mut on_disk = BTreeMap::new();
    read_tree(&dir, "", &mut on_disk);
    let generated = wb_conformance::generate();
    let missing: Vec<_> = generated
        .keys()
        .filter(|k| !on_disk.contains_key(*k))
        .collect();
    let extra: Vec<_> = on_disk
        .keys()
        .filter(|k| !generated.contains_key(*k))
        .collect();
    let differ: Vec<_> = generated
        .iter()
        .filter(|(k, v)| on_disk.get(*k).is_some_and(|d| d != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "fixtures/conformance is stale (run `cargo run -p wb-conformance --bin gen-conformance`):\n\
         missing {missing:?}\nextra {extra:?}\ndiffer {differ:?}"
    );
}

#[test]
fn generating_twice_gives_the_same_bytes() {
    assert_eq!(wb_conformance::generate(), wb_conformance::generate());
}

#[test]
fn at_least_150_cases_with_unique_ids() {
    let Some(Entry::File(bytes)) = wb_conformance::generate().remove("index.json") else {
        panic!("no index.json");
    };
    let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let cases = index["cases"].as_array().map(Vec::len).unwrap_or_default();
    assert!(cases >= 150, "{cases} cases");
}
