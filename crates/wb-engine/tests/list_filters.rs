//! The store's effective-scope filter (a SQL mirror of
//! `wb_model::effective_scope`, see docs/admin-ui.md) agrees with the
//! model's rule as `ScopeResolver` applies it, on every row of an instance
//! holding every combination of own scope, origin and reference scopes —
//! on SQLite and (with `WB_TEST_POSTGRES_URL`) Postgres.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::BTreeSet;

use wb_engine::Instance;
use wb_model::{
    Comment, EffectiveScope, EntityKind, InstanceName, Invite, InviteStatus, Request,
    RequestStatus, Role, SyncScope, Timestamp, User, Username, Uuid, Vouch, new_id,
};
use wb_store::testing::TestDb;
use wb_store::{Batch, Cursor, Exported, ListFilter, Store};

const SCOPES: [SyncScope; 2] = [SyncScope::Public, SyncScope::Private];

fn mixed(local: &InstanceName, peer: &InstanceName) -> Batch {
    let now = Timestamp::now();
    let mut batch = Batch::default();
    for origin in [local, peer] {
        for scope in SCOPES {
            let n = batch.users.len();
            batch.users.push(User {
                id: new_id(),
                origin: origin.clone(),
                username: Username::parse(&format!("user{n}")).unwrap(),
                display_name: String::new(),
                bio: String::new(),
                email: None,
                role: Role::Member,
                invited_by: None,
                scope,
                created_at: now,
                updated_at: now,
            });
        }
    }
    let users = batch.users.clone();
    for author in &users {
        for origin in [local, peer] {
            for scope in SCOPES {
                batch.requests.push(Request {
                    id: new_id(),
                    origin: origin.clone(),
                    author_id: author.id,
                    title: "t".into(),
                    body: String::new(),
                    status: RequestStatus::Open,
                    scope,
                    created_at: now,
                    updated_at: now,
                });
            }
        }
    }
    let requests = batch.requests.clone();
    for request in &requests {
        for author in &users {
            for scope in SCOPES {
                batch.comments.push(Comment {
                    id: new_id(),
                    origin: if author.origin == *local {
                        local.clone()
                    } else {
                        peer.clone()
                    },
                    request_id: request.id,
                    author_id: author.id,
                    body: "c".into(),
                    scope,
                    created_at: now,
                    updated_at: now,
                });
            }
        }
    }
    for a in &users {
        for b in &users {
            if a.id == b.id {
                continue;
            }
            // Vouches are unique per pair: both scopes over the pairs.
            let scope = SCOPES[batch.vouches.len() % 2];
            batch.vouches.push(Vouch {
                id: new_id(),
                origin: local.clone(),
                voucher_id: a.id,
                subject_id: b.id,
                signature: "c2ln".into(),
                scope,
                created_at: now,
                updated_at: now,
            });
        }
        for invitee in [None, Some(users[users.len() - 1].id)] {
            for scope in SCOPES {
                batch.invites.push(Invite {
                    id: new_id(),
                    origin: local.clone(),
                    inviter_id: a.id,
                    invitee_id: invitee,
                    status: if invitee.is_some() {
                        InviteStatus::Accepted
                    } else {
                        InviteStatus::Pending
                    },
                    code: None,
                    scope,
                    created_at: now,
                    updated_at: now,
                });
            }
        }
    }
    batch
}

async fn listed(
    store: &Store,
    local: &InstanceName,
    kind: EntityKind,
    exported: Exported,
) -> BTreeSet<Uuid> {
    let filter = ListFilter {
        exported: Some(exported),
        ..ListFilter::default()
    };
    let mut out = BTreeSet::new();
    let mut cursor = Cursor::First;
    loop {
        macro_rules! page {
            ($method:ident) => {{
                let page = store.$method(local, &filter, cursor, 7).await.unwrap();
                let ids: Vec<Uuid> = page.rows.iter().map(|r| r.id).collect();
                (ids, page.has_next, page.total)
            }};
        }
        let (ids, more, total) = match kind {
            EntityKind::User => page!(list_users),
            EntityKind::Request => page!(list_requests),
            EntityKind::Comment => page!(list_comments),
            EntityKind::Invite => page!(list_invites),
            EntityKind::Vouch => page!(list_vouches),
        };
        out.extend(ids.iter().copied());
        if !more {
            assert_eq!(
                out.len() as u64,
                total,
                "{kind} {exported:?}: the count matches the pages"
            );
            return out;
        }
        cursor = Cursor::After(*ids.last().unwrap());
    }
}

#[tokio::test]
async fn the_sql_effective_scope_filter_agrees_with_the_model() {
    for db in TestDb::all().await {
        let local = InstanceName::parse("alpha.example").unwrap();
        let peer = InstanceName::parse("beta.example").unwrap();
        let instance = Instance::init(db.store.clone(), local.clone())
            .await
            .unwrap();
        let batch = mixed(&local, &peer);
        db.store.insert_batch(&batch).await.unwrap();
        let rows: Vec<(EntityKind, Uuid)> = batch
            .users
            .iter()
            .map(|r| (EntityKind::User, r.id))
            .chain(batch.requests.iter().map(|r| (EntityKind::Request, r.id)))
            .chain(batch.comments.iter().map(|r| (EntityKind::Comment, r.id)))
            .chain(batch.invites.iter().map(|r| (EntityKind::Invite, r.id)))
            .chain(batch.vouches.iter().map(|r| (EntityKind::Vouch, r.id)))
            .collect();
        let mut resolver = instance.resolver();
        let mut held_seen = 0;
        for kind in [
            EntityKind::User,
            EntityKind::Request,
            EntityKind::Comment,
            EntityKind::Invite,
            EntityKind::Vouch,
        ] {
            let mut held = BTreeSet::new();
            let mut shared = BTreeSet::new();
            for (k, id) in rows.iter().filter(|(k, _)| *k == kind) {
                match resolver.effective(*k, *id).await.unwrap() {
                    EffectiveScope::Public => shared.insert(*id),
                    EffectiveScope::HeldBack(_) => held.insert(*id),
                    EffectiveScope::Private => false,
                };
            }
            held_seen += held.len();
            assert_eq!(
                listed(&db.store, &local, kind, Exported::HeldBack).await,
                held,
                "{kind} held, {:?}",
                db.backend
            );
            assert_eq!(
                listed(&db.store, &local, kind, Exported::Shared).await,
                shared,
                "{kind} shared, {:?}",
                db.backend
            );
        }
        assert!(held_seen > 0, "the instance holds held-back rows");
    }
}
