//! `wb sync import`: check everything about a bundle, then apply it at once.

use std::collections::HashSet;
use std::path::Path;

use wb_crypto::{
    KeyStore, PublicKey, TrustedComment, parse_bundle_trusted_comment, verify_minisign,
};
use wb_model::{InstanceName, Timestamp, Uuid};
use wb_store::{ImportBatch, ImportCounts, OriginState, StoreError};
use wb_syncfmt::bundle::{BundleReader, Limits, MAX_SIGNATURE_BYTES};
use wb_syncfmt::{
    EntityKind, MANIFEST_FILE_NAME, Manifest, SIGNATURE_FILE_NAME, SyncFile, sha256_hex,
};

use super::codec::{comment_from, invite_from, request_from, user_from, vouch_from};
use super::{Progress, instance_key};
use crate::{EngineError, Instance, Result};

/// Options of an import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The key the bundle must be signed with (minisign one-line form), e.g.
    /// from the peer registry. Without it, the key pinned by an earlier
    /// import is required, and a first import pins the bundle's key.
    pub expected_key: Option<String>,
    /// Size limits for the bundle's files.
    pub limits: Limits,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportOutcome {
    /// The bundle was applied.
    Applied {
        /// Whose bundle.
        origin: InstanceName,
        /// Its sequence.
        sequence: u64,
        /// Rows added, updated, unchanged, retracted.
        counts: ImportCounts,
        /// Set when this import pinned the origin's key for the first time.
        pinned_key: Option<String>,
        /// Set when this import created this instance's own signing key.
        key_created: Option<std::path::PathBuf>,
    },
    /// This very bundle was applied before: nothing to do.
    AlreadyApplied {
        /// Whose bundle.
        origin: InstanceName,
        /// Its sequence.
        sequence: u64,
    },
}

