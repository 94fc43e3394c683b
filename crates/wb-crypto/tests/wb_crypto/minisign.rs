//! minisign signatures: round trip, determinism, and every tampering
//! refused.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use wb_crypto::{
    Error, KeyId, PublicKey, SigningKey, TrustedComment, bundle_trusted_comment,
    parse_bundle_trusted_comment, sign_minisign, verify_minisign,
};

use crate::TestResult;

const MANIFEST: &[u8] = b"Instance: alpha.example\nSequence: 3\n";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(KeyId::from_bytes([seed, 1, 2, 3, 4, 5, 6, 7]), &[seed; 32])
}

fn signed() -> Result<(SigningKey, String), Error> {
    let signer = key(1);
    let comment = bundle_trusted_comment("alpha.example", 3)?;
    let signature = sign_minisign(&signer, MANIFEST, &comment);
    Ok((signer, signature))
}

/// Replaces line `index` (0-based) of a signature file.
fn replace_line(signature: &str, index: usize, line: &str) -> String {
    let mut lines: Vec<&str> = signature.lines().collect();
    lines[index] = line;
    lines.join("\n") + "\n"
}

#[test]
fn round_trip_returns_the_trusted_comment() -> TestResult {
    let (signer, signature) = signed()?;
    let comment = verify_minisign(&signer.public_key(), MANIFEST, &signature)?;
    assert_eq!(comment.as_str(), "instance=alpha.example sequence=3");
    assert_eq!(
        parse_bundle_trusted_comment(&comment)?,
        ("alpha.example", 3)
    );
    Ok(())
}

#[test]
fn signature_layout_is_minisign_prehashed_and_deterministic() -> TestResult {
    let (signer, signature) = signed()?;
    let (_, again) = signed()?;
    assert_eq!(signature, again, "same input, same bytes");
    let lines: Vec<&str> = signature.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        "untrusted comment: signature from wb sync instance key\n"
    );
    assert_eq!(
        lines[2],
        "trusted comment: instance=alpha.example sequence=3\n"
    );
    let line2 = BASE64.decode(lines[1].trim_end())?;
    assert_eq!(line2.len(), 74);
    assert_eq!(&line2[..2], b"ED");
    assert_eq!(line2[2..10], signer.key_id().to_bytes());
    assert_eq!(BASE64.decode(lines[3].trim_end())?.len(), 64);
    Ok(())
}

#[test]
fn tampered_message_is_refused() -> TestResult {
    let (signer, signature) = signed()?;
    let mut tampered = MANIFEST.to_vec();
    tampered[0] ^= 0x20;
    let outcome = verify_minisign(&signer.public_key(), &tampered, &signature);
    assert!(matches!(outcome, Err(Error::BadSignature)), "{outcome:?}");
    Ok(())
}

#[test]
fn tampered_trusted_comment_is_refused() -> TestResult {
    let (signer, signature) = signed()?;
    let tampered = replace_line(
        &signature,
        2,
        "trusted comment: instance=alpha.example sequence=4",
    );
    let outcome = verify_minisign(&signer.public_key(), MANIFEST, &tampered);
    assert!(
        matches!(outcome, Err(Error::BadTrustedCommentSignature)),
        "{outcome:?}"
    );
    Ok(())
}

#[test]
fn untrusted_comment_is_not_signed() -> TestResult {
    let (signer, signature) = signed()?;
    let changed = replace_line(&signature, 0, "untrusted comment: anything at all");
    verify_minisign(&signer.public_key(), MANIFEST, &changed)?;
    Ok(())
}

#[test]
fn wrong_key_id_names_both_ids() -> TestResult {
    let (signer, signature) = signed()?;
    let other = key(2).public_key();
    let outcome = verify_minisign(&other, MANIFEST, &signature);
    let Err(error @ Error::KeyIdMismatch { .. }) = outcome else {
        return Err(format!("expected a key id mismatch, got {outcome:?}").into());
    };
    let text = error.to_string();
    assert!(text.contains(&signer.public_key().key_id_hex()), "{text}");
    assert!(text.contains(&other.key_id_hex()), "{text}");
    Ok(())
}

#[test]
fn same_key_id_but_other_key_is_refused() -> TestResult {
    let (signer, signature) = signed()?;
    let impostor = SigningKey::from_seed(signer.key_id(), &[9; 32]).public_key();
    let outcome = verify_minisign(&impostor, MANIFEST, &signature);
    assert!(matches!(outcome, Err(Error::BadSignature)), "{outcome:?}");
    Ok(())
}

#[test]
fn legacy_non_prehashed_signature_is_refused() -> TestResult {
    let signer = key(1);
    let comment = "instance=alpha.example sequence=3";
    let signature = signer.sign(MANIFEST);
    let mut line = b"Ed".to_vec();
    line.extend_from_slice(&signer.key_id().to_bytes());
    line.extend_from_slice(&signature);
    let mut global = signature.to_vec();
    global.extend_from_slice(comment.as_bytes());
    let text = format!(
        "untrusted comment: legacy\n{}\ntrusted comment: {comment}\n{}\n",
        BASE64.encode(&line),
        BASE64.encode(signer.sign(&global))
    );
    let outcome = verify_minisign(&signer.public_key(), MANIFEST, &text);
    assert!(
        matches!(outcome, Err(Error::LegacySignature)),
        "{outcome:?}"
    );
    Ok(())
}

