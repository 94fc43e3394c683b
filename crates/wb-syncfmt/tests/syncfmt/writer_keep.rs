//! `BundleWriter::keep`, `BundleWriter::add`'s entry and
//! `ManifestEntry::with_hex_digest`.

use std::fs;
use std::thread::sleep;
use std::time::Duration;

use wb_syncfmt::bundle::{BundleError, BundleWriter, WrittenBundle};
use wb_syncfmt::{ManifestEntry, SyncFile};

use crate::{INSTANCE, KEY, first_export, request, rows, user};

/// File times are coarse (a clock tick): lets the clock move on.
fn tick() {
    sleep(Duration::from_millis(20));
}

/// The entry `written` lists for `file`.
fn entry_of(written: &WrittenBundle, file: &SyncFile) -> ManifestEntry {
    written
        .manifest
        .files
        .iter()
        .find(|e| e.path == file.relative_path())
        .unwrap()
        .clone()
}

fn bundle_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    (tmp, dir)
}

#[test]
fn keeping_every_file_gives_an_identical_manifest() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let entries = first.manifest.files.clone();
    assert_eq!(entries.len(), 4);

    let mut writer = BundleWriter::create(&dir).unwrap();
    for entry in &entries {
        assert!(writer.keep(entry).unwrap(), "{} not kept", entry.path);
    }
    assert_eq!(writer.files(), entries);
    let second = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(second.manifest_bytes, first.manifest_bytes);
    assert_eq!(second.manifest, first.manifest);
    assert_eq!(second.unchanged, 4);
    assert_eq!(second.written, 0);
    assert_eq!(second.removed, 0);
    assert!(!second.manifest_written);
    assert_eq!(
        fs::read(dir.join(wb_syncfmt::MANIFEST_FILE_NAME)).unwrap(),
        first.manifest_bytes
    );
    for file in rows() {
        assert_eq!(
            fs::read_to_string(dir.join(file.relative_path())).unwrap(),
            file.to_text().unwrap()
        );
    }
}

#[test]
fn keep_refuses_an_entry_other_than_the_listed_one() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let listed = first.manifest.files[0].clone();

    let mut writer = BundleWriter::create(&dir).unwrap();
    let mut longer = listed.clone();
    longer.len += 1;
    assert!(!writer.keep(&longer).unwrap());
    let mut other_digest = listed.clone();
    other_digest.sha256[0] ^= 1;
    assert!(!writer.keep(&other_digest).unwrap());
    let unlisted = ManifestEntry::for_bytes(
        request(9).relative_path(),
        request(9).to_text().unwrap().as_bytes(),
    );
    assert!(!writer.keep(&unlisted).unwrap());
    assert!(writer.files().is_empty());
    // Nothing was recorded, so the listed entry can still be kept.
    assert!(writer.keep(&listed).unwrap());
    assert_eq!(writer.files(), vec![listed]);
}

#[test]
fn keep_without_a_previous_manifest_is_false() {
    let (_tmp, dir) = bundle_dir();
    let file = request(1);
    let entry = ManifestEntry::for_bytes(file.relative_path(), file.to_text().unwrap().as_bytes());
    let mut writer = BundleWriter::create(&dir).unwrap();
    assert!(writer.previous_manifest().is_none());
    assert!(!writer.keep(&entry).unwrap());
    assert!(writer.files().is_empty());

    // Even with the file on disk, written by hand, and no manifest.
    let (_tmp2, dir2) = bundle_dir();
    fs::create_dir_all(dir2.join(file.entity.as_str())).unwrap();
    fs::write(dir2.join(file.relative_path()), file.to_text().unwrap()).unwrap();
    tick();
    let mut writer = BundleWriter::create(&dir2).unwrap();
    assert!(!writer.keep(&entry).unwrap());
    assert!(writer.files().is_empty());
}

