//! KuCoin spot: the public websocket feed (server and token from
//! `POST /api/v1/bullet-public`) and the public REST API
//! (`https://api.kucoin.com`).
//!
//! - `/market/match:{symbols}` (subject `trade.l3match`) ->
//!   [`MarketEvent::Trade`]; the wire `side` is already the taker's, the
//!   trade id an opaque string ([`marketpipe_model::TradeId::Str`]), the
//!   time nanoseconds
//! - `/market/ticker:all` (subject = symbol) and `/market/ticker:{symbol}`
//!   -> [`MarketEvent::Ticker`]
//! - `/market/level2:{symbols}` (subject `trade.l2update`) ->
//!   [`MarketEvent::BookDelta`] once the book is synced with a REST
//!   snapshot, [`MarketEvent::BookReset`] when it loses sync (see Order
//!   books below)
//! - `welcome`, `ack`, `pong`, `error` -> the control variants of
//!   [`Decoded`] (`welcome` and `pong` as `Decoded::Control`, with no events)
//! - REST `GET /api/v2/symbols` (or v1), `/api/v2/symbols/{symbol}` ->
//!   [`MarketEvent::Product`]; `GET /api/v1/market/orderbook/level2_20`,
//!   `level2_50`, `level2_100`, `/api/v3/market/orderbook/level2` (and its
//!   older v1/v2 paths) -> [`MarketEvent::BookSnapshot`];
//!   `POST /api/v1/bullet-public` -> [`bullet`] (counted as
//!   `Decoded::Rest { endpoint: "bullet" }`, no events)
//!
//! Docs followed: <https://www.kucoin.com/docs-new/websocket-api/base-info/introduction>,
//! the spot public channels under <https://www.kucoin.com/docs/websocket/spot-trading/public-channels/level2-market-data>,
//! and the REST market data pages under <https://www.kucoin.com/docs/rest/spot-trading/market-data/get-symbols-list>.
//!
//! # Symbols
//!
//! A product's normalized symbol comes from the symbol list's
//! `baseCurrency`/`quoteCurrency` (native `BCHSV-USDT` is `BSV-USDT`). A
//! frame naming a symbol not listed yet is derived from its `BASE-QUOTE`
//! form and announced once; later metadata replaces it (see `registry.rs`).
//!
//! # Order books
//!
//! KuCoin pushes only increments; the book starts from a REST snapshot
//! fetched by the runtime. Per symbol the decoder buffers increments until
//! a snapshot joins them, then emits the snapshot and the deltas that
//! follow it, exactly as KuCoin's calibration procedure describes (see
//! `sync.rs` for every rule and edge case). The runtime learns which
//! symbols need a snapshot from [`KucoinDecoder::take_snapshot_requests`]
//! (or [`KucoinDecoder::awaiting_snapshot`]), fetches
//! [`snapshot_url`] for each, and feeds the response to
//! [`VenueDecoder::decode_rest`] like any other REST response, so a replay
//! of the capture reproduces the same book.
//!
//! # Hot path
//!
//! One pass of serde_json over the borrowed frame: the envelope visitor
//! reads `type` and `topic`, then parses `data` directly into the topic's
//! struct (see `message.rs`); book level arrays are read by a direct
//! scanner; numbers and times are parsed strictly; one hash lookup finds
//! the interned product key and the book state together. Nothing is
//! allocated per frame beyond the events (a trade's id string, a delta's
//! change vector).

mod book;
mod control;
mod de;
mod message;
mod registry;
mod rest;
mod scan;
pub mod session;
mod sync;
mod ticker;
mod trade;

use std::collections::BTreeSet;

pub use control::{ping_request, subscribe_request, topic, unsubscribe_request, MAX_SYMBOLS_PER_TOPIC};
use marketpipe_model::{Exchange, InstrumentKey, MarketEvent, Product, Timestamp};
pub use rest::{bullet, Bullet};

use self::{
    book::{L2Data, SeqChange},
    de::json_error,
    message::{Data, TopicKind, WsFrame},
    registry::{Entry, Registry},
    rest::Endpoint,
    sync::{Ctx, Pending, Plan},
    ticker::TickerData,
    trade::MatchData,
};
use crate::{DecodeError, Decoded, VenueDecoder};

/// The public REST API.
pub const REST_URL: &str = "https://api.kucoin.com";

/// How many level-2 messages a symbol's book buffers while waiting for a
/// snapshot, by default. A busy symbol sends a few dozen a second, and a
/// snapshot normally arrives within a second or two of the request, so
/// this leaves a wide margin while bounding memory per symbol.
pub const DEFAULT_BOOK_BUFFER: usize = 2048;

