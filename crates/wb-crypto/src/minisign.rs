//! minisign signatures: the format of `bundle.sig`.
//!
//! A signature is four lines of text:
//!
//! ```text
//! untrusted comment: signature from wb sync instance key
//! base64("ED" ‖ key id (8 bytes) ‖ Ed25519(BLAKE2b-512(message)))
//! trusted comment: <trusted comment>
//! base64(Ed25519(signature (64 bytes) ‖ trusted comment bytes))
//! ```
//!
//! It is what `minisign -S` writes for a prehashed signature, so the stock
//! `minisign -V` checks it. Only prehashed `ED` signatures are written and
//! accepted; legacy `Ed` signatures (Ed25519 over the whole message) are
//! refused.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::instance::check_instance_name;
use crate::{Error, KeyId, PublicKey, Result, SigningKey};

/// The fixed untrusted comment of every signature we write. It is not
/// signed and readers ignore it.
pub const UNTRUSTED_COMMENT: &str = "signature from wb sync instance key";

/// The longest trusted comment, in bytes, that minisign 0.11 reads back.
pub const TRUSTED_COMMENT_MAX_BYTES: usize = 8173;

const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";
const PREHASHED: &[u8; 2] = b"ED";
const LEGACY: &[u8; 2] = b"Ed";
const SIGNATURE_LINE_LEN: usize = 2 + 8 + 64;

/// BLAKE2b-512 of `message`: what a prehashed (`ED`) signature signs.
/// `blake2b_simd` picks AVX2 where the CPU has it (an 8 MB manifest in
/// about half the time of a portable implementation).
fn prehash(message: &[u8]) -> blake2b_simd::Hash {
    blake2b_simd::blake2b(message)
}

/// The text of a minisign trusted comment: signed along with the message,
/// one line, at most [`TRUSTED_COMMENT_MAX_BYTES`] bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TrustedComment(String);

impl TrustedComment {
    /// Checks that `text` can be a trusted comment.
    ///
    /// # Errors
    /// [`Error::InvalidTrustedComment`] if it contains a line break
    /// (`\n` or `\r`) or a NUL byte, or is longer than
    /// [`TRUSTED_COMMENT_MAX_BYTES`].
    pub fn new(text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        if text.contains(['\n', '\r']) {
            return Err(invalid_comment(
                "it must not contain a line break".to_owned(),
            ));
        }
        if text.contains('\0') {
            return Err(invalid_comment("it must not contain a NUL byte".to_owned()));
        }
        if text.len() > TRUSTED_COMMENT_MAX_BYTES {
            return Err(invalid_comment(format!(
                "it has {} bytes, at most {TRUSTED_COMMENT_MAX_BYTES} are allowed",
                text.len()
            )));
        }
        Ok(Self(text))
    }

    /// The comment text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrustedComment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TrustedComment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedComment({:?})", self.0)
    }
}

fn invalid_comment(reason: String) -> Error {
    Error::InvalidTrustedComment { reason }
}

/// The trusted comment of a bundle signature:
/// `instance=<instance> sequence=<sequence>`.
///
/// # Errors
/// [`Error::InvalidInstanceName`] if `instance` is not a valid instance
/// name.
pub fn bundle_trusted_comment(instance: &str, sequence: u64) -> Result<TrustedComment> {
    check_instance_name(instance)?;
    TrustedComment::new(format!("instance={instance} sequence={sequence}"))
}

/// The largest bundle sequence, 2^63-1: sequences are 1 to this everywhere
/// (`docs/format.md` §4). The format owns the rule.
pub use wb_syncfmt::MAX_SEQUENCE;

/// Reads the instance name and sequence number back from a bundle's trusted
/// comment, exactly as [`bundle_trusted_comment`] writes it (no extra
/// spaces, no leading zeros, a sequence from 1 to [`MAX_SEQUENCE`]).
///
/// # Errors
/// [`Error::InvalidTrustedComment`] if the comment has another shape,
/// [`Error::InvalidInstanceName`] if the instance name is invalid.
pub fn parse_bundle_trusted_comment(comment: &TrustedComment) -> Result<(&str, u64)> {
    let text = comment.as_str();
    let shape = || {
        invalid_comment(format!(
            "expected \"instance=<name> sequence=<number>\" in a bundle signature, found {text:?}"
        ))
    };
    let rest = text.strip_prefix("instance=").ok_or_else(shape)?;
    let (instance, sequence) = rest.split_once(" sequence=").ok_or_else(shape)?;
    let number: u64 = sequence.parse().map_err(|_| shape())?;
    if number.to_string() != sequence {
        return Err(shape());
    }
    // The one range of sequences (docs/format.md §4): 1 to 2^63-1.
    if number == 0 || number > MAX_SEQUENCE {
        return Err(invalid_comment(format!(
            "sequence {number} is out of range (1 to {MAX_SEQUENCE}, 2^63-1)"
        )));
    }
    check_instance_name(instance)?;
    Ok((instance, number))
}