#[test]
fn keep_refuses_a_file_rewritten_after_the_manifest_and_add_repairs_it() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let file = request(1);
    let entry = entry_of(&first, &file);
    let full = dir.join(&entry.path);
    let text = file.to_text().unwrap();

    tick();
    let tampered: Vec<u8> = text
        .bytes()
        .map(|b| if b == b'o' { b'0' } else { b })
        .collect();
    assert_eq!(tampered.len(), text.len());
    assert_ne!(tampered, text.as_bytes());
    fs::write(&full, &tampered).unwrap();

    let mut writer = BundleWriter::create(&dir).unwrap();
    assert!(!writer.keep(&entry).unwrap());
    assert!(writer.files().is_empty());
    assert_eq!(writer.add(&file).unwrap(), &entry);
    for other in &first.manifest.files {
        if other.path != entry.path {
            assert!(writer.keep(other).unwrap(), "{} not kept", other.path);
        }
    }
    assert_eq!(writer.files(), first.manifest.files);
    let second = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(second.written, 1);
    assert_eq!(second.unchanged, 3);
    assert_eq!(second.removed, 0);
    assert_eq!(second.manifest_bytes, first.manifest_bytes);
    assert_eq!(fs::read_to_string(&full).unwrap(), text);
}

#[test]
fn keep_refuses_a_deleted_file() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let entry = first.manifest.files[0].clone();
    fs::remove_file(dir.join(&entry.path)).unwrap();

    let mut writer = BundleWriter::create(&dir).unwrap();
    assert!(!writer.keep(&entry).unwrap());
    assert!(writer.files().is_empty());
}

#[test]
fn keeping_or_adding_a_path_twice_is_refused() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let file = request(1);
    let entry = entry_of(&first, &file);

    let mut writer = BundleWriter::create(&dir).unwrap();
    assert!(writer.keep(&entry).unwrap());
    match writer.keep(&entry) {
        Err(BundleError::DuplicateFile { path }) => assert_eq!(path, entry.path),
        other => panic!("expected DuplicateFile, got {other:?}"),
    }
    match writer.add(&file) {
        Err(BundleError::DuplicateFile { path }) => assert_eq!(path, entry.path),
        other => panic!("expected DuplicateFile, got {other:?}"),
    }
    assert_eq!(writer.files(), vec![entry.clone()]);

    // And keep after add.
    let mut writer = BundleWriter::create(&dir).unwrap();
    writer.add(&file).unwrap();
    match writer.keep(&entry) {
        Err(BundleError::DuplicateFile { path }) => assert_eq!(path, entry.path),
        other => panic!("expected DuplicateFile, got {other:?}"),
    }
}

#[test]
fn keeping_a_file_of_another_instance_is_refused() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let kept = first
        .manifest
        .files
        .iter()
        .find(|e| e.path == request(1).relative_path())
        .unwrap()
        .clone();

    let mut writer = BundleWriter::create(&dir).unwrap();
    let mut other = user(7);
    other.instance = "beta.example".to_owned();
    writer.add(&other).unwrap();
    match writer.keep(&kept) {
        Err(BundleError::InstanceMismatch {
            path,
            expected,
            found,
        }) => {
            assert_eq!(path, kept.path);
            assert_eq!(expected, "beta.example");
            assert_eq!(found, INSTANCE);
        }
        other => panic!("expected InstanceMismatch, got {other:?}"),
    }
    assert_eq!(writer.files().len(), 1);

    // Kept first, a file of another instance is refused by add.
    let mut writer = BundleWriter::create(&dir).unwrap();
    assert!(writer.keep(&kept).unwrap());
    assert!(matches!(
        writer.add(&other),
        Err(BundleError::InstanceMismatch { .. })
    ));
}

#[test]
fn files_neither_kept_nor_added_are_removed() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let entry_of = |file: &SyncFile| {
        first
            .manifest
            .files
            .iter()
            .find(|e| e.path == file.relative_path())
            .unwrap()
            .clone()
    };

    let mut writer = BundleWriter::create(&dir).unwrap();
    // Keep request 1, add user 1 (unchanged), add a new request 3; drop
    // request 2 and user 2.
    assert!(writer.keep(&entry_of(&request(1))).unwrap());
    writer.add(&user(1)).unwrap();
    writer.add(&request(3)).unwrap();
    let second = writer.finish(INSTANCE, KEY, 2).unwrap();
    assert_eq!(second.removed, 2);
    assert_eq!(second.unchanged, 2);
    assert_eq!(second.written, 1);
    assert!(second.manifest_written);
    let paths: Vec<&str> = second
        .manifest
        .files
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    let mut expected = vec![
        request(1).relative_path(),
        request(3).relative_path(),
        user(1).relative_path(),
    ];
    expected.sort();
    assert_eq!(paths, expected);
    assert!(dir.join(request(1).relative_path()).is_file());
    assert!(dir.join(request(3).relative_path()).is_file());
    assert!(dir.join(user(1).relative_path()).is_file());
    assert!(!dir.join(request(2).relative_path()).exists());
    assert!(!dir.join(user(2).relative_path()).exists());
}

