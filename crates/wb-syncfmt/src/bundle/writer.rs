//! [`BundleWriter`]: writes a bundle directory incrementally, touching only
//! the files whose bytes change, and removing rows no longer exported.
//!
//! Cost, which the benchmark (`wb-bench`) watches: a new file is one
//! `open(O_EXCL)` and a write; an existing file listed in the previous
//! manifest with the same length and SHA-256 and last modified before that
//! manifest is one `lstat` — the quick check of `make` and `rsync`, so an
//! unchanged export reads no file back. Anything else (a file touched after
//! the manifest, a crash between files and manifest) is compared byte for
//! byte and replaced atomically. A writer from `create` stores files on a
//! thread of its own (created relative to their open directory), so that
//! rendering one file overlaps storing the one before; a writer from
//! `update`, which touches a few files, stores them in place and trusts the
//! rest of the bundle to be what its manifest says.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::SystemTime;

use super::fs_util::{is_temp_name, write_atomic};
use super::{BundleError, MAX_KEY_ROTATIONS_BYTES, MAX_SIGNATURE_BYTES, io_error};
use crate::entity::EntityKind;
use crate::hash::sha256_hex;
use crate::layout::{
    KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME, SYNC_FILE_SUFFIX,
    check_bundle_path, is_outside_bundle,
};
use crate::manifest::{Manifest, ManifestEntry};
use crate::schema::CURRENT_SCHEMA_VERSION;
use crate::sync_file::SyncFile;

/// Writes a bundle into a directory, incrementally.
///
/// The flow of an export:
/// 1. [`BundleWriter::create`] on the bundle directory (it may hold the
///    previous export);
/// 2. [`BundleWriter::add`] every exported row, in any order;
/// 3. compare [`BundleWriter::files`] with the previous manifest's files
///    ([`BundleWriter::previous_manifest`]) to choose the sequence number:
///    the same when nothing changed, a higher one otherwise;
/// 4. [`BundleWriter::finish`] removes the files of rows not added and
///    writes the manifest;
/// 5. sign [`WrittenBundle::manifest_bytes`] and store the signature with
///    [`write_signature`].
///
/// An exporter that knows which few rows changed since it wrote the bundle
/// in a directory can instead open it with [`BundleWriter::update`], which
/// starts from that bundle's files, and [`add`](Self::add) and
/// [`remove`](Self::remove) only those rows.
///
/// One writer per directory at a time.
#[derive(Debug)]
pub struct BundleWriter {
    dir: PathBuf,
    /// The files added, kept or removed (`None`) in this run, over the
    /// files of the previous manifest when updating (see `Self::base`).
    changes: BTreeMap<String, Option<ManifestEntry>>,
    /// The instance of the first file added, and that file's path.
    instance: Option<(String, String)>,
    previous: Option<Manifest>,
    /// When the previous manifest was last modified.
    previous_mtime: Option<SystemTime>,
    /// Entity directories known to exist.
    entity_dirs: HashSet<EntityKind>,
    written: u64,
    unchanged: u64,
    /// Set when opened by [`BundleWriter::update`].
    update: Option<Update>,
    /// The thread storing added files, once a file was added.
    storer: Option<Storer>,
    /// Whether `create` found no entity directory: then every row file in
    /// the directory at `finish` is one this writer added, and there is
    /// nothing to retract (nor to list).
    fresh: bool,
}

/// The state of a writer opened by [`BundleWriter::update`], whose `files`
/// start as the previous manifest's.
#[derive(Debug, Default)]
struct Update {
    /// Paths added or kept in this run (and not removed since).
    touched: HashSet<String>,
    /// Paths whose file was written in this run.
    written: Vec<String>,
    /// Paths removed in this run: their files go in `finish`.
    removed: BTreeSet<String>,
}

