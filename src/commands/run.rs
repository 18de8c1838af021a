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

/// Runs until SIGINT/SIGTERM. With `ingest_only` (`marketpipe ingest`),
/// publishes to the Kafka bus for `process` instead of storing.
pub fn run(args: RunArgs, file: &FileConfig, ingest_only: bool) -> Result<()> {
    if ingest_only && args.pipeline.bus == marketpipe_bus::BusUrl::Memory {
        anyhow::bail!("ingest publishes to Kafka: give --bus kafka://HOST:PORT");
    }
    let feeds = feeds(&args, file)?;
    let mut settings = live_settings(&args.pipeline, file, feeds, crate::config::DEFAULT_DATA_DIR)?;
    settings.ingest_only = ingest_only;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{DataDirArgs, EngineArgs, PipelineArgs};

    fn args(exchange: Option<&str>, products: Option<&[&str]>, ws_url: Option<&str>) -> RunArgs {
        RunArgs {
            pipeline: PipelineArgs {
                data: DataDirArgs { data_dir: None },
                listen: None,
                engine: EngineArgs {
                    intervals: None,
                    lateness: None,
                    retention: None,
                    quiet_margin: None,
                    mid_ma_window: None,
                    book_depth: None,
                },
                archive_url: None,
                no_archive: false,
                bus: marketpipe_bus::BusUrl::Memory,
                store: None,
                topics: crate::cli::TopicArgs::default(),
            },
            exchange: exchange.map(str::to_owned),
            products: products.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
            ws_url: ws_url.map(str::to_owned),
            rest_url: None,
            warm_start_pages: None,
        }
    }

    #[test]
    fn flags_override_the_file_for_the_exchange_they_name() {
        let file: FileConfig =
            toml::from_str("[exchanges.coinbase]\nproducts = [\"BTC-USD\"]\nws_url = \"ws://file\"\nwarm_start_pages = 3\n").unwrap();
        let got = super::feeds(&args(None, None, None), &file).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].exchange, got[0].products.clone()), (Exchange::Coinbase, vec!["BTC-USD".to_owned()]));
        assert_eq!((got[0].ws_url.as_deref(), got[0].warm_start_pages), (Some("ws://file"), 3));

        let got = super::feeds(&args(Some("coinbase"), Some(&["ETH-USD", " SOL-USD ", ""]), Some("ws://flag")), &file).unwrap();
        assert_eq!(got[0].products, ["ETH-USD", "SOL-USD"]);
        assert_eq!(got[0].ws_url.as_deref(), Some("ws://flag"));
        assert_eq!(got[0].warm_start_pages, 3, "the file still fills what the flags leave out");
    }

    #[test]
    fn nothing_configured_means_coinbase_and_unknown_exchanges_are_refused() {
        let got = super::feeds(&args(None, Some(&["BTC-USD"]), None), &FileConfig::default()).unwrap();
        assert_eq!(got[0].exchange, Exchange::Coinbase);
        assert_eq!(got[0].warm_start_pages, marketpipe_live::DEFAULT_WARM_START_PAGES);
        let err = super::feeds(&args(Some("nyse"), None, None), &FileConfig::default()).unwrap_err();
        assert!(format!("{err:#}").contains("nyse"), "{err:#}");
        assert!(toml::from_str::<FileConfig>("[exchanges.coinbase]\nproduct = [\"x\"]\n").is_err(), "typos are refused");
    }
}
