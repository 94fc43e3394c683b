//! Writing and reading bundle directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;
use wb_syncfmt::bundle::{
    BundleError, BundleReader, BundleUpdater, BundleWriter, Limits, WrittenBundle, write_signature,
};
use wb_syncfmt::{Manifest, ManifestEntry, Scope, SyncFile};

use crate::{request, rows, tree, user};

const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

/// Exports `files` into `dir` as `wb sync export` would: the sequence goes
/// up only when the file list changed.
fn export(dir: &Path, files: &[SyncFile]) -> WrittenBundle {
    let mut writer = BundleWriter::create(dir).unwrap();
    for file in files {
        writer.add(file).unwrap();
    }
    let sequence = match writer.previous_manifest() {
        Some(previous) if previous.files == writer.files() => previous.sequence,
        Some(previous) => previous.sequence + 1,
        None => 1,
    };
    let written = writer.finish("alpha.example", KEY, sequence).unwrap();
    if written.manifest_written {
        // Stands in for wb-crypto's signature over the manifest bytes.
        let signature = wb_syncfmt::sha256_hex(&written.manifest_bytes);
        write_signature(dir, signature.as_bytes()).unwrap();
    }
    written
}

fn read_all(dir: &Path) -> Result<Vec<SyncFile>, BundleError> {
    BundleReader::open(dir, &Limits::default())?
        .entries()
        .collect()
}

/// Expects opening or reading the bundle to fail with a message containing `expected`.
fn check_refused(dir: &Path, expected: &str) {
    match read_all(dir) {
        Ok(_) => panic!("bundle was accepted, expected an error containing {expected:?}"),
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.contains(expected),
                "{message:?} does not contain {expected:?}"
            );
        }
    }
}

fn bundle_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("public_sync");
    export(&dir, &rows());
    (tmp, dir)
}

#[test]
fn written_bundle_reads_back_in_manifest_order() {
    let (_tmp, dir) = bundle_dir();
    let reader = BundleReader::open(&dir, &Limits::default()).unwrap();
    assert_eq!(
        reader.signature_bytes(),
        wb_syncfmt::sha256_hex(reader.manifest_bytes()).as_bytes()
    );
    assert_eq!(
        reader.manifest_bytes(),
        fs::read(dir.join("manifest.sync.txt")).unwrap()
    );
    assert_eq!(reader.manifest().sequence, 1);
    assert_eq!(reader.manifest().instance, "alpha.example");
    let files: Vec<SyncFile> = reader.entries().collect::<Result<_, _>>().unwrap();
    assert_eq!(files, vec![request(1), request(2), user(1), user(2)]);
    let text = String::from_utf8(reader.manifest_bytes().to_vec()).unwrap();
    assert!(text.starts_with(&format!(
        "Format: wb-sync-manifest\nInstance: alpha.example\nPublic-Key: {KEY}\nSchema-Version: 1\nSequence: 1\nFiles: 4\n\n"
    )));
}

#[test]
fn writing_twice_gives_identical_trees() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reversed = rows();
    reversed.reverse();
    export(&tmp.path().join("a"), &rows());
    export(&tmp.path().join("b"), &reversed);
    assert_eq!(tree(&tmp.path().join("a")), tree(&tmp.path().join("b")));
}

#[test]
fn unchanged_export_rewrites_nothing() {
    let (_tmp, dir) = bundle_dir();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let paths = [
        "manifest.sync.txt",
        "user/01936f3e-0000-7000-8000-000000000001.sync.txt",
    ];
    for path in paths {
        fs::File::options()
            .write(true)
            .open(dir.join(path))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let before = tree(&dir);
    let written = export(&dir, &rows());
    assert_eq!(
        (written.written, written.unchanged, written.removed),
        (0, 4, 0)
    );
    assert!(!written.manifest_written);
    assert_eq!(written.manifest.sequence, 1);
    assert_eq!(tree(&dir), before);
    for path in paths {
        assert_eq!(
            fs::metadata(dir.join(path)).unwrap().modified().unwrap(),
            old,
            "{path} was rewritten"
        );
    }
}

#[test]
fn changing_one_row_changes_its_file_and_the_manifest() {
    let (_tmp, dir) = bundle_dir();
    let before = tree(&dir);
    let mut changed = rows();
    changed[0].body.insert("status".to_owned(), json!("closed"));
    let written = export(&dir, &changed);
    assert_eq!(
        (written.written, written.unchanged, written.removed),
        (1, 3, 0)
    );
    assert!(written.manifest_written);
    assert_eq!(written.manifest.sequence, 2);
    let after = tree(&dir);
    let differing: Vec<&PathBuf> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0)
        .collect();
    assert_eq!(
        differing,
        [
            Path::new("bundle.sig"),
            Path::new("manifest.sync.txt"),
            Path::new("request/01936f3e-5c1a-7b2e-9a4d-000000000002.sync.txt"),
        ]
    );
    assert_eq!(read_all(&dir).unwrap().len(), 4);
}

