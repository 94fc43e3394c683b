//! Secret signing keys: an Ed25519 key pair with its minisign key id.

use std::fmt;

use ed25519_dalek::Signer as _;
use getrandom::SysRng;
use rand_core::TryRng as _;
use zeroize::Zeroizing;

use crate::{Error, KeyId, PublicKey, Result};

/// An instance's secret signing key and its minisign key id.
///
/// The secret is zeroized when the value is dropped, and [`fmt::Debug`]
/// prints only the key id. There is deliberately no `Clone`.
pub struct SigningKey {
    key_id: KeyId,
    // ed25519-dalek zeroizes its secret on drop (feature "zeroize").
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// Makes a new key pair and a random key id from the operating
    /// system's random number generator.
    ///
    /// # Errors
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        let mut key_id = [0u8; 8];
        SysRng.try_fill_bytes(seed.as_mut()).map_err(Error::Rng)?;
        SysRng.try_fill_bytes(&mut key_id).map_err(Error::Rng)?;
        Ok(Self::from_seed(KeyId::from_bytes(key_id), &seed))
    }

    /// Rebuilds a key from its key id and its 32-byte Ed25519 seed (the
    /// RFC 8032 secret key).
    pub fn from_seed(key_id: KeyId, seed: &[u8; 32]) -> Self {
        Self {
            key_id,
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte seed, for writing the key file.
    pub(crate) fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching public key (same key id).
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying_key(self.key_id, self.key.verifying_key())
    }

    /// Signs `message` with plain Ed25519 (RFC 8032, deterministic: the same
    /// key and message always give the same 64 bytes). Check it with
    /// [`PublicKey::verify_strict`].
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}
