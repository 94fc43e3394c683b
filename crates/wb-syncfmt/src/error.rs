//! Error types of parsing ([`ParseError`]) and rendering ([`WriteError`])
//! files and manifests.

use std::fmt;

/// A file or manifest broke a rule of the format.
///
/// It names the file (as the caller gave it), the 1-based line when the
/// problem is on one line, and the rule that was broken. Its `Display` form
/// is `path:line: message`, e.g.
/// `user/0193….sync.txt:4: Schema-Version "x" is not a number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    path: String,
    line: Option<usize>,
    kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(path: &str, line: Option<usize>, kind: ParseErrorKind) -> Self {
        ParseError {
            path: path.to_owned(),
            line,
            kind,
        }
    }

    pub(crate) fn at(path: &str, line: usize, kind: ParseErrorKind) -> Self {
        Self::new(path, Some(line), kind)
    }

    /// The path given by the caller for error messages.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The 1-based line number, when the problem is on one line.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// Which rule was broken.
    #[must_use]
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path, line, self.kind),
            None => write!(f, "{}: {}", self.path, self.kind),
        }
    }
}

impl std::error::Error for ParseError {}

/// The rule a file or manifest broke. See `docs/format.md` for the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The file is larger than the configured limit.
    #[error("file is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the file in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The file starts with a UTF-8 byte order mark.
    #[error("byte order mark at the start of the file is not allowed")]
    ByteOrderMark,
    /// A line contains a carriage return (CRLF line endings).
    #[error("carriage return (CRLF line ending) is not allowed; lines end with LF only")]
    CarriageReturn,
    /// A line ends with a space or a tab.
    #[error("trailing space or tab at the end of the line")]
    TrailingWhitespace,
    /// A header line is not of the form `Name: value`.
    #[error("expected a header line \"Name: value\", found {found:?}")]
    MalformedHeader {
        /// The offending line (shortened).
        found: String,
    },
    /// A required header is absent.
    #[error("missing header \"{expected}\"")]
    MissingHeader {
        /// The header that was expected on this line.
        expected: &'static str,
    },
    /// A header name that the format does not define (names are case-sensitive).
    #[error("unknown header {name:?}")]
    UnknownHeader {
        /// The unknown name (shortened).
        name: String,
    },
    /// A header appears twice.
    #[error("duplicate header \"{name}\"")]
    DuplicateHeader {
        /// The repeated header.
        name: &'static str,
    },
    /// A known header appears in the wrong place.
    #[error("header \"{name}\" is out of order: expected \"{expected}\" on this line")]
    HeaderOutOfOrder {
        /// The header found.
        name: &'static str,
        /// The header that belongs on this line.
        expected: &'static str,
    },
    /// The separator after a header name is not exactly `": "`, or the value is empty.
    #[error(
        "header \"{name}\" must be written \"{name}: value\" with exactly one space and a non-empty value"
    )]
    HeaderSpacing {
        /// The header.
        name: &'static str,
    },
    /// The `Entity:` value is not a known entity.
    #[error("Entity {value:?} is not one of user, request, comment, invite, vouch")]
    InvalidEntity {
        /// The value found (shortened).
        value: String,
    },
    /// The `ID:` value is not a lowercase hyphenated UUID.
    #[error("ID {value:?} is not a lowercase hyphenated UUID")]
    InvalidId {
        /// The value found (shortened).
        value: String,
    },
    /// The `Instance:` value is not a valid instance name.
    #[error(
        "Instance {value:?} is not a valid instance name ({})",
        crate::INSTANCE_NAME_RULE
    )]
    InvalidInstance {
        /// The value found (shortened).
        value: String,
    },
    /// A numeric header is not a canonical decimal number.
    #[error("{header} {value:?} is not a number")]
    InvalidNumber {
        /// The header.
        header: &'static str,
        /// The value found (shortened).
        value: String,
    },
    /// `Schema-Version: 0`.
    #[error("schema version 0 is invalid (versions start at 1)")]
    SchemaVersionZero,
    /// The schema version is newer than this crate supports.
    #[error("schema version {found} is newer than this reader supports ({supported}); upgrade wb")]
    SchemaVersionTooNew {
        /// The version in the file.
        found: u32,
        /// The newest version this crate reads.
        supported: u32,
    },
    /// The `Sync-Scope:` value is neither `public` nor `private`.
    #[error("Sync-Scope {value:?} is not public or private")]
    InvalidScope {
        /// The value found (shortened).
        value: String,
    },
    /// The `Updated-At:` value is not a valid timestamp in the exact form.
    #[error("Updated-At {value:?} {reason}")]
    InvalidTimestamp {
        /// The value found (shortened).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The line after the headers is not empty.
    #[error("expected an empty line after the headers, found {found:?}")]
    MissingBlankLine {
        /// The line found (shortened).
        found: String,
    },
    /// The file ends before the body (or the manifest before its empty line).
    #[error("unexpected end of file: {expected}")]
    UnexpectedEnd {
        /// What was expected.
        expected: &'static str,
    },
    /// The body is not valid JSON.
    #[error("body is not valid JSON: {message}")]
    InvalidJson {
        /// The JSON parser's message.
        message: String,
    },
    /// The body is valid JSON but not an object.
    #[error("body must be a JSON object")]
    BodyNotObject,
    /// The body contains a non-integer number.
    #[error("number {value} is not an integer; floats are not allowed in a body")]
    Float {
        /// The number (not shown for private files).
        value: String,
    },
    /// The body is valid JSON but not laid out canonically.
    #[error("body is not canonical JSON: expected {expected:?}, found {found:?}")]
    NonCanonicalJson {
        /// The canonical line (not shown for private files).
        expected: String,
        /// The line in the file (not shown for private files).
        found: String,
    },
    /// The file does not end with a newline after the closing brace.
    #[error("missing newline at the end of the file")]
    MissingFinalNewline,
    /// Something follows the newline after the closing brace.
    #[error(
        "unexpected content after the body; the file ends with exactly one newline after the closing brace"
    )]
    TrailingContent,
    /// The manifest's `Format:` is not `wb-sync-manifest`.
    #[error("Format {value:?} is not \"wb-sync-manifest\"")]
    InvalidFormat {
        /// The value found (shortened).
        value: String,
    },
    /// The manifest's `Public-Key:` is empty or not base64 characters.
    #[error("Public-Key {value:?} is not a base64 string")]
    InvalidPublicKey {
        /// The value found (shortened).
        value: String,
    },
    /// `Sequence: 0`.
    #[error("Sequence 0 is invalid (sequences start at 1)")]
    SequenceZero,
    /// A `Sequence:` above [`crate::MAX_SEQUENCE`].
    #[error("Sequence {value} is out of range (1 to 9223372036854775807, 2^63-1)")]
    SequenceOutOfRange {
        /// The value found.
        value: u64,
    },
    /// A manifest file line is not `<sha256> <length> <path>`.
    #[error("expected \"<sha256 hex> <length> <path>\": {reason}")]
    MalformedEntry {
        /// What is wrong.
        reason: &'static str,
    },
    /// A manifest path is unsafe or not of the bundle layout.
    #[error("path {path:?} is not allowed: {reason}")]
    InvalidPath {
        /// The path (shortened).
        path: String,
        /// Which path rule it breaks.
        reason: &'static str,
    },
    /// Manifest paths are not in bytewise order.
    #[error("path {path:?} is not sorted after {previous:?} (files are sorted bytewise by path)")]
    UnsortedEntry {
        /// The path on this line.
        path: String,
        /// The path on the line before.
        previous: String,
    },
    /// A manifest path is listed twice.
    #[error("path {path:?} is listed twice")]
    DuplicateEntry {
        /// The repeated path.
        path: String,
    },
    /// The `Files:` header does not match the number of file lines.
    #[error("Files says {declared} but {found} file lines follow")]
    FileCountMismatch {
        /// The value of `Files:`.
        declared: u64,
        /// The number of file lines.
        found: u64,
    },
}

