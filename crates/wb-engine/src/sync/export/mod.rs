//! `wb sync export`: the effectively public rows as a signed bundle.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use wb_crypto::{KeyStore, bundle_trusted_comment, sign_minisign};
use wb_model::{
    InstanceName, PublicComment, PublicInvite, PublicRequest, PublicUser, PublicVouch, Reference,
    Relation, SyncScope, Timestamp, Uuid, effective_scope,
};
use wb_store::{RenderedFile, RowHead};
use wb_syncfmt::bundle::{BundleWriter, write_key_rotations, write_signature};
use wb_syncfmt::{
    CURRENT_SCHEMA_VERSION, EntityKind, MANIFEST_FILE_NAME, Manifest, ManifestEntry,
    SIGNATURE_FILE_NAME, SYNC_FILE_SUFFIX, SyncFile, sha256_hex,
};

use super::bundle_set::manifest_instance;
use super::codec::to_file;
use super::{BundleLocation, locate_bundles};
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
    /// Rows read in full and rendered into their files; the other files
    /// were kept from the bundle already in the directory without reading
    /// their rows, because the rows had not changed since they were
    /// rendered (see `docs/performance.md`).
    pub rendered: u64,
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
///
/// Never over another instance's bundle: when `out` holds a manifest that
/// names an instance other than the one exported (this one, or `origin`),
/// the export is refused before anything is written. Entries of `out` whose
/// names begin with `.` (`.git`, …) are left alone. An export that fails
/// before it writes the manifest creates no signing key.
pub async fn export_bundle(
    instance: &Instance,
    keys: &KeyStore,
    out: &Path,
    origin: Option<&InstanceName>,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    let exported = origin.unwrap_or(instance.name());
    if let Some(holder) = manifest_instance(out)
        && holder != exported.as_str()
    {
        return Err(refused(
            out,
            format!(
                "holds the bundle of {holder} (its {MANIFEST_FILE_NAME} says Instance: \
                 {holder}); refusing to export {exported}'s rows over another instance's \
                 bundle. Export into a directory of {exported}'s own, e.g. --out \
                 <repository>/{exported}"
            ),
        ));
    }
    if manifest_instance(out).is_none()
        && let Ok(BundleLocation::Set { bundles, .. }) = locate_bundles(out)
    {
        return Err(refused(
            out,
            format!(
                "holds {} bundles in its folders (a directory of bundles); refusing to export \
                 over them. Export into {exported}'s own folder, e.g. --out {}",
                bundles.len(),
                out.join(exported.as_str()).display()
            ),
        ));
    }
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

/// The heads of every row (see [`RowHead`]), by kind, in the order of
/// [`KINDS`].
struct Heads([Vec<RowHead>; 5]);

/// The kinds in the order effective scopes are decided: each depends only
/// on kinds before it.
const KINDS: [EntityKind; 5] = [
    EntityKind::User,
    EntityKind::Request,
    EntityKind::Comment,
    EntityKind::Invite,
    EntityKind::Vouch,
];

impl Heads {
    async fn read(instance: &Instance) -> Result<Heads> {
        let store = instance.store();
        let name = instance.name();
        let mut heads: [Vec<RowHead>; 5] = Default::default();
        for (slot, kind) in heads.iter_mut().zip(KINDS) {
            *slot = store.row_heads(store_kind(kind), name).await?;
        }
        Ok(Heads(heads))
    }

    /// This instance's effectively public rows, by kind, in any order.
    fn exported(&self) -> [Vec<&RowHead>; 5] {
        let mut decide = Decide::default();
        let mut out: [Vec<&RowHead>; 5] = Default::default();
        for ((slot, heads), kind) in out.iter_mut().zip(&self.0).zip(KINDS) {
            slot.extend(heads.iter().filter(|h| decide.exported(kind, h)));
        }
        out
    }
}

/// Decides which rows are exported, seeing the rows kind by kind in the
/// order of [`KINDS`] (every row of a kind before any row of the next), so
/// that an export can decide each row as it reads it.
#[derive(Default)]
struct Decide {
    /// Whether each user seen counts as exported when referenced: by its
    /// own scope (a local public profile is exported; an imported one is
    /// public unless its origin withdrew it).
    user_ok: HashMap<Uuid, bool>,
    /// Whether each user seen may be named as an *actor* (author, inviter,
    /// invitee, voucher) of an exported row: a public user of this
    /// instance. Each origin speaks only for its own users (SPEC §5), so a
    /// local row whose actor is another instance's user — which only a
    /// hand-edited database can hold — is never exported; importers would
    /// refuse the bundle.
    actor_ok: HashMap<Uuid, bool>,
    /// Whether each request seen is effectively public.
    request_ok: HashMap<Uuid, bool>,
}

impl Decide {
    /// Whether `head`'s row is this instance's and effectively public;
    /// notes what rows of later kinds need to know of it.
    fn exported(&mut self, kind: EntityKind, head: &RowHead) -> bool {
        // A row that is not this instance's, or is private itself, is not
        // exported whatever it references (`effective_scope` says so too).
        let local_public = |relations: [(Relation, &HashMap<Uuid, bool>); 2]| {
            if !head.local || head.scope == SyncScope::Private {
                return false;
            }
            let [first, second] = [0, 1].map(|i| {
                let (relation, known) = relations[i];
                head.refs[i].map(|id| reference(relation, id, known))
            });
            let scope = match (first, second) {
                (Some(a), Some(b)) => effective_scope(head.scope, false, &[a, b]),
                (Some(a), None) | (None, Some(a)) => effective_scope(head.scope, false, &[a]),
                (None, None) => effective_scope(head.scope, false, &[]),
            };
            scope.is_exported()
        };
        match kind {
            EntityKind::User => {
                let public = head.scope == SyncScope::Public;
                self.user_ok.insert(head.id, public);
                self.actor_ok.insert(head.id, head.local && public);
                head.local && public
            }
            EntityKind::Request => {
                let scope = if head.local {
                    let author =
                        head.refs[0].map(|id| reference(Relation::Author, id, &self.actor_ok));
                    effective_scope(head.scope, false, author.as_slice())
                } else {
                    effective_scope(head.scope, true, &[])
                };
                self.request_ok.insert(head.id, scope.is_exported());
                head.local && scope.is_exported()
            }
            EntityKind::Comment => local_public([
                (Relation::Request, &self.request_ok),
                (Relation::Author, &self.actor_ok),
            ]),
            EntityKind::Invite => local_public([
                (Relation::Inviter, &self.actor_ok),
                (Relation::Invitee, &self.actor_ok),
            ]),
            EntityKind::Vouch => local_public([
                (Relation::Voucher, &self.actor_ok),
                (Relation::Subject, &self.user_ok),
            ]),
        }
    }
}

fn store_kind(kind: EntityKind) -> wb_model::EntityKind {
    match kind {
        EntityKind::User => wb_model::EntityKind::User,
        EntityKind::Request => wb_model::EntityKind::Request,
        EntityKind::Comment => wb_model::EntityKind::Comment,
        EntityKind::Invite => wb_model::EntityKind::Invite,
        EntityKind::Vouch => wb_model::EntityKind::Vouch,
    }
}

/// What renders rows into files, as recorded with the records of rendered
/// files: records made by another version are forgotten, since a file is a
/// function of its row *and* of the code that renders it.
const RENDERER: &str = concat!("wb-engine ", env!("CARGO_PKG_VERSION"));

/// Rows of one kind to render: fetched one by one when few (an incremental
/// export), all at once otherwise.
const FETCH_ONE_BY_ONE: usize = 64;

/// The head of a row read in full, as [`Store::row_heads`](wb_store::Store::row_heads)
/// would read it, without the record of its rendered file.
fn head(
    id: Uuid,
    origin: &InstanceName,
    local: &InstanceName,
    scope: SyncScope,
    updated_at: Timestamp,
    refs: [Option<Uuid>; 2],
) -> RowHead {
    RowHead {
        id,
        local: origin == local,
        scope,
        updated_at,
        refs,
        rendered: None,
    }
}

/// Where [`render_rows`] finds the rows it renders.
#[derive(Clone, Copy)]
enum Source {
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

/// Journal entries (see [`Store::export_changes`](wb_store::Store::export_changes))
/// up to which an export renders only the rows they name and the rows that
/// reference them; with more, it looks at every row's head instead.
const JOURNAL_LIMIT: usize = 1024;

async fn export_local(
    instance: &Instance,
    keys: &KeyStore,
    out: &Path,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    let store = instance.store();
    let name = instance.name();
    let fail = |e: wb_syncfmt::bundle::BundleError| refused(out, e.to_string());
    // Checked before anything is written: a chain that does not lead to
    // the instance key would make every peer refuse the bundle.
    let rotations = own_rotations(keys, name)?;

    // Read the journal first: a change made from here on is noted after
    // `through` and stays for the next export.
    let changes = store.export_changes(JOURNAL_LIMIT).await?;
    let (stored, stored_digest) = store.export_state().await?;
    // When `out` holds the very manifest this instance last wrote, rendered
    // by this renderer, its files are trusted and only the rows the journal
    // names are looked at (ARCHITECTURE.md, "Incremental export").
    let mut updating = None;
    if let (Some(changed), Some(digest)) = (&changes.rows, &stored_digest)
        && store.rendered_by().await?.as_deref() == Some(RENDERER)
    {
        // Open the bundle (read, hash and parse its manifest) on a thread of
        // its own while the database reads the rows the changes affect.
        let opening = {
            let (out, digest) = (out.to_owned(), digest.clone());
            std::thread::spawn(move || BundleWriter::update(&out, &digest))
        };
        let affected = Affected::read(instance, changed).await;
        let opened = opening
            .join()
            .map_err(|_| refused(out, "the thread opening the bundle failed"))?
            .map_err(fail)?;
        if let Some(writer) = opened {
            updating = Some((writer, affected?));
        }
    }
    let journaled = updating.is_some();
    let (writer, rendered) = match updating {
        Some((mut writer, affected)) => {
            let rendered = render_changed(instance, &mut writer, &affected, out, progress).await?;
            (writer, rendered)
        }
        None => {
            let mut writer = BundleWriter::create(out).map_err(fail)?;
            let rendered = render_all(instance, &mut writer, out, progress).await?;
            (writer, rendered)
        }
    };
    // The key only now, when the rows are in place: an export refused
    // earlier (another instance's bundle, foreign files in `out`) creates
    // none.
    let (key, key_created) = instance_key(keys, name)?;
    let public_key = key.public_key().to_minisign_base64();

    // The content is unchanged when the manifest it would have under the
    // last sequence is the one last exported: then keep the number, and the
    // same bytes (Ed25519 signatures are deterministic) wherever it goes.
    // Updating, the previous manifest *is* the one last exported (same
    // digest), so comparing its files with the new ones is enough.
    let unchanged = if journaled {
        writer.has_previous_files()
            && writer
                .previous_manifest()
                .is_some_and(|m| m.public_key == public_key && m.instance == name.as_str())
    } else {
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
        stored > 0
            && stored_digest.as_deref() == Some(sha256_hex(candidate_text.as_bytes()).as_str())
    };
    let files = writer.file_count();
    let sequence = if unchanged { stored } else { stored + 1 };
    if !unchanged {
        store.set_export_state(sequence, None).await?;
    }
    let written = writer
        .finish(name.as_str(), &public_key, sequence)
        .map_err(fail)?;
    // The manifest's digest and its signature each hash it whole: side by
    // side.
    let comment = bundle_trusted_comment(name.as_str(), sequence)?;
    let (digest, signature) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| sha256_hex(&written.manifest_bytes));
        let signature = sign_minisign(&key, &written.manifest_bytes, &comment);
        (digest.join(), signature)
    });
    let digest = digest.map_err(|_| refused(out, "the thread hashing the manifest failed"))?;
    if !unchanged {
        store.set_export_state(sequence, Some(&digest)).await?;
    }
    let sig_path = out.join(SIGNATURE_FILE_NAME);
    if std::fs::read(&sig_path).ok().as_deref() != Some(signature.as_bytes()) {
        write_signature(out, signature.as_bytes()).map_err(fail)?;
    }
    write_key_rotations(out, rotations.as_deref().map(str::as_bytes)).map_err(fail)?;
    // What `out` holds now reflects every change noted up to `through`.
    store.forget_changes(changes.through).await?;
    Ok(ExportSummary {
        origin: name.clone(),
        sequence,
        changed: !unchanged,
        files,
        rendered,
        written: written.written,
        removed: written.removed,
        key_created,
    })
}

