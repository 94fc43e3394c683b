//! The hub client (`awc`): push an archive, list instances, fetch a
//! bundle with `If-None-Match`, and [`pull_verified`], which keeps a small
//! cache per instance and verifies what it fetched against the pinned key.
//!
//! `awc` is `!Send` and needs an actix runtime: call these from an actix
//! system (`#[actix_rt::test]`, `actix_rt::System`), or from any async
//! context through [`on_actix_thread`].

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use awc::error::SendRequestError;
use awc::http::StatusCode;
use awc::http::header;
use wb_syncfmt::bundle::Limits;

use crate::api::{InstanceList, InstanceSummary, UploadReceipt};
use crate::archive::{self, ArchiveError};
use crate::server::ARCHIVE_CONTENT_TYPE;
use crate::verify::{VerifiedBundle, VerifyError, verify_bundle};
use crate::{ErrorBody, ErrorCode};

/// Talking to a hub failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The hub URL is not `http://…` or `https://…`.
    #[error("{0:?} is not a hub URL (expected http://HOST[:PORT] or https://HOST)")]
    InvalidUrl(String),
    /// The hub could not be reached.
    #[error("cannot reach the hub at {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// The hub did not answer in time.
    #[error("the hub at {url} did not answer within {} s", timeout.as_secs())]
    Timeout {
        /// The URL tried.
        url: String,
        /// The client's timeout.
        timeout: Duration,
    },
    /// The hub refused the request with a code.
    #[error("the hub refused: {code} (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The hub's machine-readable code (see [`ErrorCode`]).
        code: String,
        /// The hub's sentence.
        message: String,
    },
    /// The hub answered something this client does not understand.
    #[error("unexpected answer from the hub at {url}: {detail}")]
    Unexpected {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The downloaded archive is unsafe or corrupt.
    #[error("the downloaded archive of {instance} is refused: {source}")]
    Archive {
        /// Whose bundle.
        instance: String,
        /// Why.
        source: ArchiveError,
    },
    /// The downloaded bundle does not verify against the pinned key.
    #[error("the bundle of {instance} from the hub is refused: {source}")]
    Verify {
        /// Whose bundle.
        instance: String,
        /// Why.
        source: VerifyError,
    },
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl ClientError {
    /// The hub's code when the hub refused the request.
    #[must_use]
    pub fn hub_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Rejected { code, .. } => ErrorCode::parse(code),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Client settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Deadline of each request, including sending the body (default 120 s).
    pub timeout: Duration,
    /// Largest archive accepted from a hub (default 1 GiB).
    pub max_download_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            max_download_bytes: 1 << 30,
        }
    }
}

impl ClientConfig {
    /// This configuration with another timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What [`HubClient::fetch`] got.
#[derive(Debug)]
#[non_exhaustive]
pub enum Fetched {
    /// The hub's latest is the one of the given `ETag`.
    NotModified,
    /// A new archive and its `ETag` (without quotes).
    Archive {
        /// The archive bytes.
        bytes: Vec<u8>,
        /// Its entity tag.
        etag: String,
    },
}

/// Where the progress of an upload or download goes (a bar on a terminal,
/// nothing by default). Byte counts are of the archive.
pub trait TransferProgress {
    /// A transfer of `total` bytes (when known), described by `what`, begins.
    fn start(&self, what: &str, total: Option<u64>);
    /// `bytes` more bytes went through.
    fn advance(&self, bytes: u64);
    /// The transfer is over (done or failed).
    fn finish(&self);
}

/// Size of the chunks an upload is sent in, so progress can be reported.
const UPLOAD_CHUNK: usize = 64 * 1024;

/// A client of one hub.
pub struct HubClient {
    base: String,
    client: awc::Client,
    config: ClientConfig,
    progress: Option<std::rc::Rc<dyn TransferProgress>>,
}

impl std::fmt::Debug for HubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HubClient {
    /// A client of the hub at `url` (`http://…` or `https://…`, without
    /// `/v1`). Must be called on an actix runtime.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`].
    pub fn new(url: &str, config: ClientConfig) -> Result<Self, ClientError> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let valid = (base.starts_with("http://") || base.starts_with("https://"))
            && base
                .parse::<awc::http::Uri>()
                .is_ok_and(|u| u.host().is_some());
        if !valid {
            return Err(ClientError::InvalidUrl(url.to_owned()));
        }
        // Both rustls back ends may be compiled into the workspace; rustls
        // then cannot choose one itself. Install aws-lc-rs unless the
        // process already chose (an error here only means it did).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = awc::Client::builder()
            .timeout(config.timeout)
            .disable_redirects()
            .finish();
        Ok(Self {
            base,
            client,
            config,
            progress: None,
        })
    }

