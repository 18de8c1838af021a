//! `marketpipe replay CAPTURE... --data-dir DIR`; a capture is a file or an
//! `s3://bucket/prefix` URL (every archive segment under it).

use anyhow::{Context, Result};

use crate::{cli::ReplayArgs, config::FileConfig, replay::Capture};

/// Replays the captures into the store and prints the summary.
pub fn replay(args: ReplayArgs, file: &FileConfig) -> Result<()> {
    let data_dir = file.data_dir(args.data.data_dir);
    let engine = file.engine(&args.engine)?;
    let mut captures = Vec::new();
    for capture in &args.captures {
        // An S3 URL stands for every segment under it, in order.
        if let Some(url) = capture.to_str().filter(|s| crate::archive_s3::is_s3_url(s)) {
            captures.extend(crate::archive_s3::captures(url)?);
            continue;
        }
        anyhow::ensure!(capture.is_file(), "capture {} does not exist or is not a file", capture.display());
        captures.push(Capture::file(capture.clone()));
    }
    // Two stages only pay where two cores are available to this process
    // (the count respects CPU affinity, e.g. `taskset -c 0`).
    let single_thread = args.single_thread || std::thread::available_parallelism().map_or(true, |n| n.get() < 2);
    let summary = crate::replay::run(&captures, &data_dir, engine, !args.no_progress, single_thread)?;
    print!("{}", summary.render());
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary.to_json())?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
