//! `marketpipe replay CAPTURE... --data-dir DIR`.

use anyhow::{Context, Result};

use crate::{cli::ReplayArgs, config::FileConfig};

/// Replays the captures into the store and prints the summary.
pub fn replay(args: ReplayArgs, file: &FileConfig) -> Result<()> {
    let data_dir = file.data_dir(args.data.data_dir);
    let engine = file.engine(&args.engine)?;
    for capture in &args.captures {
        anyhow::ensure!(capture.is_file(), "capture {} does not exist or is not a file", capture.display());
    }
    // Two stages only pay where two cores are available to this process
    // (the count respects CPU affinity, e.g. `taskset -c 0`).
    let single_thread = args.single_thread || std::thread::available_parallelism().map_or(true, |n| n.get() < 2);
    let summary = crate::replay::run(&args.captures, &data_dir, engine, !args.no_progress, single_thread)?;
    print!("{}", summary.render());
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary.to_json())?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
