//! `BundleUpdater`: changing a few files of a bundle the caller wrote,
//! identified by its manifest's SHA-256.
//!
//! The updater trusts the directory: it neither lists it nor reads the files
//! the manifest lists, so the tests below also pin down what it does *not*
//! look at (stray files, deleted files), in contrast with
//! `BundleWriter::create`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use wb_syncfmt::bundle::{
    BundleError, BundleReader, BundleUpdater, BundleWriter, Limits, WrittenBundle, write_signature,
};
use wb_syncfmt::{MANIFEST_FILE_NAME, ManifestEntry, SyncFile, sha256_hex};

use crate::{INSTANCE, KEY, request, rows, user};

/// File times are coarse (a clock tick): lets the clock move on.
fn tick() {
    sleep(Duration::from_millis(20));
}

fn bundle_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    (tmp, dir)
}

/// Stands in for wb-crypto's signature over the manifest bytes.
fn sign(dir: &Path, written: &WrittenBundle) {
    write_signature(dir, sha256_hex(&written.manifest_bytes).as_bytes()).unwrap();
}

/// A first export of `files` into `dir` with `create`, sequence 1, signed,
/// with the files older than the manifest.
fn first_export(dir: &Path, files: &[SyncFile]) -> WrittenBundle {
    let written = crate::first_export(dir, files);
    sign(dir, &written);
    written
}

/// A fresh `create` export of `files` into a new directory, signed.
fn fresh_export(files: &[SyncFile], sequence: u64) -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = bundle_dir();
    let mut writer = BundleWriter::create(&dir).unwrap();
    for file in files {
        writer.add(file).unwrap();
    }
    let written = writer.finish(INSTANCE, KEY, sequence).unwrap();
    sign(&dir, &written);
    (tmp, dir)
}

/// The lowercase hex SHA-256 of the manifest now in `dir`.
fn manifest_sha(dir: &Path) -> String {
    sha256_hex(&fs::read(dir.join(MANIFEST_FILE_NAME)).unwrap())
}

/// Opens `dir` with an updater, with the digest of its current manifest.
fn open_update(dir: &Path) -> BundleUpdater {
    BundleUpdater::open(dir, &manifest_sha(dir))
        .unwrap()
        .expect("update refused the current manifest")
}

/// `file` with another title: same path, other bytes.
fn changed(file: &SyncFile) -> SyncFile {
    let mut file = file.clone();
    file.body.insert(
        "title".to_owned(),
        Value::String("A longer ladder for the orchard".to_owned()),
    );
    file
}

/// The entry of `file`'s rendered bytes.
fn entry_for(file: &SyncFile) -> ManifestEntry {
    ManifestEntry::for_bytes(file.relative_path(), file.to_text().unwrap().as_bytes())
}

/// Every entry of the tree (links not followed), relative path →
/// (modification time, bytes for files / `None` for directories).
type Snapshot = BTreeMap<PathBuf, (SystemTime, Option<Vec<u8>>)>;

fn snapshot(dir: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
        let meta = fs::symlink_metadata(dir).unwrap();
        out.insert(
            dir.strip_prefix(root).unwrap().to_owned(),
            (meta.modified().unwrap(), None),
        );
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_owned(),
                    (meta.modified().unwrap(), Some(fs::read(&path).unwrap())),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Every file of the tree, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(dir)
        .into_iter()
        .filter_map(|(path, (_, bytes))| Some((path, bytes?)))
        .collect()
}

/// Opens `dir` with `BundleReader` and reads every file.
fn read_back(dir: &Path) -> Vec<SyncFile> {
    let reader = BundleReader::open(dir, &Limits::default()).unwrap();
    reader.entries().collect::<Result<_, _>>().unwrap()
}

/// `files` sorted by path, as a reader returns them.
fn sorted(mut files: Vec<SyncFile>) -> Vec<SyncFile> {
    files.sort_by_key(SyncFile::relative_path);
    files
}

