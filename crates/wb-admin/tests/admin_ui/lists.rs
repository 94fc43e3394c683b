//! HTTP-level tests of the lists at scale (issue #15): paging, filters,
//! toggles that come back to the filtered page, the comments and vouches
//! pages, and adding a member on a fresh instance.

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use wb_admin::{AdminState, app};
use wb_engine::Instance;
use wb_model::{InstanceName, SyncScope, Timestamp, Vouch, new_id};
use wb_store::testing::TestDb;

use crate::common::{Client, LOCAL, csrf_in, demos, scope_cell};

const SEWING: &str = "Sewing machine for a day";

/// The `href` of the link with `rel` on a page, unescaped.
fn link(body: &str, rel: &str) -> Option<String> {
    let marker = format!(r#"rel="{rel}" href=""#);
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].replace("&amp;", "&"))
}

fn rows_shown(body: &str) -> usize {
    body.matches(r#"<div class="scope" id="scope-"#).count()
}

#[actix_web::test]
async fn lists_are_paged_by_key_with_a_count_and_neighbour_links() {
    for demo in demos().await {
        for i in 0..120 {
            demo.instance
                .add_request("ada", &format!("Spare item {i:03}"), "")
                .await
                .expect("add a request");
        }
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;

        let first = client.get("/requests").await;
        assert_eq!(first.status, StatusCode::OK);
        assert!(
            first.body.contains("124 requests match; 50 shown."),
            "{}",
            demo.label
        );
        assert_eq!(rows_shown(&first.body), 50);
        assert!(link(&first.body, "prev").is_none());
        let next = link(&first.body, "next").expect("a next link");
        assert!(next.starts_with("/requests?after="), "{next}");

        let second = client.get(&next).await;
        assert_eq!(rows_shown(&second.body), 50);
        let third = client.get(&link(&second.body, "next").expect("next")).await;
        assert!(third.body.contains("124 requests match; 24 shown."));
        assert!(link(&third.body, "next").is_none(), "the last page");
        let back = client.get(&link(&third.body, "prev").expect("prev")).await;
        assert_eq!(
            back.body.matches("Spare item").count(),
            second.body.matches("Spare item").count()
        );
        assert!(back.body.contains("50 shown."));

        // Filters ride along in the paging links.
        let filtered = client.get("/requests?q=spare&own=private").await;
        assert!(
            filtered.body.contains("120 requests match; 50 shown."),
            "{}",
            filtered.body
        );
        let next = link(&filtered.body, "next").expect("next");
        assert!(
            next.contains("own=private") && next.contains("q=spare"),
            "{next}"
        );
        let page = client.get(&next).await;
        assert!(page.body.contains("120 requests match; 50 shown."));
        assert!(
            !page.body.contains("Sewing machine"),
            "the filter still applies"
        );
    }
}

#[actix_web::test]
async fn filters_by_scope_origin_and_text_and_refuse_nonsense() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;

        let held = client.get("/requests?effective=held").await;
        assert!(held.body.contains("1 request matches"), "{}", held.body);
        assert!(held.body.contains(SEWING));
        let shared = client.get("/requests?effective=shared").await;
        assert!(!shared.body.contains(SEWING));
        assert!(shared.body.contains("Borrow a 2 m ladder"));
        let private = client.get("/requests?own=private").await;
        assert!(private.body.contains("Looking for a lawyer"));
        assert!(!private.body.contains(SEWING));
        let local = client.get("/requests?origin=local").await;
        assert!(local.body.contains("4 requests match"), "{}", local.body);
        let elsewhere = client.get("/requests?origin=beta.example").await;
        assert!(elsewhere.body.contains("0 requests match"));
        let by_author = client.get("/requests?q=CHLOE").await;
        assert!(by_author.body.contains(SEWING) && by_author.body.contains("1 request matches"));
        let users = client.get("/users?own=private").await;
        assert!(users.body.contains("1 user matches"), "chloe only");
        // The chosen filters show in the form.
        assert!(
            held.body.contains(r#"<option value="held" selected>"#),
            "{}",
            held.body
        );

        for bad in [
            "/requests?own=secret",
            "/requests?effective=maybe",
            "/requests?origin=Not%20A%20Name",
            "/requests?after=not-a-uuid",
        ] {
            assert_eq!(
                client.get(bad).await.status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }
}

#[actix_web::test]
async fn a_toggle_on_a_filtered_page_comes_back_to_it() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        client.act_as("chloe").await;

        let view = "/requests?effective=held&q=sewing";
        let page = client.get(view).await;
        let sewing = demo.request(SEWING).await;
        let cell = scope_cell(&page.body, "request", sewing.id);
        assert!(
            cell.contains(r#"name="back" value="/requests?effective=held&amp;q=sewing""#),
            "{cell}"
        );
        let posted = client
            .post(
                "/scope",
                &[
                    ("csrf", &csrf_in(&page.body)),
                    ("kind", "request"),
                    ("id", &sewing.id.to_string()),
                    ("to", "private"),
                    ("back", view),
                ],
            )
            .await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER);
        assert_eq!(posted.location.as_deref(), Some(view));
        let after = client.get(view).await;
        assert!(after.body.contains("is now private"), "{}", after.body);
        assert!(
            after.body.contains("0 requests match"),
            "no longer held back"
        );
        assert_eq!(demo.request_scope(SEWING).await, SyncScope::Private);
    }
}

