//! [`BundleReader`]: checks a bundle — a directory, or files held in
//! memory — against its manifest, then streams its files one at a time.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::fs_util::read_at_most;
use super::{BundleError, Limits, MAX_KEY_ROTATIONS_BYTES, MAX_SIGNATURE_BYTES, io_error};
use crate::entity::{EntityKind, Scope};
use crate::hash::{sha256, to_hex};
use crate::layout::{
    KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME, check_bundle_path,
    is_outside_bundle,
};
use crate::manifest::{Manifest, ManifestEntry};
use crate::sync_file::SyncFile;

/// An opened bundle whose layout matches its manifest.
///
/// [`BundleReader::open`] reads the manifest and the signature of a bundle
/// directory and checks the directory tree; [`BundleReader::from_files`]
/// does the same for a bundle held in memory (an upload, a download), so
/// nothing has to be written to disk to be checked. [`BundleReader::entries`]
/// then reads, verifies and parses the files one at a time. Verify
/// [`BundleReader::signature_bytes`] over [`BundleReader::manifest_bytes`]
/// before trusting any entry.
#[derive(Debug)]
pub struct BundleReader {
    source: Source,
    limits: Limits,
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    signature_bytes: Vec<u8>,
    key_rotations_bytes: Option<Vec<u8>>,
    /// For [`BundleReader::from_update`]: it holds only the changed files.
    update: bool,
}

/// The bytes a [`BundleReader`] held, given back by
/// [`BundleReader::into_parts`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct BundleParts {
    /// `manifest.sync.txt`.
    pub manifest: Vec<u8>,
    /// `bundle.sig`.
    pub signature: Vec<u8>,
    /// `key-rotations.txt`, if the bundle has one.
    pub key_rotations: Option<Vec<u8>>,
    /// The entity files held in memory, path → bytes.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl BundleParts {
    /// Every part under its path in the bundle (`manifest.sync.txt`,
    /// `bundle.sig`, `key-rotations.txt`, `<entity>/<id>.sync.txt`): the
    /// map [`BundleReader::from_files`] takes.
    #[must_use]
    pub fn into_files(self) -> BTreeMap<String, Vec<u8>> {
        let mut files = self.files;
        files.insert(MANIFEST_FILE_NAME.to_owned(), self.manifest);
        files.insert(SIGNATURE_FILE_NAME.to_owned(), self.signature);
        if let Some(rotations) = self.key_rotations {
            files.insert(KEY_ROTATIONS_FILE_NAME.to_owned(), rotations);
        }
        files
    }
}

/// Where the files of a [`BundleReader`] are.
#[derive(Debug)]
enum Source {
    /// A bundle directory on disk.
    Dir(PathBuf),
    /// The bundle's files by path (`user/….sync.txt`), manifest and
    /// signature removed.
    Memory(BTreeMap<String, Vec<u8>>),
}

impl BundleReader {
    /// Opens the bundle at `dir`: reads and parses `manifest.sync.txt`, reads
    /// `bundle.sig` and, if present, `key-rotations.txt`, and walks the
    /// tree.
    ///
    /// # Errors
    ///
    /// A missing or malformed manifest, a missing signature, anything over
    /// `limits`, a symbolic link, a path outside the layout
    /// (`<entity>/<lowercase uuid>.sync.txt`, `manifest.sync.txt`,
    /// `bundle.sig`, `key-rotations.txt`), a file the manifest does not list, a listed file that
    /// is missing or whose length differs.
    pub fn open(dir: impl AsRef<Path>, limits: &Limits) -> Result<BundleReader, BundleError> {
        let dir = dir.as_ref().to_owned();
        let manifest_path = dir.join(MANIFEST_FILE_NAME);
        let manifest_bytes = read_top_file(
            &manifest_path,
            MANIFEST_FILE_NAME,
            limits.max_manifest_bytes,
        )?
        .ok_or_else(|| BundleError::MissingManifest { dir: dir.clone() })?;
        let manifest = Manifest::parse_with_limit(
            &manifest_bytes,
            MANIFEST_FILE_NAME,
            limits.max_manifest_bytes,
        )?;
        check_listing(&manifest, limits)?;
        let signature_bytes = read_top_file(
            &dir.join(SIGNATURE_FILE_NAME),
            SIGNATURE_FILE_NAME,
            MAX_SIGNATURE_BYTES,
        )?
        .ok_or_else(|| BundleError::MissingSignature { dir: dir.clone() })?;
        let key_rotations_bytes = read_top_file(
            &dir.join(KEY_ROTATIONS_FILE_NAME),
            KEY_ROTATIONS_FILE_NAME,
            MAX_KEY_ROTATIONS_BYTES,
        )?;
        check_tree(&dir, &manifest, limits)?;
        Ok(BundleReader {
            source: Source::Dir(dir),
            limits: limits.clone(),
            manifest,
            manifest_bytes,
            signature_bytes,
            key_rotations_bytes,
            update: false,
        })
    }

