//! Validation of the identifiers the format carries: row ids (lowercase
//! hyphenated UUIDs), instance names, usernames and public-key strings.
//!
//! This module owns the rules of instance names and usernames for the whole
//! workspace: `wb_model::{InstanceName, Username}` and `wb-crypto`'s key
//! files call these functions and quote these texts, and `docs/format.md`
//! quotes them too.

/// Maximum length of an instance name, in bytes (as for a DNS name).
pub const MAX_INSTANCE_NAME_LEN: usize = 253;

/// Maximum length of the `Public-Key:` value, in bytes.
pub const MAX_PUBLIC_KEY_LEN: usize = 1024;

/// True if `s` is a UUID in its canonical text form: 36 characters,
/// lowercase hex digits with hyphens after the 8th, 12th, 16th and 20th
/// digit (`01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65`). The version and variant
/// bits are not checked.
#[must_use]
pub fn is_canonical_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// The rule of instance names, in the words every refusal quotes.
pub const INSTANCE_NAME_RULE: &str = "1-253 characters of a-z, 0-9, '.' and '-', \
     starting and ending with a letter or digit, without '..'";

/// Maximum length of a username, in bytes.
pub const MAX_USERNAME_LEN: usize = 32;

/// The rule of usernames, in the words every refusal quotes.
pub const USERNAME_RULE: &str =
    "1-32 characters of a-z, 0-9, '_' and '-', starting with a letter or digit";

/// True if `s` is a valid instance name: 1 to 253 characters of
/// `[a-z0-9.-]`, starting and ending with a letter or digit, without `..`
/// ([`INSTANCE_NAME_RULE`]). So it never holds `/`, `\`, spaces or `=`, and
/// is never `.` or `..`: it is safe in a file name and a trusted comment.
///
/// This is the one rule of instance names: `wb_model::InstanceName` and
/// `wb-crypto`'s key file names call this function.
#[must_use]
pub fn is_valid_instance_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= MAX_INSTANCE_NAME_LEN
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && !s.contains("..")
        && bytes.iter().all(|b| alnum(b) || *b == b'.' || *b == b'-')
}

/// True if `s` is a valid username: 1 to 32 characters of `[a-z0-9_-]`,
/// starting with a letter or digit ([`USERNAME_RULE`]). `wb_model::Username`
/// calls this function.
#[must_use]
pub fn is_valid_username(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= MAX_USERNAME_LEN
        && bytes.first().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'_' || *b == b'-')
}

/// True if `s` is acceptable as a `Public-Key:` value: 1 to 1024
/// characters of the base64 alphabet `[A-Za-z0-9+/=]`. This crate treats
/// the key as opaque; `wb-crypto` interprets it.
#[must_use]
pub fn is_valid_public_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_PUBLIC_KEY_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// Parses a non-negative decimal integer in canonical form: ASCII digits
/// only, no sign, no leading zeros (except `0` itself), no overflow.
pub(crate) fn parse_canonical_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Shortens `s` for inclusion in an error message.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}
