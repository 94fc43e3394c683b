//! `wb sync export`: the effectively public rows as a signed bundle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use wb_crypto::{KeyStore, bundle_trusted_comment, sign_minisign};
use wb_model::{
    Comment, EffectiveScope, InstanceName, Invite, PublicComment, PublicInvite, PublicRequest,
    PublicUser, PublicVouch, Reference, Relation, Request, SyncScope, User, Uuid, Vouch,
    effective_scope,
};
use wb_syncfmt::bundle::{BundleWriter, write_signature};
use wb_syncfmt::{
    CURRENT_SCHEMA_VERSION, EntityKind, Manifest, SIGNATURE_FILE_NAME, SyncFile, sha256_hex,
};

use super::codec::to_file;
use super::{Progress, instance_key};
use crate::{EngineError, Instance, Result};

/// What an export did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// Whose rows were exported.
    pub origin: InstanceName,
    /// The bundle's sequence number.
    pub sequence: u64,
    /// Whether the content differs from the bundle the directory held.
    pub changed: bool,
    /// Row files in the bundle.
    pub files: u64,
    /// Files written because they were new or changed.
    pub written: u64,
    /// Files removed because their rows are no longer exported.
    pub removed: u64,
    /// Set when this export created the instance's signing key.
    pub key_created: Option<PathBuf>,
}

fn reference(relation: Relation, id: Uuid, known: &HashMap<Uuid, bool>) -> Reference {
    let exported = known.get(&id).copied().unwrap_or(false);
    let own_scope = if exported {
        SyncScope::Public
    } else {
        SyncScope::Private
    };
    Reference {
        relation,
        id,
        exported,
        own_scope,
    }
}

/// Writes a bundle of `origin`'s rows into `out`: this instance's own
/// effectively public rows (`origin` = `None`), or its verbatim copy of the
/// rows it imported from another instance, with that instance's manifest and
/// signature, so it can relay them.
///
/// Deterministic: the same database gives the same bytes. Incremental:
/// unchanged files are not rewritten, files of rows no longer exported are
/// removed, and the sequence number is bumped only when the content changes.
pub async fn export_bundle(
    instance: &Instance,
    keys: &KeyStore,
    out: &Path,
    origin: Option<&InstanceName>,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    match origin {
        Some(other) if other != instance.name() => {
            export_copy(instance, out, other, progress).await
        }
        _ => export_local(instance, keys, out, progress).await,
    }
}