    /// Checks a bundle held in memory: `files` maps each path in the
    /// bundle (`manifest.sync.txt`, `bundle.sig`, `user/<uuid>.sync.txt`, …)
    /// to its bytes. The same rules as [`BundleReader::open`] apply: a
    /// manifest and a signature within `limits`, only the layout's paths,
    /// exactly the listed files with their listed lengths.
    ///
    /// # Errors
    ///
    /// As [`BundleReader::open`], naming paths inside the bundle.
    pub fn from_files(
        files: BTreeMap<String, Vec<u8>>,
        limits: &Limits,
    ) -> Result<BundleReader, BundleError> {
        Self::from_memory(files, limits, None)
    }

    fn from_memory(
        mut files: BTreeMap<String, Vec<u8>>,
        limits: &Limits,
        base: Option<(&Manifest, &[u8])>,
    ) -> Result<BundleReader, BundleError> {
        let dir = PathBuf::new();
        let manifest_bytes = files
            .remove(MANIFEST_FILE_NAME)
            .ok_or_else(|| BundleError::MissingManifest { dir: dir.clone() })?;
        check_top_size(
            &manifest_bytes,
            MANIFEST_FILE_NAME,
            limits.max_manifest_bytes,
        )?;
        // An update shares most lines with its base: those are not parsed
        // again.
        let manifest = match base {
            Some((base, base_bytes)) => Manifest::parse_with_base(
                &manifest_bytes,
                MANIFEST_FILE_NAME,
                limits.max_manifest_bytes,
                base,
                base_bytes,
            ),
            None => Manifest::parse_with_limit(
                &manifest_bytes,
                MANIFEST_FILE_NAME,
                limits.max_manifest_bytes,
            ),
        }?;
        check_listing(&manifest, limits)?;
        let signature_bytes = files
            .remove(SIGNATURE_FILE_NAME)
            .ok_or(BundleError::MissingSignature { dir })?;
        check_top_size(&signature_bytes, SIGNATURE_FILE_NAME, MAX_SIGNATURE_BYTES)?;
        let key_rotations_bytes = files.remove(KEY_ROTATIONS_FILE_NAME);
        if let Some(bytes) = &key_rotations_bytes {
            check_top_size(bytes, KEY_ROTATIONS_FILE_NAME, MAX_KEY_ROTATIONS_BYTES)?;
        }
        check_files(&files, &manifest, limits, base.map(|(base, _)| base))?;
        Ok(BundleReader {
            source: Source::Memory(files),
            limits: limits.clone(),
            manifest,
            manifest_bytes,
            signature_bytes,
            key_rotations_bytes,
            update: base.is_some(),
        })
    }

    /// Checks a bundle given as an update of `base`, a manifest whose
    /// bundle the caller verified before: `files` holds the new
    /// `manifest.sync.txt`, `bundle.sig`, `key-rotations.txt` (if any) and
    /// the files of exactly those lines of the new manifest that `base`
    /// does not have byte for byte (same path, length and SHA-256); every
    /// other line must be a line of `base`. The rules of
    /// [`BundleReader::from_files`] apply to what is given. `base_bytes` are
    /// the bytes `base` was parsed from: the lines the new manifest shares
    /// with them are not parsed again ([`Manifest::parse_with_base`]).
    ///
    /// [`BundleReader::entries`] of such a reader yields only the files it
    /// holds: the caller vouches for the others, which are `base`'s.
    ///
    /// # Errors
    ///
    /// As [`BundleReader::from_files`]; a line of the new manifest that is
    /// neither given nor `base`'s is [`BundleError::MissingFile`], a given
    /// file whose line is `base`'s is [`BundleError::UnlistedFile`].
    pub fn from_update(
        base: &Manifest,
        base_bytes: &[u8],
        files: BTreeMap<String, Vec<u8>>,
        limits: &Limits,
    ) -> Result<BundleReader, BundleError> {
        Self::from_memory(files, limits, Some((base, base_bytes)))
    }