/// The temporary file an interrupted atomic write of `path` leaves.
fn temp_of(dir: &Path, path: &str) -> PathBuf {
    let full = dir.join(path);
    let name = full.file_name().unwrap().to_str().unwrap().to_owned();
    full.with_file_name(format!(".{name}.tmp"))
}

fn expect_duplicate<T: std::fmt::Debug>(result: Result<T, BundleError>, expected: &str) {
    match result {
        Err(BundleError::DuplicateFile { path }) => assert_eq!(path, expected),
        other => panic!("expected DuplicateFile for {expected}, got {other:?}"),
    }
}

fn expect_unexpected_path<T: std::fmt::Debug>(result: Result<T, BundleError>, expected: &str) {
    match result {
        Err(err @ BundleError::UnexpectedPath { .. }) => {
            let BundleError::UnexpectedPath { path, .. } = &err else {
                unreachable!()
            };
            assert_eq!(path, expected);
            assert!(
                err.to_string().starts_with(expected),
                "{err} does not start with {expected:?}"
            );
        }
        other => panic!("expected UnexpectedPath for {expected:?}, got {other:?}"),
    }
}

#[test]
fn update_opens_only_the_manifest_whose_digest_it_is_given() {
    let (_tmp, dir) = bundle_dir();
    let any = "0".repeat(64);
    // No directory at all, then an empty directory: no manifest.
    assert!(BundleUpdater::open(&dir, &any).unwrap().is_none());
    fs::create_dir_all(&dir).unwrap();
    assert!(BundleUpdater::open(&dir, &any).unwrap().is_none());
    assert!(fs::read_dir(&dir).unwrap().next().is_none());

    let first = first_export(&dir, &rows());
    let sha = sha256_hex(&first.manifest_bytes);
    assert_eq!(sha, manifest_sha(&dir));
    assert!(BundleUpdater::open(&dir, &any).unwrap().is_none());
    let mut other = sha.clone().into_bytes();
    other[63] = if other[63] == b'0' { b'1' } else { b'0' };
    let other = String::from_utf8(other).unwrap();
    assert!(BundleUpdater::open(&dir, &other).unwrap().is_none());
    // The digest is lowercase hex, compared exactly.
    assert!(
        BundleUpdater::open(&dir, &sha.to_uppercase())
            .unwrap()
            .is_none()
    );

    let writer = BundleUpdater::open(&dir, &sha).unwrap().unwrap();
    assert_eq!(writer.previous_manifest(), &first.manifest);
    assert_eq!(writer.files(), first.manifest.files);
    assert_eq!(writer.files().len(), 4);

    // Once another export replaced the manifest, the old digest is refused.
    let mut writer = BundleWriter::create(&dir).unwrap();
    for file in [request(1), user(1)] {
        writer.add(&file).unwrap();
    }
    let second = writer.finish(INSTANCE, KEY, 2).unwrap();
    assert_ne!(second.manifest_bytes, first.manifest_bytes);
    assert!(BundleUpdater::open(&dir, &sha).unwrap().is_none());
    let writer = BundleUpdater::open(&dir, &sha256_hex(&second.manifest_bytes))
        .unwrap()
        .unwrap();
    assert_eq!(writer.previous_manifest(), &second.manifest);
    assert_eq!(writer.files(), second.manifest.files);

    // A manifest that is a directory is no manifest.
    let (_tmp2, odd) = bundle_dir();
    fs::create_dir_all(odd.join(MANIFEST_FILE_NAME)).unwrap();
    assert!(BundleUpdater::open(&odd, &any).unwrap().is_none());
}

