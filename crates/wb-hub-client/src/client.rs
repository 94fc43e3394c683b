//! The hub client (`awc`): push an archive, list instances, fetch a
//! bundle with `If-None-Match`; [`push_dir`], which sends only what
//! changed since the manifest the hub holds, and [`pull_verified`], which
//! keeps a small cache per instance, asks for what changed since it, and
//! verifies what it rebuilt against the pinned key (`docs/hub.md`,
//! "Deltas").
//!
//! A hub is not trusted to behave: every transfer has one deadline
//! ([`ClientConfig::timeout`], connect to last byte), a download is counted
//! while it streams and dropped at [`ClientConfig::max_download_bytes`], an
//! archive is read into memory under [`ClientConfig::limits`] (entry count
//! and sizes), and a pulled bundle is verified in memory before anything is
//! written to disk.
//!
//! `awc` is `!Send` and needs an actix runtime: call these from an actix
//! system (`#[actix_rt::test]`, `actix_rt::System`), or from any async
//! context through [`on_actix_thread`].

use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use awc::error::SendRequestError;
use awc::http::StatusCode;
use awc::http::header;
use wb_engine::par::side_by_side;
use wb_syncfmt::Manifest;
use wb_syncfmt::bundle::{BundleParts, Limits};

use wb_syncfmt::{KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME, sha256_hex};

use crate::api::{
    API_PREFIX, ARCHIVE_CONTENT_TYPE, DELTA_CONTENT_TYPE, InstanceList, InstanceSummary,
    UploadReceipt,
};
use crate::archive::{self, ArchiveError};
use crate::delta::{self, DELTA_FILE_NAME, DeltaError, ManifestDelta};
use crate::verify::{UpdateChecked, VerifiedBundle, VerifyError, verify_files, verify_update};
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
    /// The transfer (connect, headers and the whole body) did not finish
    /// within the deadline.
    #[error("the transfer with the hub at {url} did not finish within {} s", timeout.as_secs())]
    Timeout {
        /// The URL tried.
        url: String,
        /// The client's deadline ([`ClientConfig::timeout`]).
        timeout: Duration,
    },
    /// The hub sent (or announced) more bytes than the client accepts; the
    /// transfer was stopped there and nothing was kept.
    #[error("the hub at {url} sent more than the limit of {limit} bytes; the download was stopped")]
    TooLarge {
        /// The URL.
        url: String,
        /// The client's limit ([`ClientConfig::max_download_bytes`]).
        limit: u64,
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
    /// The bundle directory could not be packed for an upload (a link, a
    /// name outside the layout, a file that could not be read).
    #[error("cannot upload the bundle of {instance}: {source}")]
    Pack {
        /// Whose bundle.
        instance: String,
        /// Why.
        source: ArchiveError,
    },
    /// The hub's delta does not apply to the bundle it was asked against,
    /// or lacks a file it names.
    #[error("the delta of {instance} from the hub is refused: {source}")]
    Delta {
        /// Whose bundle.
        instance: String,
        /// Why.
        source: DeltaError,
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

/// The default deadline of one transfer ([`ClientConfig::timeout`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The default largest download ([`ClientConfig::max_download_bytes`]):
/// 256 MiB, four times the hub's default upload limit.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 256 << 20;

/// Client settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Deadline of one whole transfer: connecting, sending the request and
    /// its body, and receiving the answer's headers and its whole body
    /// (default [`DEFAULT_TIMEOUT`], 300 s).
    pub timeout: Duration,
    /// Largest archive accepted from a hub, counted while it streams
    /// (default [`DEFAULT_MAX_DOWNLOAD_BYTES`], 256 MiB).
    pub max_download_bytes: u64,
    /// Limits on the bundle inside a downloaded archive: at most
    /// `max_files` entity files (plus the manifest and the signature), each
    /// file and the manifest within their size limits (default
    /// [`Limits::default`]: 1,000,000 files of 1 MiB, a 256 MiB manifest).
    pub limits: Limits,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            limits: Limits::default(),
        }
    }
}

impl ClientConfig {
    /// This configuration with another deadline per transfer.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// This configuration with another download limit, in bytes.
    #[must_use]
    pub fn with_max_download_bytes(mut self, bytes: u64) -> Self {
        self.max_download_bytes = bytes;
        self
    }

    /// This configuration with other bundle limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
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
    /// A delta archive against the manifest asked for (`since`), and the
    /// `ETag` of the whole bundle it rebuilds.
    Delta {
        /// The delta archive's bytes.
        bytes: Vec<u8>,
        /// The entity tag of the bundle's whole archive.
        etag: String,
    },
}

/// What [`HubClient::fetch_as`] got: as [`HubClient::fetch`], or a whole
/// archive already read into its files.
enum Download {
    /// As [`HubClient::fetch`] answers.
    Fetched(Fetched),
    /// A whole archive's files, its `ETag`, and the bytes received.
    Files {
        files: BTreeMap<String, Vec<u8>>,
        etag: String,
        received: u64,
    },
}

