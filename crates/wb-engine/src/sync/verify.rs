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

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use wb_crypto::{PublicKey, RotationError, parse_bundle_trusted_comment, verify_minisign};
use wb_model::{Comment, InstanceName, Invite, InviteStatus, Request, User, Uuid, Vouch};
use wb_syncfmt::bundle::{BundleError, BundleReader};
use wb_syncfmt::{
    EntityKind, KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, Manifest, ManifestEntry,
    SIGNATURE_FILE_NAME, SyncFile, sha256_hex,
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
    // The signature hashes the manifest with BLAKE2b, the bundle is named
    // by its SHA-256: a large manifest (8 MB at 100k rows) is hashed both
    // ways at once.
    let manifest_bytes = reader.manifest_bytes();
    let (verdict, manifest_sha256) = if manifest_bytes.len() >= PARALLEL_HASH_BYTES {
        let (sha256, verdict) = crate::par::side_by_side(
            || sha256_hex(manifest_bytes),
            || verify_minisign(&key, manifest_bytes, signature),
        );
        (verdict, sha256)
    } else {
        (
            verify_minisign(&key, manifest_bytes, signature),
            sha256_hex(manifest_bytes),
        )
    };
    let comment = verdict.map_err(|e| {
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
        manifest_sha256,
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
        self.visit(reader, progress, true, |row| rows.push(row))?;
        Ok(rows)
    }

    /// [`SignedBundle::rows`] without keeping the rows: every file is read,
    /// checked and dropped, so memory stays bounded by one file (and the
    /// actors to check). For a reader made by
    /// [`BundleReader::from_update`] only the files it holds are read: see
    /// [`verify_update`].
    ///
    /// # Errors
    ///
    /// The first file that breaks a rule, as a [`Refusal`] naming it.
    pub fn check_files(
        &self,
        reader: &BundleReader,
        progress: &dyn Progress,
    ) -> Result<(), Refusal> {
        self.visit(reader, progress, false, |_| {})
    }

    /// Reads and checks every file the reader yields, hands each row to
    /// `sink` in manifest order, then checks the actors of those rows
    /// against the users the manifest lists.
    ///
    /// A large bundle is read by several threads, each taking the next
    /// run of [`FILES_PER_RUN`] files; the rows and the refusal are those
    /// of reading it in order: the first file that breaks a rule, in
    /// manifest order, is the one refused.
    fn visit(
        &self,
        reader: &BundleReader,
        progress: &dyn Progress,
        keep_rows: bool,
        mut sink: impl FnMut(Row),
    ) -> Result<(), Refusal> {
        let entries: Vec<&ManifestEntry> = reader.to_read().collect();
        progress.start("verifying files", entries.len() as u64);
        let runs: Vec<&[&ManifestEntry]> = entries.chunks(FILES_PER_RUN).collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, MAX_THREADS)
            .min(runs.len());
        let users = listed_users(reader.manifest());
        // The first actor, in manifest order, who is not a listed user:
        // refused once every file passed its own checks.
        let mut stranger: Option<ActorRef> = None;
        let mut take = |run: Run| -> Result<(), Refusal> {
            let (read, rows, run_stranger) = run?;
            for _ in 0..read {
                progress.step();
            }
            if stranger.is_none() {
                stranger = run_stranger;
            }
            rows.into_iter().for_each(&mut sink);
            Ok(())
        };
        if threads <= 1 {
            for run in &runs {
                take(self.check_run(reader, run, keep_rows, &users))?;
            }
        } else {
            let next = AtomicUsize::new(0);
            // The first run that failed: runs after it are not read.
            let failed = AtomicUsize::new(usize::MAX);
            let (sender, results) = std::sync::mpsc::channel::<(usize, Run)>();
            let mut done: BTreeMap<usize, Run> = BTreeMap::new();
            let mut outcome = Ok(());
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    let sender = sender.clone();
                    let (next, failed, runs, users) = (&next, &failed, &runs, &users);
                    scope.spawn(move || {
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            if index >= runs.len() || index > failed.load(Ordering::Relaxed) {
                                break;
                            }
                            let run = self.check_run(reader, runs[index], keep_rows, users);
                            if run.is_err() {
                                failed.fetch_min(index, Ordering::Relaxed);
                            }
                            if sender.send((index, run)).is_err() {
                                break;
                            }
                        }
                    });
                }
                drop(sender);
                // In manifest order, as the runs arrive.
                let mut expected = 0;
                for (index, run) in results {
                    done.insert(index, run);
                    while let Some(run) = done.remove(&expected) {
                        expected += 1;
                        if outcome.is_ok() {
                            outcome = take(run);
                        }
                    }
                }
            });
            outcome?;
        }
        progress.finish();
        match stranger {
            Some(actor) => Err(actor_refusal(&self.origin, &actor)),
            None => Ok(()),
        }
    }

    /// Reads and checks one run of files: their rows (when kept) and the
    /// first actor they name who is not one of `users`, or the first
    /// refusal.
    fn check_run(
        &self,
        reader: &BundleReader,
        run: &[&ManifestEntry],
        keep_rows: bool,
        users: &HashSet<Uuid>,
    ) -> Run {
        let mut rows = Vec::with_capacity(if keep_rows { run.len() } else { 0 });
        let mut actors = Vec::new();
        let mut stranger = None;
        for entry in run {
            let file = reader.read_entry(entry)?;
            let row = self.check_row(&file).map_err(|(code, message)| {
                Refusal::new(code, Some(&file.relative_path()), message)
            })?;
            row.actors(&mut actors);
            if stranger.is_none() {
                stranger = actors.drain(..).find(|a| !users.contains(&a.actor));
            }
            actors.clear();
            if keep_rows {
                rows.push(row);
            }
        }
        Ok((run.len(), rows, stranger))
    }

    fn check_row(&self, file: &SyncFile) -> Result<Row, (&'static str, String)> {
        let body = |message: String| ("invalid-body", message);
        let text = |e: crate::EngineError| ("invalid-text", format!("body: {e}"));
        match file.entity {
            EntityKind::User => {
                let user = user_from(file).map_err(body)?;
                check_text("display name", &user.display_name, 200).map_err(text)?;
                check_text("bio", &user.bio, MAX_TEXT_BYTES).map_err(text)?;
                Ok(Row::User(user))
            }
            EntityKind::Request => {
                let request = request_from(file).map_err(body)?;
                check_title(&request.title).map_err(text)?;
                check_text("body", &request.body, MAX_TEXT_BYTES).map_err(text)?;
                Ok(Row::Request(request))
            }
            EntityKind::Comment => {
                let comment = comment_from(file).map_err(body)?;
                check_text("body", &comment.body, MAX_TEXT_BYTES).map_err(text)?;
                Ok(Row::Comment(comment))
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
                Ok(Row::Invite(invite))
            }
            EntityKind::Vouch => {
                let vouch = vouch_from(file).map_err(body)?;
                if vouch.voucher_id == vouch.subject_id {
                    return Err(("self-vouch", "a vouch of a user for themself".into()));
                }
                crate::vouch::verify(&vouch, &self.key)
                    .map_err(|e| ("bad-vouch-signature", e.to_string()))?;
                Ok(Row::Vouch(vouch))
            }
        }
    }
}

