//! One function per subcommand: resolve settings, build the components, run.

mod candles;
mod demo;
mod process;
mod replay;
mod run;
mod serve;
mod sim;

pub use candles::candles;
pub use demo::demo;
pub use process::process;
pub use replay::replay;
pub use run::run;
pub use serve::serve;
pub use sim::sim;

use anyhow::Result;
use marketpipe_capture::ArchiveConfig;

use crate::{
    cli::PipelineArgs,
    config::FileConfig,
    live::{FeedSettings, LiveSettings},
};

/// The settings `run` and `demo` share, from flags over the file.
fn live_settings(args: &PipelineArgs, file: &FileConfig, feeds: Vec<FeedSettings>, default_data_dir: &str) -> Result<LiveSettings> {
    let data_dir = args.data.data_dir.clone().or_else(|| file.data_dir.clone()).unwrap_or_else(|| default_data_dir.into());
    let archive_enabled = !args.no_archive && file.archive.enabled.unwrap_or(true);
    let mut archive = ArchiveConfig::default();
    if let Some(bytes) = file.archive.max_segment_bytes {
        anyhow::ensure!(bytes > 0, "archive.max_segment_bytes must be positive");
        archive.max_segment_bytes = bytes;
    }
    let archive_upload = args.archive_url.clone().or_else(|| file.archive.url.clone());
    if let Some(url) = &archive_upload {
        crate::archive_s3::check_url(url)?;
        anyhow::ensure!(archive_enabled, "--archive {url} uploads the local archive, which --no-archive turns off");
    }
    Ok(LiveSettings {
        data_dir,
        listen: file.listen(args.listen),
        engine: file.engine(&args.engine)?,
        archive: archive_enabled.then_some(archive),
        archive_upload,
        feeds,
        bus: args.bus.clone(),
        ingest_only: false,
        store: args.store.clone(),
        topics: args.topics.clone(),
    })
}
