//! The engine's error type: what went wrong, in the operator's words.

use std::path::PathBuf;

use wb_model::{ChangeDenied, EntityKind, InstanceName, NameError, ScopeDenied};
use wb_store::StoreError;

/// An operation that could not be carried out. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The database has no instance name yet.
    #[error("this database is not a wb instance yet: run `wb init --instance NAME` first")]
    NotInitialised,
    /// `init` with a name other than the one recorded.
    #[error(
        "this database already belongs to instance {existing}; it cannot be renamed to {requested}"
    )]
    AlreadyInitialised {
        /// The recorded name.
        existing: InstanceName,
        /// The name asked for.
        requested: InstanceName,
    },
    /// A user named on the command line does not exist here.
    #[error("no local user {username:?}: list users with `wb list user`")]
    UnknownUser {
        /// The name given.
        username: String,
    },
    /// A new member's username is taken on this instance.
    #[error("user {username} already exists here: choose another username")]
    UserExists {
        /// The name given.
        username: String,
    },
    /// A row named by id does not exist.
    #[error("no {kind} with id {id}: list them with `wb list {kind}`")]
    UnknownRow {
        /// Its kind.
        kind: EntityKind,
        /// The id given.
        id: String,
    },
    /// An id prefix that names several rows.
    #[error(
        "{prefix:?} names more than one {kind}: {}; type more of the id",
        candidates.join(", ")
    )]
    AmbiguousId {
        /// Their kind.
        kind: EntityKind,
        /// The prefix given.
        prefix: String,
        /// Some of the rows it names, described.
        candidates: Vec<String>,
    },
    /// An invite code that matches no pending invite.
    #[error("no pending invite has this code: check it, or ask the inviter for a new one")]
    UnknownInviteCode,
    /// A field value breaks its rule.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field, as the operator named it.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A name breaks its rule.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// A permission rule other than the scope rules refused an action.
    #[error("denied by rule {rule}: {reason}")]
    Denied {
        /// The rule's short name.
        rule: &'static str,
        /// What the rule says, in words.
        reason: String,
    },
    /// The permission rules refused a scope change.
    #[error(transparent)]
    ScopeDenied(#[from] ScopeDenied),
    /// The permission rules refused an edit or a deletion.
    #[error(transparent)]
    ChangeDenied(#[from] ChangeDenied),
    /// A fixture file could not be loaded.
    #[error("{}: {reason}", path.display())]
    Fixture {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A bundle could not be written or located, or an export was refused.
    #[error("{}: {reason}", path.display())]
    BundleRefused {
        /// The bundle directory or the offending file in it.
        path: PathBuf,
        /// What is wrong, with its stable code ([`BundleRefusal::code`]).
        reason: BundleRefusal,
    },
    /// A bundle broke a rule of the format or of import (its layout, key,
    /// signature, sequence or content). Nothing was changed.
    #[error("{}", refused_display(location, refusal))]
    Refused {
        /// The bundle: its directory, or what names a bundle held in memory.
        location: PathBuf,
        /// Which rule, about which file, and what to do.
        refusal: crate::sync::verify::Refusal,
    },
    /// A pin could not be set, changed or used as asked (`docs/peers.md`,
    /// "Pins"). Nothing was changed.
    #[error("{reason}")]
    PinRefused {
        /// What is wrong and which command would do it on purpose.
        reason: String,
    },
    /// Keys could not be created, loaded or used.
    #[error(transparent)]
    Crypto(#[from] wb_crypto::Error),
    /// A vouch was refused.
    #[error(transparent)]
    Vouch(#[from] crate::VouchError),
    /// The database refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `<bundle>/<file>: <message>`, or `<bundle>: <message>`.
fn refused_display(location: &std::path::Path, refusal: &crate::sync::verify::Refusal) -> String {
    match (refusal.path(), refusal.line()) {
        (Some(path), Some(line)) => format!(
            "{}:{line}: {}",
            location.join(path).display(),
            refusal.message()
        ),
        (Some(path), None) => format!("{}: {}", location.join(path).display(), refusal.message()),
        (None, _) => format!("{}: {}", location.display(), refusal.message()),
    }
}

/// Why a bundle could not be written or located: the format's own error,
/// kept whole, or a rule of the engine's, with its stable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleRefusal {
    /// The format's writer or reader refused or failed (its code is
    /// [`wb_syncfmt::bundle::BundleError::code`]).
    #[error(transparent)]
    Format(#[from] wb_syncfmt::bundle::BundleError),
    /// Writing the signature or a key file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A rule of export or of locating bundles (`code` is stable, e.g.
    /// `foreign-bundle`, `not-a-bundle`; `docs/format.md` §7 lists the
    /// format's).
    #[error("{message}")]
    Rule {
        /// The rule's stable code.
        code: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

impl BundleRefusal {
    /// A refusal by the engine's rule `code`.
    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        Self::Rule {
            code,
            message: message.into(),
        }
    }

    /// The stable code: the format's for its errors, `io` for I/O, the
    /// rule's otherwise.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Format(e) => e.code(),
            Self::Io(_) => "io",
            Self::Rule { code, .. } => code,
        }
    }
}
