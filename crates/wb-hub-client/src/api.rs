//! The JSON documents of the hub API (`docs/hub.md`), shared by the server
//! and the client.

use serde::{Deserialize, Serialize};

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The API version, `1`.
    pub api: u32,
}

/// One entry of `GET /v1/instances`: a registered instance and its latest
/// bundle (the bundle fields are `null` until it publishes one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSummary {
    /// The instance's name.
    pub name: String,
    /// Its registered public key (minisign one-line form).
    pub public_key: String,
    /// The latest bundle's sequence.
    pub sequence: Option<u64>,
    /// SHA-256 (hex) of the latest bundle's manifest.
    pub manifest_sha256: Option<String>,
    /// Size of the latest bundle's archive, in bytes.
    pub size: Option<u64>,
    /// When the hub accepted it (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
    pub published_at: Option<String>,
}

/// `GET /v1/instances`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceList {
    /// Every registered instance, by name.
    pub instances: Vec<InstanceSummary>,
}

/// The answer to a successful `PUT /v1/instances/{name}/bundle`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReceipt {
    /// `published`, or `unchanged` when the very same bundle was already
    /// the latest.
    pub status: String,
    /// The instance.
    pub instance: String,
    /// The bundle's sequence.
    pub sequence: u64,
    /// SHA-256 (hex) of its manifest.
    pub manifest_sha256: String,
    /// The entity tag under which it is served (without quotes).
    pub etag: String,
}

/// The media type of a bundle archive (`PUT` and `GET` of
/// `/v1/instances/{name}/bundle`).
pub const ARCHIVE_CONTENT_TYPE: &str = "application/x-tar";
