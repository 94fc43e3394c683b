//! The hub's HTTP API (actix-web), versioned under `/v1`:
//!
//! | method and path | what |
//! |---|---|
//! | `GET /v1/health` | liveness |
//! | `GET /v1/instances` | registered instances with their latest bundle |
//! | `GET /v1/instances/{name}/bundle` | the latest archive; `ETag`, `If-None-Match` → 304 |
//! | `PUT /v1/instances/{name}/bundle` | publish (bearer token; body: the archive) |
//!
//! An upload is checked in this order, and a refusal changes nothing:
//! token (401/403), declared length (413), body read with a byte count and
//! a deadline (413/408), archive names (422), bundle layout, signature with
//! the registered key, trusted comment, every file (422), then one
//! conditional upsert (409 when not newer). Every refusal is a JSON
//! [`crate::ErrorBody`]. Request logs (tracing, target `wb_hub`) carry
//! method, path, status and time — never the `Authorization` header.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service as _};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use futures_util::StreamExt as _;
use std::collections::BTreeMap;
use wb_model::text::escape_control;
use wb_model::{InstanceName, Timestamp};

use wb_store::hub::{BundleInfo, HubFile, HubStore, NewBundle, PublishOutcome, StoredManifest};
use wb_syncfmt::bundle::Limits;
use wb_syncfmt::{
    KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, Manifest, SIGNATURE_FILE_NAME, sha256_hex,
};

use crate::api::{Health, InstanceList, InstanceSummary, UploadReceipt};
use crate::archive::{self, ArchiveError};
use crate::token::IssuedToken;
use crate::verify::{VerifiedBundle, verify_files};
use crate::{ErrorBody, ErrorCode};

pub use crate::api::ARCHIVE_CONTENT_TYPE;

/// Settings of a running hub.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HubConfig {
    /// Largest upload body accepted, in bytes (default 64 MiB).
    pub max_bundle_bytes: u64,
    /// Deadline for receiving a whole upload body (default 30 s).
    pub body_timeout: Duration,
    /// Limits applied to the files of an uploaded bundle.
    pub limits: Limits,
    /// Worker threads (default 2).
    pub workers: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            max_bundle_bytes: 64 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            workers: 2,
        }
    }
}

impl HubConfig {
    /// This configuration with another upload size limit.
    #[must_use]
    pub fn with_max_bundle_bytes(mut self, bytes: u64) -> Self {
        self.max_bundle_bytes = bytes;
        self
    }

    /// This configuration with another body deadline.
    #[must_use]
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }
}

#[derive(Clone)]
struct HubState {
    store: HubStore,
    config: Arc<HubConfig>,
}

/// A refusal: an [`ErrorCode`] and a sentence, answered as JSON.
#[derive(Debug, Clone)]
struct Rejection {
    code: ErrorCode,
    message: String,
    /// Answer with `Connection: close`: the request body may be unread, so
    /// the connection must not be reused for another request.
    close: bool,
}

impl Rejection {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            close: false,
        }
    }

    /// This rejection, closing the connection after the answer.
    fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    fn internal(what: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(
            target: "wb_hub",
            error = %escape_control(&err.to_string()),
            "{what}"
        );
        Self::new(
            ErrorCode::Internal,
            format!("the hub failed while {what}; see its log"),
        )
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.code == ErrorCode::MissingToken {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if self.close {
            response.force_close();
        }
        response.json(ErrorBody {
            code: self.code.as_str().to_owned(),
            message: self.message.clone(),
        })
    }
}

/// A bound hub, ready to run: await [`RunningHub::server`] (or spawn it).
pub struct RunningHub {
    /// The address actually bound (the real port when port 0 was asked for).
    pub addr: SocketAddr,
    /// The server future; its handle stops it.
    pub server: Server,
}

