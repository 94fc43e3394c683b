//! `ARCHITECTURE.md` is enforced: its table of which crate may depend on
//! which must equal the workspace's real dependencies, as `cargo metadata`
//! reports them, and must list the crates bottom-up so that no arrow runs
//! upwards. A new dependency between our crates therefore changes the map
//! in the same commit, or this test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The table in the ```` ```dependencies ```` block of ARCHITECTURE.md: each
/// line `crate  dep dep …` (or `-` for none), in the order written.
fn documented() -> Vec<(String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md is readable");
    let block = text
        .split("```dependencies\n")
        .nth(1)
        .expect("ARCHITECTURE.md has a ```dependencies block")
        .split("```")
        .next()
        .expect("split yields at least one piece");
    block
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next().expect("a non-empty line").to_owned();
            let deps = words.filter(|w| *w != "-").map(str::to_owned).collect();
            (name, deps)
        })
        .collect()
}

/// A string field of `cargo metadata`'s output.
fn text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .expect("cargo metadata names are strings")
        .to_owned()
}

/// Each workspace crate and the workspace crates it depends on (normal and
/// build dependencies; dev-dependencies serve tests only).
fn actual() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"]
        .as_array()
        .expect("cargo metadata lists packages");
    let ours: BTreeSet<String> = packages.iter().map(|p| text(&p["name"])).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("a package lists its dependencies")
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .map(|d| text(&d["name"]))
                .filter(|name| ours.contains(name))
                .collect();
            (text(&p["name"]), deps)
        })
        .collect()
}

#[test]
fn the_architecture_map_is_the_workspace() {
    let documented = documented();
    let actual = actual();
    let listed: BTreeSet<&String> = documented.iter().map(|(name, _)| name).collect();
    let real: BTreeSet<&String> = actual.keys().collect();
    assert_eq!(
        listed, real,
        "ARCHITECTURE.md's dependencies table must list exactly the workspace's crates"
    );
    let mut problems = Vec::new();
    for (name, allowed) in &documented {
        let deps = &actual[name];
        for extra in deps.difference(allowed) {
            problems.push(format!(
                "{name} depends on {extra}, which ARCHITECTURE.md does not allow"
            ));
        }
        for stale in allowed.difference(deps) {
            problems.push(format!(
                "ARCHITECTURE.md says {name} depends on {stale}, and it does not"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_arrow_runs_upwards() {
    let documented = documented();
    let mut below = BTreeSet::new();
    for (name, deps) in &documented {
        for dep in deps {
            assert!(
                below.contains(dep),
                "{name} depends on {dep}, which is not listed below it in ARCHITECTURE.md"
            );
        }
        below.insert(name.clone());
    }
}
