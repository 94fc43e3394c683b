//! The lists at a real instance size (issue #15 §1): a 100,000-row instance,
//! and how long a list page takes to render on the server and how much it
//! weighs. Prints the figures; asserts only what must hold at any speed (a
//! page of at most 50 rows and 200 KB, every page answered). The test suite
//! runs it at 1/50 of that size; the full size is one variable away:
//!
//! ```text
//! WB_ADMIN_SCALE=1 cargo test -p wb-admin --release --test admin_ui -- --nocapture scale
//! ```

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use wb_admin::{AdminState, app};
use wb_engine::Instance;
use wb_model::{
    Comment, InstanceName, Request, RequestStatus, Role, SyncScope, Timestamp, User, Username,
    new_id,
};
use wb_store::Batch;
use wb_store::testing::TestDb;

use crate::common::{Client, LOCAL};

/// The instance is 100,000 rows divided by `WB_ADMIN_SCALE` (default 50).
fn divisor() -> usize {
    std::env::var("WB_ADMIN_SCALE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&d| d > 0)
        .unwrap_or(50)
}

fn n_users() -> usize {
    2_000 / divisor()
}

fn n_requests() -> usize {
    60_000 / divisor()
}

fn n_comments() -> usize {
    38_000 / divisor()
}

async fn big_instance(db: &TestDb) -> Instance {
    let local = InstanceName::parse(LOCAL).expect("name");
    let instance = Instance::init(db.store.clone(), local.clone())
        .await
        .expect("init");
    let now = Timestamp::now();
    let scope = |i: usize, every: usize| {
        if i.is_multiple_of(every) {
            SyncScope::Private
        } else {
            SyncScope::Public
        }
    };
    let users: Vec<User> = (0..n_users())
        .map(|i| User {
            id: new_id(),
            origin: local.clone(),
            username: Username::parse(&format!("member{i:05}")).expect("username"),
            display_name: format!("Member {i}"),
            bio: String::new(),
            email: None,
            role: if i == 0 { Role::Admin } else { Role::Member },
            invited_by: None,
            // One member in ten is private: their public requests are held back.
            scope: scope(i, 10),
            created_at: now,
            updated_at: now,
        })
        .collect();
    let requests: Vec<Request> = (0..n_requests())
        .map(|i| Request {
            id: new_id(),
            origin: local.clone(),
            author_id: users[i % n_users()].id,
            title: format!("Request number {i} for a thing to borrow"),
            body: "Some words about it.\nAnd a second line.".into(),
            status: RequestStatus::Open,
            scope: scope(i, 3),
            created_at: now,
            updated_at: now,
        })
        .collect();
    let comments: Vec<Comment> = (0..n_comments())
        .map(|i| Comment {
            id: new_id(),
            origin: local.clone(),
            request_id: requests[(i * 7) % n_requests()].id,
            author_id: users[(i * 3) % n_users()].id,
            body: format!("Comment {i}: I can help."),
            scope: scope(i, 4),
            created_at: now,
            updated_at: now,
        })
        .collect();
    for chunk in users.chunks(5_000) {
        let batch = Batch {
            users: chunk.to_vec(),
            ..Batch::default()
        };
        db.store.insert_batch(&batch).await.expect("users");
    }
    for chunk in requests.chunks(5_000) {
        let batch = Batch {
            requests: chunk.to_vec(),
            ..Batch::default()
        };
        db.store.insert_batch(&batch).await.expect("requests");
    }
    for chunk in comments.chunks(5_000) {
        let batch = Batch {
            comments: chunk.to_vec(),
            ..Batch::default()
        };
        db.store.insert_batch(&batch).await.expect("comments");
    }
    instance
}

#[actix_web::test]
async fn scale_list_pages_of_a_large_instance() {
    for db in TestDb::all().await {
        let started = Instant::now();
        let instance = big_instance(&db).await;
        let state_instance = instance.clone();
        println!(
            "{:?}: {} rows loaded in {:.1} s",
            db.backend,
            n_users() + n_requests() + n_comments(),
            started.elapsed().as_secs_f64()
        );
        let state = AdminState::new(state_instance).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        let middle = client.get("/requests").await;
        let next = middle
            .body
            .split(r#"rel="next" href=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a next link")
            .replace("&amp;", "&");
        // The request the first comments were made on: its page lists its
        // comments, a page at a time.
        let commented = instance
            .list_comments(&wb_engine::listing::ListQuery::default())
            .await
            .expect("comments")
            .rows[0]
            .row
            .request_id;
        let request_page = format!("/requests/{commented}");
        for path in [
            "/requests",
            next.as_str(),
            "/requests?effective=held",
            "/requests?effective=shared",
            "/requests?own=private",
            "/requests?origin=local",
            "/requests?q=number%2012",
            "/requests?own=public&effective=shared&q=number%201",
            "/comments",
            "/comments?effective=held",
            "/comments?effective=held&q=comment%2017",
            "/users?q=member01",
            request_page.as_str(),
            "/status",
        ] {
            // Best of three: the figure is the server's work, not a cold cache.
            let mut best = f64::MAX;
            let mut reply = None;
            for _ in 0..3 {
                let t = Instant::now();
                let r = client.get(path).await;
                best = best.min(t.elapsed().as_secs_f64() * 1000.0);
                reply = Some(r);
            }
            let reply = reply.expect("a reply");
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            let rows = reply
                .body
                .matches(r#"<div class="scope" id="scope-"#)
                .count();
            assert!(
                rows <= 51,
                "{path}: {rows} rows (a request and 50 comments at most)"
            );
            assert!(
                reply.body.len() <= 200 * 1024,
                "{path}: {} bytes",
                reply.body.len()
            );
            let count = reply
                .body
                .split(r#"<span id="list-count">"#)
                .nth(1)
                .and_then(|rest| rest.split('<').next())
                .unwrap_or_default()
                .to_owned();
            println!(
                "{:?} {path}: {best:.1} ms, {:.1} KB, {rows} rows ({count})",
                db.backend,
                reply.body.len() as f64 / 1024.0
            );
        }
    }
}
