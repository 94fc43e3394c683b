//! Bundle directories: `manifest.sync.txt`, `bundle.sig` and
//! `<entity>/<uuid>.sync.txt` files. [`BundleReader`] checks and streams a
//! bundle; [`BundleWriter`] writes a whole one incrementally (only the
//! files whose bytes change); [`BundleUpdater`] changes a few files of a
//! bundle whose manifest the caller wrote, trusting the rest.
//!
//! This module does file I/O but no cryptography: the caller verifies
//! `bundle.sig` over [`BundleReader::manifest_bytes`] and makes it over
//! [`WrittenBundle::manifest_bytes`] with another crate (`wb-crypto`).

mod draft;
mod fs_util;
mod reader;
mod updater;
mod writer;

use std::io;
use std::path::{Path, PathBuf};

pub use reader::{BundleParts, BundleReader};
pub use updater::BundleUpdater;
pub use writer::{BundleWriter, WrittenBundle, write_key_rotations, write_signature};

use crate::error::{ParseError, WriteError};
use crate::manifest::DEFAULT_MAX_MANIFEST_BYTES;
use crate::sync_file::DEFAULT_MAX_FILE_BYTES;

/// The largest `bundle.sig` a reader accepts: 64 KiB.
pub const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// The largest `key-rotations.txt` a reader accepts: 256 KiB.
pub const MAX_KEY_ROTATIONS_BYTES: u64 = 256 * 1024;

/// Size limits a [`BundleReader`] enforces before reading anything into
/// memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest `.sync.txt` file, in bytes (default 1 MiB).
    pub max_file_bytes: u64,
    /// Largest number of files in a bundle (default 1,000,000).
    pub max_files: u64,
    /// Largest manifest, in bytes (default 256 MiB).
    pub max_manifest_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_files: 1_000_000,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
        }
    }
}

/// Reading or writing a bundle failed.
///
/// Paths inside the bundle are named relative to its directory
/// (`user/0193….sync.txt`); I/O errors name the full path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// An operating-system error on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file or the manifest broke a format rule (names file and line).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A file or manifest could not be rendered.
    #[error("{path}: {source}")]
    Write {
        /// The bundle path of the file.
        path: String,
        /// What is wrong with it.
        source: WriteError,
    },
    /// The directory has no `manifest.sync.txt`.
    #[error("{}: no manifest.sync.txt; not a bundle directory", dir.display())]
    MissingManifest {
        /// The bundle directory.
        dir: PathBuf,
    },
    /// The directory has no `bundle.sig`.
    #[error("{}: no bundle.sig; the bundle is not signed", dir.display())]
    MissingSignature {
        /// The bundle directory.
        dir: PathBuf,
    },
    /// A symbolic link inside the bundle.
    #[error("{path}: symbolic links are not allowed in a bundle")]
    Symlink {
        /// The link's path in the bundle.
        path: String,
    },
    /// A path that is not part of the bundle layout.
    #[error("{path}: unexpected {what} in the bundle ({reason})")]
    UnexpectedPath {
        /// The path in the bundle.
        path: String,
        /// "file", "directory", "entry" or "special file (not a regular file)".
        what: &'static str,
        /// What the layout allows instead.
        reason: &'static str,
    },
    /// A file on disk that the manifest does not list.
    #[error("{path}: file is not listed in the manifest")]
    UnlistedFile {
        /// The file's path in the bundle.
        path: String,
    },
    /// A file the manifest lists that is not on disk.
    #[error("{path}: listed in the manifest but missing")]
    MissingFile {
        /// The file's path in the bundle.
        path: String,
    },
    /// A file or the signature is larger than the limit.
    #[error("{path}: {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The path in the bundle.
        path: String,
        /// Its size (or the size the manifest declares).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bundle holds more files than the limit.
    #[error("bundle holds {count} files, over the limit of {limit}")]
    TooManyFiles {
        /// Files counted so far.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// A file's length differs from the manifest.
    #[error("{path}: length is {found} bytes but the manifest says {expected}")]
    LengthMismatch {
        /// The file's path in the bundle.
        path: String,
        /// The length in the manifest.
        expected: u64,
        /// The length on disk.
        found: u64,
    },
    /// A file's SHA-256 differs from the manifest.
    #[error("{path}: SHA-256 is {found} but the manifest says {expected}")]
    HashMismatch {
        /// The file's path in the bundle.
        path: String,
        /// The hash in the manifest (hex).
        expected: String,
        /// The hash of the bytes on disk (hex).
        found: String,
    },
    /// A file's `Entity:`/`ID:` headers do not match its path.
    #[error(
        "{path}:1: headers say Entity: {entity} and ID: {id}, which belong at {entity}/{id}.sync.txt"
    )]
    PathMismatch {
        /// The file's path in the bundle.
        path: String,
        /// The `Entity:` header.
        entity: String,
        /// The `ID:` header.
        id: String,
    },
    /// A file's `Instance:` differs from the manifest's.
    #[error("{path}:3: Instance {found:?} differs from the bundle's instance {expected:?}")]
    InstanceMismatch {
        /// The file's path in the bundle.
        path: String,
        /// The bundle's instance.
        expected: String,
        /// The file's instance.
        found: String,
    },
    /// A file says `Sync-Scope: private`: private rows never travel.
    #[error("{path}:5: Sync-Scope is private; a bundle never carries private rows")]
    PrivateFile {
        /// The file's path in the bundle.
        path: String,
    },
    /// The same row was added (or kept) twice to a [`BundleWriter`] or a
    /// [`BundleUpdater`].
    #[error("{path}: added twice")]
    DuplicateFile {
        /// The file's path in the bundle.
        path: String,
    },
}

