//! Engine scenarios on every backend: instances, rows, invites, scope
//! toggles with their permission rules, effective scopes, fixtures.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::{Path, PathBuf};

use wb_engine::{EngineError, Instance, NewUser, fixtures};
use wb_model::{
    EffectiveScope, EntityKind, InstanceName, Request, RequestStatus, Role, SyncScope, Timestamp,
    Username, new_id,
};
use wb_store::testing::TestDb;

fn name(text: &str) -> InstanceName {
    InstanceName::parse(text).unwrap()
}

fn demo_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo")
}

async fn add_user(instance: &Instance, username: &str, role: Role) -> wb_model::User {
    instance
        .add_user(NewUser {
            username: Username::parse(username).unwrap(),
            display_name: String::new(),
            bio: String::new(),
            email: Some(format!("{username}@example.invalid")),
            role,
            invited_by: None,
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn init_names_an_instance_once() {
    for db in TestDb::all().await {
        let err = Instance::open(db.store.clone()).await.unwrap_err();
        assert!(matches!(err, EngineError::NotInitialised), "{err}");
        let alpha = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        assert_eq!(alpha.name(), &name("alpha.example"));
        // Same name again: fine (idempotent); another name: refused.
        Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        let err = Instance::init(db.store.clone(), name("beta.example"))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("already belongs to instance alpha.example"),
            "{err}"
        );
        assert_eq!(
            Instance::open(db.store.clone()).await.unwrap().name(),
            alpha.name()
        );
    }
}

#[tokio::test]
async fn new_rows_are_private_and_toggles_follow_the_rules() {
    for db in TestDb::all().await {
        let alpha = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        let ada = add_user(&alpha, "ada", Role::Admin).await;
        let mod_ben = add_user(&alpha, "ben", Role::Moderator).await;
        add_user(&alpha, "cleo", Role::Member).await;
        let request = alpha
            .add_request("cleo", "Borrow a ladder", "Saturday")
            .await
            .unwrap();
        let comment = alpha
            .add_comment("ben", request.id, "I have one")
            .await
            .unwrap();
        let invite = alpha.add_invite("cleo").await.unwrap();
        for (kind, id) in [
            (EntityKind::User, ada.id),
            (EntityKind::Request, request.id),
            (EntityKind::Comment, comment.id),
            (EntityKind::Invite, invite.id),
        ] {
            let report = alpha.scope_report(kind, id).await.unwrap();
            assert_eq!(
                (report.own, report.effective),
                (SyncScope::Private, EffectiveScope::Private)
            );
        }

        // A member may not publish someone else's request; nothing changes.
        let before = db.store.request(request.id).await.unwrap().unwrap();
        let err = alpha
            .set_scope(EntityKind::Request, request.id, SyncScope::Public, "ben")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("moderator-private-only"), "{err}");
        assert_eq!(db.store.request(request.id).await.unwrap().unwrap(), before);

        // The author may; the author's profile is still private, so it is held back.
        let change = alpha
            .set_scope(EntityKind::Request, request.id, SyncScope::Public, "cleo")
            .await
            .unwrap();
        assert_eq!(change.before, SyncScope::Private);
        assert!(
            change
                .effective
                .to_string()
                .starts_with("Public, held back: its author (user "),
            "{}",
            change.effective
        );
        alpha
            .set_scope(EntityKind::User, mod_ben.id, SyncScope::Public, "ben")
            .await
            .unwrap();
        let cleo = alpha.local_user("cleo").await.unwrap();
        alpha
            .set_scope(EntityKind::User, cleo.id, SyncScope::Public, "ada")
            .await
            .unwrap();
        assert_eq!(
            alpha
                .scope_report(EntityKind::Request, request.id)
                .await
                .unwrap()
                .effective,
            EffectiveScope::Public
        );

        // A comment made public by its author is exported once its request is.
        alpha
            .set_scope(EntityKind::Comment, comment.id, SyncScope::Public, "ben")
            .await
            .unwrap();
        assert!(
            alpha
                .scope_report(EntityKind::Comment, comment.id)
                .await
                .unwrap()
                .effective
                .is_exported()
        );
        // The moderator makes the request private: the comment is held back.
        alpha
            .set_scope(EntityKind::Request, request.id, SyncScope::Private, "ben")
            .await
            .unwrap();
        let held = alpha
            .scope_report(EntityKind::Comment, comment.id)
            .await
            .unwrap()
            .effective;
        assert_eq!(
            held.to_string(),
            format!(
                "Public, held back: its request (request {}) is private",
                request.id
            )
        );

        // The inviter toggles their invite; an admin toggles anything local.
        alpha
            .set_scope(EntityKind::Invite, invite.id, SyncScope::Public, "cleo")
            .await
            .unwrap();
        alpha
            .set_scope(EntityKind::Invite, invite.id, SyncScope::Private, "ada")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn imported_rows_are_read_only_and_count_as_exported() {
    for db in TestDb::all().await {
        let alpha = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        add_user(&alpha, "ada", Role::Admin).await;
        // A row from beta, as an import would store it.
        let mut foreign = add_user(&alpha, "tmp", Role::Member).await;
        foreign.id = new_id();
        foreign.origin = name("beta.example");
        foreign.username = Username::parse("zoe").unwrap();
        foreign.email = None;
        foreign.scope = SyncScope::Public;
        db.store.insert_user(&foreign).await.unwrap();
        let now = Timestamp::now();
        let foreign_request = Request {
            id: new_id(),
            origin: name("beta.example"),
            author_id: foreign.id,
            title: "From beta".into(),
            body: String::new(),
            status: RequestStatus::Open,
            scope: SyncScope::Public,
            created_at: now,
            updated_at: now,
        };
        db.store.insert_request(&foreign_request).await.unwrap();

        let err = alpha
            .set_scope(
                EntityKind::Request,
                foreign_request.id,
                SyncScope::Private,
                "ada",
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("imported-read-only"), "{err}");
        assert!(err.to_string().contains("beta.example"), "{err}");

        // A local public comment on an imported request is exported.
        let comment = alpha
            .add_comment("ada", foreign_request.id, "Count me in")
            .await
            .unwrap();
        let ada = alpha.local_user("ada").await.unwrap();
        alpha
            .set_scope(EntityKind::User, ada.id, SyncScope::Public, "ada")
            .await
            .unwrap();
        alpha
            .set_scope(EntityKind::Comment, comment.id, SyncScope::Public, "ada")
            .await
            .unwrap();
        let report = alpha
            .scope_report(EntityKind::Comment, comment.id)
            .await
            .unwrap();
        assert_eq!(report.effective, EffectiveScope::Public);

        // Imported members cannot act here, even with the instance's usernames.
        let err = alpha.add_request("zoe", "x", "y").await.unwrap_err();
        assert!(err.to_string().contains("no local user \"zoe\""), "{err}");
    }
}

#[tokio::test]
async fn invites_are_accepted_once() {
    for db in TestDb::all().await {
        let alpha = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        let ada = add_user(&alpha, "ada", Role::Admin).await;
        let invite = alpha.add_invite("ada").await.unwrap();
        let code = invite.code.clone().unwrap();
        assert_eq!(code.len(), 32);
        let eve = alpha
            .accept_invite(&code, Username::parse("eve").unwrap())
            .await
            .unwrap();
        assert_eq!(eve.invited_by, Some(ada.id));
        assert_eq!(eve.scope, SyncScope::Private);
        let err = alpha
            .accept_invite(&code, Username::parse("fay").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::UnknownInviteCode), "{err}");
        assert!(alpha.local_user("fay").await.is_err());
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    for db in TestDb::all().await {
        let alpha = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        add_user(&alpha, "ada", Role::Admin).await;
        let err = alpha.add_request("ada", "  ", "body").await.unwrap_err();
        assert!(err.to_string().starts_with("invalid title"), "{err}");
        let err = alpha
            .add_request("ada", "two\nlines", "body")
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid title"), "{err}");
        let err = alpha.add_comment("ada", new_id(), "hi").await.unwrap_err();
        assert!(err.to_string().contains("no request with id"), "{err}");
        let err = alpha.add_request("nobody", "t", "b").await.unwrap_err();
        assert!(err.to_string().contains("wb list user"), "{err}");
        assert!(db.store.requests().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn demo_fixtures_load_with_mixed_scopes() {
    for db in TestDb::all().await {
        let alpha = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        let summary = fixtures::load(&alpha, &demo_fixtures()).await.unwrap();
        assert_eq!(
            (
                summary.users,
                summary.requests,
                summary.comments,
                summary.invites
            ),
            (4, 4, 4, 5)
        );
        let mut resolver = alpha.resolver();
        let mut counts = [0usize; 3];
        for request in db.store.requests().await.unwrap() {
            match resolver
                .effective(EntityKind::Request, request.id)
                .await
                .unwrap()
            {
                EffectiveScope::Public => counts[0] += 1,
                EffectiveScope::Private => counts[1] += 1,
                EffectiveScope::HeldBack(_) => counts[2] += 1,
            }
        }
        assert_eq!(counts, [2, 1, 1], "public, private, held back");
        let ben = alpha.local_user("ben").await.unwrap();
        let ada = alpha.local_user("ada").await.unwrap();
        assert_eq!(ben.invited_by, Some(ada.id));
    }
}

#[tokio::test]
async fn a_bad_fixture_names_file_and_field_and_writes_nothing() {
    for db in TestDb::all().await {
        let alpha = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"users":[{"username":"ada","role":"admin"}],
               "requests":[{"key":"k","author":"zed","title":"t"}]}"#,
        )
        .unwrap();
        let err = fixtures::load(&alpha, dir.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "a.json: requests[0].author: no user \"zed\" in the fixtures or on this instance"
            ),
            "{err}"
        );
        assert!(
            db.store.users().await.unwrap().is_empty(),
            "nothing half-written"
        );

        std::fs::write(
            dir.path().join("a.json"),
            r#"{"users":[{"username":"ada","colour":"red"}]}"#,
        )
        .unwrap();
        let err = fixtures::load(&alpha, dir.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `colour`") && err.contains("line 1"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn profiles_are_edited_by_their_user_or_an_admin() {
    for db in TestDb::all().await {
        let alpha = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        add_user(&alpha, "ada", Role::Admin).await;
        add_user(&alpha, "ben", Role::Moderator).await;
        let cleo = add_user(&alpha, "cleo", Role::Member).await;
        let edited = alpha
            .update_profile("cleo", "cleo", "Cleo P.", "Hello")
            .await
            .unwrap();
        assert_eq!(
            (edited.display_name.as_str(), edited.bio.as_str()),
            ("Cleo P.", "Hello")
        );
        assert_eq!(db.store.user(cleo.id).await.unwrap().unwrap(), edited);
        alpha
            .update_profile("cleo", "ada", "Cleo", "Hi")
            .await
            .unwrap();
        let err = alpha
            .update_profile("cleo", "ben", "x", "y")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("profile-owner-or-admin"), "{err}");
        let stored = db.store.user(cleo.id).await.unwrap().unwrap();
        assert_eq!(stored.display_name, "Cleo");
        // No change, no new updated_at.
        let same = alpha
            .update_profile("cleo", "cleo", "Cleo", "Hi")
            .await
            .unwrap();
        assert_eq!(same.updated_at, stored.updated_at);
    }
}

/// A progress that writes down what it was told.
#[derive(Default)]
struct Recorded(std::sync::Mutex<Vec<String>>);

impl wb_engine::sync::Progress for Recorded {
    fn start(&self, what: &str, total: u64) {
        self.0.lock().unwrap().push(format!("start {what} {total}"));
    }
    fn step(&self) {
        self.0.lock().unwrap().push("step".into());
    }
    fn finish(&self) {
        self.0.lock().unwrap().push("finish".into());
    }
}

#[tokio::test]
async fn fixture_loads_report_their_progress() {
    for db in TestDb::all().await {
        let instance = Instance::init(db.store.clone(), name("alpha.example"))
            .await
            .unwrap();
        let progress = Recorded::default();
        let summary = fixtures::load_with_progress(&instance, &demo_fixtures(), &progress)
            .await
            .unwrap();
        assert_eq!(summary.users, 4);
        assert_eq!(
            progress.0.into_inner().unwrap(),
            [
                "start reading fixture files 1",
                "step",
                "finish",
                "start writing rows 1",
                "step",
                "finish"
            ]
        );
    }
}
