//! What the strategies of an instance's own export share: the kinds in the
//! order rows are decided, which rows are exported (through the model's
//! [`EffectiveScopes`]), rendering rows into a writer, and the records of
//! what each row was rendered into (`export_files`), which let a later
//! export keep a file without reading its row.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use wb_model::{
    EffectiveScopes, PublicComment, PublicInvite, PublicRequest, PublicUser, PublicVouch,
    ScopeFacts, Timestamp, Uuid,
};
use wb_store::{RenderedFile, RowHead};
use wb_syncfmt::bundle::{BundleError, BundleUpdater, BundleWriter};
use wb_syncfmt::{EntityKind, ManifestEntry, SYNC_FILE_SUFFIX, SyncFile};

use super::super::Progress;
use super::super::codec::to_file;
use super::{refused, rule};
use crate::{Instance, Result};

/// The kinds in the order effective scopes are decided: the format's order,
/// in which each kind references only kinds before it (a unit test holds
/// the model's relations to it).
pub(super) const KINDS: [EntityKind; 5] = EntityKind::ALL;

/// What renders rows into files, as recorded with the records of rendered
/// files: records made by another version are forgotten, since a file is a
/// function of its row *and* of the code that renders it.
pub(super) const RENDERER: &str = concat!("wb-engine ", env!("CARGO_PKG_VERSION"));

/// The model's name of a kind of the format.
pub(super) fn model_kind(kind: EntityKind) -> wb_model::EntityKind {
    match kind {
        EntityKind::User => wb_model::EntityKind::User,
        EntityKind::Request => wb_model::EntityKind::Request,
        EntityKind::Comment => wb_model::EntityKind::Comment,
        EntityKind::Invite => wb_model::EntityKind::Invite,
        EntityKind::Vouch => wb_model::EntityKind::Vouch,
    }
}

/// What the effective-scope rule needs to know of the row whose head is
/// `head`.
pub(super) fn facts(kind: EntityKind, head: &RowHead) -> ScopeFacts {
    ScopeFacts {
        kind: model_kind(kind),
        id: head.id,
        own: head.scope,
        imported: !head.local,
        refs: head.refs,
    }
}

/// The heads of rows (see [`RowHead`]), by kind, in the order of [`KINDS`].
pub(super) struct Heads(pub(super) [Vec<RowHead>; 5]);

impl Heads {
    /// This instance's rows among these that its export writes, by kind,
    /// in any order, decided by [`EffectiveScopes::exported`]. A row
    /// referencing one that is not among these counts as not exported.
    pub(super) fn exported(&self) -> [Vec<&RowHead>; 5] {
        let mut scopes = EffectiveScopes::new();
        let mut out: [Vec<&RowHead>; 5] = Default::default();
        for ((slot, heads), kind) in out.iter_mut().zip(&self.0).zip(KINDS) {
            slot.extend(
                heads
                    .iter()
                    .filter(|head| scopes.exported(&facts(kind, head))),
            );
        }
        out
    }
}

/// What rows are rendered into: a whole bundle ([`BundleWriter`]) or a few
/// files of one ([`BundleUpdater`]).
pub(super) trait Sink {
    /// Adds the file of a row (see [`BundleWriter::add`]).
    fn add(&mut self, file: &SyncFile) -> std::result::Result<&ManifestEntry, BundleError>;
    /// Keeps a file of the previous bundle (see [`BundleWriter::keep`]).
    fn keep(&mut self, entry: &ManifestEntry) -> std::result::Result<bool, BundleError>;
}

impl Sink for BundleWriter {
    fn add(&mut self, file: &SyncFile) -> std::result::Result<&ManifestEntry, BundleError> {
        BundleWriter::add(self, file)
    }
    fn keep(&mut self, entry: &ManifestEntry) -> std::result::Result<bool, BundleError> {
        BundleWriter::keep(self, entry)
    }
}

impl Sink for BundleUpdater {
    fn add(&mut self, file: &SyncFile) -> std::result::Result<&ManifestEntry, BundleError> {
        BundleUpdater::add(self, file)
    }
    fn keep(&mut self, entry: &ManifestEntry) -> std::result::Result<bool, BundleError> {
        BundleUpdater::keep(self, entry)
    }
}

/// Where [`render_rows`] finds the rows it renders.
#[derive(Clone, Copy)]
pub(super) enum Source {
    /// Read each row now, one by one.
    OneByOne,
    /// Read the whole table now.
    Table,
}

