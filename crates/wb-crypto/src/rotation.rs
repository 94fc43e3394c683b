//! Key rotation: statements by which an old instance key vouches for its
//! successor, and chains of them.
//!
//! A rotation statement is six lines of text:
//!
//! ```text
//! from: <old public key, one-line form>
//! to: <new public key, one-line form>
//! untrusted comment: signature from wb sync instance key
//! base64("ED" ‖ old key id ‖ Ed25519(old secret key, BLAKE2b-512(<new key> "\n")))
//! trusted comment: rotate instance=<instance> from=<old key id> to=<new key id>
//! base64(Ed25519(old secret key, signature ‖ trusted comment))
//! ```
//!
//! Lines 3–6 are a minisign signature, by the old key, of the new key's
//! one-line form followed by a newline: the stock `minisign -V` checks it
//! (`docs/keys.md` shows the commands). A chain is the statements of one
//! instance, oldest first, separated by one empty line; each rotates from
//! the key the previous one rotated to.
//!
//! [`RotationChain::verify_path`] answers the one question an importer or a
//! hub asks: given the key I pinned and the key this bundle is signed with,
//! does the chain lead from the one to the other, every step signed by the
//! key it rotates from?

use std::collections::HashSet;
use std::fmt;

use crate::instance::check_instance_name;
use crate::minisign::{sign_minisign, verify_minisign};
use crate::{KeyId, PublicKey, SigningKey, TrustedComment};

/// The largest chain file a reader accepts: 256 KiB (some 600 statements).
pub const MAX_ROTATION_CHAIN_BYTES: u64 = 256 * 1024;

/// Lines of one statement.
const STATEMENT_LINES: usize = 6;
const FROM_PREFIX: &str = "from: ";
const TO_PREFIX: &str = "to: ";
const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";

/// Why a rotation statement or chain was refused. Statements are counted
/// from 1, oldest first; lines are lines of the chain's text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// The text does not have the layout of a chain.
    #[error("rotation chain, line {line}: {reason}")]
    Malformed {
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The chain is larger than [`MAX_ROTATION_CHAIN_BYTES`].
    #[error("rotation chain has {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A statement's trusted comment is not the one its keys and instance
    /// call for.
    #[error("rotation statement {statement}: trusted comment {found:?}, expected {expected:?}")]
    CommentMismatch {
        /// Which statement.
        statement: usize,
        /// What it says.
        found: String,
        /// What it should say.
        expected: String,
    },
    /// A statement names another instance than the chain (or the bundle).
    #[error(
        "rotation statement {statement} is for instance {found}, but the chain is for {expected}"
    )]
    WrongInstance {
        /// Which statement.
        statement: usize,
        /// The instance expected.
        expected: String,
        /// The instance the statement names.
        found: String,
    },
    /// A statement does not rotate from the key the previous one rotated to.
    #[error(
        "rotation chain is broken at statement {statement}: it rotates from key {found}, but the previous statement rotated to {expected}"
    )]
    BrokenChain {
        /// Which statement.
        statement: usize,
        /// The key the previous statement rotated to.
        expected: KeyId,
        /// The key this statement rotates from.
        found: KeyId,
    },
    /// A key appears twice in the chain (a cycle, or a rotation to itself).
    #[error("rotation statement {statement} rotates to key {key}, which the chain already holds")]
    RepeatedKey {
        /// Which statement.
        statement: usize,
        /// The repeated key.
        key: KeyId,
    },
    /// A statement's signature does not verify against the key it rotates
    /// from.
    #[error("rotation statement {statement} (from key {from} to key {to}): {source}")]
    BadStatement {
        /// Which statement.
        statement: usize,
        /// The key it rotates from.
        from: KeyId,
        /// The key it rotates to.
        to: KeyId,
        /// Why it does not verify.
        #[source]
        source: crate::Error,
    },
    /// The pinned key is neither the bundle's key nor a key the chain
    /// rotates from.
    #[error(
        "no rotation statement leads from the pinned key {pinned} (the chain holds {chain_keys})"
    )]
    PinNotInChain {
        /// The pinned key.
        pinned: KeyId,
        /// The keys of the chain, oldest first, for the message.
        chain_keys: String,
    },
    /// The chain does not end at the key the bundle is signed with.
    #[error("the rotation chain ends at key {end}, but the bundle is signed by key {key}")]
    EndsElsewhere {
        /// The chain's last key.
        end: KeyId,
        /// The bundle's key.
        key: KeyId,
    },
    /// There is no chain at all and the key is not the pinned one.
    #[error(
        "the bundle is signed by key {key}, not the pinned key {pinned}, and carries no rotation statement"
    )]
    NoChain {
        /// The pinned key.
        pinned: KeyId,
        /// The bundle's key.
        key: KeyId,
    },
    /// A key or signature inside a statement is invalid.
    #[error("rotation statement {statement}: {source}")]
    Crypto {
        /// Which statement.
        statement: usize,
        /// The problem.
        #[source]
        source: crate::Error,
    },
}

