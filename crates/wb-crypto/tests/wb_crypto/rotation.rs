//! Key rotation: statements, chains, the path from a pin to a bundle's key,
//! and the known-bad cases each refused with the rule it breaks.

use base64::Engine as _;
use wb_crypto::{
    KeyId, RotationChain, RotationError, RotationStatement, SigningKey, verify_minisign,
};

use crate::TestResult;

const INSTANCE: &str = "alpha.example";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(KeyId::from_bytes([seed; 8]), &[seed; 32])
}

/// A chain k1 → k2 → k3 → k4 of `INSTANCE`, and its keys.
fn chain_of_three() -> Result<(RotationChain, Vec<SigningKey>), Box<dyn std::error::Error>> {
    let keys: Vec<SigningKey> = (1..=4).map(key).collect();
    let mut chain = RotationChain::new();
    for pair in keys.windows(2) {
        chain.push(RotationStatement::sign(
            INSTANCE,
            &pair[0],
            &pair[1].public_key(),
        )?)?;
    }
    Ok((chain, keys))
}

#[test]
fn a_statement_is_a_minisign_signature_of_the_new_key_line() -> TestResult {
    let (old, new) = (key(1), key(2));
    let statement = RotationStatement::sign(INSTANCE, &old, &new.public_key())?;
    assert_eq!(statement.message(), format!("{}\n", new.public_key()));
    let comment = verify_minisign(
        &old.public_key(),
        statement.message().as_bytes(),
        statement.signature(),
    )?;
    assert_eq!(
        comment.as_str(),
        format!(
            "rotate instance={INSTANCE} from={} to={}",
            old.key_id(),
            new.key_id()
        )
    );
    let text = statement.to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0], format!("from: {}", old.public_key()));
    assert_eq!(lines[1], format!("to: {}", new.public_key()));
    assert_eq!(
        lines[2],
        "untrusted comment: signature from wb sync instance key"
    );
    assert!(lines[3].starts_with("RUQ"), "an ED signature: {}", lines[3]);
    statement.verify(1)?;
    // Deterministic.
    assert_eq!(
        RotationStatement::sign(INSTANCE, &old, &new.public_key())?.to_text(),
        text
    );
    Ok(())
}

#[test]
fn chain_text_round_trips_and_leads_from_every_pin_to_the_last_key() -> TestResult {
    let (chain, keys) = chain_of_three()?;
    let text = chain.to_text();
    assert_eq!(text.lines().count(), 3 * 6 + 2);
    let parsed = RotationChain::parse(&text)?;
    assert_eq!(parsed, chain);
    assert_eq!(parsed.to_text(), text);
    assert_eq!(parsed.instance(), Some(INSTANCE));
    let last = keys[3].public_key();
    assert_eq!(parsed.last_key(), Some(&last));

    // From the first key: three steps; from an intermediate key: fewer,
    // and the statements before the pin are not looked at.
    for (pin, steps) in [(0, 3), (1, 2), (2, 1), (3, 0)] {
        let followed = parsed.verify_path(INSTANCE, &keys[pin].public_key(), &last)?;
        assert_eq!(followed.len(), steps, "pin {pin}");
    }
    // The empty chain is valid text and leads nowhere.
    let empty = RotationChain::parse("")?;
    assert!(empty.is_empty());
    assert!(matches!(
        empty.verify_path(INSTANCE, &keys[0].public_key(), &last),
        Err(RotationError::NoChain { .. })
    ));
    empty.verify_path(INSTANCE, &last, &last)?;
    Ok(())
}

#[test]
fn statements_before_the_pin_are_ignored() -> TestResult {
    let (chain, keys) = chain_of_three()?;
    // Break the first statement's signature: a peer pinned at k2 does not
    // care, a peer pinned at k1 does.
    let mut lines: Vec<String> = chain.to_text().lines().map(str::to_owned).collect();
    lines[5] = flip_base64(&lines[5]);
    let text = lines.join("\n") + "\n";
    let broken = RotationChain::parse(&text)?;
    let last = keys[3].public_key();
    broken.verify_path(INSTANCE, &keys[1].public_key(), &last)?;
    let outcome = broken.verify_path(INSTANCE, &keys[0].public_key(), &last);
    assert!(
        matches!(
            outcome,
            Err(RotationError::BadStatement { statement: 1, .. })
        ),
        "{outcome:?}"
    );
    Ok(())
}