/// What [`BundleWriter::finish`] did.
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
            dir,
            changes: BTreeMap::new(),
            instance: None,
            previous,
            previous_mtime,
            entity_dirs: HashSet::new(),
            written: 0,
            unchanged: 0,
            update: None,
            storer: None,
            fresh,
        })
    }

    /// Opens the bundle in `dir` to change some of its files, starting from
    /// the files its manifest lists, **if** that manifest's SHA-256 is
    /// `manifest_sha256` (lowercase hex); otherwise (no manifest, or another
    /// one) returns `None`: use [`BundleWriter::create`].
    ///
    /// Unlike `create`, this neither lists the directory nor looks at the
    /// files: it trusts them to be what the manifest says, because the
    /// caller wrote that very manifest and knows (say, from a journal of
    /// changes) which rows changed since. [`add`](Self::add) replaces or adds
    /// a file, [`remove`](Self::remove) drops one, and
    /// [`finish`](Self::finish) deletes only the removed files: its cost is
    /// that of the manifest and the files touched, not of the bundle.
    ///
    /// # Errors
    ///
    /// I/O errors, a manifest that is a symbolic link or not a file, and a
    /// malformed manifest.
    pub fn update(
        dir: impl AsRef<Path>,
        manifest_sha256: &str,
    ) -> Result<Option<BundleWriter>, BundleError> {
        let dir = dir.as_ref().to_owned();
        let manifest_path = dir.join(MANIFEST_FILE_NAME);
        let meta = match fs::symlink_metadata(&manifest_path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&manifest_path)(e)),
        };
        if meta.file_type().is_symlink() {
            return Err(BundleError::Symlink {
                path: MANIFEST_FILE_NAME.to_owned(),
            });
        }
        if !meta.is_file() {
            return Ok(None);
        }
        let bytes = fs::read(&manifest_path).map_err(io_error(&manifest_path))?;
        if sha256_hex(&bytes) != manifest_sha256 {
            return Ok(None);
        }
        let previous = Manifest::parse(&bytes, MANIFEST_FILE_NAME)?;
        let instance = previous
            .files
            .first()
            .map(|first| (previous.instance.clone(), first.path.clone()));
        Ok(Some(BundleWriter {
            dir,
            changes: BTreeMap::new(),
            instance,
            previous: Some(previous),
            previous_mtime: meta.modified().ok(),
            entity_dirs: HashSet::new(),
            written: 0,
            unchanged: 0,
            update: Some(Update::default()),
            storer: None,
            fresh: false,
        }))
    }

    /// Whether `path` was added or kept in this run already.
    fn touched(&self, path: &str) -> bool {
        match &self.update {
            Some(update) => update.touched.contains(path),
            None => self.current(path).is_some(),
        }
    }

    /// Notes that `path` now holds a file of this run.
    fn touch(&mut self, path: &str) {
        if let Some(update) = &mut self.update {
            update.touched.insert(path.to_owned());
            update.removed.remove(path);
        }
    }

    /// Makes sure the directory of `entity` exists and is a directory.
    fn entity_dir(&mut self, entity: EntityKind) -> Result<(), BundleError> {
        if self.entity_dirs.contains(&entity) {
            return Ok(());
        }
        let entity_dir = self.dir.join(entity.as_str());
        match fs::symlink_metadata(&entity_dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(BundleError::Symlink {
                    path: entity.as_str().to_owned(),
                });
            }
            Ok(_) => {
                return Err(BundleError::UnexpectedPath {
                    path: entity.as_str().to_owned(),
                    what: "file",
                    reason: "an entity's name is reserved for its directory",
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&entity_dir).map_err(io_error(&entity_dir))?;
            }
            Err(e) => return Err(io_error(&entity_dir)(e)),
        }
        self.entity_dirs.insert(entity);
        Ok(())
    }

    /// The manifest that was in the directory when the writer was created.
    #[must_use]
    pub fn previous_manifest(&self) -> Option<&Manifest> {
        self.previous.as_ref()
    }

    /// Renders `file` for `<entity>/<id>.sync.txt` and returns its manifest
    /// entry. The file is written unless the same bytes are already there:
    /// by a writer from [`create`](Self::create), on a thread of its own
    /// while the caller renders the next (an error storing it is reported
    /// by a later `add` or by `finish`); by one from
    /// [`update`](Self::update), before `add` returns. Either way it is on
    /// disk when [`finish`](Self::finish) returns.
    ///
    /// # Errors
    ///
    /// A file that cannot be rendered (private, invalid fields, floats), a
    /// row added twice, a file whose instance differs from earlier files,
    /// and I/O errors.
    pub fn add(&mut self, file: &SyncFile) -> Result<&ManifestEntry, BundleError> {
        let text = file.to_text().map_err(|source| BundleError::Write {
            path: crate::ident::excerpt(&file.relative_path()),
            source,
        })?;
        // to_text checked the id, so the path is safe.
        let path = file.relative_path();
        match &self.instance {
            Some((instance, _)) if *instance != file.instance => {
                return Err(BundleError::InstanceMismatch {
                    path,
                    expected: instance.clone(),
                    found: file.instance.clone(),
                });
            }
            Some(_) => {}
            None => self.instance = Some((file.instance.clone(), path.clone())),
        }
        if self.touched(&path) {
            return Err(BundleError::DuplicateFile { path });
        }
        self.entity_dir(file.entity)?;
        let entry = ManifestEntry::for_bytes(path, text.as_bytes());
        let listed = match self.listed(&entry.path) {
            None => Listed::No,
            Some(l) if l.len == entry.len && l.sha256 == entry.sha256 => Listed::Same,
            Some(_) => Listed::Different,
        };
        let job = Job {
            entity: file.entity,
            path: entry.path.clone(),
            bytes: text.into_bytes(),
            listed,
        };
        if let Some(update) = &mut self.update {
            // An update touches a few files: store them here, not on a
            // thread.
            let mut dirs = EntityDirs::new(self.dir.clone());
            if store_file(&mut dirs, &job, self.previous_mtime)? {
                self.written += 1;
                update.written.push(job.path);
            } else {
                self.unchanged += 1;
            }
        } else {
            let storer = match &mut self.storer {
                Some(storer) => storer,
                None => self.storer.insert(
                    Storer::spawn(self.dir.clone(), self.previous_mtime)
                        .map_err(io_error(&self.dir))?,
                ),
            };
            storer.send(job)?;
        }
        self.touch(&entry.path);
        let slot = self.changes.entry(entry.path.clone()).or_insert(None);
        Ok(slot.insert(entry))
    }

    /// Drops the file at `path` (`<entity>/<id>.sync.txt`) from the bundle,
    /// even if added in this run (adding it again afterwards is allowed):
    /// [`finish`](Self::finish) deletes it. Returns whether the bundle held
    /// it. A writer from [`create`](Self::create) deletes every file not
    /// added anyway; this is for one from [`update`](Self::update), which
    /// deletes only what it is told to — whether listed or not, so that a
    /// file an interrupted run left there goes too (counted in
    /// [`WrittenBundle::removed`] when there was a file).
    ///
    /// # Errors
    ///
    /// A path that is not a bundle file's path.
    pub fn remove(&mut self, path: &str) -> Result<bool, BundleError> {
        check_bundle_path(path).map_err(|reason| BundleError::UnexpectedPath {
            path: crate::ident::excerpt(path),
            what: "file",
            reason,
        })?;
        let held = self.current(path).is_some();
        self.changes.insert(path.to_owned(), None);
        if let Some(update) = &mut self.update {
            update.touched.remove(path);
            update.removed.insert(path.to_owned());
        }
        Ok(held)
    }

    /// The previous manifest's entry for `path`.
    fn listed(&self, path: &str) -> Option<&ManifestEntry> {
        let previous = self.previous.as_ref()?;
        previous
            .files
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &previous.files[i])
    }

    /// Whether a file was last modified before the previous manifest was
    /// written (then it is the file that manifest described, unless someone
    /// edited it and turned its clock back).
    fn older_than_previous(&self, meta: &fs::Metadata) -> bool {
        older_than(meta, self.previous_mtime)
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
        if self.touched(&entry.path) {
            return Err(BundleError::DuplicateFile {
                path: entry.path.clone(),
            });
        }
        if self.listed(&entry.path) != Some(entry) {
            return Ok(false);
        }
        if self.update.is_some() {
            // Opened by `update`: the files are trusted, and this one is
            // in the bundle already, unless it was removed.
            let kept = self.current(&entry.path) == Some(entry);
            if kept {
                self.touch(&entry.path);
            }
            return Ok(kept);
        }
        let full = self.dir.join(&entry.path);
        let meta = match fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(&full)(e)),
        };
        if !(meta.is_file() && meta.len() == entry.len && self.older_than_previous(&meta)) {
            return Ok(false);
        }
        // A kept file says what the previous manifest said: its instance.
        if let Some(previous) = &self.previous {
            match &self.instance {
                Some((instance, _)) if *instance != previous.instance => {
                    return Err(BundleError::InstanceMismatch {
                        path: entry.path.clone(),
                        expected: instance.clone(),
                        found: previous.instance.clone(),
                    });
                }
                Some(_) => {}
                None => self.instance = Some((previous.instance.clone(), entry.path.clone())),
            }
        }
        self.unchanged += 1;
        self.changes.insert(entry.path.clone(), Some(entry.clone()));
        Ok(true)
    }

    /// Whether the files added (or kept) so far are exactly the previous
    /// manifest's, entry for entry; false without a previous manifest. Does
    /// no I/O and copies nothing.
    #[must_use]
    pub fn has_previous_files(&self) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|previous| previous.files.iter().eq(self.iter_files()))
    }

    /// How many files the bundle holds so far.
    #[must_use]
    pub fn file_count(&self) -> u64 {
        let base = self.base();
        let mut count = base.len() as u64;
        for (path, change) in &self.changes {
            let in_base = base.binary_search_by(|e| e.path.as_str().cmp(path)).is_ok();
            match (change.is_some(), in_base) {
                (true, false) => count += 1,
                (false, true) => count -= 1,
                _ => {}
            }
        }
        count
    }

    /// The files the bundle starts from: the previous manifest's when
    /// updating, none otherwise.
    fn base(&self) -> &[ManifestEntry] {
        match (&self.update, &self.previous) {
            (Some(_), Some(previous)) => &previous.files,
            _ => &[],
        }
    }

    /// The bundle's entry for `path` as it stands.
    fn current(&self, path: &str) -> Option<&ManifestEntry> {
        match self.changes.get(path) {
            Some(change) => change.as_ref(),
            None => {
                let base = self.base();
                base.binary_search_by(|e| e.path.as_str().cmp(path))
                    .ok()
                    .map(|i| &base[i])
            }
        }
    }

    /// The bundle's files as they stand, sorted by path: `base` merged with
    /// `changes`.
    fn iter_files(&self) -> impl Iterator<Item = &ManifestEntry> {
        let mut base = self.base().iter().peekable();
        let mut changes = self.changes.iter().peekable();
        std::iter::from_fn(move || {
            loop {
                let order = match (base.peek(), changes.peek()) {
                    (None, None) => return None,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some(b), Some((path, _))) => b.path.as_str().cmp(path.as_str()),
                };
                if order == std::cmp::Ordering::Less {
                    return base.next();
                }
                if order == std::cmp::Ordering::Equal {
                    base.next();
                }
                if let Some((_, Some(entry))) = changes.next() {
                    return Some(entry);
                }
            }
        })
    }

    /// The bundle's files, sorted by path, moved out of the writer (as
    /// `files` would list them, without copying them): what `finish` puts
    /// in the manifest.
    fn take_files(&mut self) -> Vec<ManifestEntry> {
        let base = match (&self.update, &mut self.previous) {
            (Some(_), Some(previous)) => std::mem::take(&mut previous.files),
            _ => Vec::new(),
        };
        let changes = std::mem::take(&mut self.changes);
        let mut files = Vec::with_capacity(base.len() + changes.len());
        let mut base = base.into_iter().peekable();
        let mut changes = changes.into_iter().peekable();
        loop {
            let order = match (base.peek(), changes.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(b), Some((path, _))) => b.path.as_str().cmp(path.as_str()),
            };
            match order {
                std::cmp::Ordering::Less => files.extend(base.next()),
                std::cmp::Ordering::Equal => {
                    base.next();
                    files.extend(changes.next().and_then(|(_, entry)| entry));
                }
                std::cmp::Ordering::Greater => {
                    files.extend(changes.next().and_then(|(_, entry)| entry));
                }
            }
        }
        files
    }

    /// The files added so far, sorted by path: the manifest's file list.
    /// Does no I/O.
    #[must_use]
    pub fn files(&self) -> Vec<ManifestEntry> {
        self.iter_files().cloned().collect()
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
        self.written += stored.written;
        self.unchanged += stored.unchanged;
        if let Some((files_instance, path)) = &self.instance
            && files_instance != instance
        {
            return Err(BundleError::InstanceMismatch {
                path: path.clone(),
                expected: instance.to_owned(),
                found: files_instance.clone(),
            });
        }
        // Counted before the files move into the manifest.
        let mut unchanged = self.unchanged;
        if let Some(update) = &self.update {
            let still_written = update
                .written
                .iter()
                .filter(|path| self.current(path).is_some())
                .count();
            unchanged = self.file_count().saturating_sub(still_written as u64);
        }
        let manifest = Manifest {
            instance: instance.to_owned(),
            public_key: public_key.to_owned(),
            schema_version: CURRENT_SCHEMA_VERSION,
            sequence,
            files: self.take_files(),
        };
        let text = manifest.to_text().map_err(|source| BundleError::Write {
            path: MANIFEST_FILE_NAME.to_owned(),
            source,
        })?;
        let mut removed = 0;
        if let Some(update) = &self.update {
            removed = self.delete_removed(&update.removed, &manifest.files)?;
        } else if !self.fresh {
            for entity in EntityKind::ALL {
                removed += self.retract(entity, &manifest.files)?;
            }
        }
        let manifest_path = self.dir.join(MANIFEST_FILE_NAME);
        let manifest_written = !same_bytes_on_disk(&manifest_path, text.as_bytes())?;
        if manifest_written {
            write_atomic(&manifest_path, text.as_bytes(), true)?;
        }
        Ok(WrittenBundle {
            manifest,
            manifest_bytes: text.into_bytes(),
            written: self.written,
            unchanged,
            removed,
            manifest_written,
        })
    }

    /// Deletes the files of `removed` (paths checked by `remove`) and any
    /// temporary file an interrupted write left beside them, then the
    /// directories of entities left without files; returns how many files
    /// there were.
    fn delete_removed(
        &self,
        removed: &BTreeSet<String>,
        files: &[ManifestEntry],
    ) -> Result<u64, BundleError> {
        let mut count = 0;
        let mut entities = BTreeSet::new();
        for path in removed {
            // Never delete through a link: the entity directory must be one.
            if let Some((entity, _)) = path.split_once('/') {
                let sub = self.dir.join(entity);
                match fs::symlink_metadata(&sub) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        return Err(BundleError::Symlink {
                            path: entity.to_owned(),
                        });
                    }
                    Ok(meta) if meta.is_dir() => {}
                    // No directory, so no file to delete.
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error(&sub)(e)),
                }
            }
            let full = self.dir.join(path);
            for (target, counted) in [(super::fs_util::temp_path(&full), false), (full, true)] {
                match fs::remove_file(&target) {
                    Ok(()) => count += u64::from(counted),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(&target)(e)),
                }
            }
            if let Some((entity, _)) = path.split_once('/') {
                entities.insert(entity);
            }
        }
        for entity in entities {
            let prefix = format!("{entity}/");
            let left = files.iter().any(|e| e.path.starts_with(&prefix));
            if !left {
                // Best effort: a directory still holding something stays.
                let _ = fs::remove_dir(self.dir.join(entity));
            }
        }
        Ok(count)
    }

    /// Removes the files of `entity` not added in this run; returns how many.
    fn retract(&self, entity: EntityKind, files: &[ManifestEntry]) -> Result<u64, BundleError> {
        let sub = self.dir.join(entity.as_str());
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
}

