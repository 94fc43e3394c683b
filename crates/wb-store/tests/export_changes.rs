//! Tests of the export's journal of changes (migration 0005,
//! `Store::export_changes`, `Store::forget_changes`) and of the narrow read
//! an incremental export makes of the rows it names
//! (`Store::row_heads_matching`).
//!
//! The journal is filled by triggers: every insert, update or delete of a
//! row of the local instance (the name `Store::set_instance_name` records)
//! is noted; of another instance's rows, only a deletion or a change of
//! scope is. Each test asserts exactly which `(kind, id)` pairs the journal
//! then holds, in order. The store deletes rows only when an import retracts
//! them, so local rows are deleted by applying a bundle of the local origin
//! that no longer holds them. Every scenario runs on SQLite and, when
//! `WB_TEST_POSTGRES_URL` is set, on Postgres.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use common::{alpha, at, beta, comment, file, invite, request, user, vouch};

use wb_model::{
    Comment, EntityKind, InstanceName, Invite, Request, SyncScope, User, Uuid, Vouch, new_id,
};
use wb_store::testing::TestDb;
use wb_store::{
    Batch, Changes, ImportBatch, ImportCounts, ImportPin, OriginState, PinChange, PinSource,
    RowHead, Store,
};

/// More entries than any test makes: `export_changes` then lists them all.
const ALL: usize = 1_000;

fn gamma() -> InstanceName {
    InstanceName::parse("gamma.example").unwrap()
}

/// Bundle number `sequence` of `origin`, holding exactly `rows`.
fn bundle(origin: InstanceName, sequence: u64, rows: Batch) -> ImportBatch {
    ImportBatch {
        // Pins the key on the first import, keeps it on the next ones.
        pin: ImportPin::Change(PinChange {
            instance: origin.clone(),
            replaces: None,
            public_key: "RWQ".into(),
            source: PinSource::AcceptNew,
            at: at(100),
            reset_sequence: false,
        }),
        state: OriginState {
            instance: origin,
            public_key: "RWQ".into(),
            last_sequence: sequence,
            manifest_sha256: format!("{sequence:064x}"),
            signature: "sig".into(),
            imported_at: at(100),
            key_rotations: None,
        },
        users: rows.users,
        requests: rows.requests,
        comments: rows.comments,
        invites: rows.invites,
        vouches: rows.vouches,
    }
}

/// A fresh database on every backend, its instance named `alpha.example`.
async fn alpha_dbs() -> Vec<TestDb> {
    let dbs = TestDb::all().await;
    for db in &dbs {
        db.store.set_instance_name(&alpha()).await.unwrap();
    }
    dbs
}

/// The rows the journal notes, each once, in the order first changed.
async fn noted(store: &Store) -> Vec<(EntityKind, Uuid)> {
    store.export_changes(ALL).await.unwrap().rows.unwrap()
}

/// Empties the journal, as an export does once it has written its bundle.
async fn forget_all(store: &Store) {
    let changes = store.export_changes(ALL).await.unwrap();
    store.forget_changes(changes.through).await.unwrap();
    assert_eq!(noted(store).await, vec![], "the journal is empty again");
}

// ---- what the triggers note ---------------------------------------------------

#[tokio::test]
async fn a_new_database_has_an_empty_journal() {
    for db in alpha_dbs().await {
        for limit in [0, 1, ALL] {
            assert_eq!(
                db.store.export_changes(limit).await.unwrap(),
                Changes {
                    through: 0,
                    rows: Some(vec![]),
                },
                "{:?}, limit {limit}",
                db.backend
            );
        }
    }
}

