//! The checks a bundle passes before the hub stores it or an instance
//! imports it (`docs/format.md` §7), against a key pinned out of band: the
//! key registered on the hub, or the key in the instance's peer registry.
//!
//! In order: the directory's layout and manifest; the manifest names the
//! expected instance and carries the expected key; `bundle.sig` verifies
//! strictly over the manifest's bytes; its trusted comment names the same
//! instance and sequence; every listed file has its length and SHA-256,
//! parses, is public, and matches its path and instance.

use std::path::Path;

use wb_crypto::{PublicKey, parse_bundle_trusted_comment, verify_minisign};
use wb_syncfmt::bundle::{BundleError, BundleReader, Limits};
use wb_syncfmt::{Manifest, ParseErrorKind, sha256_hex};

use crate::ErrorCode;

/// A bundle that passed every check.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    /// Its manifest.
    pub manifest: Manifest,
    /// SHA-256 (hex) of `manifest.sync.txt`.
    pub manifest_sha256: String,
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The layout, the manifest or a file broke a format rule.
    #[error("{0}")]
    Bundle(#[from] BundleError),
    /// The manifest names another instance than expected.
    #[error("the bundle is of instance {found}, expected {expected}")]
    WrongInstance {
        /// The instance expected.
        expected: String,
        /// The manifest's instance.
        found: String,
    },
    /// The manifest carries another key than the pinned one.
    #[error(
        "the bundle of {instance} carries key {offered}, but the key pinned for {instance} is {pinned}"
    )]
    KeyMismatch {
        /// The instance.
        instance: String,
        /// The manifest's key.
        offered: String,
        /// The pinned key.
        pinned: String,
    },
    /// The pinned key itself is unusable.
    #[error("the key pinned for {instance} is invalid: {source}")]
    BadPinnedKey {
        /// The instance.
        instance: String,
        /// Why.
        source: wb_crypto::Error,
    },
    /// `bundle.sig` does not verify.
    #[error("bundle.sig: signature rejected: {0}")]
    Signature(wb_crypto::Error),
    /// The signed trusted comment disagrees with the manifest.
    #[error(
        "bundle.sig: the signature is for {signed}, but the manifest says instance={instance} sequence={sequence}"
    )]
    CommentMismatch {
        /// The trusted comment.
        signed: String,
        /// The manifest's instance.
        instance: String,
        /// The manifest's sequence.
        sequence: u64,
    },
}

impl VerifyError {
    /// The hub API code for this refusal.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            VerifyError::Bundle(err) => bundle_error_code(err),
            VerifyError::WrongInstance { .. } => ErrorCode::WrongInstance,
            VerifyError::KeyMismatch { .. }
            | VerifyError::Signature(_)
            | VerifyError::CommentMismatch { .. } => ErrorCode::BadSignature,
            VerifyError::BadPinnedKey { .. } => ErrorCode::Internal,
        }
    }
}

/// The hub API code for a format error.
#[must_use]
pub fn bundle_error_code(err: &BundleError) -> ErrorCode {
    match err {
        BundleError::PrivateFile { .. } => ErrorCode::PrivateFile,
        BundleError::Symlink { .. } | BundleError::UnexpectedPath { .. } => ErrorCode::UnsafePath,
        BundleError::Parse(parse) => match parse.kind() {
            ParseErrorKind::SchemaVersionTooNew { .. } | ParseErrorKind::SchemaVersionZero => {
                ErrorCode::UnknownSchema
            }
            ParseErrorKind::InvalidPath { .. } => ErrorCode::UnsafePath,
            _ => ErrorCode::BadBundle,
        },
        BundleError::Io { .. } => ErrorCode::Internal,
        _ => ErrorCode::BadBundle,
    }
}

/// Verifies the bundle in `dir` as the bundle of `instance`, signed with
/// `pinned_key` (minisign one-line form). See the module documentation for
/// the checks.
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
    let reader = BundleReader::open(dir, limits)?;
    let manifest = reader.manifest();
    if manifest.instance != instance {
        return Err(VerifyError::WrongInstance {
            expected: instance.to_owned(),
            found: manifest.instance.clone(),
        });
    }
    if manifest.public_key != pinned_key {
        return Err(VerifyError::KeyMismatch {
            instance: instance.to_owned(),
            offered: manifest.public_key.clone(),
            pinned: pinned_key.to_owned(),
        });
    }
    let key = PublicKey::from_minisign_base64(pinned_key).map_err(|source| {
        VerifyError::BadPinnedKey {
            instance: instance.to_owned(),
            source,
        }
    })?;
    let signature = std::str::from_utf8(reader.signature_bytes()).map_err(|_| {
        VerifyError::Signature(wb_crypto::Error::InvalidTrustedComment {
            reason: "bundle.sig is not UTF-8 text".to_owned(),
        })
    })?;
    let comment = verify_minisign(&key, reader.manifest_bytes(), signature)
        .map_err(VerifyError::Signature)?;
    let mismatch = || VerifyError::CommentMismatch {
        signed: comment.as_str().to_owned(),
        instance: manifest.instance.clone(),
        sequence: manifest.sequence,
    };
    let (signed_instance, signed_sequence) =
        parse_bundle_trusted_comment(&comment).map_err(|_| mismatch())?;
    if signed_instance != manifest.instance || signed_sequence != manifest.sequence {
        return Err(mismatch());
    }
    for entry in reader.entries() {
        entry?;
    }
    Ok(VerifiedBundle {
        manifest: manifest.clone(),
        manifest_sha256: sha256_hex(reader.manifest_bytes()),
    })
}
