//! The symbol registry: native Binance symbol -> product and book sync.
//!
//! Products come only from exchangeInfo (`baseAsset`/`quoteAsset`): a
//! Binance symbol is base and quote glued together and cannot be split
//! reliably without it. Each symbol is registered under its native name
//! (`NKNUSDT`, as REST and event payloads spell it), its lower-case stream
//! name (`nknusdt`) and its upper-case form, and gets a small index into a
//! vector that holds
//! its product (with the interned key every event clones) and its book
//! sync state. Indices follow registration order, which is what makes
//! `needs_snapshot` list symbols in a deterministic order.
//!
//! It also knows the stream names Binance sends each symbol's payloads on
//! (`nknusdt@aggTrade`, `nknusdt@depth@100ms`...), so a combined-stream
//! frame finds its payload type and its symbol with one lookup of the name
//! instead of parsing it and looking the symbol up again.

use marketpipe_model::{InstrumentKey, Product};
use rustc_hash::FxHashMap;

use super::{message::Kind, sync::BookSync};

/// The channels a symbol's stream names are registered for, as Binance
/// spells them in a combined stream.
const ROUTED_CHANNELS: [(&str, Kind); 6] = [
    ("aggTrade", Kind::AggTrade),
    ("bookTicker", Kind::BookTicker),
    ("depth", Kind::Depth),
    ("depth@100ms", Kind::Depth),
    ("depth@1000ms", Kind::Depth),
    ("miniTicker", Kind::MiniTicker),
];

/// One registered symbol.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The product, from exchangeInfo.
    pub(crate) product: Product,
    /// Its order book sync.
    pub(crate) book: BookSync,
}

/// Native symbol -> entry, for one decoder.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_name: FxHashMap<Box<str>, u32>,
    /// `<lower-case symbol>@<channel>` -> the payload kind and the entry
    /// whose native symbol a payload on that stream must carry.
    by_stream: FxHashMap<Box<str>, (Kind, u32)>,
    entries: Vec<Entry>,
}

/// What [`Registry::upsert`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Upsert {
    /// A new symbol.
    New,
    /// Known, unchanged.
    Same,
    /// Known under another normalized symbol, which it replaces.
    Renamed(InstrumentKey),
}

