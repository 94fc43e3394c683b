//! `wb` does not link the hub server (issue 13, part 5): the normal
//! dependency graph of `wb-cli`, as `cargo tree` resolves it for this
//! platform, reaches `wb-hub-client` and never `wb-hub`. (`wb-hub` stays a
//! dev-dependency: the tests run a real hub.)

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn wb_links_the_hub_client_and_not_the_hub_server() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    // Normal dependencies only (what the binary links), this platform's.
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "wb-cli",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none", "--manifest-path", manifest])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(
        names.contains("wb-hub-client"),
        "wb uses the hub client crate"
    );
    assert!(names.contains("wb-engine"), "the graph reaches the engine");
    assert!(names.contains("awc"), "the graph reaches the HTTP client");
    assert!(
        !names.contains("wb-hub"),
        "wb links the hub server: {:?}",
        names
            .iter()
            .filter(|n| n.starts_with("wb"))
            .collect::<Vec<_>>()
    );
}