fn refused(path: &Path, reason: impl Into<String>) -> EngineError {
    EngineError::BundleRefused {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Verifies the bundle in `dir` and applies it to `instance` in one
/// transaction. Any failure leaves the database as it was and names the
/// file (and line) at fault.
///
/// Checked, in order: the bundle's layout and file list; that it is not this
/// instance's own bundle; its key against the expected or pinned one; the
/// signature over the manifest, whose trusted comment must name the same
/// instance and sequence; the sequence against the last applied one (older
/// or equal-but-different is refused, the same bundle again is a no-op);
/// then every file's length, SHA-256, syntax, schema version and scope; the
/// body of each row; and that every row it references is in the bundle or
/// already here.
pub async fn import_bundle(
    instance: &Instance,
    keys: &KeyStore,
    dir: &Path,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportOutcome> {
    let (_, key_created) = instance_key(keys, instance.name())?;
    if let Some(done) = already_applied(instance, dir, options).await? {
        return Ok(done);
    }
    let reader =
        BundleReader::open(dir, &options.limits).map_err(|e| refused(dir, e.to_string()))?;
    let manifest = reader.manifest();
    let origin = InstanceName::parse(&manifest.instance)
        .map_err(|e| refused(dir, format!("manifest Instance: {e}")))?;
    if origin == *instance.name() {
        return Err(refused(
            dir,
            format!("this is {origin}'s own bundle; an instance never imports its own rows"),
        ));
    }
    let store = instance.store();
    let state = store.origin_state(&origin).await?;

    // The key: the caller's expectation, else the pin, else pin this one.
    let offered = &manifest.public_key;
    let mut pinned_key = None;
    match (&options.expected_key, &state) {
        (Some(expected), _) if expected != offered => {
            return Err(refused(
                dir,
                format!(
                    "bundle of {origin} is signed by key {offered}, but the key expected for \
                     {origin} is {expected}; refusing it (if {origin} changed its key, check \
                     with its operator and update the pin)"
                ),
            ));
        }
        (_, Some(state)) if state.public_key != *offered => {
            return Err(refused(
                dir,
                format!(
                    "bundle of {origin} is signed by key {offered}, but key {} is pinned for \
                     {origin}; refusing it (if {origin} changed its key, check with its operator)",
                    state.public_key
                ),
            ));
        }
        (_, None) => pinned_key = Some(offered.clone()),
        _ => {}
    }
    let key = PublicKey::from_minisign_base64(offered)
        .map_err(|e| refused(dir, format!("manifest Public-Key: {e}")))?;
    let signature = std::str::from_utf8(reader.signature_bytes())
        .map_err(|_| refused(&dir.join("bundle.sig"), "not UTF-8 text"))?;
    let comment = verify_minisign(&key, reader.manifest_bytes(), signature)
        .map_err(|e| refused(&dir.join("bundle.sig"), format!("signature rejected: {e}")))?;
    check_trusted_comment(dir, &comment, &origin, manifest.sequence)?;

    let manifest_sha256 = sha256_hex(reader.manifest_bytes());
    if let Some(state) = &state {
        if manifest.sequence == state.last_sequence && manifest_sha256 == state.manifest_sha256 {
            return Ok(ImportOutcome::AlreadyApplied {
                origin,
                sequence: manifest.sequence,
            });
        }
        if manifest.sequence <= state.last_sequence {
            return Err(refused(
                dir,
                format!(
                    "bundle sequence {} of {origin} is not newer than sequence {} already \
                     applied; a stale copy cannot bring retracted rows back (fetch its latest \
                     bundle)",
                    manifest.sequence, state.last_sequence
                ),
            ));
        }
    }

    let mut batch = ImportBatch {
        state: OriginState {
            instance: origin.clone(),
            public_key: offered.clone(),
            last_sequence: manifest.sequence,
            manifest_sha256,
            signature: signature.to_owned(),
            imported_at: Timestamp::now(),
        },
        users: Vec::new(),
        requests: Vec::new(),
        comments: Vec::new(),
        invites: Vec::new(),
        vouches: Vec::new(),
    };
    progress.start("verifying files", manifest.files.len() as u64);
    for entry in reader.entries() {
        let file = entry.map_err(|e| refused(dir, e.to_string()))?;
        add_row(&mut batch, &key, &file)
            .map_err(|reason| refused(&dir.join(file.relative_path()), reason))?;
        progress.step();
    }
    progress.finish();
    check_references(instance, dir, &batch).await?;

    let counts = store.apply_import(&batch).await.map_err(|e| match e {
        StoreError::StaleSequence { .. } => {
            refused(dir, format!("{e}: another import applied first"))
        }
        other => EngineError::Store(other),
    })?;
    Ok(ImportOutcome::Applied {
        origin,
        sequence: manifest.sequence,
        counts,
        pinned_key,
        key_created,
    })
}

/// The quick answer to re-importing the bundle applied last: its manifest
/// has the applied sequence and SHA-256 and its `bundle.sig` is byte for
/// byte the signature verified then, with the same key as pinned (and as
/// expected, if a key is expected). Then nothing in the directory can
/// change the database, so its files are not walked, read or hashed.
///
/// `None` whenever anything differs or cannot be read: the full checks
/// then run and name the problem.
async fn already_applied(
    instance: &Instance,
    dir: &Path,
    options: &ImportOptions,
) -> Result<Option<ImportOutcome>> {
    let read = |name: &str, limit: u64| -> Option<Vec<u8>> {
        let path = dir.join(name);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > limit {
            return None;
        }
        std::fs::read(&path).ok()
    };
    let Some(manifest_bytes) = read(MANIFEST_FILE_NAME, options.limits.max_manifest_bytes) else {
        return Ok(None);
    };
    let Ok(manifest) = Manifest::parse_with_limit(
        &manifest_bytes,
        MANIFEST_FILE_NAME,
        options.limits.max_manifest_bytes,
    ) else {
        return Ok(None);
    };
    let Ok(origin) = InstanceName::parse(&manifest.instance) else {
        return Ok(None);
    };
    if origin == *instance.name() {
        return Ok(None);
    }
    let Some(state) = instance.store().origin_state(&origin).await? else {
        return Ok(None);
    };
    let same = manifest.sequence == state.last_sequence
        && manifest.public_key == state.public_key
        && options
            .expected_key
            .as_ref()
            .is_none_or(|expected| *expected == manifest.public_key)
        && sha256_hex(&manifest_bytes) == state.manifest_sha256
        && read(SIGNATURE_FILE_NAME, MAX_SIGNATURE_BYTES).as_deref()
            == Some(state.signature.as_bytes());
    Ok(same.then_some(ImportOutcome::AlreadyApplied {
        origin,
        sequence: manifest.sequence,
    }))
}

fn check_trusted_comment(
    dir: &Path,
    comment: &TrustedComment,
    origin: &InstanceName,
    sequence: u64,
) -> Result<()> {
    let (signed_instance, signed_sequence) = parse_bundle_trusted_comment(comment)
        .map_err(|e| refused(&dir.join("bundle.sig"), format!("trusted comment: {e}")))?;
    if signed_instance != origin.as_str() || signed_sequence != sequence {
        return Err(refused(
            &dir.join("bundle.sig"),
            format!(
                "signature is for {signed_instance} sequence {signed_sequence}, but the manifest \
                 is {origin} sequence {sequence}"
            ),
        ));
    }
    Ok(())
}

fn add_row(
    batch: &mut ImportBatch,
    key: &PublicKey,
    file: &SyncFile,
) -> std::result::Result<(), String> {
    match file.entity {
        EntityKind::User => batch.users.push(user_from(file)?),
        EntityKind::Request => batch.requests.push(request_from(file)?),
        EntityKind::Comment => batch.comments.push(comment_from(file)?),
        EntityKind::Invite => batch.invites.push(invite_from(file)?),
        EntityKind::Vouch => {
            let vouch = vouch_from(file)?;
            if vouch.voucher_id == vouch.subject_id {
                return Err("a vouch of a user for themself".into());
            }
            crate::vouch::verify(&vouch, key).map_err(|e| e.to_string())?;
            batch.vouches.push(vouch);
        }
    }
    Ok(())
}

/// Every referenced row must be in the bundle or already on this instance;
/// otherwise the database would refuse it half-way, with a worse message.
async fn check_references(instance: &Instance, dir: &Path, batch: &ImportBatch) -> Result<()> {
    let store = instance.store();
    let users: HashSet<Uuid> = batch.users.iter().map(|u| u.id).collect();
    let requests: HashSet<Uuid> = batch.requests.iter().map(|r| r.id).collect();
    let missing = |kind: EntityKind, id: Uuid, field: &str, target: &str, target_id: Uuid| {
        refused(
            &dir.join(format!("{kind}/{id}.sync.txt")),
            format!(
                "{field} refers to {target} {target_id}, which is neither in this bundle nor on \
                 this instance; import the bundle of the instance it comes from first"
            ),
        )
    };
    let user_here = |id: Uuid| {
        let known = users.contains(&id);
        async move { Ok::<bool, EngineError>(known || store.user(id).await?.is_some()) }
    };
    for r in &batch.requests {
        if !user_here(r.author_id).await? {
            return Err(missing(
                EntityKind::Request,
                r.id,
                "author_id",
                "user",
                r.author_id,
            ));
        }
    }
    for c in &batch.comments {
        if !requests.contains(&c.request_id) && store.request(c.request_id).await?.is_none() {
            return Err(missing(
                EntityKind::Comment,
                c.id,
                "request_id",
                "request",
                c.request_id,
            ));
        }
        if !user_here(c.author_id).await? {
            return Err(missing(
                EntityKind::Comment,
                c.id,
                "author_id",
                "user",
                c.author_id,
            ));
        }
    }
    for i in &batch.invites {
        if !user_here(i.inviter_id).await? {
            return Err(missing(
                EntityKind::Invite,
                i.id,
                "inviter_id",
                "user",
                i.inviter_id,
            ));
        }
        if let Some(invitee) = i.invitee_id
            && !user_here(invitee).await?
        {
            return Err(missing(
                EntityKind::Invite,
                i.id,
                "invitee_id",
                "user",
                invitee,
            ));
        }
    }
    for v in &batch.vouches {
        for (field, id) in [("voucher_id", v.voucher_id), ("subject_id", v.subject_id)] {
            if !user_here(id).await? {
                return Err(missing(EntityKind::Vouch, v.id, field, "user", id));
            }
        }
    }
    Ok(())
}
