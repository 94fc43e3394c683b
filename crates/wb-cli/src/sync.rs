//! `wb sync …`: keys, export and import.

use anyhow::{Result, bail};
use wb_crypto::KeyStore;
use wb_engine::Instance;
use wb_engine::sync::{ImportOptions, ImportOutcome, export_bundle, import_bundle, key_dir};
use wb_model::InstanceName;

use crate::cli::{Global, SyncCommand};
use crate::progress::TerminalProgress;

pub async fn run(global: &Global, instance: &Instance, command: SyncCommand) -> Result<()> {
    let keys = KeyStore::new(key_dir(&global.dir));
    let progress = TerminalProgress::default();
    match command {
        SyncCommand::Vouch { actor } => {
            let stdin = std::io::stdin();
            let mut answers = stdin.lock();
            crate::vouch::run(instance, &keys, actor, &mut answers, &mut std::io::stderr()).await?;
        }
        SyncCommand::Keygen => {
            let name = instance.name().as_str();
            let path = keys.secret_key_path(name)?;
            if path.exists() {
                bail!(
                    "{name} already has a signing key at {}; its public key is {}",
                    path.display(),
                    keys.load_public(name)?
                );
            }
            let key = keys.generate(name)?;
            eprintln!(
                "created signing key {} (public key file {})",
                path.display(),
                keys.public_key_path(name)?.display()
            );
            println!("{}", key.public_key());
        }
        SyncCommand::Export {
            out,
            instance: origin,
        } => {
            let origin = origin.map(|name| InstanceName::parse(&name)).transpose()?;
            let out = global.dir.join(out);
            let summary = export_bundle(instance, &keys, &out, origin.as_ref(), &progress).await?;
            if let Some(path) = &summary.key_created {
                eprintln!(
                    "warning: created a new signing key for {} at {}; back it up — peers pin its public key",
                    instance.name(),
                    path.display()
                );
            }
            let what = if summary.changed {
                format!("sequence {}", summary.sequence)
            } else {
                format!("unchanged, still sequence {}", summary.sequence)
            };
            println!(
                "exported {} files of {} to {} ({what}): {} rendered, {} written, {} removed",
                summary.files,
                summary.origin,
                out.display(),
                summary.rendered,
                summary.written,
                summary.removed
            );
        }
        SyncCommand::Import {
            bundle,
            key,
            accept_new_keys,
        } => {
            let dir = global.dir.join(bundle);
            let options = ImportOptions {
                expected_key: key,
                accept_new_keys,
                ..ImportOptions::default()
            };
            match import_bundle(instance, &keys, &dir, &options, &progress).await? {
                ImportOutcome::Applied {
                    origin,
                    sequence,
                    counts,
                    pinned_key,
                    key_created,
                } => {
                    if let Some(path) = key_created {
                        eprintln!(
                            "warning: created a new signing key for {} at {}; back it up",
                            instance.name(),
                            path.display()
                        );
                    }
                    if let Some(key) = pinned_key {
                        println!("pinned key {key} for {origin}");
                    }
                    println!(
                        "imported {origin} sequence {sequence}: {} added, {} updated, {} unchanged, {} retracted",
                        counts.added, counts.updated, counts.unchanged, counts.retracted
                    );
                }
                ImportOutcome::AlreadyApplied { origin, sequence } => {
                    println!("{origin} sequence {sequence} is already imported; nothing to do");
                }
            }
        }
        SyncCommand::Push { hub, token_file } => {
            crate::hub_client::push(global, instance, &keys, &progress, &hub, token_file).await?;
        }
        SyncCommand::Pull { hub, no_import } => {
            crate::hub_client::pull(global, instance, &keys, &progress, hub, no_import).await?;
        }
        SyncCommand::Peers(command) => crate::hub_client::peers(global, command)?,
    }
    Ok(())
}