impl Registry {
    /// The index of the symbol named `name` (native or lower-case).
    #[inline]
    pub(crate) fn lookup(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The payload kind of stream `name` and the entry it belongs to, if
    /// `name` is one of a registered symbol's usual stream names. A payload
    /// on it whose symbol is that entry's native symbol needs no further
    /// check (see [`super::message::stream_kind`] and `Sink::symbol`, which
    /// decide every other case).
    #[inline]
    pub(crate) fn route(&self, name: &str) -> Option<(Kind, u32)> {
        self.by_stream.get(name).copied()
    }

    /// The native symbol of entry `idx`.
    #[inline]
    pub(crate) fn native(&self, idx: u32) -> &str {
        &self.entry(idx).product.native_symbol
    }

    /// The index of the entry whose key is `key` (a linear search: for
    /// rare calls, such as a connection closing).
    pub(crate) fn find_key(&self, key: &InstrumentKey) -> Option<u32> {
        self.entries.iter().position(|e| &e.product.key == key).and_then(|i| u32::try_from(i).ok())
    }

    /// The interned key of entry `idx`.
    pub(crate) fn key(&self, idx: u32) -> &InstrumentKey {
        &self.entry(idx).product.key
    }

    /// Entry `idx` (from [`Registry::lookup`]).
    pub(crate) fn entry(&self, idx: u32) -> &Entry {
        &self.entries[idx as usize]
    }

    /// Entry `idx`, mutably.
    pub(crate) fn entry_mut(&mut self, idx: u32) -> &mut Entry {
        &mut self.entries[idx as usize]
    }

    /// Registers `product` or updates the entry of its native symbol, and
    /// returns its index and what changed.
    pub(crate) fn upsert(&mut self, product: Product) -> (u32, Upsert) {
        if let Some(idx) = self.lookup(&product.native_symbol) {
            let entry = &mut self.entries[idx as usize];
            if entry.product.key == product.key {
                entry.product = product;
                return (idx, Upsert::Same);
            }
            let old = std::mem::replace(&mut entry.product, product).key;
            return (idx, Upsert::Renamed(old));
        }
        let Ok(idx) = u32::try_from(self.entries.len()) else {
            // Four billion symbols: not a real exchangeInfo. Keep the first.
            return (u32::MAX, Upsert::Same);
        };
        let native = product.native_symbol.as_str();
        for name in [native.to_ascii_lowercase(), native.to_ascii_uppercase(), native.to_owned()] {
            // An alias already taken by another symbol keeps its owner.
            self.by_name.entry(name.into_boxed_str()).or_insert(idx);
        }
        // Routed only when both the stream's symbol part and the native
        // symbol resolve to this entry, so that a route gives exactly what
        // the slow check would: the aliases above never change owner, so
        // neither does a route.
        let lower = native.to_ascii_lowercase();
        if self.lookup(&lower) == Some(idx) && self.lookup(native) == Some(idx) && !native.contains('@') {
            for (channel, kind) in ROUTED_CHANNELS {
                self.by_stream.entry(format!("{lower}@{channel}").into_boxed_str()).or_insert((kind, idx));
            }
        }
        self.entries.push(Entry { product, book: BookSync::default() });
        (idx, Upsert::New)
    }

    /// How many symbols are registered.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use marketpipe_model::Exchange;

    use super::*;

    #[test]
    fn native_and_stream_names_resolve_to_one_entry() {
        let mut reg = Registry::default();
        let (idx, what) = reg.upsert(Product::new(Exchange::Binance, "NKNUSDT", "NKN", "USDT"));
        assert_eq!(what, Upsert::New);
        assert_eq!(reg.lookup("NKNUSDT"), Some(idx));
        assert_eq!(reg.lookup("nknusdt"), Some(idx));
        assert_eq!(reg.lookup("NknUsdt"), None);
        assert_eq!(reg.key(idx).symbol.as_str(), "NKN-USDT");
        assert_eq!(reg.upsert(Product::new(Exchange::Binance, "NKNUSDT", "nkn", "usdt")).1, Upsert::Same);
        let (again, what) = reg.upsert(Product::new(Exchange::Binance, "NKNUSDT", "NKNX", "USDT"));
        assert_eq!(again, idx);
        assert!(matches!(what, Upsert::Renamed(old) if old.symbol.as_str() == "NKN-USDT"));
        assert_eq!(reg.key(idx).symbol.as_str(), "NKNX-USDT");
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn usual_stream_names_route_to_their_entry() {
        let mut reg = Registry::default();
        let (nkn, _) = reg.upsert(Product::new(Exchange::Binance, "NKNUSDT", "NKN", "USDT"));
        let (btc, _) = reg.upsert(Product::new(Exchange::Binance, "BTCUSDT", "BTC", "USDT"));
        assert_eq!(reg.route("nknusdt@aggTrade"), Some((Kind::AggTrade, nkn)));
        assert_eq!(reg.route("btcusdt@depth@100ms"), Some((Kind::Depth, btc)));
        assert_eq!(reg.route("btcusdt@depth"), Some((Kind::Depth, btc)));
        assert_eq!(reg.route("btcusdt@bookTicker"), Some((Kind::BookTicker, btc)));
        assert_eq!(reg.native(btc), "BTCUSDT");
        // A route gives the kind the full parse of the name gives.
        for (channel, kind) in ROUTED_CHANNELS {
            assert_eq!(super::super::message::stream_kind(&format!("nknusdt@{channel}")), Ok(kind), "{channel}");
        }
        // Anything unusual is left to the full parse of the name.
        for name in ["BTCUSDT@aggTrade", "btcusdt@depth@250ms", "btcusdt@trade", "ethusdt@aggTrade", "!miniTicker@arr"] {
            assert_eq!(reg.route(name), None, "{name}");
        }
    }
}
