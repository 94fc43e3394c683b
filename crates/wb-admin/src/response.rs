//! Building responses: every page and redirect carries the same security
//! headers, and every failure is a [`PageError`] rendered as a small page.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use maud::Markup;
use wb_engine::EngineError;
use wb_store::StoreError;

use crate::views;

/// The content security policy of every page: no scripts at all, styles only
/// inline, forms only to this server, never framed.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

fn secured(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The token URL must not leak through a Referer header.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // Pages may show an invite code once: never store them.
        .insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// An HTML page with `status`.
pub(crate) fn html(status: StatusCode, page: Markup) -> HttpResponse {
    secured(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
}

/// A 303 See Other to a local path (Post/Redirect/Get).
pub(crate) fn redirect(location: &str) -> HttpResponse {
    let mut response = secured(HttpResponse::SeeOther()).finish();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A request the admin UI refuses or cannot serve.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    /// No session cookie: the operator has not opened the token URL.
    #[error("no session: open the URL that `wb serve` printed (it ends in ?token=…)")]
    NoSession,
    /// A session cookie or start-up token that matches nothing.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A malformed form or path.
    #[error("{0}")]
    BadRequest(String),
    /// A row or page that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The database failed; details go to the server's log only.
    #[error("the database failed; the server's log has the details")]
    Internal,
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        // Store errors name constraints and never values, so they may be logged.
        tracing::error!(error = %err, "admin UI: database error");
        PageError::Internal
    }
}

impl From<EngineError> for PageError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::UnknownRow { .. } | EngineError::UnknownUser { .. } => {
                PageError::NotFound(err.to_string())
            }
            EngineError::Store(err) => err.into(),
            other => {
                tracing::error!(error = %other, "admin UI: engine error");
                PageError::Internal
            }
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::NoSession => StatusCode::UNAUTHORIZED,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        html(status, views::error_page(status, &self.to_string()))
    }
}
