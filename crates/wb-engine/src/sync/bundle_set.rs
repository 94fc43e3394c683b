//! `wb sync import DIR` where `DIR` is a directory of bundles: a community's
//! shared repository, one folder per instance (`alpha.example/`,
//! `beta.example/`, …). Layered on [`import_bundle`]: each bundle is
//! imported by it, in its own transaction, with the caller's options.
//!
//! **Order.** A bundle whose rows reference another instance's rows (alpha's
//! comment on gamma's request) can only be applied after that instance's
//! bundle. Rather than reading every bundle twice to compute an order, the
//! set is imported in rounds: each round tries every bundle not yet applied,
//! in folder order; a refused bundle is tried again in the next round if
//! that round applied anything, since what it lacked may have arrived. The
//! rounds stop when one applies nothing; the bundles still refused are
//! reported with the reason of their last attempt. This needs no knowledge
//! of why a bundle was refused (a refusal changes nothing, so trying again
//! is safe), and costs at most one extra attempt per bundle and round —
//! a community has a handful of instances. See `docs/workflow.md`.

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use wb_crypto::KeyStore;
use wb_model::InstanceName;
use wb_syncfmt::{MANIFEST_FILE_NAME, is_outside_bundle};

use super::{ImportOptions, ImportOutcome, Progress, import_bundle};
use crate::{BundleRefusal, EngineError, Instance, Result};

/// What `wb sync import DIR` found at `DIR`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleLocation {
    /// `DIR` is one bundle: it holds `manifest.sync.txt`.
    One(PathBuf),
    /// `DIR` is a directory of bundles.
    Set {
        /// Its subdirectories holding a `manifest.sync.txt`, sorted by name.
        bundles: Vec<PathBuf>,
        /// Its other subdirectories (not bundles), sorted by name; top-level
        /// files and entries whose names begin with `.` are not listed.
        others: Vec<PathBuf>,
    },
}

/// Looks at `dir`: one bundle, or a directory whose subdirectories are
/// bundles. Nothing is read beyond directory entries.
///
/// # Errors
///
/// [`EngineError::BundleRefused`] naming `dir` once: it does not exist, is
/// not a directory, cannot be listed, or is neither a bundle nor holds one.
pub fn locate_bundles(dir: &Path) -> Result<BundleLocation> {
    let not_found = |e: io::Error| {
        let reason = if e.kind() == io::ErrorKind::NotFound {
            BundleRefusal::rule("no-such-directory", "no such directory")
        } else {
            BundleRefusal::Io(e)
        };
        EngineError::BundleRefused {
            path: dir.to_owned(),
            reason,
        }
    };
    // The bundle directory itself may be reached through a link.
    let meta = fs::metadata(dir).map_err(not_found)?;
    if !meta.is_dir() {
        return Err(EngineError::BundleRefused {
            path: dir.to_owned(),
            reason: BundleRefusal::rule(
                "not-a-directory",
                "not a directory; a bundle is a directory",
            ),
        });
    }
    if fs::symlink_metadata(dir.join(MANIFEST_FILE_NAME)).is_ok() {
        return Ok(BundleLocation::One(dir.to_owned()));
    }
    let mut bundles = Vec::new();
    let mut others = Vec::new();
    for entry in fs::read_dir(dir).map_err(not_found)? {
        let entry = entry.map_err(not_found)?;
        let name = entry.file_name();
        if name.to_str().is_some_and(is_outside_bundle) {
            continue;
        }
        // Links are not followed: a folder of the set is a directory.
        if !entry.file_type().map_err(not_found)?.is_dir() {
            continue;
        }
        let path = entry.path();
        if fs::symlink_metadata(path.join(MANIFEST_FILE_NAME)).is_ok() {
            bundles.push(path);
        } else {
            others.push(path);
        }
    }
    if bundles.is_empty() {
        return Err(EngineError::BundleRefused {
            path: dir.to_owned(),
            reason: BundleRefusal::rule(
                "not-a-bundle",
                format!(
                    "neither a bundle (no {MANIFEST_FILE_NAME}) nor a directory of bundles (no \
                 subdirectory holds one)"
                ),
            ),
        });
    }
    bundles.sort();
    others.sort();
    Ok(BundleLocation::Set { bundles, others })
}

/// What happened to one folder of a set.
#[derive(Debug)]
pub enum SetResult {
    /// [`import_bundle`] applied it, or found it applied already.
    Imported(ImportOutcome),
    /// This instance's own bundle (its manifest names this instance): skipped.
    Own,
    /// A subdirectory without `manifest.sync.txt`: skipped.
    NotABundle,
    /// Refused (nothing of it applied): the error of its last attempt.
    Refused(EngineError),
}

/// One folder of a set and what happened to it.
#[derive(Debug)]
#[non_exhaustive]
pub struct SetEntry {
    /// The folder.
    pub dir: PathBuf,
    /// What happened to it.
    pub result: SetResult,
}

