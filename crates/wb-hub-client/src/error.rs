//! The machine-readable rejection codes of the hub API and their JSON body.

use serde::{Deserialize, Serialize};

/// Why the hub refused a request: the `code` of an error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No `Authorization: Bearer …` header (401).
    MissingToken,
    /// The token is not one the hub issued (403).
    UnknownToken,
    /// The token was revoked (403).
    RevokedToken,
    /// The token belongs to another instance than the URL or manifest (403).
    WrongInstance,
    /// No such instance is registered, or it has no bundle yet (404).
    NotFound,
    /// The signature does not verify against the registered key (422).
    BadSignature,
    /// The bundle is malformed: a hash, length, file or manifest is wrong (422).
    BadBundle,
    /// The bundle carries a `Sync-Scope: private` file (422).
    PrivateFile,
    /// The archive holds a link, an absolute path, `..` or a foreign name (422).
    UnsafePath,
    /// The bundle's schema version is unknown to this hub (422).
    UnknownSchema,
    /// The sequence is not newer than the stored one, and the content differs (409).
    StaleSequence,
    /// A delta upload is against a manifest the hub no longer holds: send
    /// the whole bundle (409).
    UnknownBase,
    /// The body is larger than the hub's limit (413).
    TooLarge,
    /// The body did not arrive within the hub's deadline (408).
    Timeout,
    /// The body was cut off before its end (400).
    IncompleteBody,
    /// Something failed inside the hub (500).
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::MissingToken,
        ErrorCode::UnknownToken,
        ErrorCode::RevokedToken,
        ErrorCode::WrongInstance,
        ErrorCode::NotFound,
        ErrorCode::BadSignature,
        ErrorCode::BadBundle,
        ErrorCode::PrivateFile,
        ErrorCode::UnsafePath,
        ErrorCode::UnknownSchema,
        ErrorCode::StaleSequence,
        ErrorCode::UnknownBase,
        ErrorCode::TooLarge,
        ErrorCode::Timeout,
        ErrorCode::IncompleteBody,
        ErrorCode::Internal,
    ];

    /// The code as it appears in JSON, e.g. `stale-sequence`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingToken => "missing-token",
            ErrorCode::UnknownToken => "unknown-token",
            ErrorCode::RevokedToken => "revoked-token",
            ErrorCode::WrongInstance => "wrong-instance",
            ErrorCode::NotFound => "not-found",
            ErrorCode::BadSignature => "bad-signature",
            ErrorCode::BadBundle => "bad-bundle",
            ErrorCode::PrivateFile => "private-file",
            ErrorCode::UnsafePath => "unsafe-path",
            ErrorCode::UnknownSchema => "unknown-schema",
            ErrorCode::StaleSequence => "stale-sequence",
            ErrorCode::UnknownBase => "unknown-base",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::Timeout => "timeout",
            ErrorCode::IncompleteBody => "incomplete-body",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code for a JSON `code` string, if it is one of ours.
    #[must_use]
    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The HTTP status the hub answers with.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::MissingToken => 401,
            ErrorCode::UnknownToken | ErrorCode::RevokedToken | ErrorCode::WrongInstance => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::BadSignature
            | ErrorCode::BadBundle
            | ErrorCode::PrivateFile
            | ErrorCode::UnsafePath
            | ErrorCode::UnknownSchema => 422,
            ErrorCode::StaleSequence | ErrorCode::UnknownBase => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::Timeout => 408,
            ErrorCode::IncompleteBody => 400,
            ErrorCode::Internal => 500,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response: `{"code": "...", "message": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The machine-readable code ([`ErrorCode::as_str`]).
    pub code: String,
    /// One human sentence saying what is wrong.
    pub message: String,
}
