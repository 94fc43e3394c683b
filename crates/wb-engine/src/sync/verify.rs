//! The one verification path of a bundle, shared by the importer and the
//! hub: everything that can be checked without a database.
//!
//! In order (`docs/format.md` §7):
//!
//! 1. the layout and the manifest ([`BundleReader`], over a directory or
//!    over files held in memory — nothing is unpacked to disk to be
//!    checked);
//! 2. the manifest's `Instance` is an instance name, and the key it names
//!    is acceptable under the caller's [`KeyPolicy`]: the pinned key, the
//!    key the caller expects, or a new key the operator accepted — or a key
//!    the bundle's rotation chain (`key-rotations.txt`) leads to from the
//!    pinned or expected one, each statement verified (`docs/keys.md`);
//! 3. `bundle.sig` verifies strictly over the manifest, and its trusted
//!    comment names the manifest's instance and sequence
//!    ([`check_signature`], giving a [`SignedBundle`]);
//! 4. every listed file: length, SHA-256, syntax, schema version, public
//!    scope, path and instance; then its body as the entity's public
//!    projection, with the text rules local input obeys (no control
//!    characters but newline and tab, titles on one line, lengths), the
//!    invite rule (an invite has an invitee exactly when accepted), every
//!    key present, and each vouch's signature;
//! 5. **actor origins**: every actor — a request's or comment's
//!    `author_id`, a vouch's `voucher_id`, an invite's `inviter_id` and
//!    `invitee_id` — is a user of the bundle's own instance, in the bundle
//!    ([`SignedBundle::rows`], giving [`BundleRows`]).
//!
//! What needs local state stays with the importer: the sequence against the
//! last one applied, and references to other instances' rows (a comment on
//! another instance's request, a vouch for another instance's user).
//!
//! Every refusal is a [`Refusal`] with a stable [`Refusal::code`] and the
//! path inside the bundle it is about, never a path of the machine that
//! checks it.

use std::collections::HashSet;
use std::fmt;

use wb_crypto::{PublicKey, RotationError, parse_bundle_trusted_comment, verify_minisign};
use wb_model::{Comment, InstanceName, Invite, InviteStatus, Request, User, Uuid, Vouch};
use wb_syncfmt::bundle::{BundleError, BundleReader};
use wb_syncfmt::{
    EntityKind, KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, Manifest, SIGNATURE_FILE_NAME,
    SyncFile, sha256_hex,
};

use super::Progress;
use super::codec::{comment_from, invite_from, request_from, user_from, vouch_from};
use crate::instance::{MAX_TEXT_BYTES, check_text, check_title};

/// Which keys a bundle may be signed with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The key pinned for the bundle's instance, if any (minisign one-line
    /// form). A pinned key is the only key accepted.
    pub pinned: Option<String>,
    /// The key the caller expects (`--key`): the bundle must carry it, and
    /// with no pin yet it becomes the pin.
    pub expected: Option<String>,
    /// With no pin and no expected key, accept the bundle's own key as the
    /// new pin (`--accept-new-keys`, ssh's `accept-new`). Without it, a
    /// bundle of an instance with no pin is refused.
    pub accept_new: bool,
}

/// How the bundle's key was trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyDecision {
    /// It is the pinned key.
    Pinned,
    /// The instance rotated its key: the bundle's `key-rotations.txt` leads
    /// from the pinned key to the bundle's, every statement from the pin on
    /// verified. The pin moves to the bundle's key when it is applied.
    Rotated {
        /// The key pinned until now.
        from: String,
        /// How many rotation statements were followed.
        steps: usize,
    },
    /// No key was pinned: the operator named it (`--key`) or accepted new
    /// keys; it becomes the pin.
    NewPin,
}

/// Why a bundle was refused: a stable code, the path inside the bundle (if
/// the refusal is about one file) and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    code: &'static str,
    path: Option<String>,
    line: Option<usize>,
    message: String,
}

impl Refusal {
    /// A refusal with `code`, about `path` in the bundle (or the whole
    /// bundle), saying `message`.
    pub(crate) fn new(code: &'static str, path: Option<&str>, message: impl Into<String>) -> Self {
        Refusal {
            code,
            path: path.map(str::to_owned),
            line: None,
            message: message.into(),
        }
    }

    /// The stable, machine-readable code of the rule broken (kebab-case,
    /// e.g. `hash-mismatch`, `actor-origin`, `key-not-pinned`); listed in
    /// `docs/format.md`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The path inside the bundle the refusal is about, if one file.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The 1-based line of [`Refusal::path`] at fault, when one line is.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// Where: `path:line`, `path`, or nothing for the whole bundle.
    #[must_use]
    pub fn location(&self) -> Option<String> {
        let path = self.path.as_deref()?;
        Some(match self.line {
            Some(line) => format!("{path}:{line}"),
            None => path.to_owned(),
        })
    }

