//! `wb sync push|pull|peers`: the instance side of the hub (SPEC §3).
//!
//! Glue: the peer registry is `wb_engine::sync::peers`, the HTTP client,
//! archive and verification are `wb_hub_client`; this module resolves hubs and
//! tokens, runs the (`!Send`) client on its own actix thread, imports what
//! was verified, and prints outcomes. Whatever a hub or a hand-edited file
//! said is printed through `wb_model::text::escape_control`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Subcommand, ValueEnum};
use wb_crypto::KeyStore;
use wb_engine::Instance;
use wb_engine::sync::peers::{Peer, PeerKind, PeerRegistry, lock_registry};
use wb_engine::sync::pins::{Adopted, OriginEntry, adopt_registry_keys, list_origins, pin_key};
use wb_engine::sync::{
    ImportOptions, ImportOutcome, Progress, default_export_dir, export_bundle, import_files,
};
use wb_hub_client::client::{
    ClientConfig, ClientError, HubClient, Pulled, Transfer, on_actix_thread, pull_verified,
    push_dir,
};
use wb_model::InstanceName;
use wb_model::text::{error_line, escape_control};
use wb_store::PinSource;

use crate::cli::Global;

/// Where pulled bundles are cached, per instance.
const PULL_CACHE: &str = ".sync/pull";
/// Where the manifest last pushed is kept, so the next push sends a delta.
const PUSH_CACHE: &str = ".sync/push";
/// The environment variable holding the upload token.
const TOKEN_VAR: &str = "WB_HUB_TOKEN";

#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// Add a hub or a peer; --key pins the peer's public key (in the database).
    #[command(after_help = "\
Examples:
  wb sync peers add hub.example --url https://hub.example --kind hub
  wb sync peers add beta.example --url https://hub.example --key RWQ…

--key pins the key for that peer, as `wb sync peers pin` does, but never
changes a pin it already has (use `wb sync peers pin` for that). A key
pinned for another origin is refused.")]
    Add {
        /// The name: for a peer, its instance name.
        name: String,
        /// The hub URL (for a peer: the hub it publishes to).
        #[arg(long, value_name = "URL")]
        url: String,
        /// The peer's public key (minisign one-line form, from its `wb sync keygen`).
        #[arg(long, value_name = "PUBKEY", value_parser = crate::cli::parse_public_key)]
        key: Option<String>,
        /// hub or peer.
        #[arg(long, value_enum, default_value = "peer")]
        kind: KindArg,
    },
    /// List hubs, peers and pinned origins: kind, URL, pinned key, last applied sequence.
    #[command(after_help = "\
Examples:
  wb sync peers list
  wb sync peers list --json     (the shape is documented in docs/peers.md)")]
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a hub or peer from sync_peers.txt (its pin stays).
    #[command(after_help = "Example:\n  wb sync peers remove beta.example")]
    Remove {
        /// Its name.
        name: String,
    },
    /// Pin a key for an origin, or change its pin on purpose.
    #[command(after_help = "\
Examples:
  wb sync peers pin alpha.example --key RWQ…
  wb sync peers pin alpha.example --key RWQ… --reset-sequence

The recovery from a lost or compromised key, or from an origin frozen by a
bundle with a huge sequence: check the new key with the origin's operator,
pin it, and with --reset-sequence forget the last sequence applied from it
(the next bundle of any sequence is then accepted).")]
    Pin {
        /// The origin (another instance's name).
        name: String,
        /// Its public key (minisign one-line form).
        #[arg(long, value_name = "PUBKEY", value_parser = crate::cli::parse_public_key)]
        key: String,
        /// Also forget the last sequence applied from this origin.
        #[arg(long)]
        reset_sequence: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Hub,
    Peer,
}

/// Reads `sync_peers.txt` and adopts its `Key:` lines as pins (the pins
/// live in the database; see docs/peers.md), saying which it adopted.
/// Every command that reads the registry goes through here.
pub async fn load_registry(global: &Global, instance: &Instance) -> Result<PeerRegistry> {
    let registry = PeerRegistry::load(&global.dir)?;
    report_adopted(&adopt_registry_keys(instance, &registry, None).await?);
    Ok(registry)
}