/// From this size on, a manifest's SHA-256 is computed on a thread of its
/// own while the signature is checked.
const PARALLEL_HASH_BYTES: usize = 1 << 20;

/// Files one thread reads at a time.
const FILES_PER_RUN: usize = 512;

/// At most this many threads read a bundle.
const MAX_THREADS: usize = 8;

/// How many files of a run were read, their rows (when kept) and the first
/// actor who is not a listed user, or the run's refusal.
type Run = Result<(usize, Vec<Row>, Option<ActorRef>), Refusal>;

/// One checked row of a bundle.
enum Row {
    User(User),
    Request(Request),
    Comment(Comment),
    Invite(Invite),
    Vouch(Vouch),
}

/// An actor a row names: the row's kind and id, the field, the user.
struct ActorRef {
    kind: EntityKind,
    id: Uuid,
    field: &'static str,
    actor: Uuid,
}

impl Row {
    /// Adds the actors this row names to `out`.
    fn actors(&self, out: &mut Vec<ActorRef>) {
        let mut add = |kind, id, field, actor| {
            out.push(ActorRef {
                kind,
                id,
                field,
                actor,
            });
        };
        match self {
            Row::User(_) => {}
            Row::Request(r) => add(EntityKind::Request, r.id, "author_id", r.author_id),
            Row::Comment(c) => add(EntityKind::Comment, c.id, "author_id", c.author_id),
            Row::Invite(i) => {
                add(EntityKind::Invite, i.id, "inviter_id", i.inviter_id);
                if let Some(invitee) = i.invitee_id {
                    add(EntityKind::Invite, i.id, "invitee_id", invitee);
                }
            }
            Row::Vouch(v) => add(EntityKind::Vouch, v.id, "voucher_id", v.voucher_id),
        }
    }
}

