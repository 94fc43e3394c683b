//! Tests of the export's narrow reads and its record of rendered files
//! (`Store::row_heads`, `Store::record_rendered`), and of local changes
//! always moving a row's `updated_at` forward. Every scenario runs on SQLite
//! and, when `WB_TEST_POSTGRES_URL` is set, on Postgres.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use common::{alpha, at, beta, comment, file, invite, request, user, vouch};

use wb_model::{EntityKind, InstanceName, SyncScope, Timestamp, User, Uuid, new_id};
use wb_store::testing::TestDb;
use wb_store::{Batch, RenderedFile, RowHead, Store};

/// `at(seconds)` plus some microseconds: versions are kept to the microsecond.
fn at_micros(seconds: i64, micros: i64) -> Timestamp {
    plus(at(seconds), micros)
}

fn plus(t: Timestamp, micros: i64) -> Timestamp {
    Timestamp::from_unix_micros(t.unix_micros() + micros).unwrap()
}

fn head(
    id: Uuid,
    local: bool,
    scope: SyncScope,
    updated_at: Timestamp,
    refs: [Option<Uuid>; 2],
) -> RowHead {
    RowHead {
        id,
        local,
        scope,
        updated_at,
        refs,
        rendered: None,
    }
}

/// `row_heads` sorted by id, for comparing (the store promises no order).
async fn heads(store: &Store, kind: EntityKind, local: &InstanceName) -> Vec<RowHead> {
    let mut heads = store.row_heads(kind, local).await.unwrap();
    heads.sort_by_key(|h| h.id);
    heads
}

fn sorted(mut heads: Vec<RowHead>) -> Vec<RowHead> {
    heads.sort_by_key(|h| h.id);
    heads
}

/// One row of every kind from each origin, with distinct versions, scopes
/// and (for invites) both a pending and an accepted invite.
struct Fixture {
    batch: Batch,
}

fn fixture() -> Fixture {
    let ada = user("ada", alpha(), SyncScope::Public, at_micros(10, 1));
    let ben = user("ben", beta(), SyncScope::Private, at_micros(11, 2));
    let cy = user("cy", alpha(), SyncScope::Private, at_micros(12, 3));
    let req_a = request(&ada, alpha(), SyncScope::Public, at_micros(20, 4));
    let req_b = request(&ben, beta(), SyncScope::Private, at_micros(21, 5));
    let com_a = comment(&req_b, &ada, alpha(), SyncScope::Private, at_micros(30, 6));
    let com_b = comment(&req_a, &ben, beta(), SyncScope::Public, at_micros(31, 7));
    let inv_pending = invite(&ada, None, alpha(), SyncScope::Public, at_micros(40, 8));
    let inv_accepted = invite(
        &ben,
        Some(&cy),
        beta(),
        SyncScope::Private,
        at_micros(41, 9),
    );
    let v_a = vouch(&ada, &ben, alpha(), SyncScope::Public, at_micros(50, 10));
    let v_b = vouch(&ben, &cy, beta(), SyncScope::Private, at_micros(51, 11));
    Fixture {
        batch: Batch {
            users: vec![ada, ben, cy],
            requests: vec![req_a, req_b],
            comments: vec![com_a, com_b],
            invites: vec![inv_pending, inv_accepted],
            vouches: vec![v_a, v_b],
        },
    }
}

impl Fixture {
    /// The heads `row_heads(kind, local)` must return, before any record.
    fn expected(&self, kind: EntityKind, local: &InstanceName) -> Vec<RowHead> {
        let b = &self.batch;
        let heads = match kind {
            EntityKind::User => b
                .users
                .iter()
                .map(|u| {
                    head(
                        u.id,
                        &u.origin == local,
                        u.scope,
                        u.updated_at,
                        [None, None],
                    )
                })
                .collect(),
            EntityKind::Request => b
                .requests
                .iter()
                .map(|r| {
                    let refs = [Some(r.author_id), None];
                    head(r.id, &r.origin == local, r.scope, r.updated_at, refs)
                })
                .collect(),
            EntityKind::Comment => b
                .comments
                .iter()
                .map(|c| {
                    let refs = [Some(c.request_id), Some(c.author_id)];
                    head(c.id, &c.origin == local, c.scope, c.updated_at, refs)
                })
                .collect(),
            EntityKind::Invite => b
                .invites
                .iter()
                .map(|i| {
                    let refs = [Some(i.inviter_id), i.invitee_id];
                    head(i.id, &i.origin == local, i.scope, i.updated_at, refs)
                })
                .collect(),
            EntityKind::Vouch => b
                .vouches
                .iter()
                .map(|v| {
                    let refs = [Some(v.voucher_id), Some(v.subject_id)];
                    head(v.id, &v.origin == local, v.scope, v.updated_at, refs)
                })
                .collect(),
        };
        sorted(heads)
    }
}

