//! `Store::scan_*`: every row of a table, handed over as the database packs
//! them (JSON objects, chunk by chunk), must be exactly the row the ordinary
//! reads return — awkward text, absent optional columns and tables larger
//! than one chunk included. Every scenario runs on SQLite and, when
//! `WB_TEST_POSTGRES_URL` is set, on Postgres.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use wb_model::{
    Comment, InstanceName, Invite, InviteStatus, Request, RequestStatus, Role, SyncScope,
    Timestamp, User, Username, Vouch, new_id,
};
use wb_store::testing::TestDb;
use wb_store::{Batch, Store};

/// Text a packing format could get wrong: quotes, backslashes, newlines,
/// tabs, control characters, non-ASCII, and JSON look-alikes.
const AWKWARD: &str =
    "a \"quoted\" \\ back\\slash\nnew line\ttab \u{1} ctrl é 日本 🚲 {\"x\": [1]}";

fn at(n: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000 + n).unwrap()
}

fn user(n: usize, origin: &InstanceName, email: Option<String>) -> User {
    User {
        id: new_id(),
        origin: origin.clone(),
        username: Username::parse(&format!("user{n}")).unwrap(),
        display_name: format!("{AWKWARD} {n}"),
        bio: if n.is_multiple_of(2) {
            String::new()
        } else {
            AWKWARD.to_owned()
        },
        email,
        role: Role::Member,
        invited_by: None,
        scope: if n.is_multiple_of(3) {
            SyncScope::Private
        } else {
            SyncScope::Public
        },
        created_at: at(i64::try_from(n).unwrap()),
        updated_at: at(i64::try_from(n).unwrap() + 1),
    }
}

/// `rows` sorted by `key`.
fn sorted<T>(mut rows: Vec<T>, key: fn(&T) -> wb_model::Uuid) -> Vec<T> {
    rows.sort_by_key(key);
    rows
}

/// Scans every table of `store` into vectors, sorted by id.
async fn scanned(
    store: &Store,
) -> (
    Vec<User>,
    Vec<Request>,
    Vec<Comment>,
    Vec<Invite>,
    Vec<Vouch>,
) {
    let (mut users, mut requests, mut comments, mut invites, mut vouches) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    store
        .scan_users(&mut |r| {
            users.push(r);
            true
        })
        .await
        .unwrap();
    store
        .scan_requests(&mut |r| {
            requests.push(r);
            true
        })
        .await
        .unwrap();
    store
        .scan_comments(&mut |r| {
            comments.push(r);
            true
        })
        .await
        .unwrap();
    store
        .scan_invites(&mut |r| {
            invites.push(r);
            true
        })
        .await
        .unwrap();
    store
        .scan_vouches(&mut |r| {
            vouches.push(r);
            true
        })
        .await
        .unwrap();
    users.sort_by_key(|r| r.id);
    requests.sort_by_key(|r| r.id);
    comments.sort_by_key(|r| r.id);
    invites.sort_by_key(|r| r.id);
    vouches.sort_by_key(|r| r.id);
    (users, requests, comments, invites, vouches)
}

#[tokio::test]
async fn scans_return_exactly_the_rows_the_reads_return() {
    for db in TestDb::all().await {
        let store = &db.store;
        let alpha = InstanceName::parse("alpha.example").unwrap();
        let beta = InstanceName::parse("beta.example").unwrap();
        store.set_instance_name(&alpha).await.unwrap();
        // More users than four chunks of a scan (500), of two origins, with
        // and without the optional columns.
        let users: Vec<User> = (0..2105_usize)
            .map(|n| {
                let origin = if n.is_multiple_of(5) { &beta } else { &alpha };
                user(
                    n,
                    origin,
                    n.is_multiple_of(4).then(|| format!("u{n}@example.org")),
                )
            })
            .collect();
        let requests: Vec<Request> = users[..40]
            .iter()
            .enumerate()
            .map(|(n, author)| Request {
                id: new_id(),
                origin: author.origin.clone(),
                author_id: author.id,
                title: format!("{AWKWARD} title {n}"),
                body: AWKWARD.repeat(n % 3 + 1),
                status: RequestStatus::Open,
                scope: SyncScope::Public,
                created_at: at(10),
                updated_at: at(11),
            })
            .collect();
        let comments: Vec<Comment> = requests
            .iter()
            .zip(&users[1..])
            .map(|(request, author)| Comment {
                id: new_id(),
                origin: author.origin.clone(),
                request_id: request.id,
                author_id: author.id,
                body: AWKWARD.to_owned(),
                scope: SyncScope::Private,
                created_at: at(12),
                updated_at: at(13),
            })
            .collect();
        let invites = vec![
            Invite {
                id: new_id(),
                origin: alpha.clone(),
                inviter_id: users[1].id,
                invitee_id: None,
                status: InviteStatus::Pending,
                code: Some("code-pending".into()),
                scope: SyncScope::Private,
                created_at: at(14),
                updated_at: at(15),
            },
            Invite {
                id: new_id(),
                origin: alpha.clone(),
                inviter_id: users[1].id,
                invitee_id: Some(users[2].id),
                status: InviteStatus::Accepted,
                code: None,
                scope: SyncScope::Public,
                created_at: at(16),
                updated_at: at(17),
            },
        ];
        let vouches = vec![Vouch {
            id: new_id(),
            origin: alpha.clone(),
            voucher_id: users[1].id,
            subject_id: users[2].id,
            signature: "c2lnbmF0dXJl".into(),
            scope: SyncScope::Public,
            created_at: at(18),
            updated_at: at(19),
        }];
        store
            .insert_batch(&Batch {
                users,
                requests,
                comments,
                invites,
                vouches,
            })
            .await
            .unwrap();

        let (users, requests, comments, invites, vouches) = scanned(store).await;
        assert_eq!(users.len(), 2105, "{:?}", db.backend);
        assert_eq!(users, sorted(store.users().await.unwrap(), |u: &User| u.id));
        assert_eq!(
            requests,
            sorted(store.requests().await.unwrap(), |r: &Request| r.id)
        );
        assert_eq!(
            comments,
            sorted(store.comments().await.unwrap(), |c: &Comment| c.id)
        );
        assert_eq!(
            invites,
            sorted(store.invites().await.unwrap(), |i: &Invite| i.id)
        );
        assert_eq!(
            vouches,
            sorted(store.vouches().await.unwrap(), |v: &Vouch| v.id)
        );
        assert!(users.iter().any(|u| u.email.is_none()) && users.iter().any(|u| u.email.is_some()));
        assert!(comments.iter().all(|c| c.body == AWKWARD));

        // Returning false stops the scan at once.
        let mut seen = 0;
        store
            .scan_users(&mut |_| {
                seen += 1;
                seen < 3
            })
            .await
            .unwrap();
        assert_eq!(seen, 3);
    }
}

#[tokio::test]
async fn scanning_empty_tables_hands_nothing() {
    for db in TestDb::all().await {
        let (users, requests, comments, invites, vouches) = scanned(&db.store).await;
        assert!(users.is_empty() && requests.is_empty() && comments.is_empty());
        assert!(invites.is_empty() && vouches.is_empty());
    }
}
