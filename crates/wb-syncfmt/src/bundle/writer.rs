//! [`BundleWriter`]: writes a whole bundle into a directory, touching only
//! the files whose bytes change and removing the files of rows not added.
//! (To change a few files of a bundle this process wrote, see
//! [`BundleUpdater`](super::BundleUpdater).)
//!
//! Cost, which the benchmark (`wb-bench`) watches: a new file is one
//! `open(O_EXCL)` and a write; an existing file listed in the previous
//! manifest with the same length and SHA-256 and last modified before that
//! manifest is one `lstat` — the quick check of `make` and `rsync`, so an
//! unchanged export reads no file back. Anything else (a file touched after
//! the manifest, a crash between files and manifest) is compared byte for
//! byte and replaced atomically. Files are stored on a thread of the
//! writer's own (created relative to their open directory), so that
//! rendering one file overlaps storing the one before.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::draft::{Draft, Stored, Storer, listed, same_bytes_on_disk};
use super::fs_util::{is_temp_name, write_atomic};
use super::{BundleError, MAX_KEY_ROTATIONS_BYTES, MAX_SIGNATURE_BYTES, io_error};
use crate::entity::EntityKind;
use crate::layout::{
    KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME, SYNC_FILE_SUFFIX,
    is_outside_bundle,
};
use crate::manifest::{Manifest, ManifestEntry};
use crate::sync_file::SyncFile;

/// Writes a whole bundle into a directory, incrementally.
///
/// The flow of an export:
/// 1. [`BundleWriter::create`] on the bundle directory (it may hold the
///    previous export);
/// 2. [`BundleWriter::add`] every exported row, in any order (or
///    [`keep`](BundleWriter::keep) the file of a row known not to have
///    changed);
/// 3. compare [`BundleWriter::files`] with the previous manifest's files
///    ([`BundleWriter::previous_manifest`]) to choose the sequence number:
///    the same when nothing changed, a higher one otherwise;
/// 4. [`BundleWriter::finish`] removes the files of rows not added and
///    writes the manifest;
/// 5. sign [`WrittenBundle::manifest_bytes`] and store the signature with
///    [`write_signature`].
///
/// An exporter that knows which few rows changed since it wrote the bundle
/// in a directory can instead open it with
/// [`BundleUpdater::open`](super::BundleUpdater::open), which starts from
/// that bundle's files and touches only the rows it is given.
///
/// One writer per directory at a time.
#[derive(Debug)]
pub struct BundleWriter {
    draft: Draft,
    /// The files added or kept in this run, by path.
    files: BTreeMap<String, ManifestEntry>,
    previous: Option<Manifest>,
    /// The thread storing added files, once a file was added.
    storer: Option<Storer>,
    /// Whether `create` found no entity directory: then every row file in
    /// the directory at `finish` is one this writer added, and there is
    /// nothing to retract (nor to list).
    fresh: bool,
}

/// What [`BundleWriter::finish`] (or [`BundleUpdater::finish`]) did.
///
/// [`BundleUpdater::finish`]: super::BundleUpdater::finish
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WrittenBundle {
    /// The manifest now in the directory.
    pub manifest: Manifest,
    /// Its exact bytes, to be signed into `bundle.sig`.
    pub manifest_bytes: Vec<u8>,
    /// Files written because they were new or their bytes changed.
    pub written: u64,
    /// Files left untouched because their bytes were already on disk.
    pub unchanged: u64,
    /// Files removed because their rows were not added (retractions).
    pub removed: u64,
    /// Whether `manifest.sync.txt` was (re)written. When false, an existing
    /// `bundle.sig` over the same bytes is still valid.
    pub manifest_written: bool,
}

