//! `wb sync pull` against a hostile hub (issue 11, parts 5 and 6): a fake
//! hub on a loopback `TcpListener` that answers slowly, endlessly, with
//! too many archive entries, with tampered bundles, or with terminal
//! escapes in its refusals. Each refusal is checked with both halves:
//! refused with a message that says why, and nothing changed (no pull
//! cache, every table as it was, no high-water mark).
//!
//! No timing assertions: deadlines are short (`--timeout 2`) and only
//! "it finished, with this message" is checked.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Wb, demo, instances, tree};

/// What the fake hub answers to every request.
#[derive(Clone)]
enum Answer {
    /// A whole answer; with an `ETag`, a request carrying it gets 304.
    Full {
        status: u16,
        etag: Option<String>,
        body: Vec<u8>,
    },
    /// 200 with a delta archive (`application/vnd.wb.delta+tar`).
    Delta { body: Vec<u8> },
    /// 200 announcing 50,000 bytes, then one byte a second.
    Slow,
    /// 200, chunked, 64 KiB chunks without end (stops at 1 GiB).
    Endless,
}

/// A fake hub on loopback. `finished` receives, per connection, the body
/// bytes it managed to send before the client went away.
struct FakeHub {
    url: String,
    answer: Arc<Mutex<Answer>>,
    finished: mpsc::Receiver<u64>,
}

impl FakeHub {
    fn start(answer: Answer) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(answer));
        let (sender, finished) = mpsc::channel();
        let shared = Arc::clone(&answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let answer = shared.lock().unwrap().clone();
                let sender = sender.clone();
                std::thread::spawn(move || {
                    let _ = sender.send(serve(stream, &answer));
                });
            }
        });
        FakeHub {
            url,
            answer,
            finished,
        }
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

/// Reads the request head; returns its `If-None-Match` value, if any.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("if-none-match")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Answers one request; returns the body bytes sent.
fn serve(mut stream: TcpStream, answer: &Answer) -> u64 {
    let if_none_match = read_head(&mut stream);
    let mut sent = 0u64;
    match answer {
        Answer::Full { status, etag, body } => {
            if etag.is_some() && *etag == if_none_match {
                let _ = write!(
                    stream,
                    "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n"
                );
                return 0;
            }
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            if let Some(etag) = etag {
                head.push_str(&format!("ETag: \"{etag}\"\r\n"));
            }
            head.push_str(if *status == 200 {
                "Content-Type: application/x-tar\r\n\r\n"
            } else {
                "Content-Type: application/json\r\n\r\n"
            });
            if stream.write_all(head.as_bytes()).is_ok() && stream.write_all(body).is_ok() {
                sent = body.len() as u64;
            }
        }
        Answer::Delta { body } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\nETag: \"delta\"\r\nContent-Type: application/vnd.wb.delta+tar\r\n\r\n",
                body.len()
            );
            if stream.write_all(head.as_bytes()).is_ok() && stream.write_all(body).is_ok() {
                sent = body.len() as u64;
            }
        }
        Answer::Slow => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 50000\r\nETag: \"slow\"\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() {
                return 0;
            }
            while sent < 50_000 && stream.write_all(b"x").and_then(|()| stream.flush()).is_ok() {
                sent += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Answer::Endless => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\nETag: \"endless\"\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() {
                return 0;
            }
            let mut chunk = b"10000\r\n".to_vec();
            chunk.extend(std::iter::repeat_n(0u8, 0x10000));
            chunk.extend_from_slice(b"\r\n");
            while sent < (1 << 30) && stream.write_all(&chunk).is_ok() {
                sent += 0x10000;
            }
        }
    }
    sent
}

/// Everything a pull could change in the database: every row of every
/// table (pins and high-water marks included) and, on SQLite, the
/// integrity check.
async fn snapshot(wb: &Wb) -> String {
    wb.db.snapshot().await
}

