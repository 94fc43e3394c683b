//! The corpus of good and malformed files under `tests/corpus/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::check;

fn corpus_dir(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(which)
}

fn sync_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sync.txt"))
        .collect();
    names.sort();
    names
}

#[test]
fn good_corpus_parses_and_renders_byte_identically() {
    let dir = corpus_dir("good");
    let names = sync_files(&dir);
    assert!(names.len() >= 4, "good corpus is missing");
    for name in names {
        let bytes = fs::read(dir.join(&name)).unwrap();
        check(&bytes, &format!("good/{name}"), Ok(()));
    }
}

#[test]
fn bad_corpus_fails_with_the_expected_message() {
    let dir = corpus_dir("bad");
    let table = fs::read_to_string(dir.join("EXPECTED")).unwrap();
    let expected: BTreeMap<&str, &str> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    let names = sync_files(&dir);
    assert_eq!(
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        expected.keys().copied().collect::<Vec<_>>(),
        "tests/corpus/bad/EXPECTED must list exactly the files of the directory"
    );
    for (name, fragment) in expected {
        let bytes = fs::read(dir.join(name)).unwrap();
        check(&bytes, &format!("bad/{name}"), Err(fragment));
    }
}

#[test]
fn crlf_corpus_file_kept_its_carriage_returns() {
    // Guards against git converting line endings in the corpus.
    let bytes = fs::read(corpus_dir("bad").join("crlf.sync.txt")).unwrap();
    assert!(bytes.windows(2).any(|w| w == b"\r\n"));
}
