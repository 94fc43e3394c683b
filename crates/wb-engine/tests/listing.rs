//! The listing read model (`wb_engine::listing`) that `wb list` and the
//! admin UI both show: rows with their scopes, held-back reasons naming the
//! row that holds them back, and names; and the status of the last push
//! and pull — on SQLite and (with `WB_TEST_POSTGRES_URL`) Postgres.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::path::Path;

use wb_engine::listing::{Cursor, Exported, Holder, ListFilter, ListQuery};
use wb_engine::sync_runs::{Reach, SyncRunKind};
use wb_engine::{Instance, fixtures};
use wb_model::{EffectiveScope, EntityKind, InstanceName, SyncScope};
use wb_store::testing::TestDb;

async fn demo(db: &TestDb) -> Instance {
    let instance = Instance::init(
        db.store.clone(),
        InstanceName::parse("alpha.example").unwrap(),
    )
    .await
    .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo");
    fixtures::load(&instance, &dir).await.unwrap();
    instance
}

fn held() -> ListQuery {
    ListQuery {
        filter: ListFilter {
            exported: Some(Exported::HeldBack),
            ..ListFilter::default()
        },
        ..ListQuery::default()
    }
}

#[tokio::test]
async fn held_back_rows_name_and_point_at_what_holds_them_back() {
    for db in TestDb::all().await {
        let instance = demo(&db).await;
        let requests = instance.list_requests(&held()).await.unwrap();
        assert_eq!(requests.total_text(), "1", "{:?}", db.backend);
        let sewing = &requests.rows[0];
        assert_eq!(sewing.row.title, "Sewing machine for a day");
        let hold = sewing.scopes.hold.as_ref().unwrap();
        assert_eq!(hold.text, "its author @chloe is private");
        let Holder::Member(chloe) = &hold.holder else {
            panic!("held back by a member: {hold:?}")
        };
        assert_eq!(chloe.handle(), "@chloe");
        assert_eq!(requests.member(sewing.row.author_id).handle(), "@chloe");
        assert!(matches!(
            sewing.scopes.effective,
            EffectiveScope::HeldBack(_)
        ));

        let comments = instance.list_comments(&held()).await.unwrap();
        assert_eq!(comments.rows.len(), 1);
        let name = &comments.rows[0];
        assert_eq!(name.row.body, "Sent you a name.");
        let hold = name.scopes.hold.as_ref().unwrap();
        assert_eq!(
            hold.text,
            "its request \"Looking for a lawyer recommendation\" is private"
        );
        assert!(matches!(
            &hold.holder,
            Holder::Request { id, title: Some(title) }
                if *id == name.row.request_id && title == "Looking for a lawyer recommendation"
        ));
        assert_eq!(
            comments.request_title(name.row.request_id),
            Some("Looking for a lawyer recommendation")
        );

        // Every row of every page has the resolver's effective scope.
        let all = instance
            .list_comments(&ListQuery {
                size: 2,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        assert!(all.has_next && !all.has_previous);
        let next = instance
            .list_comments(&ListQuery {
                size: 2,
                cursor: Cursor::After(all.last_id().unwrap()),
                ..ListQuery::default()
            })
            .await
            .unwrap();
        let mut resolver = instance.resolver();
        for listed in all.rows.iter().chain(&next.rows) {
            let (own, effective) = resolver
                .scopes(EntityKind::Comment, listed.row.id)
                .await
                .unwrap();
            assert_eq!(
                (listed.scopes.own, &listed.scopes.effective),
                (own, &effective)
            );
        }
        let requests = instance.list_requests(&ListQuery::default()).await.unwrap();
        let ladder = requests
            .rows
            .iter()
            .find(|r| r.row.title.starts_with("Borrow a 2 m ladder"))
            .unwrap();
        assert_eq!(requests.comment_count(ladder.row.id), 2);
        let on_ladder = instance
            .list_comments_of(ladder.row.id, Cursor::First, 50)
            .await
            .unwrap();
        assert_eq!(on_ladder.total, 2);
    }
}

#[tokio::test]
async fn the_status_says_when_changes_reach_peers() {
    for db in TestDb::all().await {
        let instance = demo(&db).await;
        let status = instance.sync_status().await.unwrap();
        assert_eq!(status.exported_sequence, 0);
        assert!(status.pending_changes > 0);
        assert_eq!(status.reach(), Reach::AfterExportAndPush);
        assert_eq!(status.last_push, None);

        let failed = instance
            .record_sync_run(
                SyncRunKind::Pull,
                Err("beta.example: refused\nagain".into()),
            )
            .await
            .unwrap();
        assert!(!failed.ok);
        assert_eq!(failed.summary, "beta.example: refused again", "one line");
        let status = instance.sync_status().await.unwrap();
        assert_eq!(status.last_pull, Some(failed));

        // As if exported as sequence 3 with nothing noted since, then pushed.
        let store = instance.store();
        store.set_export_state(3, None).await.unwrap();
        let through = store.export_changes(1_000_000).await.unwrap().through;
        store.forget_changes(through).await.unwrap();
        let status = instance.sync_status().await.unwrap();
        assert_eq!(status.reach(), Reach::AfterPush, "{:?}", db.backend);
        let push = instance
            .record_sync_run(SyncRunKind::Push, Ok(()))
            .await
            .unwrap();
        assert_eq!((push.ok, push.sequence), (true, Some(3)));
        assert_eq!(push.summary, "pushed sequence 3");
        assert_eq!(
            instance.sync_status().await.unwrap().reach(),
            Reach::OnPeersNextPull
        );

        // A change now waits for the next export.
        let sewing = instance
            .list_requests(&held())
            .await
            .unwrap()
            .rows
            .remove(0)
            .row;
        instance
            .set_scope(EntityKind::Request, sewing.id, SyncScope::Private, "chloe")
            .await
            .unwrap();
        let status = instance.sync_status().await.unwrap();
        assert!(status.pending_changes > 0);
        assert_eq!(status.reach(), Reach::AfterExportAndPush);
    }
}
