//! The routes: GET pages that read, POST forms that change (each behind
//! [`Protected`]), and the token URL that opens a session.

use actix_web::body::BoxBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wb_engine::listing::{
    Cursor, DEFAULT_PAGE_SIZE, Exported, Holder, ListFilter, ListRow, Listed, Listing, Scopes,
};
use wb_engine::{EngineError, NewUser};
use wb_model::{EntityKind, InstanceName, Request, Role, SyncScope, User, Username, Uuid};

use crate::AdminState;
use crate::response::{PageError, html, redirect};
use crate::session::{COOKIE, Protected, Session};
use crate::state::Flash;
use crate::views::{
    self, CommentListRow, CommentRow, Frame, InviteRow, ListView, Person, RequestRow, ScopeCell,
    Section, UserRow, VouchRow,
};

/// The admin UI as an actix-web application: what `wb serve` runs, and what
/// tests drive with `actix_web::test::init_service`.
pub fn app(
    state: AdminState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // Every resource falls back to `not_found`, which wants a session
    // first: without one, even a wrong method or path answers 401/403.
    let resource = |path: &str| web::resource(path.to_owned()).default_service(web::to(not_found));
    App::new()
        .app_data(web::Data::new(state))
        .service(resource("/").route(web::get().to(index)))
        .service(resource("/requests").route(web::get().to(requests_page)))
        .service(resource("/requests/{id}").route(web::get().to(request_page)))
        .service(resource("/comments").route(web::get().to(comments_page)))
        .service(resource("/vouches").route(web::get().to(vouches_page)))
        .service(
            resource("/users")
                .route(web::get().to(users_page))
                .route(web::post().to(add_member)),
        )
        .service(resource("/users/{username}").route(web::get().to(user_page)))
        .service(resource("/users/{username}/profile").route(web::post().to(save_profile)))
        .service(
            resource("/invites")
                .route(web::get().to(invites_page))
                .route(web::post().to(create_invite)),
        )
        .service(resource("/status").route(web::get().to(crate::status::status_page)))
        .service(resource("/export").route(web::post().to(crate::status::export_now)))
        .service(resource("/scope").route(web::post().to(toggle_scope)))
        .service(resource("/acting-user").route(web::post().to(choose_acting_user)))
        .service(resource("/logout").route(web::post().to(logout)))
        .default_service(web::to(not_found))
}

type Page = Result<HttpResponse, PageError>;

