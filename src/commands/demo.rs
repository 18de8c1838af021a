//! `marketpipe demo`: simulated Coinbase, Binance and KuCoin exchanges
//! in-process on loopback and the live pipeline against all of them (plus
//! Coinbase Advanced Trade polling), with the API up: the whole system with no internet
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

/// The simulated exchanges, each on its own port: Coinbase Exchange
/// (whose REST port also serves the Advanced Trade endpoints), Binance and
/// KuCoin.
const DEMO_EXCHANGES: [Exchange; 3] = [Exchange::Coinbase, Exchange::Binance, Exchange::Kucoin];

/// Runs until SIGINT/SIGTERM or `--run-for`.
pub fn demo(args: DemoArgs, file: &FileConfig) -> Result<()> {
    let base = args.market.sim_config(None);
    base.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut sims = Vec::new();
        let mut feeds = Vec::new();
        for (i, exchange) in DEMO_EXCHANGES.into_iter().enumerate() {
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.context("cannot bind the simulator")?;
            // A seed per exchange: three markets, not one market thrice.
            let config = marketpipe_sim::SimConfig { exchange, seed: base.seed.wrapping_add(i as u64), ..base.clone() };
            let sim = marketpipe_sim::start(config, listener).await?;
            feeds.push(FeedSettings {
                exchange,
                products: sim.products(),
                ws_url: Some(sim.ws_url()),
                rest_url: Some(sim.rest_url()),
                warm_start_pages: marketpipe_live::DEFAULT_WARM_START_PAGES,
            });
            if exchange == Exchange::Coinbase {
                // The same market through Advanced Trade's REST polling.
                feeds.push(FeedSettings {
                    exchange: Exchange::CoinbaseAdvanced,
                    products: sim.products(),
                    ws_url: None,
                    rest_url: Some(sim.rest_url()),
                    warm_start_pages: 0,
                });
            }
            sims.push(sim);
        }
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
        let served: Vec<(Exchange, String, String)> = sims.iter().map(|s| (s.exchange(), s.rest_url(), s.products().join(", "))).collect();
        live::run(settings, stop, |addr| {
            println!("marketpipe API listening on http://{addr}");
            for (exchange, rest, products) in &served {
                println!("simulated {exchange} exchange at {rest} with {products}");
            }
            println!("coinbase-advanced polls the simulated Coinbase REST API");
            println!("data and raw archive in {}", data_dir.display());
            println!();
            println!("  latest candle  curl 'http://{addr}/api/v1/candles/latest?exchange=coinbase&symbol=BTC-USD&interval=1m'");
            println!("  order book     curl 'http://{addr}/api/v1/book?exchange=binance&symbol=BTC-USDT&depth=10'");
            println!("  book stats     curl 'http://{addr}/api/v1/stats?exchange=kucoin&symbol=BTC-USDT'");
            println!("  tickers        curl 'http://{addr}/api/v1/tickers?exchange=binance'");
            println!("  polled trades  curl 'http://{addr}/api/v1/candles/latest?exchange=coinbase-advanced&symbol=BTC-USD&interval=1m'");
            println!("  metrics        curl 'http://{addr}/metrics'");
            println!();
            println!("Ctrl-C stops it cleanly.");
        })
        .await?;
        for sim in sims {
            sim.shutdown().await?;
        }
        Ok(())
    })
}