#[test]
fn update_without_changes_touches_nothing() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    tick();
    let before = snapshot(&dir);

    let writer = open_update(&dir);
    let second = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(second.manifest_bytes, first.manifest_bytes);
    assert_eq!(second.manifest, first.manifest);
    assert_eq!(second.written, 0);
    assert_eq!(second.removed, 0);
    assert_eq!(second.unchanged, 4);
    assert!(!second.manifest_written);
    // Same bytes and times for every file, and the same directory times
    // (no temporary file came and went).
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn update_adding_unchanged_rows_writes_nothing() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    tick();
    let before = snapshot(&dir);

    let mut writer = open_update(&dir);
    for file in rows() {
        assert_eq!(writer.add(&file).unwrap(), &entry_for(&file));
    }
    assert_eq!(writer.files(), first.manifest.files);
    let second = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(second.manifest_bytes, first.manifest_bytes);
    assert_eq!(second.written, 0);
    assert_eq!(second.unchanged, 4);
    assert_eq!(second.removed, 0);
    assert!(!second.manifest_written);
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn update_add_replaces_a_changed_file_and_adds_a_new_one() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    tick();
    let before = snapshot(&dir);

    // A changed row: its file and its entry are replaced.
    let edited = changed(&request(1));
    let path = edited.relative_path();
    let old_entry = entry_for(&request(1));
    let new_entry = entry_for(&edited);
    assert_ne!(new_entry.sha256, old_entry.sha256);
    let mut writer = open_update(&dir);
    assert_eq!(writer.add(&edited).unwrap(), &new_entry);
    let files = writer.files();
    assert_eq!(files.len(), 4);
    assert!(files.contains(&new_entry));
    assert!(!files.contains(&old_entry));
    let second = writer.finish(INSTANCE, KEY, 2).unwrap();
    assert_eq!(second.written, 1);
    assert_eq!(second.unchanged, 3);
    assert_eq!(second.removed, 0);
    assert!(second.manifest_written);
    assert_eq!(second.manifest.files, files);
    assert_eq!(
        fs::read(dir.join(MANIFEST_FILE_NAME)).unwrap(),
        second.manifest_bytes
    );
    assert_eq!(
        fs::read_to_string(dir.join(&path)).unwrap(),
        edited.to_text().unwrap()
    );
    assert!(!temp_of(&dir, &path).exists());
    // The other files were not touched.
    let after = snapshot(&dir);
    for other in &first.manifest.files {
        if other.path != path {
            let key = PathBuf::from(&other.path);
            assert_eq!(after[&key], before[&key], "{} was touched", other.path);
        }
    }
    sign(&dir, &second);

    // A new row: a new file and entry, the rest as they were.
    let mut writer = open_update(&dir);
    assert_eq!(writer.previous_manifest(), &second.manifest);
    let added = user(3);
    assert!(!dir.join(added.relative_path()).exists());
    assert_eq!(writer.add(&added).unwrap(), &entry_for(&added));
    let third = writer.finish(INSTANCE, KEY, 3).unwrap();
    assert_eq!(third.written, 1);
    assert_eq!(third.unchanged, 4);
    assert_eq!(third.removed, 0);
    assert!(third.manifest_written);
    let mut expected_files = second.manifest.files.clone();
    expected_files.push(entry_for(&added));
    expected_files.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(third.manifest.files, expected_files);
    assert_eq!(
        fs::read_to_string(dir.join(added.relative_path())).unwrap(),
        added.to_text().unwrap()
    );
    sign(&dir, &third);

    // The result is a readable bundle, identical to a fresh export.
    let expected_rows = vec![edited, request(2), user(1), user(2), added];
    assert_eq!(read_back(&dir), sorted(expected_rows.clone()));
    let (_fresh_tmp, fresh) = fresh_export(&expected_rows, 3);
    assert_eq!(
        fs::read(fresh.join(MANIFEST_FILE_NAME)).unwrap(),
        third.manifest_bytes
    );
    assert_eq!(tree(&dir), tree(&fresh));
}