impl BundleWriter {
    /// Starts writing into `dir`, creating it if needed.
    ///
    /// The directory must hold only what a bundle holds (the manifest, the
    /// signature, entity directories of `.sync.txt` files) and, at its top
    /// level, entries whose names begin with `.` (`.git`, `.gitignore`, …),
    /// which no writer looks into, changes or removes; leftover temporary
    /// files of an interrupted writer are removed. An existing
    /// manifest is parsed and kept as [`BundleWriter::previous_manifest`].
    ///
    /// # Errors
    ///
    /// I/O errors, symbolic links or foreign files in the directory, and a
    /// malformed existing manifest.
    pub fn create(dir: impl AsRef<Path>) -> Result<BundleWriter, BundleError> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let mut fresh = true;
        for (name, file_type) in entries(&dir)? {
            let full = dir.join(&name);
            if file_type.is_file() && is_top_temp_name(&name) {
                fs::remove_file(&full).map_err(io_error(&full))?;
                continue;
            }
            if is_outside_bundle(&name) {
                // `.git`, `.gitignore`, …: never looked into, never removed.
                continue;
            }
            if file_type.is_symlink() {
                return Err(BundleError::Symlink { path: name });
            }
            let entity = name.parse::<EntityKind>().ok();
            if file_type.is_file()
                && (name == MANIFEST_FILE_NAME
                    || name == SIGNATURE_FILE_NAME
                    || name == KEY_ROTATIONS_FILE_NAME)
            {
            } else if let (true, Some(entity)) = (file_type.is_dir(), entity) {
                check_entity_dir(&dir, entity)?;
                fresh = false;
            } else {
                return Err(BundleError::UnexpectedPath {
                    path: name,
                    what: if file_type.is_dir() {
                        "directory"
                    } else {
                        "file"
                    },
                    reason: "refusing to write a bundle into a directory holding other things",
                });
            }
        }
        let manifest_path = dir.join(MANIFEST_FILE_NAME);
        let previous = match fs::read(&manifest_path) {
            Ok(bytes) => Some(Manifest::parse(&bytes, MANIFEST_FILE_NAME)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&manifest_path)(e)),
        };
        let previous_mtime = match &previous {
            Some(_) => fs::symlink_metadata(&manifest_path)
                .and_then(|meta| meta.modified())
                .ok(),
            None => None,
        };
        Ok(BundleWriter {
            draft: Draft::new(dir, None, previous_mtime),
            files: BTreeMap::new(),
            previous,
            storer: None,
            fresh,
        })
    }

    /// The manifest that was in the directory when the writer was created.
    #[must_use]
    pub fn previous_manifest(&self) -> Option<&Manifest> {
        self.previous.as_ref()
    }

    /// Renders `file` for `<entity>/<id>.sync.txt` and returns its manifest
    /// entry. The file is written unless the same bytes are already there,
    /// on a thread of its own while the caller renders the next (an error
    /// storing it is reported by a later `add` or by `finish`); it is on
    /// disk when [`finish`](Self::finish) returns.
    ///
    /// # Errors
    ///
    /// A file that cannot be rendered (private, invalid fields, floats), a
    /// row added twice, a file whose instance differs from earlier files,
    /// and I/O errors.
    pub fn add(&mut self, file: &SyncFile) -> Result<&ManifestEntry, BundleError> {
        let (path, text) = self.draft.render(file)?;
        if self.files.contains_key(&path) {
            return Err(BundleError::DuplicateFile { path });
        }
        let listed = self
            .previous
            .as_ref()
            .and_then(|previous| listed(previous, &path));
        let (job, entry) = self.draft.job(file.entity, path, text, listed)?;
        let storer = match &mut self.storer {
            Some(storer) => storer,
            None => self.storer.insert(
                Storer::spawn(self.draft.dir.clone(), self.draft.previous_mtime)
                    .map_err(io_error(&self.draft.dir))?,
            ),
        };
        storer.send(job)?;
        // Not there yet: checked above.
        Ok(self.files.entry(entry.path.clone()).or_insert(entry))
    }

    /// The previous manifest's entry for `path`.
    fn listed(&self, path: &str) -> Option<&ManifestEntry> {
        self.previous
            .as_ref()
            .and_then(|previous| listed(previous, path))
    }

    /// Keeps a file of the previous bundle without its bytes: when the
    /// previous manifest lists exactly `entry` (same path, length and
    /// SHA-256) and the file on disk is still the one it listed (a regular
    /// file of that length, last modified before that manifest), the entry
    /// goes into the new manifest as it is and `true` is returned. Otherwise
    /// nothing is recorded and `false` is returned: render the file and
    /// [`add`](Self::add) it.
    ///
    /// This is how an exporter that knows a row has not changed since the
    /// last export (the same version, rendered into the same length and
    /// digest) skips rendering it. It trusts the same quick check as
    /// [`add`](Self::add) does for unchanged bytes; kept files count as
    /// [`WrittenBundle::unchanged`].
    ///
    /// # Errors
    ///
    /// A path kept or added twice, a kept file of another instance than the
    /// files added before it, and I/O errors.
    ///
    /// # Example
    ///
    /// ```
    /// # use serde_json::Map;
    /// # use time::macros::datetime;
    /// use wb_syncfmt::bundle::BundleWriter;
    /// # use wb_syncfmt::{CURRENT_SCHEMA_VERSION, EntityKind, Scope, SyncFile};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let file = SyncFile {
    /// #     entity: EntityKind::User,
    /// #     id: "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65".to_owned(),
    /// #     instance: "alpha.example".to_owned(),
    /// #     schema_version: CURRENT_SCHEMA_VERSION,
    /// #     sync_scope: Scope::Public,
    /// #     updated_at: datetime!(2026-11-24 10:00 UTC),
    /// #     body: Map::new(),
    /// # };
    /// // A first export writes the file…
    /// let mut writer = BundleWriter::create(tmp.path())?;
    /// writer.add(&file)?;
    /// let written = writer.finish("alpha.example", "RWQexamplekey", 1)?;
    /// # // File times are coarse (a clock tick) and a one-file bundle is
    /// # // written within one: make the file older than the manifest, as the
    /// # // files of a real export mostly are.
    /// # let manifest = std::fs::metadata(tmp.path().join("manifest.sync.txt"))?.modified()?;
    /// # std::fs::File::options().write(true).open(tmp.path().join(file.relative_path()))?
    /// #     .set_modified(manifest - std::time::Duration::from_secs(2))?;
    /// let entry = written.manifest.files[0].clone();
    /// // …the next one keeps it, knowing that its row has not changed.
    /// let mut writer = BundleWriter::create(tmp.path())?;
    /// assert!(writer.keep(&entry)?);
    /// assert_eq!(writer.files(), vec![entry]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn keep(&mut self, entry: &ManifestEntry) -> Result<bool, BundleError> {
        if self.files.contains_key(&entry.path) {
            return Err(BundleError::DuplicateFile {
                path: entry.path.clone(),
            });
        }
        if self.listed(&entry.path) != Some(entry) {
            return Ok(false);
        }
        let full = self.draft.dir.join(&entry.path);
        let meta = match fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(&full)(e)),
        };
        if !(meta.is_file() && meta.len() == entry.len && self.draft.older_than_previous(&meta)) {
            return Ok(false);
        }
        // A kept file says what the previous manifest said: its instance.
        if let Some(previous) = &self.previous {
            self.draft.claim(&previous.instance, &entry.path)?;
        }
        self.draft.unchanged += 1;
        self.files.insert(entry.path.clone(), entry.clone());
        Ok(true)
    }

    /// Whether the files added (or kept) so far are exactly the previous
    /// manifest's, entry for entry; false without a previous manifest. Does
    /// no I/O and copies nothing.
    #[must_use]
    pub fn has_previous_files(&self) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|previous| previous.files.iter().eq(self.files.values()))
    }

    /// How many files the bundle holds so far.
    #[must_use]
    pub fn file_count(&self) -> u64 {
        self.files.len() as u64
    }

    /// The files added so far, sorted by path: the manifest's file list.
    /// Does no I/O.
    #[must_use]
    pub fn files(&self) -> Vec<ManifestEntry> {
        self.files.values().cloned().collect()
    }

    /// Removes the `.sync.txt` files of rows that were not added (and entity
    /// directories left empty), then writes `manifest.sync.txt` atomically
    /// unless it already holds the same bytes.
    ///
    /// # Errors
    ///
    /// An invalid instance name, public key or sequence (0), an `instance`
    /// other than the added files', and I/O errors.
    pub fn finish(
        mut self,
        instance: &str,
        public_key: &str,
        sequence: u64,
    ) -> Result<WrittenBundle, BundleError> {
        // Every added file is on disk before anything is deleted or listed.
        let stored = match &mut self.storer {
            Some(storer) => storer.join()?,
            None => Stored::default(),
        };
        let BundleWriter {
            mut draft,
            files,
            fresh,
            ..
        } = self;
        draft.written += stored.written;
        draft.unchanged += stored.unchanged;
        let unchanged = draft.unchanged;
        draft.finish(
            instance,
            public_key,
            sequence,
            move || (files.into_values().collect(), unchanged),
            |dir, files| {
                let mut removed = 0;
                if !fresh {
                    for entity in EntityKind::ALL {
                        removed += retract(dir, entity, files)?;
                    }
                }
                Ok(removed)
            },
        )
    }
}