impl std::fmt::Debug for RunningHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningHub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Binds the hub API on `addr` over `store` (already migrated). Must be
/// called inside a Tokio or actix runtime.
///
/// # Errors
///
/// The address cannot be bound.
pub fn bind(store: HubStore, config: HubConfig, addr: SocketAddr) -> std::io::Result<RunningHub> {
    let workers = config.workers.max(1);
    let state = HubState {
        store,
        config: Arc::new(config),
    };
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(web::Data::new(state.clone()))
            .wrap_fn(|req, service| {
                let method = req.method().clone();
                let path = req.path().to_owned();
                let started = Instant::now();
                let response = service.call(req);
                async move {
                    let response = response.await;
                    let elapsed_ms = started.elapsed().as_millis();
                    // The path and the error quote what the client sent:
                    // escaped, so a log line shows it and cannot forge
                    // another line or drive a terminal.
                    let path = escape_control(&path);
                    match &response {
                        Ok(ok) => tracing::info!(
                            target: "wb_hub", %method, %path,
                            status = ok.status().as_u16(), elapsed_ms, "request"
                        ),
                        Err(err) => tracing::warn!(
                            target: "wb_hub", %method, %path,
                            error = %escape_control(&err.to_string()), elapsed_ms, "request failed"
                        ),
                    }
                    response
                }
            })
            .configure(routes)
    })
    .workers(workers)
    .bind(addr)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("no address was bound"))?;
    Ok(RunningHub {
        addr,
        server: server.run(),
    })
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/v1/health", web::get().to(health))
        .route("/v1/instances", web::get().to(list))
        .route("/v1/instances/{name}/bundle", web::get().to(download))
        .route("/v1/instances/{name}/bundle", web::put().to(upload))
        .default_service(web::to(|| async {
            Rejection::new(
                ErrorCode::NotFound,
                "no such endpoint; the API lives under /v1",
            )
            .error_response()
        }));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
        api: 1,
    })
}

async fn list(state: web::Data<HubState>) -> Result<HttpResponse, Rejection> {
    let listing = state
        .store
        .listing()
        .await
        .map_err(|e| Rejection::internal("listing instances", &e))?;
    let instances = listing
        .into_iter()
        .map(|entry| InstanceSummary {
            name: entry.instance.name.to_string(),
            public_key: entry.instance.public_key,
            sequence: entry.bundle.as_ref().map(|b| b.sequence),
            manifest_sha256: entry.bundle.as_ref().map(|b| b.manifest_sha256.clone()),
            size: entry.bundle.as_ref().map(|b| b.size),
            published_at: entry.bundle.as_ref().map(|b| b.published_at.to_string()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(InstanceList { instances }))
}

fn parse_instance(name: &str) -> Result<InstanceName, Rejection> {
    InstanceName::parse(name).map_err(|_| {
        Rejection::new(
            ErrorCode::NotFound,
            format!(
                "{:?} is not an instance name",
                name.chars().take(64).collect::<String>()
            ),
        )
    })
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison).
fn none_match(header: &HeaderValue, etag: &str) -> bool {
    let Ok(text) = header.to_str() else {
        return false;
    };
    text.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == quoted(etag)
    })
}

