//! The `marketpipe` binary: command-line edge of the pipeline.
//!
//! Pure logic lives in the crates under `crates/`; this binary wires them
//! together (config → components) and owns the process concerns: logging,
//! exit codes, signals. `anyhow` is used here and only here.

mod archive_s3;
mod cli;
mod commands;
mod config;
mod ingest;
mod live;
mod parts;
#[cfg(feature = "kafka")]
mod process;
mod replay;
mod stores;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

use crate::{
    cli::{Cli, Command, LogFormat},
    config::FileConfig,
};

/// mimalloc: book deltas are allocated on the decoding thread and freed on
/// the engine thread, which glibc's malloc serializes on an arena lock.
/// Built without transparent huge pages (see Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match FileConfig::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    let format = cli.log_format.or(file.log.format).unwrap_or(LogFormat::Human);
    if let Err(e) = telemetry::init(format, cli.log.as_deref().or(file.log.filter.as_deref())) {
        return fail(&e);
    }
    let result = match cli.command {
        Command::Replay(args) => commands::replay(args, &file),
        Command::Serve(args) => commands::serve(args, &file),
        Command::Candles(args) => commands::candles(args, &file),
        Command::Run(args) => commands::run(args, &file, false),
        Command::Ingest(args) => commands::run(args, &file, true),
        Command::Demo(args) => commands::demo(args, &file),
        Command::Sim(args) => commands::sim(args),
        Command::Process(args) => commands::process(args, &file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}
