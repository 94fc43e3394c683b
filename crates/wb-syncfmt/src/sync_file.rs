//! One `.sync.txt` file: a row of one entity, as fixed headers, an empty
//! line and a canonical JSON body. [`SyncFile::to_text`] renders it,
//! [`SyncFile::parse`] reads it strictly.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::canonical_json::{self, StrictValue};
use crate::entity::{EntityKind, Scope};
use crate::error::{ParseError, ParseErrorKind, WriteError};
use crate::ident::{excerpt, is_canonical_uuid, is_valid_instance_name, parse_canonical_u64};
use crate::layout::relative_path;
use crate::schema::{self, CURRENT_SCHEMA_VERSION};
use crate::text::{decode, line_start, read_headers};
use crate::timestamp;

/// The default size limit of one `.sync.txt` file: 1 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The headers of a `.sync.txt` file, in their required order.
pub const SYNC_FILE_HEADERS: [&str; 6] = [
    "Entity",
    "ID",
    "Instance",
    "Schema-Version",
    "Sync-Scope",
    "Updated-At",
];

/// Line number of the first body line (after six headers and an empty line).
const BODY_LINE: usize = SYNC_FILE_HEADERS.len() + 2;

/// Shown instead of body content in errors about private files.
const NOT_SHOWN: &str = "(not shown: private file)";

/// One row as a `.sync.txt` file.
///
/// The fields are plain data; [`SyncFile::to_text`] checks them, and
/// [`SyncFile::parse`] only returns values that pass those checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFile {
    /// The kind of row (`Entity:`).
    pub entity: EntityKind,
    /// The row's id (`ID:`): a lowercase hyphenated UUID.
    pub id: String,
    /// The instance the row originates from (`Instance:`).
    pub instance: String,
    /// The schema version (`Schema-Version:`). After [`SyncFile::parse`] it is
    /// always [`CURRENT_SCHEMA_VERSION`], as older bodies are upgraded.
    pub schema_version: u32,
    /// The row's scope (`Sync-Scope:`). Only public files can be written.
    pub sync_scope: Scope,
    /// When the row last changed (`Updated-At:`), at microsecond precision.
    /// Any offset is accepted and written as UTC.
    pub updated_at: OffsetDateTime,
    /// The row's fields. This crate does not interpret the keys; it only
    /// requires integers rather than floats.
    pub body: Map<String, Value>,
}

impl SyncFile {
    /// The file's path inside a bundle: `<entity>/<id>.sync.txt`.
    ///
    /// Only meaningful when `id` is a valid id, which [`SyncFile::to_text`]
    /// and [`SyncFile::parse`] guarantee.
    #[must_use]
    pub fn relative_path(&self) -> String {
        relative_path(self.entity, &self.id)
    }