async fn download(
    state: web::Data<HubState>,
    name: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Rejection> {
    let instance = parse_instance(&name)?;
    let no_bundle = || {
        Rejection::new(
            ErrorCode::NotFound,
            format!("{instance} has not published a bundle on this hub"),
        )
    };
    if let Some(header) = req.headers().get(header::IF_NONE_MATCH) {
        let info = state
            .store
            .bundle_info(&instance)
            .await
            .map_err(|e| Rejection::internal("reading a bundle", &e))?
            .ok_or_else(no_bundle)?;
        if none_match(header, &info.etag) {
            return Ok(with_bundle_headers(HttpResponse::NotModified(), &info).finish());
        }
    }
    let stored = state
        .store
        .latest_manifest(&instance)
        .await
        .map_err(|e| Rejection::internal("reading a bundle", &e))?
        .ok_or_else(no_bundle)?;
    let info = stored.info.clone();
    let archive = rebuild_archive(&state.store, stored, &state.config.limits).await?;
    Ok(with_bundle_headers(HttpResponse::Ok(), &info)
        .content_type(ARCHIVE_CONTENT_TYPE)
        .body(archive))
}

/// The canonical archive of a stored bundle: its manifest, signature and
/// rotations, and the files its manifest names, read from the
/// content-addressed store and packed as `archive::pack_files` packs them
/// (so the bytes, and the `ETag`, are those computed at publication).
async fn rebuild_archive(
    store: &HubStore,
    stored: StoredManifest,
    limits: &Limits,
) -> Result<Vec<u8>, Rejection> {
    let manifest = Manifest::parse_with_limit(
        &stored.manifest,
        MANIFEST_FILE_NAME,
        limits.max_manifest_bytes,
    )
    .map_err(|e| Rejection::internal("reading a stored manifest", &e))?;
    let hashes: Vec<String> = manifest.files.iter().map(|e| e.sha256_hex()).collect();
    let mut contents: BTreeMap<String, Vec<u8>> = store
        .files(&hashes)
        .await
        .map_err(|e| Rejection::internal("reading a bundle", &e))?
        .into_iter()
        .map(|f| (f.sha256, f.content))
        .collect();
    // Two paths may name the same content: each takes a copy but the last.
    let mut uses: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for hash in &hashes {
        *uses.entry(hash.as_str()).or_default() += 1;
    }
    let mut files = BTreeMap::new();
    for (entry, hash) in manifest.files.iter().zip(&hashes) {
        let left = uses.get_mut(hash.as_str()).map_or(0, |n| {
            *n -= 1;
            *n
        });
        let content = if left > 0 {
            contents.get(hash).cloned()
        } else {
            contents.remove(hash)
        };
        let content = content.ok_or_else(|| {
            Rejection::internal("reading a bundle", &format!("file {hash} is missing"))
        })?;
        files.insert(entry.path.clone(), content);
    }
    files.insert(MANIFEST_FILE_NAME.to_owned(), stored.manifest);
    files.insert(SIGNATURE_FILE_NAME.to_owned(), stored.signature);
    if let Some(rotations) = stored.key_rotations {
        files.insert(KEY_ROTATIONS_FILE_NAME.to_owned(), rotations);
    }
    web::block(move || archive::pack_files(&files))
        .await
        .map_err(|e| Rejection::internal("packing a bundle", &e))?
        .map_err(|e| Rejection::internal("packing a bundle", &e))
}

fn with_bundle_headers(
    mut response: actix_web::HttpResponseBuilder,
    info: &BundleInfo,
) -> actix_web::HttpResponseBuilder {
    response
        .insert_header((header::ETAG, quoted(&info.etag)))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Wb-Sequence", info.sequence.to_string()))
        .insert_header(("X-Wb-Manifest-Sha256", info.manifest_sha256.clone()));
    response
}

/// Checks the bearer token for an upload to `instance`.
async fn authenticate(
    state: &HubState,
    req: &HttpRequest,
    instance: &InstanceName,
) -> Result<(), Rejection> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(Rejection::new(
            ErrorCode::MissingToken,
            "an upload needs an Authorization: Bearer <token> header (the hub operator issues tokens with `wb-hub token issue`)",
        ));
    };
    let unknown = || {
        Rejection::new(
            ErrorCode::UnknownToken,
            "the token is not known to this hub",
        )
    };
    let text = value.to_str().map_err(|_| unknown())?;
    let Some(secret) = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
    else {
        return Err(Rejection::new(
            ErrorCode::MissingToken,
            "the Authorization header must be of the form Bearer <token>",
        ));
    };
    let offered = IssuedToken::parse(secret).map_err(|_| unknown())?;
    let stored = state
        .store
        .token(offered.id())
        .await
        .map_err(|e| Rejection::internal("looking up a token", &e))?
        .ok_or_else(unknown)?;
    if !offered.matches(&stored.secret_sha256) {
        return Err(unknown());
    }
    if stored.revoked_at.is_some() {
        return Err(Rejection::new(
            ErrorCode::RevokedToken,
            format!(
                "token {} was revoked; ask the hub operator for a new one",
                stored.id
            ),
        ));
    }
    if stored.instance != *instance {
        return Err(Rejection::new(
            ErrorCode::WrongInstance,
            format!(
                "token {} publishes for {}, not for {instance}",
                stored.id, stored.instance
            ),
        ));
    }
    Ok(())
}