/// One rotation: the old key's signature over the new key.
#[derive(Clone, PartialEq, Eq)]
pub struct RotationStatement {
    instance: String,
    from: PublicKey,
    to: PublicKey,
    /// The four lines of the minisign signature, each ending in `\n`.
    signature: String,
}

impl RotationStatement {
    /// Makes the statement "`instance` rotates from `old` to `new`", signed
    /// by `old`. Deterministic (Ed25519 is).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInstanceName`] for a bad instance name.
    pub fn sign(instance: &str, old: &SigningKey, new: &PublicKey) -> crate::Result<Self> {
        check_instance_name(instance)?;
        let from = old.public_key();
        let comment = TrustedComment::new(trusted_comment(instance, &from, new))?;
        let signature = sign_minisign(old, message(new).as_bytes(), &comment);
        Ok(Self {
            instance: instance.to_owned(),
            from,
            to: new.clone(),
            signature,
        })
    }

    /// Parses one statement: its six lines, each ending in `\n`. Checks
    /// its structure as [`RotationChain::parse`] does, not its signature
    /// ([`RotationStatement::verify`]).
    ///
    /// # Errors
    /// [`RotationError`] naming the line.
    pub fn parse(text: &str) -> Result<Self, RotationError> {
        let chain = RotationChain::parse(text)?;
        match <[RotationStatement; 1]>::try_from(chain.statements) {
            Ok([statement]) => Ok(statement),
            Err(_) => Err(RotationError::Malformed {
                line: STATEMENT_LINES + 1,
                reason: "expected exactly one statement".to_owned(),
            }),
        }
    }

    /// The instance whose key rotates.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The key rotated from (the signer).
    pub fn from_key(&self) -> &PublicKey {
        &self.from
    }

    /// The key rotated to.
    pub fn to_key(&self) -> &PublicKey {
        &self.to
    }

    /// The signed message: the new key's one-line form and `\n`.
    pub fn message(&self) -> String {
        message(&self.to)
    }

    /// The minisign signature (four lines), as `minisign -V -x` reads it.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The statement's six lines, each ending in `\n`.
    pub fn to_text(&self) -> String {
        format!(
            "{FROM_PREFIX}{}\n{TO_PREFIX}{}\n{}",
            self.from, self.to, self.signature
        )
    }