fn report_adopted(adopted: &[Adopted]) {
    for pin in adopted {
        eprintln!(
            "pinned key {} for {} (from its Key line in sync_peers.txt; pins now live in the database)",
            pin.key, pin.origin
        );
    }
}

pub async fn peers(global: &Global, instance: &Instance, command: PeersCommand) -> Result<()> {
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
            let key = key.map(|k| k.trim().to_owned());
            if kind == PeerKind::Hub && key.is_some() {
                bail!("--key is for peers: a hub has no key to pin");
            }
            let peer = Peer {
                name,
                kind,
                url: url.trim().trim_end_matches('/').to_owned(),
                key: None,
            };
            let shown =
                escape_control(&format!("{} {} ({})", peer.kind, peer.name, peer.url)).into_owned();
            let mut locked = lock_registry(&global.dir)?;
            report_adopted(&adopt_registry_keys(instance, &locked.registry, None).await?);
            let origin = peer.name.clone();
            locked.registry.add(peer)?;
            if let Some(key) = &key {
                let origin = InstanceName::parse(&origin)?;
                pin_key(instance, &origin, key, PinSource::PeersAdd, false).await?;
            }
            locked.save()?;
            println!("added {shown}");
            match key {
                Some(key) => println!("pinned key {key} for {origin}"),
                None if kind == PeerKind::Peer
                    && instance
                        .store()
                        .pin(&InstanceName::parse(&origin)?)
                        .await?
                        .is_none() =>
                {
                    eprintln!(
                        "warning: {origin} has no pinned key; `wb sync pull` skips it until you run `wb sync peers pin {origin} --key PUBKEY`",
                        origin = escape_control(&origin)
                    );
                }
                None => {}
            }
        }
        PeersCommand::List { json } => {
            let registry = load_registry(global, instance).await?;
            let entries = list_origins(instance, &registry).await?;
            print_origins(&entries, json)?;
        }
        PeersCommand::Remove { name } => {
            let mut locked = lock_registry(&global.dir)?;
            report_adopted(&adopt_registry_keys(instance, &locked.registry, Some(&name)).await?);
            let peer = locked.registry.remove(&name)?;
            locked.save()?;
            println!("removed {} {}", peer.kind, escape_control(&peer.name));
        }
        PeersCommand::Pin {
            name,
            key,
            reset_sequence,
        } => {
            let origin = InstanceName::parse(&name)?;
            let key = key.trim().to_owned();
            // The Key line of this very entry may be what disagrees: this
            // command settles it, and rewrites the file without it.
            let mut locked = lock_registry(&global.dir)?;
            report_adopted(&adopt_registry_keys(instance, &locked.registry, Some(&name)).await?);
            let outcome =
                pin_key(instance, &origin, &key, PinSource::PeersPin, reset_sequence).await?;
            if locked.registry.get(&name).is_some_and(|p| p.key.is_some()) {
                locked.registry.clear_key(&name);
                locked.save()?;
            }
            match (&outcome.previous, outcome.changed) {
                (Some(previous), true) => println!(
                    "pinned key {key} for {origin} (was {})",
                    previous.public_key
                ),
                (None, _) => println!("pinned key {key} for {origin}"),
                (Some(_), false) => println!("{origin} is already pinned to key {key}"),
            }
            if reset_sequence {
                match outcome.forgotten_sequence {
                    Some(sequence) => eprintln!(
                        "warning: forgot that sequence {sequence} of {origin} was applied: its next bundle is accepted whatever its sequence, so an older copy of its bundle could bring retracted rows back until then"
                    ),
                    None => eprintln!("nothing was applied from {origin}: no sequence to forget"),
                }
            }
        }
    }
    Ok(())
}