#[test]
fn rows_not_added_are_removed_with_empty_directories() {
    let (_tmp, dir) = bundle_dir();
    let written = export(&dir, &[request(1)]);
    assert_eq!(
        (written.written, written.unchanged, written.removed),
        (0, 1, 3)
    );
    assert!(!dir.join("user").exists());
    assert!(
        !dir.join("request/01936f3e-5c1a-7b2e-9a4d-000000000002.sync.txt")
            .exists()
    );
    assert_eq!(read_all(&dir).unwrap(), vec![request(1)]);
    let written = export(&dir, &[]);
    assert_eq!(written.removed, 1);
    assert_eq!(tree(&dir).len(), 2);
    assert_eq!(read_all(&dir).unwrap(), vec![]);
}

#[test]
fn writer_refuses_private_duplicate_and_mixed_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let mut writer = BundleWriter::create(tmp.path()).unwrap();
    let mut private = user(1);
    private.sync_scope = Scope::Private;
    let err = writer.add(&private).unwrap_err().to_string();
    assert!(err.contains("Sync-Scope is private"), "{err}");
    assert!(
        !tmp.path().join("user").exists(),
        "nothing of a private row is written"
    );
    writer.add(&user(1)).unwrap();
    let err = writer.add(&user(1)).unwrap_err().to_string();
    assert!(err.contains("added twice"), "{err}");
    let mut other = user(2);
    other.instance = "beta.example".to_owned();
    let err = writer.add(&other).unwrap_err().to_string();
    assert!(err.contains("Instance \"beta.example\" differs"), "{err}");
    let err = writer
        .finish("beta.example", KEY, 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("differs from the bundle's instance"), "{err}");
}

#[test]
fn writer_refuses_a_directory_holding_other_things() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
    let err = BundleWriter::create(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("notes.txt: unexpected file"), "{err}");
}

#[test]
fn writer_cleans_up_its_temporary_files() {
    let (_tmp, dir) = bundle_dir();
    fs::write(dir.join(".manifest.sync.txt.tmp"), "half").unwrap();
    fs::write(
        dir.join("user/.01936f3e-0000-7000-8000-000000000009.sync.txt.tmp"),
        "half",
    )
    .unwrap();
    check_refused(&dir, "unexpected file");
    export(&dir, &rows());
    assert_eq!(read_all(&dir).unwrap().len(), 4);
}

#[test]
fn unlisted_file_is_refused() {
    let (_tmp, dir) = bundle_dir();
    fs::write(
        dir.join("user/01936f3e-0000-7000-8000-000000000099.sync.txt"),
        user(99).to_text().unwrap(),
    )
    .unwrap();
    check_refused(
        &dir,
        "user/01936f3e-0000-7000-8000-000000000099.sync.txt: file is not listed in the manifest",
    );
}

#[test]
fn missing_file_is_refused() {
    let (_tmp, dir) = bundle_dir();
    fs::remove_file(dir.join("user/01936f3e-0000-7000-8000-000000000002.sync.txt")).unwrap();
    check_refused(
        &dir,
        "user/01936f3e-0000-7000-8000-000000000002.sync.txt: listed in the manifest but missing",
    );
}

#[test]
fn flipped_byte_is_a_hash_mismatch() {
    let (_tmp, dir) = bundle_dir();
    let path = dir.join("request/01936f3e-5c1a-7b2e-9a4d-000000000001.sync.txt");
    let text = fs::read_to_string(&path).unwrap().replace("open", "opem");
    fs::write(&path, text).unwrap();
    check_refused(
        &dir,
        "request/01936f3e-5c1a-7b2e-9a4d-000000000001.sync.txt: SHA-256 is ",
    );
}

#[test]
fn truncated_file_is_a_length_mismatch() {
    let (_tmp, dir) = bundle_dir();
    let path = dir.join("request/01936f3e-5c1a-7b2e-9a4d-000000000001.sync.txt");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    check_refused(&dir, "length is ");
}

