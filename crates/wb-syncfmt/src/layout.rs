//! Names inside a bundle directory, and the rules a file path must obey.

use crate::entity::EntityKind;
use crate::ident::is_canonical_uuid;

/// Name of the manifest at the top of a bundle.
pub const MANIFEST_FILE_NAME: &str = "manifest.sync.txt";

/// Name of the signature over the manifest at the top of a bundle.
pub const SIGNATURE_FILE_NAME: &str = "bundle.sig";

/// Name of the optional rotation chain at the top of a bundle: the
/// statements by which the instance's earlier keys vouch for the key the
/// manifest names (`docs/keys.md`). Its statements sign themselves, so the
/// manifest does not list it.
pub const KEY_ROTATIONS_FILE_NAME: &str = "key-rotations.txt";

/// The suffix of every row file.
pub const SYNC_FILE_SUFFIX: &str = ".sync.txt";

/// Whether a name at the **top level** of a bundle directory lies outside
/// the bundle: every name beginning with `.` (`.git`, `.gitignore`,
/// `.gitattributes`, …), so that a bundle directory can be a git work tree.
/// Readers skip such entries without looking inside them; writers never
/// delete or change them (apart from their own temporary files of the
/// manifest and signature, `.manifest.sync.txt.tmp` and `.bundle.sig.tmp`).
/// Inside entity directories no such exception exists.
#[must_use]
pub fn is_outside_bundle(name: &str) -> bool {
    name.starts_with('.')
}

/// The bundle path of a row: `<entity>/<id>.sync.txt`.
pub(crate) fn relative_path(entity: EntityKind, id: &str) -> String {
    format!("{}/{}{}", entity.as_str(), id, SYNC_FILE_SUFFIX)
}

/// Checks that `path` is safe and of the form `<entity>/<uuid>.sync.txt`,
/// returning the entity and the id; the error is the rule it breaks.
pub(crate) fn check_bundle_path(path: &str) -> Result<(EntityKind, &str), &'static str> {
    // The one shape a valid path has, checked without allocating: manifests
    // of 100k files check every path when read and when written. Anything
    // else goes through the rules below, to name the one it breaks.
    if let Some((dir, name)) = path.split_once('/')
        && let Some(entity) = EntityKind::ALL.into_iter().find(|k| k.as_str() == dir)
        && let Some(id) = name.strip_suffix(SYNC_FILE_SUFFIX)
        && is_canonical_uuid(id)
    {
        return Ok((entity, id));
    }
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute paths are not allowed");
    }
    if path.contains('\\') {
        return Err("backslashes are not allowed");
    }
    if path.chars().any(char::is_control) {
        return Err("control characters are not allowed");
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("empty path segments are not allowed");
    }
    if segments.iter().any(|s| *s == ".." || *s == ".") {
        return Err("\".\" and \"..\" segments are not allowed");
    }
    let [dir, name] = segments.as_slice() else {
        return Err("a file path is <entity>/<uuid>.sync.txt");
    };
    let entity: EntityKind = dir
        .parse()
        .map_err(|_| "the directory is not an entity (user, request, comment, invite, vouch)")?;
    let id = name
        .strip_suffix(SYNC_FILE_SUFFIX)
        .filter(|id| is_canonical_uuid(id))
        .ok_or("a file name is <lowercase uuid>.sync.txt")?;
    Ok((entity, id))
}
