//! Rows into model types: from the driver's rows, or from rows the
//! database packed into JSON arrays (`scans.rs`). Errors name the column,
//! never its value (which may be private).

use sqlx::Row as _;
use wb_model::{Comment, InstanceName, Invite, Request, Timestamp, User, Username, Uuid, Vouch};

use super::DbRow;
use crate::{Result, StoreError};

pub(super) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

/// The named columns of one row: as the driver hands it, or as the database
/// packed it into a JSON object (`scan`).
pub(super) trait Fields {
    fn text(&self, column: &'static str) -> Result<String>;
    fn opt_text(&self, column: &'static str) -> Result<Option<String>>;
    fn int(&self, column: &'static str) -> Result<i64>;
}

impl Fields for DbRow {
    fn text(&self, column: &'static str) -> Result<String> {
        Ok(self.try_get::<String, _>(column)?)
    }

    fn opt_text(&self, column: &'static str) -> Result<Option<String>> {
        Ok(self.try_get::<Option<String>, _>(column)?)
    }

    fn int(&self, column: &'static str) -> Result<i64> {
        Ok(self.try_get::<i64, _>(column)?)
    }
}

/// A row the database packed as a JSON array (`scan`), with the names of
/// its columns in order. Reading a column takes its value out (a decoder
/// reads each column once), so text is moved rather than copied.
pub(super) struct Packed {
    names: &'static [&'static str],
    values: std::cell::RefCell<Vec<serde_json::Value>>,
}

impl Packed {
    /// The row `values`, whose columns are `names` in order.
    pub(super) fn new(names: &'static [&'static str], values: Vec<serde_json::Value>) -> Self {
        Self {
            names,
            values: std::cell::RefCell::new(values),
        }
    }

    fn take(&self, column: &'static str) -> Option<serde_json::Value> {
        let index = self.names.iter().position(|name| *name == column)?;
        self.values.borrow_mut().get_mut(index).map(std::mem::take)
    }
}

/// Errors name the column, never its value (which may be private).
impl Fields for Packed {
    fn text(&self, column: &'static str) -> Result<String> {
        match self.take(column) {
            Some(serde_json::Value::String(text)) => Ok(text),
            _ => Err(corrupt(column, "not text")),
        }
    }

    fn opt_text(&self, column: &'static str) -> Result<Option<String>> {
        match self.take(column) {
            Some(serde_json::Value::String(text)) => Ok(Some(text)),
            Some(serde_json::Value::Null) => Ok(None),
            _ => Err(corrupt(column, "not text")),
        }
    }

    fn int(&self, column: &'static str) -> Result<i64> {
        self.take(column)
            .as_ref()
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| corrupt(column, "not an integer"))
    }
}

pub(super) fn get_text(row: &impl Fields, column: &'static str) -> Result<String> {
    row.text(column)
}

pub(super) fn get_uuid(row: &impl Fields, column: &'static str) -> Result<Uuid> {
    Uuid::parse_str(&get_text(row, column)?).map_err(|e| corrupt(column, e))
}

pub(super) fn get_opt_uuid(row: &impl Fields, column: &'static str) -> Result<Option<Uuid>> {
    row.opt_text(column)?
        .map(|text| Uuid::parse_str(&text).map_err(|e| corrupt(column, e)))
        .transpose()
}

pub(super) fn get_time(row: &impl Fields, column: &'static str) -> Result<Timestamp> {
    Timestamp::from_unix_micros(row.int(column)?).map_err(|e| corrupt(column, e))
}

pub(super) fn get_word<T: std::str::FromStr<Err = String>>(
    row: &impl Fields,
    column: &'static str,
) -> Result<T> {
    get_text(row, column)?
        .parse()
        .map_err(|e: String| corrupt(column, e))
}

pub(super) fn get_origin(row: &impl Fields) -> Result<InstanceName> {
    InstanceName::parse(&get_text(row, "origin")?).map_err(|e| corrupt("origin", e))
}

pub(super) fn user_from_row(row: &impl Fields) -> Result<User> {
    Ok(User {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        username: Username::parse(&get_text(row, "username")?)
            .map_err(|e| corrupt("username", e))?,
        display_name: get_text(row, "display_name")?,
        bio: get_text(row, "bio")?,
        email: row.opt_text("email")?,
        role: get_word(row, "role")?,
        invited_by: get_opt_uuid(row, "invited_by")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

pub(super) fn request_from_row(row: &impl Fields) -> Result<Request> {
    Ok(Request {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        author_id: get_uuid(row, "author_id")?,
        title: get_text(row, "title")?,
        body: get_text(row, "body")?,
        status: get_word(row, "status")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

pub(super) fn comment_from_row(row: &impl Fields) -> Result<Comment> {
    Ok(Comment {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        request_id: get_uuid(row, "request_id")?,
        author_id: get_uuid(row, "author_id")?,
        body: get_text(row, "body")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

pub(super) fn invite_from_row(row: &impl Fields) -> Result<Invite> {
    Ok(Invite {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        inviter_id: get_uuid(row, "inviter_id")?,
        invitee_id: get_opt_uuid(row, "invitee_id")?,
        status: get_word(row, "status")?,
        code: row.opt_text("code")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

pub(super) fn vouch_from_row(row: &impl Fields) -> Result<Vouch> {
    Ok(Vouch {
        id: get_uuid(row, "id")?,
        origin: get_origin(row)?,
        voucher_id: get_uuid(row, "voucher_user_id")?,
        subject_id: get_uuid(row, "subject_user_id")?,
        signature: get_text(row, "signature")?,
        scope: get_word(row, "sync_scope")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

/// A [`StoreError`] raised while decoding inside sqlx's `try_map`, back out
/// of the `sqlx::Error::Decode` it travelled in.
pub(super) fn decode_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Decode(inner) => match inner.downcast::<StoreError>() {
            Ok(decoded) => *decoded,
            Err(other) => StoreError::Database(sqlx::Error::Decode(other)),
        },
        other => other.into(),
    }
}
