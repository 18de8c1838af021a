//! Measures the simulator's CPU cost at a given rate, with N websocket
//! clients subscribed to everything (read in this process, so their cost is
//! included) and a capture file being written.
//!
//! ```text
//! cargo run --release -p marketpipe-sim --example sim_load -- RATE SECONDS CLIENTS [CAPTURE]
//! ```
//!
//! Prints frames generated and received and CPU seconds used (Linux:
//! /proc/self/stat).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use marketpipe_sim::{SimConfig, SimError};
use tokio_tungstenite::tungstenite::Message;

fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), SimError> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let rate: f64 = arg(1, "5000").parse().unwrap_or(5000.0);
    let secs: u64 = arg(2, "10").parse().unwrap_or(10);
    let clients: usize = arg(3, "1").parse().unwrap_or(1);
    let capture = args.get(4).map(std::path::PathBuf::from);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(SimError::bind)?;
    let config = SimConfig { rate, products: 3, duration: Some(Duration::from_secs(secs)), write_capture: capture, ..SimConfig::default() };
    let sim = marketpipe_sim::start(config, listener).await?;
    let mut readers = Vec::new();
    for _ in 0..clients {
        let (mut ws, _) = tokio_tungstenite::connect_async(sim.ws_url()).await.map_err(|e| SimError::Config(e.to_string()))?;
        let ids: Vec<&str> = vec!["BTC-USD", "ETH-USD", "SOL-USD"];
        let sub = marketpipe_venues::coinbase::subscribe_request(&ids, &["level2_batch", "matches", "ticker", "heartbeat"]);
        ws.send(Message::Text(sub.into())).await.map_err(|e| SimError::Config(e.to_string()))?;
        readers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
                n += 1;
            }
            n
        }));
    }
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    sim.generation_done().await;
    let (cpu1, wall) = (cpu_seconds(), t0.elapsed());
    let stats = sim.stats();
    sim.shutdown().await?;
    let mut received = 0;
    for r in readers {
        received += r.await.unwrap_or(0);
    }
    let cpu = cpu1.zip(cpu0).map(|(b, a)| b - a);
    println!(
        "rate {rate}/s for {:.1}s: generated {} frames ({:.0}/s), clients received {received}, cpu {:?} s = {:.1}% of one core",
        wall.as_secs_f64(),
        stats.market_frames,
        stats.market_frames as f64 / wall.as_secs_f64(),
        cpu,
        cpu.map_or(f64::NAN, |c| 100.0 * c / wall.as_secs_f64()),
    );
    Ok(())
}