    /// Verifies the signature strictly against the key rotated from, and
    /// that its (then authenticated) trusted comment is exactly
    /// `rotate instance=<instance> from=<old key id> to=<new key id>`.
    ///
    /// # Errors
    /// [`RotationError::BadStatement`] or [`RotationError::CommentMismatch`];
    /// `number` is the statement's place in its chain, for the message.
    pub fn verify(&self, number: usize) -> Result<(), RotationError> {
        let comment = verify_minisign(&self.from, self.message().as_bytes(), &self.signature)
            .map_err(|source| RotationError::BadStatement {
                statement: number,
                from: self.from.key_id(),
                to: self.to.key_id(),
                source,
            })?;
        let expected = trusted_comment(&self.instance, &self.from, &self.to);
        if comment.as_str() != expected {
            return Err(RotationError::CommentMismatch {
                statement: number,
                found: comment.as_str().to_owned(),
                expected,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for RotationStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotationStatement")
            .field("instance", &self.instance)
            .field("from", &self.from.key_id())
            .field("to", &self.to.key_id())
            .finish_non_exhaustive()
    }
}

fn message(new: &PublicKey) -> String {
    format!("{new}\n")
}

fn trusted_comment(instance: &str, from: &PublicKey, to: &PublicKey) -> String {
    format!(
        "rotate instance={instance} from={} to={}",
        from.key_id(),
        to.key_id()
    )
}

/// The rotation statements of one instance, oldest first, each rotating
/// from the key the previous one rotated to. May be empty (no rotation
/// yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RotationChain {
    statements: Vec<RotationStatement>,
}

impl RotationChain {
    /// A chain without statements.
    pub fn new() -> Self {
        Self::default()
    }

    /// The statements, oldest first.
    pub fn statements(&self) -> &[RotationStatement] {
        &self.statements
    }

    /// Whether there is no statement.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The instance the chain is for (`None` when empty).
    pub fn instance(&self) -> Option<&str> {
        self.statements.first().map(RotationStatement::instance)
    }

    /// The key the chain ends at: the last statement's new key.
    pub fn last_key(&self) -> Option<&PublicKey> {
        self.statements.last().map(RotationStatement::to_key)
    }

    /// Appends a statement, which must be for the same instance, rotate
    /// from the chain's last key, to a key not yet in the chain, and
    /// verify.
    ///
    /// # Errors
    /// As [`RotationChain::parse`] would refuse the result.
    pub fn push(&mut self, statement: RotationStatement) -> Result<(), RotationError> {
        let number = self.statements.len() + 1;
        self.check_next(&statement, number)?;
        statement.verify(number)?;
        self.statements.push(statement);
        Ok(())
    }

    /// The chain's text: the statements' six lines each, separated by one
    /// empty line; empty for an empty chain.
    pub fn to_text(&self) -> String {
        let texts: Vec<String> = self
            .statements
            .iter()
            .map(RotationStatement::to_text)
            .collect();
        texts.join("\n")
    }

    /// Parses a chain exactly as [`RotationChain::to_text`] writes it (LF
    /// line ends, one empty line between statements, a final newline).
    /// Checks its structure — every key valid and strong, one instance,
    /// each statement rotating from the previous one's new key, no key
    /// twice, trusted comments naming the instance and key ids — but not
    /// the signatures: [`RotationChain::verify_path`] verifies the ones
    /// that matter to a given pin.
    ///
    /// # Errors
    /// [`RotationError`] naming the statement or line.
    pub fn parse(text: &str) -> Result<Self, RotationError> {
        let size = text.len() as u64;
        if size > MAX_ROTATION_CHAIN_BYTES {
            return Err(RotationError::TooLarge {
                size,
                limit: MAX_ROTATION_CHAIN_BYTES,
            });
        }
        let mut chain = Self::new();
        if text.is_empty() {
            return Ok(chain);
        }
        let malformed = |line: usize, reason: &str| RotationError::Malformed {
            line,
            reason: reason.to_owned(),
        };
        let Some(body) = text.strip_suffix('\n') else {
            return Err(malformed(
                text.split('\n').count(),
                "the text must end with a newline",
            ));
        };
        let lines: Vec<&str> = body.split('\n').collect();
        if let Some(at) = lines.iter().position(|l| l.contains('\r')) {
            return Err(malformed(at + 1, "carriage return; lines end in LF only"));
        }
        let mut start = 0;
        loop {
            let number = chain.statements.len() + 1;
            let Some(block) = lines.get(start..start + STATEMENT_LINES) else {
                return Err(malformed(
                    lines.len() + 1,
                    "a statement has six lines: from, to, and a four-line minisign signature",
                ));
            };
            let statement = parse_statement(block, start + 1, number)?;
            chain.check_next(&statement, number)?;
            chain.statements.push(statement);
            start += STATEMENT_LINES;
            match lines.get(start) {
                None => break,
                Some(&"") => start += 1,
                Some(_) => {
                    return Err(malformed(
                        start + 1,
                        "expected an empty line between two statements",
                    ));
                }
            }
        }
        Ok(chain)
    }

    /// The structural rules for statement `number` following this chain.
    fn check_next(&self, next: &RotationStatement, number: usize) -> Result<(), RotationError> {
        if let Some(first) = self.statements.first()
            && next.instance != first.instance
        {
            return Err(RotationError::WrongInstance {
                statement: number,
                expected: first.instance.clone(),
                found: next.instance.clone(),
            });
        }
        if let Some(last) = self.last_key()
            && *last != next.from
        {
            return Err(RotationError::BrokenChain {
                statement: number,
                expected: last.key_id(),
                found: next.from.key_id(),
            });
        }
        let mut seen: HashSet<&PublicKey> = self.statements.iter().map(|s| &s.to).collect();
        if let Some(first) = self.statements.first() {
            seen.insert(&first.from);
        } else {
            seen.insert(&next.from);
        }
        if seen.contains(&next.to) {
            return Err(RotationError::RepeatedKey {
                statement: number,
                key: next.to.key_id(),
            });
        }
        Ok(())
    }

    /// Checks that a bundle of `instance` signed by `key` may be accepted
    /// by a verifier who pinned `pinned`: either `key` is `pinned`, or the
    /// chain leads from `pinned` to `key` — starting at the statement that
    /// rotates from `pinned` (earlier statements are ignored, so a pin of
    /// an intermediate key works), every later statement names `instance`
    /// and verifies strictly against the key it rotates from, and the last
    /// one rotates to `key`.
    ///
    /// Returns the statements followed (empty when `key` is `pinned`).
    ///
    /// # Errors
    /// [`RotationError`] saying which rule failed and where.
    pub fn verify_path(
        &self,
        instance: &str,
        pinned: &PublicKey,
        key: &PublicKey,
    ) -> Result<&[RotationStatement], RotationError> {
        if pinned == key {
            return Ok(&[]);
        }
        let Some(last) = self.last_key() else {
            return Err(RotationError::NoChain {
                pinned: pinned.key_id(),
                key: key.key_id(),
            });
        };
        let Some(start) = self.statements.iter().position(|s| s.from == *pinned) else {
            return Err(RotationError::PinNotInChain {
                pinned: pinned.key_id(),
                chain_keys: self.key_ids(),
            });
        };
        for (index, statement) in self.statements.iter().enumerate().skip(start) {
            let number = index + 1;
            if statement.instance != instance {
                return Err(RotationError::WrongInstance {
                    statement: number,
                    expected: instance.to_owned(),
                    found: statement.instance.clone(),
                });
            }
            statement.verify(number)?;
        }
        if last != key {
            return Err(RotationError::EndsElsewhere {
                end: last.key_id(),
                key: key.key_id(),
            });
        }
        Ok(&self.statements[start..])
    }

    fn key_ids(&self) -> String {
        let mut ids: Vec<String> = Vec::new();
        if let Some(first) = self.statements.first() {
            ids.push(first.from.key_id().to_string());
        }
        ids.extend(self.statements.iter().map(|s| s.to.key_id().to_string()));
        ids.join(" → ")
    }
}

/// The key policy of a bundle: may a bundle of `instance` signed by `key`,
/// carrying the rotation chain `chain` (the bytes of `key-rotations.txt`,
/// `None` without one), be accepted by a verifier who pinned `pinned`?
///
/// A chain, when present, must parse, be `instance`'s, and end at `key`,
/// whatever the pin (readers ignore nothing). Then, if `key` is not
/// `pinned`, the chain must lead from `pinned` to `key`
/// ([`RotationChain::verify_path`]). Returns how many statements were
/// followed: 0 when `key` is `pinned`, more when the verifier should move
/// its pin to `key` once it accepts the bundle.
///
/// # Errors
/// [`RotationError`] naming the rule and the statement or line.
pub fn verify_bundle_key(
    instance: &str,
    pinned: &PublicKey,
    key: &PublicKey,
    chain: Option<&[u8]>,
) -> Result<usize, RotationError> {
    let chain = match chain {
        None => RotationChain::new(),
        Some(bytes) => {
            let size = bytes.len() as u64;
            if size > MAX_ROTATION_CHAIN_BYTES {
                return Err(RotationError::TooLarge {
                    size,
                    limit: MAX_ROTATION_CHAIN_BYTES,
                });
            }
            let text = std::str::from_utf8(bytes).map_err(|_| RotationError::Malformed {
                line: 1,
                reason: "not UTF-8 text".to_owned(),
            })?;
            let chain = RotationChain::parse(text)?;
            if chain.is_empty() {
                return Err(RotationError::Malformed {
                    line: 1,
                    reason: "an empty chain; a bundle without rotations has no key-rotations.txt"
                        .to_owned(),
                });
            }
            chain
        }
    };
    if let Some(found) = chain.instance()
        && found != instance
    {
        return Err(RotationError::WrongInstance {
            statement: 1,
            expected: instance.to_owned(),
            found: found.to_owned(),
        });
    }
    if let Some(last) = chain.last_key()
        && last != key
    {
        return Err(RotationError::EndsElsewhere {
            end: last.key_id(),
            key: key.key_id(),
        });
    }
    Ok(chain.verify_path(instance, pinned, key)?.len())
}

/// Parses the six lines of statement `number`, which start at line `first`.
fn parse_statement(
    block: &[&str],
    first: usize,
    number: usize,
) -> Result<RotationStatement, RotationError> {
    let malformed = |offset: usize, reason: String| RotationError::Malformed {
        line: first + offset,
        reason,
    };
    let crypto = |source| RotationError::Crypto {
        statement: number,
        source,
    };
    let key = |offset: usize, prefix: &str| -> Result<PublicKey, RotationError> {
        let text = block[offset]
            .strip_prefix(prefix)
            .ok_or_else(|| malformed(offset, format!("expected \"{prefix}<public key>\"")))?;
        let key = PublicKey::from_minisign_base64(text).map_err(crypto)?;
        if key.to_minisign_base64() != text {
            return Err(malformed(
                offset,
                "the key must be written in its one canonical form".to_owned(),
            ));
        }
        Ok(key)
    };
    let from = key(0, FROM_PREFIX)?;
    let to = key(1, TO_PREFIX)?;
    if !block[2].starts_with(UNTRUSTED_PREFIX) {
        return Err(malformed(2, format!("expected \"{UNTRUSTED_PREFIX}\"")));
    }
    if block[3].is_empty() || block[5].is_empty() {
        let offset = if block[3].is_empty() { 3 } else { 5 };
        return Err(malformed(offset, "expected base64".to_owned()));
    }
    let Some(comment) = block[4].strip_prefix(TRUSTED_PREFIX) else {
        return Err(malformed(4, format!("expected \"{TRUSTED_PREFIX}\"")));
    };
    let instance = comment
        .strip_prefix("rotate instance=")
        .and_then(|rest| rest.split_once(' '))
        .map(|(instance, _)| instance)
        .ok_or_else(|| {
            malformed(
                4,
                "expected \"rotate instance=<name> from=<key id> to=<key id>\"".to_owned(),
            )
        })?;
    check_instance_name(instance).map_err(crypto)?;
    let expected = trusted_comment(instance, &from, &to);
    if comment != expected {
        return Err(RotationError::CommentMismatch {
            statement: number,
            found: comment.to_owned(),
            expected,
        });
    }
    let signature = block[2..].iter().fold(String::new(), |mut text, line| {
        text.push_str(line);
        text.push('\n');
        text
    });
    Ok(RotationStatement {
        instance: instance.to_owned(),
        from,
        to,
        signature,
    })
}
