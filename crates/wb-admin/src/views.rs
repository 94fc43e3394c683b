//! The pages, as maud templates compiled into the binary: plain HTML that
//! works without JavaScript, one `<h1>` per page, a label on every field,
//! and scope badges that say in words what their colour shows.

use actix_web::http::StatusCode;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use wb_model::{
    Comment, EffectiveScope, EntityKind, InstanceName, Invite, Request, Role, SyncScope, Timestamp,
    User, Uuid, Vouch,
};

use wb_engine::listing::{Exported, Member};
use wb_engine::sync_runs::{Reach, SyncRun};

use crate::session::CSRF_FIELD;
use crate::state::{Flash, FlashKind};

/// A few lines of style: readable, visible focus, badges with text and colour.
const CSS: &str = "\
body{font-family:system-ui,sans-serif;line-height:1.45;margin:0;color:#1b1b1b;background:#fff}\
header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;justify-content:space-between;\
padding:.5rem 1rem;border-bottom:1px solid #ccc;background:#f5f5f5}\
nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0}\
nav a[aria-current=page]{font-weight:bold}\
main{padding:0 1rem 2rem;max-width:70rem}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #ddd}\
.badge{display:inline;padding:0 .3rem;border:0;border-left:.3rem solid;font-size:.85em;font-weight:600;\
cursor:default}\
.badge.public{border-color:#2e7d32;color:#1b4d1e}\
.badge.private{border-color:#555;color:#333}\
.badge.held{border-color:#a86b00;color:#5c3b00}\
.reason{font-size:.9em}\
.outcome{font-weight:600}.outcome.ok{color:#1b4d1e}.outcome.failed{color:#8b1414}\
button{padding:.15rem .6rem;border:1px solid #1a56db;border-radius:.3rem;background:#1a56db;color:#fff}\
.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:1rem 0}\
.filters label{margin-top:0}\
.pager{display:flex;gap:1rem;align-items:center;margin:.75rem 0}\
time{white-space:nowrap}\
.origin{font-size:.9em;color:#444}\
.toggle{display:inline;margin-left:.4rem}\
.flash{padding:.5rem .75rem;border:1px solid;border-radius:.3rem;margin:1rem 0}\
.flash.done{background:#e3f5e1;border-color:#2e7d32}\
.flash.refused{background:#fde8e8;border-color:#b71c1c}\
.code{font-family:monospace;font-size:1.2em;padding:.2rem .4rem;background:#f0f0f0}\
label{display:block;font-weight:600;margin-top:.75rem}\
input[type=text],textarea{width:100%;max-width:40rem;font:inherit}\
.filters input[type=text]{width:12rem}\
button{font:inherit;cursor:pointer}\
:focus-visible{outline:3px solid #1a56db;outline-offset:2px}\
.body{white-space:pre-wrap}\
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}";

/// The section of the site a page belongs to, for the navigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Requests,
    Comments,
    Users,
    Invites,
    Vouches,
    Status,
}

/// What every page around its content shows.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) instance: InstanceName,
    pub(crate) section: Section,
    /// This page's path, where forms on it return to.
    pub(crate) here: String,
    pub(crate) csrf: String,
    pub(crate) acting: Option<String>,
    /// Local members the operator may act as, with their roles; `None`
    /// when there are too many for a menu (the operator types a username).
    pub(crate) local_users: Option<Vec<(String, Role)>>,
    pub(crate) flash: Option<Flash>,
}

/// A row's scope as a page shows it: a badge and, for local rows, a toggle.
#[derive(Debug)]
pub(crate) struct ScopeCell {
    pub(crate) kind: EntityKind,
    pub(crate) id: Uuid,
    pub(crate) own: SyncScope,
    pub(crate) effective: EffectiveScope,
    /// `Some(origin)` for a row imported from another instance.
    pub(crate) imported_from: Option<InstanceName>,
    /// The row in a few words, for the toggle's accessible name.
    pub(crate) label: String,
    /// For a held-back row: the reason naming the row that holds it back
    /// (`its author @chloe is private`) and a link to that row.
    pub(crate) hold: Option<(String, Option<String>)>,
}

/// A member as a page names them, with a link to their profile.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub(crate) username: String,
    pub(crate) imported_from: Option<InstanceName>,
}

impl Person {
    /// A member the engine's listing names (`(unknown)` when not stored).
    pub(crate) fn of(member: &Member) -> Self {
        Self {
            username: member
                .username
                .as_ref()
                .map_or_else(|| "(unknown)".to_owned(), ToString::to_string),
            imported_from: member.imported_from.clone(),
        }
    }

