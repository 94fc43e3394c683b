//! A real browser: headless Chromium, driven over WebDriver by fantoccini,
//! opens the token URL, chooses a member, opens a request, reads its badge,
//! clicks the toggle and sees the new badge; then, on a bigger instance,
//! pages through a list, filters it, toggles a row from the filtered page
//! and lands back on it, filters by each filter, finds a held-back comment
//! and toggles it, pages through a request's comments, adds a member, and
//! reads the status page (last push and pull, when changes reach peers)
//! and exports from it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use wb_admin::{AdminServer, ServeConfig};
use wb_engine::Instance;
use wb_engine::listing::{ListFilter, ListQuery};
use wb_engine::sync_runs::SyncRunKind;
use wb_model::SyncScope;

use crate::common::demos;

const CHROMIUM: &str = "/usr/bin/chromium";
const LADDER: &str = "Borrow a 2 m ladder this weekend";

/// `chromedriver` on the PATH, if any.
fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|candidate| candidate.is_file())
    })
}

/// Kills chromedriver however the test ends.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn start_driver(binary: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    driver
}

async fn open_browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1200,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::rustls()
        .expect("a TLS-capable WebDriver client")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Reads an element's text until it equals `expected` (a page load after a
/// click may still be in flight), for at most ten seconds.
async fn wait_for_text(client: &Client, css: &str, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == expected || Instant::now() > deadline {
            return text;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_real_browser_reads_a_badge_and_toggles_it() {
    let driver_binary = chromedriver();
    if driver_binary.is_none() || !Path::new(CHROMIUM).is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium/chromedriver not installed, and CI=true: the browser test must run in CI \
             (apt-get install --no-install-recommends chromium chromium-driver)"
        );
        eprintln!("SKIP: chromium/chromedriver not installed");
        return;
    }
    let driver_binary = driver_binary.expect("checked above");

    for demo in demos().await {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = ServeConfig {
            bind: "127.0.0.1:0".parse().expect("an address"),
            public: false,
            instance_dir: Some(dir.path().join("instance")),
        };
        let server = AdminServer::bind(demo.instance.clone(), &config).expect("bind");
        let login_url = server.login_url().to_owned();
        let base = format!("http://{}", server.local_addr());
        let handle = server.handle();
        let running = actix_web::rt::spawn(server.run());

        let driver = start_driver(&driver_binary);
        let client = open_browser(&driver, &dir.path().join("chromium-profile")).await;

        // Without the token: refused.
        client
            .goto(&format!("{base}/requests"))
            .await
            .expect("goto");
        let h1 = wait_for_text(&client, "h1", "401 Unauthorized").await;
        assert_eq!(h1, "401 Unauthorized", "{}", demo.label);

        // The token URL opens a session and lands on the requests.
        client.goto(&login_url).await.expect("open the token URL");
        assert_eq!(wait_for_text(&client, "h1", "Requests").await, "Requests");
        let url = client.current_url().await.expect("url");
        assert_eq!(url.path(), "/requests");
        assert!(url.query().is_none(), "the token leaves the address bar");

        // Act as ben, the ladder request's author.
        let select = client
            .find(Locator::Css("#acting-user"))
            .await
            .expect("the acting-user selector");
        select.select_by_value("ben").await.expect("choose ben");
        client
            .find(Locator::Css("form.acting button"))
            .await
            .expect("the selector's button")
            .click()
            .await
            .expect("click");
        let flash = wait_for_text(&client, ".flash", "Now acting as ben (moderator).").await;
        assert_eq!(flash, "Now acting as ben (moderator).");

        // Open the request and read its badge.
        client
            .find(Locator::LinkText(LADDER))
            .await
            .expect("a link to the request")
            .click()
            .await
            .expect("click");
        assert_eq!(wait_for_text(&client, "h1", LADDER).await, LADDER);
        let ladder = demo.request(LADDER).await;
        let badge = format!("#scope-request-{} .badge", ladder.id);
        assert_eq!(wait_for_text(&client, &badge, "Public").await, "Public");

        // Toggle it and see the new badge.
        client
            .find(Locator::Css(&format!(
                "#scope-request-{} button",
                ladder.id
            )))
            .await
            .expect("the toggle")
            .click()
            .await
            .expect("click the toggle");
        assert_eq!(wait_for_text(&client, &badge, "Private").await, "Private");
        let flash = client
            .find(Locator::Css(".flash"))
            .await
            .expect("a flash")
            .text()
            .await
            .expect("text");
        assert!(flash.contains("now private"), "{flash}");
        assert_eq!(demo.request_scope(LADDER).await, SyncScope::Private);

        let png = client.screenshot().await.expect("a screenshot");
        let shot = dir.path().join("request-after-toggle.png");
        std::fs::write(&shot, &png).expect("save the screenshot");
        let saved = std::fs::read(&shot).expect("read it back");
        assert!(
            saved.len() > 8 && saved.starts_with(b"\x89PNG\r\n\x1a\n"),
            "a PNG"
        );
        if let Some(keep) = std::env::var_os("WB_ADMIN_SCREENSHOT") {
            std::fs::copy(&shot, keep).expect("copy the screenshot");
        }

        client.close().await.expect("close the browser");
        drop(driver);
        handle.stop(true).await;
        running
            .await
            .expect("the server task")
            .expect("the server stops cleanly");
    }
}