impl BundleError {
    /// A stable, machine-readable name of the rule broken (kebab-case; see
    /// [`ParseErrorKind::code`](crate::ParseErrorKind::code) for the
    /// codes of a file's or the manifest's syntax).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Io { .. } => "io",
            BundleError::Parse(parse) => parse.kind().code(),
            BundleError::Write { .. } => "write",
            BundleError::MissingManifest { .. } => "missing-manifest",
            BundleError::MissingSignature { .. } => "missing-signature",
            BundleError::Symlink { .. } | BundleError::UnexpectedPath { .. } => "unsafe-path",
            BundleError::UnlistedFile { .. } => "unlisted-file",
            BundleError::MissingFile { .. } => "missing-file",
            BundleError::TooLarge { .. } => "too-large",
            BundleError::TooManyFiles { .. } => "too-many-files",
            BundleError::LengthMismatch { .. } => "length-mismatch",
            BundleError::HashMismatch { .. } => "hash-mismatch",
            BundleError::PathMismatch { .. } => "path-mismatch",
            BundleError::InstanceMismatch { .. } => "instance-mismatch",
            BundleError::PrivateFile { .. } => "private-file",
            BundleError::DuplicateFile { .. } => "duplicate-file",
        }
    }

    /// The path inside the bundle this error is about, when there is one
    /// (`manifest.sync.txt`, `user/0193….sync.txt`).
    #[must_use]
    pub fn bundle_path(&self) -> Option<&str> {
        match self {
            BundleError::Parse(parse) => Some(parse.path()),
            BundleError::Write { path, .. }
            | BundleError::Symlink { path }
            | BundleError::UnexpectedPath { path, .. }
            | BundleError::UnlistedFile { path }
            | BundleError::MissingFile { path }
            | BundleError::TooLarge { path, .. }
            | BundleError::LengthMismatch { path, .. }
            | BundleError::HashMismatch { path, .. }
            | BundleError::PathMismatch { path, .. }
            | BundleError::InstanceMismatch { path, .. }
            | BundleError::PrivateFile { path }
            | BundleError::DuplicateFile { path } => Some(path),
            BundleError::Io { .. }
            | BundleError::MissingManifest { .. }
            | BundleError::MissingSignature { .. }
            | BundleError::TooManyFiles { .. } => None,
        }
    }
}

/// Wraps an I/O error with its path.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_owned(),
        source,
    }
}
