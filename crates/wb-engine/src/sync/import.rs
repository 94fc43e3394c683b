//! `wb sync import`: check everything about a bundle, then apply it at once.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use wb_crypto::KeyStore;
use wb_model::{InstanceName, Timestamp, Uuid};
use wb_store::{
    ImportBatch, ImportCounts, ImportPin, OriginState, PinChange, PinSource, StoreError,
};
use wb_syncfmt::bundle::{BundleReader, Limits, MAX_SIGNATURE_BYTES};
use wb_syncfmt::{EntityKind, MANIFEST_FILE_NAME, Manifest, SIGNATURE_FILE_NAME, sha256_hex};

use super::verify::{BundleRows, KeyDecision, KeyPolicy, Refusal, check_signature};
use super::{Progress, instance_key};
use crate::{EngineError, Instance, Result};

/// Options of an import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The key the bundle must be signed with (minisign one-line form), e.g.
    /// from `--key`. With no key pinned for the bundle's instance yet, it
    /// becomes the pin; with another key pinned, the bundle is refused.
    pub expected_key: Option<String>,
    /// With no key pinned for the bundle's instance and no expected key,
    /// pin the bundle's own key (`--accept-new-keys`). Without it such a
    /// bundle is refused, naming its key and both ways to proceed.
    pub accept_new_keys: bool,
    /// Size limits for the bundle's files.
    pub limits: Limits,
}

