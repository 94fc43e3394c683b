//! The hub's HTTP API (actix-web), version 2, under `/v2` (`docs/hub.md`):
//!
//! | method and path | what |
//! |---|---|
//! | `GET /v2/health` | liveness |
//! | `GET /v2/instances` | registered instances with their latest bundle |
//! | `GET /v2/instances/{name}` | one instance and its latest bundle (which manifest the hub holds) |
//! | `GET /v2/instances/{name}/bundle[?since=SHA]` | the latest archive; `ETag`, `If-None-Match` → 304; with `since`, a delta when the hub still holds that manifest |
//! | `PUT /v2/instances/{name}/bundle` | publish (bearer token; body: the archive) |
//! | `PATCH /v2/instances/{name}/bundle` | publish what changed (bearer token; body: a delta archive) |
//!
//! An upload is checked in this order, and a refusal changes nothing:
//! token (401/403), declared length (413), body read with a byte count and
//! a deadline (413/408), archive names (422); for a delta, its base must be
//! a manifest the hub holds (409 `unknown-base`), the manifest is rebuilt
//! and must hash as the delta says, and the files of unchanged lines come
//! from the store; then the whole bundle, in memory: layout, signature with
//! the registered key, trusted comment, every file (422) — the one
//! verification path — then one publishing transaction (409 when not
//! newer). Every refusal is a JSON [`crate::ErrorBody`]. Request logs
//! (tracing, target `wb_hub`) carry method, path, status and time — never
//! the `Authorization` header.

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
use wb_syncfmt::bundle::{BundleParts, Limits};
use wb_syncfmt::{KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, Manifest, SIGNATURE_FILE_NAME};

use crate::api::{
    API_PREFIX, API_VERSION, DELTA_CONTENT_TYPE, Health, InstanceList, InstanceSummary,
    UploadReceipt, bundle_etag,
};
use crate::archive::{self, ArchiveError};
use crate::cache::{CachedManifest, ManifestCache};
use crate::delta::{self, DELTA_FILE_NAME, ManifestDelta};
use crate::token::IssuedToken;
use crate::verify::{UpdateChecked, VerifiedBundle, VerifyError, verify_files, verify_update};
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
    /// Bytes of recently used manifests held in memory for deltas
    /// (default 64 MiB; 0 holds none): see `docs/hub.md`, "Memory".
    pub manifest_cache_bytes: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            max_bundle_bytes: 64 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            workers: 2,
            manifest_cache_bytes: 64 * 1024 * 1024,
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

    /// This configuration with another budget for cached manifests.
    #[must_use]
    pub fn with_manifest_cache_bytes(mut self, bytes: usize) -> Self {
        self.manifest_cache_bytes = bytes;
        self
    }
}

#[derive(Clone)]
struct HubState {
    store: HubStore,
    config: Arc<HubConfig>,
    manifests: Arc<ManifestCache>,
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
        manifests: Arc::new(ManifestCache::new(config.manifest_cache_bytes)),
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
        .route("/v2/health", web::get().to(health))
        .route("/v2/instances", web::get().to(list))
        .route("/v2/instances/{name}", web::get().to(one_instance))
        .route("/v2/instances/{name}/bundle", web::get().to(download))
        .route("/v2/instances/{name}/bundle", web::put().to(upload))
        .route("/v2/instances/{name}/bundle", web::patch().to(upload_delta))
        .default_service(web::to(|| async {
            Rejection::new(
                ErrorCode::NotFound,
                format!(
                    "no such endpoint; the API (version {API_VERSION}) lives under {API_PREFIX}"
                ),
            )
            .error_response()
        }));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
        api: API_VERSION,
    })
}

fn summary(entry: wb_store::hub::InstanceListing) -> InstanceSummary {
    InstanceSummary {
        name: entry.instance.name.to_string(),
        public_key: entry.instance.public_key,
        sequence: entry.bundle.as_ref().map(|b| b.sequence),
        manifest_sha256: entry.bundle.as_ref().map(|b| b.manifest_sha256.clone()),
        size: entry.bundle.as_ref().map(|b| b.size),
        published_at: entry.bundle.as_ref().map(|b| b.published_at.to_string()),
    }
}

