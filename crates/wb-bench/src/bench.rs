//! The scenarios of issue 7, each run `runs` times interleaved with its
//! baseline (A B A B …), because the disks of these machines are noisy:
//! interleaving spreads the noise over both sides of a ratio.
//!
//! Set-up (untimed): a source instance `bench-source` with the synthetic
//! rows, its bundle exported once into `<work>/bundle`, an empty migrated
//! target instance `bench-target` as a template, and the SQL script of the
//! rows an import stores. Each timed step starts from the same state on both
//! sides: an empty directory or an empty database.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use wb_crypto::KeyStore;
use wb_engine::Instance;
use wb_engine::sync::{
    ExportStrategy, ImportOptions, ImportOutcome, NoProgress, export_bundle, import_bundle,
    instance_key,
};
use wb_hub::client::Transfer;
use wb_model::{InstanceName, SyncScope, Timestamp};
use wb_store::Store;

use crate::baseline::{BundleBytes, LoopbackServer, curl_put_get, sql_script};
use crate::db::{Backend, Database};
use crate::hub::HubProcess;
use crate::report::{Report, Scenario};
use crate::rss::{ChildWork, measure};
use crate::synth::{Mix, generate};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Rows of the synthetic instance.
    pub rows: usize,
    /// Parent of the work directory (default: the system's temp dir).
    pub dir: Option<PathBuf>,
    /// Runs per scenario and baseline.
    pub runs: usize,
    /// Postgres URL; SQLite when `None`.
    pub database_url: Option<String>,
    /// Leave out the hub scenarios.
    pub skip_hub: bool,
    /// Run only the hub scenarios.
    pub hub_only: bool,
    /// Keep the work directory (to profile `__child` runs in it).
    pub keep: bool,
}

/// Says what the bench is doing, on stderr.
fn note(message: impl AsRef<str>) {
    eprintln!("wb-bench: {}", message.as_ref());
}

/// Removes a directory if it exists.
fn clear(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Drops the page cache's dirty data of earlier steps so one run's
/// write-back does not land in the next one's timing.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

struct Bench {
    config: Config,
    work: PathBuf,
    source: Instance,
    source_db: Database,
    source_keys: KeyStore,
    public_key: String,
    target_name: InstanceName,
    target_keys: KeyStore,
    template: Database,
    bundle: PathBuf,
    counter: usize,
}

/// Runs every scenario and returns the report.
pub async fn run(config: Config) -> Result<Report> {
    let mix = Mix::of(config.rows)?;
    let parent = config.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let work_dir = tempfile::Builder::new()
        .prefix("wb-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a work directory in {}", parent.display()))?;
    let backend = Backend::from_url(config.database_url.as_deref()).await?;
    let keep = config.keep;
    let result = run_in(config, mix, work_dir.path(), &backend).await;
    if keep {
        note(format!("kept {}", work_dir.keep().display()));
    } else {
        backend.cleanup().await;
    }
    result
}

async fn run_in(config: Config, mix: Mix, work: &Path, backend: &Backend) -> Result<Report> {
    let mut bench = Bench::set_up(config, mix, work, backend).await?;
    let result = bench.scenarios(backend).await;
    bench.source.store().close().await;
    result
}

