//! The archive a bundle travels in: a plain tar of the bundle directory.
//!
//! [`pack_dir`] writes it deterministically: only regular files, sorted
//! bytewise by path, ustar headers with mode 0644, owner 0, time 0 — so the
//! same bundle always packs to the same bytes (and the same `ETag`).
//!
//! [`read_entries_within`] never lets the `tar` crate touch the file
//! system: it reads every entry into memory, within a bundle's limits
//! (entry count and sizes, checked before an entry is read), and refuses
//! links, devices, absolute paths, `..`, and any name outside the bundle
//! layout (`manifest.sync.txt`, `bundle.sig`, `key-rotations.txt`,
//! `<entity>/<lowercase uuid>.sync.txt`). [`unpack`] then writes the files
//! into a fresh directory the caller owns.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use wb_syncfmt::bundle::Limits;

use crate::delta::DELTA_FILE_NAME;
use wb_syncfmt::{
    EntityKind, KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME, SYNC_FILE_SUFFIX,
};

/// Packing or unpacking an archive failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// An operating-system error on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path read or written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The archive is not a readable tar archive.
    #[error("the archive is not a valid tar archive: {0}")]
    Corrupt(String),
    /// An entry is a link, a device or another non-file.
    #[error("archive entry {path:?} is a {kind}; only regular files are allowed in a bundle")]
    NotAFile {
        /// The entry's name.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// An entry's name is unsafe or not part of the bundle layout.
    #[error("archive entry {path:?} is not allowed: {reason}")]
    UnsafePath {
        /// The entry's name (shortened).
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The archive holds more entries than the bundle limits allow; reading
    /// stopped there.
    #[error(
        "the archive holds more than {limit} entries (a bundle of at most {max_files} files); reading stopped there"
    )]
    TooManyEntries {
        /// Entries allowed: the bundle's files, the manifest, the signature
        /// and one directory entry per entity.
        limit: u64,
        /// [`Limits::max_files`].
        max_files: u64,
    },
    /// An entry is larger than a bundle file (or the manifest) may be.
    #[error("archive entry {path:?} is {size} bytes, over the limit of {limit} bytes")]
    EntryTooLarge {
        /// The entry's name.
        path: String,
        /// Its size from its header.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The same file appears twice.
    #[error("archive entry {path:?} appears twice")]
    Duplicate {
        /// The entry's name.
        path: String,
    },
    /// The bundle directory holds something that cannot be packed.
    #[error("{}: cannot pack: {reason}", path.display())]
    Unpackable {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Checks an archive path against the bundle layout; returns it without a
/// leading `./`, or `None` for a directory entry of the layout.
/// With `delta`, the name of a delta archive's delta
/// ([`crate::delta::DELTA_FILE_NAME`]) is accepted too (and
/// `manifest.sync.txt` is not).
fn check_name(raw: &str, is_dir: bool, delta: bool) -> Result<Option<String>, &'static str> {
    if raw.is_empty() {
        return Err("empty name");
    }
    if raw.starts_with('/') {
        return Err("absolute path");
    }
    if raw.contains('\\') {
        return Err("backslash in path");
    }
    if raw.chars().any(char::is_control) {
        return Err("control character in path");
    }
    let trimmed = raw.strip_prefix("./").unwrap_or(raw);
    let trimmed = if is_dir {
        trimmed.strip_suffix('/').unwrap_or(trimmed)
    } else {
        trimmed
    };
    if is_dir && (trimmed.is_empty() || trimmed == ".") {
        return Ok(None);
    }
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments.contains(&"..") {
        return Err("\"..\" segment");
    }
    if segments.iter().any(|s| s.is_empty() || *s == ".") {
        return Err("empty or \".\" segment");
    }
    let entity_ok = |name: &str| EntityKind::ALL.iter().any(|k| k.as_str() == name);
    match (segments.as_slice(), is_dir) {
        ([entity], true) if entity_ok(entity) => Ok(None),
        ([_], true) => Err("not an entity directory of the bundle layout"),
        ([name], false) if delta && *name == DELTA_FILE_NAME => Ok(Some(trimmed.to_owned())),
        ([name], false) if delta && *name == MANIFEST_FILE_NAME => {
            Err("a delta archive carries manifest.delta.json, not manifest.sync.txt")
        }
        ([name], false)
            if *name == MANIFEST_FILE_NAME
                || *name == SIGNATURE_FILE_NAME
                || *name == KEY_ROTATIONS_FILE_NAME =>
        {
            Ok(Some(trimmed.to_owned()))
        }
        ([_], false) => {
            Err("not manifest.sync.txt, bundle.sig, key-rotations.txt or <entity>/<uuid>.sync.txt")
        }
        ([entity, file], false) => {
            if !entity_ok(entity) {
                return Err("unknown entity directory");
            }
            match file.strip_suffix(SYNC_FILE_SUFFIX) {
                Some(id) if wb_syncfmt::is_canonical_uuid(id) => Ok(Some(trimmed.to_owned())),
                _ => Err("file name is not <lowercase uuid>.sync.txt"),
            }
        }
        _ => Err("too deep for the bundle layout"),
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(120).collect()
}

/// Reads and checks every entry of `archive` into memory: path → bytes,
/// within the default [`Limits`] (see [`read_entries_within`]).
///
/// # Errors
///
/// As [`read_entries_within`].
pub fn read_entries(archive: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    read_entries_within(archive, &Limits::default())
}

/// Reads and checks every entry of `archive` into memory: path → bytes.
/// Nothing is written anywhere. Reading stops at the first entry over
/// `limits`: more entries than a bundle of `limits.max_files` files has
/// (plus the manifest, the signature, the rotation chain and the entity
/// directories), or an
/// entry larger than `limits.max_manifest_bytes` (the manifest) or
/// `limits.max_file_bytes` (any other file), checked from its header
/// before its bytes are read.
///
/// # Errors
///
/// A corrupt archive, too many entries, an entry too large, a non-file
/// entry, an unsafe or foreign name, a duplicate.
pub fn read_entries_within(
    archive: &[u8],
    limits: &Limits,
) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    read_within(archive, limits, false)
}

/// [`read_entries_within`] of a delta archive (`docs/hub.md`, "Deltas"):
/// the same checks and limits, with `manifest.delta.json` (within
/// `limits.max_manifest_bytes`) in place of `manifest.sync.txt`.
///
/// # Errors
///
/// As [`read_entries_within`].
pub fn read_delta_entries_within(
    archive: &[u8],
    limits: &Limits,
) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    read_within(archive, limits, true)
}

