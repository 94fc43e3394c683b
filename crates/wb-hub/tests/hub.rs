//! A real hub on a loopback port, driven by the real client over HTTP, on
//! SQLite and Postgres: every acceptance rule, ETag/304, alpha → hub → beta,
//! pin refusal, concurrent and interrupted uploads, and the admin commands.

#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wb_crypto::{KeyStore, bundle_trusted_comment, sign_minisign};
use wb_engine::sync::{ImportOptions, ImportOutcome, NoProgress, export_bundle, import_files};
use wb_engine::{Instance, fixtures};
use wb_hub::ErrorCode;
use wb_hub::archive::{pack_dir, pack_files};
use wb_hub::client::{ClientConfig, ClientError, HubClient, pull_verified, push_dir};
use wb_hub::server::{HubConfig, bind};
use wb_model::InstanceName;
use wb_store::hub::HubStore;
use wb_store::testing::TestDb;

mod common;
use common::{etag_of, push_files};

/// An instance with its own directory (keys, bundles) and database.
struct Node {
    instance: Instance,
    dir: tempfile::TempDir,
    db: TestDb,
}

impl Node {
    async fn new(db: TestDb, name: &str) -> Self {
        let instance = Instance::init(db.store.clone(), InstanceName::parse(name).unwrap())
            .await
            .unwrap();
        Node {
            instance,
            dir: tempfile::tempdir().unwrap(),
            db,
        }
    }

    fn keys(&self) -> KeyStore {
        KeyStore::new(self.dir.path().join(".sync/keys"))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn public_key(&self) -> String {
        self.keys()
            .load_public(self.instance.name().as_str())
            .unwrap()
            .to_minisign_base64()
    }

    /// Exports into `out` and returns the packed archive.
    async fn export(&self, out: &str) -> Vec<u8> {
        export_bundle(&self.instance, &self.keys(), &self.path(out), &NoProgress)
            .await
            .unwrap();
        pack_dir(&self.path(out)).unwrap()
    }

    async fn row_count(&self) -> usize {
        let store = self.instance.store();
        store.users().await.unwrap().len()
            + store.requests().await.unwrap().len()
            + store.comments().await.unwrap().len()
    }
}

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo")
}

/// A running hub over the database at `url`.
struct Hub {
    store: HubStore,
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl Hub {
    async fn start(url: &str, config: HubConfig) -> Self {
        let store = HubStore::connect(url, false).await.unwrap();
        store.migrate().await.unwrap();
        let running = bind(store.clone(), config, "127.0.0.1:0".parse().unwrap()).unwrap();
        let handle = running.server.handle();
        actix_rt::spawn(running.server);
        Hub {
            store,
            addr: running.addr,
            handle,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn client(&self) -> HubClient {
        HubClient::new(&self.url(), ClientConfig::default()).unwrap()
    }

    async fn stop(self) {
        self.handle.stop(false).await;
        self.store.close().await;
    }

    async fn sequence(&self, instance: &str) -> Option<u64> {
        self.store
            .bundle_info(&InstanceName::parse(instance).unwrap())
            .await
            .unwrap()
            .map(|b| b.sequence)
    }
}

fn code(err: &ClientError) -> &str {
    match err {
        ClientError::Rejected { code, .. } => code,
        other => panic!("expected a hub refusal, got {other}"),
    }
}

/// Every file of a bundle directory: path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).unwrap() {
                let inner = inner.unwrap().path();
                let rel = format!("{name}/{}", inner.file_name().unwrap().to_string_lossy());
                out.insert(rel, std::fs::read(&inner).unwrap());
            }
        } else {
            out.insert(name, std::fs::read(&path).unwrap());
        }
    }
    out
}

/// Re-signs `files` with alpha's key after `change` edits the row files,
/// recomputing the manifest with `sequence`.
fn resigned(
    node: &Node,
    mut files: BTreeMap<String, Vec<u8>>,
    sequence: u64,
    change: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
) -> Vec<u8> {
    change(&mut files);
    let mut manifest = wb_syncfmt::Manifest::parse(&files["manifest.sync.txt"], "m").unwrap();
    manifest.files = files
        .iter()
        .filter(|(path, _)| path.contains('/'))
        .map(|(path, bytes)| wb_syncfmt::ManifestEntry::for_bytes(path.clone(), bytes))
        .collect();
    manifest.sequence = sequence;
    let text = manifest.to_text().unwrap();
    let key = node.keys().load(node.instance.name().as_str()).unwrap();
    let comment = bundle_trusted_comment(node.instance.name().as_str(), sequence).unwrap();
    files.insert(
        "bundle.sig".to_owned(),
        sign_minisign(&key, text.as_bytes(), &comment).into_bytes(),
    );
    files.insert("manifest.sync.txt".to_owned(), text.into_bytes());
    pack_files(&files).unwrap()
}

/// A tar with one raw entry whose name and type bypass the `tar` crate's checks.
fn raw_tar(name: &str, kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0_u8; 1024]);
    out
}

/// Sends a raw HTTP request and returns the status line's code, or `None`
/// when the hub closed without an answer.
/// Runs off the test's runtime thread, which drives the database pools the
/// hub shares with the test.
async fn raw_put(
    addr: SocketAddr,
    path: &'static str,
    headers: String,
    body: Vec<u8>,
    close: bool,
) -> RawAnswer {
    actix_rt::task::spawn_blocking(move || raw_put_blocking(addr, path, &headers, &body, close))
        .await
        .unwrap()
}

fn raw_put_blocking(
    addr: SocketAddr,
    path: &str,
    headers: &str,
    body: &[u8],
    close: bool,
) -> RawAnswer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n"
    )
    .unwrap();
    stream.write_all(body).unwrap();
    stream.flush().unwrap();
    if close {
        stream.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    RawAnswer {
        status: text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|c| c.parse().ok()),
        closes: head
            .lines()
            .any(|l| l.eq_ignore_ascii_case("connection: close")),
    }
}

/// What a hand-written request got back.
#[derive(Debug)]
struct RawAnswer {
    /// The status code, if an answer arrived.
    status: Option<u16>,
    /// Whether the answer said `Connection: close`.
    closes: bool,
}

/// alpha and beta on one backend, alpha with the demo community exported,
/// both registered on the hub, with a token each.
struct Scene {
    alpha: Node,
    beta: Node,
    alpha_token: String,
    beta_token: String,
}

async fn scene(
    hub: &Hub,
    backend_db: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = TestDb>>>,
) -> Scene {
    let alpha = Node::new(backend_db().await, "alpha.example").await;
    let beta = Node::new(backend_db().await, "beta.example").await;
    fixtures::load(&alpha.instance, &demo()).await.unwrap();
    alpha.export("out").await;
    beta.export("out").await;
    wb_hub::admin::add_instance(&hub.store, "alpha.example", &alpha.public_key())
        .await
        .unwrap();
    wb_hub::admin::add_instance(&hub.store, "beta.example", &beta.public_key())
        .await
        .unwrap();
    let alpha_token = wb_hub::admin::issue_token(&hub.store, "alpha.example")
        .await
        .unwrap()
        .reveal();
    let beta_token = wb_hub::admin::issue_token(&hub.store, "beta.example")
        .await
        .unwrap()
        .reveal();
    Scene {
        alpha,
        beta,
        alpha_token,
        beta_token,
    }
}

