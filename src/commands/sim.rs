//! `marketpipe sim`: the exchange simulator on its own, for tests, demos
//! and pointing `run --ws-url/--rest-url` at.

use anyhow::{Context, Result};
use marketpipe_model::Exchange;

use crate::{cli::SimArgs, commands::serve::shutdown_signal};

/// Serves the simulated exchange until SIGINT/SIGTERM.
pub fn sim(args: SimArgs) -> Result<()> {
    let config = marketpipe_sim::SimConfig { exchange: args.exchange, ..args.market.sim_config(args.write_capture.clone()) };
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
        let sim = marketpipe_sim::start(config, listener).await?;
        // Scripts and tests read the endpoints (useful with port 0) from stdout.
        match sim.exchange() {
            // KuCoin clients learn the websocket endpoint (and a token) from the bullet.
            Exchange::Kucoin => println!(
                "marketpipe sim: kucoin rest {rest} (websocket endpoint and token: POST {rest}/api/v1/bullet-public)",
                rest = sim.rest_url()
            ),
            _ => println!("marketpipe sim: websocket {} rest {}", sim.ws_url(), sim.rest_url()),
        }
        println!("products: {}", sim.products().join(","));
        shutdown_signal().await;
        let stats = sim.stats();
        sim.shutdown().await?;
        tracing::info!(trades = stats.trades, frames_sent = stats.frames_sent, connections = stats.connections, "simulator stopped");
        Ok(())
    })
}