#[test]
fn update_refuses_adding_a_path_twice() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());

    let mut writer = open_update(&dir);
    let edited = changed(&request(1));
    writer.add(&edited).unwrap();
    expect_duplicate(writer.add(&edited), &edited.relative_path());
    expect_duplicate(writer.add(&request(1)), &edited.relative_path());
    let added = user(3);
    writer.add(&added).unwrap();
    expect_duplicate(writer.add(&added), &added.relative_path());
    // The refused adds changed nothing.
    let files = writer.files();
    assert_eq!(files.len(), 5);
    assert!(files.contains(&entry_for(&edited)));
    assert!(files.contains(&entry_for(&added)));
    let second = writer.finish(INSTANCE, KEY, 2).unwrap();
    assert_eq!(second.written, 2);
    assert_eq!(second.unchanged, 3);
    assert_eq!(
        fs::read_to_string(dir.join(edited.relative_path())).unwrap(),
        edited.to_text().unwrap()
    );
    assert_ne!(second.manifest_bytes, first.manifest_bytes);
}

#[test]
fn update_remove_deletes_the_file_and_its_temporary_file() {
    let (_tmp, dir) = bundle_dir();
    first_export(&dir, &rows());
    let gone = request(1).relative_path();
    let temp = temp_of(&dir, &gone);
    fs::write(&temp, b"half a file").unwrap();

    let mut writer = open_update(&dir);
    assert!(writer.remove(&gone).unwrap());
    assert!(writer.files().iter().all(|e| e.path != gone));
    assert_eq!(writer.files().len(), 3);
    // Deleted by finish, not before.
    assert!(dir.join(&gone).is_file());
    // Removing it again: the bundle no longer holds it.
    assert!(!writer.remove(&gone).unwrap());
    let second = writer.finish(INSTANCE, KEY, 2).unwrap();
    assert_eq!(second.removed, 1);
    assert_eq!(second.written, 0);
    assert_eq!(second.unchanged, 3);
    assert!(second.manifest_written);
    assert!(second.manifest.files.iter().all(|e| e.path != gone));
    assert!(!dir.join(&gone).exists());
    assert!(!temp.exists());
    // request/ still holds request 2.
    assert!(dir.join(request(2).relative_path()).is_file());
    sign(&dir, &second);

    let remaining = vec![request(2), user(1), user(2)];
    assert_eq!(read_back(&dir), sorted(remaining.clone()));
    let (_fresh_tmp, fresh) = fresh_export(&remaining, 2);
    assert_eq!(tree(&dir), tree(&fresh));
}

#[test]
fn update_removing_the_last_file_of_an_entity_removes_its_directory() {
    let (_tmp, dir) = bundle_dir();
    first_export(&dir, &rows());
    assert!(dir.join("user").is_dir());

    let mut writer = open_update(&dir);
    assert!(writer.remove(&user(1).relative_path()).unwrap());
    assert!(writer.remove(&user(2).relative_path()).unwrap());
    let second = writer.finish(INSTANCE, KEY, 2).unwrap();
    assert_eq!(second.removed, 2);
    assert_eq!(second.unchanged, 2);
    assert!(!dir.join("user").exists());
    assert!(dir.join("request").is_dir());
    sign(&dir, &second);

    let remaining = vec![request(1), request(2)];
    assert_eq!(read_back(&dir), sorted(remaining.clone()));
    let (_fresh_tmp, fresh) = fresh_export(&remaining, 2);
    assert_eq!(tree(&dir), tree(&fresh));
}