    /// What is wrong and, where it helps, what to do; without the path.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Refusal {}

impl From<BundleError> for Refusal {
    fn from(err: BundleError) -> Self {
        let code = err.code();
        let path = err.bundle_path().map(str::to_owned);
        let mut line = match &err {
            BundleError::Parse(parse) => parse.line(),
            _ => None,
        };
        let message = match &err {
            // These name the directory they looked in: say it without it,
            // so a refusal never shows a path of the machine that checked.
            BundleError::MissingManifest { .. } => {
                "no manifest.sync.txt; this is not a bundle".to_owned()
            }
            BundleError::MissingSignature { .. } => {
                "no bundle.sig; the bundle is not signed".to_owned()
            }
            BundleError::Io { source, .. } => format!("cannot be read: {source}"),
            BundleError::Parse(parse) => parse.kind().to_string(),
            // `path: message` or `path:line: message`.
            other => {
                let text = other.to_string();
                let rest = path
                    .as_deref()
                    .and_then(|path| text.strip_prefix(path))
                    .and_then(|rest| rest.strip_prefix(':'));
                match rest {
                    Some(rest) => {
                        let (number, after) = rest.split_once(':').unwrap_or(("", rest));
                        match number.parse::<usize>() {
                            Ok(number) => {
                                line = Some(number);
                                after.trim_start().to_owned()
                            }
                            Err(_) => rest.trim_start().to_owned(),
                        }
                    }
                    None => text,
                }
            }
        };
        Refusal {
            code,
            path,
            line,
            message,
        }
    }
}

/// A bundle whose manifest and signature were checked (steps 1–3 of the
/// module documentation); its files are not read yet.
#[derive(Clone, Debug)]
pub struct SignedBundle {
    /// The bundle's instance.
    pub origin: InstanceName,
    /// Its sequence.
    pub sequence: u64,
    /// The key it is signed with (minisign one-line form).
    pub public_key: String,
    /// How that key was trusted.
    pub key_decision: KeyDecision,
    /// SHA-256 (hex) of `manifest.sync.txt`.
    pub manifest_sha256: String,
    /// The text of `bundle.sig`.
    pub signature: String,
    /// The text of `key-rotations.txt`, the instance's key rotation chain
    /// (`None` without one); kept so a relay can pass it on.
    pub key_rotations: Option<String>,
    key: PublicKey,
}

/// The rows of a verified bundle, in manifest order per entity.
#[derive(Clone, Debug, Default)]
pub struct BundleRows {
    /// Users.
    pub users: Vec<User>,
    /// Requests.
    pub requests: Vec<Request>,
    /// Comments.
    pub comments: Vec<Comment>,
    /// Invites.
    pub invites: Vec<Invite>,
    /// Vouches.
    pub vouches: Vec<Vouch>,
}

/// Checks the manifest, the key against `policy` and the signature of the
/// bundle `reader` opened (steps 2–3 of the module documentation).
///
/// # Errors
///
/// The first check that fails, as a [`Refusal`].
pub fn check_signature(reader: &BundleReader, policy: &KeyPolicy) -> Result<SignedBundle, Refusal> {
    let manifest = reader.manifest();
    let origin = InstanceName::parse(&manifest.instance).map_err(|e| {
        Refusal::new(
            "invalid-instance",
            Some(MANIFEST_FILE_NAME),
            format!("Instance: {e}"),
        )
    })?;
    let key = PublicKey::from_minisign_base64(&manifest.public_key).map_err(|e| {
        Refusal::new(
            "invalid-public-key",
            Some(MANIFEST_FILE_NAME),
            format!("Public-Key: {e}"),
        )
    })?;
    let key_decision = decide_key(
        &origin,
        manifest,
        &key,
        reader.key_rotations_bytes(),
        policy,
    )?;
    let signature = std::str::from_utf8(reader.signature_bytes())
        .map_err(|_| Refusal::new("bad-signature", Some(SIGNATURE_FILE_NAME), "not UTF-8 text"))?;
    let comment = verify_minisign(&key, reader.manifest_bytes(), signature).map_err(|e| {
        Refusal::new(
            "bad-signature",
            Some(SIGNATURE_FILE_NAME),
            format!("signature rejected: {e}"),
        )
    })?;
    let (signed_instance, signed_sequence) =
        parse_bundle_trusted_comment(&comment).map_err(|e| {
            Refusal::new(
                "bad-signature",
                Some(SIGNATURE_FILE_NAME),
                format!("trusted comment: {e}"),
            )
        })?;
    if signed_instance != origin.as_str() || signed_sequence != manifest.sequence {
        return Err(Refusal::new(
            "signature-mismatch",
            Some(SIGNATURE_FILE_NAME),
            format!(
                "signature is for {signed_instance} sequence {signed_sequence}, but the manifest \
                 is {origin} sequence {}",
                manifest.sequence
            ),
        ));
    }
    Ok(SignedBundle {
        origin,
        sequence: manifest.sequence,
        public_key: manifest.public_key.clone(),
        key_decision,
        manifest_sha256: sha256_hex(reader.manifest_bytes()),
        signature: signature.to_owned(),
        // Checked by `decide_key`: a valid chain is UTF-8.
        key_rotations: reader
            .key_rotations_bytes()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned()),
        key,
    })
}

