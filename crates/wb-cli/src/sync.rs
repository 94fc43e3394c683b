//! `wb sync …`: keys, export and import.

use std::time::Duration;

use anyhow::{Result, bail};
use wb_crypto::KeyStore;
use wb_engine::Instance;
use wb_engine::sync::{
    BundleLocation, ImportOptions, ImportOutcome, SetResult, default_export_dir, export_bundle,
    import_bundle, import_bundle_set, key_dir, locate_bundles, relay_bundle,
};
use wb_engine::sync_runs::SyncRunKind;
use wb_hub_client::client::ClientConfig;
use wb_model::InstanceName;
use wb_syncfmt::bundle::Limits;

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
        SyncCommand::Keygen { rotate: true } => {
            let name = instance.name().as_str();
            let path = keys.secret_key_path(name)?;
            if !path.exists() {
                bail!(
                    "{name} has no signing key at {} yet, so there is nothing to rotate; create \
                     one with `wb sync keygen`",
                    path.display()
                );
            }
            let rotation = keys.rotate(name)?;
            eprintln!(
                "rotated the signing key of {name}: key {} replaces key {} (kept at {}); \
                 the rotation statement is in {} and goes with every bundle from the next \
                 export on",
                rotation.new.key_id(),
                rotation.old.key_id(),
                rotation.retired_key.display(),
                keys.rotations_path(name)?.display()
            );
            println!("{}", rotation.new.public_key());
        }
        SyncCommand::Keygen { rotate: false } => {
            let name = instance.name().as_str();
            let path = keys.secret_key_path(name)?;
            if path.exists() {
                // Printing the key for peers is what keygen is for, so an
                // existing key is printed, not an error, and never replaced.
                eprintln!(
                    "{name} already has a signing key at {} (to replace it: wb sync keygen --rotate)",
                    path.display()
                );
                println!("{}", keys.load_public(name)?);
                return Ok(());
            }
            let key = keys.generate(name)?;
            eprintln!(
                "created signing key {} (public key file {}); back it up — peers pin its public key",
                path.display(),
                keys.public_key_path(name)?.display()
            );
            println!("{}", key.public_key());
        }
        SyncCommand::Export {
            out,
            instance: origin,
            json,
        } => {
            let origin = origin.map(|name| InstanceName::parse(&name)).transpose()?;
            if origin.is_some() {
                // A relay follows the pins: adopt the registry's Key lines.
                crate::hub_client::load_registry(global, instance).await?;
            }
            let out = match out {
                Some(out) => global.dir.join(out),
                None => default_export_dir(&global.dir, instance.name()),
            };
            let summary = match &origin {
                Some(other) if other != instance.name() => {
                    relay_bundle(instance, other, &out, &progress).await?
                }
                _ => export_bundle(instance, &keys, &out, &progress).await?,
            };
            if let Some(path) = &summary.key_created {
                eprintln!(
                    "warning: created a new signing key for {} at {}; back it up — peers pin its public key",
                    instance.name(),
                    path.display()
                );
            }
            if json {
                print_json(&serde_json::json!({
                    "origin": summary.origin.as_str(),
                    "out": out.display().to_string(),
                    "sequence": summary.sequence,
                    "changed": summary.changed,
                    "files": summary.files,
                    "rendered": summary.rendered,
                    "written": summary.written,
                    "removed": summary.removed,
                    "strategy": summary.strategy.as_str(),
                }))?;
                return Ok(());
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
            json,
        } => {
            // Key lines of the registry are pins too: adopt them first.
            crate::hub_client::load_registry(global, instance).await?;
            let dir = global.dir.join(&bundle);
            let options = ImportOptions {
                expected_key: key.map(|k| k.trim().to_owned()),
                accept_new_keys,
                ..ImportOptions::default()
            };
            match locate_bundles(&dir)? {
                BundleLocation::Set { bundles, others } => {
                    // Named as the operator named it (no `./` in front).
                    let shown = if global.dir == std::path::Path::new(".") {
                        bundle.as_path()
                    } else {
                        dir.as_path()
                    };
                    import_set(
                        instance, &keys, shown, &bundles, &others, &options, &progress, json,
                    )
                    .await?;
                }
                BundleLocation::One(dir) => {
                    let result = import_bundle(instance, &keys, &dir, &options, &progress).await;
                    if json {
                        let result = match result {
                            Ok(outcome) => SetResult::Imported(outcome),
                            Err(err) => SetResult::Refused(err),
                        };
                        let entry = set_entry_json(&dir, &result);
                        print_json(&serde_json::json!({
                            "bundles": [entry],
                            "applied": u8::from(matches!(result, SetResult::Imported(ImportOutcome::Applied { .. }))),
                            "already_imported": u8::from(matches!(result, SetResult::Imported(ImportOutcome::AlreadyApplied { .. }))),
                            "skipped": 0,
                            "refused": u8::from(matches!(result, SetResult::Refused(_))),
                        }))?;
                        if let SetResult::Refused(err) = result {
                            return Err(err.into());
                        }
                        return Ok(());
                    }
                    let outcome = result?;
                    if let ImportOutcome::Applied {
                        key_created: Some(path),
                        ..
                    } = &outcome
                    {
                        eprintln!(
                            "warning: created a new signing key for {} at {}; back it up",
                            instance.name(),
                            path.display()
                        );
                    }
                    let (pinned, line) = outcome_lines(&outcome);
                    if let Some(pinned) = pinned {
                        println!("{pinned}");
                    }
                    println!("{line}");
                }
                other => bail!("{}: cannot import {other:?}", dir.display()),
            }
        }
        SyncCommand::Push {
            hub,
            token_file,
            timeout,
            json,
        } => {
            let config = ClientConfig::default().with_timeout(Duration::from_secs(timeout));
            let options = crate::hub_client::PushOptions {
                hub,
                token_file,
                config,
                json,
            };
            let result = crate::hub_client::push(global, instance, &keys, &progress, options).await;
            record_run(instance, SyncRunKind::Push, &result).await;
            result?;
        }
        SyncCommand::Pull {
            hub,
            no_import,
            timeout,
            max_bytes,
            max_files,
            json,
        } => {
            let mut limits = Limits::default();
            limits.max_files = max_files;
            let config = ClientConfig::default()
                .with_timeout(Duration::from_secs(timeout))
                .with_max_download_bytes(max_bytes)
                .with_limits(limits);
            let options = crate::hub_client::PullOptions {
                hub,
                no_import,
                config,
                json,
            };
            let result = crate::hub_client::pull(global, instance, &keys, &progress, options).await;
            record_run(instance, SyncRunKind::Pull, &result).await;
            result?;
        }
        SyncCommand::Peers(command) => crate::hub_client::peers(global, instance, command).await?,
    }
    Ok(())
}