/// How a bundle travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transfer {
    /// Nothing crossed the wire but the question (304, or the hub already
    /// held the very bundle).
    None,
    /// What changed since a manifest both sides hold.
    Delta,
    /// The whole archive.
    Full,
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
    /// `/v2`). Must be called on an actix runtime.
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

    /// This client's settings.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn send_error(&self, url: &str, err: SendRequestError) -> ClientError {
        match err {
            SendRequestError::Timeout => self.timed_out(url),
            other => ClientError::Unreachable {
                url: url.to_owned(),
                reason: other.to_string(),
            },
        }
    }

    fn timed_out(&self, url: &str) -> ClientError {
        ClientError::Timeout {
            url: url.to_owned(),
            timeout: self.config.timeout,
        }
    }

    /// Runs one whole transfer under the deadline. When it passes, the
    /// transfer is dropped, which closes its connection.
    async fn within_deadline<T>(
        &self,
        url: &str,
        transfer: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let result = actix_rt::time::timeout(self.config.timeout, transfer)
            .await
            .unwrap_or_else(|_| Err(self.timed_out(url)));
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        result
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

    /// Reads a download chunk by chunk, counting while it streams: the
    /// first chunk past [`ClientConfig::max_download_bytes`] stops it
    /// (the connection is dropped, the bytes so far discarded).
    async fn download<S>(
        &self,
        url: &str,
        response: &mut awc::ClientResponse<S>,
    ) -> Result<Vec<u8>, ClientError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        let mut bytes = Vec::new();
        let mut received: u64 = 0;
        while let Some(chunk) = self.next_chunk(url, response, &mut received).await? {
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// The next chunk of a download, counted against
    /// [`ClientConfig::max_download_bytes`] with the `received` bytes so
    /// far and reported to the progress; `None` at the end of the body.
    async fn next_chunk<S>(
        &self,
        url: &str,
        response: &mut awc::ClientResponse<S>,
        received: &mut u64,
    ) -> Result<Option<bytes::Bytes>, ClientError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        use futures_util::StreamExt as _;
        let Some(chunk) = response.next().await else {
            return Ok(None);
        };
        let chunk = chunk.map_err(|e| ClientError::Unexpected {
            url: url.to_owned(),
            detail: format!("reading the response failed: {e}"),
        })?;
        *received = received.saturating_add(chunk.len() as u64);
        let limit = self.config.max_download_bytes;
        if *received > limit {
            return Err(ClientError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        if let Some(progress) = &self.progress {
            progress.advance(chunk.len() as u64);
        }
        Ok(Some(chunk))
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

    /// Uploads `archive` as the latest bundle of `instance` with `token`,
    /// within [`ClientConfig::timeout`] (connect, upload, answer).
    ///
    /// # Errors
    ///
    /// Network errors, [`ClientError::Timeout`], and
    /// [`ClientError::Rejected`] with the hub's code.
    pub async fn push(
        &self,
        instance: &str,
        token: &str,
        archive: Vec<u8>,
    ) -> Result<UploadReceipt, ClientError> {
        self.upload(
            awc::http::Method::PUT,
            instance,
            token,
            ARCHIVE_CONTENT_TYPE,
            archive,
        )
        .await
    }

    /// Uploads a delta archive (`docs/hub.md`, "Deltas") for `instance`
    /// with `token`, as [`HubClient::push`] does an archive.
    ///
    /// # Errors
    ///
    /// As [`HubClient::push`]; `unknown-base` when the hub no longer holds
    /// the delta's base manifest.
    pub async fn push_delta(
        &self,
        instance: &str,
        token: &str,
        delta_archive: Vec<u8>,
    ) -> Result<UploadReceipt, ClientError> {
        self.upload(
            awc::http::Method::PATCH,
            instance,
            token,
            DELTA_CONTENT_TYPE,
            delta_archive,
        )
        .await
    }

    async fn upload(
        &self,
        method: awc::http::Method,
        instance: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<UploadReceipt, ClientError> {
        let url = format!("{}{API_PREFIX}/instances/{instance}/bundle", self.base);
        self.within_deadline(&url, async {
            let mut response = self
                .client
                .request(method, &url)
                // One upload per connection: a hub that refuses early closes
                // the connection, and a pooled one would fail the next request.
                .force_close()
                .insert_header((header::AUTHORIZATION, format!("Bearer {}", token.trim())))
                .insert_header((header::CONTENT_TYPE, content_type))
                .insert_header((header::CONTENT_LENGTH, body.len()))
                .send_stream(self.upload_stream(body))
                .await
                .map_err(|e| self.send_error(&url, e))?;
            if !response.status().is_success() {
                return Err(self.rejection(&url, response).await);
            }
            let bytes = self.body(&url, &mut response, 64 * 1024).await?;
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
                url: url.clone(),
                detail: e.to_string(),
            })
        })
        .await
    }

    /// One registered instance and its latest bundle, within
    /// [`ClientConfig::timeout`].
    ///
    /// # Errors
    ///
    /// Network errors, [`ClientError::Timeout`] and refusals (`not-found`
    /// for an instance the hub does not know).
    pub async fn instance(&self, instance: &str) -> Result<InstanceSummary, ClientError> {
        let url = format!("{}{API_PREFIX}/instances/{instance}", self.base);
        self.within_deadline(&url, async {
            let mut response = self
                .client
                .get(&url)
                .send()
                .await
                .map_err(|e| self.send_error(&url, e))?;
            if !response.status().is_success() {
                return Err(self.rejection(&url, response).await);
            }
            let bytes = self.body(&url, &mut response, 64 * 1024).await?;
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
                url: url.clone(),
                detail: e.to_string(),
            })
        })
        .await
    }

    /// The hub's instances and their latest bundles, within
    /// [`ClientConfig::timeout`].
    ///
    /// # Errors
    ///
    /// Network errors, [`ClientError::Timeout`] and refusals.
    pub async fn list(&self) -> Result<Vec<InstanceSummary>, ClientError> {
        let url = format!("{}{API_PREFIX}/instances", self.base);
        self.within_deadline(&url, async {
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
                    url: url.clone(),
                    detail: e.to_string(),
                })
        })
        .await
    }

    /// Downloads the latest archive of `instance`, unless its `ETag` is
    /// `etag` (then nothing is transferred), within
    /// [`ClientConfig::timeout`] and [`ClientConfig::max_download_bytes`].
    /// With `since` (the SHA-256 of a manifest of `instance` the caller
    /// holds), the hub may answer with a delta against it
    /// ([`Fetched::Delta`]) instead of the whole archive.
    ///
    /// # Errors
    ///
    /// Network errors, [`ClientError::Timeout`], [`ClientError::TooLarge`]
    /// and refusals (`not-found` when it has no bundle).
    pub async fn fetch(
        &self,
        instance: &str,
        etag: Option<&str>,
        since: Option<&str>,
    ) -> Result<Fetched, ClientError> {
        match self.fetch_as(instance, etag, since, None).await? {
            Download::Fetched(fetched) => Ok(fetched),
            Download::Files { .. } => Err(ClientError::Unexpected {
                url: self.base.clone(),
                detail: "an archive read into files without being asked to".to_owned(),
            }),
        }
    }

    /// [`HubClient::fetch`]; with `read_as_it_comes`, a whole archive is
    /// read into its files while it streams in, within those limits (on a
    /// thread that may block), rather than held whole: reading overlaps the
    /// download, and the archive and its files are never both in memory.
    async fn fetch_as(
        &self,
        instance: &str,
        etag: Option<&str>,
        since: Option<&str>,
        read_as_it_comes: Option<&Limits>,
    ) -> Result<Download, ClientError> {
        let mut url = format!("{}{API_PREFIX}/instances/{instance}/bundle", self.base);
        if let Some(since) = since {
            url.push_str("?since=");
            url.push_str(since);
        }
        self.within_deadline(&url, async {
            let mut request = self.client.get(&url);
            if let Some(etag) = etag {
                request = request.insert_header((header::IF_NONE_MATCH, format!("\"{etag}\"")));
            }
            let mut response = request.send().await.map_err(|e| self.send_error(&url, e))?;
            if response.status() == StatusCode::NOT_MODIFIED {
                return Ok(Download::Fetched(Fetched::NotModified));
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
            let is_delta = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() == DELTA_CONTENT_TYPE);
            let total = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if total.is_some_and(|total| total > self.config.max_download_bytes) {
                return Err(ClientError::TooLarge {
                    url: url.clone(),
                    limit: self.config.max_download_bytes,
                });
            }
            if let Some(progress) = &self.progress {
                progress.start("downloading", total);
            }
            if let (false, Some(limits)) = (is_delta, read_as_it_comes) {
                let (files, received) = self
                    .download_files(&url, instance, &mut response, limits)
                    .await?;
                return Ok(Download::Files {
                    files,
                    etag,
                    received,
                });
            }
            let bytes = self.download(&url, &mut response).await?;
            Ok(Download::Fetched(if is_delta {
                Fetched::Delta { bytes, etag }
            } else {
                Fetched::Archive { bytes, etag }
            }))
        })
        .await
    }

    /// [`HubClient::download`] of an archive, read into its files as it
    /// streams in (`archive::read_entries_from` on a blocking thread, fed
    /// chunk by chunk); how many bytes arrived. A bad entry answers at
    /// once; a body that goes on after the archive's end is still counted
    /// to its end against [`ClientConfig::max_download_bytes`].
    async fn download_files<S>(
        &self,
        url: &str,
        instance: &str,
        response: &mut awc::ClientResponse<S>,
        limits: &Limits,
    ) -> Result<(BTreeMap<String, Vec<u8>>, u64), ClientError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        let (sender, chunks) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
        let owned_limits = limits.clone();
        let reading = actix_rt::task::spawn_blocking(move || {
            archive::read_entries_from(archive::ChunkReader::new(chunks), &owned_limits)
        });
        let mut received: u64 = 0;
        // Until the reader stops: at the end of the body, at the archive's
        // end, or at a bad entry.
        let mut ended = false;
        while let Some(chunk) = self.next_chunk(url, response, &mut received).await? {
            if sender.send(chunk).await.is_err() {
                ended = true;
                break;
            }
        }
        drop(sender);
        let files = reading
            .await
            .map_err(|e| ClientError::Unexpected {
                url: url.to_owned(),
                detail: format!("reading the archive stopped: {e}"),
            })?
            .map_err(|source| ClientError::Archive {
                instance: instance.to_owned(),
                source,
            })?;
        if ended {
            // The archive ended before the body: the rest is read (and
            // dropped) within the same cap, as a body held whole would be.
            while self
                .next_chunk(url, response, &mut received)
                .await?
                .is_some()
            {}
        }
        Ok((files, received))
    }
}