fn refused(path: &Path, reason: impl Into<String>) -> EngineError {
    EngineError::BundleRefused {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Every row of the instance, read once per export.
struct Rows {
    users: Vec<User>,
    requests: Vec<Request>,
    comments: Vec<Comment>,
    invites: Vec<Invite>,
    vouches: Vec<Vouch>,
}

/// One row to export, borrowed from [`Rows`]: rows are rendered into files
/// one at a time as they are written, so an export holds the rows and one
/// file, never every file at once.
enum Exported<'a> {
    User(&'a User),
    Request(&'a Request),
    Comment(&'a Comment),
    Invite(&'a Invite),
    Vouch(&'a Vouch),
}

impl Exported<'_> {
    /// The row's file.
    fn to_file(&self, origin: &InstanceName) -> std::result::Result<SyncFile, String> {
        match self {
            Exported::User(u) => to_file(
                EntityKind::User,
                u.id,
                origin,
                u.updated_at,
                &PublicUser::from(*u),
            ),
            Exported::Request(r) => to_file(
                EntityKind::Request,
                r.id,
                origin,
                r.updated_at,
                &PublicRequest::from(*r),
            ),
            Exported::Comment(c) => to_file(
                EntityKind::Comment,
                c.id,
                origin,
                c.updated_at,
                &PublicComment::from(*c),
            ),
            Exported::Invite(i) => to_file(
                EntityKind::Invite,
                i.id,
                origin,
                i.updated_at,
                &PublicInvite::from(*i),
            ),
            Exported::Vouch(v) => to_file(
                EntityKind::Vouch,
                v.id,
                origin,
                v.updated_at,
                &PublicVouch::from(*v),
            ),
        }
    }
}

async fn all_rows(instance: &Instance) -> Result<Rows> {
    let store = instance.store();
    Ok(Rows {
        users: store.users().await?,
        requests: store.requests().await?,
        comments: store.comments().await?,
        invites: store.invites().await?,
        vouches: store.vouches().await?,
    })
}

/// This instance's effectively public rows, in any order.
fn local_rows<'a>(rows: &'a Rows, local: &InstanceName) -> Vec<Exported<'a>> {
    let Rows {
        users,
        requests,
        comments,
        invites,
        vouches,
    } = rows;

    // Whether each referenced row is exported. A user counts by its own
    // scope: a local public profile is exported, an imported one is public
    // unless its origin withdrew it.
    let user_ok: HashMap<Uuid, bool> = users
        .iter()
        .map(|u| (u.id, u.scope == SyncScope::Public))
        .collect();
    let mut request_ok: HashMap<Uuid, bool> = HashMap::with_capacity(requests.len());
    let mut out = Vec::new();

    for u in users {
        if u.origin == *local && u.scope == SyncScope::Public {
            out.push(Exported::User(u));
        }
    }
    for r in requests {
        let scope = if r.origin == *local {
            effective_scope(
                r.scope,
                false,
                &[reference(Relation::Author, r.author_id, &user_ok)],
            )
        } else {
            effective_scope(r.scope, true, &[])
        };
        request_ok.insert(r.id, scope.is_exported());
        if r.origin == *local && scope == EffectiveScope::Public {
            out.push(Exported::Request(r));
        }
    }
    for c in comments.iter().filter(|c| c.origin == *local) {
        let refs = [
            reference(Relation::Request, c.request_id, &request_ok),
            reference(Relation::Author, c.author_id, &user_ok),
        ];
        if effective_scope(c.scope, false, &refs).is_exported() {
            out.push(Exported::Comment(c));
        }
    }
    for i in invites.iter().filter(|i| i.origin == *local) {
        let mut refs = vec![reference(Relation::Inviter, i.inviter_id, &user_ok)];
        refs.extend(
            i.invitee_id
                .map(|id| reference(Relation::Invitee, id, &user_ok)),
        );
        if effective_scope(i.scope, false, &refs).is_exported() {
            out.push(Exported::Invite(i));
        }
    }
    for v in vouches.iter().filter(|v| v.origin == *local) {
        let refs = [
            reference(Relation::Voucher, v.voucher_id, &user_ok),
            reference(Relation::Subject, v.subject_id, &user_ok),
        ];
        if effective_scope(v.scope, false, &refs).is_exported() {
            out.push(Exported::Vouch(v));
        }
    }
    out
}

async fn export_local(
    instance: &Instance,
    keys: &KeyStore,
    out: &Path,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    let store = instance.store();
    let name = instance.name();
    let (key, key_created) = instance_key(keys, name)?;
    let public_key = key.public_key().to_minisign_base64();

    let rows = all_rows(instance).await?;
    let files = local_rows(&rows, name);
    let mut writer = BundleWriter::create(out).map_err(|e| refused(out, e.to_string()))?;
    progress.start("exporting", files.len() as u64);
    for row in &files {
        let file = row
            .to_file(name)
            .map_err(|e| refused(Path::new("(export)"), e))?;
        writer.add(&file).map_err(|e| refused(out, e.to_string()))?;
        progress.step();
    }
    progress.finish();

    // The content is unchanged when the manifest it would have under the
    // last sequence is the one last exported: then keep the number, and the
    // same bytes (Ed25519 signatures are deterministic) wherever it goes.
    let (stored, stored_digest) = store.export_state().await?;
    let candidate = Manifest {
        instance: name.to_string(),
        public_key: public_key.clone(),
        schema_version: CURRENT_SCHEMA_VERSION,
        sequence: stored.max(1),
        files: writer.files(),
    };
    let candidate_text = candidate
        .to_text()
        .map_err(|e| refused(out, e.to_string()))?;
    let unchanged = stored > 0
        && stored_digest.as_deref() == Some(sha256_hex(candidate_text.as_bytes()).as_str());
    let sequence = if unchanged { stored } else { stored + 1 };
    if !unchanged {
        store.set_export_state(sequence, None).await?;
    }
    let written = writer
        .finish(name.as_str(), &public_key, sequence)
        .map_err(|e| refused(out, e.to_string()))?;
    let digest = sha256_hex(&written.manifest_bytes);
    if !unchanged {
        store.set_export_state(sequence, Some(&digest)).await?;
    }
    let comment = bundle_trusted_comment(name.as_str(), sequence)?;
    let signature = sign_minisign(&key, &written.manifest_bytes, &comment);
    let sig_path = out.join(SIGNATURE_FILE_NAME);
    if std::fs::read(&sig_path).ok().as_deref() != Some(signature.as_bytes()) {
        write_signature(out, signature.as_bytes()).map_err(|e| refused(out, e.to_string()))?;
    }
    Ok(ExportSummary {
        origin: name.clone(),
        sequence,
        changed: !unchanged,
        files: files.len() as u64,
        written: written.written,
        removed: written.removed,
        key_created,
    })
}

/// This instance's copy of `origin`'s rows, byte-identical to the bundle it
/// last imported from there, with that bundle's signature.
async fn export_copy(
    instance: &Instance,
    out: &Path,
    origin: &InstanceName,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    let store = instance.store();
    let state = store.origin_state(origin).await?.ok_or_else(|| {
        refused(
            out,
            format!("nothing was imported from {origin}; import one of its bundles first"),
        )
    })?;
    let public = |scope: SyncScope| scope == SyncScope::Public;
    let mut files = Vec::new();
    let fail = |e: String| refused(out, e);
    for u in store
        .users()
        .await?
        .iter()
        .filter(|u| u.origin == *origin && public(u.scope))
    {
        files.push(
            to_file(
                EntityKind::User,
                u.id,
                origin,
                u.updated_at,
                &PublicUser::from(u),
            )
            .map_err(fail)?,
        );
    }
    for r in store
        .requests()
        .await?
        .iter()
        .filter(|r| r.origin == *origin && public(r.scope))
    {
        files.push(
            to_file(
                EntityKind::Request,
                r.id,
                origin,
                r.updated_at,
                &PublicRequest::from(r),
            )
            .map_err(fail)?,
        );
    }
    for c in store
        .comments()
        .await?
        .iter()
        .filter(|c| c.origin == *origin && public(c.scope))
    {
        files.push(
            to_file(
                EntityKind::Comment,
                c.id,
                origin,
                c.updated_at,
                &PublicComment::from(c),
            )
            .map_err(fail)?,
        );
    }
    for i in store
        .invites()
        .await?
        .iter()
        .filter(|i| i.origin == *origin && public(i.scope))
    {
        files.push(
            to_file(
                EntityKind::Invite,
                i.id,
                origin,
                i.updated_at,
                &PublicInvite::from(i),
            )
            .map_err(fail)?,
        );
    }
    for v in store
        .vouches()
        .await?
        .iter()
        .filter(|v| v.origin == *origin && public(v.scope))
    {
        files.push(
            to_file(
                EntityKind::Vouch,
                v.id,
                origin,
                v.updated_at,
                &PublicVouch::from(v),
            )
            .map_err(fail)?,
        );
    }

    let mut writer = BundleWriter::create(out).map_err(|e| refused(out, e.to_string()))?;
    progress.start("exporting", files.len() as u64);
    for file in &files {
        writer.add(file).map_err(|e| refused(out, e.to_string()))?;
        progress.step();
    }
    progress.finish();
    let changed = writer.previous_manifest().is_none_or(|previous| {
        previous.sequence != state.last_sequence || previous.files != writer.files()
    });
    let written = writer
        .finish(origin.as_str(), &state.public_key, state.last_sequence)
        .map_err(|e| refused(out, e.to_string()))?;
    if sha256_hex(&written.manifest_bytes) != state.manifest_sha256 {
        return Err(refused(
            out,
            format!(
                "the copy of {origin}'s rows no longer matches the bundle imported from it \
                 (sequence {}); re-import its latest bundle",
                state.last_sequence
            ),
        ));
    }
    write_signature(out, state.signature.as_bytes()).map_err(|e| refused(out, e.to_string()))?;
    Ok(ExportSummary {
        origin: origin.clone(),
        sequence: state.last_sequence,
        changed,
        files: files.len() as u64,
        written: written.written,
        removed: written.removed,
        key_created: None,
    })
}
