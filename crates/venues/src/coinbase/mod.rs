//! Coinbase Exchange (formerly Coinbase Pro): the public websocket feed
//! (`wss://ws-feed.exchange.coinbase.com`) and the public REST API
//! (`https://api.exchange.coinbase.com`).
//!
//! - `match` / `last_match` -> [`MarketEvent::Trade`] (the wire `side` is
//!   the maker's, so it is inverted into the taker's side)
//! - `ticker` -> [`MarketEvent::Ticker`] (never a trade: the match carries it)
//! - `snapshot` -> [`MarketEvent::BookSnapshot`]; `l2update` ->
//!   [`MarketEvent::BookDelta`]
//! - `heartbeat`, `subscriptions`, `error` -> the control variants of
//!   [`Decoded`]
//! - REST `GET /products`, `/products/{id}` -> [`MarketEvent::Product`];
//!   `/products/{id}/trades` -> [`MarketEvent::Trade`]s
//!
//! Docs followed: <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels>
//! and <https://docs.cdp.coinbase.com/exchange/reference/>.
//!
//! Hot path: one pass of serde_json over the borrowed frame (dispatching on
//! the leading `type` key, see `message.rs`), a direct scan of book level
//! arrays, strict decimal and time parsing, and a hash lookup that hands
//! back an interned symbol. Nothing is allocated per frame beyond a book
//! event's level vector.

mod book;
mod control;
mod de;
mod message;
mod rest;
pub mod session;
mod ticker;
mod trade;

pub use control::subscribe_request;

use marketpipe_model::{Exchange, InstrumentKey, MarketEvent, Product, Timestamp};

use self::{de::json_error, message::WsMessage, rest::Endpoint};
use crate::wire::registry::Registry;
use crate::{DecodeError, Decoded, VenueDecoder};

/// The Coinbase Exchange decoder: pure, I/O-free, one per connection or
/// replay stream.
///
/// It remembers the products it has learned (from REST metadata, or derived
/// from a `BASE-QUOTE` id the first time a frame names it) and a count of
/// unusable product-list entries; nothing else. A frame that fails leaves
/// both as they were and emits nothing.
#[derive(Debug)]
pub struct CoinbaseDecoder {
    registry: Registry,
    skipped_products: u64,
}

impl Default for CoinbaseDecoder {
    fn default() -> Self {
        CoinbaseDecoder { registry: Registry::new(Exchange::Coinbase), skipped_products: 0 }
    }
}

impl CoinbaseDecoder {
    /// A decoder that knows no products yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key of the product with native id `product_id`, if known.
    pub fn instrument(&self, product_id: &str) -> Option<&InstrumentKey> {
        self.registry.get(product_id).map(|p| &p.key)
    }

    /// The product with native id `product_id`, if known.
    pub fn product(&self, product_id: &str) -> Option<&Product> {
        self.registry.get(product_id)
    }

    /// How many products are known.
    pub fn product_count(&self) -> usize {
        self.registry.len()
    }

    /// How many `GET /products` entries were skipped as unusable (missing or
    /// malformed id or currencies) since this decoder was created.
    pub fn skipped_products(&self) -> u64 {
        self.skipped_products
    }

    /// Turns one parsed message into events. All validation happens before
    /// the registry is touched or anything is pushed, so an error leaves
    /// both as they were.
    fn apply(&mut self, msg: WsMessage<'_>, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        match msg {
            WsMessage::Match(m) => {
                self.emit(m.product_id()?, || m.validate(), |b, key| MarketEvent::Trade(b.into_trade(key, recv)), out)?;
                Ok(Decoded::Market { msg: "match" })
            }
            WsMessage::LastMatch(m) => {
                self.emit(m.product_id()?, || m.validate(), |b, key| MarketEvent::Trade(b.into_trade(key, recv)), out)?;
                Ok(Decoded::Market { msg: "last_match" })
            }
            WsMessage::Ticker(t) => {
                self.emit(t.product_id()?, || t.validate(), |b, key| MarketEvent::Ticker(Box::new(b.into_ticker(key, recv))), out)?;
                Ok(Decoded::Market { msg: "ticker" })
            }
            WsMessage::Snapshot(s) => {
                self.emit(s.product_id()?, || s.validate(), |b, key| MarketEvent::BookSnapshot(b.into_snapshot(key, recv)), out)?;
                Ok(Decoded::Market { msg: "snapshot" })
            }
            WsMessage::L2Update(u) => {
                self.emit(u.product_id()?, || u.validate(), |b, key| MarketEvent::BookDelta(b.into_delta(key, recv)), out)?;
                Ok(Decoded::Market { msg: "l2update" })
            }
            WsMessage::Heartbeat(h) => {
                let resolved = self.registry.resolve(h.product_id()?)?;
                let time = h.time()?;
                let instrument = self.registry.commit(resolved, out);
                Ok(Decoded::Heartbeat { instrument, sequence: h.sequence.0, last_trade_id: h.last_trade_id.0, time })
            }
            WsMessage::Subscriptions(s) => Ok(Decoded::Subscriptions { channels: s.into_channels()? }),
            WsMessage::Error(e) => {
                let (message, reason) = e.into_parts()?;
                Ok(Decoded::ExchangeError { message, reason })
            }
            WsMessage::Unknown(kind) => Err(DecodeError::UnknownType(kind)),
            WsMessage::Empty => Err(DecodeError::MissingField("type")),
            WsMessage::TypeNotFirst(entries) => {
                let frame = message::reorder(&entries).ok_or(DecodeError::MissingField("type"))?;
                match serde_json::from_str::<WsMessage<'_>>(&frame).map_err(json_error)? {
                    // Cannot happen (type is first now); never loop on it.
                    WsMessage::TypeNotFirst(_) => Err(DecodeError::MissingField("type")),
                    msg => self.apply(msg, recv, out),
                }
            }
        }
    }

    /// Resolves the product, validates the frame, and only then registers
    /// the product (announcing it if new) and emits the frame's event. That
    /// order is what keeps a failed frame from changing anything.
    fn emit<B>(
        &mut self,
        product_id: &str,
        validate: impl FnOnce() -> Result<B, DecodeError>,
        event: impl FnOnce(B, InstrumentKey) -> MarketEvent,
        out: &mut Vec<MarketEvent>,
    ) -> Result<(), DecodeError> {
        let resolved = self.registry.resolve(product_id)?;
        let body = validate()?;
        let key = self.registry.commit(resolved, out);
        out.push(event(body, key));
        Ok(())
    }
}

impl VenueDecoder for CoinbaseDecoder {
    fn exchange(&self) -> Exchange {
        Exchange::Coinbase
    }

    fn decode_ws(&mut self, frame: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        let msg = serde_json::from_str::<WsMessage<'_>>(frame).map_err(json_error)?;
        self.apply(msg, recv, out)
    }

    fn decode_rest(&mut self, url: &str, body: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        match rest::route(url)? {
            Endpoint::Products => {
                self.skipped_products += rest::products(body, &mut self.registry, out)?;
                Ok(Decoded::Rest { endpoint: "products" })
            }
            Endpoint::Product(id) => {
                rest::product(id, body, &mut self.registry, out)?;
                Ok(Decoded::Rest { endpoint: "product" })
            }
            Endpoint::Trades(id) => {
                rest::trades(id, body, recv, &mut self.registry, out)?;
                Ok(Decoded::Rest { endpoint: "trades" })
            }
        }
    }
}