/// What [`push_dir`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Pushed {
    /// The hub's receipt.
    pub receipt: UploadReceipt,
    /// Whether a delta or the whole archive was sent.
    pub transfer: Transfer,
    /// Bytes of the request body sent (the delta or the archive).
    pub bytes_sent: u64,
}

/// Pushes the bundle directory `dir` (as `wb sync export` writes it) as the
/// latest of `instance`, sending only what changed when it can
/// (`docs/hub.md`, "Deltas").
///
/// The client asks the hub which manifest of `instance` it holds
/// (`GET /v2/instances/{name}`). When that is the manifest this client
/// last pushed there (kept as `<cache_dir>/<instance>.manifest`) or the
/// very manifest being pushed, it sends a delta archive: the changed
/// manifest lines, the signature, the rotation chain and the files of the
/// changed lines the hub lacks (those whose content the base manifest does
/// not name) — reading only those files from `dir`. Otherwise, or when the
/// hub answers `unknown-base`, it uploads the whole archive. After the hub
/// accepted it, the manifest is kept in `cache_dir` for the next push.
///
/// # Errors
///
/// As [`HubClient::push`]; a bundle without a manifest; I/O errors of the
/// bundle or the cache.
pub async fn push_dir(
    client: &HubClient,
    instance: &str,
    token: &str,
    dir: &Path,
    cache_dir: &Path,
) -> Result<Pushed, ClientError> {
    if !wb_syncfmt::is_valid_instance_name(instance) {
        return Err(ClientError::Unexpected {
            url: client.url().to_owned(),
            detail: format!("{instance:?} is not an instance name"),
        });
    }
    let manifest_path = dir.join(MANIFEST_FILE_NAME);
    let manifest = fs::read(&manifest_path).map_err(io_err(&manifest_path))?;
    let cache = cache_dir.join(format!("{instance}.manifest"));
    let held = match client.instance(instance).await {
        Ok(summary) => summary.manifest_sha256,
        Err(err) if err.hub_code() == Some(ErrorCode::NotFound) => None,
        Err(err) => return Err(err),
    };
    // The base is the manifest the hub holds: this one (nothing changed)
    // or the one last pushed from here. Each is hashed at most once, the
    // two at the same time (8 MB each at 100k rows).
    // A manifest pushed before as it is (nothing exported since) is
    // hashed once.
    let pushed = held.as_ref().and_then(|_| fs::read(&cache).ok());
    let (manifest_sha256, pushed_sha256) = match &pushed {
        Some(pushed) if *pushed != manifest => {
            let (other, own) = side_by_side(|| sha256_hex(pushed), || sha256_hex(&manifest));
            (own, Some(other))
        }
        Some(_) => {
            let own = sha256_hex(&manifest);
            (own.clone(), Some(own))
        }
        None => (sha256_hex(&manifest), None),
    };
    let base = match held {
        Some(held) if held == manifest_sha256 => {
            Some((std::borrow::Cow::Borrowed(manifest.as_slice()), held))
        }
        Some(held) => pushed
            .filter(|_| pushed_sha256.as_deref() == Some(held.as_str()))
            .map(|pushed| (std::borrow::Cow::Owned(pushed), held)),
        None => None,
    };
    let limits = &client.config().limits;
    let mut outcome = None;
    if let Some((base, base_sha256)) = base {
        let new = (manifest.as_slice(), manifest_sha256.as_str());
        let body = delta_archive((&base, &base_sha256), new, dir, limits).map_err(|source| {
            ClientError::Delta {
                instance: instance.to_owned(),
                source,
            }
        })?;
        let bytes_sent = body.len() as u64;
        match client.push_delta(instance, token, body).await {
            Ok(receipt) => {
                outcome = Some(Pushed {
                    transfer: if receipt.status == "unchanged" {
                        Transfer::None
                    } else {
                        Transfer::Delta
                    },
                    receipt,
                    bytes_sent,
                });
            }
            // The hub forgot the base meanwhile: the whole bundle.
            Err(err) if err.hub_code() == Some(ErrorCode::UnknownBase) => {}
            Err(err) => return Err(err),
        }
    }
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            let body = archive::pack_dir(dir).map_err(|source| ClientError::Pack {
                instance: instance.to_owned(),
                source,
            })?;
            let bytes_sent = body.len() as u64;
            let receipt = client.push(instance, token, body).await?;
            Pushed {
                receipt,
                transfer: Transfer::Full,
                bytes_sent,
            }
        }
    };
    fs::create_dir_all(cache_dir).map_err(io_err(cache_dir))?;
    write_atomically(&cache, &manifest)?;
    Ok(outcome)
}

