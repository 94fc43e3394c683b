//! HTTP-level tests: authentication, CSRF, permission outcomes, badges,
//! the profile editor and the invite form.

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use wb_admin::{AdminState, app};
use wb_model::{InstanceName, Role, SyncScope, Timestamp, User, Username, new_id};

use crate::common::{Client, csrf_in, demos, scope_cell};

const LADDER: &str = "Borrow a 2 m ladder this weekend";
const SEWING: &str = "Sewing machine for a day";
const PRIVATE_MATTER: &str = "Looking for a lawyer recommendation";

#[actix_web::test]
async fn pages_need_a_session_opened_by_the_token() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);

        for path in [
            "/",
            "/requests",
            "/users",
            "/users/ada",
            "/invites",
            "/nowhere",
        ] {
            let reply = client.get(path).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{path} on {}",
                demo.label
            );
        }
        let reply = client.post("/scope", &[("kind", "user")]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let reply = client.get("/scope").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "a wrong method too");

        let wrong = client.get("/?token=0123456789abcdef").await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        assert!(
            wrong.set_cookies.is_empty(),
            "a wrong token opens no session"
        );

        client.cookie = Some(actix_web::cookie::Cookie::new(
            "wb_admin_session",
            "not-a-session",
        ));
        assert_eq!(client.get("/requests").await.status, StatusCode::FORBIDDEN);

        let login = client.log_in(&state.login_path()).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER);
        assert_eq!(login.location.as_deref(), Some("/requests"));
        let cookie = &login.set_cookies[0];
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        let token = state.login_path().replace("/?token=", "");
        assert!(!cookie.contains(&token), "the cookie is not the token");

        let page = client.get("/requests").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body.matches("<h1").count(), 1, "one h1 per page");
        assert!(page.body.contains("<h1>Requests</h1>"));
        assert!(!page.body.contains(&token), "pages never show the token");
        assert_eq!(client.get("/nowhere").await.status, StatusCode::NOT_FOUND);
        assert_eq!(client.get("/").await.status, StatusCode::SEE_OTHER);
    }
}

#[actix_web::test]
async fn a_post_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        client.act_as("ada").await;
        let ladder = demo.request(LADDER).await;
        let id = ladder.id.to_string();

        let missing = client
            .post(
                "/scope",
                &[("kind", "request"), ("id", &id), ("to", "private")],
            )
            .await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", demo.label);
        let wrong = client
            .post(
                "/scope",
                &[
                    ("csrf", "00ff"),
                    ("kind", "request"),
                    ("id", &id),
                    ("to", "private"),
                ],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        assert!(wrong.body.contains("CSRF"));
        assert_eq!(demo.request(LADDER).await, ladder, "nothing changed");

        // Another session's token is wrong for this one.
        let mut other = Client::new(&app);
        other.log_in(&state.login_path()).await;
        let foreign = other.csrf().await;
        let crossed = client
            .post(
                "/scope",
                &[
                    ("csrf", &foreign),
                    ("kind", "request"),
                    ("id", &id),
                    ("to", "private"),
                ],
            )
            .await;
        assert_eq!(crossed.status, StatusCode::FORBIDDEN);

        for (path, fields) in [
            ("/acting-user", vec![("username", "dev")]),
            ("/invites", vec![]),
            (
                "/users/ada/profile",
                vec![("display_name", "Hacked"), ("bio", "x")],
            ),
            ("/logout", vec![]),
        ] {
            let reply = client.post(path, &fields).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        }
        assert_eq!(demo.user("ada").await.display_name, "Ada Okafor");
        let invites = demo.instance.store().invites().await.expect("invites");
        assert_eq!(invites.len(), 5, "no invite was created");
        assert_eq!(demo.request(LADDER).await, ladder, "nothing changed");
    }
}

#[actix_web::test]
async fn an_allowed_toggle_changes_the_scope_and_the_badge() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        let acting = client.act_as("ben").await;
        assert!(acting.body.contains("Now acting as ben"), "{}", acting.body);
        let ladder = demo.request(LADDER).await;
        let path = format!("/requests/{}", ladder.id);
        let before = client.get(&path).await;
        assert!(scope_cell(&before.body, "request", ladder.id).contains(">Public<"));
        let csrf = csrf_in(&before.body);

        let after = client
            .post_and_follow(
                "/scope",
                &[
                    ("csrf", &csrf),
                    ("kind", "request"),
                    ("id", &ladder.id.to_string()),
                    ("to", "private"),
                    ("back", &path),
                ],
            )
            .await;
        assert_eq!(after.status, StatusCode::OK, "{}", demo.label);
        assert!(after.body.contains("now private"), "{}", after.body);
        let cell = scope_cell(&after.body, "request", ladder.id);
        assert!(cell.contains(">Private<"), "{cell}");
        assert!(cell.contains("Make public"), "{cell}");
        assert_eq!(demo.request_scope(LADDER).await, SyncScope::Private);
    }
}