#[test]
fn update_remove_of_an_unlisted_path_is_false() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    tick();
    let before = snapshot(&dir);

    let mut writer = open_update(&dir);
    assert!(!writer.remove(&request(9).relative_path()).unwrap());
    assert!(!writer.remove(&user(9).relative_path()).unwrap());
    assert_eq!(writer.files(), first.manifest.files);
    let second = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(second.removed, 0);
    assert_eq!(second.unchanged, 4);
    assert_eq!(second.manifest_bytes, first.manifest_bytes);
    assert!(!second.manifest_written);
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn remove_refuses_paths_outside_the_layout() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let upper = request(1).relative_path().to_uppercase();
    let bad = [
        "../x",
        "user/not-a-uuid.sync.txt",
        "/abs",
        "",
        "user",
        "nope/01936f3e-0000-7000-8000-000000000001.sync.txt",
        "user/../user/01936f3e-0000-7000-8000-000000000001.sync.txt",
        "user/01936f3e-0000-7000-8000-000000000001.txt",
        upper.as_str(),
    ];
    let mut writer = open_update(&dir);
    for path in bad {
        expect_unexpected_path(writer.remove(path), path);
    }
    assert_eq!(writer.files(), first.manifest.files);
    let second = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(second.removed, 0);
    assert!(!second.manifest_written);
}

#[test]
fn update_trusts_the_directory_and_leaves_unlisted_files_alone() {
    let (_tmp, dir) = bundle_dir();
    first_export(&dir, &rows());
    // A stray file with a bundle file's name but unlisted, and a foreign file.
    let stray = request(9);
    let stray_full = dir.join(stray.relative_path());
    fs::write(&stray_full, stray.to_text().unwrap()).unwrap();
    let foreign = dir.join("request").join("notes.txt");
    fs::write(&foreign, b"not a bundle file").unwrap();

    let mut writer = open_update(&dir);
    assert_eq!(writer.files().len(), 4);
    writer.add(&changed(&request(1))).unwrap();
    assert!(writer.remove(&request(2).relative_path()).unwrap());
    let second = writer.finish(INSTANCE, KEY, 2).unwrap();
    assert_eq!(second.written, 1);
    assert_eq!(second.removed, 1);
    assert_eq!(second.unchanged, 2);
    assert_eq!(second.manifest.files.len(), 3);
    assert!(
        second
            .manifest
            .files
            .iter()
            .all(|e| e.path != stray.relative_path())
    );
    // Both strays are still there, untouched.
    assert_eq!(
        fs::read_to_string(&stray_full).unwrap(),
        stray.to_text().unwrap()
    );
    assert_eq!(fs::read(&foreign).unwrap(), b"not a bundle file");

    // Contrast: `create` refuses the foreign file…
    match BundleWriter::create(&dir) {
        Err(BundleError::UnexpectedPath { path, what, .. }) => {
            assert_eq!(path, "request/notes.txt");
            assert_eq!(what, "file");
        }
        other => panic!("expected UnexpectedPath, got {other:?}"),
    }
    assert!(foreign.is_file());
    // …and, without it, removes the unlisted bundle file on finish.
    fs::remove_file(&foreign).unwrap();
    let mut writer = BundleWriter::create(&dir).unwrap();
    for file in [changed(&request(1)), user(1), user(2)] {
        writer.add(&file).unwrap();
    }
    let third = writer.finish(INSTANCE, KEY, 2).unwrap();
    assert_eq!(third.removed, 1);
    assert_eq!(third.manifest_bytes, second.manifest_bytes);
    assert!(!stray_full.exists());
}

#[test]
fn update_does_not_check_the_listed_files() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    // A listed file deleted and another rewritten behind the writer's back.
    let deleted = dir.join(request(1).relative_path());
    fs::remove_file(&deleted).unwrap();
    tick();
    let tampered = dir.join(user(1).relative_path());
    fs::write(&tampered, b"tampered").unwrap();

    let writer = open_update(&dir);
    assert_eq!(writer.files(), first.manifest.files);
    let second = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(second.manifest_bytes, first.manifest_bytes);
    assert_eq!(second.unchanged, 4);
    assert_eq!(second.written, 0);
    assert!(!second.manifest_written);
    assert!(!deleted.exists());
    assert_eq!(fs::read(&tampered).unwrap(), b"tampered");

    // `create` notices both: adding the rows repairs the bundle.
    let mut writer = BundleWriter::create(&dir).unwrap();
    for file in rows() {
        writer.add(&file).unwrap();
    }
    let third = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(third.written, 2);
    assert_eq!(third.manifest_bytes, first.manifest_bytes);
    assert_eq!(read_back(&dir), sorted(rows()));
}

