//! The sync status page and "Export now": what peers will see of this
//! instance and when, read through `wb-engine` (`sync::pins::list_origins`,
//! `sync::export_bundle`, `Instance::sync_status`) and the key store.

use std::path::Path;
use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use wb_crypto::KeyStore;
use wb_engine::sync::peers::PeerRegistry;
use wb_engine::sync::pins::{OriginEntry, list_origins};
use wb_engine::sync::{NoProgress, default_export_dir, export_bundle, key_dir};
use wb_engine::sync_runs::SyncStatus;
use wb_model::Timestamp;
use wb_syncfmt::{MANIFEST_FILE_NAME, Manifest};

use crate::AdminState;
use crate::response::{PageError, html, redirect};
use crate::session::{Protected, Session};
use crate::state::Flash;
use crate::views::{self, Section};

/// This instance's signing key, as peers pin it.
#[derive(Debug)]
pub(crate) enum KeyView {
    /// The key id (hex) and the one-line public key.
    Present { key_id: String, public_key: String },
    /// No key yet, or it cannot be read: why.
    Missing(String),
}

/// The bundle this instance last exported.
#[derive(Debug)]
pub(crate) struct ExportView {
    /// The export directory.
    pub(crate) dir: String,
    /// When the manifest there was written, if it is there.
    pub(crate) written: Option<Timestamp>,
    /// Row files the manifest lists, if it is there and readable.
    pub(crate) files: Option<usize>,
}

/// What the status page shows.
#[derive(Debug)]
pub(crate) struct StatusView {
    /// `None` when the server does not know the instance directory.
    pub(crate) key: Option<KeyView>,
    pub(crate) export: Option<ExportView>,
    pub(crate) origins: Vec<OriginEntry>,
    /// Why the peer registry could not be read, if it could not.
    pub(crate) registry_error: Option<String>,
    /// The last export's sequence, the changes since, the last push and
    /// pull.
    pub(crate) sync: SyncStatus,
}

fn modified(path: &Path) -> Option<Timestamp> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let micros = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_micros();
    Timestamp::from_unix_micros(i64::try_from(micros).ok()?).ok()
}

pub(crate) async fn status_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, PageError> {
    let instance = state.instance();
    let name = instance.name();
    let mut view = StatusView {
        key: None,
        export: None,
        origins: Vec::new(),
        registry_error: None,
        sync: instance.sync_status().await?,
    };
    let registry = match state.instance_dir() {
        Some(dir) => {
            let keys = KeyStore::new(key_dir(dir));
            view.key = Some(match keys.load_public(name.as_str()) {
                Ok(key) => KeyView::Present {
                    key_id: key.key_id_hex(),
                    public_key: key.to_minisign_base64(),
                },
                Err(err) => KeyView::Missing(format!(
                    "No signing key can be read ({err}); the first export creates one."
                )),
            });
            let out = default_export_dir(dir, name);
            let manifest = out.join(MANIFEST_FILE_NAME);
            let files = std::fs::read(&manifest)
                .ok()
                .and_then(|bytes| Manifest::parse(&bytes, MANIFEST_FILE_NAME).ok())
                .map(|m| m.files.len());
            view.export = Some(ExportView {
                dir: out.display().to_string(),
                written: modified(&manifest),
                files,
            });
            match PeerRegistry::load(dir) {
                Ok(registry) => Some(registry),
                Err(err) => {
                    view.registry_error = Some(err.to_string());
                    None
                }
            }
        }
        None => None,
    };
    let registry = match registry {
        Some(registry) => registry,
        None => {
            PeerRegistry::parse("", Path::new("sync_peers.txt")).map_err(|_| PageError::Internal)?
        }
    };
    view.origins = list_origins(instance, &registry).await?;
    let frame =
        crate::routes::frame(&state, &session, Section::Status, crate::routes::here(&req)).await?;
    Ok(html(StatusCode::OK, views::status_page(&frame, &view)))
}

/// A form with nothing but the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct NoFields {}

/// Exports this instance's bundle now, into its usual directory, as
/// `wb sync export` does.
pub(crate) async fn export_now(
    form: Protected<NoFields>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, PageError> {
    let session = form.session;
    let instance = state.instance();
    let Some(dir) = state.instance_dir() else {
        state.set_flash(
            &session.key,
            Flash::refused("Not exported: this server does not know the instance directory."),
        );
        return Ok(redirect("/status"));
    };
    let keys = KeyStore::new(key_dir(dir));
    let out = default_export_dir(dir, instance.name());
    let flash = match export_bundle(instance, &keys, &out, &NoProgress).await {
        Ok(summary) if summary.changed => Flash::done(format!(
            "Exported sequence {}: {} files ({} written, {} removed){}.",
            summary.sequence,
            summary.files,
            summary.written,
            summary.removed,
            if summary.key_created.is_some() {
                "; a new signing key was created — back it up, peers pin it"
            } else {
                ""
            }
        )),
        Ok(summary) => Flash::done(format!(
            "Nothing changed since the last export: still sequence {} ({} files).",
            summary.sequence, summary.files
        )),
        Err(err) => Flash::refused(format!("Not exported: {err}.")),
    };
    state.set_flash(&session.key, flash);
    Ok(redirect("/status"))
}