/// The REST URL of the level-2 snapshot of `symbol` (native) under
/// `rest_url` (no trailing slash): the public top-100 book,
/// `GET /api/v1/market/orderbook/level2_100?symbol=BTC-USDT`. (The full
/// book, `/api/v3/market/orderbook/level2`, needs an API key; its
/// responses decode too.)
pub fn snapshot_url(rest_url: &str, symbol: &str) -> String {
    let mut url = String::with_capacity(rest_url.len() + 48 + symbol.len());
    url.push_str(rest_url);
    url.push_str("/api/v1/market/orderbook/level2_100?symbol=");
    crate::session::push_path_segment(&mut url, symbol);
    url
}

/// Counters of what the decoder skipped or repaired, since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KucoinStats {
    /// Symbol-list entries skipped as unusable.
    pub skipped_symbols: u64,
    /// Level-2 messages that did not follow the live book (each emitted a
    /// `BookReset{reason:"sequence_gap"}`).
    pub sequence_gaps: u64,
    /// Level-2 messages already covered by the book (dropped).
    pub stale_updates: u64,
    /// Snapshots too old to use: older than the live book (ignored), or
    /// older than the buffered stream (`BookReset{reason:"stale_snapshot"}`).
    pub stale_snapshots: u64,
    /// Buffered level-2 messages dropped because a buffer was full.
    pub buffer_overflows: u64,
}

/// Where one symbol's order book sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookSyncState {
    /// No level-2 message or snapshot seen yet.
    Idle,
    /// Waiting for a snapshot; `buffered` level-2 messages are queued.
    Buffering {
        /// Messages queued.
        buffered: usize,
    },
    /// In sync; `sequence` is the last sequence applied.
    Live {
        /// The book's sequence.
        sequence: u64,
    },
}

/// The KuCoin spot decoder: pure, I/O-free, one per replay stream or live
/// pipeline.
///
/// It remembers the symbols it has learned (from REST metadata, or derived
/// from `BASE-QUOTE` the first time a frame names one), each symbol's book
/// sync state, the symbols waiting for a snapshot, and counters. A frame
/// that fails to decode leaves all of it as it was and emits nothing.
#[derive(Debug)]
pub struct KucoinDecoder {
    registry: Registry,
    book_buffer: usize,
    requests: BTreeSet<Box<str>>,
    stats: KucoinStats,
}

impl Default for KucoinDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl KucoinDecoder {
    /// A decoder that knows no symbols yet, buffering at most
    /// [`DEFAULT_BOOK_BUFFER`] level-2 messages per book.
    pub fn new() -> Self {
        Self::with_book_buffer(DEFAULT_BOOK_BUFFER)
    }

    /// A decoder buffering at most `limit` (at least 1) level-2 messages per
    /// book while it waits for a snapshot.
    pub fn with_book_buffer(limit: usize) -> Self {
        KucoinDecoder { registry: Registry::default(), book_buffer: limit.max(1), requests: BTreeSet::new(), stats: KucoinStats::default() }
    }

    /// The key of the product with native symbol `symbol`, if known.
    pub fn instrument(&self, symbol: &str) -> Option<&InstrumentKey> {
        self.registry.get(symbol).map(|e| &e.product.key)
    }

    /// The product with native symbol `symbol`, if known.
    pub fn product(&self, symbol: &str) -> Option<&Product> {
        self.registry.get(symbol).map(|e| &e.product)
    }

    /// How many symbols are known.
    pub fn product_count(&self) -> usize {
        self.registry.len()
    }

    /// The counters.
    pub fn stats(&self) -> KucoinStats {
        self.stats
    }

    /// Where the book of `symbol` (native) stands, if the symbol is known.
    pub fn book_state(&self, symbol: &str) -> Option<BookSyncState> {
        self.registry.get(symbol).map(|e| e.book.state())
    }

    /// The native symbols whose book is waiting for a snapshot, sorted:
    /// level-2 messages arrived and no snapshot joined them yet, or the book
    /// lost sync. Level-triggered: a symbol stays listed until a usable
    /// snapshot arrives, so a runtime polling this must not refetch while a
    /// request is in flight.
    pub fn awaiting_snapshot(&self) -> Vec<&str> {
        let mut v: Vec<&str> =
            self.registry.entries().filter(|(_, e)| matches!(e.book.state(), BookSyncState::Buffering { .. })).map(|(k, _)| k).collect();
        v.sort_unstable();
        v
    }

    /// The native symbols that started needing a snapshot since the last
    /// call, sorted: each time a book starts buffering (first level-2
    /// message, a sequence gap, a resync), or a snapshot it got was too old
    /// or its buffer overflowed. Edge-triggered: each need is reported
    /// once, and dropped if a snapshot satisfies it before it is taken. The
    /// live runtime calls this after decoding, and fetches
    /// [`snapshot_url`] for each symbol returned; the response goes back
    /// through [`VenueDecoder::decode_rest`].
    pub fn take_snapshot_requests(&mut self) -> Vec<String> {
        std::mem::take(&mut self.requests).into_iter().map(String::from).collect()
    }

