//! Store tests: every scenario runs on SQLite and, when `WB_TEST_POSTGRES_URL`
//! is set, on Postgres.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::BTreeSet;

use wb_model::{
    Comment, EntityKind, InstanceName, Invite, InviteStatus, Request, RequestStatus, Role,
    SyncScope, Timestamp, User, Username, Uuid, Vouch, new_id,
};
use wb_store::testing::TestDb;
use wb_store::{BackendKind, Batch, Store, StoreError};

fn alpha() -> InstanceName {
    InstanceName::parse("alpha.example").unwrap()
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000 + seconds * 1_000_000).unwrap()
}

fn user(name: &str, invited_by: Option<Uuid>) -> User {
    User {
        id: new_id(),
        origin: alpha(),
        username: Username::parse(name).unwrap(),
        display_name: format!("{name} display"),
        bio: String::new(),
        email: Some(format!("{name}@example.invalid")),
        role: Role::Member,
        invited_by,
        scope: SyncScope::Private,
        created_at: at(1),
        updated_at: at(1),
    }
}

fn request(author: &User) -> Request {
    Request {
        id: new_id(),
        origin: alpha(),
        author_id: author.id,
        title: "Need a ladder".into(),
        body: "Two metres, for Saturday.\nThanks!".into(),
        status: RequestStatus::Open,
        scope: SyncScope::Public,
        created_at: at(2),
        updated_at: at(3),
    }
}

fn comment(request: &Request, author: &User) -> Comment {
    Comment {
        id: new_id(),
        origin: alpha(),
        request_id: request.id,
        author_id: author.id,
        body: "I have one — ünïcode too".into(),
        scope: SyncScope::Private,
        created_at: at(4),
        updated_at: at(4),
    }
}

fn invite(inviter: &User) -> Invite {
    Invite {
        id: new_id(),
        origin: alpha(),
        inviter_id: inviter.id,
        invitee_id: None,
        status: InviteStatus::Pending,
        code: Some(format!("code-{}", new_id().simple())),
        scope: SyncScope::Private,
        created_at: at(5),
        updated_at: at(5),
    }
}

#[tokio::test]
async fn migrations_apply_once_and_reapplying_is_a_no_op() {
    for db in TestDb::all().await {
        // TestDb migrated already; a second run finds nothing to do.
        assert_eq!(db.store.migrate().await.unwrap(), 0, "{:?}", db.backend);
        assert_eq!(db.store.instance_name().await.unwrap(), None);
    }
}

#[tokio::test]
async fn fresh_sqlite_file_gets_every_migration() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("wb.db"), true)
        .await
        .unwrap();
    assert!(store.migrate().await.unwrap() >= 1);
    assert_eq!(store.migrate().await.unwrap(), 0);
    assert_eq!(store.backend(), BackendKind::Sqlite);
}

#[test]
fn both_dialects_have_the_same_migration_versions() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/instance");
    let versions = |dialect: &str| -> BTreeSet<String> {
        std::fs::read_dir(format!("{root}/{dialect}"))
            .unwrap()
            .map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                name.split('_').next().unwrap().to_owned()
            })
            .collect()
    };
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("postgres"));
}

#[tokio::test]
async fn instance_name_is_stored() {
    for db in TestDb::all().await {
        db.store.set_instance_name(&alpha()).await.unwrap();
        assert_eq!(db.store.instance_name().await.unwrap(), Some(alpha()));
    }
}