    pub(crate) fn href(&self) -> String {
        match &self.imported_from {
            None => format!("/users/{}", self.username),
            Some(origin) => format!("/users/{}?origin={origin}", self.username),
        }
    }
}

pub(crate) struct RequestRow {
    pub(crate) request: Request,
    pub(crate) author: Person,
    pub(crate) comments: u64,
    pub(crate) scope: ScopeCell,
}

pub(crate) struct CommentRow {
    pub(crate) comment: Comment,
    pub(crate) author: Person,
    pub(crate) scope: ScopeCell,
}

pub(crate) struct UserRow {
    pub(crate) user: User,
    pub(crate) person: Person,
    pub(crate) scope: ScopeCell,
}

pub(crate) struct CommentListRow {
    pub(crate) comment: Comment,
    pub(crate) author: Person,
    /// The request's title (`None` if it is gone).
    pub(crate) request_title: Option<String>,
    pub(crate) scope: ScopeCell,
}

pub(crate) struct VouchRow {
    pub(crate) vouch: Vouch,
    pub(crate) voucher: Person,
    pub(crate) subject: Person,
    pub(crate) scope: ScopeCell,
}

pub(crate) struct InviteRow {
    pub(crate) invite: Invite,
    pub(crate) inviter: Person,
    pub(crate) invitee: Option<Person>,
    pub(crate) scope: ScopeCell,
}

/// What a list page shows around its table: the filters as chosen, the
/// count, and the links to the neighbouring pages.
#[derive(Debug)]
pub(crate) struct ListView {
    /// The list's path (`/requests`).
    pub(crate) path: String,
    pub(crate) own: Option<SyncScope>,
    pub(crate) exported: Option<Exported>,
    /// The origin filter as given: empty, `local`, or a peer's name.
    pub(crate) origin: String,
    pub(crate) text: String,
    /// Rows matching the filters, on every page (at most the count cap).
    pub(crate) total: u64,
    /// The same for people: `1,234`, or `1,000+` past the cap.
    pub(crate) total_text: String,
    /// Rows on this page.
    pub(crate) shown: usize,
    pub(crate) previous: Option<String>,
    pub(crate) next: Option<String>,
    /// What the text filter searches, for its label.
    pub(crate) text_hint: &'static str,
}

/// The filter form (a GET: the filters live in the URL, so a toggle's
/// redirect comes back to them) and the pager.
pub(crate) fn list_controls(list: &ListView, what: &str) -> Markup {
    let option = |value: &str, text: &str, selected: bool| {
        html! { option value=(value) selected[selected] { (text) } }
    };
    html! {
        form.filters method="get" action=(&list.path) role="search" aria-label=(format!("Filter {what}")) {
            div {
                label for="f-own" { "Own scope" }
                select id="f-own" name="own" {
                    (option("", "any", list.own.is_none()))
                    (option("public", "public", list.own == Some(SyncScope::Public)))
                    (option("private", "private", list.own == Some(SyncScope::Private)))
                }
            }
            div {
                label for="f-effective" { "Effective scope" }
                select id="f-effective" name="effective" {
                    (option("", "any", list.exported.is_none()))
                    (option("shared", "shared (exported)", list.exported == Some(Exported::Shared)))
                    (option("held", "held back", list.exported == Some(Exported::HeldBack)))
                }
            }
            div {
                label for="f-origin" { "Origin" }
                input type="text" id="f-origin" name="origin" value=(list.origin)
                    placeholder="local, or a peer's name";
            }
            div {
                label for="f-q" { "Text (" (list.text_hint) ")" }
                input type="text" id="f-q" name="q" value=(list.text);
            }
            div { button type="submit" { "Filter" } " " a href=(&list.path) { "Clear" } }
        }
        (pager(list, what))
    }
}

fn pager(list: &ListView, what: &str) -> Markup {
    html! {
        nav.pager aria-label=(format!("Pages of {what}")) {
            span id="list-count" {
                @if list.total == 1 && list.total_text == "1" {
                    "1 " (what.strip_suffix('s').unwrap_or(what)) " matches; "
                } @else {
                    (list.total_text) " " (what) " match; "
                }
                (list.shown) " shown."
            }
            @if let Some(href) = &list.previous { a rel="prev" href=(href) { "← Previous page" } }
            @if let Some(href) = &list.next { a rel="next" href=(href) { "Next page →" } }
        }
    }
}

