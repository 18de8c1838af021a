//! Trade-id gap detection. Pure: the pipeline feeds it every trade id it
//! sees per product and sends what it reports to the backfiller.

use std::collections::BTreeMap;

use marketpipe_model::Exchange;

use crate::metrics::{count, GAPS_DETECTED, GAP_TRADES_MISSING};

/// Trade ids missing for a product: every id strictly between `after_id`
/// and `before_id`. A gap with `after_id` 0 is a *warm start*: the trades
/// before the first one seen, as far back as the exchange keeps them, up to
/// `BackfillConfig::warm_start_pages` pages (see [`Gap::warm_start`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gap {
    /// Native product id.
    pub product: String,
    /// The last id seen before the hole.
    pub after_id: u64,
    /// The first id seen after the hole.
    pub before_id: u64,
}

impl Gap {
    /// The trades before `first_id`, the first trade a fresh pipeline saw
    /// of `product`: fetched so the windows open at start are complete
    /// instead of beginning with the connection.
    pub fn warm_start(product: &str, first_id: u64) -> Gap {
        Gap { product: product.to_owned(), after_id: 0, before_id: first_id }
    }

    /// Whether this is a warm start rather than a hole between two ids.
    pub fn is_warm_start(&self) -> bool {
        self.after_id == 0
    }

    /// How many ids are missing.
    pub fn missing(&self) -> u64 {
        self.before_id.saturating_sub(self.after_id).saturating_sub(1)
    }
}

/// Watches per-product trade ids, which the exchange numbers consecutively
/// (Coinbase does), and reports holes.
///
/// The first id of a product only sets the baseline: what came before the
/// process started is not a gap. Ids at or below the highest seen
/// (duplicates from reconnect overlaps, backfilled trades, out-of-order
/// delivery) are not gaps and do not move the baseline.
#[derive(Debug)]
pub struct GapDetector {
    exchange: Exchange,
    last: BTreeMap<String, u64>,
}

impl GapDetector {
    /// A detector that has seen nothing.
    pub fn new(exchange: Exchange) -> Self {
        GapDetector { exchange, last: BTreeMap::new() }
    }

    /// Records `trade_id` for `product`; returns the hole it reveals, if any.
    pub fn observe(&mut self, product: &str, trade_id: u64) -> Option<Gap> {
        let Some(last) = self.last.get_mut(product) else {
            self.last.insert(product.to_owned(), trade_id);
            return None;
        };
        if trade_id <= *last {
            return None;
        }
        let after_id = std::mem::replace(last, trade_id);
        if trade_id == after_id + 1 {
            return None;
        }
        let gap = Gap { product: product.to_owned(), after_id, before_id: trade_id };
        count(GAPS_DETECTED, self.exchange);
        metrics::counter!(GAP_TRADES_MISSING, "exchange" => self.exchange.as_str()).increment(gap.missing());
        Some(gap)
    }

    /// The highest id seen for `product`.
    pub fn last_id(&self, product: &str) -> Option<u64> {
        self.last.get(product).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sighting_is_a_baseline_and_consecutive_ids_are_fine() {
        let mut d = GapDetector::new(Exchange::Coinbase);
        assert_eq!(d.observe("BTC-USD", 100), None);
        assert_eq!(d.observe("BTC-USD", 101), None);
        assert_eq!(d.observe("ETH-USD", 7), None);
        assert_eq!(d.last_id("BTC-USD"), Some(101));
        assert_eq!(d.last_id("SOL-USD"), None);
    }

    #[test]
    fn a_jump_is_a_gap_per_product() {
        let mut d = GapDetector::new(Exchange::Coinbase);
        d.observe("BTC-USD", 100);
        d.observe("ETH-USD", 5);
        let gap = d.observe("BTC-USD", 105).unwrap();
        assert_eq!(gap, Gap { product: "BTC-USD".into(), after_id: 100, before_id: 105 });
        assert_eq!(gap.missing(), 4);
        assert_eq!(d.observe("BTC-USD", 106), None);
        assert_eq!(d.observe("ETH-USD", 6), None);
        assert_eq!(d.observe("ETH-USD", 8).map(|g| g.missing()), Some(1));
    }

    #[test]
    fn duplicates_and_late_ids_are_not_gaps() {
        let mut d = GapDetector::new(Exchange::Coinbase);
        d.observe("BTC-USD", 10);
        assert_eq!(d.observe("BTC-USD", 10), None);
        assert!(d.observe("BTC-USD", 13).is_some());
        // The backfilled 11 and 12 arrive later: not gaps, baseline unchanged.
        assert_eq!(d.observe("BTC-USD", 11), None);
        assert_eq!(d.observe("BTC-USD", 12), None);
        assert_eq!(d.last_id("BTC-USD"), Some(13));
        assert_eq!(d.observe("BTC-USD", 14), None);
        assert_eq!(d.observe("BTC-USD", u64::MAX).map(|g| g.after_id), Some(14));
        assert_eq!(d.observe("BTC-USD", 0), None);
    }
}
