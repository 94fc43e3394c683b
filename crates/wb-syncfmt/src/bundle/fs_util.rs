//! Small file-system helpers: bounded reads, atomic writes, temp names.

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use super::{BundleError, io_error};

/// True for the names of this crate's temporary files (`.<name>.tmp`).
pub(super) fn is_temp_name(name: &str) -> bool {
    name.len() > 5 && name.starts_with('.') && name.ends_with(".tmp")
}

/// The temporary file `write_atomic` writes `path` through.
pub(super) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Reads at most `limit + 1` bytes of the file at `path`.
pub(super) fn read_at_most(path: &Path, limit: u64) -> Result<Vec<u8>, BundleError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    Ok(bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers see the old or the new content, never a part.
/// With `durable`, the data is flushed to disk before the rename.
pub(super) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<(), BundleError> {
    let temp = temp_path(path);
    let result = (|| {
        let mut file = File::create(&temp).map_err(io_error(&temp))?;
        file.write_all(bytes).map_err(io_error(&temp))?;
        if durable {
            file.sync_all().map_err(io_error(&temp))?;
        }
        drop(file);
        fs::rename(&temp, path).map_err(io_error(path))
    })();
    if result.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&temp);
    }
    result
}