fn person(p: &Person) -> Markup {
    html! {
        a href=(p.href()) { (p.username) }
        @if let Some(origin) = &p.imported_from {
            " " span.origin { "(" (origin) ")" }
        }
    }
}

fn hidden_csrf(frame: &Frame) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(frame.csrf); }
}

/// A timestamp for people: `2026-11-24 10:00 UTC`, the full value on hover
/// and in `datetime`.
pub(crate) fn when(at: &Timestamp) -> Markup {
    let full = at.to_string();
    let short = format!("{} {} UTC", &full[..10], &full[11..16]);
    html! { time datetime=(full) title=(full) { (short) } }
}

/// The badge: the effective scope in words, coloured by what it means; a
/// held-back badge names (and links) the row that holds it back.
pub(crate) fn badge(cell: &ScopeCell) -> Markup {
    let class = match &cell.effective {
        EffectiveScope::Public => "badge public",
        EffectiveScope::Private => "badge private",
        EffectiveScope::HeldBack(_) => "badge held",
    };
    html! {
        @match (&cell.effective, &cell.hold) {
            (EffectiveScope::HeldBack(_), Some((reason, href))) => {
                span class=(class) { "Public, held back" }
                " " span.reason { "("
                    @if let Some(href) = href { a href=(href) { (reason) } } @else { (reason) }
                ")" }
            }
            (effective, _) => span class=(class) { (effective.to_string()) },
        }
    }
}

/// Badge plus toggle (local rows) or origin (imported rows).
pub(crate) fn scope_cell(frame: &Frame, cell: &ScopeCell) -> Markup {
    let to = match cell.own {
        SyncScope::Public => SyncScope::Private,
        SyncScope::Private => SyncScope::Public,
    };
    html! {
        div.scope id=(format!("scope-{}-{}", cell.kind, cell.id)) {
            (badge(cell))
            @if let Some(origin) = &cell.imported_from {
                " " span.origin { "Imported from " (origin) "; only its origin can change it." }
            } @else {
                form.toggle method="post" action="/scope" {
                    (hidden_csrf(frame))
                    input type="hidden" name="kind" value=(cell.kind.as_str());
                    input type="hidden" name="id" value=(cell.id.to_string());
                    input type="hidden" name="to" value=(to.as_str());
                    input type="hidden" name="back" value=(frame.here);
                    button type="submit" aria-label=(format!("Make {to}: {}", cell.label)) {
                        "Make " (to)
                    }
                }
            }
        }
    }
}

fn acting_form(frame: &Frame) -> Markup {
    html! {
        form.acting method="post" action="/acting-user" {
            (hidden_csrf(frame))
            input type="hidden" name="back" value=(frame.here);
            label for="acting-user" style="display:inline;margin-right:.4rem" { "Acting as" }
            @if let Some(local_users) = &frame.local_users {
                select id="acting-user" name="username" {
                    option value="" selected[frame.acting.is_none()] {
                        @if local_users.is_empty() { "(no members yet: add one on Users)" }
                        @else { "(choose a member)" }
                    }
                    @for (username, role) in local_users {
                        option value=(username) selected[frame.acting.as_deref() == Some(username.as_str())] {
                            (username) " (" (role) ")"
                        }
                    }
                }
            } @else {
                input type="text" id="acting-user" name="username" style="width:10rem"
                    value=(frame.acting.as_deref().unwrap_or_default());
            }
            " "
            button type="submit" { "Act as this member" }
        }
    }
}

/// The page around `content`, with `title` as its one `<h1>`.
pub(crate) fn layout(frame: &Frame, title: &str, content: Markup) -> Markup {
    let nav = [
        (Section::Requests, "/requests", "Requests"),
        (Section::Comments, "/comments", "Comments"),
        (Section::Users, "/users", "Users"),
        (Section::Invites, "/invites", "Invites"),
        (Section::Vouches, "/vouches", "Vouches"),
        (Section::Status, "/status", "Sync status"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — wb admin, " (frame.instance) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    nav aria-label="Main" {
                        ul {
                            @for (section, href, text) in nav {
                                li {
                                    @if section == frame.section {
                                        a href=(href) aria-current="page" { (text) }
                                    } @else {
                                        a href=(href) { (text) }
                                    }
                                }
                            }
                        }
                    }
                    span { "Instance " strong { (frame.instance) } }
                    (acting_form(frame))
                    form method="post" action="/logout" {
                        (hidden_csrf(frame))
                        button type="submit" { "Sign out" }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(flash) = &frame.flash {
                        @match flash.kind {
                            FlashKind::Done => div.flash.done role="status" { (flash.text) },
                            FlashKind::Refused => div.flash.refused role="alert" { (flash.text) },
                        }
                    }
                    @if frame.acting.is_none() {
                        p { "Choose a member to act as (top of the page) before changing anything: \
                             every change is made as that member, like the command line's "
                            code { "--as" } "." }
                    }
                    (content)
                }
            }
        }
    }
}