/// `back` if it is a path on this server, else `fallback`: a form cannot
/// redirect the browser elsewhere.
fn local_path(back: Option<&str>, fallback: &str) -> String {
    match back {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && path.len() <= 512 =>
        {
            path.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

pub(crate) fn here(req: &HttpRequest) -> String {
    req.uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), ToString::to_string)
}

/// How many local members the "Acting as" menu lists; beyond that it is a
/// text field.
const ACTING_MENU_MAX: u32 = 200;

pub(crate) async fn frame(
    state: &AdminState,
    session: &Session,
    section: Section,
    here: String,
) -> Result<Frame, PageError> {
    let instance = state.instance();
    let local = instance.name();
    let filter = ListFilter {
        origin: Some(local.clone()),
        ..ListFilter::default()
    };
    let members = instance
        .store()
        .list_users(local, &filter, Cursor::First, ACTING_MENU_MAX)
        .await?;
    let local_users = (!members.has_next).then(|| {
        let mut users: Vec<(String, wb_model::Role)> = members
            .rows
            .iter()
            .map(|u| (u.username.to_string(), u.role))
            .collect();
        users.sort();
        users
    });
    Ok(Frame {
        instance: local.clone(),
        section,
        here,
        csrf: session.csrf.expose().to_owned(),
        acting: session.acting.clone(),
        local_users,
        flash: state.take_flash(&session.key),
    })
}

/// A row's scope cell from the engine's listing: the badge's scopes, the
/// held-back reason and a link to the row that holds it back.
fn scope_cell(kind: EntityKind, id: Uuid, scopes: Scopes, label: String) -> ScopeCell {
    let hold = scopes.hold.map(|hold| {
        let href = match &hold.holder {
            Holder::Request { id, .. } => Some(format!("/requests/{id}")),
            Holder::Member(member) => member.username.is_some().then(|| Person::of(member).href()),
        };
        (hold.text, href)
    });
    ScopeCell {
        kind,
        id,
        own: scopes.own,
        effective: scopes.effective,
        imported_from: scopes.imported_from,
        label,
        hold,
    }
}

/// A list page's query: the filters and the cursor. Empty values are no
/// filter (what an untouched form field sends).
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    own: Option<String>,
    effective: Option<String>,
    origin: Option<String>,
    q: Option<String>,
    after: Option<String>,
    before: Option<String>,
    at: Option<String>,
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A parsed list query, and how to link to its neighbouring pages.
struct ListParams {
    query: wb_engine::listing::ListQuery,
    view: ListView,
    /// The filters as URL pairs, without the cursor.
    pairs: Vec<(&'static str, String)>,
}

/// The cursor a page's query names: `after`, `before` or `at` (the page
/// starting at that row).
fn cursor_of(query: &ListQuery) -> Result<Cursor, PageError> {
    let id = |v: &str| {
        Uuid::parse_str(v).map_err(|_| PageError::BadRequest(format!("malformed cursor {v:?}")))
    };
    Ok(
        match (
            nonempty(&query.after),
            nonempty(&query.before),
            nonempty(&query.at),
        ) {
            (Some(after), _, _) => Cursor::After(id(after)?),
            (None, Some(before), _) => Cursor::Before(id(before)?),
            (None, None, Some(at)) => Cursor::At(id(at)?),
            (None, None, None) => Cursor::First,
        },
    )
}

impl ListParams {
    fn parse(
        query: &ListQuery,
        local: &InstanceName,
        path: &str,
        text_hint: &'static str,
    ) -> Result<Self, PageError> {
        let bad = |what: &str, value: &str| {
            PageError::BadRequest(format!("unknown {what} filter {value:?}"))
        };
        let own = nonempty(&query.own)
            .map(|v| v.parse::<SyncScope>().map_err(|_| bad("own scope", v)))
            .transpose()?;
        let exported = nonempty(&query.effective)
            .map(|v| v.parse::<Exported>().map_err(|_| bad("effective scope", v)))
            .transpose()?;
        let origin_text = nonempty(&query.origin).unwrap_or_default().to_owned();
        let origin = match origin_text.as_str() {
            "" => None,
            "local" => Some(local.clone()),
            name => Some(InstanceName::parse(name).map_err(|_| bad("origin", name))?),
        };
        let text = nonempty(&query.q).unwrap_or_default().to_owned();
        let cursor = cursor_of(query)?;
        let mut pairs = Vec::new();
        if let Some(own) = own {
            pairs.push(("own", own.as_str().to_owned()));
        }
        if let Some(exported) = exported {
            pairs.push(("effective", exported.as_str().to_owned()));
        }
        if !origin_text.is_empty() {
            pairs.push(("origin", origin_text.clone()));
        }
        if !text.is_empty() {
            pairs.push(("q", text.clone()));
        }
        Ok(Self {
            query: wb_engine::listing::ListQuery {
                filter: ListFilter {
                    own,
                    exported,
                    origin,
                    text: (!text.is_empty()).then(|| text.clone()),
                },
                cursor,
                size: DEFAULT_PAGE_SIZE,
            },
            view: ListView {
                path: path.to_owned(),
                own,
                exported,
                origin: origin_text,
                text,
                total: 0,
                total_text: String::new(),
                shown: 0,
                previous: None,
                next: None,
                text_hint,
            },
            pairs,
        })
    }

    fn link(&self, cursor: Option<(&'static str, Uuid)>) -> String {
        let mut pairs = self.pairs.clone();
        if let Some((name, id)) = cursor {
            pairs.push((name, id.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            self.view.path.clone()
        } else {
            format!("{}?{query}", self.view.path)
        }
    }

    /// Fills in the count and the neighbours' links from a listing.
    fn paged<T: ListRow>(&mut self, page: &Listing<T>) {
        self.view.total = page.total;
        self.view.total_text = page.total_text();
        self.view.shown = page.rows.len();
        self.view.previous = page
            .has_previous
            .then(|| page.first_id().map(|id| self.link(Some(("before", id)))))
            .map(|link| link.unwrap_or_else(|| self.link(None)));
        self.view.next = page
            .has_next
            .then(|| page.last_id().map(|id| self.link(Some(("after", id)))))
            .flatten();
    }
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// `/?token=…` opens a session; `/` with a session goes to the requests.
async fn index(
    req: HttpRequest,
    state: web::Data<AdminState>,
    query: web::Query<LoginQuery>,
) -> Page {
    let Some(token) = &query.token else {
        let _session: Session = crate::session::session_of(&req)?;
        return Ok(redirect("/requests"));
    };
    if !state.token_matches(token) {
        return Err(PageError::Forbidden(
            "wrong token: open the exact URL that `wb serve` printed (each start makes a new token)",
        ));
    }
    let cookie_value = state.open_session().map_err(|err| {
        tracing::error!(error = %err, "admin UI: cannot open a session");
        PageError::Internal
    })?;
    let cookie = Cookie::build(COOKIE, cookie_value.expose().to_owned())
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .finish();
    let mut response = redirect("/requests");
    response
        .add_cookie(&cookie)
        .map_err(|_| PageError::Internal)?;
    Ok(response)
}

async fn requests_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Page {
    let instance = state.instance();
    let mut params = ListParams::parse(
        &query,
        instance.name(),
        "/requests",
        "title, author's username",
    )?;
    let page = instance.list_requests(&params.query).await?;
    params.paged(&page);
    let rows = page
        .rows
        .iter()
        .map(|listed| request_row(&page, listed.clone()))
        .collect::<Vec<_>>();
    let frame = frame(&state, &session, Section::Requests, here(&req)).await?;
    Ok(html(
        StatusCode::OK,
        views::requests_page(&frame, &params.view, &rows),
    ))
}

fn request_row<T: ListRow>(names: &Listing<T>, listed: Listed<Request>) -> RequestRow {
    let Listed {
        row: request,
        scopes,
    } = listed;
    RequestRow {
        author: Person::of(&names.member(request.author_id)),
        comments: names.comment_count(request.id),
        scope: scope_cell(
            EntityKind::Request,
            request.id,
            scopes,
            format!("request {}", request.title),
        ),
        request,
    }
}

/// A request and its comments, a page of them at a time (`after`, `before`,
/// or `at` a comment, which the comments list links to).
async fn request_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Page {
    let not_found = || PageError::NotFound(format!("no request with id {}", path.as_str()));
    let id = Uuid::parse_str(path.as_str()).map_err(|_| not_found())?;
    let instance = state.instance();
    let request = instance.store().request(id).await?.ok_or_else(not_found)?;
    let scopes = instance.listed_scopes(&request).await?;
    let mut params = ListParams::parse(
        &ListQuery::default(),
        instance.name(),
        &format!("/requests/{id}"),
        "",
    )?;
    let cursor = cursor_of(&query)?;
    let comments = instance
        .list_comments_of(id, cursor, DEFAULT_PAGE_SIZE)
        .await?;
    params.paged(&comments);
    let rows = comments
        .rows
        .iter()
        .map(|listed| {
            let author = Person::of(&comments.member(listed.row.author_id));
            CommentRow {
                scope: scope_cell(
                    EntityKind::Comment,
                    listed.row.id,
                    listed.scopes.clone(),
                    format!("comment by {}", author.username),
                ),
                comment: listed.row.clone(),
                author,
            }
        })
        .collect::<Vec<_>>();
    let author = instance.describe_member(request.author_id).await?;
    let row = RequestRow {
        author: Person::of(&author),
        comments: comments.total,
        scope: scope_cell(
            EntityKind::Request,
            request.id,
            scopes,
            format!("request {}", request.title),
        ),
        request,
    };
    let frame = frame(&state, &session, Section::Requests, here(&req)).await?;
    Ok(html(
        StatusCode::OK,
        views::request_page(&frame, &row, &params.view, &rows),
    ))
}

async fn comments_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Page {
    let instance = state.instance();
    let mut params = ListParams::parse(
        &query,
        instance.name(),
        "/comments",
        "body, author's username",
    )?;
    let page = instance.list_comments(&params.query).await?;
    params.paged(&page);
    let rows = page
        .rows
        .iter()
        .map(|listed| {
            let comment = &listed.row;
            let author = Person::of(&page.member(comment.author_id));
            CommentListRow {
                scope: scope_cell(
                    EntityKind::Comment,
                    comment.id,
                    listed.scopes.clone(),
                    format!("comment by {}", author.username),
                ),
                request_title: page.request_title(comment.request_id).map(str::to_owned),
                comment: comment.clone(),
                author,
            }
        })
        .collect::<Vec<_>>();
    let frame = frame(&state, &session, Section::Comments, here(&req)).await?;
    Ok(html(
        StatusCode::OK,
        views::comments_page(&frame, &params.view, &rows),
    ))
}

async fn vouches_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Page {
    let instance = state.instance();
    let mut params = ListParams::parse(
        &query,
        instance.name(),
        "/vouches",
        "voucher's or subject's username",
    )?;
    let page = instance.list_vouches(&params.query).await?;
    params.paged(&page);
    let rows = page
        .rows
        .iter()
        .map(|listed| {
            let vouch = &listed.row;
            let voucher = Person::of(&page.member(vouch.voucher_id));
            let subject = Person::of(&page.member(vouch.subject_id));
            VouchRow {
                scope: scope_cell(
                    EntityKind::Vouch,
                    vouch.id,
                    listed.scopes.clone(),
                    format!("vouch by {} for {}", voucher.username, subject.username),
                ),
                vouch: vouch.clone(),
                voucher,
                subject,
            }
        })
        .collect::<Vec<_>>();
    let frame = frame(&state, &session, Section::Vouches, here(&req)).await?;
    Ok(html(
        StatusCode::OK,
        views::vouches_page(&frame, &params.view, &rows),
    ))
}

fn user_row<T: ListRow>(names: &Listing<T>, listed: Listed<User>) -> UserRow {
    let Listed { row: user, scopes } = listed;
    UserRow {
        person: Person::of(&names.member(user.id)),
        scope: scope_cell(
            EntityKind::User,
            user.id,
            scopes,
            format!("profile of {}", user.username),
        ),
        user,
    }
}

async fn users_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Page {
    let instance = state.instance();
    let mut params =
        ListParams::parse(&query, instance.name(), "/users", "username, display name")?;
    let page = instance.list_users(&params.query).await?;
    params.paged(&page);
    let rows = page
        .rows
        .iter()
        .map(|listed| user_row(&page, listed.clone()))
        .collect::<Vec<_>>();
    let frame = frame(&state, &session, Section::Users, here(&req)).await?;
    Ok(html(
        StatusCode::OK,
        views::users_page(&frame, &params.view, &rows),
    ))
}

#[derive(Debug, Deserialize)]
struct NewMemberForm {
    username: String,
    back: Option<String>,
}

/// Adds a local member (private, role member) through the core; a fresh
/// instance needs one before anything can be done as someone.
async fn add_member(form: Protected<NewMemberForm>, state: web::Data<AdminState>) -> Page {
    let Protected { session, form } = form;
    let back = local_path(form.back.as_deref(), "/users");
    let name = form.username.trim();
    let flash = match Username::parse(name) {
        Err(err) => Flash::refused(format!("Not added: {err}.")),
        Ok(username) => {
            let new = NewUser {
                username,
                display_name: String::new(),
                bio: String::new(),
                email: None,
                role: Role::Member,
                invited_by: None,
            };
            match state.instance().add_user(new).await {
                Ok(user) => Flash::done(format!(
                    "Member {} added (private, role {}); choose them under \u{201c}Acting as\u{201d} to act as them.",
                    user.username, user.role
                )),
                Err(EngineError::Store(err)) => return Err(err.into()),
                Err(err) => Flash::refused(format!("Not added: {err}.")),
            }
        }
    };
    state.set_flash(&session.key, flash);
    Ok(redirect(&back))
}

#[derive(Debug, Deserialize)]
struct OriginQuery {
    origin: Option<String>,
}

async fn user_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    query: web::Query<OriginQuery>,
) -> Page {
    let instance = state.instance();
    let local = instance.name();
    let not_found = || PageError::NotFound(format!("no user {:?}", path.as_str()));
    let username = Username::parse(path.as_str()).map_err(|_| not_found())?;
    let origin = match &query.origin {
        Some(origin) => InstanceName::parse(origin).map_err(|_| not_found())?,
        None => local.clone(),
    };
    let store = instance.store();
    let user = store
        .user_by_username(&origin, &username)
        .await?
        .ok_or_else(not_found)?;
    let row = UserRow {
        person: Person::of(&instance.describe_member(user.id).await?),
        scope: scope_cell(
            EntityKind::User,
            user.id,
            instance.listed_scopes(&user).await?,
            format!("profile of {}", user.username),
        ),
        user,
    };
    let frame = frame(&state, &session, Section::Users, here(&req)).await?;
    Ok(html(StatusCode::OK, views::user_page(&frame, &row)))
}

async fn invite_rows(
    state: &AdminState,
    params: &mut ListParams,
) -> Result<Vec<InviteRow>, PageError> {
    let page = state.instance().list_invites(&params.query).await?;
    params.paged(&page);
    Ok(page
        .rows
        .iter()
        .map(|listed| {
            let invite = &listed.row;
            let inviter = Person::of(&page.member(invite.inviter_id));
            InviteRow {
                scope: scope_cell(
                    EntityKind::Invite,
                    invite.id,
                    listed.scopes.clone(),
                    format!("invite from {}", inviter.username),
                ),
                invitee: invite.invitee_id.map(|id| Person::of(&page.member(id))),
                invite: invite.clone(),
                inviter,
            }
        })
        .collect())
}

const INVITE_HINT: &str = "inviter's or invitee's username";

async fn invites_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Page {
    let mut params = ListParams::parse(&query, state.instance().name(), "/invites", INVITE_HINT)?;
    let rows = invite_rows(&state, &mut params).await?;
    let frame = frame(&state, &session, Section::Invites, here(&req)).await?;
    Ok(html(
        StatusCode::OK,
        views::invites_page(&frame, &params.view, &rows, None),
    ))
}

const CHOOSE_ACTOR: &str = "Nothing changed: choose a member to act as first \
                            (the \u{201c}Acting as\u{201d} menu at the top of the page).";

/// A form with nothing but the CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

/// Creates an invite as the acting member and shows its code, once.
async fn create_invite(form: Protected<NoFields>, state: web::Data<AdminState>) -> Page {
    let session = form.session;
    let Some(acting) = session.acting.as_deref() else {
        state.set_flash(&session.key, Flash::refused(CHOOSE_ACTOR));
        return Ok(redirect("/invites"));
    };
    let invite = match state.instance().add_invite(acting).await {
        Ok(invite) => invite,
        Err(EngineError::Store(err)) => return Err(err.into()),
        Err(err) => {
            state.set_flash(&session.key, Flash::refused(format!("Not created: {err}")));
            return Ok(redirect("/invites"));
        }
    };
    let mut params = ListParams::parse(
        &ListQuery::default(),
        state.instance().name(),
        "/invites",
        INVITE_HINT,
    )?;
    let rows = invite_rows(&state, &mut params).await?;
    let frame = frame(&state, &session, Section::Invites, "/invites".into()).await?;
    let code = invite.code.clone().unwrap_or_default();
    Ok(html(
        StatusCode::OK,
        views::invites_page(&frame, &params.view, &rows, Some((&invite, code.as_str()))),
    ))
}

#[derive(Debug, Deserialize)]
struct ToggleForm {
    kind: String,
    id: String,
    to: String,
    back: Option<String>,
}

/// Sets a row's scope as the acting member, through the core's rules; the
/// outcome (or the rule that refused) is shown on the page returned to.
async fn toggle_scope(form: Protected<ToggleForm>, state: web::Data<AdminState>) -> Page {
    let Protected { session, form } = form;
    let kind: EntityKind = form
        .kind
        .parse()
        .map_err(|err: String| PageError::BadRequest(err))?;
    let to: SyncScope = form
        .to
        .parse()
        .map_err(|err: String| PageError::BadRequest(err))?;
    let id = Uuid::parse_str(&form.id)
        .map_err(|_| PageError::BadRequest(format!("malformed {kind} id {:?}", form.id)))?;
    let back = local_path(form.back.as_deref(), "/requests");
    let Some(acting) = session.acting.as_deref() else {
        state.set_flash(&session.key, Flash::refused(CHOOSE_ACTOR));
        return Ok(redirect(&back));
    };
    let flash = match state.instance().set_scope(kind, id, to, acting).await {
        Ok(change) if change.before == change.after => Flash::done(format!(
            "The {kind} was already {}; its badge reads: {}.",
            change.after, change.effective
        )),
        Ok(change) => Flash::done(format!(
            "The {kind} is now {} (was {}); its badge reads: {}.",
            change.after, change.before, change.effective
        )),
        Err(EngineError::Store(err)) => return Err(err.into()),
        Err(err) => Flash::refused(format!("Not changed: {err}.")),
    };
    state.set_flash(&session.key, flash);
    Ok(redirect(&back))
}

#[derive(Debug, Deserialize)]
struct ProfileForm {
    display_name: String,
    bio: String,
}

/// Saves a profile's display name and bio as the acting member.
async fn save_profile(
    form: Protected<ProfileForm>,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Page {
    let Protected { session, form } = form;
    let username = path.into_inner();
    let back = match Username::parse(&username) {
        Ok(name) => format!("/users/{name}"),
        Err(_) => return Err(PageError::NotFound(format!("no user {username:?}"))),
    };
    let Some(acting) = session.acting.as_deref() else {
        state.set_flash(&session.key, Flash::refused(CHOOSE_ACTOR));
        return Ok(redirect(&back));
    };
    // Browsers send text area lines ending in CR LF; the core stores LF.
    let bio = form.bio.replace("\r\n", "\n");
    let display_name = form.display_name.replace("\r\n", "\n");
    let flash = match state
        .instance()
        .update_profile(&username, acting, &display_name, &bio)
        .await
    {
        Ok(user) => Flash::done(format!("Profile of {} saved.", user.username)),
        Err(EngineError::Store(err)) => return Err(err.into()),
        Err(err) => Flash::refused(format!("Not saved: {err}.")),
    };
    state.set_flash(&session.key, flash);
    Ok(redirect(&back))
}

#[derive(Debug, Deserialize)]
struct ActingForm {
    username: String,
    back: Option<String>,
}

/// Remembers, in the session, which local member the operator acts as.
async fn choose_acting_user(form: Protected<ActingForm>, state: web::Data<AdminState>) -> Page {
    let Protected { session, form } = form;
    let back = local_path(form.back.as_deref(), "/requests");
    let flash = if form.username.is_empty() {
        state.set_acting(&session.key, None);
        Flash::done("Not acting as anyone: choose a member before changing anything.")
    } else {
        match state.instance().local_user(&form.username).await {
            Ok(user) => {
                state.set_acting(&session.key, Some(user.username.to_string()));
                Flash::done(format!("Now acting as {} ({}).", user.username, user.role))
            }
            Err(EngineError::Store(err)) => return Err(err.into()),
            Err(err) => Flash::refused(format!("Not changed: {err}.")),
        }
    };
    state.set_flash(&session.key, flash);
    Ok(redirect(&back))
}

/// Ends the session and clears the cookie.
async fn logout(form: Protected<NoFields>, state: web::Data<AdminState>) -> Page {
    state.close_session(&form.session.key);
    let mut cookie = Cookie::build(COOKIE, "")
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .finish();
    cookie.make_removal();
    let mut response = html(
        StatusCode::OK,
        views::error_page(
            StatusCode::OK,
            "Signed out. Open the URL that `wb serve` printed to sign in again.",
        ),
    );
    response
        .add_cookie(&cookie)
        .map_err(|_| PageError::Internal)?;
    Ok(response)
}

/// Unknown paths: still 401/403 without a session, 404 with one.
async fn not_found(_session: Session) -> Page {
    Err(PageError::NotFound("no such page".into()))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn back_paths_stay_on_this_server() {
        for (back, expected) in [
            (Some("/requests/1"), "/requests/1"),
            (
                Some("/users/ben?origin=beta.example"),
                "/users/ben?origin=beta.example",
            ),
            (Some("//evil.example/x"), "/requests"),
            (Some("https://evil.example/"), "/requests"),
            (Some("/\\evil.example"), "/requests"),
            (Some("/a\r\nSet-Cookie: x"), "/requests"),
            (None, "/requests"),
        ] {
            assert_eq!(local_path(back, "/requests"), expected, "{back:?}");
        }
    }
}