fn flip_base64(line: &str) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn a_statement_signed_by_the_wrong_key_is_refused() -> TestResult {
    let (old, new, mallory) = (key(1), key(2), key(9));
    // Mallory signs "old → new" with her own key, claiming to be old.
    let forged = RotationStatement::sign(INSTANCE, &mallory, &new.public_key())?;
    let text = forged.to_text().replacen(
        &format!("from: {}", mallory.public_key()),
        &format!("from: {}", old.public_key()),
        1,
    );
    let text = text.replace(
        &format!("from={}", mallory.key_id()),
        &format!("from={}", old.key_id()),
    );
    let chain = RotationChain::parse(&text)?;
    let outcome = chain.verify_path(INSTANCE, &old.public_key(), &new.public_key());
    match outcome {
        Err(RotationError::BadStatement {
            statement: 1,
            source,
            ..
        }) => assert!(
            source.to_string().contains("signature was made by key id"),
            "{source}"
        ),
        other => panic!("expected a bad statement, got {other:?}"),
    }
    // And through push, too.
    let mut chain = RotationChain::new();
    let outcome = chain.push(RotationStatement::parse(&text)?);
    assert!(matches!(outcome, Err(RotationError::BadStatement { .. })));
    assert!(chain.is_empty());
    Ok(())
}

#[test]
fn a_statement_for_another_instance_is_refused() -> TestResult {
    let (old, new) = (key(1), key(2));
    let statement = RotationStatement::sign("beta.example", &old, &new.public_key())?;
    let chain = RotationChain::parse(&statement.to_text())?;
    let outcome = chain.verify_path(INSTANCE, &old.public_key(), &new.public_key());
    assert!(
        matches!(
            &outcome,
            Err(RotationError::WrongInstance { statement: 1, expected, found })
                if expected == INSTANCE && found == "beta.example"
        ),
        "{outcome:?}"
    );
    // A chain mixing instances does not even parse.
    let next = RotationStatement::sign(INSTANCE, &new, &key(3).public_key())?;
    let mixed = format!("{}\n{}", statement.to_text(), next.to_text());
    assert!(matches!(
        RotationChain::parse(&mixed),
        Err(RotationError::WrongInstance { statement: 2, .. })
    ));
    Ok(())
}

#[test]
fn a_broken_chain_is_refused() -> TestResult {
    let (k1, k2, k3, k4) = (key(1), key(2), key(3), key(4));
    let first = RotationStatement::sign(INSTANCE, &k1, &k2.public_key())?;
    // k3 → k4 does not follow k1 → k2.
    let gap = RotationStatement::sign(INSTANCE, &k3, &k4.public_key())?;
    let text = format!("{}\n{}", first.to_text(), gap.to_text());
    let outcome = RotationChain::parse(&text);
    assert!(
        matches!(
            outcome,
            Err(RotationError::BrokenChain { statement: 2, expected, found })
                if expected == k2.key_id() && found == k3.key_id()
        ),
        "{outcome:?}"
    );
    // A rotation back to a key already in the chain.
    let back = RotationStatement::sign(INSTANCE, &k2, &k1.public_key())?;
    let text = format!("{}\n{}", first.to_text(), back.to_text());
    assert!(matches!(
        RotationChain::parse(&text),
        Err(RotationError::RepeatedKey { statement: 2, .. })
    ));
    Ok(())
}

#[test]
fn a_chain_ending_at_another_key_or_missing_the_pin_is_refused() -> TestResult {
    let (chain, keys) = chain_of_three()?;
    let stranger = key(7).public_key();
    // The bundle is signed by a key the chain does not end at.
    let outcome = chain.verify_path(INSTANCE, &keys[0].public_key(), &stranger);
    assert!(
        matches!(outcome, Err(RotationError::EndsElsewhere { end, key })
            if end == keys[3].key_id() && key == stranger.key_id()),
        "{outcome:?}"
    );
    // Even the chain's own middle key is not its end.
    let outcome = chain.verify_path(INSTANCE, &keys[0].public_key(), &keys[2].public_key());
    assert!(matches!(outcome, Err(RotationError::EndsElsewhere { .. })));
    // A pin the chain never rotates from.
    let outcome = chain.verify_path(INSTANCE, &stranger, &keys[3].public_key());
    match outcome {
        Err(error @ RotationError::PinNotInChain { .. }) => {
            assert!(error.to_string().contains(&stranger.key_id().to_string()));
        }
        other => panic!("expected PinNotInChain, got {other:?}"),
    }
    Ok(())
}