/// One database per backend for the hub, plus a maker of instance databases.
async fn backends() -> Vec<(TestDb, bool)> {
    let mut out = vec![(TestDb::sqlite().await, false)];
    if let Some(db) = TestDb::postgres().await {
        out.push((db, true));
    }
    out
}

fn maker(
    postgres: bool,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = TestDb>>> {
    move || {
        Box::pin(async move {
            if postgres {
                TestDb::postgres().await.unwrap()
            } else {
                TestDb::sqlite().await
            }
        })
    }
}

#[actix_rt::test]
async fn every_acceptance_rule_has_its_code_and_a_refusal_changes_nothing() {
    for (db, postgres) in backends().await {
        let hub = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let archive = pack_dir(&s.alpha.path("out")).unwrap();
        let alpha = "alpha.example";

        // Tokens: missing, unknown, another instance's.
        let err = client.push(alpha, "", archive.clone()).await.unwrap_err();
        assert!(
            matches!(
                &err,
                ClientError::Rejected {
                    status: 403 | 401,
                    ..
                }
            ),
            "{err}"
        );
        let no_header = raw_put(
            hub.addr,
            "/v2/instances/alpha.example/bundle",
            "Content-Length: 0\r\n".to_owned(),
            Vec::new(),
            false,
        )
        .await;
        assert_eq!(no_header.status, Some(401));
        assert!(no_header.closes, "a refused upload closes its connection");
        let err = client
            .push(
                alpha,
                "wbt_000000000000_0000000000000000000000000000000000000000000000000000000000000000",
                archive.clone(),
            )
            .await
            .unwrap_err();
        assert_eq!(code(&err), "unknown-token", "{err}");
        let err = client
            .push(alpha, "not a token", archive.clone())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "unknown-token", "{err}");
        let err = client
            .push(alpha, &s.beta_token, archive.clone())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "wrong-instance", "{err}");
        assert!(matches!(err, ClientError::Rejected { status: 403, .. }));
        // beta's token on beta's URL with alpha's bundle: the manifest decides.
        let err = client
            .push("beta.example", &s.beta_token, archive.clone())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "wrong-instance", "{err}");

        // Archives: unsafe names and links.
        for (name, kind) in [
            ("../evil.sync.txt", tar::EntryType::Regular),
            ("/etc/passwd", tar::EntryType::Regular),
            ("user/x.sync.txt", tar::EntryType::Regular),
            ("bundle.sig", tar::EntryType::Symlink),
        ] {
            let err = client
                .push(alpha, &s.alpha_token, raw_tar(name, kind, b"x"))
                .await
                .unwrap_err();
            assert_eq!(code(&err), "unsafe-path", "{name}: {err}");
        }
        let err = client
            .push(alpha, &s.alpha_token, b"garbage".repeat(200))
            .await
            .unwrap_err();
        assert_eq!(code(&err), "bad-bundle", "{err}");

        // Bundles: a changed byte (hash), a changed manifest (signature),
        // a signed private file, an unknown schema.
        let good = files(&s.alpha.path("out"));
        let mut tampered = good.clone();
        let user = tampered
            .keys()
            .find(|k| k.starts_with("user/"))
            .unwrap()
            .clone();
        let bytes = tampered.get_mut(&user).unwrap();
        let at = bytes.len() - 3;
        bytes[at] = b'X';
        let err = client
            .push(alpha, &s.alpha_token, pack_files(&tampered).unwrap())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "bad-bundle", "{err}");
        assert!(matches!(err, ClientError::Rejected { status: 422, .. }));
        let mut forged = good.clone();
        let manifest = String::from_utf8(forged["manifest.sync.txt"].clone()).unwrap();
        forged.insert(
            "manifest.sync.txt".into(),
            manifest.replace("Sequence: 1", "Sequence: 7").into_bytes(),
        );
        let err = client
            .push(alpha, &s.alpha_token, pack_files(&forged).unwrap())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "bad-signature", "{err}");
        let beta_signed = resigned(&s.beta, good.clone(), 3, |_| {});
        let err = client
            .push(alpha, &s.alpha_token, beta_signed)
            .await
            .unwrap_err();
        assert!(
            ["bad-signature", "wrong-instance"].contains(&code(&err)),
            "{err}"
        );
        let private = resigned(&s.alpha, good.clone(), 2, |f| {
            let text = String::from_utf8(f[&user].clone()).unwrap();
            f.insert(
                user.clone(),
                text.replace("Sync-Scope: public", "Sync-Scope: private")
                    .into_bytes(),
            );
        });
        let err = client
            .push(alpha, &s.alpha_token, private)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "private-file", "{err}");
        let mut newer = good.clone();
        newer.insert(
            "manifest.sync.txt".into(),
            manifest
                .replace("Schema-Version: 1", "Schema-Version: 2")
                .into_bytes(),
        );
        let err = client
            .push(alpha, &s.alpha_token, pack_files(&newer).unwrap())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "unknown-schema", "{err}");
        // Each origin speaks only for itself: a request whose author is not
        // one of alpha's users in the bundle, signed with alpha's key.
        let speaking_for_others = resigned(&s.alpha, good.clone(), 2, |f| {
            f.remove(&user);
        });
        let err = client
            .push(alpha, &s.alpha_token, speaking_for_others)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "bad-bundle", "{err}");
        assert!(
            err.to_string().contains("not a user of alpha.example"),
            "{err}"
        );
        // An archive without a manifest: the answer names no path of the hub.
        let mut headless = good.clone();
        headless.remove("manifest.sync.txt");
        let err = client
            .push(alpha, &s.alpha_token, pack_files(&headless).unwrap())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "bad-bundle", "{err}");
        let text = err.to_string();
        assert!(text.contains("no manifest.sync.txt"), "{text}");
        assert!(
            !text.contains("/tmp") && !text.contains("wb-hub-upload"),
            "no internal path in the answer: {text}"
        );
        assert_eq!(hub.sequence(alpha).await, None, "nothing was stored");

        // Accepted, then the same again: unchanged.
        let receipt = client
            .push(alpha, &s.alpha_token, archive.clone())
            .await
            .unwrap();
        assert_eq!(
            (receipt.status.as_str(), receipt.sequence),
            ("published", 1)
        );
        let again = client
            .push(alpha, &s.alpha_token, archive.clone())
            .await
            .unwrap();
        assert_eq!(again.status, "unchanged");
        assert_eq!(again.etag, receipt.etag);

        // Same sequence, other content; and a rollback after sequence 2.
        // (A comment goes: removing a user its requests name would be
        // refused first, as speaking for a user the bundle does not hold.)
        let comment = good
            .keys()
            .find(|k| k.starts_with("comment/"))
            .unwrap()
            .clone();
        let other = resigned(&s.alpha, good.clone(), 1, |f| {
            f.remove(&comment);
        });
        let err = client.push(alpha, &s.alpha_token, other).await.unwrap_err();
        assert_eq!(code(&err), "stale-sequence", "{err}");
        assert!(matches!(err, ClientError::Rejected { status: 409, .. }));
        let second = resigned(&s.alpha, good.clone(), 2, |f| {
            f.remove(&comment);
        });
        assert_eq!(
            client
                .push(alpha, &s.alpha_token, second)
                .await
                .unwrap()
                .sequence,
            2
        );
        let err = client
            .push(alpha, &s.alpha_token, archive.clone())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "stale-sequence", "{err}");
        assert_eq!(hub.sequence(alpha).await, Some(2));

        // Revoked.
        let id = s.alpha_token.split('_').nth(1).unwrap().to_owned();
        wb_hub::admin::revoke_token(&hub.store, &id).await.unwrap();
        let err = client
            .push(alpha, &s.alpha_token, archive.clone())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "revoked-token", "{err}");
        assert_eq!(err.hub_code(), Some(ErrorCode::RevokedToken));
        assert_eq!(hub.sequence(alpha).await, Some(2));
        hub.stop().await;
    }
}

