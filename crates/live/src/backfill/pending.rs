//! The backfiller's queue of gaps, merged per product. Pure.

use std::collections::BTreeMap;

use crate::gap::Gap;

/// Pending gaps: per native product id, disjoint `(after_id, before_id)`
/// ranges. Ranges that overlap or lie within `slack` ids of each other (one
/// page) are merged, so a burst of gap reports for one product (a flapping
/// connection) costs one paginated walk, not one per report.
#[derive(Debug)]
pub(super) struct PendingGaps {
    slack: u64,
    ranges: BTreeMap<String, Vec<(u64, u64)>>,
}

impl PendingGaps {
    pub(super) fn new(slack: u64) -> Self {
        PendingGaps { slack, ranges: BTreeMap::new() }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Queues `gap`; returns whether it was merged with a pending one. An
    /// empty gap (nothing missing) is ignored.
    pub(super) fn add(&mut self, gap: Gap) -> bool {
        if gap.missing() == 0 {
            return false;
        }
        let slack = self.slack;
        let ranges = self.ranges.entry(gap.product).or_default();
        let (mut after, mut before) = (gap.after_id, gap.before_id);
        let mut merged = false;
        ranges.retain(|&(a, b)| {
            let near = a <= before.saturating_add(slack) && after <= b.saturating_add(slack);
            if near {
                after = after.min(a);
                before = before.max(b);
                merged = true;
            }
            !near
        });
        ranges.push((after, before));
        merged
    }

    /// The next gap: the first product's (by id order) lowest range.
    pub(super) fn pop(&mut self) -> Option<Gap> {
        let mut entry = self.ranges.first_entry()?;
        let ranges = entry.get_mut();
        let lowest = ranges.iter().enumerate().min_by_key(|(_, r)| **r).map(|(i, _)| i)?;
        let (after_id, before_id) = ranges.swap_remove(lowest);
        let product = if ranges.is_empty() { entry.remove_entry().0 } else { entry.key().clone() };
        Some(Gap { product, after_id, before_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(product: &str, after_id: u64, before_id: u64) -> Gap {
        Gap { product: product.into(), after_id, before_id }
    }

    #[test]
    fn overlapping_and_nearby_gaps_of_a_product_merge() {
        let mut p = PendingGaps::new(10);
        assert!(!p.add(gap("BTC-USD", 100, 110)));
        assert!(p.add(gap("BTC-USD", 105, 130)));
        assert!(p.add(gap("BTC-USD", 135, 140)), "within slack");
        assert!(!p.add(gap("BTC-USD", 500, 510)), "far away");
        assert!(!p.add(gap("ETH-USD", 100, 110)), "other product");
        assert!(!p.add(gap("ETH-USD", 7, 8)), "nothing missing");
        assert_eq!(p.pop(), Some(gap("BTC-USD", 100, 140)));
        assert_eq!(p.pop(), Some(gap("BTC-USD", 500, 510)));
        assert_eq!(p.pop(), Some(gap("ETH-USD", 100, 110)));
        assert_eq!(p.pop(), None);
        assert!(p.is_empty());
    }

    #[test]
    fn a_gap_bridging_two_ranges_merges_all_three() {
        let mut p = PendingGaps::new(0);
        p.add(gap("A", 10, 20));
        p.add(gap("A", 40, 50));
        assert!(p.add(gap("A", 15, 45)));
        assert_eq!(p.pop(), Some(gap("A", 10, 50)));
        assert_eq!(p.pop(), None);
    }
}
