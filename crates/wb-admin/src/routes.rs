//! The routes: GET pages that read, POST forms that change (each behind
//! [`Protected`]), and the token URL that opens a session.

use std::collections::HashMap;

use actix_web::body::BoxBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use wb_engine::{EngineError, ScopeResolver};
use wb_model::{EntityKind, InstanceName, SyncScope, User, Username, Uuid};

use crate::AdminState;
use crate::response::{PageError, html, redirect};
use crate::session::{COOKIE, Protected, Session};
use crate::state::Flash;
use crate::views::{
    self, CommentRow, Frame, InviteRow, Person, RequestRow, ScopeCell, Section, UserRow,
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
        .service(resource("/users").route(web::get().to(users_page)))
        .service(resource("/users/{username}").route(web::get().to(user_page)))
        .service(resource("/users/{username}/profile").route(web::post().to(save_profile)))
        .service(
            resource("/invites")
                .route(web::get().to(invites_page))
                .route(web::post().to(create_invite)),
        )
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

fn here(req: &HttpRequest) -> String {
    req.uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), ToString::to_string)
}

fn frame(
    state: &AdminState,
    session: &Session,
    section: Section,
    here: String,
    users: &[User],
) -> Frame {
    let local = state.instance().name();
    Frame {
        instance: local.clone(),
        section,
        here,
        csrf: session.csrf.expose().to_owned(),
        acting: session.acting.clone(),
        local_users: users
            .iter()
            .filter(|u| u.origin == *local)
            .map(|u| (u.username.to_string(), u.role))
            .collect(),
        flash: state.take_flash(&session.key),
    }
}

fn people(users: &[User], local: &InstanceName) -> HashMap<Uuid, Person> {
    users.iter().map(|u| (u.id, Person::of(u, local))).collect()
}

fn person(people: &HashMap<Uuid, Person>, id: Uuid) -> Person {
    people.get(&id).cloned().unwrap_or_else(Person::unknown)
}

async fn scope_cell(
    resolver: &mut ScopeResolver<'_>,
    local: &InstanceName,
    kind: EntityKind,
    id: Uuid,
    origin: &InstanceName,
    label: String,
) -> Result<ScopeCell, PageError> {
    let (own, effective) = resolver.scopes(kind, id).await?;
    Ok(ScopeCell {
        kind,
        id,
        own,
        effective,
        imported_from: (origin != local).then(|| origin.clone()),
        label,
    })
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

async fn requests_page(req: HttpRequest, session: Session, state: web::Data<AdminState>) -> Page {
    let instance = state.instance();
    let local = instance.name();
    let store = instance.store();
    let users = store.users().await?;
    let people = people(&users, local);
    let mut comment_counts: HashMap<Uuid, usize> = HashMap::new();
    for comment in store.comments().await? {
        *comment_counts.entry(comment.request_id).or_default() += 1;
    }
    let mut resolver = instance.resolver();
    let mut rows = Vec::new();
    for request in store.requests().await? {
        let scope = scope_cell(
            &mut resolver,
            local,
            EntityKind::Request,
            request.id,
            &request.origin,
            format!("request {}", request.title),
        )
        .await?;
        rows.push(RequestRow {
            author: person(&people, request.author_id),
            comments: comment_counts.get(&request.id).copied().unwrap_or(0),
            request,
            scope,
        });
    }
    let frame = frame(&state, &session, Section::Requests, here(&req), &users);
    Ok(html(StatusCode::OK, views::requests_page(&frame, &rows)))
}

async fn request_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Page {
    let not_found = || PageError::NotFound(format!("no request with id {}", path.as_str()));
    let id = Uuid::parse_str(path.as_str()).map_err(|_| not_found())?;
    let instance = state.instance();
    let local = instance.name();
    let store = instance.store();
    let request = store.request(id).await?.ok_or_else(not_found)?;
    let users = store.users().await?;
    let people = people(&users, local);
    let mut resolver = instance.resolver();
    let mut comments = Vec::new();
    for comment in store.comments_of(id).await? {
        let author = person(&people, comment.author_id);
        let scope = scope_cell(
            &mut resolver,
            local,
            EntityKind::Comment,
            comment.id,
            &comment.origin,
            format!("comment by {}", author.username),
        )
        .await?;
        comments.push(CommentRow {
            comment,
            author,
            scope,
        });
    }
    let scope = scope_cell(
        &mut resolver,
        local,
        EntityKind::Request,
        request.id,
        &request.origin,
        format!("request {}", request.title),
    )
    .await?;
    let row = RequestRow {
        author: person(&people, request.author_id),
        comments: comments.len(),
        request,
        scope,
    };
    let frame = frame(&state, &session, Section::Requests, here(&req), &users);
    Ok(html(
        StatusCode::OK,
        views::request_page(&frame, &row, &comments),
    ))
}

async fn user_row(
    resolver: &mut ScopeResolver<'_>,
    local: &InstanceName,
    user: User,
) -> Result<UserRow, PageError> {
    let scope = scope_cell(
        resolver,
        local,
        EntityKind::User,
        user.id,
        &user.origin,
        format!("profile of {}", user.username),
    )
    .await?;
    Ok(UserRow {
        person: Person::of(&user, local),
        user,
        scope,
    })
}

async fn users_page(req: HttpRequest, session: Session, state: web::Data<AdminState>) -> Page {
    let instance = state.instance();
    let local = instance.name();
    let users = instance.store().users().await?;
    let mut resolver = instance.resolver();
    let mut rows = Vec::new();
    for user in users.iter().cloned() {
        rows.push(user_row(&mut resolver, local, user).await?);
    }
    let frame = frame(&state, &session, Section::Users, here(&req), &users);
    Ok(html(StatusCode::OK, views::users_page(&frame, &rows)))
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
    let users = store.users().await?;
    let row = user_row(&mut instance.resolver(), local, user).await?;
    let frame = frame(&state, &session, Section::Users, here(&req), &users);
    Ok(html(StatusCode::OK, views::user_page(&frame, &row)))
}

async fn invite_rows(state: &AdminState, users: &[User]) -> Result<Vec<InviteRow>, PageError> {
    let instance = state.instance();
    let local = instance.name();
    let people = people(users, local);
    let mut resolver = instance.resolver();
    let mut rows = Vec::new();
    for invite in instance.store().invites().await? {
        let inviter = person(&people, invite.inviter_id);
        let scope = scope_cell(
            &mut resolver,
            local,
            EntityKind::Invite,
            invite.id,
            &invite.origin,
            format!("invite from {}", inviter.username),
        )
        .await?;
        rows.push(InviteRow {
            invitee: invite.invitee_id.map(|id| person(&people, id)),
            inviter,
            invite,
            scope,
        });
    }
    Ok(rows)
}

async fn invites_page(req: HttpRequest, session: Session, state: web::Data<AdminState>) -> Page {
    let users = state.instance().store().users().await?;
    let rows = invite_rows(&state, &users).await?;
    let frame = frame(&state, &session, Section::Invites, here(&req), &users);
    Ok(html(
        StatusCode::OK,
        views::invites_page(&frame, &rows, None),
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
    let users = state.instance().store().users().await?;
    let rows = invite_rows(&state, &users).await?;
    let frame = frame(
        &state,
        &session,
        Section::Invites,
        "/invites".into(),
        &users,
    );
    let code = invite.code.clone().unwrap_or_default();
    Ok(html(
        StatusCode::OK,
        views::invites_page(&frame, &rows, Some((&invite, &code))),
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