impl Bench {
    async fn set_up(config: Config, mix: Mix, work: &Path, backend: &Backend) -> Result<Self> {
        note(format!(
            "{} rows: {} users, {} requests, {} comments, {} invites, {} vouches; {} in {}",
            mix.total(),
            mix.users,
            mix.requests,
            mix.comments,
            mix.invites,
            mix.vouches,
            backend.label(),
            work.display()
        ));
        let source_name = InstanceName::parse("bench-source")?;
        let target_name = InstanceName::parse("bench-target")?;
        let source_db = backend.fresh(work, "source").await?;
        let store = Store::connect(&source_db.url, true).await?;
        let source = Instance::init(store, source_name.clone()).await?;
        let source_keys = KeyStore::new(work.join("source-keys"));
        let (key, _) = instance_key(&source_keys, &source_name)?;
        let public_key = key.public_key().to_minisign_base64();

        let started = Instant::now();
        let batch = generate(&source_name, &key, mix)?;
        source.store().insert_batch(&batch).await?;
        note(format!(
            "generated and inserted in {:.2} s",
            started.elapsed().as_secs_f64()
        ));

        let template = backend.fresh(work, "template").await?;
        let store = Store::connect(&template.url, true).await?;
        Instance::init(store.clone(), target_name.clone()).await?;
        store.close().await;
        let target_keys = KeyStore::new(work.join("target-keys"));
        instance_key(&target_keys, &target_name)?;

        let bundle = work.join("bundle");
        let summary = export_bundle(&source, &source_keys, &bundle, &NoProgress).await?;
        note(format!("bundle: {} files", summary.files));
        Ok(Self {
            config,
            work: work.to_owned(),
            source,
            source_db,
            source_keys,
            public_key,
            target_name,
            target_keys,
            template,
            bundle,
            counter: 0,
        })
    }

    /// A fresh empty target database with a unique name.
    async fn empty_target(&mut self, backend: &Backend, label: &str) -> Result<Database> {
        self.counter += 1;
        let name = format!("{label}-{}", self.counter);
        backend
            .copy_of(&self.template, &self.work, &name, &self.target_name)
            .await
    }

    async fn open(db: &Database) -> Result<Instance> {
        let store = Store::connect(&db.url, false).await?;
        Ok(Instance::open(store).await?)
    }

    /// Imports the bundle into `db`; returns the time and the outcome.
    async fn timed_import(&self, db: &Database) -> Result<(Duration, ImportOutcome)> {
        let target = Self::open(db).await?;
        settle();
        let started = Instant::now();
        let outcome = import_bundle(
            &target,
            &self.target_keys,
            &self.bundle,
            &ImportOptions {
                accept_new_keys: true,
                ..ImportOptions::default()
            },
            &NoProgress,
        )
        .await?;
        let elapsed = started.elapsed();
        target.store().close().await;
        Ok((elapsed, outcome))
    }

    async fn timed_export(&self, out: &Path) -> Result<Duration> {
        settle();
        let started = Instant::now();
        let summary = export_bundle(&self.source, &self.source_keys, out, &NoProgress).await?;
        let elapsed = started.elapsed();
        ensure!(
            summary.strategy == ExportStrategy::Fresh,
            "the full export ran the {} strategy, not the fresh one",
            summary.strategy
        );
        Ok(elapsed)
    }

    async fn scenarios(&mut self, backend: &Backend) -> Result<Report> {
        let runs = self.config.runs.max(1);
        let bytes = BundleBytes::read(&self.bundle)?;
        let exported_files = bytes.files.len().saturating_sub(2);
        let mut scenarios = Vec::new();
        if !self.config.hub_only {
            self.local_scenarios(backend, &bytes, &mut scenarios)
                .await?;
        }
        if self.config.skip_hub {
            note("hub scenarios skipped (--skip-hub)");
        } else {
            note("hub_push_pull");
            let bundle_bytes = bytes.total_bytes() as u64;
            scenarios.push(self.hub_push_pull(backend, bundle_bytes).await?);
            note("hub_delta");
            scenarios.push(self.hub_delta(backend, bundle_bytes).await?);
        }

        Ok(Report {
            rows: self.config.rows,
            exported_files,
            bundle_bytes: bytes.total_bytes(),
            backend: backend.label(),
            dir: self.work.display().to_string(),
            runs,
            scenarios,
        })
    }

