//! Signed bundles: export an instance's public rows, import another's.
//!
//! - [`export_bundle`] writes the effectively public local rows into a
//!   bundle directory with `wb-syncfmt` by one of its strategies
//!   ([`ExportStrategy`]), picks the sequence number, and signs the manifest
//!   with `wb-crypto`; [`relay_bundle`] writes this instance's copy of
//!   another instance's rows under that instance's signature.
//! - [`import_bundle`] (a directory) and [`import_files`] (a bundle held in
//!   memory) check a bundle through [`verify`] — the one verification path,
//!   which the hub calls too: key against the pin, signature, every hash,
//!   schema, scope, file list, bodies, actor origins — then the sequence and
//!   references against this instance, and only then apply it in one
//!   transaction through the store.
//! - [`locate_bundles`] and [`import_bundle_set`] import a directory of
//!   bundles (a community's shared repository) bundle by bundle, in an order
//!   that satisfies the references between them.
//!
//! Both report progress through [`Progress`], which front ends implement
//! (the CLI draws a bar on a terminal) and tests ignore.

mod bundle_set;
mod codec;
mod export;
mod import;
pub mod peers;
pub mod pins;
pub mod verify;

use std::path::{Path, PathBuf};

use wb_crypto::{Created, KeyStore, SigningKey};
use wb_model::InstanceName;

pub use bundle_set::{
    BundleLocation, SetEntry, SetImport, SetResult, import_bundle_set, locate_bundles,
};
pub use export::{ExportStrategy, ExportSummary, export_bundle, relay_bundle};
pub use import::{FollowedRotation, ImportOptions, ImportOutcome, import_bundle, import_files};
pub use wb_store::ImportCounts;

use crate::Result;

/// Where the progress of long work goes. All methods default to nothing.
pub trait Progress {
    /// Work of `total` steps, described by `what` (which names what a
    /// step is: "exporting files", "exporting rows"), begins.
    fn start(&self, what: &str, total: u64) {
        let _ = (what, total);
    }
    /// One more step is done.
    fn step(&self) {}
    /// The work is over.
    fn finish(&self) {}
}

/// Progress that is not shown.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// The signing key of `instance` in `keys`, created if missing. Returns the
/// path of the secret key when it was created just now, so the caller can
/// warn the operator (once: the next call finds it).
pub fn instance_key(
    keys: &KeyStore,
    instance: &InstanceName,
) -> Result<(SigningKey, Option<PathBuf>)> {
    let (key, created) = keys.load_or_generate(instance.as_str())?;
    let created_path = match created {
        Created::New => Some(keys.secret_key_path(instance.as_str())?),
        Created::Existing => None,
    };
    Ok((key, created_path))
}

/// Where an instance's bundle goes when no directory is named (`wb sync
/// export`, `wb sync push`): `DIR/data/public_sync`, or, when that directory
/// is a clone of a community's shared repository (it holds no bundle of its
/// own but a `.git` or folders holding bundles), this instance's folder in
/// it, `DIR/data/public_sync/<instance>` (`docs/workflow.md`).
pub fn default_export_dir(instance_dir: &Path, instance: &InstanceName) -> PathBuf {
    let base = instance_dir.join("data").join("public_sync");
    let community = std::fs::symlink_metadata(base.join(wb_syncfmt::MANIFEST_FILE_NAME)).is_err()
        && (std::fs::symlink_metadata(base.join(".git")).is_ok()
            || matches!(locate_bundles(&base), Ok(BundleLocation::Set { .. })));
    if community {
        base.join(instance.as_str())
    } else {
        base
    }
}

/// The key directory of an instance directory: `DIR/.sync/keys`.
pub fn key_dir(instance_dir: &Path) -> PathBuf {
    instance_dir.join(".sync").join("keys")
}