impl BundleRows {
    fn push(&mut self, row: Row) {
        match row {
            Row::User(u) => self.users.push(u),
            Row::Request(r) => self.requests.push(r),
            Row::Comment(c) => self.comments.push(c),
            Row::Invite(i) => self.invites.push(i),
            Row::Vouch(v) => self.vouches.push(v),
        }
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

/// What [`verify_update`] found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum UpdateVerdict {
    /// The update passed: the new manifest and signature (steps 2–3), every
    /// changed file (step 4) and the actors of the changed files (step 5).
    /// With the base's files, which passed before under the same instance,
    /// key and schema, the whole bundle passes.
    Verified(Box<SignedBundle>),
    /// The update cannot be checked from its changed files alone: the
    /// bundle must be verified whole ([`verify_bundle`]). Says why.
    NeedsWhole(&'static str),
}

/// Verifies a bundle given as an update of `base` (a reader made by
/// [`BundleReader::from_update`]): `base` is the manifest of a bundle the
/// caller verified completely before, under the same rules, for the same
/// origin. The checks are those of [`verify_bundle`], with the files the
/// base already had (same path, length and SHA-256, so the same bytes)
/// taken as checked: every rule about one file depends only on its bytes,
/// its path, the instance, the schema version and the key (a vouch's
/// signature), and the one rule across files — every actor is a user the
/// bundle lists — still holds for them while no user the base listed is
/// gone.
///
/// So when the instance, the key or the schema version differ from the
/// base's, or a user of the base is no longer listed, the answer is
/// [`UpdateVerdict::NeedsWhole`]: the caller verifies the whole bundle.
///
/// # Errors
///
/// The first check that fails, as a [`Refusal`]; a reader that is not an
/// update is refused as `internal`.
pub fn verify_update(
    base: &Manifest,
    reader: &BundleReader,
    policy: &KeyPolicy,
    progress: &dyn Progress,
) -> Result<UpdateVerdict, Refusal> {
    if !reader.is_update() {
        return Err(Refusal::new(
            "internal",
            None,
            "verify_update needs a reader made by BundleReader::from_update",
        ));
    }
    let manifest = reader.manifest();
    if manifest.instance != base.instance {
        return Ok(UpdateVerdict::NeedsWhole(
            "another instance than the base's",
        ));
    }
    if manifest.public_key != base.public_key {
        return Ok(UpdateVerdict::NeedsWhole("another key than the base's"));
    }
    if manifest.schema_version != base.schema_version {
        return Ok(UpdateVerdict::NeedsWhole(
            "another schema version than the base's",
        ));
    }
    if !listed_users(base).is_subset(&listed_users(manifest)) {
        return Ok(UpdateVerdict::NeedsWhole("a user of the base is gone"));
    }
    let signed = check_signature(reader, policy)?;
    signed.check_files(reader, progress)?;
    Ok(UpdateVerdict::Verified(Box::new(signed)))
}

/// The refusal of the rule that each origin speaks only for itself: every
/// actor is one of the bundle's own users. A bundle is a whole snapshot of
/// its instance's public rows,
/// and its instance exports a row only with the users it references, so a
/// user of that instance that is not in the bundle is not public there
/// (or not a user of it at all).
///
/// The users are those the manifest lists (`user/<id>.sync.txt`): each
/// listed file's id is checked against its path, so for a bundle read
/// whole they are exactly its user rows, and for an update they include
/// the users kept from the base.
fn actor_refusal(origin: &InstanceName, a: &ActorRef) -> Refusal {
    Refusal::new(
        "actor-origin",
        Some(&format!("{}/{}.sync.txt", a.kind, a.id)),
        format!(
            "{} names user {}, who is not a user of {origin} in this bundle; a \
             bundle speaks only for its own instance's users (SPEC §5)",
            a.field, a.actor
        ),
    )
}

/// The ids of the users a manifest lists.
fn listed_users(manifest: &Manifest) -> HashSet<Uuid> {
    let prefix = format!("{}/", EntityKind::User);
    manifest
        .files
        .iter()
        .filter_map(|e| e.path.strip_prefix(&prefix))
        .filter_map(|rest| rest.strip_suffix(wb_syncfmt::SYNC_FILE_SUFFIX))
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect()
}