/// Reads an element's text until it contains `needle`, for at most ten
/// seconds.
async fn wait_for_contains(client: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves the page as `DIR/<name>.png` when `WB_ADMIN_SCREENSHOTS=DIR` is set
/// (`scripts/admin-screenshots.sh`).
async fn shoot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("WB_ADMIN_SCREENSHOTS") {
        let png = client.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).expect("save it");
    }
}

/// Sets the list's filter form to these values (empty: any) and submits it.
async fn filter(client: &Client, own: &str, effective: &str, origin: &str, text: &str) {
    for (css, value) in [("#f-own", own), ("#f-effective", effective)] {
        client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("the page has {css}"))
            .select_by_value(value)
            .await
            .expect("choose a value");
    }
    for (css, value) in [("#f-origin", origin), ("#f-q", text)] {
        let field = client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("the page has {css}"));
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }
    click(client, "form.filters button").await;
}

/// What the list count of requests reads for `filter`, from the engine's
/// listing (the same model the page shows).
async fn requests_count(instance: &Instance, filter: ListFilter) -> String {
    let listing = instance
        .list_requests(&ListQuery {
            filter,
            ..ListQuery::default()
        })
        .await
        .expect("a listing");
    let shown = listing.rows.len();
    match listing.total {
        1 => "1 request matches; 1 shown.".to_owned(),
        _ => format!("{} requests match; {shown} shown.", listing.total_text()),
    }
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("the page has {css}"))
        .click()
        .await
        .expect("click");
}

