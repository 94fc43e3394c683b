//! Schema versions: which ones this crate reads, and the one place where
//! bodies of older versions are upgraded to the current one.

use serde_json::{Map, Value};

use crate::entity::EntityKind;
use crate::error::ParseErrorKind;

/// The schema version this crate writes, and the newest it reads.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// Checks a `Schema-Version` value read from a file or manifest.
pub(crate) fn check_readable(version: u32) -> Result<(), ParseErrorKind> {
    if version == 0 {
        Err(ParseErrorKind::SchemaVersionZero)
    } else if version > CURRENT_SCHEMA_VERSION {
        Err(ParseErrorKind::SchemaVersionTooNew {
            found: version,
            supported: CURRENT_SCHEMA_VERSION,
        })
    } else {
        Ok(())
    }
}

/// Upgrades the body of a file written with schema `version` (already
/// checked by [`check_readable`]) to [`CURRENT_SCHEMA_VERSION`].
///
/// This is the only place that knows how bodies changed between versions.
/// Version 1 is the first version, so there is nothing to upgrade yet; when
/// version 2 arrives, add a `1 => upgrade_v1_to_v2(entity, body)` step here
/// and let the steps chain.
pub(crate) fn upgrade(
    version: u32,
    entity: EntityKind,
    body: Map<String, Value>,
) -> Map<String, Value> {
    let _ = entity;
    debug_assert!((1..=CURRENT_SCHEMA_VERSION).contains(&version));
    body
}