#[actix_rt::test]
async fn size_limit_deadline_and_interrupted_uploads_change_nothing() {
    for (db, postgres) in backends().await {
        let config = HubConfig::default()
            .with_max_bundle_bytes(4096)
            .with_body_timeout(Duration::from_secs(1));
        let hub = Hub::start(&db.url, config).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let alpha = "alpha.example";
        let archive = pack_dir(&s.alpha.path("out")).unwrap();
        assert!(
            archive.len() > 4096,
            "the demo bundle exceeds the small limit"
        );

        // Declared too large: refused from Content-Length.
        let err = client
            .push(alpha, &s.alpha_token, archive.clone())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "too-large", "{err}");
        assert!(matches!(err, ClientError::Rejected { status: 413, .. }));

        // Too large while streaming (chunked, no Content-Length).
        let auth = format!("Authorization: Bearer {}\r\n", s.alpha_token);
        let mut chunked = Vec::new();
        // 4112 bytes, without the final chunk: the hub must answer before
        // the body ends (and has read everything sent, so no reset races
        // its answer).
        for size in [0x800, 0x800, 0x10] {
            chunked.extend_from_slice(format!("{size:x}\r\n").as_bytes());
            chunked.extend(std::iter::repeat_n(b'a', size));
            chunked.extend_from_slice(b"\r\n");
        }
        let status = raw_put(
            hub.addr,
            "/v2/instances/alpha.example/bundle",
            format!("{auth}Transfer-Encoding: chunked\r\n"),
            chunked,
            false,
        )
        .await;
        assert_eq!(status.status, Some(413));
        assert!(
            status.closes,
            "the unread rest of the body ends the connection"
        );

        // A slow sender hits the deadline.
        let status = raw_put(
            hub.addr,
            "/v2/instances/alpha.example/bundle",
            format!("{auth}Content-Length: 4000\r\n"),
            archive[..100].to_vec(),
            false,
        )
        .await;
        assert_eq!(status.status, Some(408));

        // A sender that hangs up mid-body.
        let status = raw_put(
            hub.addr,
            "/v2/instances/alpha.example/bundle",
            format!("{auth}Content-Length: 4000\r\n"),
            archive[..100].to_vec(),
            true,
        )
        .await;
        assert!(matches!(status.status, None | Some(400)), "{status:?}");
        assert_eq!(hub.sequence(alpha).await, None, "nothing was stored");
        hub.stop().await;
    }
}

#[actix_rt::test]
async fn alpha_publishes_and_beta_pulls_verifies_and_imports() {
    for (db, postgres) in backends().await {
        let hub = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let archive = s.alpha.export("out").await;
        client
            .push("alpha.example", &s.alpha_token, archive)
            .await
            .unwrap();

        let listing = client.list().await.unwrap();
        let entry = listing.iter().find(|i| i.name == "alpha.example").unwrap();
        assert_eq!(entry.sequence, Some(1));
        assert!(
            listing
                .iter()
                .any(|i| i.name == "beta.example" && i.sequence.is_none())
        );

        // A pin that does not match: refused before anything is imported.
        let cache = s.beta.path(".sync/pull");
        let wrong = s.beta.public_key();
        let err = pull_verified(&client, "alpha.example", &wrong, &cache)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Verify { .. }), "{err}");
        assert!(!cache.join("alpha.example").exists());
        assert_eq!(s.beta.row_count().await, 0);

        // The right pin: fetched, verified, imported.
        let pin = s.alpha.public_key();
        let pulled = pull_verified(&client, "alpha.example", &pin, &cache)
            .await
            .unwrap();
        assert!(pulled.downloaded);
        let options = ImportOptions {
            expected_key: Some(pin.clone()),
            ..ImportOptions::default()
        };
        // Verified in memory; imported from memory.
        let outcome = import_files(
            &s.beta.instance,
            &s.beta.keys(),
            "alpha.example from the hub",
            pulled.files().unwrap(),
            &options,
            &NoProgress,
        )
        .await
        .unwrap();
        assert!(
            matches!(outcome, ImportOutcome::Applied { sequence: 1, .. }),
            "{outcome:?}"
        );
        assert!(s.beta.row_count().await > 0);
        let requests = s.beta.instance.store().requests().await.unwrap();
        assert!(
            requests
                .iter()
                .any(|r| r.origin.as_str() == "alpha.example")
        );

        // Nothing new: 304, nothing downloaded.
        let again = pull_verified(&client, "alpha.example", &pin, &cache)
            .await
            .unwrap();
        assert!(!again.downloaded);
        hub.stop().await;
    }
}

#[actix_rt::test]
async fn concurrent_uploads_through_two_hub_processes_one_wins() {
    for (db, postgres) in backends().await {
        let first = Hub::start(&db.url, HubConfig::default()).await;
        let second = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&first, maker(postgres)).await;
        let good = files(&s.alpha.path("out"));
        let comment = good
            .keys()
            .find(|k| k.starts_with("comment/"))
            .unwrap()
            .clone();
        let a = resigned(&s.alpha, good.clone(), 5, |_| {});
        let b = resigned(&s.alpha, good.clone(), 5, |f| {
            f.remove(&comment);
        });
        let (c1, c2) = (first.client(), second.client());
        let (r1, r2) = futures_util::future::join(
            c1.push("alpha.example", &s.alpha_token, a),
            c2.push("alpha.example", &s.alpha_token, b),
        )
        .await;
        let outcomes = [r1, r2];
        let wins = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "{outcomes:?}");
        let loser = outcomes.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(code(loser), "stale-sequence");
        assert_eq!(first.sequence("alpha.example").await, Some(5));
        second.stop().await;
        first.stop().await;
    }
}