    /// Takes the book of `symbol` (native) out of sync on request, e.g.
    /// when the connection carrying it dropped or the engine found it
    /// crossed: a live book emits `BookReset{reason:"resync"}` on `out`,
    /// and the symbol is listed for a new snapshot. Returns `false` for a
    /// symbol never seen.
    pub fn resync(&mut self, symbol: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> bool {
        let Some(entry) = self.registry.get_mut(symbol) else { return false };
        let mut ctx = Ctx { limit: self.book_buffer, stats: &mut self.stats, requests: &mut self.requests };
        entry.book.resync(symbol, &entry.product.key, recv, &mut ctx, out);
        true
    }

    /// The key of `native`, deriving, registering and announcing the
    /// product if it is new. Call only once the frame has validated.
    fn key_for(&mut self, native: &str, field: &'static str, out: &mut Vec<MarketEvent>) -> Result<InstrumentKey, DecodeError> {
        if let Some(entry) = self.registry.get(native) {
            return Ok(entry.product.key.clone());
        }
        let product = registry::derive(native, field)?;
        Ok(self.registry.insert_derived(product, out).product.key.clone())
    }

    /// A `message` frame.
    fn message(&mut self, frame: &WsFrame<'_>, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        let topic = de::required_str(&frame.topic, "topic")?;
        let kind = TopicKind::of(topic);
        if kind == TopicKind::Other {
            let channel = topic.split(':').next().unwrap_or_default();
            return Err(DecodeError::UnknownType(de::bounded(channel)));
        }
        // `data` came before `topic`: parse it now (rare).
        let parsed;
        let data = match &frame.data {
            Data::Absent => return Err(DecodeError::MissingField("data")),
            Data::Raw(raw) => {
                parsed = message::parse_raw(raw, kind).map_err(json_error)?;
                &parsed
            }
            data => data,
        };
        // A trade or level-2 frame names its symbol twice, in its topic and
        // in its data; one that disagrees with itself is not trusted (a
        // replay split by product also routes it by its topic).
        let topic_symbol = topic.split_once(':').map(|(_, s)| s).filter(|s| !s.contains(','));
        let agrees = |native: &str| match topic_symbol {
            Some(named) if named != native => Err(DecodeError::BadField {
                field: "symbol",
                detail: format!("{} is not the topic's {}", de::snippet(native), de::snippet(named)),
            }),
            _ => Ok(()),
        };
        match data {
            Data::Match(m) => {
                agrees(m.symbol()?)?;
                self.trade(m, recv, out)
            }
            Data::Level2(l) => {
                agrees(l.header()?.symbol)?;
                self.level2(l, recv, out)
            }
            Data::Ticker(t) if kind == TopicKind::TickerAll => {
                self.ticker(de::required_str(&frame.subject, "subject")?, "subject", t, recv, out)
            }
            Data::Ticker(t) => {
                let symbol = topic.split_once(':').map(|(_, s)| s).unwrap_or_default();
                if symbol.is_empty() || symbol.contains(',') {
                    return Err(DecodeError::BadField { field: "topic", detail: format!("{} names no single symbol", de::snippet(topic)) });
                }
                self.ticker(symbol, "topic", t, recv, out)
            }
            Data::Absent | Data::Raw(_) => Err(DecodeError::MissingField("data")),
        }
    }

    /// A trade.
    fn trade(&mut self, m: &MatchData<'_>, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        let native = m.symbol()?;
        let body = m.validate()?;
        let key = self.key_for(native, "symbol", out)?;
        out.push(MarketEvent::Trade(body.into_trade(key, recv)));
        Ok(Decoded::Market { msg: "match" })
    }

    /// A ticker of `native` (taken from `field`).
    fn ticker(
        &mut self,
        native: &str,
        field: &'static str,
        t: &TickerData<'_>,
        recv: Timestamp,
        out: &mut Vec<MarketEvent>,
    ) -> Result<Decoded, DecodeError> {
        let body = t.validate()?;
        let key = self.key_for(native, field, out)?;
        out.push(MarketEvent::Ticker(Box::new(body.into_ticker(key, recv))));
        Ok(Decoded::Market { msg: "ticker" })
    }

    /// A level-2 increment: validated in full, then applied, buffered or
    /// dropped as the symbol's sync state says (see `sync.rs`).
    fn level2(&mut self, data: &L2Data<'_>, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        const MSG: Decoded = Decoded::Market { msg: "l2update" };
        let h = data.header()?;
        let native = h.symbol;
        // Everything that can fail happens before the first mutation.
        let pending = |h: &book::L2Header<'_, '_>| -> Result<Pending, DecodeError> {
            let mut changes = Vec::with_capacity(h.capacity());
            h.changes(&mut changes, |v, change, seq| v.push(SeqChange { change, seq }))?;
            Ok(Pending { start: h.start, end: h.end, time: h.time, recv, changes })
        };
        if let Some(Entry { product, book }) = self.registry.get_mut(native) {
            match book.plan(h.start, h.end) {
                Plan::Apply { after } => {
                    let mut changes = Vec::with_capacity(h.capacity());
                    h.changes(&mut changes, |v, change, seq| {
                        if seq > after {
                            v.push(change);
                        }
                    })?;
                    book.apply(&product.key, h.end, h.time, recv, changes, out);
                }
                Plan::Stale => {
                    h.changes(&mut Vec::<()>::new(), |_, _, _| {})?;
                    self.stats.stale_updates += 1;
                }
                Plan::Buffer => {
                    let pending = pending(&h)?;
                    let mut ctx = Ctx { limit: self.book_buffer, stats: &mut self.stats, requests: &mut self.requests };
                    book.buffer(native, &product.key, pending, &mut ctx, out);
                }
            }
            return Ok(MSG);
        }
        let product = registry::derive(native, "symbol")?;
        let pending = pending(&h)?;
        let Entry { product, book } = self.registry.insert_derived(product, out);
        let mut ctx = Ctx { limit: self.book_buffer, stats: &mut self.stats, requests: &mut self.requests };
        book.buffer(native, &product.key, pending, &mut ctx, out);
        Ok(MSG)
    }

    /// A level-2 snapshot of `native`.
    fn snapshot(&mut self, native: &str, body: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        let snapshot = rest::snapshot_data(rest::unwrap(body)?)?.validate()?;
        if self.registry.get(native).is_none() {
            let product = registry::derive(native, "symbol")?;
            self.registry.insert_derived(product, out);
        }
        if let Some(Entry { product, book }) = self.registry.get_mut(native) {
            let mut ctx = Ctx { limit: self.book_buffer, stats: &mut self.stats, requests: &mut self.requests };
            book.snapshot(native, &product.key, snapshot, recv, &mut ctx, out);
        }
        Ok(Decoded::Rest { endpoint: "orderbook" })
    }
}

impl VenueDecoder for KucoinDecoder {
    fn exchange(&self) -> Exchange {
        Exchange::Kucoin
    }