/// Signs `message` in minisign's prehashed format with `trusted_comment`.
///
/// Deterministic: the same key, message and comment always give the same
/// text (Ed25519 signatures are deterministic and the untrusted comment is
/// the fixed [`UNTRUSTED_COMMENT`]).
pub fn sign_minisign(key: &SigningKey, message: &[u8], trusted_comment: &TrustedComment) -> String {
    let signature = key.sign(prehash(message).as_bytes());
    let mut signature_line = Vec::with_capacity(SIGNATURE_LINE_LEN);
    signature_line.extend_from_slice(PREHASHED);
    signature_line.extend_from_slice(&key.key_id().to_bytes());
    signature_line.extend_from_slice(&signature);
    let global_signature = key.sign(&global_message(&signature, trusted_comment.as_str()));
    format!(
        "{UNTRUSTED_PREFIX}{UNTRUSTED_COMMENT}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
        BASE64.encode(signature_line),
        trusted_comment.as_str(),
        BASE64.encode(global_signature),
    )
}

/// Verifies a minisign signature of `message` made by `key` and returns its
/// (now authenticated) trusted comment.
///
/// Checks, in order: the layout, the algorithm (`ED` only), the key id, the
/// signature of the BLAKE2b-512 hash of `message`, and the global signature
/// of the trusted comment. Both signatures use strict Ed25519
/// verification. Lines may end in `\r\n` and the final newline may be
/// missing, as minisign tolerates; the untrusted comment is ignored.
///
/// # Errors
/// [`Error::MalformedSignature`] for the layout, [`Error::LegacySignature`]
/// or [`Error::UnsupportedAlgorithm`] for the algorithm,
/// [`Error::KeyIdMismatch`] if another key signed, [`Error::BadSignature`]
/// if the message does not match, [`Error::BadTrustedCommentSignature`] if
/// the trusted comment was altered.
pub fn verify_minisign(key: &PublicKey, message: &[u8], signature: &str) -> Result<TrustedComment> {
    let malformed = |line, reason| Error::MalformedSignature { line, reason };
    let mut lines = signature
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let mut next_line = || lines.next().unwrap_or_default();

    if !next_line().starts_with(UNTRUSTED_PREFIX) {
        return Err(malformed(1, "expected \"untrusted comment: \""));
    }
    let signature_line = decode_base64(next_line(), "signature", 2)?;
    let Some((algorithm, rest)) = signature_line.split_first_chunk::<2>() else {
        return Err(malformed(2, "the signature is too short"));
    };
    if algorithm == LEGACY {
        return Err(Error::LegacySignature);
    }
    if algorithm != PREHASHED {
        return Err(Error::UnsupportedAlgorithm {
            what: "minisign signature",
            expected: "ED",
            found: String::from_utf8_lossy(algorithm).into_owned(),
        });
    }
    let Some((key_id, ed25519_signature)) = rest.split_first_chunk::<8>() else {
        return Err(malformed(2, "the signature is too short"));
    };
    let Ok(ed25519_signature) = <&[u8; 64]>::try_from(ed25519_signature) else {
        return Err(Error::Length {
            what: "minisign signature line",
            expected: SIGNATURE_LINE_LEN,
            found: signature_line.len(),
        });
    };
    let Some(comment) = next_line().strip_prefix(TRUSTED_PREFIX) else {
        return Err(malformed(3, "expected \"trusted comment: \""));
    };
    let comment = TrustedComment::new(comment)?;
    let global_signature = decode_base64(next_line(), "global signature", 4)?;
    if global_signature.len() != 64 {
        return Err(Error::Length {
            what: "global signature",
            expected: 64,
            found: global_signature.len(),
        });
    }
    if lines.any(|line| !line.is_empty()) {
        return Err(malformed(5, "unexpected text after the global signature"));
    }

    let signed_by = KeyId::from_bytes(*key_id);
    if signed_by != key.key_id() {
        return Err(Error::KeyIdMismatch {
            signed_by,
            expected: key.key_id(),
        });
    }
    key.verify_strict(prehash(message).as_bytes(), ed25519_signature)?;
    key.verify_strict(
        &global_message(ed25519_signature, comment.as_str()),
        &global_signature,
    )
    .map_err(|_| Error::BadTrustedCommentSignature)?;
    Ok(comment)
}

/// What the global signature signs: the message signature, then the
/// trusted comment's bytes.
fn global_message(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    let mut signed = Vec::with_capacity(64 + trusted_comment.len());
    signed.extend_from_slice(signature);
    signed.extend_from_slice(trusted_comment.as_bytes());
    signed
}

fn decode_base64(line: &str, what: &'static str, line_number: usize) -> Result<Vec<u8>> {
    if line.is_empty() {
        return Err(Error::MalformedSignature {
            line: line_number,
            reason: "expected base64",
        });
    }
    BASE64.decode(line).map_err(|_| Error::Base64 { what })
}