    /// Whether this reader was made by [`BundleReader::from_update`] and
    /// holds only the files that changed since its base.
    #[must_use]
    pub fn is_update(&self) -> bool {
        self.update
    }

    /// Gives back what the reader holds: the manifest, the signature and
    /// the rotation chain, and the files held in memory (all of the
    /// bundle's for [`BundleReader::from_files`], the changed ones for
    /// [`BundleReader::from_update`], none for a directory).
    #[must_use]
    pub fn into_parts(self) -> BundleParts {
        self.into_manifest_and_parts().1
    }

    /// [`BundleReader::into_parts`], with the parsed manifest too.
    #[must_use]
    pub fn into_manifest_and_parts(self) -> (Manifest, BundleParts) {
        let parts = BundleParts {
            manifest: self.manifest_bytes,
            signature: self.signature_bytes,
            key_rotations: self.key_rotations_bytes,
            files: match self.source {
                Source::Memory(files) => files,
                Source::Dir(_) => BTreeMap::new(),
            },
        };
        (self.manifest, parts)
    }

    /// The bundle directory; empty for a bundle held in memory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        match &self.source {
            Source::Dir(dir) => dir,
            Source::Memory(_) => Path::new(""),
        }
    }

    /// The parsed manifest.
    #[must_use]
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The exact bytes of `manifest.sync.txt`, which `bundle.sig` signs.
    #[must_use]
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The bytes of `bundle.sig`, uninterpreted.
    #[must_use]
    pub fn signature_bytes(&self) -> &[u8] {
        &self.signature_bytes
    }

    /// The bytes of `key-rotations.txt`, uninterpreted; `None` when the
    /// bundle has none (its instance never rotated its key). The caller
    /// checks the chain with `wb-crypto`.
    #[must_use]
    pub fn key_rotations_bytes(&self) -> Option<&[u8]> {
        self.key_rotations_bytes.as_deref()
    }

    /// Reads, verifies and parses every listed file in manifest order, one
    /// at a time (memory stays bounded by one file).
    /// For a reader made by [`BundleReader::from_update`], only the files
    /// it holds (the changed ones).
    pub fn entries(&self) -> impl Iterator<Item = Result<SyncFile, BundleError>> + '_ {
        self.to_read().map(|entry| self.read_entry(entry))
    }

    /// The manifest entries [`BundleReader::entries`] reads, in manifest
    /// order: every one, or for a reader made by
    /// [`BundleReader::from_update`] those of the files it holds. Read them
    /// with [`BundleReader::read_entry`] (from several threads, if need be).
    pub fn to_read(&self) -> impl Iterator<Item = &ManifestEntry> + '_ {
        self.manifest
            .files
            .iter()
            .filter(|entry| match &self.source {
                Source::Memory(files) if self.update => files.contains_key(&entry.path),
                _ => true,
            })
    }

    /// Reads, verifies and parses one listed file: its length and SHA-256
    /// must match `entry`, it must parse, its `Entity:`/`ID:` must match its
    /// path, its `Instance:` the manifest's, and it must be public.
    ///
    /// # Errors
    ///
    /// Each of the checks above, naming the file (and line where there is one).
    pub fn read_entry(&self, entry: &ManifestEntry) -> Result<SyncFile, BundleError> {
        let path = &entry.path;
        let (entity, id) =
            check_bundle_path(path).map_err(|reason| BundleError::UnexpectedPath {
                path: path.clone(),
                what: "file",
                reason,
            })?;
        let bytes = match &self.source {
            Source::Dir(dir) => read_listed_file(dir, entry)?,
            Source::Memory(files) => {
                let bytes = files
                    .get(path)
                    .ok_or_else(|| BundleError::MissingFile { path: path.clone() })?;
                let found = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                if found != entry.len {
                    return Err(BundleError::LengthMismatch {
                        path: path.clone(),
                        expected: entry.len,
                        found,
                    });
                }
                std::borrow::Cow::Borrowed(bytes.as_slice())
            }
        };
        let digest = sha256(&bytes);
        if digest != entry.sha256 {
            return Err(BundleError::HashMismatch {
                path: path.clone(),
                expected: to_hex(&entry.sha256),
                found: to_hex(&digest),
            });
        }
        let file = SyncFile::parse_with_limit(&bytes, path, self.limits.max_file_bytes)?;
        if file.sync_scope == Scope::Private {
            return Err(BundleError::PrivateFile { path: path.clone() });
        }
        if file.entity != entity || file.id != id {
            return Err(BundleError::PathMismatch {
                path: path.clone(),
                entity: file.entity.to_string(),
                id: file.id,
            });
        }
        if file.instance != self.manifest.instance {
            return Err(BundleError::InstanceMismatch {
                path: path.clone(),
                expected: self.manifest.instance.clone(),
                found: file.instance,
            });
        }
        Ok(file)
    }
}

