//! Wycheproof Ed25519 vectors: every "valid" signature is accepted and
//! every "invalid" one refused, counting a key refused at parse as refused.

use wb_crypto::{KeyId, PublicKey};
use wycheproof::TestResult as Expected;
use wycheproof::eddsa::{TestName, TestSet};

use crate::TestResult;

fn verify(public: &[u8], message: &[u8], signature: &[u8]) -> Result<(), wb_crypto::Error> {
    let public: &[u8; 32] = public
        .try_into()
        .map_err(|_| wb_crypto::Error::InvalidPublicKey)?;
    PublicKey::from_parts(KeyId::from_bytes([0; 8]), public)?.verify_strict(message, signature)
}

#[test]
fn wycheproof_ed25519() -> TestResult {
    let set = TestSet::load(TestName::Ed25519)?;
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        for test in &group.tests {
            let outcome = verify(&group.key.pk, &test.msg, &test.sig);
            match test.result {
                Expected::Valid => {
                    valid += 1;
                    assert!(
                        outcome.is_ok(),
                        "tcId {} ({}) refused: {outcome:?}",
                        test.tc_id,
                        test.comment
                    );
                }
                Expected::Invalid => {
                    invalid += 1;
                    assert!(
                        outcome.is_err(),
                        "tcId {} ({}) accepted",
                        test.tc_id,
                        test.comment
                    );
                }
                Expected::Acceptable => {}
            }
        }
    }
    assert!(
        valid > 50 && invalid > 50,
        "too few vectors: {valid} valid, {invalid} invalid"
    );
    Ok(())
}
