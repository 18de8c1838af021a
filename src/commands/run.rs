//! `marketpipe run`: the live pipeline against real exchange endpoints (or
//! any other endpoint speaking their protocol).

use anyhow::{Context, Result};
use marketpipe_model::Exchange;

use crate::{
    cli::RunArgs,
    commands::{live_settings, serve::shutdown_signal},
    config::FileConfig,
    live::{self, FeedSettings},
};

/// Runs until SIGINT/SIGTERM.
pub fn run(args: RunArgs, file: &FileConfig) -> Result<()> {
    let feeds = feeds(&args, file)?;
    let settings = live_settings(&args.pipeline, file, feeds, crate::config::DEFAULT_DATA_DIR)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(live::run(settings, shutdown_signal(), |addr| {
        println!("marketpipe API listening on http://{addr}");
    }))
}

/// The exchanges to connect to: `--exchange` (with `--products`, `--ws-url`,
/// `--rest-url`) over the file's `[exchanges.<name>]` of the same name; with
/// no `--exchange`, every exchange in the file.
fn feeds(args: &RunArgs, file: &FileConfig) -> Result<Vec<FeedSettings>> {
    let names: Vec<String> = match &args.exchange {
        Some(name) => vec![name.clone()],
        None if file.exchanges.is_empty() => vec!["coinbase".to_owned()],
        None => file.exchanges.keys().cloned().collect(),
    };
    let mut feeds = Vec::new();
    for name in names {
        let exchange: Exchange = name.parse().with_context(|| format!("unknown exchange {name:?}"))?;
        let from_file = file.exchanges.get(&name).cloned().unwrap_or_default();
        // Flags apply to the one exchange named on the command line, or to
        // the only one configured.
        let flags_apply = args.exchange.is_some() || file.exchanges.len() <= 1;
        let pick = |flag: &Option<String>, file: Option<String>| if flags_apply { flag.clone().or(file) } else { file };
        let products = match (&args.products, flags_apply) {
            (Some(list), true) => list.iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect(),
            _ => from_file.products,
        };
        let warm_start_pages = (if flags_apply { args.warm_start_pages } else { None })
            .or(from_file.warm_start_pages)
            .unwrap_or(marketpipe_live::DEFAULT_WARM_START_PAGES);
        feeds.push(FeedSettings {
            exchange,
            products,
            ws_url: pick(&args.ws_url, from_file.ws_url),
            rest_url: pick(&args.rest_url, from_file.rest_url),
            warm_start_pages,
        });
    }
    Ok(feeds)
}
