//! `wb sync push|pull|peers`: the instance side of the hub (SPEC §3).
//!
//! Glue: the peer registry is `wb_engine::sync::peers`, the HTTP client,
//! archive and verification are `wb_hub`; this module resolves hubs and
//! tokens, runs the (`!Send`) client on its own actix thread, imports what
//! was verified, and prints outcomes. Whatever a hub or a hand-edited file
//! said is printed through `wb_model::text::escape_control`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Subcommand, ValueEnum};
use wb_crypto::KeyStore;
use wb_engine::Instance;
use wb_engine::sync::peers::{Peer, PeerKind, PeerRegistry, edit_registry};
use wb_engine::sync::{
    ImportOptions, ImportOutcome, Progress, default_export_dir, export_bundle, import_files,
};
use wb_hub::client::{ClientConfig, ClientError, HubClient, on_actix_thread, pull_verified};
use wb_model::text::escape_control;

use crate::cli::Global;

/// Where pulled bundles are cached, per instance.
const PULL_CACHE: &str = ".sync/pull";
/// The environment variable holding the upload token.
const TOKEN_VAR: &str = "WB_HUB_TOKEN";

#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// Add a hub or a peer (with the public key to pin for it).
    #[command(after_help = "\
Examples:
  wb sync peers add hub.example --url https://hub.example --kind hub
  wb sync peers add beta.example --url https://hub.example --key RWQ…")]
    Add {
        /// The name: for a peer, its instance name.
        name: String,
        /// The hub URL (for a peer: the hub it publishes to).
        #[arg(long, value_name = "URL")]
        url: String,
        /// The peer's public key (minisign one-line form, from its `wb sync keygen`).
        #[arg(long, value_name = "PUBKEY")]
        key: Option<String>,
        /// hub or peer.
        #[arg(long, value_enum, default_value = "peer")]
        kind: KindArg,
    },
    /// List the hubs and peers.
    #[command(after_help = "Example:\n  wb sync peers list")]
    List,
    /// Remove a hub or peer.
    #[command(after_help = "Example:\n  wb sync peers remove beta.example")]
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Hub,
    Peer,
}

pub fn peers(global: &Global, command: PeersCommand) -> Result<()> {
    match command {
        PeersCommand::Add {
            name,
            url,
            key,
            kind,
        } => {
            let kind = match kind {
                KindArg::Hub => PeerKind::Hub,
                KindArg::Peer => PeerKind::Peer,
            };
            let peer = Peer {
                name,
                kind,
                url: url.trim().trim_end_matches('/').to_owned(),
                key: key.map(|k| k.trim().to_owned()),
            };
            let shown =
                escape_control(&format!("{} {} ({})", peer.kind, peer.name, peer.url)).into_owned();
            if peer.kind == PeerKind::Peer && peer.key.is_none() {
                eprintln!(
                    "warning: {} has no --key; `wb sync pull` skips peers without a pinned key",
                    escape_control(&peer.name)
                );
            }
            edit_registry(&global.dir, |registry| registry.add(peer))?;
            println!("added {shown}");
        }
        PeersCommand::List => {
            let registry = PeerRegistry::load(&global.dir)?;
            for peer in registry.peers() {
                println!(
                    "{}\t{}\t{}\t{}",
                    escape_control(&peer.name),
                    peer.kind,
                    escape_control(&peer.url),
                    escape_control(peer.key.as_deref().unwrap_or("-"))
                );
            }
        }
        PeersCommand::Remove { name } => {
            let peer = edit_registry(&global.dir, |registry| registry.remove(&name))?;
            println!("removed {} {}", peer.kind, escape_control(&peer.name));
        }
    }
    Ok(())
}

