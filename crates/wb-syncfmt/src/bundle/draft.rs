//! What the two writers ([`BundleWriter`](super::BundleWriter), which
//! writes a whole bundle, and [`BundleUpdater`](super::BundleUpdater), which
//! changes a few files of one) share: the state of a bundle being written
//! ([`Draft`]: its directory, its instance, what was stored), storing one
//! file ([`store_file`], the quick check), the thread that stores the files
//! of a whole bundle ([`Storer`]), and writing the manifest at the end.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::SystemTime;

use super::fs_util::write_atomic;
use super::writer::WrittenBundle;
use super::{BundleError, io_error};
use crate::entity::EntityKind;
use crate::layout::MANIFEST_FILE_NAME;
use crate::manifest::{Manifest, ManifestEntry};
use crate::schema::CURRENT_SCHEMA_VERSION;
use crate::sync_file::SyncFile;

/// `manifest`'s entry for `path`.
pub(super) fn listed<'m>(manifest: &'m Manifest, path: &str) -> Option<&'m ManifestEntry> {
    manifest
        .files
        .binary_search_by(|e| e.path.as_str().cmp(path))
        .ok()
        .map(|i| &manifest.files[i])
}

/// The state of a bundle being written that both writers keep.
#[derive(Debug)]
pub(super) struct Draft {
    /// The bundle directory.
    pub(super) dir: PathBuf,
    /// The instance of the first file added (or kept), and that file's path.
    instance: Option<(String, String)>,
    /// When the previous manifest was last modified.
    pub(super) previous_mtime: Option<SystemTime>,
    /// Entity directories known to exist.
    entity_dirs: HashSet<EntityKind>,
    /// Files written so far because they were new or changed.
    pub(super) written: u64,
    /// Files found holding their bytes already, or kept, so far.
    pub(super) unchanged: u64,
}

impl Draft {
    /// A bundle being written into `dir`, whose files are `instance`'s when
    /// known (with the path of one of them).
    pub(super) fn new(
        dir: PathBuf,
        instance: Option<(String, String)>,
        previous_mtime: Option<SystemTime>,
    ) -> Draft {
        Draft {
            dir,
            instance,
            previous_mtime,
            entity_dirs: HashSet::new(),
            written: 0,
            unchanged: 0,
        }
    }

    /// Renders `file`: its path in the bundle and its text. Refused when it
    /// cannot be rendered or belongs to another instance than the files
    /// before it.
    pub(super) fn render(&mut self, file: &SyncFile) -> Result<(String, String), BundleError> {
        let text = file.to_text().map_err(|source| BundleError::Write {
            path: crate::ident::excerpt(&file.relative_path()),
            source,
        })?;
        // to_text checked the id, so the path is safe.
        let path = file.relative_path();
        self.claim(&file.instance, &path)?;
        Ok((path, text))
    }

    /// Notes that the file at `path` is `instance`'s: refused when the
    /// files before it are another instance's.
    pub(super) fn claim(&mut self, instance: &str, path: &str) -> Result<(), BundleError> {
        match &self.instance {
            Some((expected, _)) if expected != instance => Err(BundleError::InstanceMismatch {
                path: path.to_owned(),
                expected: expected.clone(),
                found: instance.to_owned(),
            }),
            Some(_) => Ok(()),
            None => {
                self.instance = Some((instance.to_owned(), path.to_owned()));
                Ok(())
            }
        }
    }

