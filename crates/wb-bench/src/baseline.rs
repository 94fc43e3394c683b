//! The baselines each scenario is measured beside, in the same run:
//!
//! - [`BundleBytes`]: a bundle's files held in memory and written back with
//!   plain `fs::write`, the I/O floor of an export;
//! - [`sql_script`]: the rows an import stores, as the SQL script an
//!   operator could load by hand with `sqlite3` (or `psql`) in one
//!   transaction — one `INSERT` per row, as `sqlite3 .dump` writes them;
//! - [`LoopbackServer`]: a trivial HTTP/1.1 server on `127.0.0.1` (a
//!   `std::net` thread that keeps the last `PUT` body in memory and answers
//!   `GET` with it), which `curl` uploads the hub archive to and downloads
//!   it from.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail};
use wb_store::{OriginState, Store};

/// Every file of a bundle directory, in memory.
#[derive(Debug, Default)]
pub struct BundleBytes {
    /// `(path relative to the bundle, bytes)`.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// The entity directories.
    pub dirs: Vec<PathBuf>,
}

impl BundleBytes {
    /// Reads the bundle at `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let mut out = Self::default();
        let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let name = PathBuf::from(entry.file_name());
            if entry.file_type()?.is_dir() {
                out.dirs.push(name.clone());
                let mut inner: Vec<_> = fs::read_dir(entry.path())?.collect::<Result<_, _>>()?;
                inner.sort_by_key(fs::DirEntry::file_name);
                for file in inner {
                    out.files
                        .push((name.join(file.file_name()), fs::read(file.path())?));
                }
            } else {
                out.files.push((name, fs::read(entry.path())?));
            }
        }
        Ok(out)
    }

    /// Total size of the files.
    pub fn total_bytes(&self) -> usize {
        self.files.iter().map(|(_, b)| b.len()).sum()
    }

    /// Writes every file into the empty (or missing) directory `dir`.
    pub fn write_into(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir)?;
        for sub in &self.dirs {
            fs::create_dir(dir.join(sub))?;
        }
        for (path, bytes) in &self.files {
            fs::write(dir.join(path), bytes)?;
        }
        Ok(())
    }
}

/// A SQL string literal.
fn quote(out: &mut String, text: &str) {
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
}

fn opt(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => quote(out, text),
        None => out.push_str("NULL"),
    }
}