#[tokio::test]
async fn row_heads_of_empty_tables_are_empty() {
    for db in TestDb::all().await {
        for &kind in EntityKind::ALL {
            assert_eq!(
                db.store.row_heads(kind, &alpha()).await.unwrap(),
                vec![],
                "{:?} {kind}",
                db.backend
            );
        }
        // Records of rows alone (a cache of rows since deleted) add no heads.
        let id = new_id();
        db.store
            .record_rendered(EntityKind::User, &[(id, file(1, at(1)))], &[])
            .await
            .unwrap();
        assert_eq!(
            db.store
                .row_heads(EntityKind::User, &alpha())
                .await
                .unwrap(),
            vec![],
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn row_heads_report_id_origin_scope_version_and_references() {
    for db in TestDb::all().await {
        let fx = fixture();
        db.store.insert_batch(&fx.batch).await.unwrap();
        for &kind in EntityKind::ALL {
            for local in [alpha(), beta()] {
                let got = heads(&db.store, kind, &local).await;
                assert_eq!(got.len(), 2 + usize::from(kind == EntityKind::User));
                assert_eq!(
                    got,
                    fx.expected(kind, &local),
                    "{:?} {kind} local {local}",
                    db.backend
                );
            }
            // An origin with no rows: nothing is local.
            let nobody = InstanceName::parse("gamma.example").unwrap();
            assert!(
                heads(&db.store, kind, &nobody)
                    .await
                    .iter()
                    .all(|h| !h.local),
                "{:?} {kind}",
                db.backend
            );
        }
        // Spot checks of the documented reference order, independent of the
        // fixture's own expectation.
        let invites = heads(&db.store, EntityKind::Invite, &alpha()).await;
        let pending = &fx.batch.invites[0];
        let accepted = &fx.batch.invites[1];
        let pending_head = invites.iter().find(|h| h.id == pending.id).unwrap();
        assert_eq!(pending_head.refs, [Some(fx.batch.users[0].id), None]);
        assert!(pending_head.local);
        let accepted_head = invites.iter().find(|h| h.id == accepted.id).unwrap();
        assert_eq!(
            accepted_head.refs,
            [Some(fx.batch.users[1].id), Some(fx.batch.users[2].id)]
        );
        assert!(!accepted_head.local);
        let comments = heads(&db.store, EntityKind::Comment, &alpha()).await;
        let com_a = comments
            .iter()
            .find(|h| h.id == fx.batch.comments[0].id)
            .unwrap();
        assert_eq!(
            com_a.refs,
            [Some(fx.batch.requests[1].id), Some(fx.batch.users[0].id)],
            "{:?}: a comment's refs are [request, author]",
            db.backend
        );
        assert_eq!(com_a.updated_at, at_micros(30, 6), "microseconds kept");
    }
}

#[tokio::test]
async fn recorded_files_are_joined_replaced_and_forgotten() {
    for db in TestDb::all().await {
        let fx = fixture();
        db.store.insert_batch(&fx.batch).await.unwrap();
        let store = &db.store;
        let [ada, ben, cy] = [0, 1, 2].map(|i| fx.batch.users[i].clone());
        let req = fx.batch.requests[0].clone();

        let first = [
            (ada.id, file(1, ada.updated_at)),
            (cy.id, file(2, at_micros(3, 77))),
        ];
        store
            .record_rendered(EntityKind::User, &first, &[])
            .await
            .unwrap();
        // A request's record under the same id as a user does not show on
        // the user, and vice versa.
        store
            .record_rendered(
                EntityKind::Request,
                &[(ben.id, file(9, at(9))), (req.id, file(3, req.updated_at))],
                &[],
            )
            .await
            .unwrap();

        let mut want = fx.expected(EntityKind::User, &alpha());
        for h in &mut want {
            h.rendered = first
                .iter()
                .find(|(id, _)| *id == h.id)
                .map(|(_, f)| f.clone());
        }
        let got = heads(store, EntityKind::User, &alpha()).await;
        assert_eq!(got, want, "{:?}", db.backend);
        assert_eq!(
            got.iter().find(|h| h.id == ben.id).unwrap().rendered,
            None,
            "{:?}: another kind's record is not joined",
            db.backend
        );
        let requests = heads(store, EntityKind::Request, &alpha()).await;
        assert_eq!(
            requests.iter().find(|h| h.id == req.id).unwrap().rendered,
            Some(file(3, req.updated_at))
        );
        for kind in [EntityKind::Comment, EntityKind::Invite, EntityKind::Vouch] {
            assert!(
                heads(store, kind, &alpha())
                    .await
                    .iter()
                    .all(|h| h.rendered.is_none()),
                "{:?} {kind}",
                db.backend
            );
        }

        // Recording again replaces; a zero length and a length beyond u32
        // survive the round trip.
        let second = RenderedFile {
            updated_at: plus(ada.updated_at, 5),
            length: 5_000_000_000,
            sha256: "ab".repeat(32),
        };
        let empty = RenderedFile {
            updated_at: at(4),
            length: 0,
            sha256: "0".repeat(64),
        };
        store
            .record_rendered(
                EntityKind::User,
                &[(ada.id, second.clone()), (ben.id, empty.clone())],
                &[],
            )
            .await
            .unwrap();
        let got = heads(store, EntityKind::User, &alpha()).await;
        let rendered = |id: Uuid| got.iter().find(|h| h.id == id).unwrap().rendered.clone();
        assert_eq!(rendered(ada.id), Some(second.clone()), "{:?}", db.backend);
        assert_eq!(rendered(ben.id), Some(empty.clone()), "{:?}", db.backend);
        assert_eq!(rendered(cy.id), Some(file(2, at_micros(3, 77))));

        // Forgetting removes, in the same call as recording another; an id
        // with no record is forgotten quietly.
        store
            .record_rendered(
                EntityKind::User,
                &[(cy.id, file(4, cy.updated_at))],
                &[ada.id, new_id()],
            )
            .await
            .unwrap();
        let got = heads(store, EntityKind::User, &alpha()).await;
        let rendered = |id: Uuid| got.iter().find(|h| h.id == id).unwrap().rendered.clone();
        assert_eq!(rendered(ada.id), None, "{:?}: forgotten", db.backend);
        assert_eq!(rendered(ben.id), Some(empty), "{:?}", db.backend);
        assert_eq!(rendered(cy.id), Some(file(4, cy.updated_at)));
        // The rows themselves are untouched by records.
        let mut plain = got.clone();
        for h in &mut plain {
            h.rendered = None;
        }
        assert_eq!(plain, fx.expected(EntityKind::User, &alpha()));

        // Forgetting a user's record leaves the request's under another kind.
        store
            .record_rendered(EntityKind::User, &[], &[req.id, ben.id, cy.id])
            .await
            .unwrap();
        assert!(
            heads(store, EntityKind::User, &alpha())
                .await
                .iter()
                .all(|h| h.rendered.is_none())
        );
        let requests = heads(store, EntityKind::Request, &alpha()).await;
        assert_eq!(
            requests.iter().find(|h| h.id == req.id).unwrap().rendered,
            Some(file(3, req.updated_at)),
            "{:?}",
            db.backend
        );

        // Nothing to do is fine.
        store
            .record_rendered(EntityKind::Vouch, &[], &[])
            .await
            .unwrap();
    }
}

/// 21 rows take one statement of each size (16 + 4 + 1); 37 take two of 16.
#[tokio::test]
async fn many_records_at_once_all_come_back() {
    for db in TestDb::all().await {
        let users: Vec<User> = (0..37)
            .map(|i| {
                let origin = if i % 3 == 0 { beta() } else { alpha() };
                user(&format!("u{i}"), origin, SyncScope::Public, at_micros(i, i))
            })
            .collect();
        db.store
            .insert_batch(&Batch {
                users: users.clone(),
                ..Batch::default()
            })
            .await
            .unwrap();

        for (count, round) in [(21_usize, 100_u64), (37, 200)] {
            let records: Vec<(Uuid, RenderedFile)> = users[..count]
                .iter()
                .zip(round..)
                .map(|(u, n)| (u.id, file(n, u.updated_at)))
                .collect();
            db.store
                .record_rendered(EntityKind::User, &records, &[])
                .await
                .unwrap();
            let got = heads(&db.store, EntityKind::User, &alpha()).await;
            assert_eq!(got.len(), users.len(), "{:?}", db.backend);
            for u in &users {
                let h = got.iter().find(|h| h.id == u.id).unwrap();
                assert_eq!(h.local, u.origin == alpha());
                assert_eq!(h.updated_at, u.updated_at);
                let want = records.iter().find(|(id, _)| *id == u.id).map(|(_, f)| f);
                assert_eq!(
                    h.rendered.as_ref(),
                    want,
                    "{:?}: {count} records, user {}",
                    db.backend,
                    u.username
                );
            }
        }
        // Forget many at once too.
        let forget: Vec<Uuid> = users[..30].iter().map(|u| u.id).collect();
        db.store
            .record_rendered(EntityKind::User, &[], &forget)
            .await
            .unwrap();
        let got = heads(&db.store, EntityKind::User, &alpha()).await;
        assert_eq!(
            got.iter().filter(|h| h.rendered.is_some()).count(),
            7,
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn local_changes_always_move_updated_at_forward() {
    for db in TestDb::all().await {
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Private, at(5));
        let req = request(&ada, alpha(), SyncScope::Private, at(5));
        let inv = invite(&ada, None, alpha(), SyncScope::Private, at(5));
        store
            .insert_batch(&Batch {
                users: vec![ada.clone()],
                requests: vec![req.clone()],
                invites: vec![inv.clone()],
                ..Batch::default()
            })
            .await
            .unwrap();
        let version = |u: Option<User>| u.unwrap().updated_at;

        // A newer time is taken as is.
        store
            .set_scope(EntityKind::User, ada.id, SyncScope::Public, at(9))
            .await
            .unwrap();
        assert_eq!(version(store.user(ada.id).await.unwrap()), at(9));
        // The same time again: one microsecond on.
        store
            .set_scope(EntityKind::User, ada.id, SyncScope::Private, at(9))
            .await
            .unwrap();
        let stored = store.user(ada.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.scope, stored.updated_at),
            (SyncScope::Private, plus(at(9), 1)),
            "{:?}",
            db.backend
        );
        // An older time: still forward.
        store
            .update_profile(ada.id, "Ada L.", "bio one", at(2))
            .await
            .unwrap();
        let stored = store.user(ada.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.display_name.as_str(), stored.updated_at),
            ("Ada L.", plus(at(9), 2)),
            "{:?}",
            db.backend
        );
        // update_profile twice with the same time.
        let same = plus(at(9), 2);
        store
            .update_profile(ada.id, "Ada", "bio two", same)
            .await
            .unwrap();
        store
            .update_profile(ada.id, "Ada", "bio two", same)
            .await
            .unwrap();
        assert_eq!(
            version(store.user(ada.id).await.unwrap()),
            plus(at(9), 4),
            "{:?}",
            db.backend
        );
        // Newer again: taken as is, not bumped.
        store
            .update_profile(ada.id, "Ada", "bio three", at(20))
            .await
            .unwrap();
        assert_eq!(version(store.user(ada.id).await.unwrap()), at(20));
        let users = heads(store, EntityKind::User, &alpha()).await;
        assert_eq!(users[0].updated_at, at(20), "row_heads sees it too");

        // Other kinds: a request's scope set twice at the same time.
        store
            .set_scope(EntityKind::Request, req.id, SyncScope::Public, at(5))
            .await
            .unwrap();
        store
            .set_scope(EntityKind::Request, req.id, SyncScope::Public, at(5))
            .await
            .unwrap();
        let stored = store.request(req.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.scope, stored.updated_at),
            (SyncScope::Public, plus(at(5), 2)),
            "{:?}",
            db.backend
        );
        let requests = heads(store, EntityKind::Request, &alpha()).await;
        assert_eq!(requests[0].updated_at, plus(at(5), 2));

        // Accepting an invite by a user created before the invite's version
        // still moves the invite forward.
        let cy = User {
            created_at: at(1),
            ..user("cy", alpha(), SyncScope::Private, at(1))
        };
        store.accept_invite(inv.id, &cy).await.unwrap();
        let stored = store.invite(inv.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.invitee_id, stored.updated_at),
            (Some(cy.id), plus(at(5), 1)),
            "{:?}",
            db.backend
        );
        let invites = heads(store, EntityKind::Invite, &alpha()).await;
        assert_eq!(
            (invites[0].refs, invites[0].updated_at),
            ([Some(ada.id), Some(cy.id)], plus(at(5), 1))
        );
    }
}

#[tokio::test]
async fn resetting_forgets_every_record_and_names_the_renderer() {
    for db in TestDb::all().await {
        assert_eq!(
            db.store.rendered_by().await.unwrap(),
            None,
            "{:?}",
            db.backend
        );
        let u = user("ada", alpha(), SyncScope::Public, at(10));
        db.store.insert_user(&u).await.unwrap();
        db.store
            .record_rendered(EntityKind::User, &[(u.id, file(1, u.updated_at))], &[])
            .await
            .unwrap();
        assert!(
            heads(&db.store, EntityKind::User, &alpha()).await[0]
                .rendered
                .is_some()
        );

        db.store.reset_rendered("renderer 2").await.unwrap();
        assert_eq!(
            db.store.rendered_by().await.unwrap().as_deref(),
            Some("renderer 2"),
            "{:?}",
            db.backend
        );
        let got = heads(&db.store, EntityKind::User, &alpha()).await;
        assert_eq!(got[0].rendered, None, "{:?}", db.backend);
        assert_eq!(got[0].id, u.id, "the row itself stays");

        db.store.reset_rendered("renderer 3").await.unwrap();
        assert_eq!(
            db.store.rendered_by().await.unwrap().as_deref(),
            Some("renderer 3")
        );
    }
}
