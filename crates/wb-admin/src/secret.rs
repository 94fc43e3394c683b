//! Random secrets — the start-up token, session ids, CSRF tokens — and
//! their constant-time comparison. A secret never shows in `Debug` output.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::AdminError;

/// 256 random bits from the operating system, as 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// A fresh secret.
    pub(crate) fn generate() -> Result<Self, AdminError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|err| AdminError::Random {
            reason: err.to_string(),
        })?;
        Ok(Self(hex::encode(bytes)))
    }

    /// The secret's text, to hand to the browser.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time that does not depend on where the texts differ.
    pub(crate) fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The key a session is stored under: the SHA-256 of its cookie value, so
/// that looking a session up compares hashes, never the secret itself.
pub(crate) fn session_key(cookie_value: &str) -> [u8; 32] {
    Sha256::digest(cookie_value.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_hex_and_compare_exactly() {
        let a = Secret::generate().expect("randomness");
        let b = Secret::generate().expect("randomness");
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(a.matches(a.expose()));
        assert!(!a.matches(b.expose()));
        assert!(!a.matches(""));
        assert!(!a.matches(&a.expose()[..63]));
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
