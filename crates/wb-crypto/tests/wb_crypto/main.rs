//! Integration tests of wb-crypto, through its public API only.

#[cfg(unix)] // Checks Unix permission bits.
mod key_store;
mod known_bad;
mod minisign;
mod real_minisign;
mod rfc8032;
mod rotation;
mod wycheproof_vectors;

/// Result type of every test: any error fails the test with its message.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Decodes hex test data.
pub fn unhex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    hex::decode(text)
}

/// Decodes exactly `N` bytes of hex test data.
pub fn unhex_array<const N: usize>(text: &str) -> Result<[u8; N], Box<dyn std::error::Error>> {
    let bytes = hex::decode(text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| format!("{text} is not {N} bytes").into())
}