#[test]
fn malformed_signature_files_are_refused() -> TestResult {
    let (signer, signature) = signed()?;
    let public = signer.public_key();
    let cases = [
        ("empty", String::new()),
        (
            "no untrusted comment",
            replace_line(&signature, 0, "comment: x"),
        ),
        ("bad base64", replace_line(&signature, 1, "!!!")),
        ("short signature line", replace_line(&signature, 1, "RUQ=")),
        (
            "no trusted comment prefix",
            replace_line(&signature, 2, "instance=alpha.example"),
        ),
        ("bad global signature", replace_line(&signature, 3, "AAAA")),
        (
            "missing lines",
            signature.lines().take(2).collect::<Vec<_>>().join("\n"),
        ),
        ("trailing garbage", format!("{signature}more\n")),
        ("other algorithm", {
            let line = signature.lines().nth(1).unwrap_or_default();
            let mut bytes = BASE64.decode(line)?;
            bytes[..2].copy_from_slice(b"XX");
            replace_line(&signature, 1, &BASE64.encode(bytes))
        }),
    ];
    for (name, text) in cases {
        let outcome = verify_minisign(&public, MANIFEST, &text);
        assert!(outcome.is_err(), "{name}: accepted");
    }
    Ok(())
}

#[test]
fn crlf_line_endings_are_tolerated_like_minisign() -> TestResult {
    let (signer, signature) = signed()?;
    let crlf = signature.replace('\n', "\r\n");
    verify_minisign(&signer.public_key(), MANIFEST, &crlf)?;
    let no_final_newline = signature.trim_end();
    verify_minisign(&signer.public_key(), MANIFEST, no_final_newline)?;
    Ok(())
}

#[test]
fn trusted_comments_are_one_bounded_line() {
    for text in ["a\nb", "a\rb", "a\0b", &"x".repeat(8174)] {
        assert!(TrustedComment::new(text).is_err(), "{text:?} accepted");
    }
    assert!(TrustedComment::new("x".repeat(8173)).is_ok());
}

#[test]
fn bundle_trusted_comment_round_trips_and_rejects_other_shapes() -> TestResult {
    assert_eq!(
        bundle_trusted_comment("alpha.example", u64::MAX)?.as_str(),
        "instance=alpha.example sequence=18446744073709551615"
    );
    for name in ["", "../x", "a/b", "a b", "Alpha", "a=b", ".hidden", "a..b"] {
        assert!(
            bundle_trusted_comment(name, 1).is_err(),
            "{name:?} accepted"
        );
    }
    for text in [
        "instance=a sequence=01",
        "instance=a sequence=-1",
        "instance=a sequence=",
        "instance=a  sequence=1",
        "instance=a sequence=1 ",
        "sequence=1 instance=a",
        "instance=../x sequence=1",
        "instance= sequence=1",
        "instance=a sequence=18446744073709551616",
        // Out of the one range of sequences, 1 to 2^63-1.
        "instance=a sequence=0",
        "instance=a sequence=9223372036854775808",
        "instance=a sequence=18446744073709551615",
        "timestamp:1\tfile:manifest.sync.txt\thashed",
    ] {
        let comment = TrustedComment::new(text)?;
        assert!(
            parse_bundle_trusted_comment(&comment).is_err(),
            "{text:?} accepted"
        );
    }
    Ok(())
}

#[test]
fn public_key_text_forms_round_trip() -> TestResult {
    let public = key(3).public_key();
    let base64 = public.to_minisign_base64();
    assert_eq!(public.to_string(), base64);
    assert!(base64.starts_with("RWQ"), "{base64}");
    assert_eq!(PublicKey::from_minisign_base64(&base64)?, public);
    assert_eq!(base64.parse::<PublicKey>()?, public);
    let file = public.to_minisign_file();
    assert_eq!(
        file,
        format!(
            "untrusted comment: minisign public key {}\n{base64}\n",
            public.key_id_hex()
        )
    );
    assert_eq!(PublicKey::from_minisign_file(&file)?, public);
    assert_ne!(key(4).public_key(), public);
    // minisign prints the key id as a little-endian number.
    assert_eq!(public.key_id_hex(), "0706050403020103");
    Ok(())
}

fn fixture(name: &str) -> Result<Vec<u8>, std::io::Error> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

/// A key, file and signature made by minisign 0.11 itself
/// (`minisign -G -W`, `minisign -S -t "instance=a sequence=1"`).
#[test]
fn signature_made_by_minisign_0_11_verifies() -> TestResult {
    let public_file = String::from_utf8(fixture("minisign-0.11.pub")?)?;
    let public = PublicKey::from_minisign_file(&public_file)?;
    assert_eq!(public.key_id_hex(), "C295D177ADF5BD22");
    assert_eq!(
        public.to_minisign_file(),
        public_file,
        "we render what minisign writes"
    );
    let message = fixture("minisign-0.11.txt")?;
    let signature = String::from_utf8(fixture("minisign-0.11.txt.minisig")?)?;
    let comment = verify_minisign(&public, &message, &signature)?;
    assert_eq!(parse_bundle_trusted_comment(&comment)?, ("a", 1));
    let outcome = verify_minisign(&public, b"hello!\n", &signature);
    assert!(matches!(outcome, Err(Error::BadSignature)), "{outcome:?}");
    Ok(())
}
