//! `wb-hub`: the relay that stores and serves signed bundles between wb
//! instances (SPEC §3).
//!
//! Not built yet: the hub arrives with its own issue. Until then the binary
//! says so and exits non-zero rather than pretending to serve.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "error: wb-hub is not implemented yet; bundles can be exchanged by directory with `wb sync export` and `wb sync import`"
    );
    ExitCode::FAILURE
}