/// The rows of `origin` that `store` holds (after an import), and its
/// origin state, as one transaction of `INSERT` statements for the bench's
/// schema. `pragmas` go first (SQLite's durability settings of the store).
pub async fn sql_script(store: &Store, origin: &OriginState, pragmas: &str) -> Result<String> {
    let mine = |o: &wb_model::InstanceName| *o == origin.instance;
    let mut s = String::with_capacity(1 << 20);
    s.push_str(pragmas);
    s.push_str("BEGIN;\n");
    for u in store.users().await?.iter().filter(|u| mine(&u.origin)) {
        s.push_str("INSERT INTO users (id, origin, username, display_name, bio, email, role, invited_by, sync_scope, created_at, updated_at) VALUES (");
        quote(&mut s, &u.id.to_string());
        s.push(',');
        quote(&mut s, u.origin.as_str());
        s.push(',');
        quote(&mut s, u.username.as_str());
        s.push(',');
        quote(&mut s, &u.display_name);
        s.push(',');
        quote(&mut s, &u.bio);
        s.push(',');
        opt(&mut s, u.email.as_deref());
        s.push(',');
        quote(&mut s, u.role.as_str());
        s.push(',');
        opt(&mut s, u.invited_by.map(|i| i.to_string()).as_deref());
        let _ = writeln!(
            s,
            ",'{}',{},{});",
            u.scope.as_str(),
            u.created_at.unix_micros(),
            u.updated_at.unix_micros()
        );
    }
    for r in store.requests().await?.iter().filter(|r| mine(&r.origin)) {
        s.push_str("INSERT INTO requests (id, origin, author_id, title, body, status, sync_scope, created_at, updated_at) VALUES (");
        quote(&mut s, &r.id.to_string());
        s.push(',');
        quote(&mut s, r.origin.as_str());
        s.push(',');
        quote(&mut s, &r.author_id.to_string());
        s.push(',');
        quote(&mut s, &r.title);
        s.push(',');
        quote(&mut s, &r.body);
        let _ = writeln!(
            s,
            ",'{}','{}',{},{});",
            r.status.as_str(),
            r.scope.as_str(),
            r.created_at.unix_micros(),
            r.updated_at.unix_micros()
        );
    }
    for c in store.comments().await?.iter().filter(|c| mine(&c.origin)) {
        s.push_str("INSERT INTO comments (id, origin, request_id, author_id, body, sync_scope, created_at, updated_at) VALUES (");
        quote(&mut s, &c.id.to_string());
        s.push(',');
        quote(&mut s, c.origin.as_str());
        s.push(',');
        quote(&mut s, &c.request_id.to_string());
        s.push(',');
        quote(&mut s, &c.author_id.to_string());
        s.push(',');
        quote(&mut s, &c.body);
        let _ = writeln!(
            s,
            ",'{}',{},{});",
            c.scope.as_str(),
            c.created_at.unix_micros(),
            c.updated_at.unix_micros()
        );
    }
    for i in store.invites().await?.iter().filter(|i| mine(&i.origin)) {
        s.push_str("INSERT INTO invites (id, origin, inviter_id, invitee_id, status, code, sync_scope, created_at, updated_at) VALUES (");
        quote(&mut s, &i.id.to_string());
        s.push(',');
        quote(&mut s, i.origin.as_str());
        s.push(',');
        quote(&mut s, &i.inviter_id.to_string());
        s.push(',');
        opt(&mut s, i.invitee_id.map(|id| id.to_string()).as_deref());
        s.push(',');
        quote(&mut s, i.status.as_str());
        s.push(',');
        opt(&mut s, i.code.as_deref());
        let _ = writeln!(
            s,
            ",'{}',{},{});",
            i.scope.as_str(),
            i.created_at.unix_micros(),
            i.updated_at.unix_micros()
        );
    }
    for v in store.vouches().await?.iter().filter(|v| mine(&v.origin)) {
        s.push_str("INSERT INTO vouches (id, origin, voucher_user_id, subject_user_id, signature, sync_scope, created_at, updated_at) VALUES (");
        quote(&mut s, &v.id.to_string());
        s.push(',');
        quote(&mut s, v.origin.as_str());
        s.push(',');
        quote(&mut s, &v.voucher_id.to_string());
        s.push(',');
        quote(&mut s, &v.subject_id.to_string());
        s.push(',');
        quote(&mut s, &v.signature);
        let _ = writeln!(
            s,
            ",'{}',{},{});",
            v.scope.as_str(),
            v.created_at.unix_micros(),
            v.updated_at.unix_micros()
        );
    }
    s.push_str("INSERT INTO sync_origins (instance, public_key, last_sequence, manifest_sha256, signature, imported_at) VALUES (");
    quote(&mut s, origin.instance.as_str());
    s.push(',');
    quote(&mut s, &origin.public_key);
    let _ = write!(s, ",{},", origin.last_sequence);
    quote(&mut s, &origin.manifest_sha256);
    s.push(',');
    quote(&mut s, &origin.signature);
    let _ = writeln!(s, ",{});", origin.imported_at.unix_micros());
    s.push_str("COMMIT;\n");
    Ok(s)
}

/// A trivial HTTP/1.1 server on `127.0.0.1`: `PUT` stores the body, `GET`
/// returns the last one stored. One connection at a time; answers close the
/// connection. Just enough for `curl`.
#[derive(Debug)]
pub struct LoopbackServer {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl LoopbackServer {
    /// Starts the server on a thread that lives until the process ends.
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the loopback server")?;
        let addr = listener.local_addr()?;
        let stored = Arc::new(Mutex::new(Vec::new()));
        std::thread::Builder::new()
            .name("loopback-http".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    // A client that goes away is its own problem.
                    let _ = serve(stream, &stored);
                }
            })?;
        Ok(Self { addr })
    }

    /// The URL of the one resource.
    pub fn url(&self) -> String {
        format!("http://{}/bundle.tar", self.addr)
    }
}

fn serve(stream: TcpStream, stored: &Mutex<Vec<u8>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    let mut expect_continue = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value.eq_ignore_ascii_case("100-continue");
            }
        }
    }
    if request_line.starts_with("PUT ") {
        if expect_continue {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        *stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = body;
        writer
            .write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    } else {
        let body = stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        writer.write_all(&body)?;
    }
    writer.flush()
}

/// `curl` uploads `file` to `url` and downloads it again into `into`.
pub fn curl_put_get(url: &str, file: &Path, into: &Path) -> Result<()> {
    for args in [
        vec![
            "-sS".into(),
            "--fail".into(),
            "-T".into(),
            file.display().to_string(),
            url.into(),
            "-o".into(),
            "/dev/null".into(),
        ],
        vec![
            "-sS".into(),
            "--fail".into(),
            url.into(),
            "-o".into(),
            into.display().to_string(),
        ],
    ] {
        let output = Command::new("curl")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .context("running curl (is it installed?)")?;
        if !output.status.success() {
            bail!(
                "curl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    Ok(())
}