    /// Renders the file in its one canonical text form.
    ///
    /// # Errors
    ///
    /// Refuses a private file, an invalid id or instance name, a schema
    /// version other than [`CURRENT_SCHEMA_VERSION`], an `updated_at` outside
    /// years 0000–9999 or with sub-microsecond precision, and a float in the
    /// body.
    pub fn to_text(&self) -> Result<String, WriteError> {
        if self.sync_scope == Scope::Private {
            return Err(WriteError::PrivateScope {
                path: excerpt(&self.relative_path()),
            });
        }
        if !is_canonical_uuid(&self.id) {
            return Err(WriteError::InvalidId {
                id: excerpt(&self.id),
            });
        }
        if !is_valid_instance_name(&self.instance) {
            return Err(WriteError::InvalidInstance {
                instance: excerpt(&self.instance),
            });
        }
        if self.schema_version != CURRENT_SCHEMA_VERSION {
            return Err(WriteError::UnsupportedSchemaVersion {
                found: self.schema_version,
                supported: CURRENT_SCHEMA_VERSION,
            });
        }
        let updated_at = timestamp::format(self.updated_at)?;
        let mut out = String::with_capacity(1024);
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "Entity: {}\nID: {}\nInstance: {}\nSchema-Version: {}\nSync-Scope: {}\nUpdated-At: {}\n\n",
            self.entity, self.id, self.instance, self.schema_version, self.sync_scope, updated_at,
        );
        if let Some(float) = canonical_json::render_into(&mut out, &self.body) {
            return Err(WriteError::Float {
                pointer: float.pointer,
                value: float.value,
            });
        }
        out.push('\n');
        Ok(out)
    }

    /// Parses a file strictly, with the default size limit
    /// ([`DEFAULT_MAX_FILE_BYTES`]). `path` is used only in error messages.
    ///
    /// # Errors
    ///
    /// Any departure from the canonical form, named with `path`, the line and
    /// the rule broken. A file with `Sync-Scope: private` is *not* an error
    /// here; bundle readers refuse it.
    pub fn parse(bytes: &[u8], path: &str) -> Result<SyncFile, ParseError> {
        Self::parse_with_limit(bytes, path, DEFAULT_MAX_FILE_BYTES)
    }

    /// As [`SyncFile::parse`], refusing files over `max_bytes`.
    ///
    /// # Errors
    ///
    /// As [`SyncFile::parse`].
    pub fn parse_with_limit(
        bytes: &[u8],
        path: &str,
        max_bytes: u64,
    ) -> Result<SyncFile, ParseError> {
        let text = decode(bytes, path, max_bytes)?;
        let lines: Vec<&str> = text.split('\n').collect();
        let values = read_headers(&lines, &SYNC_FILE_HEADERS, path)?;
        let [entity, id, instance, version, scope, updated_at] = values;
        let err = |line: usize, kind: ParseErrorKind| ParseError::at(path, line, kind);

        let entity: EntityKind = entity.parse().map_err(|_| {
            err(
                1,
                ParseErrorKind::InvalidEntity {
                    value: excerpt(entity),
                },
            )
        })?;
        if !is_canonical_uuid(id) {
            return Err(err(2, ParseErrorKind::InvalidId { value: excerpt(id) }));
        }
        if !is_valid_instance_name(instance) {
            return Err(err(
                3,
                ParseErrorKind::InvalidInstance {
                    value: excerpt(instance),
                },
            ));
        }
        let schema_version = parse_canonical_u64(version)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                err(
                    4,
                    ParseErrorKind::InvalidNumber {
                        header: "Schema-Version",
                        value: excerpt(version),
                    },
                )
            })?;
        schema::check_readable(schema_version).map_err(|kind| err(4, kind))?;
        let sync_scope: Scope = scope.parse().map_err(|_| {
            err(
                5,
                ParseErrorKind::InvalidScope {
                    value: excerpt(scope),
                },
            )
        })?;
        let updated_at = timestamp::parse(updated_at).map_err(|reason| {
            err(
                6,
                ParseErrorKind::InvalidTimestamp {
                    value: excerpt(updated_at),
                    reason,
                },
            )
        })?;

        let body_start = line_start(&lines, BODY_LINE - 1);
        let body_text = text.get(body_start..).unwrap_or("");
        if body_text.is_empty() {
            return Err(err(
                BODY_LINE,
                ParseErrorKind::UnexpectedEnd {
                    expected: "a JSON body after the empty line",
                },
            ));
        }
        let private = sync_scope == Scope::Private;
        let body = parse_body(body_text, private)
            .map_err(|(offset, kind)| err(BODY_LINE + offset, kind))?;
        let body = schema::upgrade(schema_version, entity, body);
        Ok(SyncFile {
            entity,
            id: id.to_owned(),
            instance: instance.to_owned(),
            schema_version: CURRENT_SCHEMA_VERSION,
            sync_scope,
            updated_at,
            body,
        })
    }
}

/// Parses and checks a body; errors carry the 0-based line offset into it.
fn parse_body(text: &str, private: bool) -> Result<Map<String, Value>, (usize, ParseErrorKind)> {
    let json_error = |e: serde_json::Error| {
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(cut) => message[..cut].to_owned(),
            None => message,
        };
        (
            e.line().saturating_sub(1),
            ParseErrorKind::InvalidJson { message },
        )
    };
    // Read one JSON value; whatever follows it is reported by the layout
    // comparison below as trailing content.
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<StrictValue>();
    let value = match stream.next() {
        Some(value) => value.map_err(json_error)?.0,
        None => {
            return Err((
                0,
                ParseErrorKind::UnexpectedEnd {
                    expected: "a JSON body after the empty line",
                },
            ));
        }
    };
    let Value::Object(body) = value else {
        return Err((0, ParseErrorKind::BodyNotObject));
    };
    let shown = |s: &str| {
        if private {
            NOT_SHOWN.to_owned()
        } else {
            excerpt(s)
        }
    };
    let (canonical, float) = canonical_json::render(&body);
    if let Some(float) = float {
        return Err((
            float.line_index,
            ParseErrorKind::Float {
                value: shown(&float.value),
            },
        ));
    }
    let newlines = |s: &str| s.bytes().filter(|&b| b == b'\n').count();
    let Some(rest) = text.strip_prefix(canonical.as_str()) else {
        let mut expected = canonical.split('\n');
        let mut found = text.split('\n');
        let mut index = 0;
        loop {
            match (expected.next(), found.next()) {
                (Some(e), Some(f)) if e == f => index += 1,
                (e, f) => {
                    return Err((
                        index,
                        ParseErrorKind::NonCanonicalJson {
                            expected: shown(e.unwrap_or("(end of file)")),
                            found: shown(f.unwrap_or("(end of file)")),
                        },
                    ));
                }
            }
        }
    };
    match rest {
        "\n" => Ok(body),
        "" => Err((newlines(&canonical), ParseErrorKind::MissingFinalNewline)),
        _ => Err((newlines(&canonical) + 1, ParseErrorKind::TrailingContent)),
    }
}