async fn list(state: web::Data<HubState>) -> Result<HttpResponse, Rejection> {
    let listing = state
        .store
        .listing()
        .await
        .map_err(|e| Rejection::internal("listing instances", &e))?;
    let instances = listing.into_iter().map(summary).collect();
    Ok(HttpResponse::Ok().json(InstanceList { instances }))
}

async fn one_instance(
    state: web::Data<HubState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Rejection> {
    let instance = parse_instance(&name)?;
    let registered = state
        .store
        .instance(&instance)
        .await
        .map_err(|e| Rejection::internal("reading an instance", &e))?
        .ok_or_else(|| {
            Rejection::new(
                ErrorCode::NotFound,
                format!("{instance} is not registered on this hub"),
            )
        })?;
    let bundle = state
        .store
        .bundle_info(&instance)
        .await
        .map_err(|e| Rejection::internal("reading a bundle", &e))?;
    Ok(
        HttpResponse::Ok().json(summary(wb_store::hub::InstanceListing {
            instance: registered,
            bundle,
        })),
    )
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

/// The query of `GET /v2/instances/{name}/bundle`.
#[derive(serde::Deserialize)]
struct DownloadQuery {
    /// SHA-256 of a manifest the client holds.
    since: Option<String>,
}

async fn download(
    state: web::Data<HubState>,
    name: web::Path<String>,
    query: web::Query<DownloadQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, Rejection> {
    let instance = parse_instance(&name)?;
    let no_bundle = || {
        Rejection::new(
            ErrorCode::NotFound,
            format!("{instance} has not published a bundle on this hub"),
        )
    };
    let latest_info = async || {
        state
            .store
            .bundle_info(&instance)
            .await
            .map_err(|e| Rejection::internal("reading a bundle", &e))?
            .ok_or_else(no_bundle)
    };
    let mut known = None;
    if let Some(header) = req.headers().get(header::IF_NONE_MATCH) {
        let info = latest_info().await?;
        if none_match(header, &info.etag) {
            return Ok(with_bundle_headers(HttpResponse::NotModified(), &info).finish());
        }
        known = Some(info);
    }
    let limits = &state.config.limits;
    if let Some(since) = query.into_inner().since {
        let info = match known {
            Some(info) => info,
            None => latest_info().await?,
        };
        if since == info.manifest_sha256 {
            return Ok(with_bundle_headers(HttpResponse::NotModified(), &info).finish());
        }
        // Whether the hub holds a manifest is the store's to say, even
        // when it is cached.
        let kept = state
            .store
            .kept_manifests(&instance)
            .await
            .map_err(|e| Rejection::internal("reading a bundle", &e))?;
        let holds = |sha256: &str| kept.iter().any(|k| k.manifest_sha256 == sha256);
        let (latest, base) = if holds(&since) && holds(&info.manifest_sha256) {
            (
                manifest_of(&state, &instance, &info.manifest_sha256).await?,
                manifest_of(&state, &instance, &since).await?,
            )
        } else {
            (None, None)
        };
        if let (Some(latest), Some(base)) = (latest, base) {
            let body = delta_of(&state.store, &base, &latest, limits).await?;
            return Ok(with_bundle_headers(HttpResponse::Ok(), &info)
                .insert_header(("X-Wb-Transfer", "delta"))
                .content_type(DELTA_CONTENT_TYPE)
                .body(body));
        }
        // The hub no longer holds that manifest (or, published over since,
        // the latest it just named): the whole archive.
    }
    let stored = state
        .store
        .latest_manifest(&instance)
        .await
        .map_err(|e| Rejection::internal("reading a bundle", &e))?
        .ok_or_else(no_bundle)?;
    let info = stored.info.clone();
    let (size, chunks) = archive_stream(state.store.clone(), stored, limits)?;
    Ok(with_bundle_headers(HttpResponse::Ok(), &info)
        .insert_header(("X-Wb-Transfer", "full"))
        .content_type(ARCHIVE_CONTENT_TYPE)
        .no_chunking(size)
        .streaming(chunks))
}

/// The manifest `sha256` of `instance`, which the store keeps: from the
/// cache, or read from the store (and then cached, unparsed); `None` when
/// the store no longer has it.
async fn manifest_of(
    state: &HubState,
    instance: &InstanceName,
    sha256: &str,
) -> Result<Option<Arc<CachedManifest>>, Rejection> {
    if let Some(cached) = state.manifests.get(instance, sha256) {
        return Ok(Some(cached));
    }
    let Some(stored) = state
        .store
        .manifest(instance, sha256)
        .await
        .map_err(|e| Rejection::internal("reading a bundle", &e))?
    else {
        return Ok(None);
    };
    let cached = Arc::new(CachedManifest::new(stored, None));
    state.manifests.insert(Arc::clone(&cached));
    Ok(Some(cached))
}

/// The delta archive from the kept manifest `base` to the latest bundle
/// `latest`: the delta, the signature, the rotation chain and the files
/// of the changed lines.
async fn delta_of(
    store: &HubStore,
    base: &Arc<CachedManifest>,
    latest: &Arc<CachedManifest>,
    limits: &Limits,
) -> Result<Vec<u8>, Rejection> {
    // Two manifests of 8 MB at 100k rows: walked off the async workers,
    // and not hashed again (the store keys them by hash).
    let max_manifest = limits.max_manifest_bytes;
    let (base, new) = (Arc::clone(base), Arc::clone(latest));
    let (delta, entries) = web::block(move || {
        let (base, new) = (&base.stored, &new.stored);
        let delta = delta::diff_hashed(
            &base.manifest,
            &base.info.manifest_sha256,
            &new.manifest,
            &new.info.manifest_sha256,
            max_manifest,
        )?;
        let entries: Vec<(String, String)> = delta
            .changed_entries()?
            .into_iter()
            .map(|e| {
                let hash = e.sha256_hex();
                (e.path, hash)
            })
            .collect();
        Ok::<_, delta::DeltaError>((delta, entries))
    })
    .await
    .map_err(|e| Rejection::internal("computing a delta", &e))?
    .map_err(|e| Rejection::internal("computing a delta", &e))?;
    let mut files = files_of(store, &entries).await?.map_err(|hash| {
        Rejection::internal("reading a bundle", &format!("file {hash} is missing"))
    })?;
    files.insert(
        DELTA_FILE_NAME.to_owned(),
        delta
            .to_json()
            .map_err(|e| Rejection::internal("computing a delta", &e))?,
    );
    let latest = &latest.stored;
    files.insert(SIGNATURE_FILE_NAME.to_owned(), latest.signature.clone());
    if let Some(rotations) = &latest.key_rotations {
        files.insert(KEY_ROTATIONS_FILE_NAME.to_owned(), rotations.clone());
    }
    web::block(move || archive::pack_delta(&files))
        .await
        .map_err(|e| Rejection::internal("packing a delta", &e))?
        .map_err(|e| Rejection::internal("packing a delta", &e))
}

/// The files `(path, sha256)` from the content-addressed store, path →
/// bytes; `Err(hash)` names a file the store lacks.
async fn files_of(
    store: &HubStore,
    entries: &[(String, String)],
) -> Result<Result<BTreeMap<String, Vec<u8>>, String>, Rejection> {
    let hashes: Vec<String> = entries.iter().map(|(_, h)| h.clone()).collect();
    let mut contents: std::collections::HashMap<String, Vec<u8>> = store
        .files(&hashes)
        .await
        .map_err(|e| Rejection::internal("reading a bundle", &e))?
        .into_iter()
        .map(|f| (hex::encode(f.sha256), f.content))
        .collect();
    // Two paths may name the same content: each takes a copy but the last.
    let mut uses: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for hash in &hashes {
        *uses.entry(hash.as_str()).or_default() += 1;
    }
    let mut files = BTreeMap::new();
    for (path, hash) in entries {
        let left = uses.get_mut(hash.as_str()).map_or(0, |n| {
            *n -= 1;
            *n
        });
        let content = if left > 0 {
            contents.get(hash).cloned()
        } else {
            contents.remove(hash)
        };
        let Some(content) = content else {
            return Ok(Err(hash.clone()));
        };
        files.insert(path.clone(), content);
    }
    Ok(Ok(files))
}

/// How many files one chunk of a streamed archive reads from the store.
const FILES_PER_CHUNK: usize = 1_000;

/// The canonical archive of a stored bundle, streamed: its size, and its
/// chunks — its manifest, signature and rotations, and the files its
/// manifest names, read from the content-addressed store a chunk at a time
/// and packed as `archive::pack_files` packs them. The hub never holds the
/// whole archive. A file missing from the store ends the stream with an
/// error (the client sees a cut-off body).
fn archive_stream(
    store: HubStore,
    stored: StoredManifest,
    limits: &Limits,
) -> Result<
    (
        u64,
        impl futures_util::Stream<Item = Result<bytes::Bytes, actix_web::Error>> + 'static,
    ),
    Rejection,
> {
    let manifest = Manifest::parse_with_limit(
        &stored.manifest,
        MANIFEST_FILE_NAME,
        limits.max_manifest_bytes,
    )
    .map_err(|e| Rejection::internal("reading a stored manifest", &e))?;
    // Every entry in bytewise path order: the top files among the
    // manifest's (already sorted) lines.
    let mut entries: Vec<(String, Part)> = manifest
        .files
        .into_iter()
        .map(|e| {
            let hash = e.sha256_hex();
            (e.path, Part::Stored(hash))
        })
        .collect();
    entries.push((MANIFEST_FILE_NAME.to_owned(), Part::Top(stored.manifest)));
    entries.push((SIGNATURE_FILE_NAME.to_owned(), Part::Top(stored.signature)));
    if let Some(rotations) = stored.key_rotations {
        entries.push((KEY_ROTATIONS_FILE_NAME.to_owned(), Part::Top(rotations)));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let size = stored.info.size;
    let chunks =
        futures_util::stream::unfold(Some((store, entries.into_iter())), |state| async move {
            let (store, mut entries) = state?;
            let batch: Vec<(String, Part)> = entries.by_ref().take(FILES_PER_CHUNK).collect();
            let last = entries.len() == 0;
            let chunk = chunk_of(&store, batch, last).await;
            let next = (!last && chunk.is_ok()).then_some((store, entries));
            Some((chunk, next))
        });
    Ok((size, chunks))
}

/// One entry of a streamed archive: bytes at hand, or a stored file.
enum Part {
    Top(Vec<u8>),
    Stored(String),
}

/// The archive bytes of `batch`, and the archive's end after the last.
async fn chunk_of(
    store: &HubStore,
    batch: Vec<(String, Part)>,
    last: bool,
) -> Result<bytes::Bytes, actix_web::Error> {
    let wanted: Vec<(String, String)> = batch
        .iter()
        .filter_map(|(path, part)| match part {
            Part::Stored(hash) => Some((path.clone(), hash.clone())),
            Part::Top(_) => None,
        })
        .collect();
    let mut stored = files_of(store, &wanted).await?.map_err(|hash| {
        Rejection::internal("reading a bundle", &format!("file {hash} is missing"))
    })?;
    let mut out = Vec::new();
    for (path, part) in batch {
        let bytes = match part {
            Part::Top(bytes) => bytes,
            Part::Stored(_) => stored.remove(&path).unwrap_or_default(),
        };
        archive::append_entry(&mut out, &path, &bytes)
            .map_err(|e| Rejection::internal("packing a bundle", &e))?;
    }
    if last {
        archive::finish(&mut out);
    }
    Ok(bytes::Bytes::from(out))
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

fn incomplete(err: &dyn std::fmt::Display) -> Rejection {
    Rejection::new(
        ErrorCode::IncompleteBody,
        format!("the upload was cut off before its end ({err}); nothing was changed"),
    )
}

fn body_timeout(config: &HubConfig) -> Rejection {
    Rejection::new(
        ErrorCode::Timeout,
        format!(
            "the upload body did not arrive within {} s; nothing was changed",
            config.body_timeout.as_secs_f64()
        ),
    )
}

/// Reads the body, counting bytes against the limit, within the deadline.
async fn read_body(payload: &mut web::Payload, config: &HubConfig) -> Result<Vec<u8>, Rejection> {
    let limit = config.max_bundle_bytes;
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| incomplete(&e))?;
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    actix_web::rt::time::timeout(config.body_timeout, read)
        .await
        .map_err(|_| body_timeout(config))?
}

/// Reads an archive body as it streams in — counted against the limit,
/// within the deadline — into its entries (`archive::read_entries_from`
/// on a blocking thread): the hub holds the files, never the archive.
async fn read_archive_body(
    payload: &mut web::Payload,
    config: &HubConfig,
) -> Result<BTreeMap<String, Vec<u8>>, Rejection> {
    let (sender, chunks) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
    let limits = config.limits.clone();
    let reading =
        web::block(move || archive::read_entries_from(archive::ChunkReader::new(chunks), &limits));
    let limit = config.max_bundle_bytes;
    let feeding = async move {
        let mut total = 0u64;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| incomplete(&e))?;
            total += chunk.len() as u64;
            if total > limit {
                return Err(too_large(limit));
            }
            if sender.send(chunk).await.is_err() {
                // The reader stopped at a bad entry: its error answers.
                break;
            }
        }
        Ok(())
    };
    let feeding = async {
        actix_web::rt::time::timeout(config.body_timeout, feeding)
            .await
            .map_err(|_| body_timeout(config))?
    };
    let (fed, read) = futures_util::future::join(feeding, reading).await;
    fed?;
    read.map_err(|e| Rejection::internal("reading an upload", &e))?
        .map_err(|e| archive_rejection(&e))
}

fn archive_rejection(err: &ArchiveError) -> Rejection {
    let code = match err {
        ArchiveError::NotAFile { .. } | ArchiveError::UnsafePath { .. } => ErrorCode::UnsafePath,
        ArchiveError::Io { .. } => return Rejection::internal("unpacking an upload", err),
        _ => ErrorCode::BadBundle,
    };
    Rejection::new(code, err.to_string())
}

/// Maps a refusal of the shared verification to the API's.
fn verify_rejection(err: &VerifyError) -> Rejection {
    let code = err.code();
    if code == ErrorCode::Internal {
        Rejection::internal("verifying an upload", err)
    } else {
        Rejection::new(code, err.to_string())
    }
}

/// An upload, read and not yet verified.
enum Upload {
    /// A whole bundle: every file, path → bytes.
    Whole(BTreeMap<String, Vec<u8>>),
    /// A delta: the kept base manifest (with its parse), and the update's
    /// files (the rebuilt manifest, the signature, the rotation chain and
    /// the files of the changed lines).
    Update {
        base: Arc<CachedManifest>,
        parsed: Arc<Manifest>,
        files: BTreeMap<String, Vec<u8>>,
    },
}

/// Verifies an upload against the registered key, in memory, through the
/// one verification path: a whole bundle whole; a delta from its changed
/// files (`verify_update`), or — when that is not enough (another key, a
/// user gone) — whole, with the files of its unchanged lines read from the
/// store. Gives back the verified parts — every file of a whole bundle, the
/// changed files of a delta — and for a delta verified from its changed
/// files, the base manifest whose files it relies on.
async fn verify_upload(
    store: &HubStore,
    upload: Upload,
    instance: &str,
    key: &str,
    limits: &Limits,
) -> Result<(VerifiedBundle, BundleParts, Option<Arc<CachedManifest>>), Rejection> {
    let whole = |files: BTreeMap<String, Vec<u8>>| {
        let (instance, key, limits) = (instance.to_owned(), key.to_owned(), limits.clone());
        web::block(move || verify_files(files, &instance, &key, &limits))
    };
    let files = match upload {
        Upload::Whole(files) => files,
        Upload::Update {
            base,
            parsed,
            files,
        } => {
            let (name, owned_key, owned_limits) =
                (instance.to_owned(), key.to_owned(), limits.clone());
            let checked_base = Arc::clone(&base);
            let checked = web::block(move || {
                verify_update(
                    (&parsed, &base.stored.manifest),
                    files,
                    &name,
                    &owned_key,
                    &owned_limits,
                )
            })
            .await
            .map_err(|e| Rejection::internal("verifying an upload", &e))?
            .map_err(|e| verify_rejection(&e))?;
            let parts = match checked {
                UpdateChecked::Verified(verified, parts) => {
                    return Ok((verified, parts, Some(checked_base)));
                }
                UpdateChecked::NeedsWhole(parts) => parts,
                _ => {
                    return Err(Rejection::internal(
                        "verifying an upload",
                        &"unexpected verdict",
                    ));
                }
            };
            let manifest = Manifest::parse_with_limit(
                &parts.manifest,
                MANIFEST_FILE_NAME,
                limits.max_manifest_bytes,
            )
            .map_err(|e| Rejection::new(ErrorCode::BadBundle, e.to_string()))?;
            let kept: Vec<(String, String)> = manifest
                .files
                .iter()
                .filter(|e| !parts.files.contains_key(&e.path))
                .map(|e| (e.path.clone(), e.sha256_hex()))
                .collect();
            let stored = files_of(store, &kept).await?.map_err(|hash| {
                Rejection::internal("reading a bundle", &format!("file {hash} is missing"))
            })?;
            let mut files = parts.into_files();
            files.extend(stored);
            files
        }
    };
    let (verified, parts) = whole(files)
        .await
        .map_err(|e| Rejection::internal("verifying an upload", &e))?
        .map_err(|e| verify_rejection(&e))?;
    Ok((verified, parts, None))
}

/// The verified bundle as the store keeps it: the signed part, and the
/// files of `parts` (each content once; the store keeps a content it
/// already holds as it is).
fn content_addressed(
    info: BundleInfo,
    verified: &VerifiedBundle,
    parts: BundleParts,
    base: Option<String>,
) -> NewBundle {
    let BundleParts {
        manifest,
        signature,
        key_rotations,
        mut files,
        ..
    } = parts;
    // Each content once per bundle is enough; the store keeps a content it
    // already holds as it is, so a repeat costs only its bytes.
    let mut new_files = Vec::with_capacity(files.len());
    for entry in &verified.manifest.files {
        if files.is_empty() {
            break;
        }
        if let Some(content) = files.remove(&entry.path) {
            new_files.push(HubFile {
                sha256: entry.sha256,
                content,
            });
        }
    }
    NewBundle {
        manifest: StoredManifest {
            info,
            manifest,
            signature,
            key_rotations,
        },
        files: new_files,
        base,
    }
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
    publish(state, name, req, payload, false)
        .await
        .map_err(Rejection::closing)
}

async fn upload_delta(
    state: web::Data<HubState>,
    name: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Rejection> {
    publish(state, name, req, payload, true)
        .await
        .map_err(Rejection::closing)
}

/// A delta upload, read: the kept base manifest it names, and the
/// update's files — the manifest rebuilt from the base and checked against
/// the hash the delta names, the signature, the rotation chain, and the
/// files of the changed lines (from the upload, or from the store when the
/// client left out a file the hub holds). Not yet verified.
async fn delta_upload(
    state: &HubState,
    instance: &InstanceName,
    body: Vec<u8>,
    limits: &Limits,
) -> Result<Upload, Rejection> {
    let read_limits = limits.clone();
    let mut sent = web::block(move || archive::read_delta_entries_within(&body, &read_limits))
        .await
        .map_err(|e| Rejection::internal("reading an upload", &e))?
        .map_err(|e| archive_rejection(&e))?;
    let bad = |message: String| Rejection::new(ErrorCode::BadBundle, message);
    let json = sent
        .remove(DELTA_FILE_NAME)
        .ok_or_else(|| bad(format!("a delta upload must carry {DELTA_FILE_NAME}")))?;
    let delta = ManifestDelta::from_json(&json, limits.max_manifest_bytes)
        .map_err(|e| bad(e.to_string()))?;
    let store = &state.store;
    let unknown_base = || {
        Rejection::new(
            ErrorCode::UnknownBase,
            format!(
                "this hub does not hold manifest {} of {instance} (any more); upload the whole bundle",
                escape_control(&delta.base.chars().take(64).collect::<String>())
            ),
        )
    };
    // A cached base saves reading and parsing it; whether the store still
    // keeps it is asked of the store all the same.
    let base = match state.manifests.get(instance, &delta.base) {
        Some(cached) => {
            let kept = store
                .kept_manifests(instance)
                .await
                .map_err(|e| Rejection::internal("reading a manifest", &e))?;
            if !kept.iter().any(|k| k.manifest_sha256 == delta.base) {
                return Err(unknown_base());
            }
            Base::Cached(cached)
        }
        None => Base::Read(
            store
                .manifest(instance, &delta.base)
                .await
                .map_err(|e| Rejection::internal("reading a manifest", &e))?
                .ok_or_else(unknown_base)?,
        ),
    };
    let max_manifest = limits.max_manifest_bytes;
    let ((base, parsed), manifest_bytes, changed) = web::block(move || {
        let rebuild = |base: &StoredManifest| {
            delta::apply_hashed(
                &base.manifest,
                &base.info.manifest_sha256,
                &delta,
                max_manifest,
            )
        };
        let (base, parsed, rebuilt) = match base {
            Base::Cached(cached) => match cached.parsed.clone() {
                Some(parsed) => {
                    let rebuilt = rebuild(&cached.stored);
                    (cached, parsed, rebuilt)
                }
                None => {
                    let (parsed, rebuilt) = parse_while(&cached.stored, max_manifest, rebuild)?;
                    (cached, parsed, rebuilt)
                }
            },
            Base::Read(stored) => {
                let (parsed, rebuilt) = parse_while(&stored, max_manifest, rebuild)?;
                let cached = CachedManifest::new(stored, Some(Arc::clone(&parsed)));
                (Arc::new(cached), parsed, rebuilt)
            }
        };
        let manifest_bytes = rebuilt?;
        Ok::<_, delta::DeltaError>(((base, parsed), manifest_bytes, delta.changed_entries()?))
    })
    .await
    .map_err(|e| Rejection::internal("reading an upload", &e))?
    .map_err(|e| bad(e.to_string()))?;
    let changed_paths: std::collections::BTreeSet<&str> =
        changed.iter().map(|e| e.path.as_str()).collect();
    let mut files = BTreeMap::new();
    for name in [SIGNATURE_FILE_NAME, KEY_ROTATIONS_FILE_NAME] {
        if let Some(content) = sent.remove(name) {
            files.insert(name.to_owned(), content);
        }
    }
    if let Some(extra) = sent
        .keys()
        .find(|path| !changed_paths.contains(path.as_str()))
    {
        return Err(bad(format!(
            "the delta carries {extra}, which no changed line names"
        )));
    }
    let from_store: Vec<(String, String)> = changed
        .iter()
        .filter(|e| !sent.contains_key(&e.path))
        .map(|e| (e.path.clone(), e.sha256_hex()))
        .collect();
    let stored = files_of(store, &from_store).await?.map_err(|hash| {
        bad(format!(
            "the delta lacks a file (SHA-256 {hash}) that this hub does not hold either"
        ))
    })?;
    files.extend(stored);
    files.extend(sent);
    files.insert(MANIFEST_FILE_NAME.to_owned(), manifest_bytes);
    Ok(Upload::Update {
        base,
        parsed,
        files,
    })
}

/// The base of a delta upload, as the hub found it.
enum Base {
    /// In the manifest cache (parsed, when a delta push put it there).
    Cached(Arc<CachedManifest>),
    /// Read from the store just now.
    Read(StoredManifest),
}

/// Parses the kept manifest `base` (8 MB at 100k rows) while `work` runs
/// on it: the parse, and what `work` gave.
fn parse_while<T: Send>(
    base: &StoredManifest,
    max_manifest: u64,
    work: impl FnOnce(&StoredManifest) -> T + Send,
) -> Result<(Arc<Manifest>, T), delta::DeltaError> {
    let (parsed, done) = wb_engine::par::side_by_side(
        || Manifest::parse_with_limit(&base.manifest, "base manifest", max_manifest),
        || work(base),
    );
    Ok((Arc::new(parsed?), done))
}

/// Checks, verifies and publishes one upload: a whole archive, or with
/// `delta` a delta archive.
async fn publish(
    state: web::Data<HubState>,
    name: web::Path<String>,
    req: HttpRequest,
    mut payload: web::Payload,
    delta: bool,
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
    let upload = if delta {
        let body = read_body(&mut payload, config).await?;
        delta_upload(&state, &instance, body, &limits).await?
    } else {
        Upload::Whole(read_archive_body(&mut payload, config).await?)
    };
    let registered_key = registered.public_key.clone();
    let (verified, parts, base) = verify_upload(
        &state.store,
        upload,
        instance.as_str(),
        &registered.public_key,
        &limits,
    )
    .await?;
    let sequence = verified.manifest.sequence;
    if i64::try_from(sequence).is_err() {
        return Err(Rejection::new(
            ErrorCode::BadBundle,
            format!("sequence {sequence} is larger than this hub can store (2^63 - 1)"),
        ));
    }
    let etag = bundle_etag(
        &verified.manifest_sha256,
        &parts.signature,
        parts.key_rotations.as_deref(),
    );
    let size = archive::packed_size(
        verified
            .manifest
            .files
            .iter()
            .map(|e| e.len)
            .chain([parts.manifest.len() as u64, parts.signature.len() as u64])
            .chain(parts.key_rotations.as_ref().map(|r| r.len() as u64)),
    );
    let info = BundleInfo {
        instance: instance.clone(),
        sequence,
        manifest_sha256: verified.manifest_sha256.clone(),
        size,
        etag: etag.clone(),
        published_at: Timestamp::now(),
    };
    // The publishing transaction checks that the store still keeps the
    // base of a delta.
    let base_sha256 = base
        .as_ref()
        .map(|base| base.stored.info.manifest_sha256.clone());
    // A delta verified from its changed files is cached, parsed, with its
    // base: the next delta of this instance starts from it, and pulls ask
    // for the two.
    let caching = base
        .filter(|_| state.config.manifest_cache_bytes > 0)
        .map(|base| {
            let stored = StoredManifest {
                info: info.clone(),
                manifest: parts.manifest.clone(),
                signature: parts.signature.clone(),
                key_rotations: parts.key_rotations.clone(),
            };
            (base, stored)
        });
    let bundle = content_addressed(info, &verified, parts, base_sha256);
    let VerifiedBundle {
        manifest,
        manifest_sha256,
        rotated,
        ..
    } = verified;
    let new_key = manifest.public_key.clone();
    let caching = match caching {
        Some((base, stored)) => Some((base, stored, manifest)),
        None => {
            // Not cached: its memory goes before the files are stored.
            drop(manifest);
            None
        }
    };
    // A rotation moves the registered key in the same transaction.
    let stored = if rotated {
        state
            .store
            .publish_rotated(bundle, &registered_key, &new_key)
            .await
    } else {
        state.store.publish(bundle).await
    };
    let status = match stored.map_err(|e| Rejection::internal("storing a bundle", &e))? {
        PublishOutcome::Published => {
            if let Some((base, stored, parsed)) = caching {
                state.manifests.insert(base);
                let latest = CachedManifest::new(stored, Some(Arc::new(parsed)));
                state.manifests.insert(Arc::new(latest));
            }
            "published"
        }
        PublishOutcome::Unchanged => "unchanged",
        PublishOutcome::Stale { stored_sequence } => {
            return Err(Rejection::new(
                ErrorCode::StaleSequence,
                format!(
                    "{instance} sequence {sequence} is not newer than the stored sequence {stored_sequence} (and differs from it); export again to get a higher sequence"
                ),
            ));
        }
        PublishOutcome::BaseGone => {
            return Err(Rejection::new(
                ErrorCode::UnknownBase,
                format!(
                    "this hub no longer holds the manifest of {instance} this delta was made against; upload the whole bundle"
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
    tracing::info!(target: "wb_hub", %instance, sequence, status, delta, rotated, "upload");
    Ok(HttpResponse::Ok().json(UploadReceipt {
        status: status.to_owned(),
        instance: instance.to_string(),
        sequence,
        manifest_sha256,
        etag,
    }))
}