    /// The job of storing the rendered file `text` at `path` (of `entity`),
    /// and its manifest entry; `listed` is the previous manifest's entry for
    /// the path. Makes sure the entity's directory exists.
    pub(super) fn job(
        &mut self,
        entity: EntityKind,
        path: String,
        text: String,
        listed: Option<&ManifestEntry>,
    ) -> Result<(Job, ManifestEntry), BundleError> {
        self.entity_dir(entity)?;
        let entry = ManifestEntry::for_bytes(path, text.as_bytes());
        let listed = match listed {
            None => Listed::No,
            Some(l) if l.len == entry.len && l.sha256 == entry.sha256 => Listed::Same,
            Some(_) => Listed::Different,
        };
        let job = Job {
            entity,
            path: entry.path.clone(),
            bytes: text.into_bytes(),
            listed,
        };
        Ok((job, entry))
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

    /// Whether a file was last modified before the previous manifest was
    /// written (then it is the file that manifest described, unless someone
    /// edited it and turned its clock back).
    pub(super) fn older_than_previous(&self, meta: &fs::Metadata) -> bool {
        older_than(meta, self.previous_mtime)
    }

    /// Ends a bundle whose every file is stored: checks `instance` against
    /// the files', lists `files` (sorted by path) in a manifest, lets
    /// `remove` delete the files that left the bundle (given the manifest's
    /// files; it returns how many it deleted), then writes
    /// `manifest.sync.txt` atomically unless it already holds the same
    /// bytes.
    pub(super) fn finish(
        self,
        instance: &str,
        public_key: &str,
        sequence: u64,
        files: impl FnOnce() -> (Vec<ManifestEntry>, u64),
        remove: impl FnOnce(&Path, &[ManifestEntry]) -> Result<u64, BundleError>,
    ) -> Result<WrittenBundle, BundleError> {
        if let Some((files_instance, path)) = &self.instance
            && files_instance != instance
        {
            return Err(BundleError::InstanceMismatch {
                path: path.clone(),
                expected: instance.to_owned(),
                found: files_instance.clone(),
            });
        }
        let (files, unchanged) = files();
        let manifest = Manifest {
            instance: instance.to_owned(),
            public_key: public_key.to_owned(),
            schema_version: CURRENT_SCHEMA_VERSION,
            sequence,
            files,
        };
        let text = manifest.to_text().map_err(|source| BundleError::Write {
            path: MANIFEST_FILE_NAME.to_owned(),
            source,
        })?;
        let removed = remove(&self.dir, &manifest.files)?;
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
}

/// How a file to store relates to the previous manifest.
#[derive(Clone, Copy, Debug)]
pub(super) enum Listed {
    /// Not listed: usually absent, so created directly.
    No,
    /// Listed with other bytes: replaced unless it already holds these.
    Different,
    /// Listed with these very bytes: the quick check may keep it unread.
    Same,
}

/// One added file, for the storing thread.
#[derive(Debug)]
pub(super) struct Job {
    entity: EntityKind,
    pub(super) path: String,
    bytes: Vec<u8>,
    listed: Listed,
}

/// What the storing thread did.
#[derive(Debug, Default)]
pub(super) struct Stored {
    pub(super) written: u64,
    pub(super) unchanged: u64,
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
pub(super) struct Storer {
    sender: Option<mpsc::SyncSender<Vec<Job>>>,
    thread: Option<thread::JoinHandle<Result<Stored, BundleError>>>,
    /// Jobs not yet handed over.
    batch: Vec<Job>,
}

impl Storer {
    pub(super) fn spawn(dir: PathBuf, previous_mtime: Option<SystemTime>) -> io::Result<Storer> {
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
    pub(super) fn send(&mut self, job: Job) -> Result<(), BundleError> {
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
    pub(super) fn join(&mut self) -> Result<Stored, BundleError> {
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
pub(super) struct EntityDirs {
    dir: PathBuf,
    #[cfg(unix)]
    open: std::collections::HashMap<EntityKind, rustix::fd::OwnedFd>,
}

impl EntityDirs {
    pub(super) fn new(dir: PathBuf) -> EntityDirs {
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
pub(super) fn store_file(
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
pub(super) fn same_bytes_on_disk(path: &Path, bytes: &[u8]) -> Result<bool, BundleError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && usize::try_from(meta.len()).ok() == Some(bytes.len()) => {
            Ok(fs::read(path).map_err(io_error(path))? == bytes)
        }
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(path)(e)),
    }
}
