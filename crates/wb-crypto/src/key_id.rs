//! The 8-byte minisign key id that names a key pair.

use std::fmt;

/// A minisign key id: 8 random bytes stored next to the key and in every
/// signature, so a verifier can tell at once which key signed.
///
/// It is shown the way minisign shows it: the 8 bytes read as a
/// little-endian 64-bit number, printed as 16 upper-case hex digits
/// (so the byte order of the text is the reverse of the stored order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// Wraps the 8 key id bytes in stored (wire) order.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The 8 key id bytes in stored (wire) order.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}
