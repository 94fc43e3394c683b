//! Relaying ([`ExportStrategy::Relay`](super::ExportStrategy)): this
//! instance's copy of the rows it imported from another instance, written
//! back into a bundle byte-identical to the one imported, under that
//! bundle's manifest and signature, while the pin still vouches for it.

use std::path::Path;

use wb_model::{
    InstanceName, PublicComment, PublicInvite, PublicRequest, PublicUser, PublicVouch, SyncScope,
};
use wb_syncfmt::bundle::{BundleWriter, write_key_rotations, write_signature};
use wb_syncfmt::{EntityKind, sha256_hex};

use super::super::Progress;
use super::super::codec::to_file;
use super::{ExportStrategy, ExportSummary, check_out, refused, rule};
use crate::{Instance, Result};

/// Writes into `out` this instance's copy of `origin`'s rows,
/// byte-identical to the bundle it last imported from there, with that
/// bundle's manifest, signature and key rotations, so that it can pass the
/// bundle on (`wb sync export --instance ORIGIN`). Refused when nothing was
/// imported from `origin`, when `origin` has no pin or the bundle applied
/// last is not signed by the pinned key, when the rows no longer match that
/// bundle, and, before anything is written, when `out` holds another
/// instance's bundle or a directory of bundles (as [`export_bundle`]).
///
/// [`export_bundle`]: super::export_bundle
pub async fn relay_bundle(
    instance: &Instance,
    origin: &InstanceName,
    out: &Path,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    if origin == instance.name() {
        return Err(rule(
            out,
            "relay-own-instance",
            format!(
                "{origin} is this instance: its rows are exported (wb sync export without \
                 --instance), not relayed"
            ),
        ));
    }
    check_out(out, origin)?;
    let store = instance.store();
    let state = store.origin_state(origin).await?.ok_or_else(|| {
        rule(
            out,
            "nothing-to-relay",
            format!("nothing was imported from {origin}; import one of its bundles first"),
        )
    })?;
    // Relay only what the pin still vouches for: after `wb sync peers pin`
    // moved the pin (a lost or compromised key), the bundle applied last
    // under the old key is not passed on.
    match store.pin(origin).await? {
        Some(pin) if pin.public_key == state.public_key => {}
        Some(pin) => {
            return Err(rule(
                out,
                "pin-moved",
                format!(
                    "the bundle of {origin} applied last (sequence {}) is signed by key {}, but \
                     the key pinned for {origin} is now {}; import a bundle signed by the pinned \
                     key before relaying {origin}",
                    state.last_sequence, state.public_key, pin.public_key
                ),
            ));
        }
        None => {
            return Err(rule(
                out,
                "unpinned-origin",
                format!(
                    "{origin} has no pinned key, so its rows are not relayed; pin it with `wb \
                     sync peers pin {origin} --key KEY`"
                ),
            ));
        }
    }
    let public = |scope: SyncScope| scope == SyncScope::Public;
    let mut files = Vec::new();
    let fail = |e: String| rule(out, "render", e);
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

    let mut writer = BundleWriter::create(out).map_err(|e| refused(out, e))?;
    progress.start("exporting files", files.len() as u64);
    for file in &files {
        writer.add(file).map_err(|e| refused(out, e))?;
        progress.step();
    }
    progress.finish();
    let changed = writer.previous_manifest().is_none_or(|previous| {
        previous.sequence != state.last_sequence || !writer.has_previous_files()
    });
    let written = writer
        .finish(origin.as_str(), &state.public_key, state.last_sequence)
        .map_err(|e| refused(out, e))?;
    if sha256_hex(&written.manifest_bytes) != state.manifest_sha256 {
        return Err(rule(
            out,
            "relay-out-of-date",
            format!(
                "the copy of {origin}'s rows no longer matches the bundle imported from it \
                 (sequence {}); re-import its latest bundle",
                state.last_sequence
            ),
        ));
    }
    write_signature(out, state.signature.as_bytes()).map_err(|e| refused(out, e))?;
    // The origin's chain goes with its bundle, so that a reader who pinned
    // an older key of the origin can follow it here too.
    write_key_rotations(out, state.key_rotations.as_deref().map(str::as_bytes))
        .map_err(|e| refused(out, e))?;
    Ok(ExportSummary {
        origin: origin.clone(),
        sequence: state.last_sequence,
        changed,
        files: files.len() as u64,
        rendered: files.len() as u64,
        written: written.written,
        removed: written.removed,
        key_created: None,
        strategy: ExportStrategy::Relay,
    })
}