/// The text of this instance's rotation chain (`None` if it never
/// rotated), which every bundle carries as `key-rotations.txt`; refused when
/// the chain does not end at the instance key (an interrupted rotation, see
/// `docs/keys.md`), since peers would refuse the bundle.
fn own_rotations(keys: &KeyStore, name: &InstanceName) -> Result<Option<String>> {
    let chain = keys.load_rotations(name.as_str())?;
    let Some(last) = chain.last_key() else {
        return Ok(None);
    };
    let current = keys.load(name.as_str())?.public_key();
    if *last == current {
        return Ok(Some(chain.to_text()));
    }
    Err(refused(
        &keys.rotations_path(name.as_str())?,
        format!(
            "the rotation chain ends at key {}, but the instance key is {}; a rotation was \
             interrupted or a key replaced by hand: restore the key from {} and run \
             `wb sync keygen --rotate` again",
            last.key_id(),
            current.key_id(),
            keys.retired_dir().display()
        ),
    ))
}

/// Renders every exported row into `writer` (from [`BundleWriter::create`]),
/// keeping the files of rows unchanged since they were rendered when the
/// directory held this instance's previous bundle; returns how many rows
/// were rendered.
async fn render_all(
    instance: &Instance,
    writer: &mut BundleWriter,
    out: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let store = instance.store();
    let name = instance.name();
    // Files of the previous bundle in `out` can be kept unread only if that
    // bundle is this instance's, in this schema. Without one, every row is
    // rendered as it is read, and the records of rendered files are left as
    // they are (reading them would cost more than it saves; a stale record
    // only makes a later export render that row again).
    let reuse = writer
        .previous_manifest()
        .is_some_and(|m| m.instance == name.as_str() && m.schema_version == CURRENT_SCHEMA_VERSION);
    if !reuse {
        return render_streamed(instance, writer, out, progress).await;
    }
    if store.rendered_by().await?.as_deref() != Some(RENDERER) {
        store.reset_rendered(RENDERER).await?;
    }
    let heads = Heads::read(instance).await?;
    let exported = heads.exported();
    let total: usize = exported.iter().map(Vec::len).sum();
    progress.start("exporting files", total as u64);
    let mut rendered_rows = 0;
    for ((kind, heads), all) in KINDS.into_iter().zip(&exported).zip(&heads.0) {
        // Keep the files of rows unchanged since they were rendered.
        let mut render = Vec::new();
        for head in heads {
            if keep_unchanged(writer, kind, head).map_err(|e| refused(out, e))? {
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

/// Renders every exported row into `writer`, reading each table once, in
/// the order of [`KINDS`], and deciding and rendering each row as it
/// arrives, so that rows are never all in memory and reading overlaps
/// rendering (and the writer's storing thread); returns how many rows were
/// rendered.
async fn render_streamed(
    instance: &Instance,
    writer: &mut BundleWriter,
    out: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let store = instance.store();
    let name = instance.name();
    let mut total = 0;
    for kind in KINDS {
        total += store.row_count(store_kind(kind)).await?;
    }
    progress.start("exporting rows", total);
    let mut decide = Decide::default();
    let mut rendered = 0;
    let mut failed = None;
    // Decides one row and renders it if exported; false (with `failed`
    // set) stops the scan.
    let mut each = |kind: EntityKind,
                    head: RowHead,
                    file: &dyn Fn() -> std::result::Result<SyncFile, String>| {
        progress.step();
        if !decide.exported(kind, &head) {
            return true;
        }
        let added = file()
            .map_err(|e| refused(Path::new("(export)"), e))
            .and_then(|file| {
                writer
                    .add(&file)
                    .map(|_| ())
                    .map_err(|e| refused(out, e.to_string()))
            });
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
                    let refs = $refs;
                    let row_head = head(
                        $row.id,
                        &$row.origin,
                        name,
                        $row.scope,
                        $row.updated_at,
                        refs,
                    );
                    each($kind, row_head, &|| {
                        to_file($kind, $row.id, name, $row.updated_at, &$public::from(&$row))
                    })
                })
                .await?
        };
    }
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
            if let Some(i) = KINDS.iter().position(|k| store_kind(*k) == *kind) {
                ids[i].push(*id);
            }
        }
        let [users, requests, comments, invites, vouches] = &ids;
        let matching = |kind, ids: &[Uuid], referencing: &[Uuid]| {
            let ids = ids.to_vec();
            let referencing = referencing.to_vec();
            async move {
                store
                    .row_heads_matching(store_kind(kind), name, &ids, &referencing)
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

/// Renders into `writer` (from [`BundleWriter::update`]) the rows the
/// journal names as `changed`, and the rows whose effective scope they may
/// have changed: the rows referencing a changed user or request, and the
/// comments on requests of a changed user. Every other file of the bundle
/// stays as it is. Returns how many rows were rendered.
async fn render_changed(
    instance: &Instance,
    writer: &mut BundleWriter,
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
                && keep_unchanged(writer, kind, head).map_err(|e| refused(out, e))?
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
            writer
                .remove(&format!("{kind}/{id}{SYNC_FILE_SUFFIX}"))
                .map_err(|e| refused(out, e.to_string()))?;
            forget.push(id);
            progress.step();
        }
        let rendered = render_and_add(
            instance,
            writer,
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

/// Keeps the file of `head`'s row when the row has not changed since it was
/// rendered into exactly the file the previous manifest lists.
fn keep_unchanged(
    writer: &mut BundleWriter,
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
async fn render_and_add(
    instance: &Instance,
    writer: &mut BundleWriter,
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
            let file = file.map_err(|e| refused(Path::new("(export)"), e))?;
            let entry = writer.add(&file).map_err(|e| refused(out, e.to_string()))?;
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
async fn record(
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
        .record_rendered(store_kind(kind), &rendered, forget)
        .await?;
    Ok(())
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
    // Relay only what the pin still vouches for: after `wb sync peers pin`
    // moved the pin (a lost or compromised key), the bundle applied last
    // under the old key is not passed on.
    match store.pin(origin).await? {
        Some(pin) if pin.public_key == state.public_key => {}
        Some(pin) => {
            return Err(refused(
                out,
                format!(
                    "the bundle of {origin} applied last (sequence {}) is signed by key {}, but \
                     the key pinned for {origin} is now {}; import a bundle signed by the pinned \
                     key before relaying {origin}",
                    state.last_sequence, state.public_key, pin.public_key
                ),
            ));
        }
        None => {
            return Err(refused(
                out,
                format!(
                    "{origin} has no pinned key, so its rows are not relayed; pin it with `wb \
                     sync peers pin {origin} --key KEY`"
                ),
            ));
        }
    }
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
    progress.start("exporting files", files.len() as u64);
    for file in &files {
        writer.add(file).map_err(|e| refused(out, e.to_string()))?;
        progress.step();
    }
    progress.finish();
    let changed = writer.previous_manifest().is_none_or(|previous| {
        previous.sequence != state.last_sequence || !writer.has_previous_files()
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
    // The origin's chain goes with its bundle, so that a reader who pinned
    // an older key of the origin can follow it here too.
    write_key_rotations(out, state.key_rotations.as_deref().map(str::as_bytes))
        .map_err(|e| refused(out, e.to_string()))?;
    Ok(ExportSummary {
        origin: origin.clone(),
        sequence: state.last_sequence,
        changed,
        files: files.len() as u64,
        rendered: files.len() as u64,
        written: written.written,
        removed: written.removed,
        key_created: None,
    })
}