/// `wb sync peers list`: a table, or JSON (`docs/peers.md` documents the
/// shape).
fn print_origins(entries: &[OriginEntry], json: bool) -> Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if json {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name,
                    "kind": e.kind.map(|k| k.as_str()),
                    "url": e.url,
                    "key": e.pin.as_ref().map(|p| p.public_key.as_str()),
                    "pinned_at": e.pin.as_ref().map(|p| p.pinned_at.to_string()),
                    "pinned_by": e.pin.as_ref().map(|p| p.source.as_str()),
                    "last_sequence": e.applied.as_ref().map(|a| a.last_sequence),
                    "applied_at": e.applied.as_ref().map(|a| a.imported_at.to_string()),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut stdout, &items)?;
        writeln!(stdout)?;
        return Ok(());
    }
    if entries.is_empty() {
        writeln!(
            stdout,
            "no hubs, peers or pins: add one with `wb sync peers add NAME --url URL [--key PUBKEY]`"
        )?;
        return Ok(());
    }
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            let dash = || "-".to_owned();
            [
                escape_control(&e.name).into_owned(),
                e.kind.map_or_else(dash, |k| k.to_string()),
                e.url
                    .as_deref()
                    .map_or_else(dash, |url| escape_control(url).into_owned()),
                e.pin.as_ref().map_or_else(dash, |p| p.public_key.clone()),
                e.applied
                    .as_ref()
                    .map_or_else(dash, |a| a.last_sequence.to_string()),
                e.applied
                    .as_ref()
                    .map_or_else(dash, |a| a.imported_at.to_string()),
            ]
        })
        .collect();
    let header = ["NAME", "KIND", "URL", "KEY", "SEQUENCE", "APPLIED"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(stdout, "{}", line.join("  ").trim_end())?;
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
            source: wb_hub_client::archive::ArchiveError::TooManyEntries { .. },
            ..
        } => anyhow::anyhow!("{err} (raise it with --max-files)"),
        other => anyhow::anyhow!("{}", escape_control(&other.to_string())),
    }
}

/// What `wb sync push` was asked to do.
pub struct PushOptions {
    /// The hub: a URL or a name in `sync_peers.txt`.
    pub hub: String,
    /// Where the upload token is (else `WB_HUB_TOKEN`).
    pub token_file: Option<PathBuf>,
    /// Deadline and limits of the transfer.
    pub config: ClientConfig,
    /// Print the receipt as JSON.
    pub json: bool,
}

/// What `wb sync pull` was asked to do.
pub struct PullOptions {
    /// Only the peers of this hub (a URL or a name in `sync_peers.txt`).
    pub hub: Option<String>,
    /// Verify only; import nothing.
    pub no_import: bool,
    /// Deadline and limits of each transfer.
    pub config: ClientConfig,
    /// Print the outcome as JSON.
    pub json: bool,
}

pub async fn push(
    global: &Global,
    instance: &Instance,
    keys: &KeyStore,
    progress: &dyn Progress,
    options: PushOptions,
) -> Result<()> {
    let PushOptions {
        hub,
        token_file,
        config,
        json,
    } = options;
    let hub = hub.as_str();
    let registry = load_registry(global, instance).await?;
    let url = resolve_hub(&registry, hub)?;
    let token = read_token(token_file)?;
    let out = default_export_dir(&global.dir, instance.name());
    let summary = export_bundle(instance, keys, &out, progress).await?;
    if let Some(path) = &summary.key_created {
        eprintln!(
            "warning: created a new signing key for {} at {}; back it up and register its public key on the hub",
            instance.name(),
            path.display()
        );
    }
    let name = instance.name().to_string();
    let hub_url = url.clone();
    let push_cache = global.dir.join(PUSH_CACHE);
    let pushed = on_actix_thread(move || async move {
        let client = HubClient::new(&hub_url, config)?
            .with_progress(std::rc::Rc::new(crate::progress::TransferBar::default()));
        push_dir(&client, &name, &token, &out, &push_cache).await
    })
    .await?
    .map_err(describe)?;
    let receipt = &pushed.receipt;
    let size = pushed.bytes_sent;
    let transfer = transfer_name(pushed.transfer);
    if json {
        return crate::output::write_json(&serde_json::json!({
            "instance": receipt.instance,
            "sequence": receipt.sequence,
            "hub": url,
            "bytes": size,
            "transfer": transfer,
            "status": receipt.status,
        }));
    }
    let what = if receipt.status == "unchanged" {
        "already there, unchanged"
    } else {
        "published"
    };
    println!(
        "pushed {} sequence {} to {url} ({size} bytes, {transfer}): {what}",
        escape_control(&receipt.instance),
        receipt.sequence
    );
    Ok(())
}