fn normalise(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// A hub given as a URL or as the name of a registry entry.
fn resolve_hub(registry: &PeerRegistry, hub: &str) -> Result<String> {
    if hub.starts_with("http://") || hub.starts_with("https://") {
        return Ok(normalise(hub));
    }
    match registry.get(hub) {
        Some(peer) => Ok(normalise(&peer.url)),
        None => bail!(
            "{hub:?} is neither a URL nor a name in sync_peers.txt (add it with `wb sync peers add {hub} --url URL --kind hub`)"
        ),
    }
}

fn read_token(token_file: Option<PathBuf>) -> Result<String> {
    let token = match token_file {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?,
        None => std::env::var(TOKEN_VAR).unwrap_or_default(),
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!(
            "no upload token: set {TOKEN_VAR} or pass --token-file FILE (the hub operator issues tokens with `wb-hub token issue`)"
        );
    }
    Ok(token)
}

/// A client error in one line: a hub refusal as its code and its sentence,
/// a deadline with the flag that sets it. What the hub said is escaped.
fn describe(err: ClientError) -> anyhow::Error {
    match err {
        ClientError::Rejected {
            status,
            code,
            message,
        } => anyhow::anyhow!(
            "the hub refused ({}, HTTP {status}): {}",
            escape_control(&code),
            escape_control(&message)
        ),
        err @ ClientError::Timeout { .. } => anyhow::anyhow!("{err} (raise it with --timeout)"),
        err @ ClientError::TooLarge { .. } => anyhow::anyhow!("{err} (raise it with --max-bytes)"),
        err @ ClientError::Archive {
            source: wb_hub::archive::ArchiveError::TooManyEntries { .. },
            ..
        } => anyhow::anyhow!("{err} (raise it with --max-files)"),
        other => anyhow::anyhow!("{}", escape_control(&other.to_string())),
    }
}

pub async fn push(
    global: &Global,
    instance: &Instance,
    keys: &KeyStore,
    progress: &dyn Progress,
    hub: &str,
    token_file: Option<PathBuf>,
    config: ClientConfig,
) -> Result<()> {
    let registry = PeerRegistry::load(&global.dir)?;
    let url = resolve_hub(&registry, hub)?;
    let token = read_token(token_file)?;
    let out = default_export_dir(&global.dir, instance.name());
    let summary = export_bundle(instance, keys, &out, None, progress).await?;
    if let Some(path) = &summary.key_created {
        eprintln!(
            "warning: created a new signing key for {} at {}; back it up and register its public key on the hub",
            instance.name(),
            path.display()
        );
    }
    let archive = wb_hub::archive::pack_dir(&out)
        .with_context(|| format!("cannot pack {}", out.display()))?;
    let size = archive.len();
    let name = instance.name().to_string();
    let hub_url = url.clone();
    let receipt = on_actix_thread(move || async move {
        let client = HubClient::new(&hub_url, config)?
            .with_progress(std::rc::Rc::new(crate::progress::TransferBar::default()));
        client.push(&name, &token, archive).await
    })
    .await?
    .map_err(describe)?;
    let what = if receipt.status == "unchanged" {
        "already there, unchanged"
    } else {
        "published"
    };
    println!(
        "pushed {} sequence {} to {url} ({size} bytes): {what}",
        escape_control(&receipt.instance),
        receipt.sequence
    );
    Ok(())
}

pub async fn pull(
    global: &Global,
    instance: &Instance,
    keys: &KeyStore,
    progress: &dyn Progress,
    hub: Option<String>,
    no_import: bool,
    config: ClientConfig,
) -> Result<()> {
    let registry = PeerRegistry::load(&global.dir)?;
    let only = hub.map(|h| resolve_hub(&registry, &h)).transpose()?;
    let mut targets = Vec::new();
    for peer in registry.peers().filter(|p| p.kind == PeerKind::Peer) {
        if only.as_ref().is_some_and(|h| *h != normalise(&peer.url)) {
            continue;
        }
        match &peer.key {
            Some(key) => targets.push((peer.name.clone(), normalise(&peer.url), key.clone())),
            None => eprintln!(
                "warning: skipping {}: no pinned Key in sync_peers.txt",
                escape_control(&peer.name)
            ),
        }
    }
    if targets.is_empty() {
        bail!("no peer to pull: add one with `wb sync peers add NAME --url HUB-URL --key PUBKEY`");
    }
    let cache = global.dir.join(PULL_CACHE);
    let total = targets.len();
    let mut failures = Vec::new();
    for (name, url, key) in targets {
        let result = pull_one(
            instance,
            keys,
            progress,
            &cache,
            (&name, &url, &key),
            no_import,
            config.clone(),
        )
        .await;
        if let Err(err) = result {
            failures.push(err.context(escape_control(&name).into_owned()));
        }
    }
    match failures.len() {
        0 => Ok(()),
        // One peer: its error is the one line.
        1 if total == 1 => Err(failures.remove(0)),
        n => {
            for err in &failures {
                let mut kept: Vec<String> = Vec::new();
                for cause in err.chain().map(|c| c.to_string()) {
                    if !kept.last().is_some_and(|prev| prev.contains(&cause)) {
                        kept.push(cause);
                    }
                }
                eprintln!("error: {}", escape_control(&kept.join(": ")));
            }
            bail!("{n} of {total} peers could not be pulled; nothing was imported from them")
        }
    }
}

/// Pulls one peer, `(name, hub URL, pinned key)`: fetched and verified in
/// memory on the client's thread, then imported from memory with the same
/// key required. Nothing but the verified archive and its ETag (the cache)
/// is written to disk.
async fn pull_one(
    instance: &Instance,
    keys: &KeyStore,
    progress: &dyn Progress,
    cache: &Path,
    (name, url, key): (&str, &str, &str),
    no_import: bool,
    config: ClientConfig,
) -> Result<()> {
    let (peer, hub_url, pin, cache_root) = (
        name.to_owned(),
        url.to_owned(),
        key.to_owned(),
        cache.to_owned(),
    );
    let limits = config.limits.clone();
    let pulled = on_actix_thread(move || async move {
        let client = HubClient::new(&hub_url, config)?
            .with_progress(std::rc::Rc::new(crate::progress::TransferBar::default()));
        pull_verified(&client, &peer, &pin, &cache_root).await
    })
    .await?
    .map_err(describe)?;
    let sequence = pulled.bundle.manifest.sequence;
    let fetched = if pulled.downloaded {
        "downloaded"
    } else {
        "unchanged on the hub, not downloaded"
    };
    if no_import {
        println!(
            "{name} sequence {sequence}: {fetched}, signature verified; not imported (--no-import)"
        );
        return Ok(());
    }
    let options = ImportOptions {
        expected_key: Some(key.to_owned()),
        limits,
        ..ImportOptions::default()
    };
    let files = pulled.files().map_err(describe)?;
    let label = format!("{name} from {url}");
    match import_files(instance, keys, &label, files, &options, progress).await? {
        ImportOutcome::Applied { counts, .. } => println!(
            "{name} sequence {sequence}: {fetched}, imported: {} added, {} updated, {} unchanged, {} retracted",
            counts.added, counts.updated, counts.unchanged, counts.retracted
        ),
        ImportOutcome::AlreadyApplied { .. } => {
            println!("{name} sequence {sequence}: {fetched}, already imported; nothing to do");
        }
    }
    Ok(())
}