/// Removes the files of `entity` in the bundle at `dir` that `files` does
/// not list; returns how many.
fn retract(dir: &Path, entity: EntityKind, files: &[ManifestEntry]) -> Result<u64, BundleError> {
    let sub = dir.join(entity.as_str());
    let listing = match entries(&sub) {
        Ok(listing) => listing,
        Err(BundleError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(0);
        }
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    let mut left = 0;
    for (name, _) in listing {
        let full = sub.join(&name);
        let path = format!("{entity}/{name}");
        if is_temp_name(&name) {
            fs::remove_file(&full).map_err(io_error(&full))?;
        } else if name.ends_with(SYNC_FILE_SUFFIX)
            && files
                .binary_search_by(|e| e.path.as_str().cmp(&path))
                .is_err()
        {
            fs::remove_file(&full).map_err(io_error(&full))?;
            removed += 1;
        } else {
            left += 1;
        }
    }
    if left == 0 {
        fs::remove_dir(&sub).map_err(io_error(&sub))?;
    }
    Ok(removed)
}

/// Writes `bundle.sig` into the bundle at `dir`, atomically.
///
/// # Errors
///
/// A signature over 64 KiB ([`MAX_SIGNATURE_BYTES`]), and I/O errors.
pub fn write_signature(dir: impl AsRef<Path>, signature: &[u8]) -> Result<(), BundleError> {
    let size = u64::try_from(signature.len()).unwrap_or(u64::MAX);
    if size > MAX_SIGNATURE_BYTES {
        return Err(BundleError::TooLarge {
            path: SIGNATURE_FILE_NAME.to_owned(),
            size,
            limit: MAX_SIGNATURE_BYTES,
        });
    }
    write_atomic(&dir.as_ref().join(SIGNATURE_FILE_NAME), signature, true)
}

/// Makes `key-rotations.txt` of the bundle at `dir` hold `chain`: written
/// atomically when its bytes differ from the file's, left alone when they
/// are the same; with `None`, the file is removed if present. Returns
/// whether anything changed on disk.
///
/// # Errors
///
/// A chain over 256 KiB ([`MAX_KEY_ROTATIONS_BYTES`]), a
/// `key-rotations.txt` that is not a regular file, and I/O errors.
pub fn write_key_rotations(
    dir: impl AsRef<Path>,
    chain: Option<&[u8]>,
) -> Result<bool, BundleError> {
    let path = dir.as_ref().join(KEY_ROTATIONS_FILE_NAME);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(&path)(e)),
    };
    if meta.as_ref().is_some_and(|m| !m.is_file()) {
        return Err(BundleError::UnexpectedPath {
            path: KEY_ROTATIONS_FILE_NAME.to_owned(),
            what: "entry",
            reason: "expected a regular file",
        });
    }
    match chain {
        None if meta.is_none() => Ok(false),
        None => {
            fs::remove_file(&path).map_err(io_error(&path))?;
            Ok(true)
        }
        Some(bytes) => {
            let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            if size > MAX_KEY_ROTATIONS_BYTES {
                return Err(BundleError::TooLarge {
                    path: KEY_ROTATIONS_FILE_NAME.to_owned(),
                    size,
                    limit: MAX_KEY_ROTATIONS_BYTES,
                });
            }
            if same_bytes_on_disk(&path, bytes)? {
                return Ok(false);
            }
            write_atomic(&path, bytes, true)?;
            Ok(true)
        }
    }
}