/// The high-water mark kept for alpha.example, if any.
async fn high_water(wb: &Wb) -> Option<u64> {
    let alpha = wb_model::InstanceName::parse("alpha.example").unwrap();
    wb.db
        .store
        .origin_state(&alpha)
        .await
        .unwrap()
        .map(|o| o.last_sequence)
}

/// Runs `wb` with `args`, expecting failure; returns stderr (raw bytes
/// checked: one line, no control characters but its final newline).
fn fails_cleanly(wb: &Wb, args: &[&str]) -> String {
    let out = wb.cmd().args(args).assert().failure().get_output().clone();
    let stderr = out.stderr;
    assert!(
        stderr
            .iter()
            .take(stderr.len().saturating_sub(1))
            .all(|b| *b >= 0x20 && *b != 0x7f),
        "control bytes on stderr: {:?}",
        String::from_utf8_lossy(&stderr)
    );
    let stderr = String::from_utf8(stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one-line error, got: {stderr}");
    stderr
}

/// beta, with alpha.example pinned (to `key`) behind `hub`.
fn beta_pinning(wb: &Wb, hub: &str, key: &str) {
    wb.ok(&["init", "--instance", "beta.example"]);
    wb.ok(&[
        "sync",
        "peers",
        "add",
        "alpha.example",
        "--url",
        hub,
        "--key",
        key,
    ]);
}

fn some_key() -> String {
    wb_crypto::SigningKey::generate()
        .unwrap()
        .public_key()
        .to_minisign_base64()
}

fn pull_cache(wb: &Wb) -> std::path::PathBuf {
    wb.dir.path().join(".sync/pull")
}

#[tokio::test]
async fn a_slow_body_stops_pull_and_push_at_the_deadline() {
    for wb in instances().await {
        let hub = FakeHub::start(Answer::Slow);
        beta_pinning(&wb, &hub.url, &some_key());
        let before = snapshot(&wb).await;
        let err = fails_cleanly(&wb, &["sync", "pull", "--timeout", "2"]);
        assert!(err.contains("did not finish within 2 s"), "{err}");
        assert!(err.contains("--timeout"), "{err}");
        // The server saw the connection go: it did not send all it announced.
        let sent = hub.finished.recv().unwrap();
        assert!(sent < 50_000, "{sent}");
        assert!(!pull_cache(&wb).exists());
        assert_eq!(snapshot(&wb).await, before);
        assert_eq!(high_water(&wb).await, None);

        // A push whose answer trickles in stops at its deadline too.
        wb.ok(&["sync", "keygen"]);
        let out = wb
            .cmd()
            .env("WB_HUB_TOKEN", "wbt_x_y")
            .args(["sync", "push", "--hub", &hub.url, "--timeout", "2"])
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8(out).unwrap();
        assert!(err.contains("did not finish within 2 s"), "{err}");
        assert!(hub.finished.recv().unwrap() < 50_000);
    }
}

#[tokio::test]
async fn an_endless_body_stops_at_the_byte_cap() {
    for wb in instances().await {
        let hub = FakeHub::start(Answer::Endless);
        beta_pinning(&wb, &hub.url, &some_key());
        let before = snapshot(&wb).await;
        let err = fails_cleanly(
            &wb,
            &["sync", "pull", "--max-bytes", "1048576", "--timeout", "600"],
        );
        assert!(
            err.contains("more than the limit of 1048576 bytes"),
            "{err}"
        );
        assert!(err.contains("--max-bytes"), "{err}");
        // The client stopped reading early: what the server got out is the
        // cap plus what the sockets' buffers took, far below the 1 GiB it
        // would have sent to a client that kept reading.
        let sent = hub.finished.recv().unwrap();
        assert!(sent < 64 << 20, "the server sent {sent} bytes");
        assert!(!pull_cache(&wb).exists());
        assert_eq!(snapshot(&wb).await, before);
        assert_eq!(high_water(&wb).await, None);
    }
}

/// An archive of `count` entries, each a small file at a valid path.
fn archive_of(count: usize) -> Vec<u8> {
    let files: BTreeMap<String, Vec<u8>> = (0..count)
        .map(|i| {
            (
                format!("user/{}.sync.txt", wb_model::new_id()),
                format!("file {i}\n").into_bytes(),
            )
        })
        .collect();
    wb_hub_client::archive::pack_files(&files).unwrap()
}

#[tokio::test]
async fn an_archive_with_too_many_entries_is_refused_before_anything_is_written() {
    for wb in instances().await {
        let hub = FakeHub::start(Answer::Full {
            status: 200,
            etag: Some("many".to_owned()),
            body: archive_of(50),
        });
        beta_pinning(&wb, &hub.url, &some_key());
        let before = snapshot(&wb).await;
        let err = fails_cleanly(&wb, &["sync", "pull", "--max-files", "10"]);
        assert!(
            err.contains("the downloaded archive of alpha.example is refused")
                && err.contains("a bundle of at most 10 files")
                && err.contains("--max-files"),
            "{err}"
        );
        assert!(!pull_cache(&wb).exists());
        assert_eq!(snapshot(&wb).await, before);
        assert_eq!(high_water(&wb).await, None);
    }
}

/// alpha with the demo community, exported: its key and its bundle's files.
fn alpha_bundle(alpha: &Wb) -> (String, BTreeMap<String, Vec<u8>>) {
    alpha.ok(&["init", "--instance", "alpha.example", "--fixtures", &demo()]);
    let key = alpha.ok(&["sync", "keygen"]).trim().to_owned();
    alpha.ok(&["sync", "export"]);
    let files = tree(&alpha.dir.path().join("data/public_sync"));
    (key, files)
}

/// `files` with one byte of the first file under `prefix` changed.
fn tampered(files: &BTreeMap<String, Vec<u8>>, prefix: &str, at: usize) -> Vec<u8> {
    let mut files = files.clone();
    let (_, bytes) = files
        .iter_mut()
        .find(|(path, _)| path.starts_with(prefix))
        .unwrap();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    wb_hub_client::archive::pack_files(&files).unwrap()
}

fn cached(wb: &Wb) -> BTreeMap<String, Vec<u8>> {
    tree(&pull_cache(wb))
}

#[tokio::test]
async fn a_pulled_bundle_with_a_bad_hash_or_signature_changes_nothing() {
    let mut alphas = instances().await;
    let mut betas = instances().await;
    while let (Some(alpha), Some(beta)) = (alphas.pop(), betas.pop()) {
        let (key, files) = alpha_bundle(&alpha);
        let good = wb_hub_client::archive::pack_files(&files).unwrap();
        let hub = FakeHub::start(Answer::Full {
            status: 200,
            etag: Some("good".to_owned()),
            body: good,
        });
        beta_pinning(&beta, &hub.url, &key);

        // First a good pull through the fake hub: imported and cached.
        let out = beta.ok(&["sync", "pull"]);
        assert!(out.contains("downloaded, imported"), "{out}");
        let before = snapshot(&beta).await;
        assert_eq!(high_water(&beta).await, Some(1));
        let cache = cached(&beta);
        let pack = format!(
            "alpha.example/{}.pack",
            wb_syncfmt::sha256_hex(&files["manifest.sync.txt"])
        );
        // The pack's name is a hash: where it sorts among the others varies.
        assert_eq!(
            cache
                .keys()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>(),
            std::collections::BTreeSet::from([
                pack.as_str(),
                "alpha.example/bundle.sig",
                "alpha.example/etag",
                "alpha.example/manifest.sha256",
                "alpha.example/manifest.sync.txt",
            ])
        );

        // A file whose bytes differ from its manifest entry (same length):
        // refused naming the file, before anything is written.
        let user = files.keys().find(|p| p.starts_with("user/")).unwrap();
        let len = files[user.as_str()].len();
        hub.answer(Answer::Full {
            status: 200,
            etag: Some("bad-hash".to_owned()),
            body: tampered(&files, "user/", len - 3),
        });
        let err = fails_cleanly(&beta, &["sync", "pull"]);
        assert!(
            err.contains("the bundle of alpha.example from the hub is refused")
                && err.contains(&format!("{user}: SHA-256 is")),
            "{err}"
        );
        assert_eq!(cached(&beta), cache);
        assert_eq!(snapshot(&beta).await, before);

        // A signature that does not verify against the pin.
        let second_line = files["bundle.sig"]
            .iter()
            .position(|b| *b == b'\n')
            .unwrap()
            + 1;
        hub.answer(Answer::Full {
            status: 200,
            etag: Some("bad-signature".to_owned()),
            body: tampered(&files, "bundle.sig", second_line + 20),
        });
        let err = fails_cleanly(&beta, &["sync", "pull", "--no-import"]);
        assert!(
            err.contains("the bundle of alpha.example from the hub is refused")
                && err.contains("bundle.sig"),
            "{err}"
        );
        assert_eq!(cached(&beta), cache);
        assert_eq!(snapshot(&beta).await, before);
    }
}

#[tokio::test]
async fn hub_refusals_and_entry_names_reach_the_terminal_escaped() {
    for wb in instances().await {
        let message = serde_json::json!({
            "code": "unknown-token\u{1b}[31m",
            "message": "\u{1b}]0;owned\u{7}\u{1b}[2J go away\nsecond line \u{9b}31m",
        });
        let hub = FakeHub::start(Answer::Full {
            status: 403,
            etag: None,
            body: serde_json::to_vec(&message).unwrap(),
        });
        beta_pinning(&wb, &hub.url, &some_key());
        let err = fails_cleanly(&wb, &["sync", "pull"]);
        assert!(
            err.contains(r"the hub refused (unknown-token\x1b[31m, HTTP 403): \x1b]0;owned\x07\x1b[2J go away\nsecond line \u{9b}31m"),
            "{err}"
        );

        // An archive entry whose name holds escapes.
        let mut header = tar::Header::new_ustar();
        let name = b"user/\x1b]0;owned\x07.sync.txt";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, &b"x"[..]).unwrap();
        hub.answer(Answer::Full {
            status: 200,
            etag: None,
            body: builder.into_inner().unwrap(),
        });
        let err = fails_cleanly(&wb, &["sync", "pull"]);
        assert!(err.contains("control character in path"), "{err}");
        assert!(!pull_cache(&wb).exists());
    }
}