/// The delta archive from the manifest `base` to the bundle in `dir`
/// (whose manifest is `manifest`), each given with its SHA-256 (hex): the
/// delta, `bundle.sig`, `key-rotations.txt` (when the bundle has one) and
/// the files of the changed lines whose content `base` does not name (the
/// hub holds those).
fn delta_archive(
    (base, base_sha256): (&[u8], &str),
    (manifest, manifest_sha256): (&[u8], &str),
    dir: &Path,
    limits: &Limits,
) -> Result<Vec<u8>, DeltaError> {
    let delta = delta::diff_hashed(
        base,
        base_sha256,
        manifest,
        manifest_sha256,
        limits.max_manifest_bytes,
    )?;
    let changed = delta.changed_entries()?;
    // Which of the changed contents the base already names: one pass over
    // its lines, looking each hash up among the few changed ones.
    let mut held = std::collections::HashSet::new();
    if !changed.is_empty() {
        let wanted: std::collections::HashSet<String> =
            changed.iter().map(|e| e.sha256_hex()).collect();
        // `str::split` finds line ends with `memchr`; a line's hash is its
        // first 64 bytes, compared directly while few are wanted.
        let text = String::from_utf8_lossy(base);
        let few: Vec<&str> = wanted.iter().map(String::as_str).collect();
        for line in text.split('\n') {
            let Some(hash) = line.get(..64) else { continue };
            let found = if few.len() <= 8 {
                few.contains(&hash)
            } else {
                wanted.contains(hash)
            };
            if found {
                held.insert(hash.to_owned());
            }
        }
    }
    let unreadable = |path: &Path, e: std::io::Error| {
        DeltaError::Malformed(format!("cannot read {}: {e}", path.display()))
    };
    let mut out = BTreeMap::new();
    for entry in changed {
        if held.contains(&entry.sha256_hex()) {
            continue;
        }
        let path = dir.join(&entry.path);
        let content = fs::read(&path).map_err(|e| unreadable(&path, e))?;
        out.insert(entry.path, content);
    }
    for name in [SIGNATURE_FILE_NAME, KEY_ROTATIONS_FILE_NAME] {
        let path = dir.join(name);
        match fs::read(&path) {
            Ok(content) => {
                out.insert(name.to_owned(), content);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != SIGNATURE_FILE_NAME => {}
            Err(e) => return Err(unreadable(&path, e)),
        }
    }
    out.insert(DELTA_FILE_NAME.to_owned(), delta.to_json()?);
    archive::pack_delta(&out).map_err(|e| DeltaError::Malformed(e.to_string()))
}

/// A bundle fetched by [`pull_verified`] and verified in memory.
///
/// The verified bundle is in the cache; [`Pulled::files`] reads its files
/// from there (in memory) for an importer such as
/// `wb_engine::sync::import_files`.
#[derive(Debug)]
#[non_exhaustive]
pub struct Pulled {
    /// Its manifest and hash.
    pub bundle: VerifiedBundle,
    /// `false` when the hub answered 304: nothing was downloaded.
    pub downloaded: bool,
    /// Whether the hub sent nothing, a delta or the whole archive.
    pub transfer: Transfer,
    /// Bytes received (the delta or the archive; 0 after a 304).
    pub bytes_received: u64,
    cache: Cache,
    limits: Limits,
}

impl Pulled {
    /// The verified bundle's files, path → bytes (`manifest.sync.txt`,
    /// `bundle.sig`, `<entity>/<id>.sync.txt`), read from the cache.
    ///
    /// # Errors
    ///
    /// The cache cannot be read, or no longer holds this bundle (another
    /// pull replaced it meanwhile).
    pub fn files(&self) -> Result<BTreeMap<String, Vec<u8>>, ClientError> {
        let files = self.cache.read_all(&self.limits)?;
        if self.cache.manifest_sha256().as_deref() != Some(&self.bundle.manifest_sha256) {
            return Err(ClientError::Unexpected {
                url: self.cache.dir.display().to_string(),
                detail: "the cache was replaced while it was read; pull again".to_owned(),
            });
        }
        Ok(files)
    }
}

/// The cache of one peer's verified bundle, in `<cache_root>/<instance>/`:
/// `manifest.sync.txt`, `bundle.sig`, `key-rotations.txt` (when the bundle
/// has one), `<manifest sha256>.pack` (the files the manifest lists,
/// concatenated in its order: their offsets follow from its lengths),
/// `manifest.sha256` and `etag`. The last two are removed first and
/// written last, so a cache interrupted while it is replaced holds no
/// manifest hash and the next pull fetches the whole bundle; a pack is
/// named by the manifest it belongs to, so it never pairs with another.
#[derive(Debug, Clone)]
struct Cache {
    dir: PathBuf,
}

const CACHE_ETAG: &str = "etag";
/// SHA-256 of the cached bundle's manifest: what a pull asks changes since.
const CACHE_MANIFEST_SHA: &str = "manifest.sha256";
/// What earlier versions cached (an archive, an unpacked bundle); removed
/// when seen.
const OLD_CACHE_ENTRIES: [&str; 2] = ["archive.tar", "bundle"];

impl Cache {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read_line(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.path(name))
            .ok()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
    }

    /// The cached bundle's `ETag`, when a whole bundle is cached.
    fn etag(&self) -> Option<String> {
        self.manifest_sha256().and(self.read_line(CACHE_ETAG))
    }

    /// The cached manifest's hash, when a whole bundle is cached.
    fn manifest_sha256(&self) -> Option<String> {
        let sha = self.read_line(CACHE_MANIFEST_SHA)?;
        self.path(&format!("{sha}.pack")).is_file().then_some(sha)
    }

    /// The cached manifest, its bytes and parsed, checked against its hash.
    fn manifest(&self, limits: &Limits) -> Result<(Vec<u8>, String, Manifest), ClientError> {
        let stale = || ClientError::Unexpected {
            url: self.dir.display().to_string(),
            detail: "the cached bundle is incomplete; pull again".to_owned(),
        };
        let sha = self.manifest_sha256().ok_or_else(stale)?;
        let path = self.path(MANIFEST_FILE_NAME);
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        // Hashed and parsed at the same time (8 MB at 100k rows).
        let (hashed, parsed) = side_by_side(
            || sha256_hex(&bytes),
            || Manifest::parse_with_limit(&bytes, MANIFEST_FILE_NAME, limits.max_manifest_bytes),
        );
        if hashed != sha {
            return Err(stale());
        }
        let manifest = parsed.map_err(|_| stale())?;
        Ok((bytes, sha, manifest))
    }

    /// Every file of the cached bundle, path → bytes, within `limits`.
    fn read_all(&self, limits: &Limits) -> Result<BTreeMap<String, Vec<u8>>, ClientError> {
        let (manifest_bytes, sha, manifest) = self.manifest(limits)?;
        let pack_path = self.path(&format!("{sha}.pack"));
        let pack = fs::read(&pack_path).map_err(io_err(&pack_path))?;
        let total: u64 = manifest.files.iter().map(|e| e.len).sum();
        if pack.len() as u64 != total {
            return Err(ClientError::Unexpected {
                url: pack_path.display().to_string(),
                detail: "the cached pack does not match its manifest; pull again".to_owned(),
            });
        }
        let mut files = BTreeMap::new();
        let mut offset = 0usize;
        for entry in &manifest.files {
            let len = usize::try_from(entry.len).unwrap_or(usize::MAX);
            files.insert(entry.path.clone(), pack[offset..offset + len].to_vec());
            offset += len;
        }
        drop(pack);
        for name in [SIGNATURE_FILE_NAME, KEY_ROTATIONS_FILE_NAME] {
            let path = self.path(name);
            match fs::read(&path) {
                Ok(bytes) => {
                    files.insert(name.to_owned(), bytes);
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound && name != SIGNATURE_FILE_NAME => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        files.insert(MANIFEST_FILE_NAME.to_owned(), manifest_bytes);
        Ok(files)
    }

    /// Replaces the cache with the verified bundle `parts` of `verified`.
    /// With `base` (the cached manifest the bundle is an update of), files
    /// of lines the base has are copied from the cached pack; all others
    /// come from `parts.files`.
    fn replace(
        &self,
        verified: &VerifiedBundle,
        parts: &BundleParts,
        base: Option<&Manifest>,
        etag: &str,
    ) -> Result<(), ClientError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let old_sha = self.read_line(CACHE_MANIFEST_SHA);
        // The hash goes first: a cache without it is never a base, so an
        // update cut short anywhere below is pulled again whole.
        for name in [CACHE_ETAG, CACHE_MANIFEST_SHA] {
            remove_if_present(&self.path(name))?;
        }
        for name in OLD_CACHE_ENTRIES {
            let path = self.path(name);
            if path.is_dir() {
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
            } else if path.exists() {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        let sha = &verified.manifest_sha256;
        let pack_path = self.path(&format!("{sha}.pack"));
        let old_pack = old_sha
            .as_ref()
            .map(|old| self.path(&format!("{old}.pack")))
            .filter(|path| path.is_file());
        match base.zip(old_pack) {
            // An update: the old pack becomes the new one in place (the
            // cache is not valid until `manifest.sha256` is written again).
            Some((base, old_pack)) => {
                update_pack(&old_pack, verified, parts, base)?;
                if old_pack != pack_path {
                    fs::rename(&old_pack, &pack_path).map_err(io_err(&pack_path))?;
                }
            }
            None => {
                let tmp = pack_path.with_extension("tmp");
                write_pack(&tmp, verified, parts)?;
                fs::rename(&tmp, &pack_path).map_err(io_err(&pack_path))?;
            }
        }
        write_atomically(&self.path(MANIFEST_FILE_NAME), &parts.manifest)?;
        write_atomically(&self.path(SIGNATURE_FILE_NAME), &parts.signature)?;
        let rotations = self.path(KEY_ROTATIONS_FILE_NAME);
        match &parts.key_rotations {
            Some(bytes) => write_atomically(&rotations, bytes)?,
            None => remove_if_present(&rotations)?,
        }
        write_atomically(
            &self.path(CACHE_MANIFEST_SHA),
            format!("{sha}\n").as_bytes(),
        )?;
        write_atomically(&self.path(CACHE_ETAG), format!("{etag}\n").as_bytes())?;
        // Packs of other manifests are left from earlier bundles.
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let path = entry.map_err(io_err(&self.dir))?.path();
            if path.extension().is_some_and(|e| e == "pack") && path != pack_path {
                let _ = fs::remove_file(path);
            }
        }
        Ok(())
    }
}

/// Removes `path`; a file already gone is fine, any other failure is not
/// (a cache file left behind would describe a cache being rewritten).
fn remove_if_present(path: &Path) -> Result<(), ClientError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// Writes the pack of `verified` into `tmp`: each listed file, from
/// `parts.files`, end to end in manifest order.
fn write_pack(
    tmp: &Path,
    verified: &VerifiedBundle,
    parts: &BundleParts,
) -> Result<(), ClientError> {
    use std::io::Write as _;
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, fs::File::create(tmp).map_err(io_err(tmp))?);
    for entry in &verified.manifest.files {
        let bytes = parts
            .files
            .get(&entry.path)
            .ok_or_else(|| ClientError::Unexpected {
                url: tmp.display().to_string(),
                detail: format!("no bytes for {} to cache", entry.path),
            })?;
        out.write_all(bytes).map_err(io_err(tmp))?;
    }
    out.into_inner()
        .map_err(|e| io_err(tmp)(e.into_error()))?
        .sync_all()
        .map_err(io_err(tmp))
}

/// Turns `pack`, the pack of `base`, into the pack of `verified` in place:
/// the files of the lines before the first line that differs stay where
/// they are; from there on, each file comes from `parts.files` or — for a
/// line `base` has — from the old pack's tail, read first. A change near
/// the end of a large bundle so rewrites little, and none copies the whole
/// pack (writing 50 MB costs 40–150 ms even on tmpfs).
fn update_pack(
    pack: &Path,
    verified: &VerifiedBundle,
    parts: &BundleParts,
    base: &Manifest,
) -> Result<(), ClientError> {
    use std::io::{Read as _, Seek as _, Write as _};
    let new = &verified.manifest.files;
    let same = new
        .iter()
        .zip(&base.files)
        .take_while(|(new, old)| new == old)
        .count();
    let kept: u64 = base.files[..same].iter().map(|e| e.len).sum();
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(pack)
        .map_err(io_err(pack))?;
    let short = || ClientError::Unexpected {
        url: pack.display().to_string(),
        detail: "the cached pack does not match its manifest; pull again".to_owned(),
    };
    let old_len: u64 = base.files.iter().map(|e| e.len).sum();
    if file.metadata().map_err(io_err(pack))?.len() != old_len {
        return Err(short());
    }
    let mut tail = Vec::new();
    file.seek(std::io::SeekFrom::Start(kept))
        .map_err(io_err(pack))?;
    file.read_to_end(&mut tail).map_err(io_err(pack))?;
    file.seek(std::io::SeekFrom::Start(kept))
        .map_err(io_err(pack))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, &file);
    // One walk over both manifests' remaining lines (each sorted by path)
    // finds each kept line's bytes in the old tail.
    let mut old_lines = base.files[same..].iter();
    let mut old_offset = 0usize;
    for entry in &new[same..] {
        if let Some(bytes) = parts.files.get(&entry.path) {
            out.write_all(bytes).map_err(io_err(pack))?;
            continue;
        }
        let mut found = None;
        for line in old_lines.by_ref() {
            let at = old_offset;
            old_offset += usize::try_from(line.len).map_err(|_| short())?;
            match line.path.cmp(&entry.path) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => found = Some((line, at)),
                std::cmp::Ordering::Greater => {}
            }
            break;
        }
        let Some((_, at)) = found.filter(|(line, _)| *line == entry) else {
            return Err(ClientError::Unexpected {
                url: pack.display().to_string(),
                detail: format!("no bytes for {} to cache", entry.path),
            });
        };
        let bytes = tail.get(at..old_offset).ok_or_else(short)?;
        out.write_all(bytes).map_err(io_err(pack))?;
    }
    out.flush().map_err(io_err(pack))?;
    drop(out);
    let new_len: u64 = new.iter().map(|e| e.len).sum();
    file.set_len(new_len).map_err(io_err(pack))?;
    file.sync_all().map_err(io_err(pack))
}

