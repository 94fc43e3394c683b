//! List pages: keyset paging and the four filters, on SQLite and (with
//! `WB_TEST_POSTGRES_URL`) Postgres.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use wb_model::{
    Comment, InstanceName, Invite, InviteStatus, Request, RequestStatus, Role, SyncScope,
    Timestamp, User, Username, Uuid, Vouch, new_id,
};
use wb_store::testing::TestDb;
use wb_store::{Batch, Cursor, Exported, ListFilter, ListPage, Store};

fn alpha() -> InstanceName {
    InstanceName::parse("alpha.example").unwrap()
}

fn beta() -> InstanceName {
    InstanceName::parse("beta.example").unwrap()
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000 + seconds * 1_000_000).unwrap()
}

fn user(name: &str, origin: InstanceName, scope: SyncScope) -> User {
    User {
        id: new_id(),
        origin,
        username: Username::parse(name).unwrap(),
        display_name: format!("{name} display"),
        bio: String::new(),
        email: None,
        role: Role::Member,
        invited_by: None,
        scope,
        created_at: at(1),
        updated_at: at(1),
    }
}

fn request(author: &User, title: &str, scope: SyncScope) -> Request {
    Request {
        id: new_id(),
        origin: author.origin.clone(),
        author_id: author.id,
        title: title.into(),
        body: String::new(),
        status: RequestStatus::Open,
        scope,
        created_at: at(2),
        updated_at: at(2),
    }
}

fn comment(request: &Request, author: &User, body: &str, scope: SyncScope) -> Comment {
    Comment {
        id: new_id(),
        origin: author.origin.clone(),
        request_id: request.id,
        author_id: author.id,
        body: body.into(),
        scope,
        created_at: at(3),
        updated_at: at(3),
    }
}

fn ids<T>(page: &ListPage<T>, id: fn(&T) -> Uuid) -> Vec<Uuid> {
    page.rows.iter().map(id).collect()
}

/// 120 public requests by a public local author: three pages of 50, 50, 20.
#[tokio::test]
async fn pages_walk_forward_and_back_by_key() {
    for db in TestDb::all().await {
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Public);
        let requests: Vec<Request> = (0..120)
            .map(|i| request(&ada, &format!("Request {i:03}"), SyncScope::Public))
            .collect();
        let mut all: Vec<Uuid> = requests.iter().map(|r| r.id).collect();
        all.sort();
        store
            .insert_batch(&Batch {
                users: vec![ada],
                requests,
                ..Batch::default()
            })
            .await
            .unwrap();
        let none = ListFilter::default();
        let first = store
            .list_requests(&alpha(), &none, Cursor::First, 50)
            .await
            .unwrap();
        assert_eq!(first.total, 120, "{:?}", db.backend);
        assert_eq!(ids(&first, |r| r.id), all[..50]);
        assert!(first.has_next && !first.has_previous);

        let second = store
            .list_requests(&alpha(), &none, Cursor::After(all[49]), 50)
            .await
            .unwrap();
        assert_eq!(ids(&second, |r| r.id), all[50..100]);
        assert!(second.has_next && second.has_previous);
        assert_eq!(second.total, 120);

        let third = store
            .list_requests(&alpha(), &none, Cursor::After(all[99]), 50)
            .await
            .unwrap();
        assert_eq!(ids(&third, |r| r.id), all[100..]);
        assert!(!third.has_next && third.has_previous);

        let back = store
            .list_requests(&alpha(), &none, Cursor::Before(all[100]), 50)
            .await
            .unwrap();
        assert_eq!(
            ids(&back, |r| r.id),
            all[50..100],
            "previous = the page before"
        );
        assert!(back.has_next && back.has_previous);
        let back = store
            .list_requests(&alpha(), &none, Cursor::Before(all[50]), 50)
            .await
            .unwrap();
        assert_eq!(ids(&back, |r| r.id), all[..50]);
        assert!(back.has_next && !back.has_previous);

        let past_the_end = store
            .list_requests(&alpha(), &none, Cursor::After(all[119]), 50)
            .await
            .unwrap();
        assert!(past_the_end.rows.is_empty());
        assert!(!past_the_end.has_next && past_the_end.has_previous);
        assert_eq!(past_the_end.total, 120);

        let huge = store
            .list_requests(&alpha(), &none, Cursor::First, 100_000)
            .await
            .unwrap();
        assert_eq!(huge.rows.len(), 120, "clamped to the maximum, 500");
    }
}

