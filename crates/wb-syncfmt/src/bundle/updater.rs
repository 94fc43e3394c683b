//! [`BundleUpdater`]: changes a few files of a bundle this process wrote,
//! trusting the rest to be what its manifest says: no listing of the
//! directory, no `lstat` of the files it is not given. Its cost is that of
//! the manifest and of the files touched, not of the bundle. (To write a
//! whole bundle, checking every file, see [`BundleWriter`](super::BundleWriter).)

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::Path;

use super::draft::{Draft, EntityDirs, listed, store_file};
use super::writer::WrittenBundle;
use super::{BundleError, io_error};
use crate::hash::sha256_hex;
use crate::layout::{MANIFEST_FILE_NAME, check_bundle_path};
use crate::manifest::{Manifest, ManifestEntry};
use crate::sync_file::SyncFile;

/// Changes some files of a bundle directory whose manifest the caller wrote,
/// starting from the files that manifest lists.
///
/// The flow of an incremental export, for an exporter that knows (say, from
/// a journal of changes) which rows changed since it wrote the bundle:
/// 1. [`BundleUpdater::open`] with the SHA-256 of the manifest it wrote
///    last (`None` back: the directory holds another manifest, so write the
///    whole bundle with [`BundleWriter`](super::BundleWriter));
/// 2. [`add`](Self::add) the changed rows, [`keep`](Self::keep) the files of
///    rows known to be unchanged, [`remove`](Self::remove) the rows no longer
///    exported;
/// 3. [`has_previous_files`](Self::has_previous_files) tells whether the
///    content changed, hence the sequence number;
/// 4. [`finish`](Self::finish) deletes the removed files and writes the
///    manifest; sign [`WrittenBundle::manifest_bytes`].
///
/// Trusting the bundle means a file changed by hand since the manifest was
/// written is not noticed; a whole write with `BundleWriter` repairs it.
/// One writer per directory at a time.
#[derive(Debug)]
pub struct BundleUpdater {
    draft: Draft,
    /// The manifest the bundle starts from.
    previous: Manifest,
    /// The files added, kept or removed (`None`) in this run, over the
    /// previous manifest's files.
    changes: BTreeMap<String, Option<ManifestEntry>>,
    /// Paths added or kept in this run (and not removed since).
    touched: HashSet<String>,
    /// Paths whose file was written in this run.
    written: Vec<String>,
    /// Paths removed in this run: their files go in `finish`.
    removed: BTreeSet<String>,
}

impl BundleUpdater {
    /// Opens the bundle in `dir` to change some of its files, starting from
    /// the files its manifest lists, **if** that manifest's SHA-256 is
    /// `manifest_sha256` (lowercase hex); otherwise (no manifest, or another
    /// one) returns `None`: write the whole bundle with
    /// [`BundleWriter::create`](super::BundleWriter::create).
    ///
    /// This neither lists the directory nor looks at the files: it trusts
    /// them to be what the manifest says, because the caller wrote that very
    /// manifest.
    ///
    /// # Errors
    ///
    /// I/O errors, a manifest that is a symbolic link, and a malformed
    /// manifest.
    pub fn open(
        dir: impl AsRef<Path>,
        manifest_sha256: &str,
    ) -> Result<Option<BundleUpdater>, BundleError> {
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
        Ok(Some(BundleUpdater {
            draft: Draft::new(dir, instance, meta.modified().ok()),
            previous,
            changes: BTreeMap::new(),
            touched: HashSet::new(),
            written: Vec::new(),
            removed: BTreeSet::new(),
        }))
    }

    /// The manifest the bundle was opened with.
    #[must_use]
    pub fn previous_manifest(&self) -> &Manifest {
        &self.previous
    }

    /// Renders `file` for `<entity>/<id>.sync.txt`, adding it to the bundle
    /// or replacing the file there, and returns its manifest entry. The file
    /// is written, unless the same bytes are already there, before `add`
    /// returns.
    ///
    /// # Errors
    ///
    /// A file that cannot be rendered (private, invalid fields, floats), a
    /// row added (or kept) twice, a file whose instance differs from the
    /// bundle's, and I/O errors.
    pub fn add(&mut self, file: &SyncFile) -> Result<&ManifestEntry, BundleError> {
        let (path, text) = self.draft.render(file)?;
        if self.touched.contains(&path) {
            return Err(BundleError::DuplicateFile { path });
        }
        let listed = listed(&self.previous, &path);
        let (job, entry) = self.draft.job(file.entity, path, text, listed)?;
        // A few files: stored here, not on a thread.
        let mut dirs = EntityDirs::new(self.draft.dir.clone());
        if store_file(&mut dirs, &job, self.draft.previous_mtime)? {
            self.draft.written += 1;
            self.written.push(job.path);
        } else {
            self.draft.unchanged += 1;
        }
        self.touch(&entry.path);
        let slot = self.changes.entry(entry.path.clone()).or_insert(None);
        Ok(slot.insert(entry))
    }

