//! The two guards every route passes: [`Session`] (a valid session cookie,
//! else 401 without one and 403 with a wrong one) and [`Protected`] (for
//! POSTs: a session *and* the session's CSRF token in the form, else 403).

use std::future::{Future, Ready, ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::AdminState;
use crate::response::PageError;
use crate::state::SessionView;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "wb_admin_session";

/// The hidden form field carrying the CSRF token.
pub(crate) const CSRF_FIELD: &str = "csrf";

/// A request from a browser with a valid session.
pub(crate) type Session = SessionView;

fn state_of(req: &HttpRequest) -> Result<web::Data<AdminState>, PageError> {
    req.app_data::<web::Data<AdminState>>()
        .cloned()
        .ok_or(PageError::Internal)
}

pub(crate) fn session_of(req: &HttpRequest) -> Result<Session, PageError> {
    let state = state_of(req)?;
    let cookie = req.cookie(COOKIE).ok_or(PageError::NoSession)?;
    state.session(cookie.value()).ok_or(PageError::Forbidden(
        "this session is unknown or has ended: open the URL that `wb serve` printed again",
    ))
}

impl FromRequest for SessionView {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(session_of(req))
    }
}

/// A POSTed form that carried the session's CSRF token; `T` is the rest of
/// the form.
#[derive(Debug)]
pub(crate) struct Protected<T> {
    pub(crate) session: Session,
    pub(crate) form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for Protected<T> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = session_of(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let session = session?;
            let body = body
                .await
                .map_err(|err| PageError::BadRequest(format!("cannot read the form: {err}")))?;
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&body).unwrap_or_default();
            let token_ok = fields
                .iter()
                .find(|(name, _)| name == CSRF_FIELD)
                .is_some_and(|(_, value)| session.csrf.matches(value));
            if !token_ok {
                return Err(PageError::Forbidden(
                    "the form's CSRF token is missing or wrong, so nothing was changed: \
                     reload the page and try again",
                ));
            }
            let form = serde_urlencoded::from_bytes(&body)
                .map_err(|err| PageError::BadRequest(format!("malformed form: {err}")))?;
            Ok(Protected { session, form })
        })
    }
}
