//! The one error type of this crate.

use std::path::PathBuf;

use crate::KeyId;

/// Everything that can go wrong while parsing keys, signing, verifying or
/// handling key files.
///
/// Messages name the problem and, where there is one, the file; they never
/// contain secret key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Text that should be base64 is not valid (standard alphabet, padded)
    /// base64.
    #[error("{what} is not valid base64")]
    Base64 {
        /// What was being decoded, e.g. "public key".
        what: &'static str,
    },

    /// A decoded value has the wrong number of bytes.
    #[error("{what} has {found} bytes, expected {expected}")]
    Length {
        /// What was being decoded.
        what: &'static str,
        /// The length the format requires.
        expected: usize,
        /// The length that was found.
        found: usize,
    },

    /// The two-byte algorithm tag is not the one this format requires.
    #[error("{what} uses algorithm {found:?}, expected {expected:?}")]
    UnsupportedAlgorithm {
        /// What was being decoded.
        what: &'static str,
        /// The tag the format requires (`Ed` for keys, `ED` for signatures).
        expected: &'static str,
        /// The tag that was found, lossily decoded.
        found: String,
    },

    /// A legacy (non-prehashed, `Ed`) minisign signature: only prehashed
    /// `ED` signatures are accepted.
    #[error(
        "legacy (non-prehashed) minisign signature refused: only prehashed \"ED\" signatures are accepted"
    )]
    LegacySignature,

    /// The 32 bytes are not the encoding of a point on the Ed25519 curve.
    #[error("public key is not a valid Ed25519 point")]
    InvalidPublicKey,

    /// The public key is not in canonical encoding (its y coordinate is not
    /// reduced), so the same key would have two spellings.
    #[error("public key is not canonically encoded")]
    NonCanonicalPublicKey,

    /// The public key is a small-order point (for example the identity):
    /// such a key "verifies" forged signatures, so it is refused.
    #[error("weak public key refused: it is a small-order Ed25519 point")]
    WeakPublicKey,

    /// The signature was made by another key than the one expected.
    #[error("signature was made by key id {signed_by}, but the expected key id is {expected}")]
    KeyIdMismatch {
        /// The key id recorded in the signature.
        signed_by: KeyId,
        /// The key id of the public key we verify with.
        expected: KeyId,
    },

    /// The Ed25519 signature does not verify (strict verification): the
    /// message was changed, or the signature is forged or malformed.
    #[error("signature verification failed")]
    BadSignature,

    /// The global signature over the trusted comment does not verify: the
    /// trusted comment was changed.
    #[error("trusted comment signature verification failed (the trusted comment was altered)")]
    BadTrustedCommentSignature,

    /// A minisign signature file does not have the expected layout.
    #[error("malformed minisign signature, line {line}: {reason}")]
    MalformedSignature {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A minisign public key file does not have the expected layout.
    #[error("malformed minisign public key file, line {line}: {reason}")]
    MalformedPublicKeyFile {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A trusted comment cannot be signed or parsed.
    #[error("invalid trusted comment: {reason}")]
    InvalidTrustedComment {
        /// What is wrong with it.
        reason: String,
    },

    /// An instance name that cannot be used (in a key file name or a
    /// trusted comment).
    #[error("invalid instance name {name:?}: use {rule}")]
    InvalidInstanceName {
        /// The name that was refused.
        name: String,
        /// The rule it broke.
        rule: &'static str,
    },

    /// `generate` was asked to create a key that already exists.
    #[error("a secret key already exists at {path}; refusing to overwrite it")]
    KeyExists {
        /// The existing secret key file.
        path: PathBuf,
    },

    /// A secret key file is readable or writable by group or others.
    #[error(
        "secret key file {path} has permissions {mode:04o}, so group or others may access it; run: chmod 600 {path}",
        path = path.display()
    )]
    InsecurePermissions {
        /// The secret key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// A secret key file does not have the expected layout.
    #[error("malformed secret key file {path}: {reason}", path = path.display())]
    MalformedSecretKeyFile {
        /// The secret key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The public key file next to a secret key holds another key.
    #[error(
        "public key file {path} does not match the secret key (it holds key id {found}, the secret key has {expected})",
        path = path.display()
    )]
    PublicKeyFileMismatch {
        /// The public key file.
        path: PathBuf,
        /// The key id derived from the secret key file.
        expected: KeyId,
        /// The key id in the public key file.
        found: KeyId,
    },

    /// A public key file does not hold a valid minisign public key.
    #[error("in public key file {path}: {source}", path = path.display())]
    PublicKeyFile {
        /// The public key file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },

    /// The rotation chain file of an instance is invalid.
    #[error("in rotation chain {path}: {source}", path = path.display())]
    RotationFile {
        /// The chain file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Box<crate::RotationError>,
    },

    /// Reading or writing a key file failed.
    #[error("{action} {path}: {source}", path = path.display())]
    Io {
        /// What we were doing, e.g. "cannot read".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed: {0}")]
    Rng(getrandom::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
