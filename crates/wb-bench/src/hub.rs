//! The `hub_push_pull` scenario's subject: a `wb-hub` server on
//! `127.0.0.1:0` over a fresh SQLite hub database, and the `wb-hub` client
//! pushing a bundle to it and pulling it back.
//!
//! What is timed is the client's work and the server's: pack the bundle
//! directory into its tar archive, upload it (the hub verifies and stores
//! it), download it into an empty cache, unpack and verify it.

use std::net::SocketAddr;
use std::path::Path;

use actix_web::dev::ServerHandle;
use anyhow::{Context as _, Result};
use wb_hub::client::{ClientConfig, HubClient, pull_verified};
use wb_hub::server::{HubConfig, bind};
use wb_store::hub::HubStore;

/// A running hub that knows one instance and has a token for it.
pub struct LocalHub {
    addr: SocketAddr,
    token: String,
    handle: ServerHandle,
    store: HubStore,
}

impl std::fmt::Debug for LocalHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LocalHub {
    /// Starts a hub over a new SQLite database at `db`, registers `instance`
    /// with `public_key` and issues a token for it. Call on an actix system.
    pub async fn start(db: &Path, instance: &str, public_key: &str) -> Result<Self> {
        let url = format!("sqlite://{}", db.display());
        let store = HubStore::connect(&url, true)
            .await
            .context("opening the hub database")?;
        store.migrate().await?;
        wb_hub::admin::add_instance(&store, instance, public_key).await?;
        let token = wb_hub::admin::issue_token(&store, instance).await?.reveal();
        // 100k rows make a ~90 MB archive, over the default 64 MiB limit.
        let config = HubConfig::default().with_max_bundle_bytes(1 << 30);
        let running = bind(store.clone(), config, SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let handle = running.server.handle();
        actix_rt::spawn(running.server);
        Ok(Self {
            addr: running.addr,
            token,
            handle,
            store,
        })
    }

    /// Pushes the bundle at `bundle` as `instance`'s and pulls it into the
    /// (empty) cache `cache`, verified against `public_key`.
    pub async fn push_pull(
        &self,
        bundle: &Path,
        instance: &str,
        public_key: &str,
        cache: &Path,
    ) -> Result<()> {
        let client = HubClient::new(&format!("http://{}", self.addr), ClientConfig::default())?;
        let archive = wb_hub::archive::pack_dir(bundle)?;
        client.push(instance, &self.token, archive).await?;
        let pulled = pull_verified(&client, instance, public_key, cache).await?;
        anyhow::ensure!(pulled.downloaded, "the pull downloaded nothing");
        Ok(())
    }

    /// Stops the server and closes its database.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.store.close().await;
    }
}