#[tokio::test]
async fn listings_escape_control_characters_from_an_old_database() {
    let hostile = "\u{1b}]0;owned\u{7}Mallory\u{1b}[2J\u{9b}31m";
    for wb in instances().await {
        wb.ok(&["init", "--instance", "beta.example"]);
        // Import now refuses such text; an older database may hold it.
        let now = wb_model::Timestamp::now();
        wb.db
            .store
            .insert_user(&wb_model::User {
                id: wb_model::new_id(),
                origin: wb_model::InstanceName::parse("alpha.example").unwrap(),
                username: wb_model::Username::parse("mallory").unwrap(),
                display_name: hostile.to_owned(),
                bio: format!("{hostile}\nsecond line"),
                email: None,
                role: wb_model::Role::Member,
                invited_by: None,
                scope: wb_model::SyncScope::Public,
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap();

        let out = wb.cmd().args(["list", "user"]).output().unwrap();
        assert!(out.status.success());
        let shown = String::from_utf8(out.stdout).unwrap();
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown:?}"
        );
        assert!(
            shown.contains(r"\x1b]0;owned\x07Mallory\x1b[2J\u{9b}31m"),
            "{shown}"
        );

        // JSON: escaped too (C1 included), and the same string to a parser.
        let out = wb.cmd().args(["list", "user", "--json"]).output().unwrap();
        assert!(out.status.success());
        let json = String::from_utf8(out.stdout).unwrap();
        assert!(
            !json.chars().any(|c| c.is_control() && c != '\n'),
            "{json:?}"
        );
        assert!(json.contains(r"\u009b"), "{json}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        assert!(
            rows.iter()
                .any(|row| row["display_name"].as_str() == Some(hostile)),
            "{json}"
        );
    }
}