/// Whether `name` is the temporary file of the manifest or the signature
/// (`.manifest.sync.txt.tmp`, `.bundle.sig.tmp`), the only top-level
/// dot-entries a writer removes.
fn is_top_temp_name(name: &str) -> bool {
    [MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME]
        .iter()
        .any(|top| name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) == Some(top))
}

/// Checks an existing entity directory: only `.sync.txt` regular files and
/// this crate's temporary files (which are removed).
fn check_entity_dir(dir: &Path, entity: EntityKind) -> Result<(), BundleError> {
    let sub = dir.join(entity.as_str());
    for (name, file_type) in entries(&sub)? {
        let full = sub.join(&name);
        let path = format!("{entity}/{name}");
        if file_type.is_symlink() {
            return Err(BundleError::Symlink { path });
        }
        if file_type.is_file() && is_temp_name(&name) {
            fs::remove_file(&full).map_err(io_error(&full))?;
        } else if !(file_type.is_file() && name.ends_with(SYNC_FILE_SUFFIX)) {
            return Err(BundleError::UnexpectedPath {
                path,
                what: if file_type.is_dir() {
                    "directory"
                } else {
                    "file"
                },
                reason: "refusing to write a bundle into a directory holding other things",
            });
        }
    }
    Ok(())
}

/// `(name, file type)` of a directory's entries (links not followed).
fn entries(dir: &Path) -> Result<Vec<(String, fs::FileType)>, BundleError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let file_type = entry.file_type().map_err(io_error(&entry.path()))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|name| BundleError::UnexpectedPath {
                path: name.to_string_lossy().into_owned(),
                what: "entry",
                reason: "names must be UTF-8",
            })?;
        out.push((name, file_type));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
