//! The *heads* strategy ([`ExportStrategy::Heads`](super::ExportStrategy)):
//! an export into a directory holding this instance's previous bundle when
//! the journal of changes cannot be used (over its limit, another
//! directory, records of another renderer). It reads every row's head
//! (`Store::row_heads`: no text), decides the exported rows from those, and
//! keeps the file of every row whose version still matches the record of
//! what it was rendered into (one `lstat`, `BundleWriter::keep`); only the
//! rest are read in full and rendered. (ARCHITECTURE.md, "Incremental
//! export".)

use std::collections::HashSet;
use std::path::Path;

use wb_model::Uuid;
use wb_store::RowHead;
use wb_syncfmt::CURRENT_SCHEMA_VERSION;
use wb_syncfmt::bundle::BundleWriter;

use super::super::Progress;
use super::render::{
    Heads, KINDS, RENDERER, Source, keep_unchanged, model_kind, record, render_and_add,
};
use super::rule;
use crate::{Instance, Result};

/// Rows of one kind to render: fetched one by one when few, all at once
/// otherwise.
const FETCH_ONE_BY_ONE: usize = 64;

/// Whether `writer`'s directory held a bundle whose files this strategy can
/// keep: this instance's, in this schema. Otherwise the export is fresh.
pub(super) fn applies(writer: &BundleWriter, instance: &Instance) -> bool {
    writer.previous_manifest().is_some_and(|m| {
        m.instance == instance.name().as_str() && m.schema_version == CURRENT_SCHEMA_VERSION
    })
}

/// Reads the heads of every row.
async fn read(instance: &Instance) -> Result<Heads> {
    let store = instance.store();
    let name = instance.name();
    let mut heads: [Vec<RowHead>; 5] = Default::default();
    for (slot, kind) in heads.iter_mut().zip(KINDS) {
        *slot = store.row_heads(model_kind(kind), name).await?;
    }
    Ok(Heads(heads))
}

/// Renders every exported row into `writer` (from [`BundleWriter::create`],
/// on a directory where [`applies`] holds), keeping the files of rows
/// unchanged since they were rendered; records what the others were
/// rendered into. Returns how many rows were rendered.
pub(super) async fn render(
    instance: &Instance,
    writer: &mut BundleWriter,
    out: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let store = instance.store();
    if store.rendered_by().await?.as_deref() != Some(RENDERER) {
        store.reset_rendered(RENDERER).await?;
    }
    let heads = read(instance).await?;
    let exported = heads.exported();
    let total: usize = exported.iter().map(Vec::len).sum();
    progress.start("exporting files", total as u64);
    let mut rendered_rows = 0;
    for ((kind, heads), all) in KINDS.into_iter().zip(&exported).zip(&heads.0) {
        // Keep the files of rows unchanged since they were rendered.
        let mut render = Vec::new();
        for head in heads {
            if keep_unchanged(writer, kind, head).map_err(|e| rule(out, "render", e))? {
                progress.step();
            } else {
                render.push(*head);
            }
        }
        let source = if render.len() <= FETCH_ONE_BY_ONE {
            Source::OneByOne
        } else {
            Source::Table
        };
        let rendered =
            render_and_add(instance, writer, kind, &render, source, out, progress).await?;
        rendered_rows += rendered.len() as u64;
        let exported_ids: HashSet<Uuid> = heads.iter().map(|h| h.id).collect();
        let forget: Vec<Uuid> = all
            .iter()
            .filter(|h| h.rendered.is_some() && !exported_ids.contains(&h.id))
            .map(|h| h.id)
            .collect();
        record(instance, kind, &render, rendered, &forget).await?;
    }
    progress.finish();
    Ok(rendered_rows)
}
