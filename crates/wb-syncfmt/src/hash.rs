//! SHA-256 digests and their lowercase hex form, as `sha256sum` prints them.

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`.
#[must_use]
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The SHA-256 of `bytes` as 64 lowercase hex digits, as `sha256sum` prints it.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&sha256(bytes))
}

/// 32 bytes as 64 lowercase hex digits.
pub(crate) fn to_hex(digest: &[u8; 32]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, digest);
    out
}

/// Appends `digest` to `out` as 64 lowercase hex digits.
pub(crate) fn push_hex(out: &mut String, digest: &[u8; 32]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 64];
    for (pair, &b) in hex.chunks_exact_mut(2).zip(digest) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
    // Hex digits are ASCII.
    out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
}

/// Parses exactly 64 lowercase hex digits.
pub(crate) fn from_hex(s: &str) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}