/// [`read_entries_within`] of an archive read from `reader` as it comes
/// (an upload or a download streaming in): only the entries are held, never
/// the archive.
///
/// # Errors
///
/// As [`read_entries_within`]; an error of `reader` is
/// [`ArchiveError::Corrupt`].
pub fn read_entries_from(
    reader: impl io::Read,
    limits: &Limits,
) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    read_within(reader, limits, false)
}

fn read_within(
    archive: impl io::Read,
    limits: &Limits,
    delta: bool,
) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let entry_limit = limits
        .max_files
        .saturating_add(3)
        .saturating_add(EntityKind::ALL.len() as u64);
    let mut reader = tar::Archive::new(archive);
    let mut files = BTreeMap::new();
    let entries = reader
        .entries()
        .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    for (index, entry) in entries.enumerate() {
        if index as u64 >= entry_limit {
            return Err(ArchiveError::TooManyEntries {
                limit: entry_limit,
                max_files: limits.max_files,
            });
        }
        let entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| {
            ArchiveError::UnsafePath {
                path: "<not UTF-8>".to_owned(),
                reason: "name is not UTF-8",
            }
        })?;
        let kind = entry.header().entry_type();
        let is_dir = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => false,
            tar::EntryType::Directory => true,
            other => {
                let kind = match other {
                    tar::EntryType::Symlink => "symbolic link",
                    tar::EntryType::Link => "hard link",
                    tar::EntryType::Char | tar::EntryType::Block => "device",
                    tar::EntryType::Fifo => "fifo",
                    _ => "special entry",
                };
                return Err(ArchiveError::NotAFile {
                    path: shorten(&raw),
                    kind,
                });
            }
        };
        let name = check_name(&raw, is_dir, delta).map_err(|reason| ArchiveError::UnsafePath {
            path: shorten(&raw),
            reason,
        })?;
        let Some(name) = name else { continue };
        let limit = if name == MANIFEST_FILE_NAME || name == DELTA_FILE_NAME {
            limits.max_manifest_bytes
        } else {
            limits.max_file_bytes
        };
        let size = entry.size();
        if size > limit {
            return Err(ArchiveError::EntryTooLarge {
                path: name,
                size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        if files.insert(name.clone(), bytes).is_some() {
            return Err(ArchiveError::Duplicate { path: name });
        }
    }
    Ok(files)
}

/// Checks `archive` (see [`read_entries`]) and writes its files into `dir`,
/// which must exist and should be empty and private to the caller.
///
/// # Errors
///
/// Everything [`read_entries`] refuses, and I/O errors. Files that already
/// exist in `dir` are not overwritten (an error).
pub fn unpack(archive: &[u8], dir: &Path) -> Result<(), ArchiveError> {
    write_entries(&read_entries(archive)?, dir)
}

/// Writes files checked by [`read_entries`] into `dir` (see [`unpack`]).
///
/// # Errors
///
/// Names outside the bundle layout, I/O errors, files that already exist.
pub fn write_entries(files: &BTreeMap<String, Vec<u8>>, dir: &Path) -> Result<(), ArchiveError> {
    for (name, bytes) in files {
        check_name(name, false, false).map_err(|reason| ArchiveError::UnsafePath {
            path: shorten(name),
            reason,
        })?;
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        io::Write::write_all(&mut file, bytes).map_err(io_err(&path))?;
    }
    Ok(())
}

/// Packs the bundle directory `dir` deterministically (see the module
/// documentation). Only the bundle layout's files are taken; top-level
/// entries whose names begin with `.` (`.git`, …) are outside the bundle
/// and skipped; anything else (a link, a leftover temporary file in an
/// entity directory) is refused rather than skipped.
///
/// # Errors
///
/// I/O errors, links, and names outside the bundle layout.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>, ArchiveError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err(&path))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if wb_syncfmt::is_outside_bundle(&name) {
            // `.git` and the like: a bundle directory may be a git work tree.
            continue;
        }
        if kind.is_dir() {
            check_name(&name, true, false).map_err(|reason| ArchiveError::Unpackable {
                path: path.clone(),
                reason,
            })?;
            for inner in fs::read_dir(&path).map_err(io_err(&path))? {
                let inner = inner.map_err(io_err(&path))?;
                let inner_path = inner.path();
                if !inner.file_type().map_err(io_err(&inner_path))?.is_file() {
                    return Err(ArchiveError::Unpackable {
                        path: inner_path,
                        reason: "only regular files belong in an entity directory",
                    });
                }
                let rel = format!("{name}/{}", inner.file_name().to_string_lossy());
                check_name(&rel, false, false).map_err(|reason| ArchiveError::Unpackable {
                    path: inner_path.clone(),
                    reason,
                })?;
                names.push(rel);
            }
        } else if kind.is_file() {
            check_name(&name, false, false).map_err(|reason| ArchiveError::Unpackable {
                path: path.clone(),
                reason,
            })?;
            names.push(name);
        } else {
            return Err(ArchiveError::Unpackable {
                path,
                reason: "links and special files are not packed",
            });
        }
    }
    names.sort_unstable();
    let contents = read_all(dir, &names)?;
    let size = packed_size(contents.iter().map(|c| c.len() as u64));
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    for (name, bytes) in names.iter().zip(contents) {
        append_entry(&mut out, name, &bytes)?;
    }
    finish(&mut out);
    Ok(out)
}