#[test]
fn dot_dot_in_the_manifest_is_refused() {
    let (_tmp, dir) = bundle_dir();
    let manifest = fs::read_to_string(dir.join("manifest.sync.txt")).unwrap();
    let manifest = manifest.replace(
        "user/01936f3e-0000-7000-8000-000000000002",
        "user/../../01936f3e-0000-7000-8000-000000000002",
    );
    fs::write(dir.join("manifest.sync.txt"), manifest).unwrap();
    check_refused(
        &dir,
        "manifest.sync.txt:11: path \"user/../../01936f3e-0000-7000-8000-000000000002.sync.txt\" is not allowed",
    );
}

#[cfg(unix)]
#[test]
fn symlinks_are_refused() {
    let (tmp, dir) = bundle_dir();
    let outside = tmp.path().join("outside.sync.txt");
    fs::write(&outside, "x").unwrap();
    std::os::unix::fs::symlink(
        &outside,
        dir.join("user/01936f3e-0000-7000-8000-000000000099.sync.txt"),
    )
    .unwrap();
    check_refused(
        &dir,
        "user/01936f3e-0000-7000-8000-000000000099.sync.txt: symbolic links are not allowed",
    );
    let err = BundleWriter::create(&dir).unwrap_err().to_string();
    assert!(err.contains("symbolic links are not allowed"), "{err}");

    let (_tmp, dir) = bundle_dir();
    fs::rename(dir.join("bundle.sig"), dir.join("real.sig")).unwrap();
    std::os::unix::fs::symlink(dir.join("real.sig"), dir.join("bundle.sig")).unwrap();
    check_refused(&dir, "bundle.sig: symbolic links are not allowed");
}

/// Writes a bundle holding exactly `files` (path, bytes) with a matching manifest.
fn craft(dir: &Path, files: &[(&str, Vec<u8>)]) {
    let mut entries: Vec<ManifestEntry> = Vec::new();
    for (path, bytes) in files {
        let full = dir.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, bytes).unwrap();
        entries.push(ManifestEntry::for_bytes((*path).to_owned(), bytes));
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        instance: "alpha.example".to_owned(),
        public_key: KEY.to_owned(),
        schema_version: 1,
        sequence: 1,
        files: entries,
    };
    fs::write(dir.join("manifest.sync.txt"), manifest.to_text().unwrap()).unwrap();
    fs::write(dir.join("bundle.sig"), "sig").unwrap();
}

#[test]
fn file_in_the_wrong_entity_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let file = user(1);
    craft(
        tmp.path(),
        &[(
            "request/01936f3e-0000-7000-8000-000000000001.sync.txt",
            file.to_text().unwrap().into_bytes(),
        )],
    );
    check_refused(
        tmp.path(),
        "request/01936f3e-0000-7000-8000-000000000001.sync.txt:1: headers say Entity: user and ID: 01936f3e-0000-7000-8000-000000000001, which belong at user/01936f3e-0000-7000-8000-000000000001.sync.txt",
    );
}

#[test]
fn file_whose_id_differs_from_its_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    craft(
        tmp.path(),
        &[(
            "user/01936f3e-0000-7000-8000-000000000002.sync.txt",
            user(1).to_text().unwrap().into_bytes(),
        )],
    );
    check_refused(
        tmp.path(),
        "user/01936f3e-0000-7000-8000-000000000002.sync.txt:1: headers say Entity: user",
    );
}

#[test]
fn private_file_is_refused_by_the_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let text = user(1)
        .to_text()
        .unwrap()
        .replace("Sync-Scope: public", "Sync-Scope: private");
    craft(
        tmp.path(),
        &[(
            "user/01936f3e-0000-7000-8000-000000000001.sync.txt",
            text.into_bytes(),
        )],
    );
    check_refused(
        tmp.path(),
        "user/01936f3e-0000-7000-8000-000000000001.sync.txt:5: Sync-Scope is private; a bundle never carries private rows",
    );
}

#[test]
fn file_of_another_instance_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut file = user(1);
    file.instance = "beta.example".to_owned();
    craft(
        tmp.path(),
        &[(
            "user/01936f3e-0000-7000-8000-000000000001.sync.txt",
            file.to_text().unwrap().into_bytes(),
        )],
    );
    check_refused(
        tmp.path(),
        ":3: Instance \"beta.example\" differs from the bundle's instance \"alpha.example\"",
    );
}

