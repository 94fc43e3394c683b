//! The byte string an instance signs to vouch (SPEC §4).

/// What an instance's Ed25519 key signs for a vouch: five LF-terminated
/// lines, UTF-8, no trailing spaces —
///
/// ```text
/// wb-vouch-v1
/// instance=<origin instance name>
/// voucher=<voucher user id, lowercase hyphenated UUID>
/// subject=<subject user id>
/// created_at=<YYYY-MM-DDTHH:MM:SS.ffffffZ>
/// ```
///
/// The values are the ones in the vouch's file: its `Instance` header and
/// its body's `voucher_id`, `subject_id` and `created_at`. The signature is
/// stored base64-encoded (standard alphabet, padded) in the body's
/// `signature` field.
///
/// ```
/// let bytes = wb_syncfmt::vouch_signing_bytes(
///     "alpha.example",
///     "01936f3e-0000-7000-8000-000000000001",
///     "01936f3e-0000-7000-8000-000000000002",
///     "2026-11-24T10:00:00.000000Z",
/// );
/// assert!(bytes.starts_with(b"wb-vouch-v1\ninstance=alpha.example\n"));
/// ```
pub fn vouch_signing_bytes(
    instance: &str,
    voucher: &str,
    subject: &str,
    created_at: &str,
) -> Vec<u8> {
    format!(
        "wb-vouch-v1\ninstance={instance}\nvoucher={voucher}\nsubject={subject}\ncreated_at={created_at}\n"
    )
    .into_bytes()
}