/// Renders the rows of `kind` whose heads are `wanted` into their files,
/// handing each to `add`, reading them from `source`. Rows that vanished
/// since their heads were read are skipped.
async fn render_rows(
    instance: &Instance,
    kind: EntityKind,
    wanted: &[&RowHead],
    source: Source,
    add: &mut dyn FnMut(Uuid, Timestamp, std::result::Result<SyncFile, String>) -> Result<()>,
) -> Result<()> {
    let store = instance.store();
    let origin = instance.name();
    let ids: HashSet<Uuid> = wanted.iter().map(|h| h.id).collect();
    macro_rules! render {
        ($one:ident, $all:ident, $public:ident) => {{
            let fetched;
            let rows: Vec<&_> = match source {
                Source::OneByOne => {
                    let mut rows = Vec::with_capacity(wanted.len());
                    for head in wanted {
                        rows.extend(store.$one(head.id).await?);
                    }
                    fetched = rows;
                    fetched.iter().collect()
                }
                Source::Table => {
                    fetched = store.$all().await?;
                    fetched.iter().filter(|r| ids.contains(&r.id)).collect()
                }
            };
            for row in rows {
                let file = to_file(kind, row.id, origin, row.updated_at, &$public::from(row));
                add(row.id, row.updated_at, file)?;
            }
        }};
    }
    match kind {
        EntityKind::User => render!(user, users, PublicUser),
        EntityKind::Request => render!(request, requests, PublicRequest),
        EntityKind::Comment => render!(comment, comments, PublicComment),
        EntityKind::Invite => render!(invite, invites, PublicInvite),
        EntityKind::Vouch => render!(vouch, vouches, PublicVouch),
    }
    Ok(())
}

/// Keeps the file of `head`'s row when the row has not changed since it was
/// rendered into exactly the file the previous manifest lists.
pub(super) fn keep_unchanged(
    writer: &mut impl Sink,
    kind: EntityKind,
    head: &RowHead,
) -> std::result::Result<bool, String> {
    let Some(r) = head
        .rendered
        .as_ref()
        .filter(|r| r.updated_at == head.updated_at)
    else {
        return Ok(false);
    };
    let path = format!("{kind}/{}{SYNC_FILE_SUFFIX}", head.id);
    match ManifestEntry::with_hex_digest(path, r.length, &r.sha256) {
        Some(entry) => writer.keep(&entry).map_err(|e| e.to_string()),
        None => Ok(false),
    }
}

/// Renders the rows of `render` into `writer`; returns what each became.
pub(super) async fn render_and_add(
    instance: &Instance,
    writer: &mut impl Sink,
    kind: EntityKind,
    render: &[&RowHead],
    source: Source,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Vec<(Uuid, RenderedFile)>> {
    let mut rendered = Vec::new();
    render_rows(
        instance,
        kind,
        render,
        source,
        &mut |id, updated_at, file| {
            let file = file.map_err(|e| rule(Path::new("(export)"), "render", e))?;
            let entry = writer.add(&file).map_err(|e| refused(out, e))?;
            rendered.push((
                id,
                RenderedFile {
                    updated_at,
                    length: entry.len,
                    sha256: entry.sha256_hex(),
                },
            ));
            progress.step();
            Ok(())
        },
    )
    .await?;
    Ok(rendered)
}

/// Records what the rows of `kind` were rendered into (skipping records
/// that did not change) and forgets the records of `forget`.
pub(super) async fn record(
    instance: &Instance,
    kind: EntityKind,
    render: &[&RowHead],
    mut rendered: Vec<(Uuid, RenderedFile)>,
    forget: &[Uuid],
) -> Result<()> {
    let previous: HashMap<Uuid, &RenderedFile> = render
        .iter()
        .filter_map(|h| h.rendered.as_ref().map(|r| (h.id, r)))
        .collect();
    rendered.retain(|(id, file)| previous.get(id) != Some(&file));
    instance
        .store()
        .record_rendered(model_kind(kind), &rendered, forget)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{KINDS, model_kind};

    /// Rows are decided kind by kind in the order of `KINDS`, so every
    /// kind's references must point at kinds before it.
    #[test]
    fn kinds_are_in_dependency_order() {
        for (i, kind) in KINDS.into_iter().enumerate() {
            for relation in model_kind(kind).relations().into_iter().flatten() {
                let target = KINDS
                    .iter()
                    .position(|k| model_kind(*k) == relation.target_kind());
                assert!(
                    target.is_some_and(|t| t < i),
                    "{kind} references {} before it is decided",
                    relation.target_kind()
                );
            }
        }
    }
}