    /// The hub's base URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.base
    }

    fn send_error(&self, url: &str, err: SendRequestError) -> ClientError {
        match err {
            SendRequestError::Timeout => ClientError::Timeout {
                url: url.to_owned(),
                timeout: self.config.timeout,
            },
            other => ClientError::Unreachable {
                url: url.to_owned(),
                reason: other.to_string(),
            },
        }
    }

    async fn body<S>(
        &self,
        url: &str,
        response: &mut awc::ClientResponse<S>,
        limit: usize,
    ) -> Result<Vec<u8>, ClientError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        response
            .body()
            .limit(limit)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ClientError::Unexpected {
                url: url.to_owned(),
                detail: format!("reading the response failed: {e}"),
            })
    }

    /// The archive as a stream of chunks, reporting each to the progress.
    fn upload_stream(
        &self,
        archive: Vec<u8>,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + 'static {
        let archive = bytes::Bytes::from(archive);
        let progress = self.progress.clone();
        if let Some(progress) = &progress {
            progress.start("uploading", Some(archive.len() as u64));
        }
        let chunks: Vec<bytes::Bytes> = (0..archive.len())
            .step_by(UPLOAD_CHUNK)
            .map(|start| archive.slice(start..archive.len().min(start + UPLOAD_CHUNK)))
            .collect();
        futures_util::stream::iter(chunks.into_iter().map(move |chunk| {
            if let Some(progress) = &progress {
                progress.advance(chunk.len() as u64);
            }
            Ok(chunk)
        }))
    }

    /// Reads a download chunk by chunk, within the size limit, reporting
    /// progress.
    async fn download<S>(
        &self,
        url: &str,
        response: &mut awc::ClientResponse<S>,
    ) -> Result<Vec<u8>, ClientError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        use futures_util::StreamExt as _;
        let limit = self.config.max_download_bytes;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.next().await {
            let chunk = chunk.map_err(|e| ClientError::Unexpected {
                url: url.to_owned(),
                detail: format!("reading the response failed: {e}"),
            })?;
            if bytes.len() + chunk.len() > limit {
                return Err(ClientError::Unexpected {
                    url: url.to_owned(),
                    detail: format!("the archive is larger than the limit of {limit} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
            if let Some(progress) = &self.progress {
                progress.advance(chunk.len() as u64);
            }
        }
        Ok(bytes)
    }

    async fn rejection<S>(&self, url: &str, mut response: awc::ClientResponse<S>) -> ClientError
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        let status = response.status().as_u16();
        match self.body(url, &mut response, 64 * 1024).await {
            Ok(bytes) => match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => ClientError::Rejected {
                    status,
                    code: body.code,
                    message: body.message,
                },
                Err(_) => ClientError::Unexpected {
                    url: url.to_owned(),
                    detail: format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ),
                },
            },
            Err(err) => err,
        }
    }

    /// This client, reporting the progress of uploads and downloads to
    /// `progress`.
    #[must_use]
    pub fn with_progress(mut self, progress: std::rc::Rc<dyn TransferProgress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Uploads `archive` as the latest bundle of `instance` with `token`.
    ///
    /// # Errors
    ///
    /// Network errors, and [`ClientError::Rejected`] with the hub's code.
    pub async fn push(
        &self,
        instance: &str,
        token: &str,
        archive: Vec<u8>,
    ) -> Result<UploadReceipt, ClientError> {
        let url = format!("{}/v1/instances/{instance}/bundle", self.base);
        let response = self
            .client
            .put(&url)
            // One upload per connection: a hub that refuses early closes
            // the connection, and a pooled one would fail the next request.
            .force_close()
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", token.trim())))
            .insert_header((header::CONTENT_TYPE, ARCHIVE_CONTENT_TYPE))
            .insert_header((header::CONTENT_LENGTH, archive.len()))
            .send_stream(self.upload_stream(archive))
            .await;
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        let mut response = response.map_err(|e| self.send_error(&url, e))?;
        if !response.status().is_success() {
            return Err(self.rejection(&url, response).await);
        }
        let bytes = self.body(&url, &mut response, 64 * 1024).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
            url,
            detail: e.to_string(),
        })
    }

    /// The hub's instances and their latest bundles.
    ///
    /// # Errors
    ///
    /// Network errors and refusals.
    pub async fn list(&self) -> Result<Vec<InstanceSummary>, ClientError> {
        let url = format!("{}/v1/instances", self.base);
        let mut response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| self.send_error(&url, e))?;
        if !response.status().is_success() {
            return Err(self.rejection(&url, response).await);
        }
        let bytes = self.body(&url, &mut response, 64 << 20).await?;
        serde_json::from_slice::<InstanceList>(&bytes)
            .map(|l| l.instances)
            .map_err(|e| ClientError::Unexpected {
                url,
                detail: e.to_string(),
            })
    }

    /// Downloads the latest archive of `instance`, unless its `ETag` is
    /// `etag` (then nothing is transferred).
    ///
    /// # Errors
    ///
    /// Network errors and refusals (`not-found` when it has no bundle).
    pub async fn fetch(&self, instance: &str, etag: Option<&str>) -> Result<Fetched, ClientError> {
        let url = format!("{}/v1/instances/{instance}/bundle", self.base);
        let mut request = self.client.get(&url);
        if let Some(etag) = etag {
            request = request.insert_header((header::IF_NONE_MATCH, format!("\"{etag}\"")));
        }
        let mut response = request.send().await.map_err(|e| self.send_error(&url, e))?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !response.status().is_success() {
            return Err(self.rejection(&url, response).await);
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_start_matches("W/").trim_matches('"').to_owned())
            .unwrap_or_default();
        let total = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(progress) = &self.progress {
            progress.start("downloading", total);
        }
        let bytes = self.download(&url, &mut response).await;
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        Ok(Fetched::Archive {
            bytes: bytes?,
            etag,
        })
    }
}

