//! `wb-hub`: serve the hub API, and the operator's admin commands.
//!
//! Glue only: parse arguments, open the database, call the library, print
//! one line per outcome, and turn errors into one line and a non-zero exit.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use wb_hub::server::HubConfig;
use wb_store::hub::HubStore;

/// wb-hub — relay signed wb sync bundles between instances.
#[derive(Debug, Parser)]
#[command(
    name = "wb-hub",
    version,
    about,
    after_help = "\
Examples:
  wb-hub instance add alpha.example --key RWQ…
  wb-hub instance rekey alpha.example --key RWQ…   (revoke a compromised key)
  wb-hub token issue alpha.example          (prints the token once)
  wb-hub serve --bind 127.0.0.1:8440
  wb-hub gc                                 (remove files no kept bundle names)
  WB_HUB_DATABASE_URL=postgres://hub@db/hub wb-hub serve --bind 0.0.0.0:8440"
)]
struct Cli {
    /// The hub database: sqlite://PATH (created if missing) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "WB_HUB_DATABASE_URL",
        value_name = "URL",
        default_value = "sqlite://hub.db",
        hide_env_values = true
    )]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the hub API (/v2/...) and print the bound address.
    #[command(after_help = "\
Examples:
  wb-hub serve                                   (127.0.0.1:8440, ./hub.db)
  wb-hub serve --bind 127.0.0.1:0                (any free port)
  wb-hub serve --max-bundle-bytes 268435456 --body-timeout 60
  wb-hub serve --manifest-cache-mib 256            (many large instances)

Put it behind a TLS-terminating proxy for use across the internet (docs/hub.md).")]
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8440")]
        bind: SocketAddr,
        /// Largest accepted upload, in bytes.
        #[arg(long, value_name = "N", default_value_t = 64 * 1024 * 1024)]
        max_bundle_bytes: u64,
        /// Seconds allowed for receiving one upload body.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        body_timeout: u64,
        /// MiB of recently used manifests kept in memory, so that deltas
        /// need not read and parse them (0: none).
        #[arg(long, value_name = "MIB", default_value_t = 64)]
        manifest_cache_mib: usize,
    },
    /// Register instances, list them, replace a registered key.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wb-hub instance add alpha.example --key RWQ…
  wb-hub instance list --json
  wb-hub instance rekey alpha.example --key RWR…"
    )]
    Instance(InstanceCommand),
    /// Issue and revoke upload tokens.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wb-hub token issue alpha.example > alpha.token   (the secret is shown once)
  wb-hub token revoke 0a1b2c3d4e5f"
    )]
    Token(TokenCommand),
    /// Remove stored files that no kept bundle names any more.
    #[command(after_help = "\
Examples:
  wb-hub gc
  WB_HUB_DATABASE_URL=postgres://hub@db/hub wb-hub gc   (from cron, e.g. daily)

The hub keeps each instance's latest four manifests and every file they
name; files only older bundles named stay until this runs. Safe while the
hub serves: publishing waits for it, and it for publishing (docs/hub.md).")]
    Gc,
}

#[derive(Debug, Subcommand)]
enum InstanceCommand {
    /// Register an instance with its public key (from `wb sync keygen` on that instance).
    #[command(
        after_help = "Example:\n  wb-hub instance add alpha.example --key RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
    )]
    Add {
        /// The instance's name.
        name: String,
        /// Its public key, minisign one-line form (RWQ…).
        #[arg(long, value_name = "PUBKEY")]
        key: String,
    },
    /// Replace an instance's registered key by hand (revoke a compromised or lost key).
    #[command(after_help = "\
Example:
  wb-hub instance rekey alpha.example --key RWQ…

Uploads are then accepted only under the new key (or a key that a rotation
chain signed by it leads to). Key rotations made with `wb sync keygen --rotate`
need no rekey: the hub follows them (docs/hub.md).")]
    Rekey {
        /// The instance's name.
        name: String,
        /// Its new public key, minisign one-line form (RWQ…).
        #[arg(long, value_name = "PUBKEY")]
        key: String,
    },
    /// List registered instances and their latest bundles.
    #[command(after_help = "\
