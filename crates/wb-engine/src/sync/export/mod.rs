//! `wb sync export`: the effectively public rows as a signed bundle.
//!
//! Two entry points:
//! - [`export_bundle`]: this instance's own rows. It chooses one of three
//!   strategies, each in a module of its own, lets it fill the bundle, then
//!   chooses the sequence number, writes the manifest and signs it (here):
//!   - [`journaled`] ([`ExportStrategy::Journaled`], the usual one): the
//!     bundle in the directory is the one this instance wrote last, and
//!     the journal of changes names the few rows to look at;
//!   - [`heads`] ([`ExportStrategy::Heads`]): the directory holds this
//!     instance's bundle but the journal cannot be used; every row's head is
//!     read and the files of unchanged rows kept;
//!   - [`fresh`] ([`ExportStrategy::Fresh`]): no bundle of this instance to
//!     reuse; every table is streamed and every exported row rendered.
//! - [`relay_bundle`] ([`relay`], [`ExportStrategy::Relay`]): another
//!   instance's rows, as imported, under that instance's signature.
//!
//! Which rows are exported is decided by `wb_model::EffectiveScopes`, the
//! model's one evaluator of the effective-scope rule, which the listings
//! use too; [`render`] holds what the strategies share. The summary of an
//! export names the strategy that ran.

mod fresh;
mod heads;
mod journaled;
mod relay;
mod render;

use std::fmt;
use std::path::{Path, PathBuf};

use wb_crypto::{KeyStore, SigningKey, TrustedComment, bundle_trusted_comment, sign_minisign};
use wb_model::InstanceName;
use wb_syncfmt::bundle::{
    BundleUpdater, BundleWriter, WrittenBundle, write_key_rotations, write_signature,
};
use wb_syncfmt::{
    CURRENT_SCHEMA_VERSION, MANIFEST_FILE_NAME, Manifest, SIGNATURE_FILE_NAME, sha256_hex,
};

use super::bundle_set::manifest_instance;
use super::{BundleLocation, locate_bundles};
use super::{Progress, instance_key};
use crate::{BundleRefusal, EngineError, Instance, Result};

use journaled::{JOURNAL_LIMIT, Journaled};
pub use relay::relay_bundle;

/// How an export filled its bundle (see `docs/performance.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExportStrategy {
    /// No bundle of this instance to reuse in the directory: every table
    /// was read once, every exported row rendered.
    Fresh,
    /// The directory held this instance's bundle, but not the one whose
    /// changes the journal holds (or the journal was over its limit, or
    /// the records of rendered files were another version's): every row's
    /// head was read, and rows unchanged since they were rendered kept
    /// their files unread.
    Heads,
    /// The directory held the very bundle this instance wrote last: only
    /// the rows the journal of changes names, and the rows whose effective
    /// scope they decide, were looked at.
    Journaled,
    /// Another instance's rows were relayed ([`relay_bundle`]).
    Relay,
}

impl ExportStrategy {
    /// The strategy's name in output (`wb sync export --json`): `fresh`,
    /// `heads`, `journaled` or `relay`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStrategy::Fresh => "fresh",
            ExportStrategy::Heads => "heads",
            ExportStrategy::Journaled => "journaled",
            ExportStrategy::Relay => "relay",
        }
    }
}

impl fmt::Display for ExportStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an export did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// Whose rows were exported.
    pub origin: InstanceName,
    /// The bundle's sequence number.
    pub sequence: u64,
    /// Whether the content differs from the bundle the directory held.
    pub changed: bool,
    /// Row files in the bundle.
    pub files: u64,
    /// Rows read in full and rendered into their files; the other files
    /// were kept from the bundle already in the directory without reading
    /// their rows, because the rows had not changed since they were
    /// rendered (see `docs/performance.md`).
    pub rendered: u64,
    /// Files written because they were new or changed.
    pub written: u64,
    /// Files removed because their rows are no longer exported.
    pub removed: u64,
    /// Set when this export created the instance's signing key.
    pub key_created: Option<PathBuf>,
    /// How the bundle was filled.
    pub strategy: ExportStrategy,
}

/// Writes a bundle of this instance's own effectively public rows into
/// `out`, signed with its key (created if missing).
///
/// Relaying another instance's rows is [`relay_bundle`].
///
/// Deterministic: the same database gives the same bytes. Incremental:
/// unchanged files are not rewritten, files of rows no longer exported are
/// removed, and the sequence number is bumped only when the content changes.
/// [`ExportSummary::strategy`] says how the bundle was filled.
///
/// Never over another instance's bundle: when `out` holds a manifest that
/// names another instance, or holds folders of bundles, the export is
/// refused before anything is written. Entries of `out` whose names begin
/// with `.` (`.git`, …) are left alone. An export that fails before it
/// writes the manifest creates no signing key.
pub async fn export_bundle(
    instance: &Instance,
    keys: &KeyStore,
    out: &Path,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    export_own(instance, keys, out, progress).await
}

