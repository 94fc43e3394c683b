//! The *journaled* strategy ([`ExportStrategy::Journaled`](super::ExportStrategy)),
//! the usual one: when the output directory holds the very manifest this
//! instance last wrote, rendered by this renderer, and the journal of
//! changes (`export_changes`) holds at most [`JOURNAL_LIMIT`] entries, the
//! bundle is opened with [`BundleUpdater`] (its files trusted, neither
//! listed nor `lstat`ed) and only the journaled rows and the rows whose
//! effective scope they decide are looked at. Its cost is the manifest's
//! size plus the changes, not the bundle's. (ARCHITECTURE.md, "Incremental
//! export".)

use std::collections::HashSet;
use std::path::Path;

use wb_model::Uuid;
use wb_store::{Changes, RowHead};
use wb_syncfmt::bundle::BundleUpdater;
use wb_syncfmt::{EntityKind, SYNC_FILE_SUFFIX};

use super::super::Progress;
use super::render::{
    Heads, KINDS, RENDERER, Source, keep_unchanged, model_kind, record, render_and_add,
};
use super::{refused, rule};
use crate::{Instance, Result};

/// Journal entries (see [`Store::export_changes`](wb_store::Store::export_changes))
/// up to which an export renders only the rows they name and the rows that
/// reference them; with more, it looks at every row's head instead.
pub(super) const JOURNAL_LIMIT: usize = 1024;

/// A bundle opened for the journaled strategy, with the rows its changes
/// affect.
pub(super) struct Journaled {
    updater: BundleUpdater,
    affected: Affected,
}

impl Journaled {
    /// Opens the bundle in `out` for the journaled strategy, if it applies:
    /// the journal `changes` is within its limit, `digest` (the digest of
    /// the manifest this instance last wrote) is that of `out`'s manifest,
    /// and the records of rendered files are this renderer's. `None`
    /// otherwise.
    pub(super) async fn open(
        instance: &Instance,
        changes: &Changes,
        digest: Option<&str>,
        out: &Path,
    ) -> Result<Option<Journaled>> {
        let (Some(changed), Some(digest)) = (&changes.rows, digest) else {
            return Ok(None);
        };
        if instance.store().rendered_by().await?.as_deref() != Some(RENDERER) {
            return Ok(None);
        }
        // Open the bundle (read, hash and parse its manifest) on a blocking
        // thread while the database reads the rows the changes affect.
        let opening = {
            let (out, digest) = (out.to_owned(), digest.to_owned());
            tokio::task::spawn_blocking(move || BundleUpdater::open(&out, &digest))
        };
        let affected = Affected::read(instance, changed).await;
        let opened = opening
            .await
            .map_err(|_| rule(out, "internal", "the thread opening the bundle failed"))?
            .map_err(|e| refused(out, e))?;
        match opened {
            Some(updater) => Ok(Some(Journaled {
                updater,
                affected: affected?,
            })),
            None => Ok(None),
        }
    }