#[test]
fn with_hex_digest_round_trips_and_refuses_malformed_digests() {
    let file = request(1);
    let entry = ManifestEntry::for_bytes(file.relative_path(), file.to_text().unwrap().as_bytes());
    let hex = entry.sha256_hex();
    assert_eq!(hex.len(), 64);
    assert_eq!(
        ManifestEntry::with_hex_digest(entry.path.clone(), entry.len, &hex),
        Some(entry.clone())
    );
    let path = || entry.path.clone();
    assert_eq!(
        ManifestEntry::with_hex_digest(path(), entry.len, &hex[..63]),
        None
    );
    assert_eq!(
        ManifestEntry::with_hex_digest(path(), entry.len, &format!("{hex}0")),
        None
    );
    assert_eq!(ManifestEntry::with_hex_digest(path(), entry.len, ""), None);
    let upper = "AB".repeat(32);
    assert_eq!(
        ManifestEntry::with_hex_digest(path(), entry.len, &upper),
        None
    );
    assert!(ManifestEntry::with_hex_digest(path(), entry.len, &"ab".repeat(32)).is_some());
    let non_hex = format!("g{}", &hex[1..]);
    assert_eq!(
        ManifestEntry::with_hex_digest(path(), entry.len, &non_hex),
        None
    );
    let spaced = format!(" {}", &hex[1..]);
    assert_eq!(
        ManifestEntry::with_hex_digest(path(), entry.len, &spaced),
        None
    );
}

#[test]
fn add_returns_the_entry_of_the_rendered_text() {
    let (_tmp, dir) = bundle_dir();
    let mut writer = BundleWriter::create(&dir).unwrap();
    let mut texts = Vec::new();
    for file in rows() {
        let text = file.to_text().unwrap();
        let expected = ManifestEntry::for_bytes(file.relative_path(), text.as_bytes());
        assert_eq!(writer.add(&file).unwrap(), &expected);
        texts.push((expected.path, text));
    }
    tick();
    let first = writer.finish(INSTANCE, KEY, 1).unwrap();
    // Added files are on disk once `finish` returns.
    for (path, text) in texts {
        assert_eq!(fs::read(dir.join(path)).unwrap(), text.as_bytes());
    }
    // The same entry again when the bytes are already on disk.
    let mut writer = BundleWriter::create(&dir).unwrap();
    for (file, listed) in {
        let mut rows = rows();
        rows.sort_by_key(SyncFile::relative_path);
        rows
    }
    .iter()
    .zip(&first.manifest.files)
    {
        assert_eq!(writer.add(file).unwrap(), listed);
    }
}

/// A file the storing thread cannot write (here: a directory stands where
/// it goes) fails `finish`, naming the path, and no manifest is written.
#[test]
fn a_file_that_cannot_be_stored_fails_finish_and_writes_no_manifest() {
    let (_tmp, dir) = bundle_dir();
    let mut writer = BundleWriter::create(&dir).unwrap();
    let blocked = request(1);
    fs::create_dir_all(dir.join(blocked.relative_path())).unwrap();
    // Reported by a later `add` or by `finish`, whichever comes first.
    let mut failed = None;
    for file in rows() {
        if let Err(e) = writer.add(&file) {
            failed = Some(e);
            break;
        }
    }
    let err = match failed {
        Some(e) => e,
        None => writer.finish(INSTANCE, KEY, 1).unwrap_err(),
    };
    assert!(
        matches!(&err, BundleError::Io { path, .. } if path.ends_with(blocked.relative_path())),
        "{err:?}"
    );
    assert!(!dir.join(wb_syncfmt::MANIFEST_FILE_NAME).exists());
}
