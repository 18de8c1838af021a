//! How a replay splits products between its parts (threads).
//!
//! A product belongs to the part it was first given to: products are dealt
//! out in turn as the parts first meet them (by a frame routed by product,
//! or by an event of a line every part reads), so that parts get the same
//! number of products whatever their names hash to. Any assignment gives
//! the same tables, as long as it never changes: every part asks the one
//! shared [`PartAssignment`], which answers each product the same way for
//! the whole replay (the parts may race to deal a product out; whoever
//! asks first decides, and everyone else gets that answer).

use std::sync::{Arc, Mutex};

use marketpipe_capture::{CaptureRecord, RecordKind, Router};
use marketpipe_model::Exchange;
use marketpipe_venues::{product_hash, product_key};
use rustc_hash::FxHashMap;

/// The part of every product met so far, shared by the parts of a replay.
#[derive(Debug)]
pub struct PartAssignment {
    parts: u32,
    dealt: Mutex<Dealt>,
}

#[derive(Debug, Default)]
struct Dealt {
    by_product: FxHashMap<u64, u32>,
    next: u32,
}

impl PartAssignment {
    /// An assignment between `parts` parts.
    pub fn new(parts: u32) -> Arc<Self> {
        Arc::new(PartAssignment { parts: parts.max(1), dealt: Mutex::default() })
    }

    /// The part of the product whose native id is `native` (any spelling
    /// [`product_hash`] takes as the same), dealing it out to the next part
    /// if no part has met it yet.
    pub fn part_of_native(&self, native: &str) -> u32 {
        self.part_of(product_hash(native))
    }

    /// [`PartAssignment::part_of_native`] by the id's [`product_hash`].
    fn part_of(&self, product: u64) -> u32 {
        let mut dealt = self.dealt.lock().unwrap_or_else(|e| e.into_inner());
        let Dealt { by_product, next } = &mut *dealt;
        *by_product.entry(product).or_insert_with(|| {
            let part = *next;
            *next = (*next + 1) % self.parts;
            part
        })
    }
}

/// One reader's router: a record goes to the part of the one product its
/// text names (see [`product_key`]), or to every part. Each reader has its
/// own, remembering the answers it got so that it asks the shared
/// assignment once per product.
pub struct ProductRouter {
    assignment: Arc<PartAssignment>,
    known: FxHashMap<u64, u32>,
}

impl ProductRouter {
    /// A router asking `assignment`.
    pub fn new(assignment: Arc<PartAssignment>) -> Self {
        ProductRouter { assignment, known: FxHashMap::default() }
    }
}

impl Router for ProductRouter {
    fn part_of(&mut self, record: &CaptureRecord<'_>) -> Option<u32> {
        let url = match record.kind {
            RecordKind::Ws => None,
            RecordKind::Rest => Some(record.url.as_deref()?),
            RecordKind::Open | RecordKind::Close | RecordKind::WsOut => return None,
        };
        let payload = record.data?;
        // A payload stored as a JSON string is read unescaped; its raw text
        // is not what the rules read.
        if payload.starts_with('"') {
            return None;
        }
        let exchange = record.exchange.parse::<Exchange>().ok()?;
        let product = product_hash(product_key(exchange, url, payload)?);
        let assignment = &self.assignment;
        Some(*self.known.entry(product).or_insert_with(|| assignment.part_of(product)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_dealt_in_turn_and_keep_their_part() {
        let assignment = PartAssignment::new(3);
        let got: Vec<u32> = [10, 11, 12, 13, 10, 14, 11].iter().map(|&p| assignment.part_of(p)).collect();
        assert_eq!(got, [0, 1, 2, 0, 0, 1, 1]);
    }

    #[test]
    fn routers_of_one_replay_agree_whoever_meets_a_product_first() {
        let record = |symbol: &str| {
            format!(r#"{{"recv_ns":1,"exchange":"binance","kind":"ws","conn":1,"data":{{"stream":"{symbol}@aggTrade","data":{{}}}}}}"#)
        };
        let assignment = PartAssignment::new(2);
        let (mut a, mut b) = (ProductRouter::new(assignment.clone()), ProductRouter::new(assignment.clone()));
        let part = |router: &mut ProductRouter, line: &str| router.part_of(&marketpipe_capture::parse_record(line.as_bytes()).unwrap());
        let (btc, eth) = (record("btcusdt"), record("ethusdt"));
        let first = part(&mut a, &btc);
        assert_eq!(part(&mut b, &eth), part(&mut a, &eth));
        assert_eq!(part(&mut b, &btc), first);
        assert_ne!(part(&mut a, &eth), first);
        // Shared lines' products ask the same assignment by the same hash.
        assert_eq!(Some(assignment.part_of_native("BTC-USDT")), first);
        let list = r#"{"recv_ns":1,"exchange":"binance","kind":"rest","url":"https://api.binance.com/api/v3/exchangeInfo","data":{}}"#;
        assert_eq!(part(&mut a, list), None);
    }
}
