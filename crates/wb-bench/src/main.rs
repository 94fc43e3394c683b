//! `wb-bench`: measures wb sync's export, import, re-import, incremental
//! export and hub transfer on a synthetic instance, each beside a baseline
//! measured in the same run (SPEC §7, issue 7), and prints the medians.
//!
//! The binary is glue: arguments here, the scenarios in `bench`, the
//! baselines in `baseline`, the data in `synth`. See `docs/performance.md`
//! for what each figure means and the latest results.

mod baseline;
mod bench;
mod db;
mod hub;
mod report;
mod rss;
mod synth;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  wb-bench --rows 200 --runs 1                 # smoke run (CI)
  wb-bench --rows 10000 --dir /dev/shm         # on tmpfs: CPU, not the disk
  wb-bench --rows 10000 --dir /var/tmp --json bench-10k.json
  wb-bench --rows 10000 --database-url postgres://postgres@127.0.0.1:5432/postgres
  wb-bench --rows 100000 --runs 3 --dir /dev/shm --hub-only   # hub transfers only

Needs `sqlite3` (or `psql` with --database-url) and `curl` on PATH.
Each scenario runs --runs times interleaved with its baseline (A B A B ...);
the table shows medians and the ratio scenario/baseline against the goal.";

/// Benchmarks wb sync beside same-run baselines.
#[derive(Debug, Parser)]
#[command(name = "wb-bench", version, after_help = EXAMPLES)]
struct Cli {
    /// Rows of the synthetic instance (10% users, 30% requests, 50%
    /// comments, 5% invites, 5% vouches; about 70% public).
    #[arg(long, default_value_t = 10_000)]
    rows: usize,
    /// Where the work directory goes (e.g. /dev/shm for tmpfs); default: the
    /// system's temporary directory. It is removed at the end.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Runs of each scenario and of its baseline.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run on Postgres (`postgres://…`; each instance in its own schema,
    /// dropped at the end) instead of SQLite files.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Leave out the hub scenarios (hub_push_pull, hub_delta).
    #[arg(long, conflicts_with = "hub_only")]
    skip_hub: bool,
    /// Run only the hub scenarios (hub_push_pull, hub_delta).
    #[arg(long)]
    hub_only: bool,
    /// Keep the work directory (and Postgres schemas) for profiling:
    /// `wb-bench __child export|import --db URL --keys DIR --bundle DIR`
    /// repeats one export or import in it.
    #[arg(long)]
    keep: bool,
    #[command(subcommand)]
    child: Option<Child>,
}

#[derive(Debug, Subcommand)]
enum Child {
    /// Internal: one export or import, then print the peak RSS.
    #[command(name = "__child", hide = true)]
    Measure(rss::ChildArgs),
    /// Internal: serve a hub database until killed.
    #[command(name = "__hub", hide = true)]
    Hub(hub::HubArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let system = actix_rt::System::new();
    match system.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!(
                "wb-bench: error: {}",
                wb_model::text::error_line(err.chain())
            );
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.child {
        Some(Child::Measure(args)) => return rss::child(args).await,
        Some(Child::Hub(args)) => return hub::serve(args).await,
        None => {}
    }
    let report = bench::run(bench::Config {
        rows: cli.rows,
        dir: cli.dir,
        runs: cli.runs,
        database_url: cli.database_url,
        skip_hub: cli.skip_hub,
        hub_only: cli.hub_only,
        keep: cli.keep,
    })
    .await?;
    print!("{}", report.table());
    if let Some(path) = cli.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(&path, json + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use clap::Parser as _;

    use super::Cli;

    /// Every `wb-bench …` command the docs quote (in backticks, possibly
    /// wrapped over lines) is one this binary accepts as written, so the
    /// figures in `docs/performance.md` say how to measure them again.
    /// (CI cannot afford to run them: they take minutes at 100k rows.)
    #[test]
    fn every_command_the_docs_quote_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
        for entry in std::fs::read_dir(root.join("docs")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
        let mut checked = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for quoted in text.split('`').skip(1).step_by(2) {
                let words: Vec<&str> = quoted.split_whitespace().collect();
                // The internal subcommands (`__child`, `__hub`) are named
                // in prose, with placeholders.
                if words.first() != Some(&"wb-bench")
                    || words.len() < 2
                    || words[1].starts_with("__")
                {
                    continue;
                }
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!(
                        "{}: `{}` does not parse: {e}",
                        file.display(),
                        words.join(" ")
                    );
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 10,
            "found only {checked} wb-bench commands in the docs"
        );
    }
}
