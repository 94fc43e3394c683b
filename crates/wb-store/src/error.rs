//! The store's error type.

use wb_model::EntityKind;

/// What can go wrong talking to the database.
///
/// Messages never carry row values: only kinds, ids and constraint names,
/// so private data cannot leak through an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is neither `sqlite:` nor `postgres:`.
    #[error(
        "unsupported database URL scheme in {url:?}: use sqlite://PATH or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl {
        /// The URL with any password removed.
        url: String,
    },
    /// The database could not be opened or reached.
    #[error("cannot open database {url}: {reason}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// The driver's or server's reason, in one line.
        reason: String,
    },
    /// Applying migrations failed.
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database was created by a newer wb.
    #[error(
        "the database has migration {found} which this wb does not know (it knows up to {known}); upgrade wb"
    )]
    NewerSchema {
        /// The highest version applied in the database.
        found: i64,
        /// The highest version this build knows.
        known: i64,
    },
    /// A row that must exist does not.
    #[error("no {kind} with id {id}")]
    NotFound {
        /// Its kind.
        kind: EntityKind,
        /// What was looked up.
        id: String,
    },
    /// A uniqueness or foreign-key rule of the schema refused a write.
    #[error("the database refused the change ({constraint})")]
    Constraint {
        /// The constraint, in the driver's words (names, never values).
        constraint: String,
    },
    /// An imported row's id is already used by a row of another origin.
    #[error("{kind} {id} already exists here with another origin; ids must be globally unique")]
    IdCollision {
        /// Its kind.
        kind: EntityKind,
        /// The id.
        id: String,
    },
    /// Another import of the same origin got there first.
    #[error(
        "bundle sequence {offered} of {instance} is not newer than the applied sequence {applied}"
    )]
    StaleSequence {
        /// The origin.
        instance: String,
        /// The sequence already applied.
        applied: u64,
        /// The sequence offered.
        offered: u64,
    },
    /// The very bundle being applied was applied already (by another
    /// import of the same origin that got there first): nothing to do.
    #[error("bundle sequence {sequence} of {instance} is already applied")]
    AlreadyApplied {
        /// The origin.
        instance: String,
        /// The sequence.
        sequence: u64,
    },
    /// An origin's pin is not the one a change or an import expected: it
    /// was set or changed meanwhile (compare-and-set failed).
    #[error(
        "the pin of {instance} changed meanwhile: expected {}, found {}; nothing was changed, run the command again",
        expected.as_deref().unwrap_or("no pin"),
        found.as_deref().unwrap_or("no pin")
    )]
    PinChanged {
        /// The origin.
        instance: String,
        /// The key expected to be pinned (`None`: no pin).
        expected: Option<String>,
        /// The key pinned (`None`: no pin).
        found: Option<String>,
    },
    /// A key is already pinned for another origin: one key speaks for one
    /// origin only.
    #[error(
        "key {key} is already pinned for {pinned_for}; one key cannot be pinned for two origins ({wanted} too)"
    )]
    KeyPinnedElsewhere {
        /// The key.
        key: String,
        /// The origin it is pinned for.
        pinned_for: String,
        /// The origin it was to be pinned for as well.
        wanted: String,
    },
    /// A stored value does not parse as its domain type (a corrupted row).
    #[error("stored {what} is invalid: {detail}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// Why it does not parse.
        detail: String,
    },
    /// Any other driver error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db)
                if db.is_unique_violation()
                    || db.is_foreign_key_violation()
                    || db.is_check_violation() =>
            {
                StoreError::Constraint {
                    constraint: db
                        .constraint()
                        .map(str::to_owned)
                        .unwrap_or_else(|| db.message().to_owned()),
                }
            }
            _ => StoreError::Database(err),
        }
    }
}

/// The reason a connection failed, without the server's source locations.
pub(crate) fn connect_error(url: &str, err: sqlx::Error) -> StoreError {
    let reason = match &err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    };
    StoreError::Connect {
        url: url.to_owned(),
        reason,
    }
}

/// Removes a password from a URL before it is shown.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
