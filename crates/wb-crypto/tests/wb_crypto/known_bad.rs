//! Known-bad signatures and keys: each is refused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use wb_crypto::{Error, KeyId, PublicKey, SigningKey};

use crate::{TestResult, unhex_array};

const MESSAGE: &[u8] = b"manifest bytes";

/// The group order L, little-endian.
const ORDER_L: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(KeyId::from_bytes([seed; 8]), &[seed; 32])
}

/// Checks that `signature` of MESSAGE is refused by `key`'s public key.
fn check_refused(name: &str, public: &PublicKey, signature: &[u8]) {
    let outcome = public.verify_strict(MESSAGE, signature);
    assert!(
        matches!(outcome, Err(Error::BadSignature | Error::Length { .. })),
        "{name}: expected a refusal, got {outcome:?}"
    );
}

#[test]
fn tampered_signatures_are_refused() -> TestResult {
    let signer = key(1);
    let public = signer.public_key();
    let good = signer.sign(MESSAGE);
    public.verify_strict(MESSAGE, &good)?;

    let mut flipped_r = good;
    flipped_r[0] ^= 0x01;
    check_refused("bit flipped in R", &public, &flipped_r);

    let mut flipped_s = good;
    flipped_s[40] ^= 0x10;
    check_refused("bit flipped in S", &public, &flipped_s);

    // S + L is the same scalar mod L, but non-canonical: malleability.
    let order: [u8; 32] = unhex_array(ORDER_L)?;
    let mut malleated = good;
    let mut carry = 0u16;
    for (byte, order_byte) in malleated[32..].iter_mut().zip(order) {
        let sum = u16::from(*byte) + u16::from(order_byte) + carry;
        *byte = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 256 bits since S < L < 2^253");
    check_refused("S >= L (S + L)", &public, &malleated);

    let mut s_is_l = good;
    s_is_l[32..].copy_from_slice(&order);
    check_refused("S = L", &public, &s_is_l);

    check_refused("signed by another key", &public, &key(2).sign(MESSAGE));
    check_refused(
        "signature of another message",
        &public,
        &signer.sign(b"other"),
    );
    check_refused("truncated signature", &public, &good[..63]);
    check_refused("all zeros", &public, &[0; 64]);
    Ok(())
}

#[test]
fn weak_public_keys_are_refused_at_parse() -> TestResult {
    let cases: &[(&str, &str)] = &[
        (
            "identity",
            "0100000000000000000000000000000000000000000000000000000000000000",
        ),
        (
            "order 2 (y = -1)",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        ),
        (
            "order 4 (y = 0)",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ),
        (
            "order 4 (y = 0, x negative)",
            "0000000000000000000000000000000000000000000000000000000000000080",
        ),
        (
            "order 8",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        ),
        (
            "order 8",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        ),
        (
            "identity, non-canonical (y = p + 1)",
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        ),
    ];
    for (name, hex_key) in cases {
        let bytes: [u8; 32] = unhex_array(hex_key)?;
        let outcome = PublicKey::from_parts(KeyId::from_bytes([0; 8]), &bytes);
        assert!(
            matches!(
                outcome,
                Err(Error::WeakPublicKey | Error::NonCanonicalPublicKey)
            ),
            "{name}: expected a refusal, got {outcome:?}"
        );

        // The same through minisign's one-line form, as `--key` takes it.
        let mut minisign = b"Ed\0\0\0\0\0\0\0\0".to_vec();
        minisign.extend_from_slice(&bytes);
        let outcome = PublicKey::from_minisign_base64(&BASE64.encode(&minisign));
        assert!(outcome.is_err(), "{name}: minisign form accepted");
    }
    match PublicKey::from_parts(KeyId::from_bytes([0; 8]), &unhex_array(cases[0].1)?) {
        Err(error) => assert!(
            error.to_string().contains("weak public key"),
            "message: {error}"
        ),
        Ok(key) => return Err(format!("identity key accepted: {key:?}").into()),
    }
    Ok(())
}

#[test]
fn non_canonical_public_key_encodings_are_refused() {
    // y = p + k for small k: the same points as y = k, spelled differently.
    // Either they are not on the curve or they must be refused.
    for k in 0u8..19 {
        let mut bytes = [0xff; 32];
        bytes[0] = 0xed + k;
        bytes[31] = 0x7f;
        let outcome = PublicKey::from_parts(KeyId::from_bytes([0; 8]), &bytes);
        assert!(outcome.is_err(), "y = p + {k} accepted");
        if k == 3 {
            // y = 3 decodes to a point that is not of small order: only the
            // encoding is wrong.
            assert!(
                matches!(outcome, Err(Error::NonCanonicalPublicKey)),
                "{outcome:?}"
            );
        }
    }
}