/// How a bundle travelled, as `wb sync push|pull` print it.
fn transfer_name(transfer: Transfer) -> &'static str {
    match transfer {
        Transfer::Delta => "delta",
        Transfer::Full => "full",
        _ => "none",
    }
}

pub async fn pull(
    global: &Global,
    instance: &Instance,
    keys: &KeyStore,
    progress: &dyn Progress,
    options: PullOptions,
) -> Result<()> {
    let PullOptions {
        hub,
        no_import,
        config,
        json,
    } = options;
    let registry = load_registry(global, instance).await?;
    let only = hub.map(|h| resolve_hub(&registry, &h)).transpose()?;
    let mut targets = Vec::new();
    for peer in registry.peers().filter(|p| p.kind == PeerKind::Peer) {
        if only.as_ref().is_some_and(|h| *h != normalise(&peer.url)) {
            continue;
        }
        // The pin in the database is the key pulled bundles must carry.
        let origin = InstanceName::parse(&peer.name)?;
        match instance.store().pin(&origin).await? {
            Some(pin) => targets.push((peer.name.clone(), normalise(&peer.url), pin.public_key)),
            None => eprintln!(
                "warning: skipping {name}: no pinned key (pin it with `wb sync peers pin {name} --key PUBKEY`)",
                name = escape_control(&peer.name)
            ),
        }
    }
    if targets.is_empty() {
        bail!("no peer to pull: add one with `wb sync peers add NAME --url HUB-URL --key PUBKEY`");
    }
    let cache = global.dir.join(PULL_CACHE);
    let total = targets.len();
    let fetched = fetch_all(&targets, &cache, config.clone()).await?;
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for ((name, url, key), fetched) in targets.into_iter().zip(fetched) {
        let result = match fetched {
            Ok(pulled) => {
                import_one(
                    instance,
                    keys,
                    progress,
                    (&name, &url, &key),
                    pulled,
                    no_import,
                    &config,
                )
                .await
            }
            Err(err) => Err(describe(err)),
        };
        match result {
            Ok(pulled) => {
                if !json {
                    if let Some(line) = rotation_line(&name, &pulled) {
                        println!("{}", escape_control(&line));
                    }
                    println!("{}", escape_control(&pulled_line(&name, &pulled)));
                }
                reports.push(pulled_json(&name, &url, Ok(&pulled)));
            }
            Err(err) => {
                reports.push(pulled_json(&name, &url, Err(&err)));
                failures.push(err.context(escape_control(&name).into_owned()));
            }
        }
    }
    if json {
        crate::output::write_json(&serde_json::json!({
            "peers": reports,
            "failed": failures.len(),
        }))?;
    }
    match failures.len() {
        0 => Ok(()),
        // One peer: its error is the one line.
        1 if total == 1 => Err(failures.remove(0)),
        n => {
            for err in &failures {
                eprintln!("error: {}", error_line(err.chain()));
            }
            bail!("{n} of {total} peers could not be pulled; nothing was imported from them")
        }
    }
}

/// Fetches and verifies every peer `(name, hub URL, pinned key)`
/// concurrently, in memory, on one actix thread; one result per peer, in
/// order. Nothing but verified archives (the cache) is written.
async fn fetch_all(
    targets: &[(String, String, String)],
    cache: &Path,
    config: ClientConfig,
) -> Result<Vec<Result<Pulled, ClientError>>> {
    let targets = targets.to_vec();
    let cache = cache.to_owned();
    let bars = targets.len() == 1;
    Ok(on_actix_thread(move || async move {
        let pulls = targets.iter().map(|(name, url, key)| {
            let (config, cache) = (config.clone(), &cache);
            async move {
                let mut client = HubClient::new(url, config)?;
                // One bar for one peer; concurrent transfers would fight
                // over the terminal.
                if bars {
                    client = client
                        .with_progress(std::rc::Rc::new(crate::progress::TransferBar::default()));
                }
                pull_verified(&client, name, key, cache).await
            }
        });
        futures_util::future::join_all(pulls).await
    })
    .await?)
}

