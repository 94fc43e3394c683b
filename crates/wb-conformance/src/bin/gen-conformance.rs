//! Writes the conformance suite to `fixtures/conformance/` (or the
//! directory given as the only argument), replacing what is there.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance"),
        PathBuf::from,
    );
    if let Err(e) = write(&dir) {
        eprintln!("error: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn write(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let files = wb_conformance::generate();
    for (path, entry) in &files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match entry {
            wb_conformance::Entry::File(bytes) => std::fs::write(&full, bytes)?,
            wb_conformance::Entry::Link(target) => symlink(target, &full)?,
        }
    }
    println!("{}: {} files", dir.display(), files.len());
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &str, link: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &str, link: &std::path::Path) -> std::io::Result<()> {
    Err(std::io::Error::other(format!(
        "{}: the suite holds symbolic links; generate it on a Unix system",
        link.display()
    )))
}