/// What [`pull_verified`] produced.
#[derive(Debug)]
pub struct Pulled {
    /// The verified bundle directory (`<cache>/<instance>/bundle`).
    pub dir: PathBuf,
    /// Its manifest and hash.
    pub bundle: VerifiedBundle,
    /// `false` when the hub answered 304: nothing was downloaded.
    pub downloaded: bool,
}

const CACHE_ARCHIVE: &str = "archive.tar";
const CACHE_ETAG: &str = "etag";
const CACHE_BUNDLE: &str = "bundle";

/// Fetches the latest bundle of `instance` into `<cache_root>/<instance>/`
/// and verifies it against `pinned_key`, before anything else may use it.
///
/// The cache holds the last archive (`archive.tar`), its `etag`, and the
/// unpacked `bundle/`; the request carries the cached `ETag`, so an
/// unchanged bundle is not downloaded again (the cached one is verified
/// again instead). A new archive is unpacked into a fresh directory next to
/// the cache and verified there; only then does it replace the cache. A
/// refused bundle leaves the cache as it was.
///
/// # Errors
///
/// Network errors, refusals, unsafe archives, verification failures.
pub async fn pull_verified(
    client: &HubClient,
    instance: &str,
    pinned_key: &str,
    cache_root: &Path,
    limits: &Limits,
) -> Result<Pulled, ClientError> {
    if !wb_syncfmt::is_valid_instance_name(instance) {
        return Err(ClientError::Unexpected {
            url: client.url().to_owned(),
            detail: format!("{instance:?} is not an instance name"),
        });
    }
    let cache = cache_root.join(instance);
    let bundle_dir = cache.join(CACHE_BUNDLE);
    let etag_path = cache.join(CACHE_ETAG);
    let cached_etag = if bundle_dir.is_dir() && cache.join(CACHE_ARCHIVE).is_file() {
        fs::read_to_string(&etag_path)
            .ok()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
    } else {
        None
    };
    let verify = |dir: &Path| {
        verify_bundle(dir, instance, pinned_key, limits).map_err(|source| ClientError::Verify {
            instance: instance.to_owned(),
            source,
        })
    };
    match client.fetch(instance, cached_etag.as_deref()).await? {
        Fetched::NotModified => {
            let bundle = verify(&bundle_dir)?;
            Ok(Pulled {
                dir: bundle_dir,
                bundle,
                downloaded: false,
            })
        }
        Fetched::Archive { bytes, etag } => {
            fs::create_dir_all(&cache).map_err(io_err(&cache))?;
            let incoming = tempfile::Builder::new()
                .prefix(".incoming-")
                .tempdir_in(&cache)
                .map_err(io_err(&cache))?;
            archive::unpack(&bytes, incoming.path()).map_err(|source| ClientError::Archive {
                instance: instance.to_owned(),
                source,
            })?;
            let bundle = verify(incoming.path())?;
            // Verified: replace the cache. The etag goes last, so a crash
            // in between only costs a download.
            let _ = fs::remove_file(&etag_path);
            if bundle_dir.exists() {
                fs::remove_dir_all(&bundle_dir).map_err(io_err(&bundle_dir))?;
            }
            let incoming = incoming.keep();
            fs::rename(&incoming, &bundle_dir).map_err(io_err(&bundle_dir))?;
            write_atomically(&cache.join(CACHE_ARCHIVE), &bytes)?;
            write_atomically(&etag_path, format!("{etag}\n").as_bytes())?;
            Ok(Pulled {
                dir: bundle_dir,
                bundle,
                downloaded: true,
            })
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Runs `work` on a new thread with its own actix system and returns its
/// result: how a caller on a multi-threaded Tokio runtime uses the
/// (`!Send`) client.
///
/// # Errors
///
/// The thread could not be started or panicked.
pub async fn on_actix_thread<F, Fut, T>(work: F) -> Result<T, std::io::Error>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("wb-hub-client".to_owned())
        .spawn(move || {
            let result = actix_rt::System::new().block_on(work());
            let _ = sender.send(result);
        })?;
    receiver
        .await
        .map_err(|_| std::io::Error::other("the hub client thread stopped unexpectedly"))
}
