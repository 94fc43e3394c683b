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
    /// Whose peak RSS it is, when not the scenario's own process.
    pub rss_of: &'static str,
    /// The goal for `peak_rss_bytes` (default [`RSS_GOAL_BYTES`]).
    pub rss_goal_bytes: Option<u64>,
    /// Whether `peak_rss_bytes` is another process's (`rss_of`), judged by
    /// `rss_goal_bytes` only.
    pub rss_note: bool,
    /// Bytes on the wire, for a transfer scenario.
    pub wire: Option<Wire>,
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
            rss_of: "",
            rss_goal_bytes: None,
            rss_note: false,
            wire: None,
            goal_ratio,
            runs: runs.iter().map(Duration::as_secs_f64).collect(),
            baseline_runs: baseline_runs.iter().map(Duration::as_secs_f64).collect(),
        }
    }
}

/// What a transfer moved, and its parts' times.
#[derive(Debug, Clone, Serialize)]
pub struct Wire {
    /// Median seconds of the push.
    pub push_seconds: f64,
    /// Median seconds of the pull.
    pub pull_seconds: f64,
    /// Request body bytes the push sent (largest run).
    pub bytes_sent: u64,
    /// Response body bytes the pull received (largest run).
    pub bytes_received: u64,
    /// The bundle's size (its files).
    pub bundle_bytes: u64,
    /// The goal for each of `bytes_sent` and `bytes_received`, as a
    /// fraction of `bundle_bytes`.
    pub goal_fraction: f64,
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
            let rss_goal = s.rss_goal_bytes.unwrap_or(RSS_GOAL_BYTES);
            let rss = s.peak_rss_bytes.filter(|_| !s.rss_note).map(|b| {
                let verdict = if b <= rss_goal { "" } else { " MISS" };
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
            if let (Some(peak), true) = (s.peak_rss_bytes, s.rss_note) {
                let goal = match s.rss_goal_bytes {
                    Some(goal) if peak <= goal => format!(" (goal <= {}: ok)", mib(goal)),
                    Some(goal) => format!(" (goal <= {}: MISS)", mib(goal)),
                    None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "  {}: peak RSS of the {} {}{goal}",
                    s.name,
                    s.rss_of,
                    mib(peak)
                );
            }
            if let Some(w) = &s.wire {
                let share = |b: u64| b as f64 / w.bundle_bytes.max(1) as f64;
                let verdict = if share(w.bytes_sent) <= w.goal_fraction
                    && share(w.bytes_received) <= w.goal_fraction
                {
                    "ok"
                } else {
                    "MISS"
                };
                let _ = writeln!(
                    out,
                    "  {}: push {:.4} s, {} bytes sent ({:.4} % of the bundle); pull {:.4} s, {} bytes received ({:.4} %); goal <= {} % each: {verdict}",
                    s.name,
                    w.push_seconds,
                    w.bytes_sent,
                    100.0 * share(w.bytes_sent),
                    w.pull_seconds,
                    w.bytes_received,
                    100.0 * share(w.bytes_received),
                    100.0 * w.goal_fraction
                );
            }
        }
        out
    }
}