#[actix_rt::test]
async fn etag_answers_304_and_unknown_instances_404() {
    for (db, postgres) in backends().await {
        let hub = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let receipt = client
            .push(
                "alpha.example",
                &s.alpha_token,
                pack_dir(&s.alpha.path("out")).unwrap(),
            )
            .await
            .unwrap();
        let fetched = client.fetch("alpha.example", None, None).await.unwrap();
        let wb_hub::client::Fetched::Archive { etag, bytes } = fetched else {
            panic!("expected an archive");
        };
        assert_eq!(etag, receipt.etag);
        assert_eq!(etag_of(&bytes), etag);
        assert!(matches!(
            client
                .fetch("alpha.example", Some(&etag), None)
                .await
                .unwrap(),
            wb_hub::client::Fetched::NotModified
        ));
        let err = client.fetch("beta.example", None, None).await.unwrap_err();
        assert_eq!(code(&err), "not-found");
        let err = client
            .fetch("nobody.example", None, None)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "not-found");
        hub.stop().await;
    }
}

#[actix_rt::test]
async fn an_unreachable_hub_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = HubClient::new(&format!("http://{addr}"), ClientConfig::default()).unwrap();
    let err = client.list().await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    assert!(HubClient::new("ftp://x", ClientConfig::default()).is_err());
}

#[test]
fn every_help_of_wb_hub_has_an_example() {
    for args in [
        &[][..],
        &["serve"],
        &["instance"],
        &["instance", "add"],
        &["instance", "list"],
        &["instance", "rekey"],
        &["token"],
        &["token", "issue"],
        &["token", "revoke"],
    ] {
        let out = assert_cmd::cargo::cargo_bin_cmd!("wb-hub")
            .args(args)
            .arg("--help")
            .assert()
            .success();
        let help = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(
            help.contains("Example"),
            "wb-hub {} --help: {help}",
            args.join(" ")
        );
    }
}

/// Run in the wrong directory, a read-only admin command says which
/// database it looked for instead of creating an empty `hub.db`.
#[test]
fn admin_commands_never_create_a_database_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let hub_cmd = || {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("wb-hub");
        cmd.current_dir(dir.path())
            .env_remove("WB_HUB_DATABASE_URL")
            .env_remove("WB_HUB_LOG");
        cmd
    };
    for args in [
        &["instance", "list"][..],
        &["token", "issue", "alpha.example"],
    ] {
        let out = hub_cmd().args(args).assert().failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains("no hub database at hub.db"), "{err}");
        assert!(!dir.path().join("hub.db").exists(), "nothing created");
    }
    let key = wb_crypto::SigningKey::generate()
        .unwrap()
        .public_key()
        .to_minisign_base64();
    let out = hub_cmd()
        .args(["instance", "add", "alpha.example", "--key", &key])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("created hub database hub.db"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes off a terminal: {err:?}"
    );
    let out = hub_cmd().args(["instance", "list"]).assert().success();
    let listing = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(listing.contains("alpha.example"), "{listing}");
    let out = hub_cmd()
        .args(["instance", "list", "--json"])
        .assert()
        .success();
    let listing: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(listing[0]["name"], "alpha.example");
    assert_eq!(listing[0]["public_key"], key.as_str());
    assert!(listing[0]["bundle"].is_null(), "{listing}");
}

#[actix_rt::test]
async fn a_hub_that_never_answers_stops_every_transfer_at_the_deadline() {
    // Accepts connections and holds them, reading and answering nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let config = ClientConfig::default().with_timeout(Duration::from_secs(1));
    let client = HubClient::new(&format!("http://{addr}"), config).unwrap();
    // An upload larger than the sockets' buffers: sending itself stalls.
    let archive = vec![0_u8; 32 << 20];
    let err = client
        .push("alpha.example", "wbt_x_y", archive)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains("did not finish within 1 s"),
        "{err}"
    );
    let err = client.fetch("alpha.example", None, None).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    let err = client.list().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
}

#[test]
fn archives_are_read_within_the_bundle_limits() {
    use wb_hub::archive::{ArchiveError, read_entries_within};
    use wb_syncfmt::bundle::Limits;
    let mut limits = Limits::default();
    limits.max_files = 10;
    limits.max_file_bytes = 1000;
    limits.max_manifest_bytes = 2000;
    let many = |count: usize, size: usize| -> Vec<u8> {
        let files: BTreeMap<String, Vec<u8>> = (0..count)
            .map(|_| {
                let path = format!("user/{}.sync.txt", wb_model::new_id());
                (path, vec![b'x'; size])
            })
            .collect();
        pack_files(&files).unwrap()
    };
    let with_manifest = |size: usize| -> Vec<u8> {
        let files = BTreeMap::from([("manifest.sync.txt".to_owned(), vec![b'x'; size])]);
        pack_files(&files).unwrap()
    };
    let check = |archive: Vec<u8>, expected: &str| {
        let got = match read_entries_within(&archive, &limits) {
            Ok(files) => format!("ok: {} files", files.len()),
            Err(ArchiveError::TooManyEntries { limit, max_files }) => {
                format!("too many: {limit} entries, {max_files} files")
            }
            Err(ArchiveError::EntryTooLarge { path, size, limit }) => {
                format!(
                    "too large: {} {size} > {limit}",
                    path.split('/').next().unwrap()
                )
            }
            Err(other) => format!("other: {other}"),
        };
        assert_eq!(got, expected);
    };
    check(many(10, 1000), "ok: 10 files");
    // The bundle's files, the manifest, the signature, the rotation chain
    // and five entity directories: 18 entries at most.
    check(many(18, 10), "ok: 18 files");
    check(many(19, 10), "too many: 18 entries, 10 files");
    check(many(50_000, 1), "too many: 18 entries, 10 files");
    check(many(1, 1001), "too large: user 1001 > 1000");
    check(with_manifest(2000), "ok: 1 files");
    check(
        with_manifest(2001),
        "too large: manifest.sync.txt 2001 > 2000",
    );
}

