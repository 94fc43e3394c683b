//! The *fresh* strategy ([`ExportStrategy::Fresh`](super::ExportStrategy)):
//! an export into a directory without a bundle of this instance to reuse
//! (none, another schema, or the manifest deleted on purpose) reads each
//! table once in the order of [`KINDS`] (`Store::scan_*`), decides each row
//! as it arrives and renders it at once; no table is held in memory, and
//! reading overlaps rendering and the writer's storing thread.
//! (ARCHITECTURE.md, "Full export, streamed".)

use std::path::Path;

use wb_model::{
    EffectiveScopes, PublicComment, PublicInvite, PublicRequest, PublicUser, PublicVouch,
    ScopeFacts,
};
use wb_syncfmt::bundle::BundleWriter;
use wb_syncfmt::{EntityKind, SyncFile};

use super::super::Progress;
use super::super::codec::to_file;
use super::render::{KINDS, model_kind};
use super::{refused, rule};
use crate::{Instance, Result};

/// Renders every exported row into `writer`, reading each table once, in
/// the order of [`KINDS`], and deciding and rendering each row as it
/// arrives; returns how many rows were rendered. The records of rendered
/// files are left as they are (reading them would cost more than it saves;
/// a stale record only makes a later export render that row again).
pub(super) async fn render(
    instance: &Instance,
    writer: &mut BundleWriter,
    out: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let store = instance.store();
    let name = instance.name();
    let mut total = 0;
    for kind in KINDS {
        total += store.row_count(model_kind(kind)).await?;
    }
    progress.start("exporting rows", total);
    let mut scopes = EffectiveScopes::new();
    let mut rendered = 0;
    let mut failed = None;
    // Decides one row and renders it if exported; false (with `failed`
    // set) stops the scan.
    let mut each = |row: ScopeFacts, file: &dyn Fn() -> std::result::Result<SyncFile, String>| {
        progress.step();
        if !scopes.exported(&row) {
            return true;
        }
        let added = file()
            .map_err(|e| rule(Path::new("(export)"), "render", e))
            .and_then(|file| writer.add(&file).map(|_| ()).map_err(|e| refused(out, e)));
        match added {
            Ok(()) => {
                rendered += 1;
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    };
    macro_rules! scan {
        ($scan:ident, $kind:expr, $public:ident, |$row:ident| $refs:expr) => {
            store
                .$scan(&mut |$row| {
                    let facts = ScopeFacts {
                        kind: model_kind($kind),
                        id: $row.id,
                        own: $row.scope,
                        imported: $row.origin != *name,
                        refs: $refs,
                    };
                    each(facts, &|| {
                        to_file($kind, $row.id, name, $row.updated_at, &$public::from(&$row))
                    })
                })
                .await?
        };
    }
    // In the order of KINDS.
    scan!(scan_users, EntityKind::User, PublicUser, |u| [None, None]);
    scan!(scan_requests, EntityKind::Request, PublicRequest, |r| [
        Some(r.author_id),
        None
    ]);
    scan!(scan_comments, EntityKind::Comment, PublicComment, |c| [
        Some(c.request_id),
        Some(c.author_id)
    ]);
    scan!(scan_invites, EntityKind::Invite, PublicInvite, |i| [
        Some(i.inviter_id),
        i.invitee_id
    ]);
    scan!(scan_vouches, EntityKind::Vouch, PublicVouch, |v| [
        Some(v.voucher_id),
        Some(v.subject_id)
    ]);
    progress.finish();
    match failed {
        Some(e) => Err(e),
        None => Ok(rendered),
    }
}
