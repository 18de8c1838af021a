//! What one [`crate::Engine::drain`] hands back.

use marketpipe_model::{BookStats, BookTop, Candle, InstrumentKey, Product, Ticker};

/// Everything that changed since the previous drain, each item once with its
/// latest state, in a deterministic order: candles by (instrument, interval,
/// start), everything else by instrument.
///
/// Reuse one value across drains ([`EngineOutput::clear`] keeps the
/// allocations) to keep the hot loop allocation-free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineOutput {
    /// Product metadata that is new or changed.
    pub products: Vec<Product>,
    /// Candles that changed, became final or were revised.
    pub candles: Vec<Candle>,
    /// Books that changed (levels, state or sequence): top levels per side.
    pub books: Vec<BookTop>,
    /// Book statistics that changed.
    pub stats: Vec<BookStats>,
    /// Tickers that changed.
    pub tickers: Vec<Ticker>,
    /// Products whose book went inconsistent and needs a fresh snapshot:
    /// the runtime should resubscribe or fetch one.
    pub resync_requests: Vec<InstrumentKey>,
}

impl EngineOutput {
    /// Empties every list, keeping their capacity.
    pub fn clear(&mut self) {
        self.products.clear();
        self.candles.clear();
        self.books.clear();
        self.stats.clear();
        self.tickers.clear();
        self.resync_requests.clear();
    }

    /// Whether there is nothing in any list.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
            && self.candles.is_empty()
            && self.books.is_empty()
            && self.stats.is_empty()
            && self.tickers.is_empty()
            && self.resync_requests.is_empty()
    }
}