#[actix_rt::test]
async fn admin_commands_register_issue_and_revoke() {
    for (db, _) in backends().await {
        let hub_cmd = || {
            let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("wb-hub");
            cmd.env("WB_HUB_DATABASE_URL", &db.url)
                .env_remove("WB_HUB_LOG");
            cmd
        };
        let key = wb_crypto::SigningKey::generate()
            .unwrap()
            .public_key()
            .to_minisign_base64();
        let out = hub_cmd()
            .args(["instance", "add", "gamma.example", "--key", "RWQnotakey"])
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            err.starts_with("error: --key is not an acceptable public key"),
            "{err}"
        );
        hub_cmd()
            .args(["instance", "add", "gamma.example", "--key", &key])
            .assert()
            .success();
        let out = hub_cmd()
            .args(["instance", "add", "gamma.example", "--key", &key])
            .assert()
            .failure();
        assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("already registered"));
        let out = hub_cmd()
            .args(["token", "issue", "gamma.example"])
            .assert()
            .success();
        let token = String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .trim()
            .to_owned();
        assert!(token.starts_with("wbt_"), "{token}");
        let id = token.split('_').nth(1).unwrap();
        let out = hub_cmd().args(["token", "revoke", id]).assert().success();
        assert!(String::from_utf8_lossy(&out.get_output().stdout).contains(id));
        hub_cmd()
            .args(["token", "revoke", "ffffffffffff"])
            .assert()
            .failure();
        hub_cmd()
            .args(["token", "issue", "nobody.example"])
            .assert()
            .failure();
        // The operator replaces a (compromised) key by hand.
        let replacement = wb_crypto::SigningKey::generate()
            .unwrap()
            .public_key()
            .to_minisign_base64();
        let out = hub_cmd()
            .args(["instance", "rekey", "gamma.example", "--key", &replacement])
            .assert()
            .success();
        assert_eq!(
            String::from_utf8_lossy(&out.get_output().stdout),
            format!("registered key of gamma.example is now {replacement}\n")
        );
        let out = hub_cmd()
            .args(["instance", "rekey", "nobody.example", "--key", &replacement])
            .assert()
            .failure();
        assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("is not registered"));
        let out = hub_cmd()
            .args(["instance", "rekey", "gamma.example", "--key", "RWQnotakey"])
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        // (Postgres may log a notice first.)
        assert!(
            err.lines()
                .last()
                .is_some_and(|l| l.starts_with("error: --key is not an acceptable public key")),
            "{err}"
        );
        let store = HubStore::connect(&db.url, false).await.unwrap();
        let gamma = InstanceName::parse("gamma.example").unwrap();
        assert_eq!(
            store.instance(&gamma).await.unwrap().unwrap().public_key,
            replacement
        );
        let stored = store.token(id).await.unwrap().unwrap();
        assert!(stored.revoked_at.is_some());
        assert!(
            !format!("{stored:?}").contains(&token[17..]),
            "Debug hides the hash"
        );
        store.close().await;
    }
}

/// One reported transfer: what, announced total, bytes advanced, finished.
type Transfer = (String, Option<u64>, u64, bool);

/// Counts what a transfer reports.
#[derive(Default)]
struct Counted {
    log: std::cell::RefCell<Vec<Transfer>>,
}

impl wb_hub::client::TransferProgress for Counted {
    fn start(&self, what: &str, total: Option<u64>) {
        self.log
            .borrow_mut()
            .push((what.to_owned(), total, 0, false));
    }
    fn advance(&self, bytes: u64) {
        if let Some(last) = self.log.borrow_mut().last_mut() {
            last.2 += bytes;
        }
    }
    fn finish(&self) {
        if let Some(last) = self.log.borrow_mut().last_mut() {
            last.3 = true;
        }
    }
}

#[actix_rt::test]
async fn uploads_and_downloads_report_their_progress() {
    let db = TestDb::sqlite().await;
    let hub = Hub::start(&db.url, HubConfig::default()).await;
    let s = scene(&hub, maker(false)).await;
    let counted = std::rc::Rc::new(Counted::default());
    let client = hub.client().with_progress(counted.clone());
    let archive = s.alpha.export("out").await;
    let size = archive.len() as u64;
    client
        .push("alpha.example", &s.alpha_token, archive)
        .await
        .unwrap();
    let fetched = client.fetch("alpha.example", None, None).await.unwrap();
    let wb_hub::client::Fetched::Archive { bytes, .. } = fetched else {
        panic!("expected an archive");
    };
    let log = counted.log.borrow().clone();
    assert_eq!(
        log,
        vec![
            ("uploading".to_owned(), Some(size), size, true),
            (
                "downloading".to_owned(),
                Some(bytes.len() as u64),
                bytes.len() as u64,
                true
            ),
        ]
    );
    // A pull reads the archive as it streams in, and counts it the same.
    let cache = s.alpha.path("pull-cache");
    let pulled = pull_verified(&client, "alpha.example", &s.alpha.public_key(), &cache)
        .await
        .unwrap();
    assert_eq!(pulled.bytes_received, bytes.len() as u64);
    assert_eq!(
        counted.log.borrow().last().cloned(),
        Some((
            "downloading".to_owned(),
            Some(bytes.len() as u64),
            bytes.len() as u64,
            true
        ))
    );
    hub.stop().await;
}

#[actix_rt::test]
async fn a_bundle_that_cannot_be_packed_is_named_and_publishes_nothing() {
    for (db, postgres) in backends().await {
        let hub = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&hub, maker(postgres)).await;
        let alpha = "alpha.example";
        s.alpha.export("out").await;
        let dir = s.alpha.path("out");
        let link = dir.join("user/01936f3e-0000-7000-8000-0000000000ff.sync.txt");
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
        let cache = s.alpha.path("push-cache");
        let err = push_dir(&hub.client(), alpha, &s.alpha_token, &dir, &cache)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Pack { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.starts_with("cannot upload the bundle of alpha.example: ")
                && shown.contains("01936f3e-0000-7000-8000-0000000000ff.sync.txt")
                && shown.contains("only regular files belong in an entity directory"),
            "{shown}"
        );
        assert_eq!(hub.sequence(alpha).await, None, "nothing was published");
        assert_eq!(hub.store.file_count().await.unwrap(), 0, "no file stored");
        assert!(!cache.exists(), "no manifest remembered as pushed");
        hub.stop().await;
    }
}

#[test]
fn pack_dir_leaves_out_top_level_dot_entries_and_still_refuses_other_things() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("user")).unwrap();
    std::fs::write(dir.join("manifest.sync.txt"), "manifest").unwrap();
    std::fs::write(dir.join("bundle.sig"), "signature").unwrap();
    std::fs::write(
        dir.join("user/01936f3e-0000-7000-8000-000000000001.sync.txt"),
        "row",
    )
    .unwrap();
    let plain = pack_dir(dir).unwrap();
    // A git work tree: the same archive.
    std::fs::create_dir_all(dir.join(".git/objects")).unwrap();
    std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "*.bak\n").unwrap();
    assert_eq!(pack_dir(dir).unwrap(), plain);
    // Anything else is still refused, dot-entries in entity directories too.
    std::fs::write(dir.join("user/.gitkeep"), "").unwrap();
    assert!(pack_dir(dir).is_err());
}

/// Signs `files` (a bundle of alpha) anew with `key`, as sequence
/// `sequence`, with `chain` as its `key-rotations.txt`; returns the archive.
fn signed_by(
    mut files: BTreeMap<String, Vec<u8>>,
    key: &wb_crypto::SigningKey,
    sequence: u64,
    chain: Option<String>,
) -> Vec<u8> {
    let mut manifest = wb_syncfmt::Manifest::parse(&files["manifest.sync.txt"], "m").unwrap();
    manifest.public_key = key.public_key().to_minisign_base64();
    manifest.sequence = sequence;
    let text = manifest.to_text().unwrap();
    let comment = bundle_trusted_comment("alpha.example", sequence).unwrap();
    files.insert(
        "bundle.sig".to_owned(),
        sign_minisign(key, text.as_bytes(), &comment).into_bytes(),
    );
    files.insert("manifest.sync.txt".to_owned(), text.into_bytes());
    match chain {
        Some(chain) => files.insert("key-rotations.txt".to_owned(), chain.into_bytes()),
        None => files.remove("key-rotations.txt"),
    };
    pack_files(&files).unwrap()
}

