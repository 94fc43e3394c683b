//! Peak memory of an export and an import, each in a child process: the
//! bench runs itself again with the hidden `__child` subcommand, which does
//! one export or import and then prints its own `VmHWM` (peak resident set
//! size) from `/proc/self/status`. A child starts with nothing in memory but
//! the program, so the figure is the operation's, not the bench's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use wb_crypto::KeyStore;
use wb_engine::Instance;
use wb_engine::sync::{ImportOptions, NoProgress, export_bundle, import_bundle};
use wb_store::Store;

/// The prefix of the child's one line of output.
const PREFIX: &str = "peak_rss_bytes=";

/// What a child process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChildWork {
    /// Export the instance's bundle into `--bundle`.
    Export,
    /// Import the bundle at `--bundle`.
    Import,
}

/// Arguments of the hidden `__child` subcommand.
#[derive(Debug, Args)]
pub struct ChildArgs {
    /// Export or import.
    #[arg(value_enum)]
    pub work: ChildWork,
    /// The instance's database URL.
    #[arg(long)]
    pub db: String,
    /// The instance's key directory.
    #[arg(long)]
    pub keys: PathBuf,
    /// The bundle directory to write or read.
    #[arg(long)]
    pub bundle: PathBuf,
}

/// Runs in the child: the work, then the peak RSS on stdout.
pub async fn child(args: ChildArgs) -> Result<()> {
    let store = Store::connect(&args.db, false).await?;
    let instance = Instance::open(store).await?;
    let keys = KeyStore::new(&args.keys);
    match args.work {
        ChildWork::Export => {
            export_bundle(&instance, &keys, &args.bundle, &NoProgress).await?;
        }
        ChildWork::Import => {
            import_bundle(
                &instance,
                &keys,
                &args.bundle,
                &ImportOptions {
                    accept_new_keys: true,
                    ..ImportOptions::default()
                },
                &NoProgress,
            )
            .await?;
        }
    }
    instance.store().close().await;
    println!("{PREFIX}{}", peak_rss_bytes()?);
    Ok(())
}

/// This process's `VmHWM`, in bytes.
fn peak_rss_bytes() -> Result<u64> {
    peak_rss_of("/proc/self/status")
}

/// The `VmHWM` of the process whose status file is `status`, in bytes.
pub fn peak_rss_of(status: &str) -> Result<u64> {
    let status = std::fs::read_to_string(status).with_context(|| format!("reading {status}"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .context("no VmHWM in the process status")?;
    Ok(kib * 1024)
}

/// Runs `work` in a child process and returns its peak RSS in bytes.
pub fn measure(work: ChildWork, db: &str, keys: &Path, bundle: &Path) -> Result<u64> {
    let exe = std::env::current_exe().context("finding the wb-bench executable")?;
    let name = match work {
        ChildWork::Export => "export",
        ChildWork::Import => "import",
    };
    let output = Command::new(exe)
        .args(["__child", name, "--db", db, "--keys"])
        .arg(keys)
        .arg("--bundle")
        .arg(bundle)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the measuring child")?;
    if !output.status.success() {
        bail!("the {name} child failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(PREFIX))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("the {name} child printed no peak RSS: {stdout:?}"))
}