impl ParseErrorKind {
    /// A stable, machine-readable name of the rule broken (kebab-case), the
    /// same in every release: tools and other implementations match on it,
    /// never on the message. `docs/format.md` lists every code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ParseErrorKind::TooLarge { .. } => "too-large",
            ParseErrorKind::InvalidUtf8 => "invalid-utf8",
            ParseErrorKind::ByteOrderMark => "byte-order-mark",
            ParseErrorKind::CarriageReturn => "carriage-return",
            ParseErrorKind::TrailingWhitespace => "trailing-whitespace",
            ParseErrorKind::MalformedHeader { .. }
            | ParseErrorKind::HeaderSpacing { .. }
            | ParseErrorKind::MissingBlankLine { .. } => "malformed-header",
            ParseErrorKind::MissingHeader { .. } => "missing-header",
            ParseErrorKind::UnknownHeader { .. } => "unknown-header",
            ParseErrorKind::DuplicateHeader { .. } => "duplicate-header",
            ParseErrorKind::HeaderOutOfOrder { .. } => "header-order",
            ParseErrorKind::InvalidEntity { .. } => "invalid-entity",
            ParseErrorKind::InvalidId { .. } => "invalid-id",
            ParseErrorKind::InvalidInstance { .. } => "invalid-instance",
            ParseErrorKind::InvalidNumber { .. } => "invalid-number",
            ParseErrorKind::SchemaVersionZero | ParseErrorKind::SchemaVersionTooNew { .. } => {
                "unsupported-schema"
            }
            ParseErrorKind::InvalidScope { .. } => "invalid-scope",
            ParseErrorKind::InvalidTimestamp { .. } => "invalid-timestamp",
            ParseErrorKind::UnexpectedEnd { .. }
            | ParseErrorKind::MissingFinalNewline
            | ParseErrorKind::TrailingContent => "truncated-or-trailing",
            ParseErrorKind::InvalidJson { .. } | ParseErrorKind::BodyNotObject => "invalid-json",
            ParseErrorKind::Float { .. } => "float",
            ParseErrorKind::NonCanonicalJson { .. } => "non-canonical-json",
            ParseErrorKind::InvalidFormat { .. } => "invalid-format",
            ParseErrorKind::InvalidPublicKey { .. } => "invalid-public-key",
            ParseErrorKind::SequenceZero | ParseErrorKind::SequenceOutOfRange { .. } => {
                "sequence-out-of-range"
            }
            ParseErrorKind::MalformedEntry { .. } => "malformed-entry",
            ParseErrorKind::InvalidPath { .. } => "unsafe-path",
            ParseErrorKind::UnsortedEntry { .. } => "unsorted-entry",
            ParseErrorKind::DuplicateEntry { .. } => "duplicate-entry",
            ParseErrorKind::FileCountMismatch { .. } => "file-count-mismatch",
        }
    }
}