/// Reads the listed file `entry` of the bundle directory `dir`: a regular
/// file of exactly the listed length.
fn read_listed_file(
    dir: &Path,
    entry: &ManifestEntry,
) -> Result<std::borrow::Cow<'static, [u8]>, BundleError> {
    let path = &entry.path;
    let full = dir.join(path);
    let meta = match fs::symlink_metadata(&full) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BundleError::MissingFile { path: path.clone() });
        }
        Err(e) => return Err(io_error(&full)(e)),
    };
    check_regular_file(&meta, path)?;
    let bytes = read_at_most(&full, entry.len)?;
    let found = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if found != entry.len {
        return Err(BundleError::LengthMismatch {
            path: path.clone(),
            expected: entry.len,
            found: if found > entry.len { meta.len() } else { found },
        });
    }
    Ok(std::borrow::Cow::Owned(bytes))
}

/// The manifest's own limits: the number of files and each listed length.
fn check_listing(manifest: &Manifest, limits: &Limits) -> Result<(), BundleError> {
    let count = u64::try_from(manifest.files.len()).unwrap_or(u64::MAX);
    if count > limits.max_files {
        return Err(BundleError::TooManyFiles {
            count,
            limit: limits.max_files,
        });
    }
    if let Some(entry) = manifest
        .files
        .iter()
        .find(|e| e.len > limits.max_file_bytes)
    {
        return Err(BundleError::TooLarge {
            path: entry.path.clone(),
            size: entry.len,
            limit: limits.max_file_bytes,
        });
    }
    Ok(())
}

/// A top-level file held in memory is within its limit.
fn check_top_size(bytes: &[u8], name: &str, limit: u64) -> Result<(), BundleError> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(BundleError::TooLarge {
            path: name.to_owned(),
            size,
            limit,
        });
    }
    Ok(())
}

/// The in-memory counterpart of [`check_tree`]: only the layout's paths,
/// exactly the listed files, each of its listed length. With `base`, only
/// the files of the lines `base` does not have byte for byte.
fn check_files(
    files: &BTreeMap<String, Vec<u8>>,
    manifest: &Manifest,
    limits: &Limits,
    base: Option<&Manifest>,
) -> Result<(), BundleError> {
    let count = u64::try_from(files.len()).unwrap_or(u64::MAX);
    if count > limits.max_files {
        return Err(BundleError::TooManyFiles {
            count,
            limit: limits.max_files,
        });
    }
    // The manifest's lines, the base's and the files are all sorted by
    // path: one walk over the three, without building a map.
    let mut base_lines = base
        .map_or(&[][..], |b| b.files.as_slice())
        .iter()
        .peekable();
    let mut listed = manifest
        .files
        .iter()
        .filter(move |entry| {
            while base_lines.next_if(|b| b.path < entry.path).is_some() {}
            base_lines.peek() != Some(entry)
        })
        .peekable();
    let mut first_missing: Option<&ManifestEntry> = None;
    for (path, bytes) in files {
        if let Err(reason) = check_bundle_path(path) {
            return Err(BundleError::UnexpectedPath {
                path: path.clone(),
                what: "file",
                reason,
            });
        }
        while let Some(missing) = listed.next_if(|e| e.path < *path) {
            first_missing.get_or_insert(missing);
        }
        let Some(entry) = listed.next_if(|e| e.path == *path) else {
            return Err(BundleError::UnlistedFile { path: path.clone() });
        };
        let found = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if found != entry.len {
            return Err(BundleError::LengthMismatch {
                path: path.clone(),
                expected: entry.len,
                found,
            });
        }
    }
    if let Some(missing) = first_missing.or_else(|| listed.next()) {
        return Err(BundleError::MissingFile {
            path: missing.path.clone(),
        });
    }
    Ok(())
}

/// Refuses symbolic links and anything that is not a regular file.
fn check_regular_file(meta: &fs::Metadata, path: &str) -> Result<(), BundleError> {
    if meta.file_type().is_symlink() {
        return Err(BundleError::Symlink {
            path: path.to_owned(),
        });
    }
    if !meta.is_file() {
        return Err(BundleError::UnexpectedPath {
            path: path.to_owned(),
            what: "entry",
            reason: "expected a regular file",
        });
    }
    Ok(())
}