#[actix_web::test]
async fn a_real_browser_pages_filters_toggles_adds_a_member_and_exports() {
    let driver_binary = chromedriver();
    if driver_binary.is_none() || !Path::new(CHROMIUM).is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium/chromedriver not installed, and CI=true"
        );
        eprintln!("SKIP: chromium/chromedriver not installed");
        return;
    }
    let driver_binary = driver_binary.expect("checked above");

    for demo in demos().await {
        for i in 0..120 {
            demo.instance
                .add_request("ada", &format!("Spare item {i:03}"), "")
                .await
                .expect("a request");
        }
        let ladder = demo.request(LADDER).await;
        for i in 0..60 {
            demo.instance
                .add_comment("dev", ladder.id, &format!("Note {i:02} on the ladder"))
                .await
                .expect("a comment");
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = ServeConfig {
            bind: "127.0.0.1:0".parse().expect("an address"),
            public: false,
            instance_dir: Some(dir.path().join("instance")),
        };
        let server = AdminServer::bind(demo.instance.clone(), &config).expect("bind");
        let login_url = server.login_url().to_owned();
        let handle = server.handle();
        let running = actix_web::rt::spawn(server.run());
        let driver = start_driver(&driver_binary);
        let client = open_browser(&driver, &dir.path().join("chromium-profile")).await;

        client.goto(&login_url).await.expect("open the token URL");
        assert_eq!(wait_for_text(&client, "h1", "Requests").await, "Requests");

        // Paging: 124 requests, 50 a page; next, then previous.
        let count = wait_for_contains(&client, "#list-count", "124 requests match").await;
        assert_eq!(count, "124 requests match; 50 shown.", "{}", demo.label);
        shoot(&client, "requests").await;
        click(&client, "a[rel=next]").await;
        wait_for_contains(&client, "a[rel=prev]", "Previous").await;
        let url = client.current_url().await.expect("url");
        assert!(
            url.query().unwrap_or_default().starts_with("after="),
            "{url}"
        );
        click(&client, "a[rel=prev]").await;
        let url = loop {
            let url = client.current_url().await.expect("url");
            if url.query().unwrap_or_default().starts_with("before=") {
                break url;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            client.find(Locator::Css("a[rel=prev]")).await.is_err(),
            "the first page: {url}"
        );

        // Act as chloe, then filter to the held-back requests.
        client
            .find(Locator::Css("#acting-user"))
            .await
            .expect("the selector")
            .select_by_value("chloe")
            .await
            .expect("choose chloe");
        click(&client, "form.acting button").await;
        wait_for_contains(&client, ".flash", "Now acting as chloe").await;
        client
            .find(Locator::Css("#f-effective"))
            .await
            .expect("the effective-scope filter")
            .select_by_value("held")
            .await
            .expect("choose held back");
        click(&client, "form.filters button").await;
        let count = wait_for_contains(&client, "#list-count", "1 request matches").await;
        assert_eq!(count, "1 request matches; 1 shown.");
        let sewing = demo.request("Sewing machine for a day").await;
        let reason = client
            .find(Locator::Css(&format!(
                "#scope-request-{} .reason a",
                sewing.id
            )))
            .await
            .expect("the held-back reason links the row")
            .text()
            .await
            .expect("text");
        assert_eq!(reason, "its author @chloe is private");
        shoot(&client, "requests-held").await;

        // Toggle from the filtered page: back on the same filtered page.
        click(&client, &format!("#scope-request-{} button", sewing.id)).await;
        let flash = wait_for_contains(&client, ".flash", "now private").await;
        assert!(flash.contains("now private"), "{flash}");
        let url = client.current_url().await.expect("url");
        assert_eq!(url.path(), "/requests");
        // (The form sends its empty fields too: `own=&effective=held&…`.)
        assert!(
            url.query().unwrap_or_default().contains("effective=held"),
            "the filter survived the toggle: {url}"
        );
        assert_eq!(
            wait_for_contains(&client, "#list-count", "0 requests").await,
            "0 requests match; 0 shown."
        );
        assert_eq!(
            demo.request_scope("Sewing machine for a day").await,
            SyncScope::Private
        );
        shoot(&client, "requests-after-toggle").await;

        // Each filter: own scope, origin, text (and all at once).
        let local = demo.instance.name().clone();
        for (own, origin, text, expected) in [
            (
                "private",
                "",
                "",
                ListFilter {
                    own: Some(SyncScope::Private),
                    ..ListFilter::default()
                },
            ),
            (
                "",
                "local",
                "",
                ListFilter {
                    origin: Some(local.clone()),
                    ..ListFilter::default()
                },
            ),
            (
                "",
                "",
                "spare item 01",
                ListFilter {
                    text: Some("spare item 01".into()),
                    ..ListFilter::default()
                },
            ),
            (
                "public",
                "local",
                "sofa",
                ListFilter {
                    own: Some(SyncScope::Public),
                    origin: Some(local.clone()),
                    text: Some("sofa".into()),
                    ..ListFilter::default()
                },
            ),
        ] {
            filter(&client, own, "", origin, text).await;
            let expected = requests_count(&demo.instance, expected).await;
            let shown = wait_for_text(&client, "#list-count", &expected).await;
            assert_eq!(shown, expected, "own={own} origin={origin} q={text}");
        }

        // Find a held-back comment in a few clicks: the comments list,
        // filtered to held back and by its text.
        let held_comment = demo
            .instance
            .store()
            .comments()
            .await
            .expect("comments")
            .into_iter()
            .find(|c| c.body == "Sent you a name.")
            .expect("the demo's held-back comment");
        click(&client, "nav a[href='/comments']").await;
        assert_eq!(wait_for_text(&client, "h1", "Comments").await, "Comments");
        filter(&client, "", "held", "", "a name").await;
        let count = wait_for_contains(&client, "#list-count", "1 comment matches").await;
        assert_eq!(count, "1 comment matches; 1 shown.");
        let scope = format!("#scope-comment-{}", held_comment.id);
        let reason = wait_for_contains(&client, &format!("{scope} .reason a"), "private").await;
        assert_eq!(
            reason,
            "its request \"Looking for a lawyer recommendation\" is private"
        );
        shoot(&client, "comments-held").await;
        // Act as its author and toggle it: back on the same filtered view.
        client
            .find(Locator::Css("#acting-user"))
            .await
            .expect("the selector")
            .select_by_value("ben")
            .await
            .expect("choose ben");
        click(&client, "form.acting button").await;
        wait_for_contains(&client, ".flash", "Now acting as ben").await;
        let before = client.current_url().await.expect("url");
        click(&client, &format!("{scope} button")).await;
        let flash = wait_for_contains(&client, ".flash", "now private").await;
        assert!(flash.contains("The comment is now private"), "{flash}");
        let after = client.current_url().await.expect("url");
        assert_eq!(after.path(), "/comments");
        assert_eq!(after.query(), before.query(), "the same filtered view");
        assert!(
            before
                .query()
                .unwrap_or_default()
                .contains("effective=held")
        );
        assert!(before.query().unwrap_or_default().contains("q=a+name"));
        assert_eq!(
            wait_for_contains(&client, "#list-count", "0 comments").await,
            "0 comments match; 0 shown."
        );

        // A request's comments, a page at a time.
        client
            .goto(&format!("{}/requests/{}", base_of(&login_url), ladder.id))
            .await
            .expect("open the request");
        assert_eq!(wait_for_text(&client, "h1", LADDER).await, LADDER);
        let count = wait_for_contains(&client, "#list-count", "62 comments").await;
        assert_eq!(count, "62 comments match; 50 shown.");
        shoot(&client, "request").await;
        click(&client, "a[rel=next]").await;
        let count = wait_for_contains(&client, "#list-count", "12 shown").await;
        assert_eq!(count, "62 comments match; 12 shown.");
        let url = client.current_url().await.expect("url");
        assert!(
            url.query().unwrap_or_default().starts_with("after="),
            "{url}"
        );
        let last = client
            .find(Locator::Css("ol.comments li:last-child p.body"))
            .await
            .expect("the last comment")
            .text()
            .await
            .expect("text");
        assert_eq!(last, "Note 59 on the ladder");

        // Add a member.
        click(&client, "nav a[href='/users']").await;
        assert_eq!(wait_for_text(&client, "h1", "Users").await, "Users");
        client
            .find(Locator::Css("#new-username"))
            .await
            .expect("the username field")
            .send_keys("zed")
            .await
            .expect("type");
        click(&client, "form[action='/users'] button").await;
        let flash = wait_for_contains(&client, ".flash", "Member zed added").await;
        assert!(flash.contains("Member zed added"), "{flash}");
        demo.instance.local_user("zed").await.expect("zed exists");
        shoot(&client, "users").await;
        click(&client, "a[href='/users/zed']").await;
        assert_eq!(
            wait_for_text(&client, "h1", "Profile of zed").await,
            "Profile of zed"
        );
        shoot(&client, "profile").await;
        for page in ["comments", "vouches", "invites"] {
            click(&client, &format!("nav a[href='/{page}']")).await;
            let title = match page {
                "comments" => "Comments",
                "vouches" => "Vouches",
                _ => "Invites",
            };
            assert_eq!(wait_for_text(&client, "h1", title).await, title);
            shoot(&client, page).await;
        }

        // The status page, and Export now.
        click(&client, "nav a[href='/status']").await;
        assert_eq!(
            wait_for_text(&client, "h1", "Sync status").await,
            "Sync status"
        );
        assert_eq!(
            wait_for_text(&client, "#export-sequence", "none yet").await,
            "none yet"
        );
        click(&client, "form[action='/export'] button").await;
        let flash = wait_for_contains(&client, ".flash", "Exported sequence 1").await;
        assert!(flash.contains("Exported sequence 1"), "{flash}");
        assert_eq!(wait_for_text(&client, "#export-sequence", "1").await, "1");
        let key_id = client
            .find(Locator::Css("#key-id"))
            .await
            .expect("the key id")
            .text()
            .await
            .expect("text");
        assert_eq!(key_id.len(), 16, "{key_id}");
        let reach = wait_for_contains(&client, "#reach", "not on the hub yet").await;
        assert!(reach.contains("sequence 1"), "{reach}");
        assert_eq!(
            wait_for_contains(&client, "#last-push", "none recorded").await,
            "none recorded (wb sync push records its outcome here)"
        );

        // What `wb sync push` and `wb sync pull` record (the CLI tests run
        // them against a real hub): a push of sequence 1, a failed pull.
        demo.instance
            .record_sync_run(SyncRunKind::Push, Ok(()))
            .await
            .expect("record a push");
        demo.instance
            .record_sync_run(
                SyncRunKind::Pull,
                Err("beta.example: hub unreachable".into()),
            )
            .await
            .expect("record a pull");
        client.refresh().await.expect("reload");
        let push = wait_for_contains(&client, "#last-push", "pushed sequence 1").await;
        assert!(push.starts_with("OK, "), "{push}");
        assert!(push.contains(", sequence 1: pushed sequence 1"), "{push}");
        let pull = wait_for_contains(&client, "#last-pull", "unreachable").await;
        assert!(pull.starts_with("Failed, "), "{pull}");
        let reach = wait_for_contains(&client, "#reach", "next pull").await;
        assert!(reach.contains("the last push carried it"), "{reach}");
        // The time is readable, its full value on hover.
        let time = client
            .find(Locator::Css("#last-push time"))
            .await
            .expect("a time");
        let title = time.attr("title").await.expect("attr").expect("a title");
        assert!(title.ends_with('Z') || title.contains('T'), "{title}");
        shoot(&client, "status").await;

        // A change after the push: it waits for the next export.
        click(&client, "nav a[href='/users']").await;
        assert_eq!(wait_for_text(&client, "h1", "Users").await, "Users");
        demo.instance
            .set_scope(
                wb_model::EntityKind::User,
                demo.user("zed").await.id,
                SyncScope::Public,
                "ada",
            )
            .await
            .expect("make zed public");
        click(&client, "nav a[href='/status']").await;
        let reach = wait_for_contains(&client, "#reach", "wait for the next export").await;
        assert!(
            reach.starts_with("Changes since the last export: "),
            "{reach}"
        );

        client.close().await.expect("close the browser");
        drop(driver);
        handle.stop(true).await;
        running
            .await
            .expect("the server task")
            .expect("the server stops cleanly");
    }
}

/// `http://host:port` of a login URL.
fn base_of(login_url: &str) -> String {
    let rest = login_url.split("://").nth(1).unwrap_or_default();
    format!("http://{}", rest.split('/').next().unwrap_or_default())
}
