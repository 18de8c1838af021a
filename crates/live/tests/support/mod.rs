//! Small in-test exchange servers over real loopback sockets: a scriptable
//! Coinbase-like websocket feed and a REST trades endpoint.

#![allow(dead_code)] // each test binary uses a different part

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Arc, Mutex,
    },
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use marketpipe_live::{Backoff, LiveBody, LiveRecord};
use tokio::{net::TcpListener, sync::mpsc, time::Instant};
use tokio_tungstenite::tungstenite::Message;

/// What the websocket server does on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Ack, one binary frame, then heartbeats; acks re-subscribes.
    Normal,
    /// Never acknowledge.
    NoAck,
    /// Answer the subscribe with an `error` frame.
    Reject,
    /// Ack, heartbeats, then drop the TCP connection without a close frame.
    DropAfter(Duration),
    /// Ack, then go silent while keeping the socket open.
    Stall,
    /// Ack, then send this many numbered data frames at once, then heartbeats.
    Burst(usize),
}

/// What a websocket server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// Text frames received: (connection index, text).
    pub frames: Mutex<Vec<(usize, String)>>,
    /// Close frames received, by connection index.
    pub closes: Mutex<Vec<usize>>,
}

impl Seen {
    pub fn frames(&self) -> Vec<(usize, String)> {
        self.frames.lock().unwrap().clone()
    }
}

/// A running websocket server.
pub struct WsServer {
    pub url: String,
    pub seen: Arc<Seen>,
}

pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(40);

/// Starts a websocket server; `mode(i)` scripts the i-th connection (0-based).
pub async fn ws_server(mode: impl Fn(usize) -> Mode + Send + Sync + 'static) -> WsServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let mode = Arc::new(mode);
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let index = s.connections.fetch_add(1, SeqCst);
            let (s, mode) = (s.clone(), mode.clone());
            tokio::spawn(async move {
                if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                    serve(ws, index, mode(index), s).await;
                }
            });
        }
    });
    WsServer { url, seen }
}

fn ack(products: &[String], channels: &[String]) -> String {
    let channels: Vec<serde_json::Value> = channels.iter().map(|c| serde_json::json!({"name": c, "product_ids": products})).collect();
    serde_json::json!({"type": "subscriptions", "channels": channels}).to_string()
}

fn heartbeat(product: &str, n: u64) -> String {
    format!(r#"{{"type":"heartbeat","sequence":{n},"last_trade_id":{n},"product_id":"{product}","time":"2026-01-01T00:00:00.000001Z"}}"#)
}

/// The string array `key` of a JSON frame.
pub fn strings(frame: &str, key: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
    v[key].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

async fn serve(mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, index: usize, mode: Mode, seen: Arc<Seen>) {
    // The subscribe frame.
    let subscribe = loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                seen.frames.lock().unwrap().push((index, t.to_string()));
                break t.to_string();
            }
            Some(Ok(_)) => continue,
            _ => return,
        }
    };
    let products = strings(&subscribe, "product_ids");
    let channels = strings(&subscribe, "channels");
    let ok = match mode {
        Mode::NoAck => false,
        Mode::Reject => {
            let error = r#"{"type":"error","message":"Failed to subscribe","reason":"XRP-XYZ is not a valid product"}"#;
            let _ = ws.send(Message::text(error)).await;
            false
        }
        _ => ws.send(Message::text(ack(&products, &channels))).await.is_ok(),
    };
    let mut silent = !ok || mode == Mode::Stall;
    if mode == Mode::Normal {
        let _ = ws.send(Message::binary(vec![1u8, 2, 3])).await;
    }
    if let Mode::Burst(n) = mode {
        for i in 0..n {
            let _ = ws.send(Message::text(format!(r#"{{"type":"match","trade_id":{i},"product_id":"BTC-USD"}}"#))).await;
        }
    }
    let drop_at = match mode {
        Mode::DropAfter(d) => Some(Instant::now() + d),
        _ => None,
    };
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    let mut n = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(drop_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))), if drop_at.is_some() => {
                return; // dropped without a close frame
            }
            _ = tick.tick(), if !silent => {
                n += 1;
                for p in &products {
                    if ws.send(Message::text(heartbeat(p, n))).await.is_err() {
                        return;
                    }
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    seen.frames.lock().unwrap().push((index, t.to_string()));
                    let kind = serde_json::from_str::<serde_json::Value>(&t).ok().and_then(|v| v["type"].as_str().map(str::to_owned));
                    if kind.as_deref() == Some("subscribe") && !silent {
                        let _ = ws.send(Message::text(ack(&strings(&t, "product_ids"), &strings(&t, "channels")))).await;
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    seen.closes.lock().unwrap().push(index);
                    silent = true;
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

/// Fast timings for tests.
pub fn fast_backoff() -> Backoff {
    Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(80), reset_after: Duration::from_secs(30) }
}

/// Receives records until `done` holds for the list so far, or panics after `limit`.
pub async fn collect_until(rx: &mut mpsc::Receiver<LiveRecord>, limit: Duration, done: impl Fn(&[LiveRecord]) -> bool) -> Vec<LiveRecord> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while !done(&out) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => out.push(r),
            Ok(None) => panic!("channel closed; got {out:#?}"),
            Err(_) => panic!("timed out; got {} records: {out:#?}", out.len()),
        }
    }
    out
}

/// Number of `Open` records.
pub fn opens(records: &[LiveRecord]) -> usize {
    records.iter().filter(|r| matches!(r.body, LiveBody::Open { .. })).count()
}

/// `(conn, reason)` of each `Close` record.
pub fn closes(records: &[LiveRecord]) -> Vec<(u64, String)> {
    records
        .iter()
        .filter_map(|r| match &r.body {
            LiveBody::Close { conn, reason } => Some((*conn, reason.clone())),
            _ => None,
        })
        .collect()
}

/// Connection ids of `Open` records, in order.
pub fn open_conns(records: &[LiveRecord]) -> Vec<u64> {
    records
        .iter()
        .filter_map(|r| match &r.body {
            LiveBody::Open { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect()
}

/// Whether a record is a received heartbeat on `conn`.
pub fn is_heartbeat_on(r: &LiveRecord, conn: u64) -> bool {
    matches!(&r.body, LiveBody::Ws { conn: c, text } if *c == conn && text.contains("heartbeat"))
}

/// Whether a record is a received subscription acknowledgement.
pub fn is_ack(r: &LiveRecord) -> bool {
    matches!(&r.body, LiveBody::Ws { text, .. } if text.contains("subscriptions"))
}
