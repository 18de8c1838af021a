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
    // By default a thread per core available to this process (the count
    // respects CPU affinity, e.g. `taskset -c 0`).
    let threads = match (args.single_thread, args.threads) {
        (true, _) => 1,
        (false, Some(n)) => usize::try_from(n)?,
        (false, None) => std::thread::available_parallelism().map_or(1, |n| n.get()).min(crate::replay::MAX_THREADS),
    };
    let summary = crate::replay::run(&captures, &data_dir, engine, !args.no_progress, threads)?;
    print!("{}", summary.render());
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary.to_json())?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