/// The key rules of [`KeyPolicy`], before the bundle's signature is
/// checked: the bundle's key `key` must be the expected key and the pinned
/// one, or be reached from each of them through the rotation chain `chain`
/// (`key-rotations.txt`, `docs/keys.md`); a chain, when present, must be
/// valid, the instance's, and end at `key`, whatever the pin.
fn decide_key(
    origin: &InstanceName,
    manifest: &Manifest,
    key: &PublicKey,
    chain: Option<&[u8]>,
    policy: &KeyPolicy,
) -> Result<KeyDecision, Refusal> {
    let offered = manifest.public_key.as_str();
    let mismatch =
        |code, message: String| Err(Refusal::new(code, Some(MANIFEST_FILE_NAME), message));
    if let (Some(expected), Some(pinned)) = (&policy.expected, &policy.pinned)
        && expected != pinned
    {
        return mismatch(
            "key-mismatch",
            format!(
                "the key expected for {origin} is {expected}, but key {pinned} is pinned for \
                 {origin}; refusing the bundle (to change the pin on purpose: `wb sync peers pin \
                 {origin} --key {expected}`)"
            ),
        );
    }
    // How many rotations lead from `pin` to the bundle's key; `None` when
    // there is no chain and the key is another.
    let follow = |pin: &str, what: &str| -> Result<Option<usize>, Refusal> {
        let pin_key = PublicKey::from_minisign_base64(pin).map_err(|e| {
            Refusal::new(
                "invalid-public-key",
                None,
                format!("the key {what} for {origin} is invalid: {e}"),
            )
        })?;
        match wb_crypto::verify_bundle_key(origin.as_str(), &pin_key, key, chain) {
            Ok(steps) => Ok(Some(steps)),
            Err(RotationError::NoChain { .. }) => Ok(None),
            Err(e) => Err(Refusal::new(
                "bad-key-rotation",
                Some(KEY_ROTATIONS_FILE_NAME),
                format!(
                    "the bundle of {origin} is signed by key {offered}, the key {what} for \
                     {origin} is {pin}, and the key rotation chain does not lead from it to the \
                     bundle's key: {e}; refusing it"
                ),
            )),
        }
    };
    if let Some(expected) = &policy.expected
        && follow(expected, "expected")?.is_none()
    {
        return mismatch(
            "key-mismatch",
            format!(
                "the bundle of {origin} is signed by key {offered}, but the key expected for \
                 {origin} is {expected}, and the bundle carries no key rotation from it; refusing \
                 it (if {origin} changed its key, check with its operator)"
            ),
        );
    }
    match &policy.pinned {
        Some(pinned) => match follow(pinned, "pinned")? {
            Some(0) => Ok(KeyDecision::Pinned),
            Some(steps) => Ok(KeyDecision::Rotated {
                from: pinned.clone(),
                steps,
            }),
            None => mismatch(
                "key-mismatch",
                format!(
                    "the bundle of {origin} is signed by key {offered}, but key {pinned} is pinned \
                     for {origin}, and the bundle carries no key rotation from it; refusing it (if \
                     {origin} really changed its key, check with its operator, then `wb sync \
                     peers pin {origin} --key NEWKEY`)"
                ),
            ),
        },
        None if policy.expected.is_some() || policy.accept_new => {
            // No pin to start from: the chain must still be sound.
            follow(offered, "offered")?;
            Ok(KeyDecision::NewPin)
        }
        None => mismatch(
            "key-not-pinned",
            format!(
                "no key is pinned for {origin}, and this bundle is signed by key {offered}; if that \
                 is {origin}'s key (check with its operator), import with `--key {offered}`, or \
                 with `--accept-new-keys` to pin the key of every new instance"
            ),
        ),
    }
}