#[actix_rt::test]
async fn the_hub_and_beta_follow_a_key_rotation_and_refuse_a_forged_one() {
    for (db, postgres) in backends().await {
        let hub = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let alpha = "alpha.example";
        let name = InstanceName::parse(alpha).unwrap();
        let registered = || async { hub.store.instance(&name).await.unwrap().unwrap().public_key };
        let old = s.alpha.public_key();
        client
            .push(alpha, &s.alpha_token, s.alpha.export("out").await)
            .await
            .unwrap();
        // beta pins alpha's first key with its first bundle.
        let cache = s.beta.path(".sync/pull");
        let import = |pin: String| {
            let (beta, cache, client) = (&s.beta, cache.clone(), &client);
            async move {
                let pulled = pull_verified(client, alpha, &pin, &cache).await?;
                let options = ImportOptions {
                    expected_key: Some(pin),
                    ..ImportOptions::default()
                };
                Ok::<_, Box<dyn std::error::Error>>(
                    import_files(
                        &beta.instance,
                        &beta.keys(),
                        "alpha.example from the hub",
                        pulled.files()?,
                        &options,
                        &NoProgress,
                    )
                    .await?,
                )
            }
        };
        import(old.clone()).await.unwrap();

        // mallory signs alpha's rows with her own key and a statement
        // "alpha's key → mallory's" that she signed herself.
        let mallory = wb_crypto::SigningKey::generate().unwrap();
        let old_key: wb_crypto::PublicKey = old.parse().unwrap();
        let statement = wb_crypto::RotationStatement::sign(alpha, &mallory, &mallory.public_key())
            .unwrap()
            .to_text()
            .replacen(
                &format!("from: {}", mallory.public_key()),
                &format!("from: {old}"),
                1,
            )
            .replace(
                &format!("from={}", mallory.key_id()),
                &format!("from={}", old_key.key_id()),
            );
        let beta_before = s.beta.db.snapshot().await;
        for chain in [Some(statement), None] {
            let forged = signed_by(files(&s.alpha.path("out")), &mallory, 5, chain.clone());
            let err = client
                .push(alpha, &s.alpha_token, forged)
                .await
                .unwrap_err();
            assert_eq!(code(&err), ErrorCode::BadSignature.as_str(), "{err}");
            let message = err.to_string();
            match chain {
                Some(_) => assert!(
                    message.contains("key-rotations.txt")
                        && message.contains("rotation statement 1")
                        && message.contains("signature was made by key id"),
                    "{message}"
                ),
                None => assert!(message.contains("carries no key rotation"), "{message}"),
            }
            assert_eq!(registered().await, old, "the registered key did not move");
            assert_eq!(hub.sequence(alpha).await, Some(1));
        }

        // alpha rotates and pushes with its usual token.
        let rotation = s.alpha.keys().rotate(alpha).unwrap();
        let new = rotation.new.public_key().to_minisign_base64();
        let receipt = client
            .push(alpha, &s.alpha_token, s.alpha.export("out").await)
            .await
            .unwrap();
        assert_eq!(receipt.sequence, 2);
        assert_eq!(registered().await, new, "the hub followed the rotation");

        // beta, still pinned at the old key, follows the chain.
        assert_eq!(s.beta.db.snapshot().await, beta_before);
        let outcome = import(old.clone()).await.unwrap();
        match outcome {
            ImportOutcome::Applied {
                sequence: 2,
                rotation: Some(rotation),
                ..
            } => assert_eq!((rotation.from, rotation.to), (old.clone(), new.clone())),
            other => panic!("expected a followed rotation, got {other:?}"),
        }
        let state = s
            .beta
            .instance
            .store()
            .origin_state(&name)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.public_key, new);
        assert_eq!(
            state.key_rotations.as_deref(),
            Some(rotation.chain.to_text().as_str())
        );

        // The operator revokes alpha's new key by hand: alpha's next bundle,
        // whose chain does not lead from the replacement, is refused.
        let replacement = wb_crypto::SigningKey::generate().unwrap().public_key();
        wb_hub::admin::rekey_instance(&hub.store, alpha, &replacement.to_minisign_base64())
            .await
            .unwrap();
        let files_now = files(&s.alpha.path("out"));
        let key = s.alpha.keys().load(alpha).unwrap();
        let err = client
            .push(
                alpha,
                &s.alpha_token,
                signed_by(files_now, &key, 3, Some(rotation.chain.to_text())),
            )
            .await
            .unwrap_err();
        assert_eq!(code(&err), ErrorCode::BadSignature.as_str(), "{err}");
        assert!(
            err.to_string().contains("no rotation statement leads from"),
            "{err}"
        );
        assert_eq!(hub.sequence(alpha).await, Some(2));
        assert_eq!(registered().await, replacement.to_minisign_base64());
        hub.stop().await;
    }
}