#[cfg(unix)]
#[test]
fn update_refuses_to_write_into_a_symlinked_entity_directory() {
    let (tmp, dir) = bundle_dir();
    first_export(&dir, &rows());
    let outside = tmp.path().join("outside");
    fs::rename(dir.join("request"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("request")).unwrap();
    let outside_before = snapshot(&outside);

    let mut writer = open_update(&dir);
    for file in [changed(&request(1)), request(3)] {
        match writer.add(&file) {
            Err(BundleError::Symlink { path }) => assert_eq!(path, "request"),
            other => panic!("expected Symlink, got {other:?}"),
        }
    }
    // Files of other entities are still written.
    writer.add(&changed(&user(1))).unwrap();
    assert_eq!(snapshot(&outside), outside_before);
    assert!(dir.join("request").is_symlink());

    // A manifest that is a symbolic link is refused too.
    let (_tmp2, other) = bundle_dir();
    fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(dir.join(MANIFEST_FILE_NAME), other.join(MANIFEST_FILE_NAME))
        .unwrap();
    match BundleUpdater::open(&other, &manifest_sha(&dir)) {
        Err(BundleError::Symlink { path }) => assert_eq!(path, MANIFEST_FILE_NAME),
        other => panic!("expected Symlink, got {other:?}"),
    }
}

#[test]
fn keep_in_update_mode_trusts_the_listed_entry() {
    let (_tmp, dir) = bundle_dir();
    let first = first_export(&dir, &rows());
    let listed = entry_for(&request(1));
    assert!(first.manifest.files.contains(&listed));
    // Not looked at: even a deleted file is kept.
    fs::remove_file(dir.join(&listed.path)).unwrap();

    let mut writer = open_update(&dir);
    let mut other_digest = listed.clone();
    other_digest.sha256[0] ^= 1;
    assert!(!writer.keep(&other_digest).unwrap());
    let mut longer = listed.clone();
    longer.len += 1;
    assert!(!writer.keep(&longer).unwrap());
    assert!(!writer.keep(&entry_for(&request(9))).unwrap());
    assert!(!writer.keep(&entry_for(&changed(&user(1)))).unwrap());
    // Refusals recorded nothing: the listed entry can still be kept.
    assert!(writer.keep(&listed).unwrap());
    expect_duplicate(writer.keep(&listed), &listed.path);
    expect_duplicate(writer.add(&request(1)), &listed.path);
    // Keep after add is refused too.
    let user1 = user(1);
    writer.add(&user1).unwrap();
    expect_duplicate(writer.keep(&entry_for(&user1)), &user1.relative_path());
    assert_eq!(writer.files(), first.manifest.files);

    let second = writer.finish(INSTANCE, KEY, 1).unwrap();
    assert_eq!(second.manifest_bytes, first.manifest_bytes);
    assert_eq!(second.written, 0);
    assert_eq!(second.unchanged, 4);
    assert!(!second.manifest_written);
}

/// `finish` refuses to delete a removed file through a symlinked entity
/// directory, as `add` refuses to write through one: nothing outside the
/// bundle is deleted.
#[cfg(unix)]
#[test]
fn update_remove_never_deletes_through_a_symlinked_entity_directory() {
    let (tmp, dir) = bundle_dir();
    first_export(&dir, &rows());
    let outside = tmp.path().join("outside");
    fs::rename(dir.join("request"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("request")).unwrap();
    let outside_before = snapshot(&outside);

    let mut writer = open_update(&dir);
    assert!(writer.remove(&request(1).relative_path()).unwrap());
    let err = writer.finish(INSTANCE, KEY, 2).unwrap_err();
    assert!(
        matches!(&err, BundleError::Symlink { path } if path == "request"),
        "{err:?}"
    );
    assert_eq!(snapshot(&outside), outside_before);
}