#[tokio::test]
async fn every_entity_round_trips() {
    for db in TestDb::all().await {
        let store = &db.store;
        let alice = user("alice", None);
        let bob = user("bob", Some(alice.id));
        let req = request(&alice);
        let com = comment(&req, &bob);
        let inv = invite(&alice);
        store
            .insert_batch(&Batch {
                users: vec![alice.clone(), bob.clone()],
                requests: vec![req.clone()],
                comments: vec![com.clone()],
                invites: vec![inv.clone()],
                ..Batch::default()
            })
            .await
            .unwrap();

        assert_eq!(store.user(alice.id).await.unwrap(), Some(alice.clone()));
        assert_eq!(
            store
                .user_by_username(&alpha(), &bob.username)
                .await
                .unwrap(),
            Some(bob.clone())
        );
        assert_eq!(
            store.users().await.unwrap(),
            vec![alice.clone(), bob.clone()]
        );
        assert_eq!(store.request(req.id).await.unwrap(), Some(req.clone()));
        assert_eq!(store.requests().await.unwrap(), vec![req.clone()]);
        assert_eq!(store.comment(com.id).await.unwrap(), Some(com.clone()));
        assert_eq!(store.comments_of(req.id).await.unwrap(), vec![com.clone()]);
        assert_eq!(store.comments().await.unwrap(), vec![com]);
        assert_eq!(store.invite(inv.id).await.unwrap(), Some(inv.clone()));
        assert_eq!(
            store
                .invite_by_code(inv.code.as_deref().unwrap())
                .await
                .unwrap(),
            Some(inv.clone())
        );
        assert_eq!(store.invites().await.unwrap(), vec![inv]);
        assert_eq!(
            store.user(new_id()).await.unwrap(),
            None,
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn a_failing_batch_writes_nothing() {
    for db in TestDb::all().await {
        let alice = user("alice", None);
        let ghost = user("ghost", None);
        // The request's author is not in the database: the foreign key fails
        // after alice was inserted in the same transaction.
        let orphan = request(&ghost);
        let err = db
            .store
            .insert_batch(&Batch {
                users: vec![alice.clone()],
                requests: vec![orphan],
                ..Batch::default()
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Constraint { .. }),
            "{:?}: {err:?}",
            db.backend
        );
        assert_eq!(db.store.users().await.unwrap(), vec![], "{:?}", db.backend);
    }
}

#[tokio::test]
async fn usernames_are_unique_per_origin() {
    for db in TestDb::all().await {
        db.store.insert_user(&user("alice", None)).await.unwrap();
        let err = db
            .store
            .insert_user(&user("alice", None))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Constraint { .. }),
            "{:?}: {err:?}",
            db.backend
        );
        // Errors name constraints, never values such as the email.
        assert!(!err.to_string().contains("example.invalid"), "{err}");

        let mut other_origin = user("alice", None);
        other_origin.origin = InstanceName::parse("beta.example").unwrap();
        db.store.insert_user(&other_origin).await.unwrap();
    }
}

#[tokio::test]
async fn scope_changes_and_unknown_rows() {
    for db in TestDb::all().await {
        let alice = user("alice", None);
        db.store.insert_user(&alice).await.unwrap();
        db.store
            .set_scope(EntityKind::User, alice.id, SyncScope::Public, at(9))
            .await
            .unwrap();
        let stored = db.store.user(alice.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.scope, stored.updated_at),
            (SyncScope::Public, at(9))
        );

        let missing = new_id();
        let err = db
            .store
            .set_scope(EntityKind::Request, missing, SyncScope::Public, at(9))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), format!("no request with id {missing}"));
    }
}

#[tokio::test]
async fn an_invite_is_accepted_once() {
    for db in TestDb::all().await {
        let alice = user("alice", None);
        let inv = invite(&alice);
        db.store
            .insert_batch(&Batch {
                users: vec![alice.clone()],
                invites: vec![inv.clone()],
                ..Batch::default()
            })
            .await
            .unwrap();
        let carol = user("carol", Some(alice.id));
        db.store.accept_invite(inv.id, &carol).await.unwrap();
        let accepted = db.store.invite(inv.id).await.unwrap().unwrap();
        assert_eq!(accepted.status, InviteStatus::Accepted);
        assert_eq!(accepted.invitee_id, Some(carol.id));

        let dave = user("dave", Some(alice.id));
        let err = db.store.accept_invite(inv.id, &dave).await.unwrap_err();
        assert!(err.to_string().contains("no longer pending"), "{err}");
        assert_eq!(db.store.user(dave.id).await.unwrap(), None, "rolled back");
    }
}

/// The schema itself refuses bad scope values and defaults to private,
/// whatever code writes to it.
#[tokio::test]
async fn schema_checks_scope_and_defaults_to_private() {
    for db in TestDb::all().await {
        let alice = user("alice", None);
        db.store.insert_user(&alice).await.unwrap();
        let insert = "INSERT INTO requests (id, origin, author_id, title, body, created_at, updated_at) \
                      VALUES ($1, 'alpha.example', $2, 't', 'b', 0, 0)";
        let bad = "INSERT INTO requests (id, origin, author_id, title, body, sync_scope, created_at, updated_at) \
                   VALUES ($1, 'alpha.example', $2, 't', 'b', 'shared', 0, 0)";
        let id = new_id();
        match db.backend {
            BackendKind::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
                sqlx::query(insert)
                    .bind(id.to_string())
                    .bind(alice.id.to_string())
                    .execute(&pool)
                    .await
                    .unwrap();
                let refused = sqlx::query(bad)
                    .bind(new_id().to_string())
                    .bind(alice.id.to_string())
                    .execute(&pool)
                    .await;
                assert!(refused.is_err());
            }
            BackendKind::Postgres => {
                let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
                sqlx::query(insert)
                    .bind(id.to_string())
                    .bind(alice.id.to_string())
                    .execute(&pool)
                    .await
                    .unwrap();
                let refused = sqlx::query(bad)
                    .bind(new_id().to_string())
                    .bind(alice.id.to_string())
                    .execute(&pool)
                    .await;
                assert!(refused.is_err());
            }
        }
        let stored = db.store.request(id).await.unwrap().unwrap();
        assert_eq!(stored.scope, SyncScope::Private, "{:?}", db.backend);
    }
}