/// Issue 13, parts 2 and 3: after a whole push and pull, a change travels
/// as a delta both ways (far smaller than the archive), the rebuilt bundle
/// is the pushed one, and each side falls back to the whole bundle when
/// the other no longer holds its base. A refused delta changes nothing.
#[actix_rt::test]
async fn changes_travel_as_deltas_and_fall_back_to_whole_bundles() {
    use wb_hub::client::Transfer;
    for (db, postgres) in backends().await {
        let hub = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let pin = s.alpha.public_key();
        let good = files(&s.alpha.path("out"));
        let push_cache = s.alpha.path(".sync/push");
        let pull_cache = s.beta.path(".sync/pull");
        let bundle = |sequence: u64, drop: usize| {
            let archive = resigned(&s.alpha, good.clone(), sequence, |f| {
                let comments: Vec<String> = f
                    .keys()
                    .filter(|k| k.starts_with("comment/"))
                    .cloned()
                    .collect();
                f.remove(&comments[drop % comments.len()]);
            });
            wb_hub::archive::read_entries(&archive).unwrap()
        };

        // The first push and pull are whole.
        let first = bundle(2, 0);
        let pushed = push_files(
            &client,
            "alpha.example",
            &s.alpha_token,
            &first,
            &push_cache,
        )
        .await
        .unwrap();
        assert_eq!(pushed.transfer, Transfer::Full);
        let archive_size = pushed.bytes_sent;
        let pulled = pull_verified(&client, "alpha.example", &pin, &pull_cache)
            .await
            .unwrap();
        assert_eq!(pulled.transfer, Transfer::Full);

        // One comment less: a delta each way.
        let second = bundle(3, 1);
        let pushed = push_files(
            &client,
            "alpha.example",
            &s.alpha_token,
            &second,
            &push_cache,
        )
        .await
        .unwrap();
        assert_eq!(pushed.transfer, Transfer::Delta);
        assert_eq!(pushed.receipt.status, "published");
        assert!(
            pushed.bytes_sent * 2 < archive_size,
            "{} of {archive_size}",
            pushed.bytes_sent
        );
        let pulled = pull_verified(&client, "alpha.example", &pin, &pull_cache)
            .await
            .unwrap();
        assert_eq!(pulled.transfer, Transfer::Delta);
        assert!(pulled.bytes_received * 2 < archive_size);
        assert_eq!(pulled.bundle.manifest.sequence, 3);
        assert_eq!(
            pulled.files().unwrap(),
            second,
            "the rebuilt bundle is the pushed one"
        );
        // Pushing it again: a delta of nothing, unchanged.
        let again = push_files(
            &client,
            "alpha.example",
            &s.alpha_token,
            &second,
            &push_cache,
        )
        .await
        .unwrap();
        assert_eq!(
            (again.transfer, again.receipt.status.as_str()),
            (Transfer::None, "unchanged")
        );

        // Pushes a delta archive of `delta` and `signature` alone: its
        // refusal.
        let refused = async |delta: &wb_hub::delta::ManifestDelta, signature: &[u8]| {
            let mut files = BTreeMap::new();
            files.insert("bundle.sig".to_owned(), signature.to_vec());
            files.insert(
                wb_hub::delta::DELTA_FILE_NAME.to_owned(),
                delta.to_json().unwrap(),
            );
            client
                .push_delta(
                    "alpha.example",
                    &s.alpha_token,
                    wb_hub::archive::pack_delta(&files).unwrap(),
                )
                .await
                .unwrap_err()
        };

        // A delta that does not rebuild what it names is refused, and
        // changes nothing.
        let mut delta = wb_hub::delta::diff(
            &second["manifest.sync.txt"],
            &bundle(4, 2)["manifest.sync.txt"],
            1 << 28,
        )
        .unwrap();
        delta.manifest_sha256 = "0".repeat(64);
        let before = db.snapshot().await;
        let err = refused(&delta, &second["bundle.sig"]).await;
        assert_eq!(code(&err), "bad-bundle", "{err}");
        // Against a manifest the hub never held: unknown-base.
        delta.base = "1".repeat(64);
        let err = refused(&delta, &second["bundle.sig"]).await;
        assert_eq!(code(&err), "unknown-base", "{err}");
        assert_eq!(
            db.snapshot().await,
            before,
            "a refused delta changes nothing"
        );

        // Five more publications: the hub forgets manifest 3, which both
        // caches hold. The push (its cache is behind the hub) and the pull
        // (its base is forgotten) fall back to whole bundles.
        let elsewhere = s.alpha.path(".sync/push-elsewhere");
        for sequence in 4..=8 {
            push_files(
                &client,
                "alpha.example",
                &s.alpha_token,
                &bundle(sequence, usize::try_from(sequence).unwrap() % 3),
                &elsewhere,
            )
            .await
            .unwrap();
        }
        // Manifest 3 is still in the hub's manifest cache (its delta push
        // put it there), but the store keeps it no more: a delta against
        // it is refused as `unknown-base` all the same, changing nothing.
        let ninth = bundle(9, 0);
        let stale = wb_hub::delta::diff(
            &second["manifest.sync.txt"],
            &ninth["manifest.sync.txt"],
            1 << 28,
        )
        .unwrap();
        let before = db.snapshot().await;
        let err = refused(&stale, &ninth["bundle.sig"]).await;
        assert_eq!(code(&err), "unknown-base", "{err}");
        assert_eq!(db.snapshot().await, before, "nothing changed");
        let pushed = push_files(
            &client,
            "alpha.example",
            &s.alpha_token,
            &ninth,
            &push_cache,
        )
        .await
        .unwrap();
        assert_eq!(pushed.transfer, Transfer::Full);
        let pulled = pull_verified(&client, "alpha.example", &pin, &pull_cache)
            .await
            .unwrap();
        assert_eq!(pulled.transfer, Transfer::Full);
        assert_eq!(pulled.files().unwrap(), ninth);

        // The operator's garbage collection, while the hub serves: every
        // stored file is still named by a kept bundle here, so it keeps
        // them all, and the latest bundle still pulls whole.
        let stored = hub.store.file_count().await.unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wb-hub"))
            .arg("gc")
            .env("WB_HUB_DATABASE_URL", &db.url)
            .env_remove("WB_HUB_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("removed 0 files (0 bytes) that no kept bundle names; kept {stored} files\n")
        );
        let fresh = s.beta.path(".sync/pull-fresh");
        let pulled = pull_verified(&client, "alpha.example", &pin, &fresh)
            .await
            .unwrap();
        assert_eq!(pulled.files().unwrap(), ninth);
        hub.stop().await;
    }
}

/// A hub that caches no manifest (`--manifest-cache-mib 0`) reads each
/// from the store: deltas travel both ways all the same.
#[actix_rt::test]
async fn deltas_need_no_manifest_cache() {
    use wb_hub::client::Transfer;
    for (db, postgres) in backends().await {
        let config = HubConfig::default().with_manifest_cache_bytes(0);
        let hub = Hub::start(&db.url, config).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let pin = s.alpha.public_key();
        let good = files(&s.alpha.path("out"));
        let push_cache = s.alpha.path(".sync/push");
        let pull_cache = s.beta.path(".sync/pull");
        for (sequence, transfer) in [
            (2, Transfer::Full),
            (3, Transfer::Delta),
            (4, Transfer::Delta),
        ] {
            let archive = resigned(&s.alpha, good.clone(), sequence, |f| {
                let comment = f
                    .keys()
                    .filter(|k| k.starts_with("comment/"))
                    .nth(usize::try_from(sequence).unwrap() % 2)
                    .cloned()
                    .unwrap();
                f.remove(&comment);
            });
            let bundle = wb_hub::archive::read_entries(&archive).unwrap();
            let pushed = push_files(
                &client,
                "alpha.example",
                &s.alpha_token,
                &bundle,
                &push_cache,
            )
            .await
            .unwrap();
            assert_eq!(pushed.transfer, transfer, "push of sequence {sequence}");
            let pulled = pull_verified(&client, "alpha.example", &pin, &pull_cache)
                .await
                .unwrap();
            assert_eq!(pulled.transfer, transfer, "pull of sequence {sequence}");
            assert_eq!(pulled.files().unwrap(), bundle);
        }
        hub.stop().await;
    }
}