/// Fetches the latest bundle of `instance` and verifies it against
/// `pinned_key` in memory, before anything is written or anyone may use it.
///
/// When a verified bundle of `instance` is cached, the request names its
/// manifest (`since`) and its `ETag`: an unchanged bundle is not
/// downloaded again (the cached one is verified again), and a changed one
/// may come as a delta (`docs/hub.md`, "Deltas"): the client rebuilds the
/// new manifest from the cached one and the changed lines and verifies it
/// through `wb_engine::sync::verify::verify_update` — the signature over
/// the rebuilt manifest against the pin, every changed file's length, hash,
/// syntax, scope and actors — taking the files of unchanged lines, which
/// passed when they were cached, from the cache. When that is not enough
/// (the key changed, a user is gone), the whole rebuilt bundle is verified.
/// Anything a delta does not explain (a file it lacks or does not name, a
/// manifest that does not hash as it says) is refused.
///
/// Downloads are read into memory within the client's limits
/// ([`ClientConfig::max_download_bytes`] while they stream,
/// [`ClientConfig::limits`] for their entries). Only a bundle that passed
/// is cached, in `<cache_root>/<instance>/` (see the cache's layout in
/// `docs/hub.md`). A refused bundle leaves the cache as it was.
///
/// # Errors
///
/// Network errors, refusals, deadlines and limits, unsafe archives,
/// deltas that do not apply, verification failures.
pub async fn pull_verified(
    client: &HubClient,
    instance: &str,
    pinned_key: &str,
    cache_root: &Path,
) -> Result<Pulled, ClientError> {
    if !wb_syncfmt::is_valid_instance_name(instance) {
        return Err(ClientError::Unexpected {
            url: client.url().to_owned(),
            detail: format!("{instance:?} is not an instance name"),
        });
    }
    let cache = Cache {
        dir: cache_root.join(instance),
    };
    let config = client.config();
    let limits = &config.limits;
    let (cached_etag, cached_sha) = (cache.etag(), cache.manifest_sha256());
    // A delta's base is the cached manifest (8 MB at 100k rows): it is
    // read, hashed and parsed while the hub computes its answer.
    let base = cached_sha.is_some().then(|| {
        let (cache, limits) = (cache.clone(), limits.clone());
        actix_rt::task::spawn_blocking(move || cache.manifest(&limits))
    });
    let mut fetched = client
        .fetch_as(
            instance,
            cached_etag.as_deref(),
            cached_sha.as_deref(),
            Some(limits),
        )
        .await?;
    if let Download::Fetched(Fetched::NotModified) = fetched {
        match cache
            .read_all(limits)
            .and_then(|files| check_files(files, instance, pinned_key, config))
        {
            Ok((bundle, _)) => {
                return Ok(Pulled {
                    bundle,
                    downloaded: false,
                    transfer: Transfer::None,
                    bytes_received: 0,
                    cache,
                    limits: limits.clone(),
                });
            }
            // The cache no longer passes (edited, or another pin): fetch
            // the bundle anew, to be verified like any download.
            Err(_) => fetched = client.fetch_as(instance, None, None, Some(limits)).await?,
        }
    }
    let (bundle, transfer, bytes_received) = match fetched {
        Download::Files {
            files,
            etag,
            received,
        } => {
            let (bundle, parts) = check_files(files, instance, pinned_key, config)?;
            cache.replace(&bundle, &parts, None, &etag)?;
            (bundle, Transfer::Full, received)
        }
        Download::Fetched(Fetched::Delta { bytes, etag }) => {
            let received = bytes.len() as u64;
            let (base_bytes, base_sha256, base) = match base {
                Some(reading) => reading.await.map_err(|e| ClientError::Unexpected {
                    url: cache.dir.display().to_string(),
                    detail: format!("reading the cached manifest stopped: {e}"),
                })??,
                // A delta this client did not ask for: the cache says why
                // it cannot be applied.
                None => cache.manifest(limits)?,
            };
            let files = apply_delta((&base_bytes, &base_sha256), &bytes, instance, config)?;
            let refused = |source| ClientError::Verify {
                instance: instance.to_owned(),
                source,
            };
            match verify_update((&base, &base_bytes), files, instance, pinned_key, limits)
                .map_err(refused)?
            {
                UpdateChecked::Verified(bundle, parts) => {
                    cache.replace(&bundle, &parts, Some(&base), &etag)?;
                    (bundle, Transfer::Delta, received)
                }
                UpdateChecked::NeedsWhole(parts) => {
                    // The new manifest's other lines are the base's: their
                    // files come from the cache, and only theirs.
                    let manifest = Manifest::parse_with_limit(
                        &parts.manifest,
                        MANIFEST_FILE_NAME,
                        limits.max_manifest_bytes,
                    )
                    .map_err(|e| ClientError::Delta {
                        instance: instance.to_owned(),
                        source: DeltaError::Manifest(e),
                    })?;
                    let listed: std::collections::HashSet<&str> =
                        manifest.files.iter().map(|e| e.path.as_str()).collect();
                    let mut files = cache.read_all(limits)?;
                    files.retain(|path, _| listed.contains(path.as_str()));
                    files.extend(parts.into_files());
                    let (bundle, parts) = check_files(files, instance, pinned_key, config)?;
                    // Files the new manifest no longer lists are not
                    // cached: the pack holds exactly its lines.
                    cache.replace(&bundle, &parts, None, &etag)?;
                    (bundle, Transfer::Delta, received)
                }
            }
        }
        // `fetch_as` reads every whole archive into its files.
        Download::Fetched(Fetched::Archive { .. }) => {
            return Err(ClientError::Unexpected {
                url: client.url().to_owned(),
                detail: "an archive that was not read as it came in".to_owned(),
            });
        }
        Download::Fetched(Fetched::NotModified) => {
            return Err(ClientError::Unexpected {
                url: client.url().to_owned(),
                detail: "304 Not Modified to a request without If-None-Match".to_owned(),
            });
        }
    };
    Ok(Pulled {
        bundle,
        downloaded: true,
        transfer,
        bytes_received,
        cache,
        limits: limits.clone(),
    })
}