/// A small instance with one row of every situation the filters tell apart.
struct Mixed {
    ada: User,
    hidden: User,
    bea: User,
    shared: Request,
    held: Request,
    private: Request,
    imported: Request,
    held_comment: Comment,
    shared_comment: Comment,
    percent_comment: Comment,
}

async fn mixed(store: &Store) -> Mixed {
    let ada = user("ada", alpha(), SyncScope::Public);
    let hidden = user("hidden", alpha(), SyncScope::Private);
    let bea = user("bea", beta(), SyncScope::Public);
    let shared = request(&ada, "Borrow a ladder", SyncScope::Public);
    let held = request(&hidden, "Lend a drill", SyncScope::Public);
    let private = request(&ada, "A private LADDER", SyncScope::Private);
    let imported = request(&bea, "Seeds to swap", SyncScope::Public);
    // On an exported request by a public author: shared.
    let shared_comment = comment(&shared, &ada, "I have one", SyncScope::Public);
    // On a held-back request: held back, though its author is public.
    let held_comment = comment(&held, &ada, "Me too", SyncScope::Public);
    // Local comment on an imported request: shared; a LIKE wildcard in it.
    let percent_comment = comment(&imported, &ada, "100% yes_please", SyncScope::Public);
    let invite = Invite {
        id: new_id(),
        origin: alpha(),
        inviter_id: hidden.id,
        invitee_id: None,
        status: InviteStatus::Pending,
        code: Some(format!("code-{}", new_id().simple())),
        scope: SyncScope::Public,
        created_at: at(4),
        updated_at: at(4),
    };
    let vouch = Vouch {
        id: new_id(),
        origin: alpha(),
        voucher_id: ada.id,
        subject_id: hidden.id,
        signature: "c2ln".into(),
        scope: SyncScope::Public,
        created_at: at(5),
        updated_at: at(5),
    };
    store
        .insert_batch(&Batch {
            users: vec![ada.clone(), hidden.clone(), bea.clone()],
            requests: vec![
                shared.clone(),
                held.clone(),
                private.clone(),
                imported.clone(),
            ],
            comments: vec![
                shared_comment.clone(),
                held_comment.clone(),
                percent_comment.clone(),
            ],
            invites: vec![invite],
            vouches: vec![vouch],
        })
        .await
        .unwrap();
    Mixed {
        ada,
        hidden,
        bea,
        shared,
        held,
        private,
        imported,
        held_comment,
        shared_comment,
        percent_comment,
    }
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

#[tokio::test]
async fn filters_by_own_scope_effective_scope_origin_and_text() {
    for db in TestDb::all().await {
        let store = &db.store;
        let m = mixed(store).await;
        let requests = |filter: ListFilter| async move {
            let page = store
                .list_requests(&alpha(), &filter, Cursor::First, 50)
                .await
                .unwrap();
            assert_eq!(page.total as usize, page.rows.len());
            sorted(ids(&page, |r| r.id))
        };
        assert_eq!(
            requests(ListFilter::default()).await,
            sorted(vec![m.shared.id, m.held.id, m.private.id, m.imported.id])
        );
        assert_eq!(
            requests(ListFilter {
                own: Some(SyncScope::Private),
                ..ListFilter::default()
            })
            .await,
            vec![m.private.id]
        );
        assert_eq!(
            requests(ListFilter {
                exported: Some(Exported::HeldBack),
                ..ListFilter::default()
            })
            .await,
            vec![m.held.id],
            "{:?}",
            db.backend
        );
        assert_eq!(
            requests(ListFilter {
                exported: Some(Exported::Shared),
                ..ListFilter::default()
            })
            .await,
            sorted(vec![m.shared.id, m.imported.id]),
            "imported public rows are shared; held and private ones are not"
        );
        assert_eq!(
            requests(ListFilter {
                origin: Some(beta()),
                ..ListFilter::default()
            })
            .await,
            vec![m.imported.id]
        );
        assert_eq!(
            requests(ListFilter {
                text: Some("LADder".into()),
                ..ListFilter::default()
            })
            .await,
            sorted(vec![m.shared.id, m.private.id]),
            "title, ignoring case"
        );
        assert_eq!(
            requests(ListFilter {
                text: Some("hidd".into()),
                ..ListFilter::default()
            })
            .await,
            vec![m.held.id],
            "the author's username"
        );
        assert_eq!(
            requests(ListFilter {
                text: Some("ladder".into()),
                own: Some(SyncScope::Public),
                origin: Some(alpha()),
                exported: Some(Exported::Shared),
            })
            .await,
            vec![m.shared.id],
            "filters combine"
        );
        assert_eq!(
            requests(ListFilter {
                text: Some("   ".into()),
                ..ListFilter::default()
            })
            .await
            .len(),
            4,
            "blank text filters nothing"
        );

        let comments = |filter: ListFilter| async move {
            let page = store
                .list_comments(&alpha(), &filter, Cursor::First, 50)
                .await
                .unwrap();
            sorted(ids(&page, |c| c.id))
        };
        assert_eq!(
            comments(ListFilter {
                exported: Some(Exported::HeldBack),
                ..ListFilter::default()
            })
            .await,
            vec![m.held_comment.id],
            "held back by its request, two levels down"
        );
        assert_eq!(
            comments(ListFilter {
                exported: Some(Exported::Shared),
                ..ListFilter::default()
            })
            .await,
            sorted(vec![m.shared_comment.id, m.percent_comment.id])
        );
        assert_eq!(
            comments(ListFilter {
                text: Some("%".into()),
                ..ListFilter::default()
            })
            .await,
            vec![m.percent_comment.id],
            "% is a character, not a wildcard"
        );
        assert_eq!(
            comments(ListFilter {
                text: Some("ye_".into()),
                ..ListFilter::default()
            })
            .await,
            Vec::<Uuid>::new(),
            "_ is a character, not a wildcard"
        );

        let users = store
            .list_users(
                &alpha(),
                &ListFilter {
                    own: Some(SyncScope::Public),
                    ..ListFilter::default()
                },
                Cursor::First,
                50,
            )
            .await
            .unwrap();
        assert_eq!(
            sorted(ids(&users, |u| u.id)),
            sorted(vec![m.ada.id, m.bea.id])
        );
        let held_users = store
            .list_users(
                &alpha(),
                &ListFilter {
                    exported: Some(Exported::HeldBack),
                    ..ListFilter::default()
                },
                Cursor::First,
                50,
            )
            .await
            .unwrap();
        assert_eq!(held_users.total, 0, "users reference nothing");
        let by_display = store
            .list_users(
                &alpha(),
                &ListFilter {
                    text: Some("BEA DISP".into()),
                    ..ListFilter::default()
                },
                Cursor::First,
                50,
            )
            .await
            .unwrap();
        assert_eq!(ids(&by_display, |u| u.id), vec![m.bea.id]);

        let held_invites = store
            .list_invites(
                &alpha(),
                &ListFilter {
                    exported: Some(Exported::HeldBack),
                    text: Some("hidden".into()),
                    ..ListFilter::default()
                },
                Cursor::First,
                50,
            )
            .await
            .unwrap();
        assert_eq!(held_invites.total, 1, "its inviter is private");
        let held_vouches = store
            .list_vouches(
                &alpha(),
                &ListFilter {
                    exported: Some(Exported::HeldBack),
                    ..ListFilter::default()
                },
                Cursor::First,
                50,
            )
            .await
            .unwrap();
        assert_eq!(held_vouches.total, 1, "its subject is private");
        assert_eq!(
            store
                .list_vouches(
                    &alpha(),
                    &ListFilter {
                        exported: Some(Exported::Shared),
                        ..ListFilter::default()
                    },
                    Cursor::First,
                    50
                )
                .await
                .unwrap()
                .total,
            0
        );

        let counts = store
            .comment_counts(&[m.shared.id, m.held.id, m.private.id, m.imported.id])
            .await
            .unwrap();
        let mut counts: Vec<(Uuid, u64)> = counts;
        counts.sort();
        assert_eq!(
            counts,
            sorted(vec![m.shared.id, m.held.id, m.imported.id])
                .into_iter()
                .map(|id| (id, 1))
                .collect::<Vec<_>>()
        );
        let _ = (&m.hidden, &m.bea);
    }
}