#[test]
fn tampered_statements_are_refused() -> TestResult {
    let (chain, keys) = chain_of_three()?;
    let text = chain.to_text();
    let pin = keys[0].public_key();
    let last = keys[3].public_key();

    // The "to" key replaced by another (valid) key: the signature no longer
    // matches, and the trusted comment names another key id.
    let mallory = key(9).public_key();
    let swapped = text.replacen(
        &format!("to: {}", keys[1].public_key()),
        &format!("to: {mallory}"),
        1,
    );
    assert!(matches!(
        RotationChain::parse(&swapped),
        Err(RotationError::CommentMismatch { statement: 1, .. })
            | Err(RotationError::BrokenChain { .. })
    ));

    // The trusted comment's signature line altered.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[14 + 5] = flip_base64(&lines[14 + 5]);
    let chain = RotationChain::parse(&(lines.join("\n") + "\n"))?;
    let outcome = chain.verify_path(INSTANCE, &pin, &last);
    assert!(
        matches!(
            &outcome,
            Err(RotationError::BadStatement { statement: 3, source, .. })
                if matches!(source, wb_crypto::Error::BadTrustedCommentSignature)
        ),
        "{outcome:?}"
    );

    // The message signature altered.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[7 + 3] = flip_base64(&lines[7 + 3]);
    let chain = RotationChain::parse(&(lines.join("\n") + "\n"))?;
    assert!(matches!(
        chain.verify_path(INSTANCE, &pin, &last),
        Err(RotationError::BadStatement { statement: 2, .. })
    ));
    Ok(())
}

#[test]
fn malformed_chain_text_is_refused_naming_the_line() -> TestResult {
    let (chain, _) = chain_of_three()?;
    let text = chain.to_text();
    let cases: Vec<(&str, String)> = vec![
        ("no final newline", text.trim_end().to_owned()),
        ("CRLF", text.replace('\n', "\r\n")),
        ("two empty lines", text.replacen("\n\n", "\n\n\n", 1)),
        ("no empty line", text.replacen("\n\n", "\n", 1)),
        (
            "truncated",
            text.lines().take(9).collect::<Vec<_>>().join("\n") + "\n",
        ),
        ("bad from", text.replacen("from: ", "From: ", 1)),
        ("bad key", text.replacen("from: RWQ", "from: RWR", 1)),
        ("leading space", format!(" {text}")),
    ];
    for (name, bad) in cases {
        let outcome = RotationChain::parse(&bad);
        assert!(outcome.is_err(), "{name}: accepted");
        let message = outcome.map(|_| ()).err().map(|e| e.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("line") || m.contains("statement")),
            "{name}: {message:?}"
        );
    }
    let huge = "x".repeat(300 * 1024);
    assert!(matches!(
        RotationChain::parse(&huge),
        Err(RotationError::TooLarge { .. })
    ));
    Ok(())
}

#[test]
fn a_weak_key_in_a_statement_is_refused() -> TestResult {
    let (old, new) = (key(1), key(2));
    let text = RotationStatement::sign(INSTANCE, &old, &new.public_key())?.to_text();
    // The identity point as the new key: refused when parsed.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut bytes = b"Ed".to_vec();
    bytes.extend_from_slice(&new.key_id().to_bytes());
    bytes.extend_from_slice(&identity);
    let weak = base64::engine::general_purpose::STANDARD.encode(bytes);
    let bad = text.replacen(&new.public_key().to_string(), &weak, 1);
    let outcome = RotationChain::parse(&bad);
    assert!(
        matches!(
            outcome,
            Err(RotationError::Crypto {
                statement: 1,
                source: wb_crypto::Error::WeakPublicKey
            })
        ),
        "{outcome:?}"
    );
    Ok(())
}

#[test]
fn the_bundle_key_policy() -> TestResult {
    use wb_crypto::verify_bundle_key;
    let (chain, keys) = chain_of_three()?;
    let text = chain.to_text();
    let chain_bytes = Some(text.as_bytes());
    let last = keys[3].public_key();
    // The pinned key: no chain needed, and a consistent chain is fine.
    assert_eq!(verify_bundle_key(INSTANCE, &last, &last, None)?, 0);
    assert_eq!(verify_bundle_key(INSTANCE, &last, &last, chain_bytes)?, 0);
    // An older pin: followed.
    assert_eq!(
        verify_bundle_key(INSTANCE, &keys[0].public_key(), &last, chain_bytes)?,
        3
    );
    // Another key without a chain.
    assert!(matches!(
        verify_bundle_key(INSTANCE, &keys[0].public_key(), &last, None),
        Err(RotationError::NoChain { .. })
    ));
    // A chain that does not end at the bundle's key, even with key = pin.
    let middle = keys[2].public_key();
    assert!(matches!(
        verify_bundle_key(INSTANCE, &middle, &middle, chain_bytes),
        Err(RotationError::EndsElsewhere { .. })
    ));
    // Another instance's chain, an empty or non-UTF-8 file.
    assert!(matches!(
        verify_bundle_key("beta.example", &last, &last, chain_bytes),
        Err(RotationError::WrongInstance { .. })
    ));
    assert!(matches!(
        verify_bundle_key(INSTANCE, &last, &last, Some(b"")),
        Err(RotationError::Malformed { line: 1, .. })
    ));
    assert!(matches!(
        verify_bundle_key(INSTANCE, &last, &last, Some(b"\xff\n")),
        Err(RotationError::Malformed { line: 1, .. })
    ));
    Ok(())
}
