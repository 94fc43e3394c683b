//! Property tests over generated communities, on every backend: the export
//! holds exactly the effectively public rows (and no private value), and a
//! bundle imported elsewhere re-exports byte-identically.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use proptest::prelude::*;
use wb_crypto::KeyStore;
use wb_engine::sync::{ImportOptions, NoProgress, export_bundle, import_bundle, relay_bundle};
use wb_engine::{Instance, NewUser};
use wb_model::{EntityKind, InstanceName, Role, SyncScope, Username, Uuid};
use wb_store::testing::TestDb;

/// A generated community: indices into earlier vectors stand for references.
#[derive(Clone, Debug)]
struct Community {
    users: Vec<(Role, bool)>,
    requests: Vec<(usize, bool)>,
    comments: Vec<(usize, usize, bool)>,
    invites: Vec<(usize, Option<usize>, bool)>,
}

fn community() -> impl Strategy<Value = Community> {
    (1usize..6).prop_flat_map(|n_users| {
        let role = prop_oneof![Just(Role::Member), Just(Role::Moderator), Just(Role::Admin)];
        (
            prop::collection::vec((role, any::<bool>()), n_users),
            prop::collection::vec((0..n_users, any::<bool>()), 0..6),
            prop::collection::vec((0usize..6, 0..n_users, any::<bool>()), 0..8),
            prop::collection::vec(
                (0..n_users, prop::option::of(0..n_users), any::<bool>()),
                0..4,
            ),
        )
            .prop_map(|(users, requests, comments, invites)| Community {
                users,
                requests,
                comments,
                invites,
            })
    })
}

fn scope(public: bool) -> SyncScope {
    if public {
        SyncScope::Public
    } else {
        SyncScope::Private
    }
}

/// Builds the community through the engine; returns each row with the unique
/// text it carries, so its presence in an export can be checked.
async fn build(instance: &Instance, c: &Community) -> Vec<(EntityKind, Uuid, String)> {
    let mut rows = Vec::new();
    let admin = "root";
    instance
        .add_user(NewUser {
            username: Username::parse(admin).unwrap(),
            display_name: "root".into(),
            bio: String::new(),
            email: Some("canary-root@example.invalid".into()),
            role: Role::Admin,
            invited_by: None,
        })
        .await
        .unwrap();
    let mut names = Vec::new();
    for (i, (role, public)) in c.users.iter().enumerate() {
        let name = format!("u{i}");
        let user = instance
            .add_user(NewUser {
                username: Username::parse(&name).unwrap(),
                display_name: format!("tok-user-{i}"),
                bio: String::new(),
                email: Some(format!("canary-email-{i}@example.invalid")),
                role: *role,
                invited_by: None,
            })
            .await
            .unwrap();
        instance
            .set_scope(EntityKind::User, user.id, scope(*public), admin)
            .await
            .unwrap();
        rows.push((EntityKind::User, user.id, format!("tok-user-{i}")));
        names.push(name);
    }
    let mut request_ids = Vec::new();
    for (i, (author, public)) in c.requests.iter().enumerate() {
        let r = instance
            .add_request(&names[*author], &format!("tok-request-{i}"), "b")
            .await
            .unwrap();
        instance
            .set_scope(EntityKind::Request, r.id, scope(*public), admin)
            .await
            .unwrap();
        rows.push((EntityKind::Request, r.id, format!("tok-request-{i}")));
        request_ids.push(r.id);
    }
    for (i, (request, author, public)) in c.comments.iter().enumerate() {
        let Some(request_id) = request_ids.get(*request) else {
            continue;
        };
        let body = format!("tok-comment-{i}");
        let cm = instance
            .add_comment(&names[*author], *request_id, &body)
            .await
            .unwrap();
        instance
            .set_scope(EntityKind::Comment, cm.id, scope(*public), admin)
            .await
            .unwrap();
        rows.push((EntityKind::Comment, cm.id, body));
    }
    for (inviter, invitee, public) in &c.invites {
        let invite = instance.add_invite(&names[*inviter]).await.unwrap();
        if let Some(_invitee) = invitee {
            // Accepting creates a new (private) member invited by the inviter.
            let code = invite.code.clone().unwrap();
            let fresh =
                Username::parse(&format!("n{}", &invite.id.simple().to_string()[24..])).unwrap();
            instance.accept_invite(&code, fresh).await.unwrap();
        }
        instance
            .set_scope(EntityKind::Invite, invite.id, scope(*public), admin)
            .await
            .unwrap();
        // Invites carry no text of their own: their id is the token.
        rows.push((EntityKind::Invite, invite.id, invite.id.to_string()));
        rows.push((EntityKind::Invite, invite.id, invite.code.unwrap()));
    }
    rows
}

mod common;
use common::tree;

async fn check(c: Community, a: TestDb, b: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let alpha = Instance::init(
        a.store.clone(),
        InstanceName::parse("alpha.example").unwrap(),
    )
    .await
    .unwrap();
    let beta = Instance::init(
        b.store.clone(),
        InstanceName::parse("beta.example").unwrap(),
    )
    .await
    .unwrap();
    let rows = build(&alpha, &c).await;
    let keys_a = KeyStore::new(dir.path().join("a-keys"));
    let keys_b = KeyStore::new(dir.path().join("b-keys"));
    let out = dir.path().join("out");
    export_bundle(&alpha, &keys_a, &out, &NoProgress)
        .await
        .unwrap();
    let exported = tree(&out);
    let all_text: String = exported
        .values()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .collect();

    // Exactly the effectively public rows are exported.
    let mut resolver = alpha.resolver();
    for (kind, id, token) in &rows {
        let effective = resolver.effective(*kind, *id).await.unwrap();
        let path = format!("{kind}/{id}.sync.txt");
        assert_eq!(
            exported.contains_key(&path),
            effective.is_exported(),
            "{path}: {effective}"
        );
        if !effective.is_exported() || token.len() == 32 {
            // Held-back and private rows' text, and invite codes, never leave.
            assert!(
                !all_text.contains(token.as_str()),
                "{token} leaked ({effective})"
            );
        }
    }
    assert!(!all_text.contains("canary"), "an email leaked");
    assert!(!all_text.contains("\"role\""), "a role leaked");

    // Lossless round trip through beta.
    import_bundle(
        &beta,
        &keys_b,
        &out,
        &ImportOptions {
            accept_new_keys: true,
            ..ImportOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    let relay = dir.path().join("relay");
    let alpha_name = InstanceName::parse("alpha.example").unwrap();
    relay_bundle(&beta, &alpha_name, &relay, &NoProgress)
        .await
        .unwrap();
    assert_eq!(tree(&relay), exported);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn exports_hold_exactly_the_public_rows_and_round_trip(c in community()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            check(c.clone(), TestDb::sqlite().await, TestDb::sqlite().await).await;
            if let (Some(a), Some(b)) = (TestDb::postgres().await, TestDb::postgres().await) {
                check(c, a, b).await;
            }
        });
    }
}