/// What an import did: the pinned-key note (when it pinned one) and the
/// counts.
fn outcome_lines(outcome: &ImportOutcome) -> (Option<String>, String) {
    match outcome {
        ImportOutcome::Applied {
            origin,
            sequence,
            counts,
            pinned_key,
            rotation,
            ..
        } => (
            pinned_key
                .as_ref()
                .map(|key| format!("pinned key {key} for {origin}"))
                .or_else(|| {
                    rotation.as_ref().map(|r| {
                        format!(
                            "followed the key rotation of {origin}: its pin moved from {} to {}",
                            r.from, r.to
                        )
                    })
                }),
            format!(
                "imported {origin} sequence {sequence}: {} added, {} updated, {} unchanged, {} retracted",
                counts.added, counts.updated, counts.unchanged, counts.retracted
            ),
        ),
        ImportOutcome::AlreadyApplied { origin, sequence } => (
            None,
            format!("{origin} sequence {sequence} is already imported; nothing to do"),
        ),
    }
}

/// Pretty JSON on stdout, with DEL, C1 and bidi controls escaped as
/// everywhere `wb` prints JSON.
fn print_json(value: &serde_json::Value) -> Result<()> {
    crate::output::write_json(value)
}

/// One bundle's entry of `wb sync import --json`.
fn set_entry_json(dir: &std::path::Path, result: &SetResult) -> serde_json::Value {
    let mut entry = serde_json::json!({
        "dir": dir.display().to_string(),
        "origin": null,
        "result": null,
        "sequence": null,
        "counts": null,
        "pinned_key": null,
        "refusal": null,
    });
    let (origin, kind, sequence) = match result {
        SetResult::Imported(ImportOutcome::Applied {
            origin,
            sequence,
            counts,
            pinned_key,
            ..
        }) => {
            entry["counts"] = serde_json::json!({
                "added": counts.added,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "retracted": counts.retracted,
            });
            entry["pinned_key"] = serde_json::json!(pinned_key);
            (Some(origin.as_str()), "applied", Some(*sequence))
        }
        SetResult::Imported(ImportOutcome::AlreadyApplied { origin, sequence }) => {
            (Some(origin.as_str()), "already-imported", Some(*sequence))
        }
        SetResult::Own => (None, "own", None),
        SetResult::NotABundle => (None, "not-a-bundle", None),
        SetResult::Refused(err) => {
            let code = match err {
                wb_engine::EngineError::Refused { refusal, .. } => refusal.code(),
                _ => "error",
            };
            entry["refusal"] = serde_json::json!({"code": code, "message": err.to_string()});
            (None, "refused", None)
        }
    };
    entry["origin"] = serde_json::json!(origin);
    entry["result"] = serde_json::json!(kind);
    entry["sequence"] = serde_json::json!(sequence);
    entry
}