#[actix_web::test]
async fn a_denied_toggle_names_the_rule_and_changes_nothing() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        let ladder = demo.request(LADDER).await;
        let id = ladder.id.to_string();
        let csrf = client.csrf().await;
        let fields = [
            ("csrf", csrf.as_str()),
            ("kind", "request"),
            ("id", id.as_str()),
            ("to", "private"),
            ("back", "/requests"),
        ];

        // Nobody chosen yet: nothing happens.
        let page = client.post_and_follow("/scope", &fields).await;
        assert!(page.body.contains("choose a member to act as first"));
        assert_eq!(demo.request(LADDER).await, ladder);

        // dev is a member and not the author (ben).
        client.act_as("dev").await;
        let page = client.post_and_follow("/scope", &fields).await;
        assert_eq!(page.status, StatusCode::OK, "{}", demo.label);
        assert!(page.body.contains("owner-or-admin"), "{}", page.body);
        assert!(page.body.contains(r#"role="alert""#));
        assert_eq!(demo.request(LADDER).await, ladder, "nothing changed");

        // ben is a moderator: private is allowed on others' rows, public is not.
        client.act_as("ben").await;
        let sewing = demo.request(SEWING).await;
        let sewing_id = sewing.id.to_string();
        let page = client
            .post_and_follow(
                "/scope",
                &[
                    ("csrf", &csrf),
                    ("kind", "request"),
                    ("id", &sewing_id),
                    ("to", "public"),
                ],
            )
            .await;
        assert!(
            page.body.contains("moderator-private-only"),
            "{}",
            page.body
        );
        assert_eq!(demo.request(SEWING).await, sewing);
    }
}

#[actix_web::test]
async fn badges_say_held_back_and_why() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;

        let chloe = demo.user("chloe").await;
        let sewing = demo.request(SEWING).await;
        let list = client.get("/requests").await;
        let cell = scope_cell(&list.body, "request", sewing.id);
        // The reason names the row that holds it back, and links it.
        assert!(cell.contains(">Public, held back<"), "{cell}");
        assert!(
            cell.contains(r#"<a href="/users/chloe">its author @chloe is private</a>"#),
            "{cell}"
        );
        assert!(!cell.contains(&chloe.id.to_string()), "no UUID: {cell}");
        assert!(cell.contains("badge held"), "{cell}");
        let private = demo.request(PRIVATE_MATTER).await;
        assert!(scope_cell(&list.body, "request", private.id).contains(">Private<"));

        // A public comment on a private request stays home.
        let detail = client.get(&format!("/requests/{}", private.id)).await;
        let comment = demo
            .instance
            .store()
            .comments_of(private.id)
            .await
            .expect("comments")
            .remove(0);
        let cell = scope_cell(&detail.body, "comment", comment.id);
        assert!(
            cell.contains(&format!(
                r#"<a href="/requests/{}">its request &quot;{PRIVATE_MATTER}&quot; is private</a>"#,
                private.id
            )),
            "{cell}"
        );
        assert!(detail.body.contains("Sent you a name."));

        // Users and invites carry badges too.
        let users = client.get("/users").await;
        assert!(scope_cell(&users.body, "user", chloe.id).contains(">Private<"));
        let invites = client.get("/invites").await;
        for invite in demo.instance.store().invites().await.expect("invites") {
            scope_cell(&invites.body, "invite", invite.id);
            let code = invite.code.expect("local invites have codes");
            assert!(!invites.body.contains(&code), "codes are never listed");
        }
    }
}