    /// export_full, import_full, reimport_unchanged, export_incremental.
    async fn local_scenarios(
        &mut self,
        backend: &Backend,
        bytes: &BundleBytes,
        scenarios: &mut Vec<Scenario>,
    ) -> Result<()> {
        let runs = self.config.runs.max(1);
        // export_full vs the I/O floor.
        note("export_full");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let out = self.work.join("export-full");
            clear(&out)?;
            a.push(self.timed_export(&out).await?);
            let floor = self.work.join("floor");
            clear(&floor)?;
            settle();
            let started = Instant::now();
            bytes.write_into(&floor)?;
            b.push(started.elapsed());
            clear(&floor)?;
        }
        let mut export_full = Scenario::new(
            "export_full",
            &a,
            "write same bytes from memory",
            &b,
            Some(1.5),
        );
        let out = self.work.join("rss-export");
        clear(&out)?;
        export_full.peak_rss_bytes = Some(measure(
            ChildWork::Export,
            &self.source_db.url,
            self.source_keys.dir(),
            &out,
        )?);
        clear(&out)?;
        scenarios.push(export_full);

        // import_full vs sqlite3 (psql) loading the same rows.
        note("import_full");
        let first = self.empty_target(backend, "script").await?;
        let (_, outcome) = self.timed_import(&first).await?;
        ensure!(
            matches!(outcome, ImportOutcome::Applied { .. }),
            "the first import did not apply"
        );
        let store = Store::connect(&first.url, false).await?;
        let state = store
            .origin_state(self.source.name())
            .await?
            .context("no origin state after the import")?;
        let pragmas = match backend {
            Backend::Sqlite => "PRAGMA foreign_keys=ON;\nPRAGMA synchronous=FULL;\n",
            Backend::Postgres { .. } => "",
        };
        let script_text = sql_script(&store, &state, pragmas).await?;
        store.close().await;
        backend.remove(&first).await?;
        let script = self.work.join("load.sql");
        std::fs::write(&script, &script_text)?;
        let tool = match backend {
            Backend::Sqlite => "sqlite3",
            Backend::Postgres { .. } => "psql",
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut last: Option<Database> = None;
        for _ in 0..runs {
            let db = self.empty_target(backend, "import").await?;
            let (elapsed, _) = self.timed_import(&db).await?;
            a.push(elapsed);
            if let Some(old) = last.replace(db) {
                backend.remove(&old).await?;
            }
            let db = self.empty_target(backend, "load").await?;
            settle();
            let started = Instant::now();
            backend.load_script(&db, &script)?;
            b.push(started.elapsed());
            backend.remove(&db).await?;
        }
        let mut import_full = Scenario::new(
            "import_full",
            &a,
            format!("{tool} loads same rows, 1 txn"),
            &b,
            Some(2.0),
        );
        let db = self.empty_target(backend, "rss-import").await?;
        import_full.peak_rss_bytes = Some(measure(
            ChildWork::Import,
            &db.url,
            self.target_keys.dir(),
            &self.bundle,
        )?);
        backend.remove(&db).await?;
        scenarios.push(import_full);

        // reimport_unchanged vs import_full.
        note("reimport_unchanged");
        let mut previous = match last {
            Some(db) => db,
            None => bail!("no imported database to re-import into"),
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (elapsed, outcome) = self.timed_import(&previous).await?;
            ensure!(
                matches!(outcome, ImportOutcome::AlreadyApplied { .. }),
                "re-importing the same bundle applied it again"
            );
            a.push(elapsed);
            let db = self.empty_target(backend, "import").await?;
            let (elapsed, _) = self.timed_import(&db).await?;
            b.push(elapsed);
            backend.remove(&previous).await?;
            previous = db;
        }
        backend.remove(&previous).await?;
        scenarios.push(Scenario::new(
            "reimport_unchanged",
            &a,
            "import_full",
            &b,
            Some(0.1),
        ));

        // export_incremental vs export_full.
        note("export_incremental");
        let tree = self.work.join("export-incremental");
        clear(&tree)?;
        // The steady state of an export directory: the first export into
        // it renders everything; the second renders everything again and
        // records what each row became; later ones render what changed.
        for _ in 0..2 {
            export_bundle(&self.source, &self.source_keys, &tree, &NoProgress).await?;
            settle();
        }
        let store = self.source.store();
        let user = self.public_user().await?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let bio = format!("{} (edited {run})", user.bio);
            store
                .update_profile(user.id, &user.display_name, &bio, Timestamp::now())
                .await?;
            settle();
            let started = Instant::now();
            let summary =
                export_bundle(&self.source, &self.source_keys, &tree, &NoProgress).await?;
            a.push(started.elapsed());
            ensure!(
                summary.changed && summary.written == 1,
                "the incremental export wrote {} files",
                summary.written
            );
            ensure!(
                summary.strategy == ExportStrategy::Journaled,
                "the incremental export ran the {} strategy, not the journaled one",
                summary.strategy
            );
            let out = self.work.join("export-full");
            clear(&out)?;
            b.push(self.timed_export(&out).await?);
        }
        scenarios.push(Scenario::new(
            "export_incremental",
            &a,
            "export_full",
            &b,
            Some(0.1),
        ));

