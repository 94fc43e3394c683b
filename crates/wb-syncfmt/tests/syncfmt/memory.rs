//! Bundles held in memory (`BundleReader::from_files`), the sequence range,
//! special files, and the stable codes of refusals.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use wb_syncfmt::bundle::{BundleError, BundleReader, BundleWriter, Limits, write_signature};
use wb_syncfmt::{MAX_SEQUENCE, Manifest, ParseErrorKind, SyncFile, WriteError};

use crate::rows;

const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

/// A bundle of `rows()` in `dir`, and its files by path.
fn bundle(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut writer = BundleWriter::create(dir).unwrap();
    for file in rows() {
        writer.add(&file).unwrap();
    }
    let written = writer.finish("alpha.example", KEY, 1).unwrap();
    write_signature(dir, b"signature").unwrap();
    let mut files = BTreeMap::new();
    files.insert(
        "manifest.sync.txt".to_owned(),
        written.manifest_bytes.clone(),
    );
    files.insert("bundle.sig".to_owned(), b"signature".to_vec());
    for entry in &written.manifest.files {
        files.insert(entry.path.clone(), fs::read(dir.join(&entry.path)).unwrap());
    }
    files
}

fn from_files(files: BTreeMap<String, Vec<u8>>) -> Result<Vec<SyncFile>, BundleError> {
    BundleReader::from_files(files, &Limits::default())?
        .entries()
        .collect()
}

#[test]
fn a_bundle_in_memory_reads_as_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let files = bundle(&dir);
    let on_disk = BundleReader::open(&dir, &Limits::default()).unwrap();
    let in_memory = BundleReader::from_files(files, &Limits::default()).unwrap();
    assert_eq!(in_memory.manifest(), on_disk.manifest());
    assert_eq!(in_memory.manifest_bytes(), on_disk.manifest_bytes());
    assert_eq!(in_memory.signature_bytes(), on_disk.signature_bytes());
    let a: Vec<SyncFile> = in_memory.entries().collect::<Result<_, _>>().unwrap();
    let b: Vec<SyncFile> = on_disk.entries().collect::<Result<_, _>>().unwrap();
    assert_eq!(a, b);
    assert_eq!(in_memory.dir(), Path::new(""));
}

/// Each case: a change to the files, the code, and a fragment of the message.
#[test]
fn a_bundle_in_memory_is_refused_by_the_same_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let files = bundle(&tmp.path().join("b"));
    let first = files
        .keys()
        .find(|p| p.starts_with("request/"))
        .unwrap()
        .clone();
    type Change = Box<dyn Fn(&mut BTreeMap<String, Vec<u8>>)>;
    let cases: Vec<(Change, &str, &str)> = vec![
        (
            Box::new(|f| {
                f.remove("manifest.sync.txt");
            }),
            "missing-manifest",
            "no manifest.sync.txt",
        ),
        (
            Box::new(|f| {
                f.remove("bundle.sig");
            }),
            "missing-signature",
            "no bundle.sig",
        ),
        (
            Box::new(|f| {
                f.insert(
                    "user/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a99.sync.txt".into(),
                    b"x".to_vec(),
                );
            }),
            "unlisted-file",
            "not listed in the manifest",
        ),
        (
            Box::new(|f| {
                f.insert("../escape".into(), b"x".to_vec());
            }),
            "unsafe-path",
            "\"..\" segments are not allowed",
        ),
        (
            Box::new(|f| {
                f.insert(".git/config".into(), b"x".to_vec());
            }),
            "unsafe-path",
            ".git/config",
        ),
        (
            Box::new({
                let first = first.clone();
                move |f| {
                    f.remove(&first);
                }
            }),
            "missing-file",
            "listed in the manifest but missing",
        ),
        (
            Box::new({
                let first = first.clone();
                move |f| {
                    f.get_mut(&first).unwrap().push(b'\n');
                }
            }),
            "length-mismatch",
            "but the manifest says",
        ),
        (
            Box::new({
                let first = first.clone();
                move |f| {
                    let bytes = f.get_mut(&first).unwrap();
                    let at = bytes.len() - 3;
                    bytes[at] ^= 1;
                }
            }),
            "hash-mismatch",
            "SHA-256",
        ),
    ];
    for (change, code, fragment) in cases {
        let mut files = files.clone();
        change(&mut files);
        let err = from_files(files).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert!(
            err.to_string().contains(fragment),
            "{fragment:?} not in {err}"
        );
    }
}

#[test]
fn limits_hold_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let files = bundle(&tmp.path().join("b"));
    let mut limits = Limits::default();
    limits.max_files = 3;
    let err = BundleReader::from_files(files.clone(), &limits).unwrap_err();
    assert_eq!(err.code(), "too-many-files", "{err}");
    let mut limits = Limits::default();
    limits.max_manifest_bytes = 100;
    let err = BundleReader::from_files(files, &limits).unwrap_err();
    assert_eq!(err.code(), "too-large", "{err}");
    assert_eq!(err.bundle_path(), Some("manifest.sync.txt"));
}

#[test]
fn sequences_run_from_one_to_two_to_the_sixty_third_minus_one() {
    assert_eq!(MAX_SEQUENCE, (1 << 63) - 1);
    let manifest = |sequence| Manifest {
        instance: "alpha.example".to_owned(),
        public_key: KEY.to_owned(),
        schema_version: 1,
        sequence,
        files: Vec::new(),
    };
    let text = manifest(MAX_SEQUENCE).to_text().unwrap();
    assert_eq!(
        Manifest::parse(text.as_bytes(), "manifest.sync.txt")
            .unwrap()
            .sequence,
        MAX_SEQUENCE
    );
    for bad in [MAX_SEQUENCE + 1, u64::MAX] {
        assert!(matches!(
            manifest(bad).to_text(),
            Err(WriteError::SequenceOutOfRange { value }) if value == bad
        ));
        let forged = text.replace(
            &format!("Sequence: {MAX_SEQUENCE}\n"),
            &format!("Sequence: {bad}\n"),
        );
        let err = Manifest::parse(forged.as_bytes(), "manifest.sync.txt").unwrap_err();
        assert!(
            matches!(err.kind(), ParseErrorKind::SequenceOutOfRange { value } if *value == bad),
            "{err}"
        );
        assert_eq!(err.kind().code(), "sequence-out-of-range");
        assert_eq!(err.line(), Some(5));
        assert!(
            err.to_string().starts_with("manifest.sync.txt:5: "),
            "{err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_in_an_entity_directory_is_named_a_special_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    bundle(&dir);
    let fifo = dir.join(format!(
        "request/{}.sync.txt",
        "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a98"
    ));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let err = BundleReader::open(&dir, &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "unsafe-path");
    let text = err.to_string();
    assert!(text.contains("special file (not a regular file)"), "{text}");
    assert!(
        !text.contains("directory"),
        "a FIFO is not a directory: {text}"
    );
}
