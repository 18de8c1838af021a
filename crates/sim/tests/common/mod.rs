//! Shared test helpers: a simulator on a free loopback port, a websocket
//! client, a REST client, and checkers built on the real Coinbase decoder.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use marketpipe_model::{Decimal, MarketEvent, Timestamp, Trade};
use marketpipe_sim::{SimConfig, SimHandle};
use marketpipe_venues::{coinbase::CoinbaseDecoder, DecodeError, Decoded, VenueDecoder};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

/// A simulator on a free port.
pub async fn sim(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    marketpipe_sim::start(config, listener).await.unwrap()
}

/// A fast, short market: sub-second tests.
pub fn fast(seed: u64, products: usize, duration_ms: u64) -> SimConfig {
    SimConfig { seed, products, rate: 20_000.0, duration: Some(Duration::from_millis(duration_ms)), ..SimConfig::default() }
}

/// [`fast`], speaking `exchange`.
pub fn fast_on(exchange: marketpipe_sim::Exchange, seed: u64, products: usize, duration_ms: u64) -> SimConfig {
    SimConfig { exchange, ..fast(seed, products, duration_ms) }
}

/// One side of a book as a map, from decoded levels.
pub fn side_of(levels: &[marketpipe_model::Level]) -> Side {
    levels.iter().map(|l| (l.price, l.size)).collect()
}

/// What reading the next frame gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A text frame.
    Text(String),
    /// Nothing within the timeout.
    Timeout,
    /// The connection ended (close frame, error or EOF).
    Closed,
}

/// What reading the next frame of any kind gave (see [`Client::next_raw`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Raw {
    /// A text frame.
    Text(String),
    /// A websocket Ping (answered by the client library on its next read).
    Ping,
    /// Nothing within the timeout.
    Timeout,
    /// The connection ended.
    Closed,
}