/// The contents of `dir/<name>` for each name, in order, read by a few
/// threads (a bundle is many small files: the reads are the work).
fn read_all(dir: &Path, names: &[String]) -> Result<Vec<Vec<u8>>, ArchiveError> {
    const PER_THREAD_MIN: usize = 256;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 4)
        .min(names.len().div_ceil(PER_THREAD_MIN).max(1));
    let read = |names: &[String]| -> Result<Vec<Vec<u8>>, ArchiveError> {
        names
            .iter()
            .map(|name| {
                let path = dir.join(name);
                fs::read(&path).map_err(io_err(&path))
            })
            .collect()
    };
    if threads <= 1 {
        return read(names);
    }
    let per_thread = names.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = names
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || read(chunk)))
            .collect();
        let mut all = Vec::with_capacity(names.len());
        for part in parts {
            let part = part.join().map_err(|_| ArchiveError::Io {
                path: dir.to_owned(),
                source: io::Error::other("a reading thread panicked"),
            })??;
            all.extend(part);
        }
        Ok(all)
    })
}

/// Packs in-memory files (path → bytes) deterministically, in bytewise
/// path order.
///
/// # Errors
///
/// Names outside the bundle layout.
pub fn pack_files(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, ArchiveError> {
    pack(files, false)
}

/// [`pack_files`] of a delta archive: `manifest.delta.json` in place of
/// `manifest.sync.txt`.
///
/// # Errors
///
/// Names outside the delta layout.
pub fn pack_delta(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, ArchiveError> {
    pack(files, true)
}

fn pack(files: &BTreeMap<String, Vec<u8>>, delta: bool) -> Result<Vec<u8>, ArchiveError> {
    let size = packed_size(files.values().map(|b| b.len() as u64));
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    for (name, bytes) in files {
        check_name(name, false, delta).map_err(|reason| ArchiveError::UnsafePath {
            path: shorten(name),
            reason,
        })?;
        append_entry(&mut out, name, bytes)?;
    }
    finish(&mut out);
    Ok(out)
}

/// Appends one entry of the canonical archive to `out`: its ustar header
/// (mode 0644, owner 0, time 0) and its bytes, padded to 512. The caller
/// checked `name` against the layout; the layout's names fit a ustar
/// header.
///
/// # Errors
///
/// A name too long for a ustar header.
pub fn append_entry(out: &mut Vec<u8>, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(name)
        .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(bytes);
    out.resize(out.len() + padding(bytes.len() as u64), 0);
    Ok(())
}

/// Ends a canonical archive: two empty blocks.
pub fn finish(out: &mut Vec<u8>) {
    out.resize(out.len() + 2 * BLOCK as usize, 0);
}

const BLOCK: u64 = 512;

fn padding(len: u64) -> usize {
    usize::try_from((BLOCK - len % BLOCK) % BLOCK).unwrap_or(0)
}

/// The size in bytes of the canonical archive of files of these lengths
/// (each entry a 512-byte header and its bytes padded to 512, then two
/// empty blocks): what [`pack_files`] makes, known without making it.
pub fn packed_size(lengths: impl IntoIterator<Item = u64>) -> u64 {
    lengths
        .into_iter()
        .map(|len| BLOCK + len.div_ceil(BLOCK) * BLOCK)
        .sum::<u64>()
        + 2 * BLOCK
}

/// An [`io::Read`] over chunks arriving on a channel (an upload or a
/// download streaming in), for [`read_entries_from`] on a blocking thread:
/// the end of the channel is the end of the archive.
#[derive(Debug)]
pub struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
}

impl ChunkReader {
    /// Reads what arrives on `chunks` until every sender is gone. Use it
    /// on a thread that may block (not on an async runtime's).
    #[must_use]
    pub fn new(chunks: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Self {
        Self {
            chunks,
            current: bytes::Bytes::new(),
        }
    }
}

impl io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