impl SignedBundle {
    /// Reads and checks every file of the bundle (steps 4–5 of the module
    /// documentation) and returns its rows.
    ///
    /// # Errors
    ///
    /// The first file that breaks a rule, as a [`Refusal`] naming it.
    pub fn rows(
        &self,
        reader: &BundleReader,
        progress: &dyn Progress,
    ) -> Result<BundleRows, Refusal> {
        let mut rows = BundleRows::default();
        progress.start("verifying files", reader.manifest().files.len() as u64);
        for entry in reader.entries() {
            let file = entry?;
            self.add_row(&mut rows, &file).map_err(|(code, message)| {
                Refusal::new(code, Some(&file.relative_path()), message)
            })?;
            progress.step();
        }
        progress.finish();
        check_actor_origins(&self.origin, &rows)?;
        Ok(rows)
    }

    fn add_row(
        &self,
        rows: &mut BundleRows,
        file: &SyncFile,
    ) -> Result<(), (&'static str, String)> {
        let body = |message: String| ("invalid-body", message);
        let text = |e: crate::EngineError| ("invalid-text", format!("body: {e}"));
        match file.entity {
            EntityKind::User => {
                let user = user_from(file).map_err(body)?;
                check_text("display name", &user.display_name, 200).map_err(text)?;
                check_text("bio", &user.bio, MAX_TEXT_BYTES).map_err(text)?;
                rows.users.push(user);
            }
            EntityKind::Request => {
                let request = request_from(file).map_err(body)?;
                check_title(&request.title).map_err(text)?;
                check_text("body", &request.body, MAX_TEXT_BYTES).map_err(text)?;
                rows.requests.push(request);
            }
            EntityKind::Comment => {
                let comment = comment_from(file).map_err(body)?;
                check_text("body", &comment.body, MAX_TEXT_BYTES).map_err(text)?;
                rows.comments.push(comment);
            }
            EntityKind::Invite => {
                let invite = invite_from(file).map_err(body)?;
                let accepted = invite.status == InviteStatus::Accepted;
                if accepted != invite.invitee_id.is_some() {
                    return Err((
                        "invite-status",
                        format!(
                            "body: an invite has an invitee_id exactly when its status is \
                             accepted; this one is {} {} an invitee",
                            invite.status.as_str(),
                            if invite.invitee_id.is_some() {
                                "with"
                            } else {
                                "without"
                            }
                        ),
                    ));
                }
                rows.invites.push(invite);
            }
            EntityKind::Vouch => {
                let vouch = vouch_from(file).map_err(body)?;
                if vouch.voucher_id == vouch.subject_id {
                    return Err(("self-vouch", "a vouch of a user for themself".into()));
                }
                crate::vouch::verify(&vouch, &self.key)
                    .map_err(|e| ("bad-vouch-signature", e.to_string()))?;
                rows.vouches.push(vouch);
            }
        }
        Ok(())
    }
}

/// Checks an opened bundle completely (steps 2–5 of the module
/// documentation): [`check_signature`], then [`SignedBundle::rows`].
///
/// # Errors
///
/// The first check that fails, as a [`Refusal`].
pub fn verify_bundle(
    reader: &BundleReader,
    policy: &KeyPolicy,
    progress: &dyn Progress,
) -> Result<(SignedBundle, BundleRows), Refusal> {
    let signed = check_signature(reader, policy)?;
    let rows = signed.rows(reader, progress)?;
    Ok((signed, rows))
}

/// Each origin speaks only for itself: every actor is one of the bundle's
/// own users. A bundle is a whole snapshot of its instance's public rows,
/// and its instance exports a row only with the users it references, so a
/// user of that instance that is not in the bundle is not public there
/// (or not a user of it at all).
fn check_actor_origins(origin: &InstanceName, rows: &BundleRows) -> Result<(), Refusal> {
    let users: HashSet<Uuid> = rows.users.iter().map(|u| u.id).collect();
    let check = |kind: EntityKind, id: Uuid, field: &str, actor: Uuid| {
        if users.contains(&actor) {
            return Ok(());
        }
        Err(Refusal::new(
            "actor-origin",
            Some(&format!("{kind}/{id}.sync.txt")),
            format!(
                "{field} names user {actor}, who is not a user of {origin} in this bundle; a \
                 bundle speaks only for its own instance's users (SPEC §5)"
            ),
        ))
    };
    for r in &rows.requests {
        check(EntityKind::Request, r.id, "author_id", r.author_id)?;
    }
    for c in &rows.comments {
        check(EntityKind::Comment, c.id, "author_id", c.author_id)?;
    }
    for i in &rows.invites {
        check(EntityKind::Invite, i.id, "inviter_id", i.inviter_id)?;
        if let Some(invitee) = i.invitee_id {
            check(EntityKind::Invite, i.id, "invitee_id", invitee)?;
        }
    }
    for v in &rows.vouches {
        check(EntityKind::Vouch, v.id, "voucher_id", v.voucher_id)?;
    }
    Ok(())
}
