//! Public keys: an Ed25519 verifying key with its minisign key id.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::VerifyingKey;

use crate::{Error, KeyId, Result};

/// The two-byte algorithm tag of minisign keys (Ed25519).
pub(crate) const KEY_ALGORITHM: &[u8; 2] = b"Ed";
/// Length of the decoded minisign one-line public key.
const MINISIGN_PUBLIC_KEY_LEN: usize = 2 + 8 + 32;
/// Prefix of the first line of a minisign public key file.
const UNTRUSTED_COMMENT_PREFIX: &str = "untrusted comment: ";

/// An instance's public key: an Ed25519 verifying key and its minisign key
/// id.
///
/// Only strong keys can be built: a value of this type is never a
/// small-order point (such as the identity) nor a non-canonical encoding.
/// Its text form ([`Display`](fmt::Display), [`FromStr`]) is minisign's
/// one-line base64 form, the form every `--key PUBKEY` takes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key_id: KeyId,
    key: VerifyingKey,
}

impl PublicKey {
    /// Builds a public key from its key id and the 32-byte Ed25519 public
    /// key.
    ///
    /// # Errors
    /// [`Error::InvalidPublicKey`] if the bytes are not a curve point,
    /// [`Error::NonCanonicalPublicKey`] if they are not its canonical
    /// encoding, [`Error::WeakPublicKey`] if the point has small order.
    pub fn from_parts(key_id: KeyId, ed25519_public_key: &[u8; 32]) -> Result<Self> {
        let key =
            VerifyingKey::from_bytes(ed25519_public_key).map_err(|_| Error::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(Error::WeakPublicKey);
        }
        if key.to_edwards().compress().to_bytes() != *ed25519_public_key {
            return Err(Error::NonCanonicalPublicKey);
        }
        Ok(Self { key_id, key })
    }

    /// Wraps a verifying key that came from a signing key (always strong).
    pub(crate) fn from_verifying_key(key_id: KeyId, key: VerifyingKey) -> Self {
        Self { key_id, key }
    }

    /// Parses minisign's one-line base64 form,
    /// `base64("Ed" ‖ key id (8 bytes) ‖ Ed25519 public key (32 bytes))`.
    /// Leading and trailing whitespace is ignored.
    ///
    /// # Errors
    /// Malformed base64, wrong length, an algorithm other than `Ed`, or a
    /// key refused by [`PublicKey::from_parts`].
    pub fn from_minisign_base64(text: &str) -> Result<Self> {
        const WHAT: &str = "minisign public key";
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| Error::Base64 { what: WHAT })?;
        let bytes: [u8; MINISIGN_PUBLIC_KEY_LEN] =
            bytes.as_slice().try_into().map_err(|_| Error::Length {
                what: WHAT,
                expected: MINISIGN_PUBLIC_KEY_LEN,
                found: bytes.len(),
            })?;
        let (algorithm, rest) = bytes.split_at(2);
        if algorithm != KEY_ALGORITHM {
            return Err(Error::UnsupportedAlgorithm {
                what: WHAT,
                expected: "Ed",
                found: String::from_utf8_lossy(algorithm).into_owned(),
            });
        }
        let (key_id, key) = rest.split_at(8);
        let mut key_id_bytes = [0u8; 8];
        key_id_bytes.copy_from_slice(key_id);
        let mut key_bytes = [0u8; 32];
        key_bytes.copy_from_slice(key);
        Self::from_parts(KeyId::from_bytes(key_id_bytes), &key_bytes)
    }

    /// Minisign's one-line base64 form (see
    /// [`PublicKey::from_minisign_base64`]).
    pub fn to_minisign_base64(&self) -> String {
        let mut bytes = Vec::with_capacity(MINISIGN_PUBLIC_KEY_LEN);
        bytes.extend_from_slice(KEY_ALGORITHM);
        bytes.extend_from_slice(&self.key_id.to_bytes());
        bytes.extend_from_slice(self.key.as_bytes());
        BASE64.encode(bytes)
    }

    /// Parses a minisign public key file:
    /// `untrusted comment: <any text>\n<one-line base64 form>\n`.
    ///
    /// The final newline may be missing and lines may end in `\r\n`, as
    /// minisign tolerates; any further non-empty line is refused.
    ///
    /// # Errors
    /// [`Error::MalformedPublicKeyFile`] for the layout, otherwise as
    /// [`PublicKey::from_minisign_base64`].
    pub fn from_minisign_file(text: &str) -> Result<Self> {
        let mut lines = text
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line));
        let malformed = |line, reason| Error::MalformedPublicKeyFile { line, reason };
        let comment = lines.next().unwrap_or_default();
        if !comment.starts_with(UNTRUSTED_COMMENT_PREFIX) {
            return Err(malformed(1, "expected \"untrusted comment: \""));
        }
        let Some(key) = lines.next().filter(|line| !line.is_empty()) else {
            return Err(malformed(2, "expected the base64 public key"));
        };
        if lines.any(|line| !line.is_empty()) {
            return Err(malformed(3, "unexpected text after the public key"));
        }
        Self::from_minisign_base64(key)
    }

    /// Renders the minisign public key file, as current `minisign -G`
    /// writes it: `untrusted comment: minisign public key <KEY ID>\n<base64>\n`
    /// with the 16-digit key id (minisign 0.11 dropped its leading zeros).
    pub fn to_minisign_file(&self) -> String {
        format!(
            "{UNTRUSTED_COMMENT_PREFIX}minisign public key {}\n{}\n",
            self.key_id,
            self.to_minisign_base64()
        )
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The key id as minisign prints it (16 upper-case hex digits).
    pub fn key_id_hex(&self) -> String {
        self.key_id.to_string()
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn to_ed25519_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks a raw 64-byte Ed25519 signature of `message` with strict
    /// verification (RFC 8032 with canonical `S`, no small-order `R` or
    /// key): the only verification this crate performs.
    ///
    /// # Errors
    /// [`Error::Length`] if `signature` is not 64 bytes,
    /// [`Error::BadSignature`] if it does not verify.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        let signature: &[u8; 64] = signature.try_into().map_err(|_| Error::Length {
            what: "Ed25519 signature",
            expected: 64,
            found: signature.len(),
        })?;
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.key
            .verify_strict(message, &signature)
            .map_err(|_| Error::BadSignature)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_minisign_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_id", &self.key_id)
            .field("minisign", &self.to_minisign_base64())
            .finish()
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::from_minisign_base64(text)
    }
}