/// `files` with the manifest rebuilt at `sequence` after `change`, signed
/// again with alpha's key.
fn resigned(
    alpha: &Wb,
    mut files: BTreeMap<String, Vec<u8>>,
    sequence: u64,
    change: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
) -> BTreeMap<String, Vec<u8>> {
    change(&mut files);
    let mut manifest = wb_syncfmt::Manifest::parse(&files["manifest.sync.txt"], "m").unwrap();
    manifest.files = files
        .iter()
        .filter(|(path, _)| path.contains('/'))
        .map(|(path, bytes)| wb_syncfmt::ManifestEntry::for_bytes(path.clone(), bytes))
        .collect();
    manifest.sequence = sequence;
    let text = manifest.to_text().unwrap();
    let keys = wb_crypto::KeyStore::new(alpha.dir.path().join(".sync/keys"));
    let key = keys.load("alpha.example").unwrap();
    let comment = wb_crypto::bundle_trusted_comment("alpha.example", sequence).unwrap();
    files.insert(
        "bundle.sig".to_owned(),
        wb_crypto::sign_minisign(&key, text.as_bytes(), &comment).into_bytes(),
    );
    files.insert("manifest.sync.txt".to_owned(), text.into_bytes());
    files
}

/// The delta archive from `base` to `new`, after `tamper` edits its files
/// and `forge` its delta document.
fn delta_archive(
    base: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, Vec<u8>>,
    tamper: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
    forge: impl FnOnce(&mut wb_hub_client::delta::ManifestDelta),
) -> Vec<u8> {
    let mut delta = wb_hub_client::delta::diff(
        &base["manifest.sync.txt"],
        &new["manifest.sync.txt"],
        1 << 28,
    )
    .unwrap();
    let mut files = BTreeMap::new();
    for entry in delta.changed_entries().unwrap() {
        files.insert(entry.path.clone(), new[&entry.path].clone());
    }
    files.insert("bundle.sig".to_owned(), new["bundle.sig"].clone());
    tamper(&mut files);
    forge(&mut delta);
    files.insert(
        wb_hub_client::delta::DELTA_FILE_NAME.to_owned(),
        delta.to_json().unwrap(),
    );
    wb_hub_client::archive::pack_delta(&files).unwrap()
}