/// A websocket client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Client {
    /// Connects to `url`.
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Client { ws }
    }

    /// Connects to `url`, or the handshake's error (an HTTP refusal).
    pub async fn try_connect(url: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        tokio_tungstenite::connect_async(url).await.map(|(ws, _)| Client { ws })
    }

    /// The next frame, pings included (pongs are skipped).
    pub async fn next_raw(&mut self, timeout: Duration) -> Raw {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Raw::Timeout,
                Ok(Some(Ok(Message::Text(t)))) => return Raw::Text(t.as_str().to_owned()),
                Ok(Some(Ok(Message::Ping(_)))) => return Raw::Ping,
                Ok(Some(Ok(Message::Pong(_) | Message::Frame(_)))) => continue,
                Ok(Some(Ok(Message::Binary(_)))) => panic!("the simulator sent a binary frame"),
                Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return Raw::Closed,
            }
        }
    }

    /// Sends a websocket Ping.
    pub async fn ping(&mut self) {
        self.ws.send(Message::Ping(Vec::new().into())).await.unwrap();
    }

    /// Sends a text frame.
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Subscribes `products` to `channels`.
    pub async fn subscribe(&mut self, products: &[&str], channels: &[&str]) {
        self.send(&marketpipe_venues::coinbase::subscribe_request(products, channels)).await;
    }

    /// The next text frame, skipping pings and pongs.
    pub async fn next(&mut self, timeout: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Next::Timeout,
                Ok(Some(Ok(Message::Text(t)))) => return Next::Text(t.as_str().to_owned()),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
                Ok(Some(Ok(Message::Binary(_)))) => panic!("the simulator sent a binary frame"),
                Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return Next::Closed,
            }
        }
    }

    /// The next text frame, which must come within 5 s.
    pub async fn expect(&mut self) -> String {
        match self.next(Duration::from_secs(5)).await {
            Next::Text(t) => t,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Every frame until none comes for `idle`.
    pub async fn drain(&mut self, idle: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Next::Text(t) = self.next(idle).await {
            out.push(t);
        }
        out
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A REST client (reqwest is built without a crypto provider; plain HTTP
/// still needs one installed).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// One decoded frame.
#[derive(Debug)]
pub struct DecodedFrame {
    /// What it was.
    pub decoded: Decoded,
    /// Its events.
    pub events: Vec<MarketEvent>,
}

/// Decodes with the real decoder.
pub fn decode(decoder: &mut CoinbaseDecoder, frame: &str) -> Result<DecodedFrame, DecodeError> {
    let mut events = Vec::new();
    let decoded = decoder.decode_ws(frame, Timestamp(0), &mut events)?;
    Ok(DecodedFrame { decoded, events })
}

/// One side of a rebuilt book: price -> size.
pub type Side = BTreeMap<Decimal, Decimal>;

/// Order books rebuilt from snapshots and deltas, checked after every event.
#[derive(Debug, Default)]
pub struct Books {
    books: HashMap<String, (Side, Side)>,
    /// Deltas applied.
    pub deltas: usize,
    /// Snapshots applied.
    pub snapshots: usize,
}

impl Books {
    /// Applies a book event; panics on a delta before any snapshot, a
    /// removal of a missing level, or a crossed book.
    pub fn apply(&mut self, event: &MarketEvent) {
        match event {
            MarketEvent::BookSnapshot(s) => {
                self.snapshots += 1;
                let bids = s.bids.iter().map(|l| (l.price, l.size)).collect();
                let asks = s.asks.iter().map(|l| (l.price, l.size)).collect();
                self.books.insert(s.instrument.symbol.to_string(), (bids, asks));
                self.check(s.instrument.symbol.as_str());
            }
            MarketEvent::BookDelta(d) => {
                self.deltas += 1;
                let symbol = d.instrument.symbol.as_str();
                let (bids, asks) = self.books.get_mut(symbol).unwrap_or_else(|| panic!("l2update for {symbol} before its snapshot"));
                for c in &d.changes {
                    let side = match c.side {
                        marketpipe_model::BookSide::Bid => &mut *bids,
                        marketpipe_model::BookSide::Ask => &mut *asks,
                    };
                    if c.size.is_zero() {
                        assert!(side.remove(&c.price).is_some(), "{symbol}: removed missing level {}", c.price);
                    } else {
                        side.insert(c.price, c.size);
                    }
                }
                self.check(symbol);
            }
            _ => {}
        }
    }

    fn check(&self, symbol: &str) {
        let (bids, asks) = &self.books[symbol];
        if let (Some((bb, _)), Some((ba, _))) = (bids.last_key_value(), asks.first_key_value()) {
            assert!(bb < ba, "{symbol} crossed: bid {bb} >= ask {ba}");
        }
        assert!(bids.len() >= 40 && asks.len() >= 40, "{symbol} book too thin");
    }

    /// Whether a product has a book.
    pub fn has(&self, symbol: &str) -> bool {
        self.books.contains_key(symbol)
    }

    /// A product's book: bids and asks.
    pub fn book(&self, symbol: &str) -> Option<&(Side, Side)> {
        self.books.get(symbol)
    }
}

/// Checks trade ids are consecutive per product.
#[derive(Debug, Default)]
pub struct TradeIds {
    last: HashMap<String, u64>,
    /// Every trade seen, in order.
    pub trades: Vec<Trade>,
}

impl TradeIds {
    /// Records a trade; panics on a hole or a repeat.
    pub fn observe(&mut self, trade: &Trade) {
        let id = trade.id.as_u64().expect("numeric trade ids");
        let symbol = trade.instrument.symbol.to_string();
        if let Some(prev) = self.last.insert(symbol.clone(), id) {
            assert_eq!(id, prev + 1, "{symbol}: trade id {id} after {prev}");
        }
        self.trades.push(trade.clone());
    }
}

/// Every trade of `product` from REST, walking back page by page with the
/// `CB-AFTER` cursor; checks the headers and the page order on the way.
pub async fn rest_history(http: &reqwest::Client, rest: &str, product: &str, limit: usize) -> Vec<Trade> {
    let mut decoder = CoinbaseDecoder::new();
    let mut all: Vec<Trade> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{rest}/products/{product}/trades?limit={limit}&after={c}"),
            None => format!("{rest}/products/{product}/trades?limit={limit}"),
        };
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let (after, before) = (header("cb-after"), header("cb-before"));
        let body = resp.text().await.unwrap();
        let wire: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert!(wire.len() <= limit);
        let ids: Vec<u64> = wire.iter().map(|t| t["trade_id"].as_u64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "a page is newest first without holes: {ids:?}");
        if ids.is_empty() {
            assert_eq!((after, before), (None, None), "an empty page has no cursors");
            break;
        }
        assert_eq!(before.as_deref(), Some(ids[0].to_string().as_str()), "CB-BEFORE is the largest id");
        assert_eq!(after.as_deref(), Some(ids[ids.len() - 1].to_string().as_str()), "CB-AFTER is the smallest id");
        let mut events = Vec::new();
        decoder.decode_rest(&url, &body, Timestamp(0), &mut events).unwrap();
        let mut page: Vec<Trade> = events
            .into_iter()
            .filter_map(|e| match e {
                MarketEvent::Trade(t) => Some(t),
                _ => None,
            })
            .collect();
        // Decoded oldest first; the page before it (newer) must follow on directly.
        if let (Some(newest_here), Some(oldest_before)) = (page.last(), all.first()) {
            assert_eq!(newest_here.id.as_u64().unwrap() + 1, oldest_before.id.as_u64().unwrap(), "pages overlap or leave a hole");
        }
        page.append(&mut all);
        all = page;
        cursor = after;
    }
    all
}

/// A trade without its receive time, for comparing sources.
pub fn strip(t: &Trade) -> Trade {
    Trade { recv_time: Timestamp(0), ..t.clone() }
}
