//! The results: medians of interleaved runs, a table for people and JSON
//! for tools (`{"scenarios":[{"name","seconds","baseline",
//! "baseline_seconds","ratio","peak_rss_bytes"}]}`).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// One scenario beside its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Its name, e.g. `export_full`.
    pub name: &'static str,
    /// Median seconds of the scenario.
    pub seconds: f64,
    /// What the baseline is.
    pub baseline: String,
    /// Median seconds of the baseline.
    pub baseline_seconds: f64,
    /// `seconds / baseline_seconds`.
    pub ratio: f64,
    /// Peak resident set size of the scenario's work, when measured.
    pub peak_rss_bytes: Option<u64>,
    /// The goal for `ratio` (issue 7), if there is one.
    pub goal_ratio: Option<f64>,
    /// Every run of the scenario, in seconds.
    pub runs: Vec<f64>,
    /// Every run of the baseline, in seconds.
    pub baseline_runs: Vec<f64>,
}

/// The median of some durations, in seconds (0 for none).
pub fn median(runs: &[Duration]) -> f64 {
    let mut secs: Vec<f64> = runs.iter().map(Duration::as_secs_f64).collect();
    secs.sort_by(f64::total_cmp);
    match secs.len() {
        0 => 0.0,
        n if n % 2 == 1 => secs[n / 2],
        n => (secs[n / 2 - 1] + secs[n / 2]) / 2.0,
    }
}

impl Scenario {
    /// A scenario from its runs and its baseline's runs.
    pub fn new(
        name: &'static str,
        runs: &[Duration],
        baseline: impl Into<String>,
        baseline_runs: &[Duration],
        goal_ratio: Option<f64>,
    ) -> Self {
        let seconds = median(runs);
        let baseline_seconds = median(baseline_runs);
        Self {
            name,
            seconds,
            baseline: baseline.into(),
            baseline_seconds,
            ratio: if baseline_seconds > 0.0 {
                seconds / baseline_seconds
            } else {
                f64::INFINITY
            },
            peak_rss_bytes: None,
            goal_ratio,
            runs: runs.iter().map(Duration::as_secs_f64).collect(),
            baseline_runs: baseline_runs.iter().map(Duration::as_secs_f64).collect(),
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `--rows`.
    pub rows: usize,
    /// Rows the export wrote (effectively public ones).
    pub exported_files: usize,
    /// Size of the bundle's files.
    pub bundle_bytes: usize,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Where the files went.
    pub dir: String,
    /// Runs per scenario.
    pub runs: usize,
    /// The results.
    pub scenarios: Vec<Scenario>,
}

/// The peak-RSS goal: 200 MB.
pub const RSS_GOAL_BYTES: u64 = 200 * 1000 * 1000;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

impl Report {
    /// The table printed on stdout.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "wb-bench: {} rows ({} exported files, {}), {}, {}, median of {} interleaved runs",
            self.rows,
            self.exported_files,
            mib(self.bundle_bytes as u64),
            self.backend,
            self.dir,
            self.runs
        );
        let _ = writeln!(
            out,
            "{:<20} {:>10}  {:<34} {:>10} {:>8}  {:<12} {:>10}",
            "scenario", "seconds", "baseline", "seconds", "ratio", "goal", "peak RSS"
        );
        for s in &self.scenarios {
            let goal = match s.goal_ratio {
                Some(goal) if s.ratio <= goal => format!("<= {goal} ok"),
                Some(goal) => format!("<= {goal} MISS"),
                None => String::new(),
            };
            let rss = s.peak_rss_bytes.map(|b| {
                let verdict = if b < RSS_GOAL_BYTES { "" } else { " MISS" };
                format!("{}{verdict}", mib(b))
            });
            let _ = writeln!(
                out,
                "{:<20} {:>10.4}  {:<34} {:>10.4} {:>8.3}  {:<12} {:>10}",
                s.name,
                s.seconds,
                s.baseline,
                s.baseline_seconds,
                s.ratio,
                goal,
                rss.unwrap_or_default()
            );
        }
        out
    }
}
