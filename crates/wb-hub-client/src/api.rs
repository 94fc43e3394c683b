//! The JSON documents of the hub API (`docs/hub.md`), shared by the server
//! and the client.

use serde::{Deserialize, Serialize};

/// `GET /v2/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The API version, [`API_VERSION`].
    pub api: u32,
}

/// One entry of `GET /v2/instances`, and the answer to
/// `GET /v2/instances/{name}`: a registered instance and its latest bundle
/// (the bundle fields are `null` until it publishes one).
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

/// `GET /v2/instances`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceList {
    /// Every registered instance, by name.
    pub instances: Vec<InstanceSummary>,
}

/// The answer to a successful `PUT` or `PATCH` of
/// `/v2/instances/{name}/bundle`.
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
/// `/v2/instances/{name}/bundle`).
pub const ARCHIVE_CONTENT_TYPE: &str = "application/x-tar";

/// The version of the API this crate speaks (`docs/hub.md`): its paths
/// begin with [`API_PREFIX`].
pub const API_VERSION: u32 = 2;

/// The path prefix of every endpoint of API version [`API_VERSION`].
pub const API_PREFIX: &str = "/v2";

/// The media type of a delta archive (`PATCH` of
/// `/v2/instances/{name}/bundle`, and the answer to a `GET` with `since`
/// when the hub sends a delta): a tar with `manifest.delta.json` in place
/// of `manifest.sync.txt`.
pub const DELTA_CONTENT_TYPE: &str = "application/vnd.wb.delta+tar";

/// The `ETag` of a bundle, as the hub sends it (unquoted): the SHA-256
/// (hex) of `"wb-bundle-etag/1\n" <manifest sha256> "\n" <sha256 of
/// bundle.sig> "\n" <sha256 of key-rotations.txt, or "-"> "\n"`.
///
/// A bundle is its manifest (which names every file by its hash), its
/// signature and its rotation chain, so this names the bundle as the
/// SHA-256 of its whole archive would, without reading its files: a hub
/// that published a bundle from a delta knows it at once.
#[must_use]
pub fn bundle_etag(
    manifest_sha256: &str,
    signature: &[u8],
    key_rotations: Option<&[u8]>,
) -> String {
    let rotations = key_rotations.map_or_else(|| "-".to_owned(), wb_syncfmt::sha256_hex);
    wb_syncfmt::sha256_hex(
        format!(
            "wb-bundle-etag/1\n{manifest_sha256}\n{}\n{rotations}\n",
            wb_syncfmt::sha256_hex(signature)
        )
        .as_bytes(),
    )
}