/// A page for a refusal or failure, outside any session.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (status.as_u16()) " " (title) " — wb admin" }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { (status.as_u16()) " " (title) }
                    p { (message) }
                    @if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                        p { a href="/requests" { "Back to the requests" } }
                    }
                }
            }
        }
    }
}

pub(crate) fn requests_page(frame: &Frame, list: &ListView, rows: &[RequestRow]) -> Markup {
    layout(
        frame,
        "Requests",
        html! {
            (list_controls(list, "requests"))
            @if rows.is_empty() {
                p { "No requests match." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Title" }
                        th scope="col" { "Author" }
                        th scope="col" { "Status" }
                        th scope="col" { "Comments" }
                        th scope="col" { "Created" }
                        th scope="col" { "Scope" }
                    } }
                    tbody {
                        @for row in rows {
                            tr {
                                td { a href=(format!("/requests/{}", row.request.id)) { (row.request.title) } }
                                td { (person(&row.author)) }
                                td { (row.request.status) }
                                td { (row.comments) }
                                td { (when(&row.request.created_at)) }
                                td { (scope_cell(frame, &row.scope)) }
                            }
                        }
                    }
                }
                (pager(list, "requests"))
            }
        },
    )
}

/// The first line of a text, cut to about `chars` characters.
fn excerpt(text: &str, chars: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    let mut cut: String = line.chars().take(chars).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

pub(crate) fn comments_page(frame: &Frame, list: &ListView, rows: &[CommentListRow]) -> Markup {
    layout(
        frame,
        "Comments",
        html! {
            (list_controls(list, "comments"))
            @if rows.is_empty() {
                p { "No comments match." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Comment" }
                        th scope="col" { "On request" }
                        th scope="col" { "Author" }
                        th scope="col" { "Created" }
                        th scope="col" { "Scope" }
                    } }
                    tbody {
                        @for row in rows {
                            tr {
                                td { a href=(format!("/requests/{}?at={}#comment-{}", row.comment.request_id, row.comment.id, row.comment.id)) {
                                    (excerpt(&row.comment.body, 80)) } }
                                td { @if let Some(title) = &row.request_title {
                                    a href=(format!("/requests/{}", row.comment.request_id)) { (title) }
                                } @else { "—" } }
                                td { (person(&row.author)) }
                                td { (when(&row.comment.created_at)) }
                                td { (scope_cell(frame, &row.scope)) }
                            }
                        }
                    }
                }
                (pager(list, "comments"))
            }
        },
    )
}

pub(crate) fn vouches_page(frame: &Frame, list: &ListView, rows: &[VouchRow]) -> Markup {
    layout(
        frame,
        "Vouches",
        html! {
            (list_controls(list, "vouches"))
            @if rows.is_empty() {
                p { "No vouches match." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Voucher" }
                        th scope="col" { "Vouches for" }
                        th scope="col" { "Created" }
                        th scope="col" { "Scope" }
                    } }
                    tbody {
                        @for row in rows {
                            tr {
                                td { (person(&row.voucher)) }
                                td { (person(&row.subject)) }
                                td { (when(&row.vouch.created_at)) }
                                td { (scope_cell(frame, &row.scope)) }
                            }
                        }
                    }
                }
                (pager(list, "vouches"))
            }
        },
    )
}

pub(crate) fn request_page(
    frame: &Frame,
    row: &RequestRow,
    list: &ListView,
    comments: &[CommentRow],
) -> Markup {
    let request = &row.request;
    layout(
        frame,
        &request.title,
        html! {
            dl {
                dt { "Author" } dd { (person(&row.author)) }
                dt { "Status" } dd { (request.status) }
                dt { "Created" } dd { (when(&request.created_at)) }
                dt { "Origin" } dd { (request.origin) }
                dt { "Scope" } dd { (scope_cell(frame, &row.scope)) }
            }
            p.body { (request.body) }
            h2 { "Comments" }
            @if comments.is_empty() {
                p { "No comments." }
            } @else {
                (pager(list, "comments"))
                ol.comments {
                    @for c in comments {
                        li id=(format!("comment-{}", c.comment.id)) {
                            p { (person(&c.author)) ", " (when(&c.comment.created_at)) }
                            p.body { (c.comment.body) }
                            (scope_cell(frame, &c.scope))
                        }
                    }
                }
                (pager(list, "comments"))
            }
        },
    )
}

