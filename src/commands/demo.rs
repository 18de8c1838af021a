//! `marketpipe demo`: the simulator in-process on loopback and the live
//! pipeline against it, with the API up: the whole system with no internet
//! and no accounts.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, Result};
use marketpipe_model::Exchange;

use crate::{
    cli::DemoArgs,
    commands::{live_settings, serve::shutdown_signal},
    config::FileConfig,
    live::{self, FeedSettings},
};

/// The demo's own data directory, so it never mixes with real data.
const DEMO_DATA_DIR: &str = "./demo-data";

/// Runs until SIGINT/SIGTERM or `--run-for`.
pub fn demo(args: DemoArgs, file: &FileConfig) -> Result<()> {
    let sim_config = args.market.sim_config(None);
    sim_config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.context("cannot bind the simulator")?;
        let sim = marketpipe_sim::start(sim_config, listener).await?;
        let feeds = vec![FeedSettings {
            exchange: Exchange::Coinbase,
            products: sim.products(),
            ws_url: Some(sim.ws_url()),
            rest_url: Some(sim.rest_url()),
            warm_start_pages: marketpipe_live::DEFAULT_WARM_START_PAGES,
        }];
        let settings = live_settings(&args.pipeline, file, feeds, DEMO_DATA_DIR)?;
        let data_dir = settings.data_dir.clone();
        let run_for = args.run_for;
        let stop = async move {
            match run_for {
                Some(d) => tokio::select! {
                    () = shutdown_signal() => {},
                    () = tokio::time::sleep(d) => tracing::info!(after = ?d, "demo time is up"),
                },
                None => shutdown_signal().await,
            }
        };
        let products = sim.products();
        let ws = sim.ws_url();
        live::run(settings, stop, |addr| {
            let first = products.first().map_or("BTC-USD", String::as_str);
            println!("marketpipe API listening on http://{addr}");
            println!("simulated Coinbase exchange at {ws} with {}", products.join(", "));
            println!("data and raw archive in {}", data_dir.display());
            println!();
            println!("  latest candle  curl 'http://{addr}/api/v1/candles/latest?exchange=coinbase&symbol={first}&interval=1m'");
            println!("  order book     curl 'http://{addr}/api/v1/book?exchange=coinbase&symbol={first}&depth=10'");
            println!("  book stats     curl 'http://{addr}/api/v1/stats?exchange=coinbase&symbol={first}'");
            println!("  metrics        curl 'http://{addr}/metrics'");
            println!();
            println!("Ctrl-C stops it cleanly.");
        })
        .await?;
        sim.shutdown().await?;
        Ok(())
    })
}