#[tokio::test]
async fn bad_urls_are_explained() {
    let err = Store::connect("mysql://root@localhost/x", false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("use sqlite://PATH or postgres://"),
        "{err}"
    );
    let err = Store::connect("postgres://u:hunter2@127.0.0.1:1/x", false)
        .await
        .unwrap_err();
    assert!(
        !err.to_string().contains("hunter2"),
        "password redacted: {err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open_sqlite(&dir.path().join("missing.db"), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.db"), "{err}");
}

fn vouch(voucher: &User, subject: &User) -> Vouch {
    Vouch {
        id: new_id(),
        origin: alpha(),
        voucher_id: voucher.id,
        subject_id: subject.id,
        signature: "c2ln".into(),
        scope: SyncScope::Private,
        created_at: at(6),
        updated_at: at(6),
    }
}

#[tokio::test]
async fn vouches_are_unique_per_pair_and_never_for_oneself() {
    for db in TestDb::all().await {
        let ada = user("ada", None);
        let ben = user("ben", Some(ada.id));
        let inv = Invite {
            invitee_id: Some(ben.id),
            status: InviteStatus::Accepted,
            ..invite(&ada)
        };
        db.store
            .insert_batch(&Batch {
                users: vec![ada.clone(), ben.clone()],
                invites: vec![inv],
                ..Batch::default()
            })
            .await
            .unwrap();
        let v = vouch(&ben, &ada);
        db.store.insert_vouch(&v).await.unwrap();
        assert_eq!(db.store.vouch(v.id).await.unwrap(), Some(v.clone()));
        assert_eq!(db.store.vouches().await.unwrap(), vec![v]);
        let err = db.store.insert_vouch(&vouch(&ben, &ada)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Constraint { .. }),
            "{:?}: {err:?}",
            db.backend
        );
        let err = db.store.insert_vouch(&vouch(&ada, &ada)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Constraint { .. }),
            "{:?}: {err:?}",
            db.backend
        );
        assert_eq!(db.store.vouches().await.unwrap().len(), 1);

        // Root users: nobody invited them (ben was, by invite and invited_by).
        db.store.set_instance_name(&alpha()).await.unwrap();
        let roots: Vec<String> = db
            .store
            .root_users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.username.to_string())
            .collect();
        assert_eq!(roots, ["ada"], "{:?}", db.backend);
    }
}

/// An import whose rows are inserted in multi-row statements still names
/// the one row whose id another origin already uses, and writes nothing.
#[tokio::test]
async fn an_import_colliding_with_another_origins_id_names_the_row_and_writes_nothing() {
    for db in TestDb::all().await {
        let local = user("ada", None);
        db.store.insert_user(&local).await.unwrap();
        let beta = InstanceName::parse("beta.example").unwrap();
        let mut users: Vec<User> = (0..40)
            .map(|i| User {
                origin: beta.clone(),
                email: None,
                scope: SyncScope::Public,
                ..user(&format!("b{i}"), None)
            })
            .collect();
        // The 30th row reuses the local user's id.
        users[29].id = local.id;
        let batch = wb_store::ImportBatch {
            pin: wb_store::ImportPin::Change(wb_store::PinChange {
                instance: beta.clone(),
                replaces: None,
                public_key: "RWQ".into(),
                source: wb_store::PinSource::AcceptNew,
                at: at(7),
                reset_sequence: false,
            }),
            state: wb_store::OriginState {
                instance: beta.clone(),
                public_key: "RWQ".into(),
                last_sequence: 1,
                manifest_sha256: "0".repeat(64),
                signature: "sig".into(),
                imported_at: at(7),
                key_rotations: None,
            },
            users,
            requests: vec![],
            comments: vec![],
            invites: vec![],
            vouches: vec![],
        };
        let err = db.store.apply_import(&batch).await.unwrap_err();
        match &err {
            StoreError::IdCollision {
                kind: EntityKind::User,
                id,
            } => {
                assert_eq!(id, &local.id.to_string(), "{:?}", db.backend);
            }
            other => panic!("{:?}: expected an id collision, got {other:?}", db.backend),
        }
        assert_eq!(
            db.store.users().await.unwrap(),
            vec![local],
            "nothing written"
        );
        assert_eq!(db.store.origin_state(&beta).await.unwrap(), None);
        assert_eq!(db.store.pin(&beta).await.unwrap(), None, "nor pinned");
    }
}