/// The update a delta archive describes against the cached manifest
/// `base`, not yet verified: the manifest rebuilt (and checked against the
/// hash the delta names), the signature and rotation chain, and the files
/// of the changed lines — every one of which the delta must carry.
fn apply_delta(
    (base, base_sha256): (&[u8], &str),
    delta_archive: &[u8],
    instance: &str,
    config: &ClientConfig,
) -> Result<BTreeMap<String, Vec<u8>>, ClientError> {
    let refused = |source: DeltaError| ClientError::Delta {
        instance: instance.to_owned(),
        source,
    };
    let mut sent =
        archive::read_delta_entries_within(delta_archive, &config.limits).map_err(|source| {
            ClientError::Archive {
                instance: instance.to_owned(),
                source,
            }
        })?;
    let delta = sent
        .remove(DELTA_FILE_NAME)
        .ok_or_else(|| refused(DeltaError::Malformed(format!("no {DELTA_FILE_NAME}"))))
        .and_then(|json| {
            ManifestDelta::from_json(&json, config.limits.max_manifest_bytes).map_err(refused)
        })?;
    let manifest_bytes =
        delta::apply_hashed(base, base_sha256, &delta, config.limits.max_manifest_bytes)
            .map_err(refused)?;
    let mut files = BTreeMap::new();
    for entry in delta.changed_entries().map_err(refused)? {
        let content = sent.remove(&entry.path).ok_or_else(|| {
            refused(DeltaError::Malformed(format!(
                "the delta lacks the file of its changed line {}",
                entry.path
            )))
        })?;
        files.insert(entry.path, content);
    }
    for name in [SIGNATURE_FILE_NAME, KEY_ROTATIONS_FILE_NAME] {
        if let Some(content) = sent.remove(name) {
            files.insert(name.to_owned(), content);
        }
    }
    if let Some(extra) = sent.keys().next() {
        return Err(refused(DeltaError::Malformed(format!(
            "the delta carries {extra}, which no changed line names"
        ))));
    }
    files.insert(MANIFEST_FILE_NAME.to_owned(), manifest_bytes);
    Ok(files)
}

/// Verifies the bundle in `files` (`wb_engine::sync::verify`, through
/// [`verify_files`]), all in memory.
fn check_files(
    files: BTreeMap<String, Vec<u8>>,
    instance: &str,
    pinned_key: &str,
    config: &ClientConfig,
) -> Result<(VerifiedBundle, BundleParts), ClientError> {
    verify_files(files, instance, pinned_key, &config.limits).map_err(|source| {
        ClientError::Verify {
            instance: instance.to_owned(),
            source,
        }
    })
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
