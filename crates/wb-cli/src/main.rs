//! `wb`: the operator command line of a wb instance.
//!
//! Glue only: parse arguments, open the instance, call `wb-engine`, print the
//! outcome, and turn errors into one line on stderr and a non-zero exit.

mod cli;
mod commands;
mod hub_client;
mod output;
mod progress;
mod sync;
mod vouch;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Colour only on a terminal, and never under NO_COLOR (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .without_time()
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (`wb list user | head -1`) is not a failure.
            // serde_json wraps the io::Error out of sight of the chain.
            let broken_pipe =
                |kind: Option<std::io::ErrorKind>| kind == Some(std::io::ErrorKind::BrokenPipe);
            if err.chain().any(|cause| {
                broken_pipe(cause.downcast_ref::<std::io::Error>().map(|e| e.kind()))
                    || broken_pipe(
                        cause
                            .downcast_ref::<serde_json::Error>()
                            .and_then(serde_json::Error::io_error_kind),
                    )
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "error: {}{}",
                wb_model::text::error_line(err.chain()),
                output::refusal_code(&err)
                    .map(|code| format!(" [{code}]"))
                    .unwrap_or_default()
            );
            ExitCode::FAILURE
        }
    }
}