/// Imports one verified peer bundle, from memory, with the same key
/// required (unless `no_import`).
async fn import_one(
    instance: &Instance,
    keys: &KeyStore,
    progress: &dyn Progress,
    (name, url, key): (&str, &str, &str),
    pulled: Pulled,
    no_import: bool,
    config: &ClientConfig,
) -> Result<PeerPulled> {
    let sequence = pulled.bundle.manifest.sequence;
    let downloaded = pulled.downloaded;
    let transfer = pulled.transfer;
    let bytes = pulled.bytes_received;
    if no_import {
        return Ok(PeerPulled {
            sequence,
            downloaded,
            transfer,
            bytes,
            outcome: None,
        });
    }
    let options = ImportOptions {
        expected_key: Some(key.to_owned()),
        limits: config.limits.clone(),
        ..ImportOptions::default()
    };
    let files = pulled.files().map_err(describe)?;
    drop(pulled);
    let label = format!("{name} from {url}");
    let outcome = import_files(instance, keys, &label, files, &options, progress).await?;
    Ok(PeerPulled {
        sequence,
        downloaded,
        transfer,
        bytes,
        outcome: Some(outcome),
    })
}

/// What pulling one peer did.
struct PeerPulled {
    /// The sequence of its bundle on the hub.
    sequence: u64,
    /// Whether it was downloaded (false: the hub answered "unchanged").
    downloaded: bool,
    /// Whether nothing, a delta or the whole archive travelled.
    transfer: Transfer,
    /// Bytes received.
    bytes: u64,
    /// The import, unless `--no-import`.
    outcome: Option<ImportOutcome>,
}

/// The line of `wb sync pull` that says a peer's key rotation was followed
/// (its pin moved), if it was.
fn rotation_line(name: &str, pulled: &PeerPulled) -> Option<String> {
    match &pulled.outcome {
        Some(ImportOutcome::Applied {
            rotation: Some(rotation),
            ..
        }) => Some(format!(
            "{name}: followed its key rotation: the pin moved from {} to {}",
            rotation.from, rotation.to
        )),
        _ => None,
    }
}

/// One line of `wb sync pull` for a peer pulled.
fn pulled_line(name: &str, pulled: &PeerPulled) -> String {
    let sequence = pulled.sequence;
    let fetched = if pulled.downloaded {
        "downloaded"
    } else {
        "unchanged on the hub, not downloaded"
    };
    match &pulled.outcome {
        None => format!(
            "{name} sequence {sequence}: {fetched}, signature verified; not imported (--no-import)"
        ),
        Some(ImportOutcome::Applied { counts, .. }) => format!(
            "{name} sequence {sequence}: {fetched}, imported: {} added, {} updated, {} unchanged, {} retracted",
            counts.added, counts.updated, counts.unchanged, counts.retracted
        ),
        Some(ImportOutcome::AlreadyApplied { .. }) => {
            format!("{name} sequence {sequence}: {fetched}, already imported; nothing to do")
        }
    }
}

/// One peer's entry of `wb sync pull --json` (docs/hub.md).
fn pulled_json(
    name: &str,
    hub: &str,
    pulled: Result<&PeerPulled, &anyhow::Error>,
) -> serde_json::Value {
    let mut entry = serde_json::json!({
        "name": name, "hub": hub, "result": null, "sequence": null,
        "downloaded": null, "transfer": null, "bytes": null, "counts": null, "error": null,
    });
    match pulled {
        Ok(pulled) => {
            entry["sequence"] = serde_json::json!(pulled.sequence);
            entry["downloaded"] = serde_json::json!(pulled.downloaded);
            entry["transfer"] = serde_json::json!(transfer_name(pulled.transfer));
            entry["bytes"] = serde_json::json!(pulled.bytes);
            entry["result"] = serde_json::json!(match &pulled.outcome {
                None => "verified",
                Some(ImportOutcome::Applied { .. }) => "imported",
                Some(ImportOutcome::AlreadyApplied { .. }) => "already-imported",
            });
            if let Some(ImportOutcome::Applied { counts, .. }) = &pulled.outcome {
                entry["counts"] = serde_json::json!({
                    "added": counts.added,
                    "updated": counts.updated,
                    "unchanged": counts.unchanged,
                    "retracted": counts.retracted,
                });
            }
        }
        Err(err) => {
            let code = crate::output::refusal_code(err).unwrap_or("error");
            entry["result"] = serde_json::json!("failed");
            entry["error"] = serde_json::json!({"code": code, "message": error_line(err.chain())});
        }
    }
    entry
}