pub(crate) fn users_page(frame: &Frame, list: &ListView, rows: &[UserRow]) -> Markup {
    layout(
        frame,
        "Users",
        html! {
            h2 { "Add a local member" }
            form method="post" action="/users" {
                (hidden_csrf(frame))
                input type="hidden" name="back" value=(frame.here);
                label for="new-username" { "Username" }
                input type="text" id="new-username" name="username" required autocomplete="off";
                p { "A new member is private, with the role member; they can be made public here, \
                     and an admin can change roles with " code { "wb user" } "." }
                p { button type="submit" { "Add member" } }
            }
            h2 { "Members" }
            (list_controls(list, "users"))
            table {
                thead { tr {
                    th scope="col" { "Username" }
                    th scope="col" { "Display name" }
                    th scope="col" { "Role" }
                    th scope="col" { "Scope" }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            td { (person(&row.person)) }
                            td { (row.user.display_name) }
                            td { @if row.person.imported_from.is_none() { (row.user.role) } @else { "—" } }
                            td { (scope_cell(frame, &row.scope)) }
                        }
                    }
                }
            }
            (pager(list, "users"))
        },
    )
}

pub(crate) fn user_page(frame: &Frame, row: &UserRow) -> Markup {
    let user = &row.user;
    let title = format!("Profile of {}", user.username);
    layout(
        frame,
        &title,
        html! {
            dl {
                dt { "Username" } dd { (user.username) }
                dt { "Origin" } dd { (user.origin) }
                @if row.person.imported_from.is_none() {
                    dt { "Role" } dd { (user.role) }
                }
                dt { "Scope" } dd { (scope_cell(frame, &row.scope)) }
            }
            @if row.person.imported_from.is_some() {
                h2 { "Profile" }
                dl {
                    dt { "Display name" } dd { (user.display_name) }
                    dt { "Bio" } dd.body { (user.bio) }
                }
            } @else {
                h2 { "Edit profile" }
                p { "Saved as the acting member: the member themself or an admin may edit a profile." }
                form method="post" action=(format!("/users/{}/profile", user.username)) {
                    (hidden_csrf(frame))
                    label for="display_name" { "Display name" }
                    input type="text" id="display_name" name="display_name" maxlength="200"
                        value=(user.display_name);
                    label for="bio" { "Bio" }
                    textarea id="bio" name="bio" rows="4" { (user.bio) }
                    p { button type="submit" { "Save profile" } }
                }
            }
        },
    )
}