/// How a file to store relates to the previous manifest.
#[derive(Clone, Copy, Debug)]
enum Listed {
    /// Not listed: usually absent, so created directly.
    No,
    /// Listed with other bytes: replaced unless it already holds these.
    Different,
    /// Listed with these very bytes: the quick check may keep it unread.
    Same,
}

/// One added file, for the storing thread.
#[derive(Debug)]
struct Job {
    entity: EntityKind,
    path: String,
    bytes: Vec<u8>,
    listed: Listed,
}

/// What the storing thread did.
#[derive(Debug, Default)]
struct Stored {
    written: u64,
    unchanged: u64,
}

/// Files handed to the storing thread at a time: one wake-up per batch
/// rather than per file.
const BATCH_FILES: usize = 32;

/// Batches queued for the storing thread, at most: the renderer runs this
/// far ahead of it.
const QUEUED_BATCHES: usize = 8;

/// Stores added files on a thread of its own, in the order added, so that
/// rendering the next file overlaps writing this one: on tmpfs, creating a
/// small file costs about as much as rendering it. The first error stops
/// the thread; it is reported by the next `send` or by `join`.
#[derive(Debug)]
struct Storer {
    sender: Option<mpsc::SyncSender<Vec<Job>>>,
    thread: Option<thread::JoinHandle<Result<Stored, BundleError>>>,
    /// Jobs not yet handed over.
    batch: Vec<Job>,
}