/// A key rotation an import followed: the pin moved from one key to
/// another through the bundle's rotation chain (`docs/keys.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowedRotation {
    /// The key pinned before (minisign one-line form).
    pub from: String,
    /// The key pinned now, the bundle's.
    pub to: String,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The bundle was applied.
    Applied {
        /// Whose bundle.
        origin: InstanceName,
        /// Its sequence.
        sequence: u64,
        /// Rows added, updated, unchanged, retracted.
        counts: ImportCounts,
        /// Set when this import pinned the origin's key (it had no pin).
        pinned_key: Option<String>,
        /// Set when the origin rotated its key and this import followed
        /// the bundle's rotation chain from the pinned key to the bundle's,
        /// which is now the pin.
        rotation: Option<FollowedRotation>,
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

/// Verifies the bundle in the directory `dir` and applies it to `instance`
/// in one transaction. Any failure leaves the database as it was and names
/// the file (and line) at fault.
///
/// Checked, in order: the bundle's layout and file list; that it is not this
/// instance's own bundle; then [`verify`](super::verify)'s checks of the key
/// (against the pinned one, [`ImportOptions`]), the signature and the trusted
/// comment; the sequence against the last applied one (older or
/// equal-but-different is refused, the same bundle again is a no-op); then
/// every file and its body, actor origins; and that every other row it
/// references (a comment's request, a vouch's subject) is in the bundle or
/// already here. The signing key of this instance is created, if missing,
/// only once the bundle is applied.
pub async fn import_bundle(
    instance: &Instance,
    keys: &KeyStore,
    dir: &Path,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportOutcome> {
    if let Some(done) = already_applied(instance, dir, options).await? {
        return Ok(done);
    }
    let reader = BundleReader::open(dir, &options.limits).map_err(|e| refused(dir, e.into()))?;
    import_reader(instance, keys, dir, &reader, options, progress).await
}

/// [`import_bundle`] of a bundle held in memory (a download): `files` maps
/// each path in the bundle to its bytes, and `label` names the bundle in
/// messages (e.g. `alpha.example from https://hub.example`). Nothing is
/// written to disk.
pub async fn import_files(
    instance: &Instance,
    keys: &KeyStore,
    label: &str,
    files: BTreeMap<String, Vec<u8>>,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportOutcome> {
    let location = Path::new(label);
    let reader = BundleReader::from_files(files, &options.limits)
        .map_err(|e| refused(location, e.into()))?;
    import_reader(instance, keys, location, &reader, options, progress).await
}

fn refused(location: &Path, refusal: Refusal) -> EngineError {
    EngineError::Refused {
        location: location.to_owned(),
        refusal,
    }
}

async fn import_reader(
    instance: &Instance,
    keys: &KeyStore,
    location: &Path,
    reader: &BundleReader,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportOutcome> {
    let manifest = reader.manifest();
    let named = InstanceName::parse(&manifest.instance).map_err(|e| {
        refused(
            location,
            Refusal::new(
                "invalid-instance",
                Some(MANIFEST_FILE_NAME),
                format!("Instance: {e}"),
            ),
        )
    })?;
    if named == *instance.name() {
        return Err(refused(
            location,
            Refusal::new(
                "own-bundle",
                None,
                format!("this is {named}'s own bundle; an instance never imports its own rows"),
            ),
        ));
    }
    let store = instance.store();
    let state = store.origin_state(&named).await?;
    // The pin in the database is the one source of truth (docs/peers.md).
    let pin = store.pin(&named).await?;
    let policy = KeyPolicy {
        pinned: pin.as_ref().map(|p| p.public_key.clone()),
        expected: options.expected_key.clone(),
        accept_new: options.accept_new_keys,
    };
    let signed = check_signature(reader, &policy).map_err(|e| refused(location, e))?;
    let origin = signed.origin.clone();
    let import_pin = match &signed.key_decision {
        KeyDecision::Pinned => ImportPin::Pinned(signed.public_key.clone()),
        decision @ (KeyDecision::NewPin | KeyDecision::Rotated { .. }) => {
            if let Some(other) = store
                .pins()
                .await?
                .into_iter()
                .find(|p| p.public_key == signed.public_key)
            {
                return Err(refused(
                    location,
                    Refusal::new(
                        "key-pinned-elsewhere",
                        Some(MANIFEST_FILE_NAME),
                        format!(
                            "the bundle of {origin} is signed by key {}, which is pinned for {}; \
                             one key cannot be pinned for two origins, refusing it",
                            signed.public_key, other.instance
                        ),
                    ),
                ));
            }
            // A first pin, or a rotation: the pin moves from the key it
            // was verified against to the bundle's, compare-and-set, with
            // the rows (the store refuses if the pin changed meanwhile).
            let (replaces, source) = match decision {
                KeyDecision::Rotated { from, .. } => (Some(from.clone()), PinSource::Rotation),
                _ if options.expected_key.is_some() => (None, PinSource::ImportKey),
                _ => (None, PinSource::AcceptNew),
            };
            ImportPin::Change(PinChange {
                instance: origin.clone(),
                replaces,
                public_key: signed.public_key.clone(),
                source,
                at: Timestamp::now(),
                reset_sequence: false,
            })
        }
    };
    if let Some(state) = &state {
        if signed.sequence == state.last_sequence && signed.manifest_sha256 == state.manifest_sha256
        {
            return Ok(ImportOutcome::AlreadyApplied {
                origin,
                sequence: signed.sequence,
            });
        }
        if signed.sequence <= state.last_sequence {
            return Err(refused(
                location,
                Refusal::new(
                    "stale-sequence",
                    Some(MANIFEST_FILE_NAME),
                    format!(
                        "bundle sequence {} of {origin} is not newer than sequence {} already \
                         applied; a stale copy cannot bring retracted rows back (fetch its latest \
                         bundle)",
                        signed.sequence, state.last_sequence
                    ),
                ),
            ));
        }
    }
    let rows = signed
        .rows(reader, progress)
        .map_err(|e| refused(location, e))?;
    check_references(instance, &rows)
        .await?
        .map_or(Ok(()), |e| Err(refused(location, e)))?;

    let pinned_key =
        (signed.key_decision == KeyDecision::NewPin).then(|| signed.public_key.clone());
    // A rotation moves the pin to the bundle's key with the rows below.
    let rotation = match &signed.key_decision {
        KeyDecision::Rotated { from, .. } => Some(FollowedRotation {
            from: from.clone(),
            to: signed.public_key.clone(),
        }),
        _ => None,
    };
    let batch = ImportBatch {
        pin: import_pin,
        state: OriginState {
            instance: origin.clone(),
            public_key: signed.public_key,
            last_sequence: signed.sequence,
            manifest_sha256: signed.manifest_sha256,
            signature: signed.signature,
            imported_at: Timestamp::now(),
            key_rotations: signed.key_rotations,
        },
        users: rows.users,
        requests: rows.requests,
        comments: rows.comments,
        invites: rows.invites,
        vouches: rows.vouches,
    };
    // The store checks the pin and the sequence again, under the origin's
    // lock: another import or pin change may have come first.
    let counts = match store.apply_import(&batch).await {
        Ok(counts) => counts,
        Err(StoreError::AlreadyApplied { .. }) => {
            return Ok(ImportOutcome::AlreadyApplied {
                origin,
                sequence: signed.sequence,
            });
        }
        Err(e @ StoreError::StaleSequence { .. }) => {
            return Err(refused(
                location,
                Refusal::new(
                    "stale-sequence",
                    None,
                    format!("{e}: another import applied first"),
                ),
            ));
        }
        Err(e @ StoreError::KeyPinnedElsewhere { .. }) => {
            return Err(refused(
                location,
                Refusal::new(
                    "key-pinned-elsewhere",
                    Some(MANIFEST_FILE_NAME),
                    e.to_string(),
                ),
            ));
        }
        Err(e @ StoreError::PinChanged { .. }) => {
            return Err(refused(
                location,
                Refusal::new("pin-changed", None, e.to_string()),
            ));
        }
        Err(other) => return Err(EngineError::Store(other)),
    };
    let (_, key_created) = instance_key(keys, instance.name())?;
    Ok(ImportOutcome::Applied {
        origin,
        sequence: signed.sequence,
        counts,
        pinned_key,
        rotation,
        key_created,
    })
}

/// The quick answer to re-importing the bundle applied last: its manifest
/// has the applied sequence and SHA-256 and its `bundle.sig` is byte for
/// byte the signature verified then, with the key pinned now (and
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
    let pinned = instance.store().pin(&origin).await?;
    let same = manifest.sequence == state.last_sequence
        && manifest.public_key == state.public_key
        && pinned.is_some_and(|pin| pin.public_key == manifest.public_key)
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

/// Every row the bundle refers to outside itself must already be here: a
/// comment's request and a vouch's subject may be another instance's rows
/// (actors are the bundle's own users, checked by `verify`). Otherwise the
/// database would refuse it half-way, with a worse message.
async fn check_references(instance: &Instance, rows: &BundleRows) -> Result<Option<Refusal>> {
    let store = instance.store();
    let users: HashSet<Uuid> = rows.users.iter().map(|u| u.id).collect();
    let requests: HashSet<Uuid> = rows.requests.iter().map(|r| r.id).collect();
    let missing = |kind: EntityKind, id: Uuid, field: &str, target: &str, target_id: Uuid| {
        Refusal::new(
            "unknown-reference",
            Some(&format!("{kind}/{id}.sync.txt")),
            format!(
                "{field} refers to {target} {target_id}, which is neither in this bundle nor on \
                 this instance; import the bundle of the instance it comes from first"
            ),
        )
    };
    for c in &rows.comments {
        if !requests.contains(&c.request_id) && store.request(c.request_id).await?.is_none() {
            return Ok(Some(missing(
                EntityKind::Comment,
                c.id,
                "request_id",
                "request",
                c.request_id,
            )));
        }
    }
    for v in &rows.vouches {
        if !users.contains(&v.subject_id) && store.user(v.subject_id).await?.is_none() {
            return Ok(Some(missing(
                EntityKind::Vouch,
                v.id,
                "subject_id",
                "user",
                v.subject_id,
            )));
        }
    }
    Ok(None)
}