/// An attacker holding alpha's real key pushes deltas that verify from
/// their changed lines alone: a comment by nobody in the bundle, and a
/// bundle without the user whose comment stays unchanged. The hub checks
/// the changed files, and — when a user of the base is gone — the whole
/// rebuilt bundle; both are refused and change nothing. An honest delta
/// after them is published and served whole.
#[actix_rt::test]
async fn a_validly_signed_delta_is_checked_as_the_whole_bundle_it_rebuilds() {
    use wb_hub::client::Transfer;
    for (db, postgres) in backends().await {
        let hub = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let good = files(&s.alpha.path("out"));
        let push_cache = s.alpha.path(".sync/push");
        let as_files =
            |archive: Vec<u8>| wb_hub::archive::read_entries(&archive).expect("an archive");
        let base = as_files(resigned(&s.alpha, good.clone(), 2, |_| {}));
        let pushed = push_files(&client, "alpha.example", &s.alpha_token, &base, &push_cache)
            .await
            .unwrap();
        assert_eq!(pushed.transfer, Transfer::Full);

        let (path, comment) = base
            .iter()
            .find(|(p, _)| p.starts_with("comment/"))
            .map(|(p, b)| (p.clone(), wb_syncfmt::SyncFile::parse(b, p).unwrap()))
            .unwrap();
        let author = comment.body["author_id"].as_str().unwrap().to_owned();
        let mut stranger = comment.clone();
        stranger.body.insert(
            "author_id".to_owned(),
            serde_json::json!("00000000-0000-4000-8000-00000000abcd"),
        );
        let before = db.snapshot().await;
        for (bundle, expected) in [
            (
                resigned(&s.alpha, base.clone(), 3, |f| {
                    f.insert(path.clone(), stranger.to_text().unwrap().into_bytes());
                }),
                "author_id names user 00000000-0000-4000-8000-00000000abcd".to_owned(),
            ),
            (
                resigned(&s.alpha, base.clone(), 3, |f| {
                    f.remove(&format!("user/{author}.sync.txt"));
                }),
                format!("author_id names user {author}"),
            ),
        ] {
            let err = push_files(
                &client,
                "alpha.example",
                &s.alpha_token,
                &as_files(bundle),
                &push_cache,
            )
            .await
            .unwrap_err();
            assert_eq!(code(&err), "bad-bundle", "{err}");
            assert!(err.to_string().contains(&expected), "{expected}: {err}");
            assert_eq!(
                db.snapshot().await,
                before,
                "a refused delta changes nothing"
            );
        }

        let honest = as_files(resigned(&s.alpha, base.clone(), 3, |f| {
            f.remove(&path);
        }));
        let pushed = push_files(
            &client,
            "alpha.example",
            &s.alpha_token,
            &honest,
            &push_cache,
        )
        .await
        .unwrap();
        assert_eq!(pushed.transfer, Transfer::Delta);
        let pull_cache = s.beta.path(".sync/pull");
        let pulled = pull_verified(&client, "alpha.example", &s.alpha.public_key(), &pull_cache)
            .await
            .unwrap();
        assert_eq!(pulled.files().unwrap(), honest);
        hub.stop().await;
    }
}

/// A delta pull rewrites the cached pack in place from the first changed
/// line on: changes at the first line, in the middle (a file's content),
/// and lines added and removed, each pulled as a delta, rebuild exactly
/// the pushed bundle. A cache left half-updated (no `manifest.sha256`, as
/// a crash inside the update leaves it) is pulled again whole.
#[actix_rt::test]
async fn delta_pulls_update_the_cached_pack_in_place() {
    use wb_hub::client::Transfer;
    for (db, postgres) in backends().await {
        let hub = Hub::start(&db.url, HubConfig::default()).await;
        let s = scene(&hub, maker(postgres)).await;
        let client = hub.client();
        let pin = s.alpha.public_key();
        let good = files(&s.alpha.path("out"));
        let push_cache = s.alpha.path(".sync/push");
        let pull_cache = s.beta.path(".sync/pull");
        let comments: Vec<String> = good
            .keys()
            .filter(|k| k.starts_with("comment/"))
            .cloned()
            .collect();
        let request = good
            .keys()
            .find(|k| k.starts_with("request/"))
            .cloned()
            .expect("the demo has a public request");
        assert!(
            comments.len() >= 2,
            "the demo has public comments to change"
        );
        let edited = |path: &str, body: &str| {
            let mut comment = wb_syncfmt::SyncFile::parse(&good[path], path).unwrap();
            comment
                .body
                .insert("body".to_owned(), serde_json::json!(body));
            comment.to_text().unwrap().into_bytes()
        };
        // The bundle's first line, a line in the middle (requests sort
        // after comments and invites), and one to remove and add back.
        let (first, middle, last) = (
            comments[0].clone(),
            request,
            comments[comments.len() - 1].clone(),
        );
        let bundles: Vec<BTreeMap<String, Vec<u8>>> = vec![
            // Whole: the last comment left out.
            good.iter()
                .filter(|(p, _)| **p != last)
                .map(|(p, b)| (p.clone(), b.clone()))
                .collect(),
            // The first line's content changes.
            {
                let mut f = good.clone();
                f.remove(&last);
                f.insert(first.clone(), edited(&first, "first, edited"));
                f
            },
            // A middle file's content changes, the last comment comes back.
            {
                let mut f = good.clone();
                f.insert(first.clone(), edited(&first, "first, edited"));
                f.insert(middle.clone(), edited(&middle, "middle, edited"));
                f
            },
            // The first comment goes, the middle one changes again.
            {
                let mut f = good.clone();
                f.remove(&first);
                f.insert(middle.clone(), edited(&middle, "middle, edited twice"));
                f
            },
        ];
        for (i, bundle) in bundles.into_iter().enumerate() {
            let sequence = 2 + u64::try_from(i).unwrap();
            let bundle =
                wb_hub::archive::read_entries(&resigned(&s.alpha, bundle, sequence, |_| {}))
                    .unwrap();
            push_files(
                &client,
                "alpha.example",
                &s.alpha_token,
                &bundle,
                &push_cache,
            )
            .await
            .unwrap();
            let pulled = pull_verified(&client, "alpha.example", &pin, &pull_cache)
                .await
                .unwrap();
            let expected = if i == 0 {
                Transfer::Full
            } else {
                Transfer::Delta
            };
            assert_eq!(pulled.transfer, expected, "pull {i}");
            assert_eq!(
                pulled.files().unwrap(),
                bundle,
                "pull {i} rebuilt the bundle"
            );
            let packs: Vec<_> = std::fs::read_dir(pull_cache.join("alpha.example"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".pack"))
                .collect();
            assert_eq!(
                packs,
                vec![format!("{}.pack", pulled.bundle.manifest_sha256)],
                "one pack, the latest's"
            );
        }

        // A crash inside an update: the hash is gone and the pack is cut.
        let cache = pull_cache.join("alpha.example");
        std::fs::remove_file(cache.join("manifest.sha256")).unwrap();
        for entry in std::fs::read_dir(&cache).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pack") {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(10)
                    .unwrap();
            }
        }
        let sixth =
            wb_hub::archive::read_entries(&resigned(&s.alpha, good.clone(), 6, |_| {})).unwrap();
        push_files(
            &client,
            "alpha.example",
            &s.alpha_token,
            &sixth,
            &push_cache,
        )
        .await
        .unwrap();
        let pulled = pull_verified(&client, "alpha.example", &pin, &pull_cache)
            .await
            .unwrap();
        assert_eq!(
            pulled.transfer,
            Transfer::Full,
            "a broken cache is not a base"
        );
        assert_eq!(pulled.files().unwrap(), sixth);
        hub.stop().await;
    }
}