impl Storer {
    fn spawn(dir: PathBuf, previous_mtime: Option<SystemTime>) -> io::Result<Storer> {
        let (sender, receiver) = mpsc::sync_channel::<Vec<Job>>(QUEUED_BATCHES);
        let thread = thread::Builder::new()
            .name("bundle-writer".to_owned())
            .spawn(move || {
                let mut done = Stored::default();
                let mut dirs = EntityDirs::new(dir);
                for job in receiver.into_iter().flatten() {
                    if store_file(&mut dirs, &job, previous_mtime)? {
                        done.written += 1;
                    } else {
                        done.unchanged += 1;
                    }
                }
                Ok(done)
            })?;
        Ok(Storer {
            sender: Some(sender),
            thread: Some(thread),
            batch: Vec::with_capacity(BATCH_FILES),
        })
    }

    /// Queues `job`; reports the error that stopped the thread, if one did.
    fn send(&mut self, job: Job) -> Result<(), BundleError> {
        self.batch.push(job);
        if self.batch.len() < BATCH_FILES {
            return Ok(());
        }
        self.flush()
    }

    /// Hands the jobs queued so far to the thread.
    fn flush(&mut self) -> Result<(), BundleError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_FILES));
        let stopped = match &self.sender {
            Some(sender) => sender.send(batch).is_err(),
            None => true,
        };
        if stopped {
            // The thread ended early, which only an error makes it do.
            self.join()?;
            return Err(stopped_error());
        }
        Ok(())
    }

    /// Waits until every queued file is stored; what the thread did, or the
    /// error that stopped it.
    fn join(&mut self) -> Result<Stored, BundleError> {
        if self.thread.is_some() {
            // A stopped thread reports its own error below.
            let _ = self.flush();
        }
        self.sender = None;
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| Err(stopped_error())),
            None => Err(stopped_error()),
        }
    }
}