    fn awaiting_snapshot(&self, out: &mut Vec<String>) {
        out.extend(KucoinDecoder::awaiting_snapshot(self).into_iter().map(str::to_owned));
    }

    fn native_id(&self, key: &InstrumentKey) -> Option<String> {
        self.registry.entries().find(|(_, e)| &e.product.key == key).map(|(native, _)| native.to_owned())
    }

    fn decode_ws(&mut self, frame: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        let frame: WsFrame<'_> = serde_json::from_str(frame).map_err(json_error)?;
        match de::required_str(&frame.kind, "type")? {
            "message" => self.message(&frame, recv, out),
            "welcome" => Ok(Decoded::Control { msg: "welcome" }),
            "pong" => Ok(Decoded::Control { msg: "pong" }),
            "ack" => Ok(Decoded::Subscriptions { channels: control::ack_channels(frame.id)? }),
            "error" => {
                let data = match frame.data {
                    Data::Absent => None,
                    Data::Raw(raw) => Some(raw),
                    Data::Match(_) | Data::Level2(_) | Data::Ticker(_) => {
                        return Err(DecodeError::InvalidJson("an error's data must be a string".to_owned()));
                    }
                };
                let (message, reason) = control::error_parts(frame.code, data)?;
                Ok(Decoded::ExchangeError { message, reason })
            }
            other => Err(DecodeError::UnknownType(de::bounded(other))),
        }
    }

    fn decode_rest(&mut self, url: &str, body: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        match rest::route(url)? {
            Endpoint::Bullet => {
                rest::bullet(body)?;
                Ok(Decoded::Rest { endpoint: "bullet" })
            }
            Endpoint::Symbols => {
                let (products, skipped) = rest::symbols(rest::unwrap(body)?)?;
                self.stats.skipped_symbols += skipped;
                for product in products {
                    self.registry.upsert(product.clone());
                    out.push(MarketEvent::Product(product));
                }
                Ok(Decoded::Rest { endpoint: "symbols" })
            }
            Endpoint::Symbol(symbol) => {
                let product = rest::symbol(&symbol, rest::unwrap(body)?)?;
                self.registry.upsert(product.clone());
                out.push(MarketEvent::Product(product));
                Ok(Decoded::Rest { endpoint: "symbol" })
            }
            Endpoint::OrderBook(symbol) => self.snapshot(&symbol, body, recv, out),
        }
    }
}