#[tokio::test]
async fn inserts_of_local_rows_of_every_kind_are_noted_and_others_are_not() {
    for db in alpha_dbs().await {
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Private, at(10));
        let ben = user("ben", beta(), SyncScope::Public, at(10));
        let cy = user("cy", alpha(), SyncScope::Public, at(10));
        let req = request(&ada, alpha(), SyncScope::Private, at(20));
        let req_b = request(&ben, beta(), SyncScope::Public, at(20));
        let com = comment(&req_b, &ada, alpha(), SyncScope::Private, at(30));
        let com_b = comment(&req, &ben, beta(), SyncScope::Public, at(30));
        let inv = invite(&ada, None, alpha(), SyncScope::Private, at(40));
        let inv_b = invite(&ben, None, beta(), SyncScope::Public, at(40));
        let v = vouch(&ada, &ben, alpha(), SyncScope::Private, at(50));
        let v_b = vouch(&ben, &ada, beta(), SyncScope::Public, at(50));

        // One statement per row, local and another instance's interleaved.
        store.insert_user(&ada).await.unwrap();
        store.insert_user(&ben).await.unwrap();
        store.insert_user(&cy).await.unwrap();
        store.insert_request(&req).await.unwrap();
        store.insert_request(&req_b).await.unwrap();
        store.insert_comment(&com).await.unwrap();
        store.insert_comment(&com_b).await.unwrap();
        store.insert_invite(&inv).await.unwrap();
        store.insert_invite(&inv_b).await.unwrap();
        store.insert_vouch(&v).await.unwrap();
        store.insert_vouch(&v_b).await.unwrap();
        // A batch, in its dependency order.
        let dan = user("dan", alpha(), SyncScope::Private, at(11));
        let gil = user("gil", gamma(), SyncScope::Public, at(11));
        let req_d = request(&dan, alpha(), SyncScope::Public, at(21));
        let req_g = request(&gil, gamma(), SyncScope::Public, at(21));
        store
            .insert_batch(&Batch {
                users: vec![gil.clone(), dan.clone()],
                requests: vec![req_g, req_d.clone()],
                ..Batch::default()
            })
            .await
            .unwrap();

        assert_eq!(
            noted(store).await,
            vec![
                (EntityKind::User, ada.id),
                (EntityKind::User, cy.id),
                (EntityKind::Request, req.id),
                (EntityKind::Comment, com.id),
                (EntityKind::Invite, inv.id),
                (EntityKind::Vouch, v.id),
                (EntityKind::User, dan.id),
                (EntityKind::Request, req_d.id),
            ],
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn updates_of_local_rows_of_every_kind_are_noted() {
    for db in alpha_dbs().await {
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Private, at(10));
        let ben = user("ben", beta(), SyncScope::Public, at(10));
        let req = request(&ada, alpha(), SyncScope::Private, at(20));
        let com = comment(&req, &ada, alpha(), SyncScope::Private, at(30));
        let inv = invite(&ada, None, alpha(), SyncScope::Private, at(40));
        let v = vouch(&ada, &ben, alpha(), SyncScope::Private, at(50));
        store
            .insert_batch(&Batch {
                users: vec![ada.clone(), ben.clone()],
                requests: vec![req.clone()],
                comments: vec![com.clone()],
                invites: vec![inv.clone()],
                vouches: vec![v.clone()],
            })
            .await
            .unwrap();
        forget_all(store).await;

        store
            .update_profile(ada.id, "Ada L.", "new bio", at(60))
            .await
            .unwrap();
        // Setting the scope it already has still updates a local row.
        store
            .set_scope(EntityKind::Request, req.id, SyncScope::Private, at(61))
            .await
            .unwrap();
        store
            .set_scope(EntityKind::Comment, com.id, SyncScope::Public, at(62))
            .await
            .unwrap();
        // Accepting inserts the new member, then updates the invite.
        let eve = user("eve", alpha(), SyncScope::Private, at(63));
        store.accept_invite(inv.id, &eve).await.unwrap();
        store
            .set_scope(EntityKind::Vouch, v.id, SyncScope::Public, at(64))
            .await
            .unwrap();
        // Changed again: still listed once, where it first changed.
        store
            .update_profile(ada.id, "Ada", "newer bio", at(65))
            .await
            .unwrap();

        assert_eq!(
            noted(store).await,
            vec![
                (EntityKind::User, ada.id),
                (EntityKind::Request, req.id),
                (EntityKind::Comment, com.id),
                (EntityKind::User, eve.id),
                (EntityKind::Invite, inv.id),
                (EntityKind::Vouch, v.id),
            ],
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn deletes_of_local_rows_of_every_kind_are_noted() {
    for db in alpha_dbs().await {
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Public, at(10));
        let cy = user("cy", alpha(), SyncScope::Public, at(10));
        let req = request(&ada, alpha(), SyncScope::Public, at(20));
        let com = comment(&req, &cy, alpha(), SyncScope::Public, at(30));
        let inv = invite(&ada, None, alpha(), SyncScope::Public, at(40));
        let v = vouch(&ada, &cy, alpha(), SyncScope::Public, at(50));
        store
            .insert_batch(&Batch {
                users: vec![ada.clone(), cy.clone()],
                requests: vec![req.clone()],
                comments: vec![com.clone()],
                invites: vec![inv.clone()],
                vouches: vec![v.clone()],
            })
            .await
            .unwrap();
        forget_all(store).await;

        // A bundle of the local origin holding only `ada`, unchanged: every
        // other local row is retracted, dependents first, and deleted since
        // nothing else references it.
        let counts = store
            .apply_import(&bundle(
                alpha(),
                1,
                Batch {
                    users: vec![ada.clone()],
                    ..Batch::default()
                },
            ))
            .await
            .unwrap();
        assert_eq!(
            counts,
            ImportCounts {
                unchanged: 1,
                retracted: 5,
                ..ImportCounts::default()
            },
            "{:?}",
            db.backend
        );
        assert_eq!(store.users().await.unwrap(), vec![ada.clone()]);
        assert_eq!(store.requests().await.unwrap(), vec![]);

        assert_eq!(
            noted(store).await,
            vec![
                (EntityKind::Vouch, v.id),
                (EntityKind::Invite, inv.id),
                (EntityKind::Comment, com.id),
                (EntityKind::Request, req.id),
                (EntityKind::User, cy.id),
            ],
            "{:?}: the unchanged row is not noted, each deleted one is",
            db.backend
        );
    }
}

/// Another instance's rows of every kind: one bundle from `beta.example`.
struct Remote {
    ben: User,
    bo: User,
    bea: User,
    req: Request,
    com: Comment,
    inv: Invite,
    v: Vouch,
}

impl Remote {
    fn new() -> Self {
        let ben = user("ben", beta(), SyncScope::Public, at(10));
        let bo = user("bo", beta(), SyncScope::Public, at(11));
        let bea = user("bea", beta(), SyncScope::Public, at(12));
        let req = request(&ben, beta(), SyncScope::Public, at(20));
        let com = comment(&req, &bo, beta(), SyncScope::Public, at(30));
        let inv = invite(&ben, Some(&bo), beta(), SyncScope::Public, at(40));
        let v = vouch(&ben, &bo, beta(), SyncScope::Public, at(50));
        Self {
            ben,
            bo,
            bea,
            req,
            com,
            inv,
            v,
        }
    }

    fn all(&self) -> Batch {
        Batch {
            users: vec![self.ben.clone(), self.bo.clone(), self.bea.clone()],
            requests: vec![self.req.clone()],
            comments: vec![self.com.clone()],
            invites: vec![self.inv.clone()],
            vouches: vec![self.v.clone()],
        }
    }
}

#[tokio::test]
async fn another_instances_inserts_and_updates_keeping_scope_are_not_noted() {
    for db in alpha_dbs().await {
        let store = &db.store;
        let remote = Remote::new();
        let counts = store
            .apply_import(&bundle(beta(), 1, remote.all()))
            .await
            .unwrap();
        assert_eq!(counts.added, 7, "{:?}", db.backend);
        // Inserted directly too, from yet another instance.
        let gil = user("gil", gamma(), SyncScope::Public, at(10));
        store.insert_user(&gil).await.unwrap();
        store
            .insert_request(&request(&gil, gamma(), SyncScope::Private, at(20)))
            .await
            .unwrap();
        assert_eq!(noted(store).await, vec![], "{:?}: inserts", db.backend);

        // Every row again, newer and edited, in the same scope.
        let mut newer = remote.all();
        for u in &mut newer.users {
            u.display_name.push_str(" (edited)");
            u.updated_at = at(70);
        }
        newer.requests[0].title = "Need a longer ladder".into();
        newer.requests[0].updated_at = at(70);
        newer.comments[0].body = "Still have one.".into();
        newer.comments[0].updated_at = at(70);
        newer.invites[0].updated_at = at(70);
        newer.vouches[0].signature = "c2lnMg".into();
        newer.vouches[0].updated_at = at(70);
        let counts = store.apply_import(&bundle(beta(), 2, newer)).await.unwrap();
        assert_eq!(
            counts,
            ImportCounts {
                updated: 7,
                ..ImportCounts::default()
            },
            "{:?}",
            db.backend
        );
        assert_eq!(
            store.request(remote.req.id).await.unwrap().unwrap().title,
            "Need a longer ladder",
            "{:?}: the update happened",
            db.backend
        );
        // Setting the scope a row already has.
        store
            .set_scope(EntityKind::User, gil.id, SyncScope::Public, at(80))
            .await
            .unwrap();
        assert_eq!(
            store.user(gil.id).await.unwrap().unwrap().updated_at,
            at(80),
            "{:?}: the update happened",
            db.backend
        );

        assert_eq!(noted(store).await, vec![], "{:?}: updates", db.backend);
    }
}

#[tokio::test]
async fn another_instances_deletions_and_scope_changes_are_noted() {
    for db in alpha_dbs().await {
        let store = &db.store;
        let remote = Remote::new();
        store
            .apply_import(&bundle(beta(), 1, remote.all()))
            .await
            .unwrap();
        // A local comment on the remote request holds it back from deletion.
        let ada = user("ada", alpha(), SyncScope::Public, at(10));
        let com_a = comment(&remote.req, &ada, alpha(), SyncScope::Public, at(31));
        store
            .insert_batch(&Batch {
                users: vec![ada.clone()],
                comments: vec![com_a.clone()],
                ..Batch::default()
            })
            .await
            .unwrap();
        forget_all(store).await;

        // Bundle 2: `ben` made private, `bo` unchanged, everything else gone.
        let ben_private = User {
            scope: SyncScope::Private,
            updated_at: at(70),
            ..remote.ben.clone()
        };
        let counts = store
            .apply_import(&bundle(
                beta(),
                2,
                Batch {
                    users: vec![ben_private.clone(), remote.bo.clone()],
                    ..Batch::default()
                },
            ))
            .await
            .unwrap();
        assert_eq!(
            counts,
            ImportCounts {
                updated: 1,
                unchanged: 1,
                retracted: 5,
                ..ImportCounts::default()
            },
            "{:?}",
            db.backend
        );
        let withdrawn = store.request(remote.req.id).await.unwrap().unwrap();
        assert_eq!(withdrawn.scope, SyncScope::Private, "kept, withdrawn");
        assert_eq!(store.user(remote.bea.id).await.unwrap(), None, "deleted");
        assert_eq!(
            noted(store).await,
            vec![
                (EntityKind::User, remote.ben.id),
                (EntityKind::Vouch, remote.v.id),
                (EntityKind::Invite, remote.inv.id),
                (EntityKind::Comment, remote.com.id),
                (EntityKind::Request, remote.req.id),
                (EntityKind::User, remote.bea.id),
            ],
            "{:?}: scope changed, deleted, withdrawn; not the unchanged `bo`",
            db.backend
        );
        forget_all(store).await;

        // Bundle 3 publishes the request again: private to public.
        let counts = store
            .apply_import(&bundle(
                beta(),
                3,
                Batch {
                    users: vec![ben_private.clone(), remote.bo.clone()],
                    requests: vec![remote.req.clone()],
                    ..Batch::default()
                },
            ))
            .await
            .unwrap();
        // `ben`, stored private, is taken again too (see `replaces`), in the
        // same scope: not noted.
        assert_eq!(
            (counts.updated, counts.unchanged),
            (2, 1),
            "{:?}",
            db.backend
        );
        assert_eq!(
            noted(store).await,
            vec![(EntityKind::Request, remote.req.id)],
            "{:?}: re-published",
            db.backend
        );
        forget_all(store).await;

        // Bundle 4 drops it again: withdrawn again. Bundle 5, the same,
        // finds it already withdrawn and changes nothing.
        let without_request = || Batch {
            users: vec![ben_private.clone(), remote.bo.clone()],
            ..Batch::default()
        };
        store
            .apply_import(&bundle(beta(), 4, without_request()))
            .await
            .unwrap();
        assert_eq!(
            noted(store).await,
            vec![(EntityKind::Request, remote.req.id)],
            "{:?}: withdrawn again",
            db.backend
        );
        forget_all(store).await;
        let counts = store
            .apply_import(&bundle(beta(), 5, without_request()))
            .await
            .unwrap();
        assert_eq!(counts.retracted, 0, "{:?}", db.backend);
        assert_eq!(
            noted(store).await,
            vec![],
            "{:?}: nothing changed",
            db.backend
        );

        // A change of scope by `set_scope`.
        store
            .set_scope(EntityKind::User, remote.bo.id, SyncScope::Private, at(90))
            .await
            .unwrap();
        assert_eq!(
            noted(store).await,
            vec![(EntityKind::User, remote.bo.id)],
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn a_write_that_fails_leaves_no_note() {
    for db in alpha_dbs().await {
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Public, at(10));
        let cy = user("cy", alpha(), SyncScope::Public, at(10));
        // `cy` reuses `ada`'s username: the second insert fails, and the
        // batch with it, after `ada`'s insert was noted.
        let clash = User {
            username: ada.username.clone(),
            ..cy.clone()
        };
        store
            .insert_batch(&Batch {
                users: vec![ada.clone(), clash],
                ..Batch::default()
            })
            .await
            .unwrap_err();
        assert_eq!(store.users().await.unwrap(), vec![], "{:?}", db.backend);
        assert_eq!(noted(store).await, vec![], "{:?}", db.backend);

        store.insert_user(&cy).await.unwrap();
        assert_eq!(
            noted(store).await,
            vec![(EntityKind::User, cy.id)],
            "{:?}",
            db.backend
        );
    }
}

// ---- reading and forgetting ---------------------------------------------------

#[tokio::test]
async fn rows_are_listed_once_in_the_order_first_changed_within_the_limit() {
    for db in alpha_dbs().await {
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Private, at(10));
        let req = request(&ada, alpha(), SyncScope::Private, at(20));
        let com = comment(&req, &ada, alpha(), SyncScope::Private, at(30));
        store.insert_user(&ada).await.unwrap();
        store.insert_request(&req).await.unwrap();
        store
            .update_profile(ada.id, "Ada", "", at(40))
            .await
            .unwrap();
        store.insert_comment(&com).await.unwrap();
        store
            .set_scope(EntityKind::Request, req.id, SyncScope::Public, at(41))
            .await
            .unwrap();
        store
            .set_scope(EntityKind::User, ada.id, SyncScope::Public, at(42))
            .await
            .unwrap();

        // Six entries on a new database: seq 1 to 6.
        let want = vec![
            (EntityKind::User, ada.id),
            (EntityKind::Request, req.id),
            (EntityKind::Comment, com.id),
        ];
        for limit in [6, 7, ALL] {
            assert_eq!(
                store.export_changes(limit).await.unwrap(),
                Changes {
                    through: 6,
                    rows: Some(want.clone()),
                },
                "{:?}, limit {limit}",
                db.backend
            );
        }
        // The limit counts entries, not rows: three distinct rows in six
        // entries are beyond a limit of 3.
        for limit in [0, 1, 3, 5] {
            assert_eq!(
                store.export_changes(limit).await.unwrap(),
                Changes {
                    through: 6,
                    rows: None,
                },
                "{:?}, limit {limit}",
                db.backend
            );
        }
        // Reading forgets nothing.
        assert_eq!(noted(store).await, want, "{:?}", db.backend);
    }
}

#[tokio::test]
async fn forgetting_keeps_the_changes_made_after_the_read() {
    for db in alpha_dbs().await {
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Private, at(10));
        let req = request(&ada, alpha(), SyncScope::Private, at(20));
        let com = comment(&req, &ada, alpha(), SyncScope::Private, at(30));
        store.insert_user(&ada).await.unwrap();
        store.insert_request(&req).await.unwrap();
        let first = store.export_changes(ALL).await.unwrap();
        assert_eq!(
            first,
            Changes {
                through: 2,
                rows: Some(vec![
                    (EntityKind::User, ada.id),
                    (EntityKind::Request, req.id)
                ]),
            },
            "{:?}",
            db.backend
        );

        // Changed while an export would be running: an earlier row again,
        // and a new one.
        store.insert_comment(&com).await.unwrap();
        store
            .update_profile(ada.id, "Ada", "", at(40))
            .await
            .unwrap();
        store.forget_changes(first.through).await.unwrap();
        assert_eq!(
            store.export_changes(ALL).await.unwrap(),
            Changes {
                through: 4,
                rows: Some(vec![
                    (EntityKind::Comment, com.id),
                    (EntityKind::User, ada.id)
                ]),
            },
            "{:?}: only what changed after the read",
            db.backend
        );

        // Forgetting through an older point again removes nothing more.
        store.forget_changes(first.through).await.unwrap();
        assert_eq!(noted(store).await.len(), 2, "{:?}", db.backend);

        // Forgetting everything empties the journal; numbering goes on.
        store.forget_changes(4).await.unwrap();
        assert_eq!(
            store.export_changes(ALL).await.unwrap(),
            Changes {
                through: 0,
                rows: Some(vec![]),
            },
            "{:?}",
            db.backend
        );
        store
            .set_scope(EntityKind::Comment, com.id, SyncScope::Public, at(50))
            .await
            .unwrap();
        let last = store.export_changes(ALL).await.unwrap();
        assert_eq!(
            last.rows,
            Some(vec![(EntityKind::Comment, com.id)]),
            "{:?}",
            db.backend
        );
        assert!(
            last.through > 4,
            "{:?}: seq {} reused after the journal was emptied",
            db.backend,
            last.through
        );
    }
}

// ---- row_heads_matching ---------------------------------------------------------

/// One row of every kind from each origin (as in `export_files.rs`).
struct Fixture {
    ada: User,
    ben: User,
    cy: User,
    req_a: Request,
    req_b: Request,
    com_a: Comment,
    com_b: Comment,
    inv_pending: Invite,
    inv_accepted: Invite,
    v_a: Vouch,
    v_b: Vouch,
}

impl Fixture {
    async fn insert(store: &Store) -> Self {
        let ada = user("ada", alpha(), SyncScope::Public, at(10));
        let ben = user("ben", beta(), SyncScope::Private, at(11));
        let cy = user("cy", alpha(), SyncScope::Private, at(12));
        let req_a = request(&ada, alpha(), SyncScope::Public, at(20));
        let req_b = request(&ben, beta(), SyncScope::Private, at(21));
        let com_a = comment(&req_b, &ada, alpha(), SyncScope::Private, at(30));
        let com_b = comment(&req_a, &ben, beta(), SyncScope::Public, at(31));
        let inv_pending = invite(&ada, None, alpha(), SyncScope::Public, at(40));
        let inv_accepted = invite(&ben, Some(&cy), beta(), SyncScope::Private, at(41));
        let v_a = vouch(&ada, &ben, alpha(), SyncScope::Public, at(50));
        let v_b = vouch(&ben, &cy, beta(), SyncScope::Private, at(51));
        store
            .insert_batch(&Batch {
                users: vec![ada.clone(), ben.clone(), cy.clone()],
                requests: vec![req_a.clone(), req_b.clone()],
                comments: vec![com_a.clone(), com_b.clone()],
                invites: vec![inv_pending.clone(), inv_accepted.clone()],
                vouches: vec![v_a.clone(), v_b.clone()],
            })
            .await
            .unwrap();
        Self {
            ada,
            ben,
            cy,
            req_a,
            req_b,
            com_a,
            com_b,
            inv_pending,
            inv_accepted,
            v_a,
            v_b,
        }
    }
}

/// The ids `row_heads_matching` returns, sorted.
async fn matching(
    store: &Store,
    kind: EntityKind,
    ids: &[Uuid],
    referencing: &[Uuid],
) -> Vec<Uuid> {
    let mut got: Vec<Uuid> = store
        .row_heads_matching(kind, &alpha(), ids, referencing)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    got.sort();
    got
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

#[tokio::test]
async fn row_heads_matching_selects_by_id_and_by_reference() {
    for db in TestDb::all().await {
        let store = &db.store;
        let fx = Fixture::insert(store).await;
        let b = db.backend;

        // Nothing asked, or nothing known: nothing.
        for &kind in EntityKind::ALL {
            assert_eq!(
                matching(store, kind, &[], &[]).await,
                Vec::<Uuid>::new(),
                "{b:?} {kind}"
            );
            assert_eq!(
                matching(store, kind, &[new_id()], &[new_id()]).await,
                Vec::<Uuid>::new(),
                "{b:?} {kind}"
            );
        }

        // Users: by id only; they reference nothing.
        let got = matching(store, EntityKind::User, &[fx.ada.id, fx.ben.id], &[]).await;
        assert_eq!(got, sorted(vec![fx.ada.id, fx.ben.id]), "{b:?}");
        let got = matching(
            store,
            EntityKind::User,
            &[fx.cy.id],
            &[fx.ada.id, fx.ben.id],
        )
        .await;
        assert_eq!(got, vec![fx.cy.id], "{b:?}: referencing ignored");
        let got = matching(store, EntityKind::User, &[], &[fx.ada.id]).await;
        assert_eq!(got, Vec::<Uuid>::new(), "{b:?}: referencing ignored");

        // Requests: by id, or by author.
        let got = matching(store, EntityKind::Request, &[], &[fx.ben.id]).await;
        assert_eq!(got, vec![fx.req_b.id], "{b:?}: by author");
        let got = matching(store, EntityKind::Request, &[fx.req_a.id], &[fx.ben.id]).await;
        assert_eq!(got, sorted(vec![fx.req_a.id, fx.req_b.id]), "{b:?}");
        let got = matching(store, EntityKind::Request, &[fx.req_a.id], &[fx.cy.id]).await;
        assert_eq!(got, vec![fx.req_a.id], "{b:?}: cy wrote none");

        // Comments: by request or by author.
        let got = matching(store, EntityKind::Comment, &[], &[fx.req_a.id]).await;
        assert_eq!(got, vec![fx.com_b.id], "{b:?}: by request");
        let got = matching(store, EntityKind::Comment, &[], &[fx.ada.id]).await;
        assert_eq!(got, vec![fx.com_a.id], "{b:?}: by author");
        let got = matching(store, EntityKind::Comment, &[fx.com_a.id], &[fx.ben.id]).await;
        assert_eq!(got, sorted(vec![fx.com_a.id, fx.com_b.id]), "{b:?}");

        // Invites: by inviter or by invitee (none while pending).
        let got = matching(store, EntityKind::Invite, &[], &[fx.ada.id]).await;
        assert_eq!(got, vec![fx.inv_pending.id], "{b:?}: by inviter");
        let got = matching(store, EntityKind::Invite, &[], &[fx.cy.id]).await;
        assert_eq!(got, vec![fx.inv_accepted.id], "{b:?}: by invitee");
        let got = matching(store, EntityKind::Invite, &[fx.inv_accepted.id], &[]).await;
        assert_eq!(got, vec![fx.inv_accepted.id], "{b:?}: by id");

        // Vouches: by voucher or by subject.
        let got = matching(store, EntityKind::Vouch, &[], &[fx.ada.id]).await;
        assert_eq!(got, vec![fx.v_a.id], "{b:?}: by voucher");
        let got = matching(store, EntityKind::Vouch, &[], &[fx.cy.id]).await;
        assert_eq!(got, vec![fx.v_b.id], "{b:?}: by subject");
        let got = matching(store, EntityKind::Vouch, &[], &[fx.ben.id]).await;
        assert_eq!(got, sorted(vec![fx.v_a.id, fx.v_b.id]), "{b:?}: both");

        // An id asked twice, and matched both by id and by reference, is
        // returned once.
        let got = matching(
            store,
            EntityKind::Request,
            &[fx.req_b.id, fx.req_b.id],
            &[fx.ben.id],
        )
        .await;
        assert_eq!(got, vec![fx.req_b.id], "{b:?}");
    }
}

#[tokio::test]
async fn row_heads_matching_gives_the_same_heads_as_row_heads() {
    for db in TestDb::all().await {
        let store = &db.store;
        let fx = Fixture::insert(store).await;
        let b = db.backend;
        store
            .record_rendered(
                EntityKind::User,
                &[(fx.ben.id, file(1, fx.ben.updated_at))],
                &[],
            )
            .await
            .unwrap();
        store
            .record_rendered(
                EntityKind::Comment,
                &[(fx.com_b.id, file(2, fx.com_b.updated_at))],
                &[],
            )
            .await
            .unwrap();

        // Spot checks: another instance's row, with its record.
        let ben: Vec<RowHead> = store
            .row_heads_matching(EntityKind::User, &alpha(), &[fx.ben.id], &[])
            .await
            .unwrap();
        assert_eq!(
            ben,
            vec![RowHead {
                id: fx.ben.id,
                local: false,
                scope: SyncScope::Private,
                updated_at: at(11),
                refs: [None, None],
                rendered: Some(file(1, at(11))),
            }],
            "{b:?}"
        );
        let com_b = store
            .row_heads_matching(EntityKind::Comment, &alpha(), &[], &[fx.req_a.id])
            .await
            .unwrap();
        assert_eq!(
            com_b,
            vec![RowHead {
                id: fx.com_b.id,
                local: false,
                scope: SyncScope::Public,
                updated_at: at(31),
                refs: [Some(fx.req_a.id), Some(fx.ben.id)],
                rendered: Some(file(2, at(31))),
            }],
            "{b:?}"
        );

        // Every kind, asked for one id and for the rows referencing `ben`,
        // from either instance's point of view: exactly the heads of
        // `row_heads` that match.
        let asked = [
            fx.ada.id,
            fx.req_a.id,
            fx.com_a.id,
            fx.inv_pending.id,
            fx.v_b.id,
        ];
        for local in [alpha(), beta()] {
            for (&kind, &id) in EntityKind::ALL.iter().zip(&asked) {
                let mut want: Vec<RowHead> = store
                    .row_heads(kind, &local)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|h| h.id == id || h.refs.contains(&Some(fx.ben.id)))
                    .collect();
                want.sort_by_key(|h| h.id);
                let mut got = store
                    .row_heads_matching(kind, &local, &[id], &[fx.ben.id])
                    .await
                    .unwrap();
                got.sort_by_key(|h| h.id);
                assert_eq!(got, want, "{b:?} {kind} local {local}");
                // Users ignore `referencing`; every other kind has one row
                // referencing `ben` besides the one asked for.
                let expected_len = if kind == EntityKind::User { 1 } else { 2 };
                assert_eq!(got.len(), expected_len, "{b:?} {kind}");
            }
        }
    }
}

/// On Postgres, a journal entry's `seq` is drawn when the change is made,
/// but becomes visible only when its transaction commits, so entries can
/// appear out of order. A change committed after an export read the
/// journal must still survive `forget_changes`. (SQLite serializes writers:
/// entries always appear in order, and one connection cannot hold a write
/// open beside the store's, so this scenario is Postgres's alone.)
///
/// Postgres draws a journal entry's `seq` when the row is written but shows
/// it at commit, so an open transaction can hold a lower number than one
/// already visible. Reading the journal waits for such a writer, so what
/// `forget_changes(through)` deletes is always what was read: no change is
/// forgotten unseen. (SQLite has one writer at a time: nothing to test.)
#[tokio::test]
async fn reading_the_journal_waits_for_writers_so_nothing_is_forgotten_unseen() {
    use sqlx::Connection as _;
    for db in alpha_dbs().await {
        if db.backend != wb_store::BackendKind::Postgres {
            continue;
        }
        let store = &db.store;
        let ada = user("ada", alpha(), SyncScope::Private, at(10));
        let cy = user("cy", alpha(), SyncScope::Private, at(10));
        store
            .insert_batch(&Batch {
                users: vec![ada.clone(), cy.clone()],
                ..Batch::default()
            })
            .await
            .unwrap();
        forget_all(store).await;

        // A slow writer changes `ada` first (drawing the lower seq)...
        let mut slow = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let mut tx = slow.begin().await.unwrap();
        sqlx::query("UPDATE users SET bio = 'slow' WHERE id = $1")
            .bind(ada.id.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        // ...a quick one changes `cy` and commits; an export reads...
        store
            .set_scope(EntityKind::User, cy.id, SyncScope::Public, at(20))
            .await
            .unwrap();
        let reader = store.clone();
        let read = tokio::spawn(async move { reader.export_changes(ALL).await });
        // ...and waits for the slow writer, which then commits.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!read.is_finished(), "the read did not wait for the writer");
        tx.commit().await.unwrap();
        let read = read.await.unwrap().unwrap();
        assert_eq!(
            read.rows,
            Some(vec![(EntityKind::User, ada.id), (EntityKind::User, cy.id)])
        );
        store.forget_changes(read.through).await.unwrap();
        assert_eq!(noted(store).await, Vec::new());
    }
}
