//! Shared set-up: the demo community on each backend, and a tiny HTTP
//! "browser" over `actix_web::test` that keeps the session cookie.

use std::path::Path;

use actix_http::Request;
use actix_web::body::{BoxBody, MessageBody as _};
use actix_web::cookie::Cookie;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::test::TestRequest;
use wb_engine::{Instance, fixtures};
use wb_model::{InstanceName, Request as WbRequest, SyncScope, User};
use wb_store::testing::TestDb;

/// The local instance's name in every test.
pub const LOCAL: &str = "alpha.example";

/// The demo community loaded into a fresh database.
pub struct Demo {
    /// Keeps the database alive.
    pub _db: TestDb,
    /// The backend, for messages.
    pub label: String,
    /// The instance.
    pub instance: Instance,
}

/// The demo fixtures on every available backend.
pub async fn demos() -> Vec<Demo> {
    let mut demos = Vec::new();
    for db in TestDb::all().await {
        let name = InstanceName::parse(LOCAL).expect("valid instance name");
        let instance = Instance::init(db.store.clone(), name)
            .await
            .expect("initialise the instance");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo");
        fixtures::load(&instance, &dir)
            .await
            .expect("load the demo fixtures");
        demos.push(Demo {
            label: format!("{:?}", db.backend),
            _db: db,
            instance,
        });
    }
    demos
}

impl Demo {
    /// The request with this title.
    pub async fn request(&self, title: &str) -> WbRequest {
        self.instance
            .store()
            .requests()
            .await
            .expect("list requests")
            .into_iter()
            .find(|r| r.title == title)
            .expect("the demo request exists")
    }

    /// The local user with this username.
    pub async fn user(&self, username: &str) -> User {
        self.instance
            .local_user(username)
            .await
            .expect("the demo user exists")
    }

    /// A request's own scope now.
    pub async fn request_scope(&self, title: &str) -> SyncScope {
        self.request(title).await.scope
    }
}

/// One response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

async fn reply(response: ServiceResponse<BoxBody>) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let set_cookies = headers
        .get_all(header::SET_COOKIE)
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let bytes = response
        .into_body()
        .try_into_bytes()
        .unwrap_or_else(|_| panic!("response body should be in memory"));
    Reply {
        status,
        location,
        set_cookies,
        body: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
    }
}

/// A client of the test service with an optional session cookie.
pub struct Client<'a, S> {
    app: &'a S,
    pub cookie: Option<Cookie<'static>>,
}

impl<'a, S> Client<'a, S>
where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
{
    /// A client without a session.
    pub fn new(app: &'a S) -> Self {
        Self { app, cookie: None }
    }

    async fn send(&self, request: TestRequest) -> Reply {
        let request = match &self.cookie {
            Some(cookie) => request.cookie(cookie.clone()),
            None => request,
        };
        let response = self
            .app
            .call(request.to_request())
            .await
            .expect("the service answers");
        reply(response).await
    }

    /// GET `uri`.
    pub async fn get(&self, uri: &str) -> Reply {
        self.send(TestRequest::get().uri(uri)).await
    }

    /// POST a form to `uri`.
    pub async fn post(&self, uri: &str, fields: &[(&str, &str)]) -> Reply {
        self.send(TestRequest::post().uri(uri).set_form(fields))
            .await
    }

    /// POST a form and follow the redirect, as a browser does.
    pub async fn post_and_follow(&self, uri: &str, fields: &[(&str, &str)]) -> Reply {
        let posted = self.post(uri, fields).await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
        let location = posted.location.expect("a redirect names its target");
        self.get(&location).await
    }

    /// Opens a session with the login path and keeps its cookie.
    pub async fn log_in(&mut self, login_path: &str) -> Reply {
        let reply = self.get(login_path).await;
        let raw = reply
            .set_cookies
            .first()
            .expect("the token URL sets a cookie")
            .clone();
        let cookie = Cookie::parse_encoded(raw).expect("a well-formed cookie");
        let (name, value) = (cookie.name().to_owned(), cookie.value().to_owned());
        self.cookie = Some(Cookie::new(name, value));
        reply
    }

    /// The CSRF token of the session, read off a page as a browser would.
    pub async fn csrf(&self) -> String {
        let page = self.get("/requests").await;
        csrf_in(&page.body)
    }

    /// Chooses the acting member.
    pub async fn act_as(&self, username: &str) -> Reply {
        let csrf = self.csrf().await;
        self.post_and_follow(
            "/acting-user",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("back", "/requests"),
            ],
        )
        .await
    }
}

/// The value of the first hidden CSRF field of a page.
pub fn csrf_in(body: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).expect("the page has a CSRF field") + marker.len();
    let end = body[start..].find('"').expect("the value ends") + start;
    body[start..end].to_owned()
}

/// The scope cell (badge and toggle) of one row on a page.
pub fn scope_cell<'b>(body: &'b str, kind: &str, id: impl std::fmt::Display) -> &'b str {
    let marker = format!(r#"id="scope-{kind}-{id}""#);
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("the page shows {marker}"));
    let end = body[start..].find("</div>").expect("the cell ends") + start;
    &body[start..end]
}
