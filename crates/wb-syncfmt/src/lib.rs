//! Reader and writer of the wb sync format: one `.sync.txt` file per row, a
//! `manifest.sync.txt` listing every file with its length and SHA-256, and
//! bundle directories holding both plus `bundle.sig`.
//!
//! The format is specified in `docs/format.md`; `docs/embedding.md` is the
//! map of this crate for embedders. Everything here is strict:
//! there is exactly one valid text for each value, and any other text is
//! refused with an error naming the file, the line and the rule broken.
//! This crate does no cryptography (the signature is made and checked by
//! `wb-crypto`), no database and no network access; it does file I/O only
//! in [`bundle`].
//!
//! # A file
//!
//! ```
//! use serde_json::json;
//! use time::macros::datetime;
//! use wb_syncfmt::{CURRENT_SCHEMA_VERSION, EntityKind, Scope, SyncFile};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let Some(body) = json!({"title": "A ladder", "author_id": "01936f3e-0000-7000-8000-000000000001"})
//!     .as_object()
//!     .cloned()
//! else {
//!     unreachable!("json! of an object literal is an object")
//! };
//! let file = SyncFile {
//!     entity: EntityKind::Request,
//!     id: "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65".to_owned(),
//!     instance: "alpha.example".to_owned(),
//!     schema_version: CURRENT_SCHEMA_VERSION,
//!     sync_scope: Scope::Public,
//!     updated_at: datetime!(2026-11-24 10:00 UTC),
//!     body,
//! };
//! let text = file.to_text()?;
//! assert_eq!(
//!     text,
//!     "Entity: request\n\
//!      ID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65\n\
//!      Instance: alpha.example\n\
//!      Schema-Version: 1\n\
//!      Sync-Scope: public\n\
//!      Updated-At: 2026-11-24T10:00:00.000000Z\n\
//!      \n\
//!      {\n  \"author_id\": \"01936f3e-0000-7000-8000-000000000001\",\n  \"title\": \"A ladder\"\n}\n"
//! );
//! assert_eq!(file.relative_path(), "request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt");
//! assert_eq!(SyncFile::parse(text.as_bytes(), "example.sync.txt")?, file);
//!
//! // Anything but the canonical text is refused, with file and line.
//! let err = SyncFile::parse(text.replace("1\n", "01\n").as_bytes(), "example.sync.txt")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "example.sync.txt:4: Schema-Version \"01\" is not a number");
//! # Ok(())
//! # }
//! ```
//!
//! # A bundle
//!
//! ```
//! # use serde_json::Map;
//! # use time::macros::datetime;
//! use wb_syncfmt::bundle::{BundleReader, BundleWriter, Limits, write_signature};
//! # use wb_syncfmt::{CURRENT_SCHEMA_VERSION, EntityKind, Scope, SyncFile};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("public_sync");
//! # let file = SyncFile {
//! #     entity: EntityKind::User,
//! #     id: "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65".to_owned(),
//! #     instance: "alpha.example".to_owned(),
//! #     schema_version: CURRENT_SCHEMA_VERSION,
//! #     sync_scope: Scope::Public,
//! #     updated_at: datetime!(2026-11-24 10:00 UTC),
//! #     body: Map::new(),
//! # };
//! // Export: add every row, choose the sequence, write the manifest, sign it.
//! let mut writer = BundleWriter::create(&dir)?;
//! writer.add(&file)?;
//! let previous = writer.previous_manifest().map(|m| (m.sequence, m.files.clone()));
//! let sequence = match previous {
//!     Some((seq, files)) if files == writer.files() => seq, // nothing changed
//!     Some((seq, _)) => seq + 1,
//!     None => 1,
//! };
//! let written = writer.finish("alpha.example", "RWQexamplekey", sequence)?;
//! let signature = b"(made by wb-crypto over written.manifest_bytes)";
//! write_signature(&dir, signature)?;
//!
//! // Import: open (checks the layout), verify the signature, stream the rows.
//! let reader = BundleReader::open(&dir, &Limits::default())?;
//! assert_eq!(reader.manifest_bytes(), written.manifest_bytes.as_slice());
//! assert_eq!(reader.signature_bytes(), signature);
//! for row in reader.entries() {
//!     let row = row?;
//!     assert_eq!(row, file);
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bundle;
mod canonical_json;
mod entity;
mod error;
mod hash;
mod ident;
mod layout;
mod manifest;
mod schema;
mod sync_file;
mod text;
mod timestamp;
mod vouch;

pub use entity::{EntityKind, Scope, UnknownEntityError, UnknownScopeError};
pub use error::{ParseError, ParseErrorKind, WriteError};
pub use hash::{sha256, sha256_hex};
pub use ident::{
    INSTANCE_NAME_RULE, MAX_USERNAME_LEN, USERNAME_RULE, is_canonical_uuid, is_valid_instance_name,
    is_valid_public_key, is_valid_username,
};
pub use layout::{
    KEY_ROTATIONS_FILE_NAME, MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME, SYNC_FILE_SUFFIX,
    is_outside_bundle,
};
pub use manifest::{
    DEFAULT_MAX_MANIFEST_BYTES, MANIFEST_FORMAT, MANIFEST_HEADERS, MAX_SEQUENCE, Manifest,
    ManifestEntry, shared_lines,
};
pub use schema::CURRENT_SCHEMA_VERSION;
pub use sync_file::{DEFAULT_MAX_FILE_BYTES, SYNC_FILE_HEADERS, SyncFile};
pub use vouch::vouch_signing_bytes;