#[tokio::test]
async fn a_pulled_delta_that_does_not_rebuild_the_signed_bundle_changes_nothing() {
    let mut alphas = instances().await;
    let mut betas = instances().await;
    while let (Some(alpha), Some(beta)) = (alphas.pop(), betas.pop()) {
        let (key, files) = alpha_bundle(&alpha);
        let hub = FakeHub::start(Answer::Full {
            status: 200,
            etag: Some("good".to_owned()),
            body: wb_hub_client::archive::pack_files(&files).unwrap(),
        });
        beta_pinning(&beta, &hub.url, &key);
        beta.ok(&["sync", "pull"]);
        let before = snapshot(&beta).await;
        let cache = cached(&beta);
        assert!(cache.contains_key("alpha.example/manifest.sha256"));

        // Sequence 2 drops a comment and changes a user's file.
        let comment = files
            .keys()
            .find(|p| p.starts_with("comment/"))
            .unwrap()
            .clone();
        let user = files
            .keys()
            .find(|p| p.starts_with("user/"))
            .unwrap()
            .clone();
        let new = resigned(&alpha, files.clone(), 2, |f| {
            f.remove(&comment);
        });
        let refuse = |body: Vec<u8>, expected: &str| {
            hub.answer(Answer::Delta { body });
            let err = fails_cleanly(&beta, &["sync", "pull"]);
            assert!(err.contains(expected), "{expected}: {err}");
        };

        // A delta naming another manifest than the one it rebuilds.
        refuse(
            delta_archive(&files, &new, |_| {}, |d| d.manifest_sha256 = "0".repeat(64)),
            "the manifest rebuilt from the delta has SHA-256",
        );
        // A delta against another base than the cached bundle.
        refuse(
            delta_archive(&files, &new, |_| {}, |d| d.base = "1".repeat(64)),
            "is against manifest",
        );
        // A file no changed line names, smuggled in.
        refuse(
            delta_archive(
                &files,
                &new,
                |f| {
                    f.insert(user.clone(), b"x".to_vec());
                },
                |_| {},
            ),
            "which no changed line names",
        );
        // Sequence 3 changes the user's file: its bytes tampered in transit.
        let changed = resigned(&alpha, files.clone(), 3, |f| {
            let bytes = f.get_mut(&user).unwrap();
            let at = bytes.len() - 3;
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        });
        refuse(
            delta_archive(
                &files,
                &changed,
                |f| {
                    let bytes = f.get_mut(&user).unwrap();
                    let at = bytes.len() - 3;
                    bytes[at] = if bytes[at] == b'A' { b'C' } else { b'D' };
                },
                |_| {},
            ),
            "SHA-256 is",
        );
        // A delta whose signature is not the pinned key's.
        let mut forged = new.clone();
        forged.insert("bundle.sig".to_owned(), files["bundle.sig"].clone());
        refuse(
            delta_archive(&files, &forged, |_| {}, |_| {}),
            "the bundle of alpha.example from the hub is refused",
        );
        // Signed with alpha's real key, checked from its changed files:
        // a comment whose author is nobody in the bundle.
        let (path, comment) = files
            .iter()
            .find(|(p, _)| p.starts_with("comment/"))
            .map(|(p, b)| (p.clone(), wb_syncfmt::SyncFile::parse(b, p).unwrap()))
            .unwrap();
        let mut stranger = comment.clone();
        stranger.body.insert(
            "author_id".to_owned(),
            serde_json::json!("00000000-0000-4000-8000-00000000abcd"),
        );
        let strangers = resigned(&alpha, files.clone(), 4, |f| {
            f.insert(path.clone(), stranger.to_text().unwrap().into_bytes());
        });
        refuse(
            delta_archive(&files, &strangers, |_| {}, |_| {}),
            "author_id names user 00000000-0000-4000-8000-00000000abcd",
        );
        // Signed with alpha's real key, the comment unchanged, its author's
        // file gone: the delta alone looks harmless, so the whole rebuilt
        // bundle is checked, and refused.
        let author = comment.body["author_id"].as_str().unwrap().to_owned();
        let orphaned = resigned(&alpha, files.clone(), 5, |f| {
            f.remove(&format!("user/{author}.sync.txt"));
        });
        refuse(
            delta_archive(&files, &orphaned, |_| {}, |_| {}),
            &format!("author_id names user {author}"),
        );
        assert_eq!(cached(&beta), cache, "the cache is as it was");
        assert_eq!(snapshot(&beta).await, before, "nothing was imported");

        // The honest delta applies: rebuilt, verified and imported.
        hub.answer(Answer::Delta {
            body: delta_archive(&files, &new, |_| {}, |_| {}),
        });
        let out = beta.ok(&["sync", "pull", "--json"]);
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["peers"][0]["transfer"], "delta", "{out}");
        assert_eq!(out["peers"][0]["result"], "imported", "{out}");
        assert_eq!(high_water(&beta).await, Some(2));
    }
}