#[test]
fn malformed_file_error_names_bundle_path_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let text = user(1)
        .to_text()
        .unwrap()
        .replace("Schema-Version: 1", "Schema-Version: x");
    craft(
        tmp.path(),
        &[(
            "user/01936f3e-0000-7000-8000-000000000001.sync.txt",
            text.into_bytes(),
        )],
    );
    check_refused(
        tmp.path(),
        "user/01936f3e-0000-7000-8000-000000000001.sync.txt:4: Schema-Version \"x\" is not a number",
    );
}

#[test]
fn paths_outside_the_layout_are_refused() {
    let cases: [(&str, &str); 5] = [
        (
            "posts/01936f3e-0000-7000-8000-000000000001.sync.txt",
            "posts: unexpected directory",
        ),
        ("README.md", "README.md: unexpected file"),
        (
            "user/01936F3E-0000-7000-8000-000000000001.sync.txt",
            "user/01936F3E-0000-7000-8000-000000000001.sync.txt: unexpected file",
        ),
        ("user/notes.txt", "user/notes.txt: unexpected file"),
        (
            "user/sub/01936f3e-0000-7000-8000-000000000001.sync.txt",
            "user/sub: unexpected directory",
        ),
    ];
    for (path, expected) in cases {
        let (_tmp, dir) = bundle_dir();
        let full = dir.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, "x").unwrap();
        check_refused(&dir, expected);
    }
}

#[test]
fn missing_manifest_or_signature_is_refused() {
    let (_tmp, dir) = bundle_dir();
    fs::remove_file(dir.join("bundle.sig")).unwrap();
    check_refused(&dir, "no bundle.sig; the bundle is not signed");
    fs::remove_file(dir.join("manifest.sync.txt")).unwrap();
    check_refused(&dir, "no manifest.sync.txt; not a bundle directory");
}

#[test]
fn limits_are_enforced() {
    let (_tmp, dir) = bundle_dir();
    let mut limits = Limits::default();
    limits.max_files = 3;
    let err = BundleReader::open(&dir, &limits).unwrap_err().to_string();
    assert_eq!(err, "bundle holds 4 files, over the limit of 3");
    let mut limits = Limits::default();
    limits.max_file_bytes = 100;
    let err = BundleReader::open(&dir, &limits).unwrap_err().to_string();
    assert!(err.contains("over the limit of 100 bytes"), "{err}");
    let mut limits = Limits::default();
    limits.max_manifest_bytes = 100;
    let err = BundleReader::open(&dir, &limits).unwrap_err().to_string();
    assert!(
        err.starts_with("manifest.sync.txt: 644 bytes, over the limit of 100 bytes"),
        "{err}"
    );
}

/// Puts a git work tree's top-level entries into `dir`: a `.git` directory
/// (with a file and a link inside, never looked at), `.gitignore`,
/// `.gitattributes`, and a `.git-hooks` link.
fn add_git_entries(dir: &Path) {
    fs::create_dir_all(dir.join(".git/objects")).unwrap();
    fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(dir.join(".git/objects/notes.txt"), "anything").unwrap();
    fs::write(dir.join(".gitignore"), "*.bak\n").unwrap();
    fs::write(dir.join(".gitattributes"), "* -text\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(".gitignore", dir.join(".git-hooks")).unwrap();
}

#[test]
fn dot_entries_at_the_top_are_ignored_by_reader_and_writer_and_kept() {
    let (_tmp, dir) = bundle_dir();
    add_git_entries(&dir);
    let git_before = tree(&dir.join(".git"));
    let before = tree(&dir);
    // The reader skips them.
    assert_eq!(read_all(&dir).unwrap().len(), 4);
    // An unchanged export touches nothing, dot-entries included.
    let again = export(&dir, &rows());
    assert_eq!((again.written, again.removed), (0, 0));
    assert_eq!(tree(&dir), before);
    // A retraction removes the row's file and leaves them alone, as does
    // an update of the bundle.
    let fewer = export(&dir, &rows()[1..]);
    assert_eq!(fewer.removed, 1);
    assert!(dir.join(".gitignore").is_file() && dir.join(".gitattributes").is_file());
    assert_eq!(tree(&dir.join(".git")), git_before);
    let digest = wb_syncfmt::sha256_hex(&fs::read(dir.join("manifest.sync.txt")).unwrap());
    let mut writer = BundleUpdater::open(&dir, &digest).unwrap().unwrap();
    let gone = rows()[1].relative_path();
    assert!(writer.remove(&gone).unwrap());
    let updated = writer.finish("alpha.example", KEY, 9).unwrap();
    assert_eq!(updated.removed, 1);
    assert_eq!(tree(&dir.join(".git")), git_before);
    assert!(dir.join(".gitignore").is_file() && dir.join(".gitattributes").is_file());
    #[cfg(unix)]
    assert!(fs::symlink_metadata(dir.join(".git-hooks")).is_ok());
}

#[test]
fn a_fresh_export_into_a_git_work_tree_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("clone");
    fs::create_dir_all(&dir).unwrap();
    add_git_entries(&dir);
    let git_before = tree(&dir.join(".git"));
    export(&dir, &rows());
    assert_eq!(read_all(&dir).unwrap().len(), 4);
    assert_eq!(tree(&dir.join(".git")), git_before);
}

