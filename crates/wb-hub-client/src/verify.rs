//! The checks a bundle passes before the hub stores it or the sync client
//! hands it on, against a key pinned out of band: the key registered on the
//! hub, or the key pinned for a peer.
//!
//! Every check is `wb_engine::sync::verify`'s — the same path an import
//! takes, so the hub and the importer cannot drift apart — preceded by one
//! of the hub's own: the manifest names the instance the upload or download
//! is for. A bundle under another key than the pinned one passes when its
//! rotation chain leads there from the pin ([`VerifiedBundle::rotated`]).
//! Bundles held in memory are checked in memory
//! ([`verify_files`]); nothing is unpacked to disk to be checked.

use std::collections::BTreeMap;
use std::path::Path;

use wb_engine::sync::NoProgress;
use wb_engine::sync::verify::{
    KeyDecision, KeyPolicy, Refusal, SignedBundle, UpdateVerdict, check_signature,
    verify_update as engine_verify_update,
};
use wb_syncfmt::Manifest;
use wb_syncfmt::bundle::{BundleParts, BundleReader, Limits};

use crate::ErrorCode;

/// A bundle that passed every check.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    /// Its manifest.
    pub manifest: Manifest,
    /// SHA-256 (hex) of `manifest.sync.txt`.
    pub manifest_sha256: String,
    /// Set when the bundle is signed by another key than the pinned one,
    /// reached through its rotation chain: the verifier should move its pin
    /// to the manifest's key once it accepts the bundle.
    pub rotated: bool,
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The manifest names another instance than expected.
    #[error("the bundle is of instance {found}, expected {expected}")]
    WrongInstance {
        /// The instance expected.
        expected: String,
        /// The manifest's instance.
        found: String,
    },
    /// A rule of the format or of the bundle's signature was broken.
    #[error("{0}")]
    Refused(#[from] Refusal),
}

impl VerifyError {
    /// The hub API code for this refusal.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            VerifyError::WrongInstance { .. } => ErrorCode::WrongInstance,
            VerifyError::Refused(refusal) => refusal_code(refusal),
        }
    }
}

/// The hub API code for a refusal of the shared verification.
#[must_use]
pub fn refusal_code(refusal: &Refusal) -> ErrorCode {
    match refusal.code() {
        "private-file" => ErrorCode::PrivateFile,
        "unsafe-path" => ErrorCode::UnsafePath,
        "unsupported-schema" => ErrorCode::UnknownSchema,
        "bad-signature" | "signature-mismatch" | "key-mismatch" | "key-not-pinned"
        | "bad-key-rotation" => ErrorCode::BadSignature,
        "io" => ErrorCode::Internal,
        _ => ErrorCode::BadBundle,
    }
}

/// Verifies the bundle in the directory `dir` as the bundle of `instance`,
/// signed with `pinned_key` (minisign one-line form). See the module
/// documentation for the checks.
///
/// # Errors
///
/// The first check that fails.
pub fn verify_bundle(
    dir: &Path,
    instance: &str,
    pinned_key: &str,
    limits: &Limits,
) -> Result<VerifiedBundle, VerifyError> {
    let reader = BundleReader::open(dir, limits).map_err(Refusal::from)?;
    let signed = check(&reader, instance, pinned_key)?;
    signed.check_files(&reader, &NoProgress)?;
    Ok(verified(reader, signed).0)
}

/// [`verify_bundle`] of a bundle held in memory: `files` maps each path in
/// the bundle (`manifest.sync.txt`, `bundle.sig`, `user/….sync.txt`) to its
/// bytes. The files come back, checked, in [`BundleParts`]; no parsed row
/// is kept while checking, so memory stays at the files plus one row.
///
/// # Errors
///
/// The first check that fails.
pub fn verify_files(
    files: BTreeMap<String, Vec<u8>>,
    instance: &str,
    pinned_key: &str,
    limits: &Limits,
) -> Result<(VerifiedBundle, BundleParts), VerifyError> {
    let reader = BundleReader::from_files(files, limits).map_err(Refusal::from)?;
    let signed = check(&reader, instance, pinned_key)?;
    signed.check_files(&reader, &NoProgress)?;
    Ok(verified(reader, signed))
}

/// [`verify_files`] of a bundle given as an update of `base`, the manifest
/// (parsed, and its bytes) of a bundle of `instance` this side verified before
/// ([`BundleReader::from_update`]: `files` holds the new manifest, the
/// signature, the rotation chain and the files of the lines `base` does not
/// have), through `wb_engine::sync::verify::verify_update`: only the
/// changed files are read. [`UpdateChecked::NeedsWhole`] (with what was
/// given, back) when the update cannot be checked without the base's files
/// (another key, a user gone, …): verify the whole bundle with
/// [`verify_files`].
///
/// # Errors
///
/// The first check that fails.
pub fn verify_update(
    (base, base_bytes): (&Manifest, &[u8]),
    files: BTreeMap<String, Vec<u8>>,
    instance: &str,
    pinned_key: &str,
    limits: &Limits,
) -> Result<UpdateChecked, VerifyError> {
    let reader =
        BundleReader::from_update(base, base_bytes, files, limits).map_err(Refusal::from)?;
    check_instance(&reader, instance)?;
    Ok(
        match engine_verify_update(base, &reader, &policy(pinned_key), &NoProgress)? {
            UpdateVerdict::Verified(signed) => {
                let (bundle, parts) = verified(reader, *signed);
                UpdateChecked::Verified(bundle, parts)
            }
            _ => UpdateChecked::NeedsWhole(reader.into_parts()),
        },
    )
}

/// What [`verify_update`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpdateChecked {
    /// The update passed; its parts (the changed files only).
    Verified(VerifiedBundle, BundleParts),
    /// It must be verified whole; what was given, back.
    NeedsWhole(BundleParts),
}

fn policy(pinned_key: &str) -> KeyPolicy {
    KeyPolicy {
        pinned: Some(pinned_key.to_owned()),
        ..KeyPolicy::default()
    }
}

fn check_instance(reader: &BundleReader, instance: &str) -> Result<(), VerifyError> {
    let manifest = reader.manifest();
    if manifest.instance != instance {
        return Err(VerifyError::WrongInstance {
            expected: instance.to_owned(),
            found: manifest.instance.clone(),
        });
    }
    Ok(())
}

/// The instance, the key and the signature (steps 1–3).
fn check(
    reader: &BundleReader,
    instance: &str,
    pinned_key: &str,
) -> Result<SignedBundle, VerifyError> {
    check_instance(reader, instance)?;
    Ok(check_signature(reader, &policy(pinned_key))?)
}

fn verified(reader: BundleReader, signed: SignedBundle) -> (VerifiedBundle, BundleParts) {
    let (manifest, parts) = reader.into_manifest_and_parts();
    let bundle = VerifiedBundle {
        manifest,
        manifest_sha256: signed.manifest_sha256,
        rotated: matches!(signed.key_decision, KeyDecision::Rotated { .. }),
    };
    (bundle, parts)
}