/// Reads a top-level file of at most `limit` bytes; `None` if it is absent.
fn read_top_file(full: &Path, name: &str, limit: u64) -> Result<Option<Vec<u8>>, BundleError> {
    let meta = match fs::symlink_metadata(full) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(full)(e)),
    };
    check_regular_file(&meta, name)?;
    let bytes = read_at_most(full, limit)?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(BundleError::TooLarge {
            path: name.to_owned(),
            size: meta.len().max(size),
            limit,
        });
    }
    Ok(Some(bytes))
}

/// Sorted `(name, file type)` of a directory's entries; names must be UTF-8.
fn sorted_entries(dir: &Path, prefix: &str) -> Result<Vec<(String, fs::FileType)>, BundleError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        // DirEntry::file_type does not follow symbolic links.
        let file_type = entry.file_type().map_err(io_error(&entry.path()))?;
        let Ok(name) = entry.file_name().into_string() else {
            return Err(BundleError::UnexpectedPath {
                path: format!("{prefix}{}", entry.file_name().to_string_lossy()),
                what: "entry",
                reason: "names must be UTF-8",
            });
        };
        out.push((name, file_type));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Walks the tree: only the layout's paths, no links, exactly the listed files.
fn check_tree(dir: &Path, manifest: &Manifest, limits: &Limits) -> Result<(), BundleError> {
    let mut listed: HashMap<&str, (u64, bool)> = manifest
        .files
        .iter()
        .map(|e| (e.path.as_str(), (e.len, false)))
        .collect();
    let mut seen: u64 = 0;
    for (name, file_type) in sorted_entries(dir, "")? {
        if is_outside_bundle(&name) {
            // `.git` and the like: a bundle directory may be a git work tree.
            continue;
        }
        if file_type.is_symlink() {
            return Err(BundleError::Symlink { path: name });
        }
        let top_file = name == MANIFEST_FILE_NAME
            || name == SIGNATURE_FILE_NAME
            || name == KEY_ROTATIONS_FILE_NAME;
        let entity = name.parse::<EntityKind>().ok();
        match (file_type.is_dir(), top_file, entity) {
            (false, true, _) => continue,
            (true, _, Some(entity)) => {
                let sub = dir.join(entity.as_str());
                let prefix = format!("{entity}/");
                for (file_name, file_type) in sorted_entries(&sub, &prefix)? {
                    let path = format!("{prefix}{file_name}");
                    if file_type.is_symlink() {
                        return Err(BundleError::Symlink { path });
                    }
                    if !file_type.is_file() {
                        return Err(BundleError::UnexpectedPath {
                            path,
                            what: if file_type.is_dir() {
                                "directory"
                            } else {
                                "special file (not a regular file)"
                            },
                            reason: "entity directories hold only <uuid>.sync.txt files",
                        });
                    }
                    if let Err(reason) = check_bundle_path(&path) {
                        return Err(BundleError::UnexpectedPath {
                            path,
                            what: "file",
                            reason,
                        });
                    }
                    seen += 1;
                    if seen > limits.max_files {
                        return Err(BundleError::TooManyFiles {
                            count: seen,
                            limit: limits.max_files,
                        });
                    }
                    let Some((len, found)) = listed.get_mut(path.as_str()) else {
                        return Err(BundleError::UnlistedFile { path });
                    };
                    *found = true;
                    let full = sub.join(&file_name);
                    let actual = fs::symlink_metadata(&full).map_err(io_error(&full))?.len();
                    if actual != *len {
                        return Err(BundleError::LengthMismatch {
                            path,
                            expected: *len,
                            found: actual,
                        });
                    }
                }
            }
            (is_dir, _, _) => {
                return Err(BundleError::UnexpectedPath {
                    path: name,
                    what: if is_dir {
                        "directory"
                    } else if file_type.is_file() {
                        "file"
                    } else {
                        "special file (not a regular file)"
                    },
                    reason: "the top level holds only manifest.sync.txt, bundle.sig, key-rotations.txt and entity directories",
                });
            }
        }
    }
    if let Some(missing) = manifest
        .files
        .iter()
        .find(|e| listed.get(e.path.as_str()).is_some_and(|(_, found)| !found))
    {
        return Err(BundleError::MissingFile {
            path: missing.path.clone(),
        });
    }
    Ok(())
}
