//! The sync status page and "Export now" (issue #15 §3).

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use wb_admin::{AdminState, app};
use wb_crypto::KeyStore;
use wb_engine::sync::key_dir;

use crate::common::{Client, csrf_in, demos};

#[actix_web::test]
async fn the_status_page_shows_the_key_the_export_and_exports_on_request() {
    for demo in demos().await {
        let dir = tempfile::tempdir().expect("a directory");
        let state = AdminState::new(demo.instance.clone())
            .expect("state")
            .with_instance_dir(Some(dir.path().to_owned()));
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;

        let before = client.get("/status").await;
        assert_eq!(before.status, StatusCode::OK, "{}", demo.label);
        assert!(before.body.contains("<h1>Sync status</h1>"));
        assert!(
            before.body.contains("No signing key can be read"),
            "{}",
            before.body
        );
        assert!(
            before
                .body
                .contains(r#"<dd id="export-sequence">none yet</dd>"#)
        );
        assert!(before.body.contains("No peers"));

        // Without the CSRF token: refused, nothing exported, no key made.
        let forged = client.post("/export", &[]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert_eq!(
            demo.instance.store().export_state().await.expect("state").0,
            0
        );
        assert!(!dir.path().join(".sync").exists(), "no key was created");
        assert!(!dir.path().join("data").exists(), "nothing was written");

        let after = client
            .post_and_follow("/export", &[("csrf", &csrf_in(&before.body))])
            .await;
        assert!(
            after.body.contains("Exported sequence 1: "),
            "{}",
            after.body
        );
        assert!(after.body.contains("a new signing key was created"));
        let key = KeyStore::new(key_dir(dir.path()))
            .load_public(demo.instance.name().as_str())
            .expect("the export made a key");
        assert!(after.body.contains(&key.key_id_hex()), "{}", after.body);
        assert!(after.body.contains(&key.to_minisign_base64()));
        assert!(after.body.contains(r#"<dd id="export-sequence">1</dd>"#));
        assert!(
            !after.body.contains(r#"<dd id="export-files">—</dd>"#),
            "the manifest is read"
        );
        assert!(after.body.contains(" UTC</time>"), "when it was written");
        assert_eq!(
            demo.instance.store().export_state().await.expect("state").0,
            1
        );

        let again = client
            .post_and_follow("/export", &[("csrf", &csrf_in(&after.body))])
            .await;
        assert!(again.body.contains("still sequence 1"), "{}", again.body);
    }
}

#[actix_web::test]
async fn without_the_instance_directory_the_status_page_says_so_and_exports_nothing() {
    for demo in demos().await {
        let state = AdminState::new(demo.instance.clone()).expect("state");
        let app = init_service(app(state.clone())).await;
        let mut client = Client::new(&app);
        client.log_in(&state.login_path()).await;
        let page = client.get("/status").await;
        assert!(page.body.contains("started without the instance directory"));
        let refused = client
            .post_and_follow("/export", &[("csrf", &csrf_in(&page.body))])
            .await;
        assert!(refused.body.contains("Not exported: "), "{}", refused.body);
        assert_eq!(
            demo.instance.store().export_state().await.expect("state").0,
            0
        );
    }
}