#[actix_web::test]
async fn comments_and_vouches_have_pages_with_badges_and_toggles() {
    for demo in demos().await {
        let ada = demo.user("ada").await;
        let chloe = demo.user("chloe").await;
        let now = Timestamp::now();
        let vouch = Vouch {
            id: new_id(),
            origin: demo.instance.name().clone(),
            voucher_id: ada.id,
            subject_id: chloe.id,
            signature: "c2ln".into(),
            scope: SyncScope::Public,
            created_at: now,
            updated_at: now,
        };
        demo.instance
            .store()
            .insert_vouch(&vouch)
            .await
            .expect("a vouch");
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;

        let comments = client.get("/comments").await;
        assert_eq!(comments.status, StatusCode::OK);
        assert!(comments.body.contains("<h1>Comments</h1>"));
        for comment in demo.instance.store().comments().await.expect("comments") {
            let cell = scope_cell(&comments.body, "comment", comment.id);
            assert!(cell.contains("badge"), "{cell}");
            assert!(
                cell.contains(r#"action="/scope""#),
                "local rows have a toggle"
            );
        }
        let held = client.get("/comments?effective=held").await;
        assert!(
            held.body.contains("its request &quot;Looking for a lawyer"),
            "{}",
            held.body
        );

        let vouches = client.get("/vouches").await;
        let cell = scope_cell(&vouches.body, "vouch", vouch.id);
        assert!(
            cell.contains(r#"<a href="/users/chloe">its subject @chloe is private</a>"#),
            "{cell}"
        );
        assert!(cell.contains("Make private"), "{cell}");
        client.act_as("ada").await;
        let after = client
            .post_and_follow(
                "/scope",
                &[
                    ("csrf", &csrf_in(&vouches.body)),
                    ("kind", "vouch"),
                    ("id", &vouch.id.to_string()),
                    ("to", "private"),
                    ("back", "/vouches"),
                ],
            )
            .await;
        assert!(after.body.contains("is now private"), "{}", after.body);
        let stored = demo
            .instance
            .store()
            .vouch(vouch.id)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(stored.scope, SyncScope::Private);
    }
}

#[actix_web::test]
async fn a_fresh_instance_gets_its_first_member_from_the_ui() {
    for db in TestDb::all().await {
        let instance = Instance::init(db.store.clone(), InstanceName::parse(LOCAL).expect("name"))
            .await
            .expect("init");
        let state = AdminState::new(instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;

        let users = client.get("/users").await;
        assert!(users.body.contains("(no members yet: add one on Users)"));
        let csrf = csrf_in(&users.body);

        // Without the CSRF token: refused, nothing added.
        let forged = client.post("/users", &[("username", "zed")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert_eq!(instance.store().users().await.expect("users").len(), 0);

        let refused = client
            .post_and_follow(
                "/users",
                &[
                    ("csrf", &csrf),
                    ("username", "Not Valid"),
                    ("back", "/users"),
                ],
            )
            .await;
        assert!(refused.body.contains("Not added: "), "{}", refused.body);
        assert!(refused.body.contains(r#"role="alert""#));
        assert_eq!(instance.store().users().await.expect("users").len(), 0);

        let added = client
            .post_and_follow(
                "/users",
                &[("csrf", &csrf), ("username", "zed"), ("back", "/users")],
            )
            .await;
        assert!(added.body.contains("Member zed added"), "{}", added.body);
        assert!(
            added
                .body
                .contains(r#"<option value="zed">zed (member)</option>"#),
            "{}",
            added.body
        );
        let zed = instance.local_user("zed").await.expect("zed exists");
        assert_eq!(zed.scope, SyncScope::Private, "new rows are private");

        let again = client
            .post_and_follow(
                "/users",
                &[("csrf", &csrf), ("username", "zed"), ("back", "/users")],
            )
            .await;
        assert!(again.body.contains("Not added: "), "{}", again.body);
        assert_eq!(instance.store().users().await.expect("users").len(), 1);
    }
}