    /// Renders into the bundle the rows the journal names, and the rows
    /// whose effective scope they may have changed: the rows referencing a
    /// changed user or request, and the comments on requests of a changed
    /// user. Every other file of the bundle stays as it is. Returns the
    /// bundle and how many rows were rendered.
    pub(super) async fn render(
        self,
        instance: &Instance,
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<(BundleUpdater, u64)> {
        let Journaled {
            mut updater,
            affected,
        } = self;
        let rendered = render_changed(instance, &mut updater, &affected, out, progress).await?;
        Ok((updater, rendered))
    }
}

/// The rows a journal of changes affects, with the rows they reference.
struct Affected {
    /// The rows the journal names, by kind (in the order of [`KINDS`]).
    ids: [Vec<Uuid>; 5],
    /// The heads of the rows the changes affect, and of the rows those
    /// reference (users and requests).
    heads: Heads,
    /// The users and requests read only as references: their own files
    /// have not changed.
    context: [HashSet<Uuid>; 2],
}

impl Affected {
    /// Reads the heads of the rows the journaled rows `changed` affect: the
    /// rows themselves, the rows referencing a changed user or request, the
    /// comments on a changed user's requests, and the rows all these
    /// reference, whose export decides theirs.
    async fn read(
        instance: &Instance,
        changed: &[(wb_model::EntityKind, Uuid)],
    ) -> Result<Affected> {
        let store = instance.store();
        let name = instance.name();
        let mut ids: [Vec<Uuid>; 5] = Default::default();
        for (kind, id) in changed {
            if let Some(i) = KINDS.iter().position(|k| model_kind(*k) == *kind) {
                ids[i].push(*id);
            }
        }
        let [users, requests, comments, invites, vouches] = &ids;
        let matching = |kind, ids: &[Uuid], referencing: &[Uuid]| {
            let ids = ids.to_vec();
            let referencing = referencing.to_vec();
            async move {
                store
                    .row_heads_matching(model_kind(kind), name, &ids, &referencing)
                    .await
            }
        };
        // The affected rows of each kind.
        let mut heads: [Vec<RowHead>; 5] = Default::default();
        heads[0] = matching(EntityKind::User, users, &[]).await?;
        heads[1] = matching(EntityKind::Request, requests, users).await?;
        let request_ids: Vec<Uuid> = requests
            .iter()
            .copied()
            .chain(heads[1].iter().map(|h| h.id))
            .chain(users.iter().copied())
            .collect();
        heads[2] = matching(EntityKind::Comment, comments, &request_ids).await?;
        heads[3] = matching(EntityKind::Invite, invites, users).await?;
        heads[4] = matching(EntityKind::Vouch, vouches, users).await?;
        // The rows they reference, whose export decides theirs: the requests
        // of comments, then the users of everything.
        let have = |heads: &[RowHead]| heads.iter().map(|h| h.id).collect::<HashSet<_>>();
        let known_requests = have(&heads[1]);
        let more_requests: Vec<Uuid> = heads[2]
            .iter()
            .filter_map(|h| h.refs[0])
            .filter(|id| !known_requests.contains(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut extra_requests = matching(EntityKind::Request, &more_requests, &[]).await?;
        let known_users = have(&heads[0]);
        let more_users: Vec<Uuid> = heads[1..]
            .iter()
            .flatten()
            .chain(&extra_requests)
            .flat_map(|h| h.refs.into_iter().flatten())
            .filter(|id| !known_users.contains(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut extra_users = matching(EntityKind::User, &more_users, &[]).await?;
        let context = [have(&extra_users), have(&extra_requests)];
        heads[0].append(&mut extra_users);
        heads[1].append(&mut extra_requests);
        Ok(Affected {
            ids,
            heads: Heads(heads),
            context,
        })
    }
}

/// Renders into `updater` the rows `affected_rows` names (see
/// [`Journaled::render`]); returns how many rows were rendered.
async fn render_changed(
    instance: &Instance,
    updater: &mut BundleUpdater,
    affected_rows: &Affected,
    out: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let Affected {
        ids,
        heads,
        context,
    } = affected_rows;
    let have = |heads: &[RowHead]| heads.iter().map(|h| h.id).collect::<HashSet<_>>();
    let affected = |i: usize, head: &RowHead| {
        head.local && context.get(i).is_none_or(|ids| !ids.contains(&head.id))
    };
    let exported = heads.exported();
    let total: usize = (0..KINDS.len())
        .map(|i| heads.0[i].iter().filter(|h| affected(i, h)).count())
        .sum();
    progress.start("exporting files", total as u64);
    let mut rendered_rows = 0;
    for (i, kind) in KINDS.into_iter().enumerate() {
        let exported_ids: HashSet<Uuid> = exported[i].iter().map(|h| h.id).collect();
        let mut render = Vec::new();
        let mut forget = Vec::new();
        let changed_here: HashSet<Uuid> = ids[i].iter().copied().collect();
        for head in exported[i].iter().copied().filter(|h| affected(i, h)) {
            // A row the journal names is rendered even if its `updated_at`
            // did not move (a change in SQL by hand); a row only referencing
            // one keeps its file if it was rendered at this version.
            if !changed_here.contains(&head.id)
                && keep_unchanged(updater, kind, head).map_err(|e| rule(out, "render", e))?
            {
                progress.step();
            } else {
                render.push(head);
            }
        }
        // Rows no longer exported, and rows deleted, leave the bundle.
        let found = have(&heads.0[i]);
        let gone = heads.0[i]
            .iter()
            .filter(|h| affected(i, h) && !exported_ids.contains(&h.id))
            .map(|h| h.id)
            .chain(ids[i].iter().copied().filter(|id| !found.contains(id)));
        for id in gone {
            updater
                .remove(&format!("{kind}/{id}{SYNC_FILE_SUFFIX}"))
                .map_err(|e| refused(out, e))?;
            forget.push(id);
            progress.step();
        }
        let rendered = render_and_add(
            instance,
            updater,
            kind,
            &render,
            Source::OneByOne,
            out,
            progress,
        )
        .await?;
        rendered_rows += rendered.len() as u64;
        record(instance, kind, &render, rendered, &forget).await?;
    }
    progress.finish();
    Ok(rendered_rows)
}