fn too_large(limit: u64) -> Rejection {
    Rejection::new(
        ErrorCode::TooLarge,
        format!("the bundle archive is larger than this hub's limit of {limit} bytes"),
    )
}

/// Reads the body, counting bytes against the limit, within the deadline.
async fn read_body(payload: &mut web::Payload, config: &HubConfig) -> Result<Vec<u8>, Rejection> {
    let limit = config.max_bundle_bytes;
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                Rejection::new(
                    ErrorCode::IncompleteBody,
                    format!("the upload was cut off before its end ({e}); nothing was changed"),
                )
            })?;
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    actix_web::rt::time::timeout(config.body_timeout, read)
        .await
        .map_err(|_| {
            Rejection::new(
                ErrorCode::Timeout,
                format!(
                    "the upload body did not arrive within {} s; nothing was changed",
                    config.body_timeout.as_secs_f64()
                ),
            )
        })?
}

fn archive_rejection(err: &ArchiveError) -> Rejection {
    let code = match err {
        ArchiveError::NotAFile { .. } | ArchiveError::UnsafePath { .. } => ErrorCode::UnsafePath,
        ArchiveError::Io { .. } => return Rejection::internal("unpacking an upload", err),
        _ => ErrorCode::BadBundle,
    };
    Rejection::new(code, err.to_string())
}

/// A verified upload: its canonical archive, its files (path → bytes) and
/// what the verification found.
type Checked = (Vec<u8>, BTreeMap<String, Vec<u8>>, VerifiedBundle);

/// Reads the archive into memory, verifies it there against the registered
/// key (the one verification path the importer takes too), and re-packs it
/// canonically. Nothing touches the disk. Blocking.
/// The verified files come back for storing (path → bytes).
fn check_upload(
    body: &[u8],
    instance: &str,
    key: &str,
    limits: &Limits,
) -> Result<Checked, Rejection> {
    let files = archive::read_entries_within(body, limits).map_err(|e| archive_rejection(&e))?;
    let canonical = archive::pack_files(&files).map_err(|e| archive_rejection(&e))?;
    let verified = verify_files(files.clone(), instance, key, limits).map_err(|e| {
        let code = e.code();
        if code == ErrorCode::Internal {
            Rejection::internal("verifying an upload", &e)
        } else {
            Rejection::new(code, e.to_string())
        }
    })?;
    Ok((canonical, files, verified))
}

/// The verified bundle `files` as the store keeps it: the signed part, and
/// the entity files the content-addressed store lacks.
async fn content_addressed(
    store: &HubStore,
    info: BundleInfo,
    verified: &VerifiedBundle,
    mut files: BTreeMap<String, Vec<u8>>,
) -> Result<NewBundle, Rejection> {
    let mut take = |name: &str| files.remove(name);
    let (Some(manifest), Some(signature)) = (take(MANIFEST_FILE_NAME), take(SIGNATURE_FILE_NAME))
    else {
        return Err(Rejection::internal(
            "storing a bundle",
            &"a verified bundle lacks its manifest",
        ));
    };
    let key_rotations = take(KEY_ROTATIONS_FILE_NAME);
    let hashes: Vec<String> = verified
        .manifest
        .files
        .iter()
        .map(|e| e.sha256_hex())
        .collect();
    let mut missing: std::collections::HashSet<String> = store
        .missing_files(&hashes)
        .await
        .map_err(|e| Rejection::internal("storing a bundle", &e))?
        .into_iter()
        .collect();
    let mut new_files = Vec::with_capacity(missing.len());
    for (entry, hash) in verified.manifest.files.iter().zip(hashes) {
        // The first path of each missing content gives it.
        if missing.remove(&hash)
            && let Some(content) = files.remove(&entry.path)
        {
            new_files.push(HubFile {
                sha256: hash,
                content,
            });
        }
    }
    Ok(NewBundle {
        manifest: StoredManifest {
            info,
            manifest,
            signature,
            key_rotations,
        },
        files: new_files,
    })
}