pub(crate) fn invites_page(
    frame: &Frame,
    list: &ListView,
    rows: &[InviteRow],
    created: Option<(&Invite, &str)>,
) -> Markup {
    layout(
        frame,
        "Invites",
        html! {
            @if let Some((invite, code)) = created {
                section.created aria-labelledby="created-heading" {
                    h2 id="created-heading" { "Invite created" }
                    p { "Pass this code to the new member; it is shown only this once: " }
                    p { output.code id="invite-code" { (code) } }
                    p { "Invite " (invite.id) " is private until its inviter makes it public." }
                }
            }
            h2 { "Create an invite" }
            form method="post" action="/invites" {
                (hidden_csrf(frame))
                p {
                    "The invite is issued by the acting member"
                    @if let Some(acting) = &frame.acting { " (" strong { (acting) } ")" }
                    "."
                }
                button type="submit" { "Create invite" }
            }
            h2 { "All invites" }
            (list_controls(list, "invites"))
            @if rows.is_empty() {
                p { "No invites match." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Inviter" }
                        th scope="col" { "Invitee" }
                        th scope="col" { "Status" }
                        th scope="col" { "Created" }
                        th scope="col" { "Scope" }
                    } }
                    tbody {
                        @for row in rows {
                            tr {
                                td { (person(&row.inviter)) }
                                td { @if let Some(p) = &row.invitee { (person(p)) } @else { "—" } }
                                td { (row.invite.status) }
                                td { (when(&row.invite.created_at)) }
                                td { (scope_cell(frame, &row.scope)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// One recorded push or pull: when, which sequence, and how it went.
fn sync_run(id: &str, run: Option<&SyncRun>, command: &str) -> Markup {
    html! {
        dd id=(id) {
            @match run {
                None => { "none recorded (" code { (command) } " records its outcome here)" }
                Some(run) => {
                    @if run.ok { span.outcome.ok { "OK" } } @else { span.outcome.failed { "Failed" } }
                    ", " (when(&run.at))
                    @if let Some(sequence) = run.sequence { ", sequence " (sequence) }
                    ": " (run.summary)
                }
            }
        }
    }
}

pub(crate) fn status_page(frame: &Frame, view: &crate::status::StatusView) -> Markup {
    use crate::status::KeyView;
    let sync = &view.sync;
    let sequence = sync.exported_sequence;
    let last_push = sync.last_push.as_ref();
    let pending = if sync.pending_changes > wb_engine::listing::COUNT_CAP {
        format!("{}+", wb_engine::listing::COUNT_CAP)
    } else {
        sync.pending_changes.to_string()
    };
    layout(
        frame,
        "Sync status",
        html! {
            h2 { "This instance's key" }
            @match &view.key {
                None => p { "Unknown: this server was started without the instance directory." },
                Some(KeyView::Missing(why)) => p { (why) },
                Some(KeyView::Present { key_id, public_key }) => {
                    dl {
                        dt { "Key id" } dd { code id="key-id" { (key_id) } }
                        dt { "Public key (what peers pin)" }
                        dd { input type="text" id="public-key" readonly value=(public_key)
                            aria-label="Public key, one line, to copy"; }
                    }
                }
            }
            h2 { "Last export" }
            dl {
                dt { "Sequence" } dd id="export-sequence" {
                    @if sequence == 0 { "none yet" } @else { (sequence) }
                }
                @if let Some(export) = &view.export {
                    dt { "Directory" } dd { code { (export.dir) } }
                    dt { "Written" } dd {
                        @if let Some(at) = &export.written { (when(at)) } @else { "no bundle there" }
                    }
                    dt { "Files" } dd id="export-files" {
                        @if let Some(files) = export.files { (files) } @else { "—" }
                    }
                }
            }
            h2 { "When changes reach peers" }
            p id="reach" {
                @match sync.reach() {
                    Reach::AfterExportAndPush => {
                        "Changes since the last export: " (pending) ". They wait for the next export (the \
                        button below, or " code { "wb sync export" } ") and then a push (" code { "wb sync push" }
                        "); peers get them on their next pull after that."
                    }
                    Reach::AfterPush => {
                        "Every change is in the last export (sequence " (sequence) "), but it is not on the hub yet: \
                        it reaches peers with the next " code { "wb sync push" } ", then their next pull."
                    }
                    Reach::OnPeersNextPull => {
                        "Every change is in the last export (sequence " (sequence) "), and the last push carried it: \
                        peers get it on their next pull."
                    }
                }
            }
            dl {
                dt { "Last push" } (sync_run("last-push", last_push, "wb sync push"))
                dt { "Last pull" } (sync_run("last-pull", sync.last_pull.as_ref(), "wb sync pull"))
            }
            form method="post" action="/export" {
                (hidden_csrf(frame))
                button type="submit" { "Export now" }
            }
            h2 { "Peers" }
            @if let Some(err) = &view.registry_error {
                p role="alert" { "The peer registry cannot be read: " (err) }
            }
            @if view.origins.is_empty() {
                p { "No peers: none is registered, pinned or imported from." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Peer" }
                        th scope="col" { "Pinned key" }
                        th scope="col" { "Last imported" }
                    } }
                    tbody {
                        @for origin in &view.origins {
                            tr {
                                td { (origin.name)
                                    @if let Some(kind) = &origin.kind { " " span.origin { "(" (kind.to_string()) ")" } }
                                    @if let Some(url) = &origin.url { br; span.origin { (url) } } }
                                td { @if let Some(pin) = &origin.pin {
                                        code { (pin.public_key) } br;
                                        span.origin { "pinned " (when(&pin.pinned_at)) " (" (pin.source) ")" }
                                    } @else { "not pinned" } }
                                td { @if let Some(applied) = &origin.applied {
                                        "sequence " (applied.last_sequence) ", " (when(&applied.imported_at))
                                    } @else { "nothing yet" } }
                            }
                        }
                    }
                }
            }
        },
    )
}