        Ok(())
    }

    /// A public user of the source instance: the row the incremental
    /// scenarios edit.
    async fn public_user(&self) -> Result<wb_model::User> {
        self.source
            .store()
            .users()
            .await?
            .into_iter()
            .find(|u| u.origin == *self.source.name() && u.scope == SyncScope::Public)
            .context("the synthetic instance has no public user")
    }

    /// A full transfer: the bundle pushed into an empty hub (a `wb-hub`
    /// server in its own process) and pulled into an empty cache, beside
    /// curl moving the same archive through a trivial server. Also the
    /// hub's peak RSS during the push.
    async fn hub_push_pull(&mut self, backend: &Backend, bundle_bytes: u64) -> Result<Scenario> {
        let runs = self.config.runs.max(1);
        let archive = wb_hub::archive::pack_dir(&self.bundle)?;
        let tar = self.work.join("bundle.tar");
        std::fs::write(&tar, &archive)?;
        let loopback = LoopbackServer::start()?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut peak = 0;
        for run in 0..runs {
            let (elapsed, push_peak) = self.full_push_pull(backend, &self.bundle, run).await?;
            a.push(elapsed);
            peak = peak.max(push_peak);

            let download = self.work.join("curl-download.tar");
            settle();
            let started = Instant::now();
            curl_put_get(&loopback.url(), &tar, &download)?;
            b.push(started.elapsed());
            ensure!(
                std::fs::metadata(&download)?.len() == archive.len() as u64,
                "curl downloaded a different size"
            );
            std::fs::remove_file(&download)?;
        }
        let mut scenario = Scenario::new(
            "hub_push_pull",
            &a,
            "curl PUT+GET, std::net loopback",
            &b,
            Some(3.0),
        );
        scenario.peak_rss_bytes = Some(peak);
        // Issue 13 sets the goal for a 100k-row instance; below that, the
        // hub's own footprint (runtime, SQLite) outweighs the bundle.
        scenario.rss_goal_bytes = (self.config.rows >= 100_000).then_some(2 * bundle_bytes);
        scenario.rss_of = "hub during the push";
        scenario.rss_note = true;
        Ok(scenario)
    }

    /// Pushes the bundle directory `bundle` into a new, empty hub process
    /// and pulls it into an empty cache; the time of both, and the hub's
    /// peak RSS during the push.
    async fn full_push_pull(
        &self,
        backend: &Backend,
        bundle: &Path,
        run: usize,
    ) -> Result<(Duration, u64)> {
        let instance = self.source.name().to_string();
        let hub_db = backend
            .fresh(&self.work, &format!("hub-full-{run}"))
            .await?;
        let hub = HubProcess::start(&hub_db, &instance, &self.public_key).await?;
        let push_cache = self.work.join(format!("hub-push-full-{run}"));
        let cache = self.work.join(format!("hub-cache-full-{run}"));
        hub.reset_peak_rss()?;
        settle();
        let started = Instant::now();
        let pushed = hub.push(bundle, &instance, &push_cache).await?;
        let push_peak = hub.peak_rss_bytes()?;
        let pulled = hub.pull(&instance, &self.public_key, &cache).await?;
        let elapsed = started.elapsed();
        ensure!(
            pushed.transfer == Transfer::Full && pulled.transfer == Transfer::Full,
            "a first push and pull moved {:?} and {:?}, not whole bundles",
            pushed.transfer,
            pulled.transfer
        );
        hub.stop();
        backend.remove(&hub_db).await?;
        clear(&cache)?;
        clear(&push_cache)?;
        Ok((elapsed, push_peak))
    }

    /// One row changed, exported; then pushed and pulled as deltas, beside
    /// a full push and pull of the same bundle (issue 13: each moves at
    /// most 0.1 % of the bundle, and both take at most 0.05× the full
    /// transfer).
    async fn hub_delta(&mut self, backend: &Backend, bundle_bytes: u64) -> Result<Scenario> {
        let runs = self.config.runs.max(1);
        let instance = self.source.name().to_string();
        let tree = self.work.join("export-delta");
        clear(&tree)?;
        for _ in 0..2 {
            export_bundle(&self.source, &self.source_keys, &tree, &NoProgress).await?;
        }
        let hub_db = backend.fresh(&self.work, "hub-delta").await?;
        let hub = HubProcess::start(&hub_db, &instance, &self.public_key).await?;
        let push_cache = self.work.join("hub-push-delta");
        let cache = self.work.join("hub-cache-delta");
        hub.push(&tree, &instance, &push_cache).await?;
        hub.pull(&instance, &self.public_key, &cache).await?;

        let store = self.source.store();
        let user = self.public_user().await?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut sent, mut received) = (0, 0);
        let (mut push_runs, mut pull_runs) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let bio = format!("{} (delta {run})", user.bio);
            store
                .update_profile(user.id, &user.display_name, &bio, Timestamp::now())
                .await?;
            let summary =
                export_bundle(&self.source, &self.source_keys, &tree, &NoProgress).await?;
            ensure!(
                summary.written == 1,
                "the export wrote {} files",
                summary.written
            );
            settle();
            let started = Instant::now();
            let pushed = hub.push(&tree, &instance, &push_cache).await?;
            let pushed_at = started.elapsed();
            let pulled = hub.pull(&instance, &self.public_key, &cache).await?;
            let elapsed = started.elapsed();
            ensure!(
                pushed.transfer == Transfer::Delta && pulled.transfer == Transfer::Delta,
                "one changed row moved as {:?} (push) and {:?} (pull), not as deltas",
                pushed.transfer,
                pulled.transfer
            );
            a.push(elapsed);
            push_runs.push(pushed_at);
            pull_runs.push(elapsed - pushed_at);
            sent = sent.max(pushed.bytes_sent);
            received = received.max(pulled.bytes_received);

            let (full, _) = self.full_push_pull(backend, &tree, run).await?;
            b.push(full);
        }
        hub.stop();
        backend.remove(&hub_db).await?;
        clear(&cache)?;
        clear(&push_cache)?;
        let mut scenario = Scenario::new(
            "hub_delta",
            &a,
            "hub_push_pull of the same bundle",
            &b,
            Some(0.05),
        );
        scenario.wire = Some(crate::report::Wire {
            push_seconds: crate::report::median(&push_runs),
            pull_seconds: crate::report::median(&pull_runs),
            bytes_sent: sent,
            bytes_received: received,
            bundle_bytes,
            goal_fraction: 0.001,
        });
        Ok(scenario)
    }
}
