//! Helpers both hub test binaries use.

use std::collections::BTreeMap;
use std::path::Path;

use wb_hub::client::{ClientError, HubClient, Pushed};

/// Pushes the bundle `files` (path → bytes) as `wb sync push` pushes a
/// bundle directory: written into a fresh directory, then `push_dir`.
pub async fn push_files(
    client: &HubClient,
    instance: &str,
    token: &str,
    files: &BTreeMap<String, Vec<u8>>,
    cache: &Path,
) -> Result<Pushed, ClientError> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    wb_hub::archive::write_entries(files, dir.path()).expect("the bundle is written");
    wb_hub::client::push_dir(client, instance, token, dir.path(), cache).await
}

/// The `ETag` of the bundle in a downloaded archive (`docs/hub.md`,
/// "Storage and `ETag`").
pub fn etag_of(archive: &[u8]) -> String {
    let files = wb_hub::archive::read_entries(archive).expect("a readable archive");
    wb_hub::api::bundle_etag(
        &wb_syncfmt::sha256_hex(&files["manifest.sync.txt"]),
        &files["bundle.sig"],
        files.get("key-rotations.txt").map(Vec::as_slice),
    )
}