/// A [`crate::SyncFile`] or [`crate::Manifest`] cannot be rendered because
/// one of its fields breaks a rule of the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The file's scope is private: private rows are never written.
    #[error("refusing to write {path}: Sync-Scope is private")]
    PrivateScope {
        /// The file's bundle path.
        path: String,
    },
    /// The id is not a lowercase hyphenated UUID.
    #[error("ID {id:?} is not a lowercase hyphenated UUID")]
    InvalidId {
        /// The id (shortened).
        id: String,
    },
    /// The instance name is invalid.
    #[error(
        "Instance {instance:?} is not a valid instance name ({})",
        crate::INSTANCE_NAME_RULE
    )]
    InvalidInstance {
        /// The instance name (shortened).
        instance: String,
    },
    /// This crate writes only [`crate::CURRENT_SCHEMA_VERSION`].
    #[error("cannot write schema version {found}; this writer writes version {supported}")]
    UnsupportedSchemaVersion {
        /// The version asked for.
        found: u32,
        /// The version this crate writes.
        supported: u32,
    },
    /// `Updated-At` is outside the years 0000 to 9999.
    #[error("Updated-At year {year} is outside 0000-9999")]
    TimestampOutOfRange {
        /// The year.
        year: i32,
    },
    /// `Updated-At` has sub-microsecond precision, which the format cannot hold.
    #[error(
        "Updated-At has sub-microsecond precision ({nanosecond} ns); truncate it to microseconds"
    )]
    TimestampPrecision {
        /// The nanosecond part of the timestamp.
        nanosecond: u32,
    },
    /// The body contains a non-integer number.
    #[error("body field {pointer:?} is a float ({value}); only integers are allowed")]
    Float {
        /// JSON pointer to the number (e.g. `/price`).
        pointer: String,
        /// The number.
        value: String,
    },
    /// The manifest's public key is empty or not base64 characters.
    #[error("Public-Key {value:?} is not a base64 string")]
    InvalidPublicKey {
        /// The value (shortened).
        value: String,
    },
    /// The manifest's sequence is 0.
    #[error("Sequence 0 is invalid (sequences start at 1)")]
    SequenceZero,
    /// The manifest's sequence is above [`crate::MAX_SEQUENCE`].
    #[error("Sequence {value} is out of range (1 to 9223372036854775807, 2^63-1)")]
    SequenceOutOfRange {
        /// The sequence.
        value: u64,
    },
    /// A manifest path is unsafe or not of the bundle layout.
    #[error("path {path:?} is not allowed: {reason}")]
    InvalidPath {
        /// The path (shortened).
        path: String,
        /// Which path rule it breaks.
        reason: &'static str,
    },
    /// Manifest entries are not sorted bytewise by path, or a path repeats.
    #[error("manifest files are not sorted bytewise by unique path at {path:?}")]
    UnsortedFiles {
        /// The first path out of order.
        path: String,
    },
}