#[test]
fn only_the_top_level_is_exempt_and_other_entries_are_still_refused() {
    for (path, expected) in [
        // Dot-entries inside an entity directory are not exempt.
        ("user/.gitkeep", "user/.gitkeep: unexpected file"),
        // Neither are other names at the top.
        ("gitignore", "gitignore: unexpected file"),
        ("notes/.keep", "notes: unexpected directory"),
    ] {
        let (_tmp, dir) = bundle_dir();
        add_git_entries(&dir);
        let full = dir.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, "x").unwrap();
        check_refused(&dir, expected);
        let before = tree(&dir);
        let err = BundleWriter::create(&dir).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        assert_eq!(tree(&dir), before, "a refused writer changes nothing");
    }
}

#[test]
fn key_rotations_travel_at_the_top_and_are_written_and_removed_deterministically() {
    use wb_syncfmt::bundle::{MAX_KEY_ROTATIONS_BYTES, write_key_rotations};
    let (_tmp, dir) = bundle_dir();
    let path = dir.join(wb_syncfmt::KEY_ROTATIONS_FILE_NAME);
    assert_eq!(
        BundleReader::open(&dir, &Limits::default())
            .unwrap()
            .key_rotations_bytes(),
        None
    );

    // Written, then left alone when the same, replaced when different.
    assert!(write_key_rotations(&dir, Some(b"chain one\n")).unwrap());
    let reader = BundleReader::open(&dir, &Limits::default()).unwrap();
    assert_eq!(reader.key_rotations_bytes(), Some(&b"chain one\n"[..]));
    assert_eq!(reader.entries().count(), rows().len());
    let before = fs::metadata(&path).unwrap().modified().unwrap();
    assert!(!write_key_rotations(&dir, Some(b"chain one\n")).unwrap());
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
    assert!(write_key_rotations(&dir, Some(b"chain two\n")).unwrap());
    assert_eq!(fs::read(&path).unwrap(), b"chain two\n");

    // A writer re-exporting into the directory leaves it there.
    export(&dir, &rows()[..2]);
    assert_eq!(fs::read(&path).unwrap(), b"chain two\n");

    // Removed with None, and None again is a no-op.
    assert!(write_key_rotations(&dir, None).unwrap());
    assert!(!path.exists());
    assert!(!write_key_rotations(&dir, None).unwrap());

    // Over the limit: refused by the writer and by the reader.
    let huge = vec![b'x'; MAX_KEY_ROTATIONS_BYTES as usize + 1];
    assert!(matches!(
        write_key_rotations(&dir, Some(&huge)),
        Err(BundleError::TooLarge { .. })
    ));
    assert!(!path.exists());
    fs::write(&path, &huge).unwrap();
    check_refused(&dir, "key-rotations.txt: ");
    fs::remove_file(&path).unwrap();

    // Not a regular file: refused, naming it.
    fs::create_dir(&path).unwrap();
    check_refused(&dir, "key-rotations.txt");
    assert!(write_key_rotations(&dir, Some(b"x")).is_err());
    fs::remove_dir(&path).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("manifest.sync.txt", &path).unwrap();
        check_refused(&dir, "key-rotations.txt: symbolic links are not allowed");
        fs::remove_file(&path).unwrap();
    }
    // Only at the top level.
    fs::write(dir.join("user/key-rotations.txt"), b"x").unwrap();
    check_refused(&dir, "user/key-rotations.txt");
}