#[actix_web::test]
async fn imported_rows_show_their_origin_and_no_toggle() {
    for demo in demos().await {
        let beta = InstanceName::parse("beta.example").expect("name");
        let now = Timestamp::now();
        let imported = User {
            id: new_id(),
            origin: beta.clone(),
            username: Username::parse("ada").expect("name"),
            display_name: "Ada of Beta".into(),
            bio: "Lives elsewhere.".into(),
            email: None,
            role: Role::Member,
            invited_by: None,
            scope: SyncScope::Public,
            created_at: now,
            updated_at: now,
        };
        demo.instance
            .store()
            .insert_user(&imported)
            .await
            .expect("insert an imported user");
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        client.act_as("ada").await;

        let users = client.get("/users").await;
        let cell = scope_cell(&users.body, "user", imported.id);
        assert!(cell.contains("Imported from beta.example"), "{cell}");
        assert!(
            !cell.contains("<form"),
            "no toggle on an imported row: {cell}"
        );
        let local_ada = demo.user("ada").await;
        assert!(scope_cell(&users.body, "user", local_ada.id).contains("<form"));

        let profile = client.get("/users/ada?origin=beta.example").await;
        assert_eq!(profile.status, StatusCode::OK, "{}", demo.label);
        assert!(profile.body.contains("Ada of Beta"));
        assert!(
            !profile.body.contains("Save profile"),
            "imported profiles are read-only"
        );
        assert!(!scope_cell(&profile.body, "user", imported.id).contains("<form"));

        // Even a forged toggle is refused by the core.
        let csrf = csrf_in(&profile.body);
        let page = client
            .post_and_follow(
                "/scope",
                &[
                    ("csrf", &csrf),
                    ("kind", "user"),
                    ("id", &imported.id.to_string()),
                    ("to", "private"),
                    ("back", "/users"),
                ],
            )
            .await;
        assert!(page.body.contains("imported-read-only"), "{}", page.body);
        let stored = demo
            .instance
            .store()
            .user(imported.id)
            .await
            .expect("read")
            .expect("still there");
        assert_eq!(stored.scope, SyncScope::Public);
    }
}

#[actix_web::test]
async fn the_profile_editor_saves_for_the_user_and_refuses_others() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        client.act_as("dev").await;

        let editor = client.get("/users/dev").await;
        assert!(editor.body.contains(r#"<label for="display_name">"#));
        assert!(editor.body.contains(r#"<label for="bio">"#));
        let csrf = csrf_in(&editor.body);
        let saved = client
            .post_and_follow(
                "/users/dev/profile",
                &[
                    ("csrf", &csrf),
                    ("display_name", "Dev R."),
                    ("bio", "Line one\r\nLine two"),
                ],
            )
            .await;
        assert!(
            saved.body.contains("Profile of dev saved"),
            "{}",
            saved.body
        );
        assert!(saved.body.contains("Dev R."));
        let dev = demo.user("dev").await;
        assert_eq!(dev.display_name, "Dev R.", "{}", demo.label);
        assert_eq!(dev.bio, "Line one\nLine two");

        let ben_before = demo.user("ben").await;
        let refused = client
            .post_and_follow(
                "/users/ben/profile",
                &[("csrf", &csrf), ("display_name", "Not Ben"), ("bio", "")],
            )
            .await;
        assert!(
            refused.body.contains("profile-owner-or-admin"),
            "{}",
            refused.body
        );
        assert_eq!(demo.user("ben").await, ben_before);

        // The scope toggle on the profile page works for the user themself.
        let page = client
            .post_and_follow(
                "/scope",
                &[
                    ("csrf", &csrf),
                    ("kind", "user"),
                    ("id", &dev.id.to_string()),
                    ("to", "private"),
                    ("back", "/users/dev"),
                ],
            )
            .await;
        assert!(scope_cell(&page.body, "user", dev.id).contains(">Private<"));
        assert_eq!(demo.user("dev").await.scope, SyncScope::Private);
    }
}

#[actix_web::test]
async fn creating_an_invite_shows_its_code_once() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        client.act_as("ada").await;
        let before = demo.instance.store().invites().await.expect("invites");

        let form = client.get("/invites").await;
        let csrf = csrf_in(&form.body);
        let created = client.post("/invites", &[("csrf", &csrf)]).await;
        assert_eq!(created.status, StatusCode::OK, "{}", demo.label);
        let after = demo.instance.store().invites().await.expect("invites");
        assert_eq!(after.len(), before.len() + 1);
        let new = after
            .iter()
            .find(|i| !before.iter().any(|b| b.id == i.id))
            .expect("a new invite");
        let code = new.code.clone().expect("a code");
        assert!(created.body.contains(&code), "the code is shown");
        assert_eq!(new.scope, SyncScope::Private, "new rows are private");
        assert_eq!(new.inviter_id, demo.user("ada").await.id);

        let again = client.get("/invites").await;
        assert!(!again.body.contains(&code), "and only once");
        scope_cell(&again.body, "invite", new.id);
    }
}