impl Drop for Storer {
    /// A writer dropped without `finish` still waits for the files it
    /// queued, so none is written after it is gone.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.join();
        }
    }
}

/// The error of a writer whose storing thread is gone.
fn stopped_error() -> BundleError {
    BundleError::Io {
        path: PathBuf::new(),
        source: io::Error::other("the bundle writer stopped after an earlier error"),
    }
}

/// The entity directories of a bundle, opened once each so that files are
/// created relative to them (`openat`), which spares the kernel walking the
/// bundle's path for every file.
struct EntityDirs {
    dir: PathBuf,
    #[cfg(unix)]
    open: std::collections::HashMap<EntityKind, rustix::fd::OwnedFd>,
}

impl EntityDirs {
    fn new(dir: PathBuf) -> EntityDirs {
        EntityDirs {
            dir,
            #[cfg(unix)]
            open: std::collections::HashMap::new(),
        }
    }

    /// Creates `job`'s file, which must not exist, holding its bytes. A
    /// partial file left by a failure is removed (best effort); one left by
    /// a crash is not listed in any manifest, and the next export replaces
    /// it.
    #[cfg(unix)]
    fn create_new(&mut self, job: &Job) -> io::Result<()> {
        use rustix::fs::{Mode, OFlags};
        let dir = match self.open.entry(job.entity) {
            std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(rustix::fs::open(
                self.dir.join(job.entity.as_str()),
                // An entity directory replaced by a link is refused.
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?),
        };
        let name = job.path.rsplit('/').next().unwrap_or(&job.path);
        let fd = rustix::fs::openat(
            &*dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )?;
        let mut file = fs::File::from(fd);
        if let Err(e) = file.write_all(&job.bytes) {
            drop(file);
            let _ = fs::remove_file(self.dir.join(&job.path));
            return Err(e);
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn create_new(&mut self, job: &Job) -> io::Result<()> {
        write_new(&self.dir.join(&job.path), &job.bytes)
    }
}

/// Makes `job`'s file hold its bytes; returns whether it had to be written.
fn store_file(
    dirs: &mut EntityDirs,
    job: &Job,
    previous_mtime: Option<SystemTime>,
) -> Result<bool, BundleError> {
    let created = match job.listed {
        Listed::No => Some(dirs.create_new(job)),
        Listed::Different | Listed::Same => None,
    };
    let full = || dirs.dir.join(&job.path);
    let bytes = &job.bytes[..];
    match (job.listed, created) {
        // Not in the previous bundle: usually absent, so try to create it
        // directly; a leftover from an interrupted export is compared.
        (_, Some(created)) => match created {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                replace_unless_same(&full(), bytes, false, previous_mtime)
            }
            Err(e) => Err(io_error(&full())(e)),
        },
        (Listed::Same, None) => replace_unless_same(&full(), bytes, true, previous_mtime),
        (_, None) => replace_unless_same(&full(), bytes, false, previous_mtime),
    }
}

/// Replaces the file at `full` atomically unless it holds `bytes`. With
/// `quick` (the previous manifest lists these very bytes), a regular file of
/// the right length modified before that manifest is taken to hold them
/// without reading it.
fn replace_unless_same(
    full: &Path,
    bytes: &[u8],
    quick: bool,
    previous_mtime: Option<SystemTime>,
) -> Result<bool, BundleError> {
    let meta = match fs::symlink_metadata(full) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(full)(e)),
    };
    if let Some(meta) = meta
        && meta.is_file()
        && usize::try_from(meta.len()).ok() == Some(bytes.len())
        && ((quick && older_than(&meta, previous_mtime))
            || fs::read(full).map_err(io_error(full))? == bytes)
    {
        return Ok(false);
    }
    write_atomic(full, bytes, false)?;
    Ok(true)
}

/// Whether a file was last modified before `manifest_mtime` (then it is the
/// file that manifest described, unless someone edited it and turned its
/// clock back).
fn older_than(meta: &fs::Metadata, manifest_mtime: Option<SystemTime>) -> bool {
    meta.modified()
        .ok()
        .zip(manifest_mtime)
        .is_some_and(|(file, manifest)| file < manifest)
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

/// Creates the file `path`, which must not exist, holding `bytes`. A
/// partial file left by a failure is removed (best effort); one left by a
/// crash is not listed in any manifest, and the next export replaces it.
#[cfg(not(unix))]
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)?;
    if let Err(e) = file.write_all(bytes) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// True if `path` is a regular file holding exactly `bytes`.
fn same_bytes_on_disk(path: &Path, bytes: &[u8]) -> Result<bool, BundleError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && usize::try_from(meta.len()).ok() == Some(bytes.len()) => {
            Ok(fs::read(path).map_err(io_error(path))? == bytes)
        }
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(path)(e)),
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
