//! What lists at a real size need: one statement per combination of
//! filters (no `IS NULL OR` left for the planner to guess at), counts that
//! stop at the cap, a page that starts at a given row, a request's comments
//! a page at a time, and the records of the last push and pull — on SQLite
//! and (with `WB_TEST_POSTGRES_URL`) Postgres.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use wb_model::{
    Comment, EntityKind, InstanceName, Request, RequestStatus, Role, SyncScope, Timestamp, User,
    Username, Uuid, new_id,
};
use wb_store::testing::TestDb;
use wb_store::{Batch, COUNT_CAP, Cursor, Exported, ListFilter, SyncRun, SyncRunKind};

fn alpha() -> InstanceName {
    InstanceName::parse("alpha.example").unwrap()
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000 + seconds * 1_000_000).unwrap()
}

fn user(name: &str) -> User {
    User {
        id: new_id(),
        origin: alpha(),
        username: Username::parse(name).unwrap(),
        display_name: String::new(),
        bio: String::new(),
        email: None,
        role: Role::Member,
        invited_by: None,
        scope: SyncScope::Public,
        created_at: at(1),
        updated_at: at(1),
    }
}

fn request(author: &User) -> Request {
    Request {
        id: new_id(),
        origin: alpha(),
        author_id: author.id,
        title: "A ladder".into(),
        body: String::new(),
        status: RequestStatus::Open,
        scope: SyncScope::Public,
        created_at: at(2),
        updated_at: at(2),
    }
}

fn comment(request: &Request, author: &User, i: usize) -> Comment {
    Comment {
        id: new_id(),
        origin: alpha(),
        request_id: request.id,
        author_id: author.id,
        body: format!("Comment {i}"),
        scope: SyncScope::Public,
        created_at: at(3),
        updated_at: at(3),
    }
}

#[tokio::test]
async fn each_combination_of_filters_is_its_own_plain_statement() {
    for db in TestDb::all().await {
        let store = &db.store;
        let none = ListFilter::default();
        let all = ListFilter {
            own: Some(SyncScope::Public),
            exported: Some(Exported::HeldBack),
            origin: Some(alpha()),
            text: Some("ladder".into()),
        };
        for &kind in EntityKind::ALL {
            let bare = store.list_statements(kind, &alpha(), &none);
            for statement in &bare {
                assert!(!statement.contains("WHERE ("), "{kind}: {statement}");
                assert!(!statement.contains("IS NULL"), "{kind}: {statement}");
            }
            let every = store.list_statements(kind, &alpha(), &all);
            println!(
                "{:?} {kind}, every filter:\n  {}",
                db.backend,
                every.join("\n  ")
            );
            for statement in &every {
                assert!(!statement.contains("IS NULL"), "{kind}: {statement}");
                assert!(
                    statement.contains("t.sync_scope = $1"),
                    "{kind}: {statement}"
                );
                assert!(statement.contains("t.origin = $2"), "{kind}: {statement}");
                assert!(statement.contains("LIKE $4"), "{kind}: {statement}");
            }
            assert!(every[0].ends_with(&format!("LIMIT {}", wb_store::DEFAULT_PAGE_SIZE + 1)));
            assert!(every[1].contains(&format!("LIMIT {}", COUNT_CAP + 1)));
        }
    }
}

#[tokio::test]
async fn counts_stop_at_the_cap_and_say_so() {
    for db in TestDb::all().await {
        let store = &db.store;
        let ada = user("ada");
        let ladder = request(&ada);
        let n = usize::try_from(COUNT_CAP).unwrap() + 5;
        let comments: Vec<Comment> = (0..n).map(|i| comment(&ladder, &ada, i)).collect();
        store
            .insert_batch(&Batch {
                users: vec![ada.clone()],
                requests: vec![ladder.clone()],
                comments,
                ..Batch::default()
            })
            .await
            .unwrap();
        let page = store
            .list_comments(&alpha(), &ListFilter::default(), Cursor::First, 50)
            .await
            .unwrap();
        assert_eq!(page.total, COUNT_CAP, "{:?}", db.backend);
        assert!(page.total_capped);
        assert_eq!(page.rows.len(), 50);
        let few = ListFilter {
            text: Some("comment 100".into()),
            ..ListFilter::default()
        };
        let page = store
            .list_comments(&alpha(), &few, Cursor::First, 50)
            .await
            .unwrap();
        // "Comment 100" and "Comment 1000" ..= "Comment 1004".
        assert_eq!((page.total, page.total_capped), (6, false));
    }
}

#[tokio::test]
async fn a_requests_comments_page_and_a_page_starts_at_a_row() {
    for db in TestDb::all().await {
        let store = &db.store;
        let ada = user("ada");
        let ladder = request(&ada);
        let other = request(&ada);
        let mut comments: Vec<Comment> = (0..120).map(|i| comment(&ladder, &ada, i)).collect();
        comments.push(comment(&other, &ada, 999));
        let mut ids: Vec<Uuid> = comments[..120].iter().map(|c| c.id).collect();
        ids.sort();
        store
            .insert_batch(&Batch {
                users: vec![ada.clone()],
                requests: vec![ladder.clone(), other.clone()],
                comments,
                ..Batch::default()
            })
            .await
            .unwrap();
        let first = store
            .list_comments_of(ladder.id, Cursor::First, 50)
            .await
            .unwrap();
        assert_eq!(first.total, 120, "{:?}", db.backend);
        let got: Vec<Uuid> = first.rows.iter().map(|c| c.id).collect();
        assert_eq!(got, ids[..50]);
        assert!(first.has_next && !first.has_previous);
        let last = store
            .list_comments_of(ladder.id, Cursor::After(ids[99]), 50)
            .await
            .unwrap();
        assert_eq!(last.rows.len(), 20);
        assert!(!last.has_next && last.has_previous);
        let from = store
            .list_comments_of(ladder.id, Cursor::At(ids[70]), 50)
            .await
            .unwrap();
        let got: Vec<Uuid> = from.rows.iter().map(|c| c.id).collect();
        assert_eq!(got, ids[70..120], "the page starts at the row itself");
        assert!(!from.has_next && from.has_previous);
        let other_page = store
            .list_comments_of(other.id, Cursor::First, 50)
            .await
            .unwrap();
        assert_eq!(other_page.total, 1);
    }
}

#[tokio::test]
async fn the_last_push_and_pull_are_recorded_one_of_each() {
    for db in TestDb::all().await {
        let store = &db.store;
        assert_eq!(store.last_sync_run(SyncRunKind::Push).await.unwrap(), None);
        let push = SyncRun {
            kind: SyncRunKind::Push,
            at: at(10),
            sequence: Some(4),
            ok: true,
            summary: "pushed sequence 4".into(),
        };
        store.record_sync_run(&push).await.unwrap();
        let failed = SyncRun {
            kind: SyncRunKind::Pull,
            at: at(11),
            sequence: None,
            ok: false,
            summary: "beta.example: hub unreachable".into(),
        };
        store.record_sync_run(&failed).await.unwrap();
        let later = SyncRun {
            at: at(12),
            sequence: Some(5),
            ..push.clone()
        };
        store.record_sync_run(&later).await.unwrap();
        assert_eq!(
            store.last_sync_run(SyncRunKind::Push).await.unwrap(),
            Some(later),
            "{:?}",
            db.backend
        );
        assert_eq!(
            store.last_sync_run(SyncRunKind::Pull).await.unwrap(),
            Some(failed)
        );
    }
}
