//! The hub scenarios' subject: a real `wb-hub` server in a process of its
//! own, over a fresh hub database on the bench's backend (a SQLite file, or
//! a Postgres schema with `--database-url`) (the bench runs itself again with the hidden `__hub` subcommand,
//! which serves a hub database exactly as `wb-hub serve` does), so that its
//! peak resident set size is the hub's alone, read from
//! `/proc/<pid>/status` (`VmHWM`) and reset through `/proc/<pid>/clear_refs`
//! before the work it measures.
//!
//! The client side runs in the bench: `push_dir` (delta when it can, the
//! whole archive otherwise) and `pull_verified` into a cache directory.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use wb_hub::client::{ClientConfig, HubClient, Pulled, Pushed, pull_verified, push_dir};
use wb_hub::server::{HubConfig, bind};
use wb_store::hub::HubStore;

use crate::db::Database;

/// The prefix of the `__hub` child's first line of output.
const LISTENING: &str = "listening=";

/// Arguments of the hidden `__hub` subcommand.
#[derive(Debug, Args)]
pub struct HubArgs {
    /// The hub database URL (migrated, with its instance registered).
    #[arg(long)]
    pub db: String,
}

/// Runs in the child: serves the hub database on `127.0.0.1:0` until
/// killed, after printing `listening=ADDR`.
pub async fn serve(args: HubArgs) -> Result<()> {
    let store = HubStore::connect(&args.db, false)
        .await
        .context("opening the hub database")?;
    // 100k rows make a ~90 MB archive, over the default 64 MiB limit.
    let config = HubConfig::default().with_max_bundle_bytes(1 << 30);
    let running = bind(store, config, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    println!("{LISTENING}{}", running.addr);
    running.server.await?;
    Ok(())
}

/// A `wb-hub` server in a child process that knows one instance and has a
/// token for it.
#[derive(Debug)]
pub struct HubProcess {
    token: String,
    child: Child,
    client: HubClient,
}

impl HubProcess {
    /// Migrates the empty hub database `db`, registers `instance` with
    /// `public_key`, issues a token for it and starts serving it in a child
    /// process.
    pub async fn start(db: &Database, instance: &str, public_key: &str) -> Result<Self> {
        let url = db.url.clone();
        let store = HubStore::connect(&url, true)
            .await
            .context("creating the hub database")?;
        store.migrate().await?;
        wb_hub::admin::add_instance(&store, instance, public_key).await?;
        let token = wb_hub::admin::issue_token(&store, instance).await?.reveal();
        store.close().await;

        let exe = std::env::current_exe().context("finding the wb-bench executable")?;
        let mut child = Command::new(exe)
            .args(["__hub", "--db", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the hub process")?;
        let stdout = child.stdout.take().context("no stdout of the hub")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the hub's address")?;
        let Some(addr) = line.trim().strip_prefix(LISTENING) else {
            let _ = child.kill();
            bail!("the hub process did not start: {line:?}");
        };
        let addr: SocketAddr = addr.parse().context("the hub's address")?;
        // One client for every transfer, as one `wb sync push` or `pull`
        // has (making one costs a few milliseconds: TLS roots).
        let client = HubClient::new(
            &format!("http://{addr}"),
            ClientConfig::default().with_max_download_bytes(1 << 30),
        )?;
        Ok(Self {
            token,
            child,
            client,
        })
    }

    /// Pushes the bundle directory `bundle` as `instance`'s, remembering
    /// the pushed manifest in `push_cache` (so the next push can be a
    /// delta).
    pub async fn push(&self, bundle: &Path, instance: &str, push_cache: &Path) -> Result<Pushed> {
        Ok(push_dir(&self.client, instance, &self.token, bundle, push_cache).await?)
    }

    /// Pulls `instance`'s latest bundle into the cache `cache`, verified
    /// against `public_key`.
    pub async fn pull(&self, instance: &str, public_key: &str, cache: &Path) -> Result<Pulled> {
        Ok(pull_verified(&self.client, instance, public_key, cache).await?)
    }

    /// Forgets the hub's peak RSS so far (`clear_refs`), so that
    /// [`HubProcess::peak_rss_bytes`] measures what follows.
    pub fn reset_peak_rss(&self) -> Result<()> {
        let path = format!("/proc/{}/clear_refs", self.child.id());
        std::fs::write(&path, "5").with_context(|| format!("writing {path}"))
    }

    /// The hub's peak resident set size (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        crate::rss::peak_rss_of(&format!("/proc/{}/status", self.child.id()))
    }

    /// Stops the hub (its database is the caller's to remove).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
