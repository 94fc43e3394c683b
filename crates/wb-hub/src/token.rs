//! Upload tokens: `wbt_<id>_<secret>`, where `<id>` is 12 hex digits that
//! name the token (shown in lists, used to revoke it) and `<secret>` is 32
//! OS-random bytes in 64 hex digits. The hub stores only SHA-256 of the
//! secret and compares hashes in constant time.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The prefix of every token.
pub const TOKEN_PREFIX: &str = "wbt_";

/// A token as issued: its id and secret. The secret is shown once, to the
/// operator who issues it; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    id: String,
    secret: [u8; 32],
}

/// A token text that is not of the form `wbt_<id>_<secret>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a wb-hub token (expected wbt_<12 hex digits>_<64 hex digits>)")]
pub struct MalformedToken;

/// Generating a token failed: the OS random source is unavailable.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the operating system's random source: {0}")]
pub struct RandomError(String);

impl IssuedToken {
    /// A new token from the OS random source.
    ///
    /// # Errors
    ///
    /// The random source is unavailable.
    pub fn generate() -> Result<Self, RandomError> {
        let mut id = [0_u8; 6];
        let mut secret = [0_u8; 32];
        getrandom::fill(&mut id).map_err(|e| RandomError(e.to_string()))?;
        getrandom::fill(&mut secret).map_err(|e| RandomError(e.to_string()))?;
        Ok(Self {
            id: hex::encode(id),
            secret,
        })
    }

    /// Parses a token's text (surrounding whitespace ignored).
    ///
    /// # Errors
    ///
    /// [`MalformedToken`] for anything else.
    pub fn parse(text: &str) -> Result<Self, MalformedToken> {
        let rest = text
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(MalformedToken)?;
        let (id, secret) = rest.split_once('_').ok_or(MalformedToken)?;
        let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if id.len() != 12 || !lower_hex(id) || secret.len() != 64 || !lower_hex(secret) {
            return Err(MalformedToken);
        }
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(secret, &mut bytes).map_err(|_| MalformedToken)?;
        Ok(Self {
            id: id.to_owned(),
            secret: bytes,
        })
    }

    /// The token's id (not secret).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// SHA-256 of the secret, as the hub stores it.
    #[must_use]
    pub fn secret_sha256(&self) -> [u8; 32] {
        Sha256::digest(self.secret).into()
    }

    /// Whether this token's secret hashes to `stored` (constant time).
    #[must_use]
    pub fn matches(&self, stored: &[u8; 32]) -> bool {
        self.secret_sha256().ct_eq(stored).into()
    }

    /// The full token text, `wbt_<id>_<secret>`: show it once, never log it.
    #[must_use]
    pub fn reveal(&self) -> String {
        format!("{TOKEN_PREFIX}{}_{}", self.id, hex::encode(self.secret))
    }
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