/// Refuses `out` when it holds another instance's bundle than `exported`'s,
/// or folders of bundles: an export never writes over them.
fn check_out(out: &Path, exported: &InstanceName) -> Result<()> {
    if let Some(holder) = manifest_instance(out)
        && holder != exported.as_str()
    {
        return Err(rule(
            out,
            "foreign-bundle",
            format!(
                "holds the bundle of {holder} (its {MANIFEST_FILE_NAME} says Instance: \
                 {holder}); refusing to export {exported}'s rows over another instance's \
                 bundle. Export into a directory of {exported}'s own, e.g. --out \
                 <repository>/{exported}"
            ),
        ));
    }
    if manifest_instance(out).is_none()
        && let Ok(BundleLocation::Set { bundles, .. }) = locate_bundles(out)
    {
        return Err(rule(
            out,
            "bundle-set",
            format!(
                "holds {} bundles in its folders (a directory of bundles); refusing to export \
                 over them. Export into {exported}'s own folder, e.g. --out {}",
                bundles.len(),
                out.join(exported.as_str()).display()
            ),
        ));
    }
    Ok(())
}

/// A refused or failed export of `path`.
fn refused(path: &Path, reason: impl Into<BundleRefusal>) -> EngineError {
    EngineError::BundleRefused {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// A refusal by the export's rule `code`.
fn rule(path: &Path, code: &'static str, message: impl Into<String>) -> EngineError {
    refused(path, BundleRefusal::rule(code, message))
}

/// The bundle a strategy filled: a whole one, or the one in the directory
/// with a few files changed.
enum Filled {
    /// From [`BundleWriter::create`] ([`fresh`], [`heads`]).
    Whole(BundleWriter),
    /// From [`BundleUpdater::open`] ([`journaled`]).
    Changed(BundleUpdater),
}

impl Filled {
    fn file_count(&self) -> u64 {
        match self {
            Filled::Whole(writer) => writer.file_count(),
            Filled::Changed(updater) => updater.file_count(),
        }
    }

    /// Whether the bundle's content is the one last exported (`stored`,
    /// whose manifest's digest is `stored_digest`), so that it keeps its
    /// sequence number and bytes.
    fn unchanged(
        &self,
        out: &Path,
        name: &InstanceName,
        public_key: &str,
        stored: u64,
        stored_digest: Option<&str>,
    ) -> Result<bool> {
        match self {
            // Opened with the digest of the manifest last exported: that
            // manifest is the previous one, so comparing its files with the
            // new ones is enough.
            Filled::Changed(updater) => {
                let previous = updater.previous_manifest();
                Ok(updater.has_previous_files()
                    && previous.public_key == public_key
                    && previous.instance == name.as_str())
            }
            // The manifest the files would have under the last sequence is
            // the one last exported.
            Filled::Whole(writer) => {
                let candidate = Manifest {
                    instance: name.to_string(),
                    public_key: public_key.to_owned(),
                    schema_version: CURRENT_SCHEMA_VERSION,
                    sequence: stored.max(1),
                    files: writer.files(),
                };
                let text = candidate.to_text().map_err(|source| {
                    refused(
                        out,
                        wb_syncfmt::bundle::BundleError::Write {
                            path: MANIFEST_FILE_NAME.to_owned(),
                            source,
                        },
                    )
                })?;
                Ok(stored > 0 && stored_digest == Some(sha256_hex(text.as_bytes()).as_str()))
            }
        }
    }

    fn finish(
        self,
        instance: &str,
        public_key: &str,
        sequence: u64,
    ) -> std::result::Result<WrittenBundle, wb_syncfmt::bundle::BundleError> {
        match self {
            Filled::Whole(writer) => writer.finish(instance, public_key, sequence),
            Filled::Changed(updater) => updater.finish(instance, public_key, sequence),
        }
    }
}

/// This instance's own export (see [`export_bundle`]).
async fn export_own(
    instance: &Instance,
    keys: &KeyStore,
    out: &Path,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    let store = instance.store();
    let name = instance.name();
    check_out(out, name)?;
    let fail = |e: wb_syncfmt::bundle::BundleError| refused(out, e);
    // Checked before anything is written: a chain that does not lead to
    // the instance key would make every peer refuse the bundle.
    let rotations = own_rotations(keys, name)?;

    // Read the journal first: a change made from here on is noted after
    // `through` and stays for the next export.
    let changes = store.export_changes(JOURNAL_LIMIT).await?;
    let (stored, stored_digest) = store.export_state().await?;
    let (filled, strategy, rendered) =
        match Journaled::open(instance, &changes, stored_digest.as_deref(), out).await? {
            Some(journaled) => {
                let (updater, rendered) = journaled.render(instance, out, progress).await?;
                (
                    Filled::Changed(updater),
                    ExportStrategy::Journaled,
                    rendered,
                )
            }
            None => {
                let mut writer = BundleWriter::create(out).map_err(fail)?;
                let (strategy, rendered) = if heads::applies(&writer, instance) {
                    let rendered = heads::render(instance, &mut writer, out, progress).await?;
                    (ExportStrategy::Heads, rendered)
                } else {
                    let rendered = fresh::render(instance, &mut writer, out, progress).await?;
                    (ExportStrategy::Fresh, rendered)
                };
                (Filled::Whole(writer), strategy, rendered)
            }
        };
    // The key only now, when the rows are in place: an export refused
    // earlier (another instance's bundle, foreign files in `out`) creates
    // none.
    let (key, key_created) = instance_key(keys, name)?;
    let public_key = key.public_key().to_minisign_base64();

    // The content is unchanged when the manifest it would have under the
    // last sequence is the one last exported: then keep the number, and the
    // same bytes (Ed25519 signatures are deterministic) wherever it goes.
    let unchanged = filled.unchanged(out, name, &public_key, stored, stored_digest.as_deref())?;
    let files = filled.file_count();
    let sequence = if unchanged { stored } else { stored + 1 };
    if !unchanged {
        store.set_export_state(sequence, None).await?;
    }
    let written = filled
        .finish(name.as_str(), &public_key, sequence)
        .map_err(fail)?;
    let comment = bundle_trusted_comment(name.as_str(), sequence)?;
    let (digest, signature) = hash_and_sign(key, written.manifest_bytes, comment)
        .await
        .map_err(|reason| rule(out, "sign", reason))?;
    if !unchanged {
        store.set_export_state(sequence, Some(&digest)).await?;
    }
    let sig_path = out.join(SIGNATURE_FILE_NAME);
    if std::fs::read(&sig_path).ok().as_deref() != Some(signature.as_bytes()) {
        write_signature(out, signature.as_bytes()).map_err(fail)?;
    }
    write_key_rotations(out, rotations.as_deref().map(str::as_bytes)).map_err(fail)?;
    // What `out` holds now reflects every change noted up to `through`.
    store.forget_changes(changes.through).await?;
    Ok(ExportSummary {
        origin: name.clone(),
        sequence,
        changed: !unchanged,
        files,
        rendered,
        written: written.written,
        removed: written.removed,
        key_created,
        strategy,
    })
}

/// The SHA-256 of `manifest` (its bytes) and its signature by `key` under
/// the trusted comment `comment`. Each hashes the manifest whole, so they
/// run side by side, on a blocking thread and one more, not on the async
/// runtime's.
async fn hash_and_sign(
    key: SigningKey,
    manifest: Vec<u8>,
    comment: TrustedComment,
) -> std::result::Result<(String, String), String> {
    tokio::task::spawn_blocking(move || {
        crate::par::side_by_side(
            || sha256_hex(&manifest),
            || sign_minisign(&key, &manifest, &comment),
        )
    })
    .await
    .map_err(|_| "the thread hashing or signing the manifest failed".to_owned())
}

/// The text of this instance's rotation chain (`None` if it never
/// rotated), which every bundle carries as `key-rotations.txt`; refused when
/// the chain does not end at the instance key (an interrupted rotation, see
/// `docs/keys.md`), since peers would refuse the bundle.
fn own_rotations(keys: &KeyStore, name: &InstanceName) -> Result<Option<String>> {
    let chain = keys.load_rotations(name.as_str())?;
    let Some(last) = chain.last_key() else {
        return Ok(None);
    };
    let current = keys.load(name.as_str())?.public_key();
    if *last == current {
        return Ok(Some(chain.to_text()));
    }
    Err(rule(
        &keys.rotations_path(name.as_str())?,
        "rotation-chain-mismatch",
        format!(
            "the rotation chain ends at key {}, but the instance key is {}; a rotation was \
             interrupted or a key replaced by hand: restore the key from {} and run \
             `wb sync keygen --rotate` again",
            last.key_id(),
            current.key_id(),
            keys.retired_dir().display()
        ),
    ))
}