async fn upload(
    state: web::Data<HubState>,
    name: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Rejection> {
    // Most refusals answer before the body is read (token, declared size,
    // limit while streaming, deadline). A client that pooled such a
    // connection would send its next request into a connection the hub is
    // about to drop, so every refused upload closes its connection.
    publish(state, name, req, payload)
        .await
        .map_err(Rejection::closing)
}

/// Checks, verifies and publishes one upload.
async fn publish(
    state: web::Data<HubState>,
    name: web::Path<String>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, Rejection> {
    let instance = parse_instance(&name)?;
    authenticate(&state, &req, &instance).await?;
    let config = &state.config;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > config.max_bundle_bytes) {
        return Err(too_large(config.max_bundle_bytes));
    }
    let body = read_body(&mut payload, config).await?;
    let registered = state
        .store
        .instance(&instance)
        .await
        .map_err(|e| Rejection::internal("looking up an instance", &e))?
        .ok_or_else(|| {
            Rejection::new(
                ErrorCode::NotFound,
                format!("{instance} is not registered on this hub"),
            )
        })?;
    let limits = config.limits.clone();
    let name_text = instance.to_string();
    let registered_key = registered.public_key.clone();
    let (archive, files, verified) =
        web::block(move || check_upload(&body, &name_text, &registered.public_key, &limits))
            .await
            .map_err(|e| Rejection::internal("verifying an upload", &e))??;
    let sequence = verified.manifest.sequence;
    if i64::try_from(sequence).is_err() {
        return Err(Rejection::new(
            ErrorCode::BadBundle,
            format!("sequence {sequence} is larger than this hub can store (2^63 - 1)"),
        ));
    }
    let etag = sha256_hex(&archive);
    let info = BundleInfo {
        instance: instance.clone(),
        sequence,
        manifest_sha256: verified.manifest_sha256.clone(),
        size: archive.len() as u64,
        etag: etag.clone(),
        published_at: Timestamp::now(),
    };
    let bundle = content_addressed(&state.store, info, &verified, files).await?;
    // A rotation moves the registered key in the same transaction.
    let stored = if verified.rotated {
        state
            .store
            .publish_rotated(&bundle, &registered_key, &verified.manifest.public_key)
            .await
    } else {
        state.store.publish(&bundle).await
    };
    let status = match stored.map_err(|e| Rejection::internal("storing a bundle", &e))? {
        PublishOutcome::Published => "published",
        PublishOutcome::Unchanged => "unchanged",
        PublishOutcome::Stale { stored_sequence } => {
            return Err(Rejection::new(
                ErrorCode::StaleSequence,
                format!(
                    "{instance} sequence {sequence} is not newer than the stored sequence {stored_sequence} (and differs from it); export again to get a higher sequence"
                ),
            ));
        }
        PublishOutcome::KeyChanged => {
            return Err(Rejection::new(
                ErrorCode::StaleSequence,
                format!(
                    "the registered key of {instance} changed while this upload was verified; push again"
                ),
            ));
        }
        _ => {
            return Err(Rejection::internal(
                "storing a bundle",
                &"unexpected outcome",
            ));
        }
    };
    tracing::info!(target: "wb_hub", %instance, sequence, status, rotated = verified.rotated, "upload");
    Ok(HttpResponse::Ok().json(UploadReceipt {
        status: status.to_owned(),
        instance: instance.to_string(),
        sequence,
        manifest_sha256: verified.manifest_sha256,
        etag,
    }))
}