/// What [`import_bundle_set`] did, folder by folder, in folder order.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SetImport {
    /// Every folder of the set, sorted by path.
    pub entries: Vec<SetEntry>,
}

impl SetImport {
    fn count(&self, pick: impl Fn(&SetResult) -> bool) -> usize {
        self.entries.iter().filter(|e| pick(&e.result)).count()
    }

    /// Bundles applied by this import.
    #[must_use]
    pub fn applied(&self) -> usize {
        self.count(|r| matches!(r, SetResult::Imported(ImportOutcome::Applied { .. })))
    }

    /// Bundles that were applied before (nothing to do).
    #[must_use]
    pub fn already_applied(&self) -> usize {
        self.count(|r| matches!(r, SetResult::Imported(ImportOutcome::AlreadyApplied { .. })))
    }

    /// Folders skipped: this instance's own bundle, and non-bundles.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.count(|r| matches!(r, SetResult::Own | SetResult::NotABundle))
    }

    /// Bundles refused.
    #[must_use]
    pub fn refused(&self) -> usize {
        self.count(|r| matches!(r, SetResult::Refused(_)))
    }
}

/// Imports the bundles of a set (from [`locate_bundles`]) into `instance`,
/// each with [`import_bundle`] and the same `options`, in its own
/// transaction, in an order that satisfies references between them (rounds,
/// see the module documentation). This instance's own bundle is skipped;
/// bundles applied before come back as [`ImportOutcome::AlreadyApplied`].
/// A refused bundle changes nothing, and does not undo the others.
///
/// # Errors
///
/// Only an error before any import: an expected key (`--key`) with more
/// than one bundle, since one key cannot sign several instances' bundles.
/// Everything that goes wrong with a bundle is in its [`SetEntry`].
pub async fn import_bundle_set(
    instance: &Instance,
    keys: &KeyStore,
    bundles: &[PathBuf],
    others: &[PathBuf],
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<SetImport> {
    if options.expected_key.is_some() && bundles.len() > 1 {
        return Err(EngineError::BundleRefused {
            path: common_parent(bundles),
            reason: BundleRefusal::rule(
                "key-for-a-set",
                format!(
                    "an expected key is one instance's key, and this directory holds {} bundles; \
                 import that instance's folder alone with its key, then the whole directory",
                    bundles.len()
                ),
            ),
        });
    }
    let mut entries: Vec<SetEntry> = others
        .iter()
        .map(|dir| SetEntry {
            dir: dir.clone(),
            result: SetResult::NotABundle,
        })
        .collect();
    let mut pending = Vec::new();
    for dir in bundles {
        if manifest_instance(dir).as_deref() == Some(instance.name().as_str()) {
            entries.push(SetEntry {
                dir: dir.clone(),
                result: SetResult::Own,
            });
        } else {
            pending.push(dir.clone());
        }
    }
    let mut refused: Vec<(PathBuf, EngineError)> = Vec::new();
    loop {
        let mut progressed = false;
        refused.clear();
        for dir in std::mem::take(&mut pending) {
            match import_bundle(instance, keys, &dir, options, progress).await {
                Ok(outcome) => {
                    progressed |= matches!(outcome, ImportOutcome::Applied { .. });
                    entries.push(SetEntry {
                        dir,
                        result: SetResult::Imported(outcome),
                    });
                }
                Err(e) => refused.push((dir, e)),
            }
        }
        if !progressed || refused.is_empty() {
            break;
        }
        pending = refused.iter().map(|(dir, _)| dir.clone()).collect();
    }
    entries.extend(refused.into_iter().map(|(dir, e)| SetEntry {
        dir,
        result: SetResult::Refused(e),
    }));
    entries.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(SetImport { entries })
}

/// The directory the bundles are in, for a message.
fn common_parent(bundles: &[PathBuf]) -> PathBuf {
    bundles
        .first()
        .and_then(|b| b.parent())
        .map(Path::to_owned)
        .unwrap_or_default()
}

/// The `Instance:` header of the manifest in `dir`, read from its first
/// bytes without parsing the rest; `None` if absent or not in the form of
/// `docs/format.md` §4 (then the full checks name the problem). Only used to
/// decide which folder is this instance's own.
pub(crate) fn manifest_instance(dir: &Path) -> Option<String> {
    let path = dir.join(MANIFEST_FILE_NAME);
    if !fs::symlink_metadata(&path).ok()?.is_file() {
        return None;
    }
    let mut head = Vec::with_capacity(512);
    fs::File::open(&path)
        .ok()?
        .take(512)
        .read_to_end(&mut head)
        .ok()?;
    let text = String::from_utf8_lossy(&head);
    let rest = text.strip_prefix("Format: wb-sync-manifest\nInstance: ")?;
    // A whole line only: a name cut off at the end of `head` is not one.
    let (name, _) = rest.split_once('\n')?;
    InstanceName::parse(name)
        .ok()
        .map(|n| n.as_str().to_owned())
}