/// `wb sync import DIR` on a directory of bundles: one line per folder, a
/// summary, and an error (non-zero exit) when any bundle was refused.
#[expect(
    clippy::too_many_arguments,
    reason = "glue between the command line and the engine"
)]
async fn import_set(
    instance: &Instance,
    keys: &KeyStore,
    dir: &std::path::Path,
    bundles: &[std::path::PathBuf],
    others: &[std::path::PathBuf],
    options: &ImportOptions,
    progress: &TerminalProgress,
    json: bool,
) -> Result<()> {
    let report = import_bundle_set(instance, keys, bundles, others, options, progress).await?;
    if json {
        let entries: Vec<serde_json::Value> = report
            .entries
            .iter()
            .map(|e| set_entry_json(&e.dir, &e.result))
            .collect();
        print_json(&serde_json::json!({
            "bundles": entries,
            "applied": report.applied(),
            "already_imported": report.already_applied(),
            "skipped": report.skipped(),
            "refused": report.refused(),
        }))?;
        if report.refused() > 0 {
            bail!(
                "{} of the bundles in {} refused (nothing of them applied); the others stay imported",
                report.refused(),
                dir.display()
            );
        }
        return Ok(());
    }
    let mut key_created = None;
    for entry in &report.entries {
        let folder = entry.dir.file_name().map_or_else(
            || entry.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let line = match &entry.result {
            SetResult::Imported(outcome) => {
                if let ImportOutcome::Applied {
                    key_created: Some(path),
                    ..
                } = outcome
                {
                    key_created = Some(path.clone());
                }
                match outcome_lines(outcome) {
                    (Some(pinned), line) => format!("{line}; {pinned}"),
                    (None, line) => line,
                }
            }
            SetResult::Own => format!("skipped: {}'s own bundle", instance.name()),
            SetResult::NotABundle => "skipped: not a bundle (no manifest.sync.txt)".to_owned(),
            SetResult::Refused(e) => match e {
                wb_engine::EngineError::Refused { refusal, .. } => {
                    format!("refused: {e} [{}]", refusal.code())
                }
                _ => format!("refused: {e}"),
            },
        };
        // Folder names and refusals come from the bundles' directory.
        println!(
            "{}",
            wb_model::text::escape_control(&format!("{folder}/: {line}"))
        );
    }
    if let Some(path) = key_created {
        eprintln!(
            "warning: created a new signing key for {} at {}; back it up",
            instance.name(),
            path.display()
        );
    }
    println!(
        "{}: {} bundles: {} imported, {} already imported, {} skipped, {} refused",
        dir.display(),
        report.entries.len(),
        report.applied(),
        report.already_applied(),
        report.skipped(),
        report.refused()
    );
    if report.refused() > 0 {
        bail!(
            "{} of the bundles in {} refused (nothing of them applied); the others stay imported",
            report.refused(),
            dir.display()
        );
    }
    Ok(())
}

/// Records how a push or pull went, for the admin UI's status page; not
/// being able to record it is a warning, not the command's failure.
async fn record_run(instance: &Instance, kind: SyncRunKind, result: &anyhow::Result<()>) {
    let outcome = match result {
        Ok(()) => Ok(()),
        // One line, deduplicated and escaped like every printed error: the
        // status page shows it, and hub messages are outside text.
        Err(err) => Err(wb_model::text::error_line(err.chain())),
    };
    if let Err(err) = instance.record_sync_run(kind, outcome).await {
        let what = if kind == SyncRunKind::Push {
            "push"
        } else {
            "pull"
        };
        eprintln!("warning: cannot record the outcome of this {what}: {err}");
    }
}