    /// Keeps a file of the bundle without its bytes: when the manifest the
    /// bundle was opened with lists exactly `entry` (same path, length and
    /// SHA-256) and it was not removed in this run, it stays and `true` is
    /// returned; otherwise nothing is recorded and `false` is returned:
    /// render the file and [`add`](Self::add) it. The file on disk is
    /// trusted, not looked at.
    ///
    /// # Errors
    ///
    /// A path kept or added twice.
    pub fn keep(&mut self, entry: &ManifestEntry) -> Result<bool, BundleError> {
        if self.touched.contains(&entry.path) {
            return Err(BundleError::DuplicateFile {
                path: entry.path.clone(),
            });
        }
        if listed(&self.previous, &entry.path) != Some(entry) {
            return Ok(false);
        }
        let kept = self.current(&entry.path) == Some(entry);
        if kept {
            self.touch(&entry.path);
        }
        Ok(kept)
    }

    /// Drops the file at `path` (`<entity>/<id>.sync.txt`) from the bundle,
    /// even if added in this run (adding it again afterwards is allowed):
    /// [`finish`](Self::finish) deletes it, whether the manifest lists it or
    /// not, so that a file an interrupted run left there goes too (counted
    /// in [`WrittenBundle::removed`] when there was a file). Returns whether
    /// the bundle held it.
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
        self.touched.remove(path);
        self.removed.insert(path.to_owned());
        Ok(held)
    }

    /// Notes that `path` now holds a file of this run.
    fn touch(&mut self, path: &str) {
        self.touched.insert(path.to_owned());
        self.removed.remove(path);
    }

    /// Whether the files of the bundle as it stands are exactly those of
    /// the manifest it was opened with, entry for entry. Does no I/O and
    /// copies nothing.
    #[must_use]
    pub fn has_previous_files(&self) -> bool {
        self.previous.files.iter().eq(self.iter_files())
    }

    /// How many files the bundle holds so far.
    #[must_use]
    pub fn file_count(&self) -> u64 {
        let base = &self.previous.files;
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

    /// The bundle's files as they stand, sorted by path: the manifest's file
    /// list. Does no I/O.
    #[must_use]
    pub fn files(&self) -> Vec<ManifestEntry> {
        self.iter_files().cloned().collect()
    }

    /// The bundle's entry for `path` as it stands.
    fn current(&self, path: &str) -> Option<&ManifestEntry> {
        match self.changes.get(path) {
            Some(change) => change.as_ref(),
            None => listed(&self.previous, path),
        }
    }

    /// The bundle's files as they stand, sorted by path: the previous
    /// manifest's merged with `changes`.
    fn iter_files(&self) -> impl Iterator<Item = &ManifestEntry> {
        let mut base = self.previous.files.iter().peekable();
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

    /// Deletes the removed files, then writes `manifest.sync.txt`
    /// atomically unless it already holds the same bytes.
    ///
    /// # Errors
    ///
    /// An invalid instance name, public key or sequence (0), an `instance`
    /// other than the bundle's files', a removed file whose entity directory
    /// is a symbolic link, and I/O errors.
    pub fn finish(
        self,
        instance: &str,
        public_key: &str,
        sequence: u64,
    ) -> Result<WrittenBundle, BundleError> {
        // Counted before the files move into the manifest: every file but
        // those written in this run (and still there) was left as it was.
        let still_written = self
            .written
            .iter()
            .filter(|path| self.current(path).is_some())
            .count();
        let unchanged = self.file_count().saturating_sub(still_written as u64);
        let BundleUpdater {
            draft,
            previous,
            changes,
            removed,
            ..
        } = self;
        draft.finish(
            instance,
            public_key,
            sequence,
            move || (merge(previous.files, changes), unchanged),
            |dir, files| delete_removed(dir, &removed, files),
        )
    }
}

/// The files `base` (sorted by path) with `changes` applied, sorted by path.
fn merge(
    base: Vec<ManifestEntry>,
    changes: BTreeMap<String, Option<ManifestEntry>>,
) -> Vec<ManifestEntry> {
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

/// Deletes from the bundle at `dir` the files of `removed` (paths checked
/// by `remove`) and any temporary file an interrupted write left beside
/// them, then the directories of entities left without `files`; returns how
/// many files there were.
fn delete_removed(
    dir: &Path,
    removed: &BTreeSet<String>,
    files: &[ManifestEntry],
) -> Result<u64, BundleError> {
    let mut count = 0;
    let mut entities = BTreeSet::new();
    for path in removed {
        // Never delete through a link: the entity directory must be one.
        if let Some((entity, _)) = path.split_once('/') {
            let sub = dir.join(entity);
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
        let full = dir.join(path);
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
            let _ = fs::remove_dir(dir.join(entity));
        }
    }
    Ok(count)
}