Examples:
  wb-hub instance list
  wb-hub instance list --json   (an array of {name, public_key, registered_at, bundle})")]
    List {
        /// Print JSON: an array of objects with name, public_key, registered_at, and bundle
        /// (null, or sequence, manifest_sha256, size, etag, published_at).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue an upload token for an instance; the token is printed once and stored hashed.
    #[command(after_help = "\
Example:
  wb-hub token issue alpha.example > alpha.token
  (on alpha: WB_HUB_TOKEN=$(cat alpha.token) wb sync push --hub https://hub.example)")]
    Issue {
        /// The instance the token publishes for.
        instance: String,
    },
    /// Revoke a token by its id (the part after wbt_ and before the next _).
    #[command(after_help = "Example:\n  wb-hub token revoke 3f9a0c1d2e4b")]
    Revoke {
        /// The token id (or the whole token).
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colour only on a terminal, and never under NO_COLOR (no-color.org):
    // logs redirected to a file carry no escape codes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WB_HUB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match actix_rt::System::new().block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Causes may quote input (archive entry names, file contents).
            eprintln!("error: {}", wb_model::text::error_line(err.chain()));
            ExitCode::FAILURE
        }
    }
}

/// Opens the hub database. Only `serve` and `instance add` create a
/// missing SQLite file, and say so: a command run in the wrong directory
/// must not leave an empty `hub.db` behind and report an empty hub.
async fn open(url: &str, create: bool) -> Result<HubStore> {
    let sqlite_path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .map(std::path::PathBuf::from);
    let missing = sqlite_path.as_ref().filter(|path| !path.exists());
    if let Some(path) = missing
        && !create
    {
        anyhow::bail!(
            "no hub database at {} (from --database-url {url}); run this where the hub's \
             database is, or pass --database-url (`wb-hub serve` and `wb-hub instance add` \
             create one)",
            path.display()
        );
    }
    let store = HubStore::connect(url, create).await?;
    store.migrate().await?;
    if let Some(path) = missing {
        eprintln!("created hub database {}", path.display());
    }
    Ok(store)
}

async fn run(cli: Cli) -> Result<()> {
    let creates = matches!(
        cli.command,
        Command::Serve { .. } | Command::Instance(InstanceCommand::Add { .. })
    );
    let store = open(&cli.database_url, creates).await?;
    match cli.command {
        Command::Serve {
            bind,
            max_bundle_bytes,
            body_timeout,
            manifest_cache_mib,
        } => {
            let config = HubConfig::default()
                .with_max_bundle_bytes(max_bundle_bytes)
                .with_body_timeout(Duration::from_secs(body_timeout))
                .with_manifest_cache_bytes(manifest_cache_mib.saturating_mul(1024 * 1024));
            let hub = wb_hub::server::bind(store.clone(), config, bind)
                .with_context(|| format!("cannot listen on {bind}"))?;
            println!("wb-hub listening on http://{}", hub.addr);
            hub.server.await.context("the server stopped")?;
        }
        Command::Instance(InstanceCommand::Add { name, key }) => {
            let instance = wb_hub::admin::add_instance(&store, &name, &key).await?;
            println!(
                "registered {} with key {}",
                instance.name, instance.public_key
            );
        }
        Command::Instance(InstanceCommand::Rekey { name, key }) => {
            let instance = wb_hub::admin::rekey_instance(&store, &name, &key).await?;
            println!(
                "registered key of {} is now {}",
                instance.name, instance.public_key
            );
        }
        Command::Instance(InstanceCommand::List { json: true }) => {
            let items: Vec<serde_json::Value> = store
                .listing()
                .await?
                .into_iter()
                .map(|entry| {
                    serde_json::json!({
                        "name": entry.instance.name.as_str(),
                        "public_key": entry.instance.public_key,
                        "registered_at": entry.instance.registered_at.to_string(),
                        "bundle": entry.bundle.map(|b| serde_json::json!({
                            "sequence": b.sequence,
                            "manifest_sha256": b.manifest_sha256,
                            "size": b.size,
                            "etag": b.etag,
                            "published_at": b.published_at.to_string(),
                        })),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        Command::Instance(InstanceCommand::List { json: false }) => {
            for entry in store.listing().await? {
                match entry.bundle {
                    Some(b) => println!(
                        "{}\tsequence {}\t{} bytes\tpublished {}",
                        entry.instance.name, b.sequence, b.size, b.published_at
                    ),
                    None => println!("{}\tno bundle yet", entry.instance.name),
                }
            }
        }
        Command::Token(TokenCommand::Issue { instance }) => {
            let token = wb_hub::admin::issue_token(&store, &instance).await?;
            eprintln!(
                "issued token {} for {instance}; it is shown once, store it safely",
                token.id()
            );
            println!("{}", token.reveal());
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            let id = wb_hub::admin::revoke_token(&store, &id).await?;
            println!("revoked token {id}");
        }
        Command::Gc => {
            let report = store.collect_garbage().await?;
            println!(
                "removed {} files ({} bytes) that no kept bundle names; kept {} files",
                report.removed_files, report.removed_bytes, report.kept_files
            );
        }
    }
    store.close().await;
    Ok(())
}
