//! The engine: per-product state, the wall-clock schedule, and the drain.

use std::{cmp::Reverse, collections::BinaryHeap};

use marketpipe_model::{BookDelta, BookSnapshot, InstrumentKey, MarketEvent, Product, Ticker, Timestamp, Trade};
use rustc_hash::FxHashMap;

use crate::{
    book::{BookOutcome, OrderBook},
    candles::{CandleAggregator, CandleParams, TradeOutcome},
    checkpoint::{self, stored, CheckpointError, Stored},
    stats::StatsTracker,
    ConfigError, EngineConfig, EngineCounters, EngineOutput,
};

/// Everything the engine holds about one product.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ProductState {
    #[serde(with = "stored")]
    key: InstrumentKey,
    #[serde(with = "stored")]
    product: Option<Product>,
    product_dirty: bool,
    candles: CandleAggregator,
    book: OrderBook,
    book_dirty: bool,
    stats: StatsTracker,
    #[serde(with = "stored")]
    ticker: Option<Ticker>,
    ticker_dirty: bool,
    /// A resync request waits for the next drain.
    resync_pending: bool,
    /// Already in the engine's dirty list (restore sets it from that list).
    #[serde(skip)]
    listed: bool,
    /// The earliest entry this product has in the clock schedule
    /// (`i64::MAX`: none). Entries above it are stale.
    scheduled: i64,
}

impl ProductState {
    fn new(key: InstrumentKey, params: &CandleParams) -> Self {
        ProductState {
            key,
            product: None,
            product_dirty: false,
            candles: CandleAggregator::new(params),
            book: OrderBook::default(),
            book_dirty: false,
            stats: StatsTracker::new(),
            ticker: None,
            ticker_dirty: false,
            resync_pending: false,
            listed: false,
            scheduled: i64::MAX,
        }
    }

    fn is_dirty(&self) -> bool {
        self.product_dirty || self.book_dirty || self.stats.dirty || self.ticker_dirty || self.resync_pending || self.candles.has_dirty()
    }
}

/// How much state the engine holds, for memory gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineMemory {
    /// Products known.
    pub products: usize,
    /// Candle windows held, all products and intervals.
    pub windows: usize,
    /// Entries of the trade-id sets: runs of consecutive numeric ids plus
    /// string ids.
    pub trade_id_entries: usize,
    /// Book levels held, all products and sides.
    pub book_levels: usize,
}

/// The pure, deterministic core of marketpipe.
///
/// It takes normalized [`MarketEvent`]s and an injected wall clock, and
/// maintains per product: event-time candles of every configured interval
/// (watermark, lateness, revisions, retention), the level-2 order book and
/// its statistics, the latest ticker and the product metadata. It reads no
/// clock and does no I/O, so the same inputs always give the same outputs:
/// that is what makes a replay reproduce a live run.
///
/// Feed it with [`Engine::apply`] and [`Engine::advance_clock`]; collect what
/// changed with [`Engine::drain`].
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    params: CandleParams,
    products: Vec<ProductState>,
    /// Product index by key. Lookups hash the borrowed key: no allocation.
    index: FxHashMap<InstrumentKey, usize>,
    /// The product of the previous event: consecutive events mostly share
    /// one, and comparing interned keys is a pointer comparison.
    last: usize,
    /// Latest wall clock given (`i64::MIN` before the first).
    clock: i64,
    /// `clock − lateness − margin`: the watermark the clock alone implies.
    clock_wm: i64,
    /// Products by the watermark at which their candles next need work, so
    /// the clock reaches quiet products without scanning all of them.
    schedule: BinaryHeap<Reverse<(i64, usize)>>,
    /// Products changed since the last drain.
    dirty: Vec<usize>,
    counters: EngineCounters,
}

impl Engine {
    /// An engine with no state, after validating `config`.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Engine {
            params: CandleParams::new(&config),
            config,
            products: Vec::new(),
            index: FxHashMap::default(),
            last: 0,
            clock: i64::MIN,
            clock_wm: i64::MIN,
            schedule: BinaryHeap::new(),
            dirty: Vec::new(),
            counters: EngineCounters::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Running totals of what happened to every input.
    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// The latest wall clock given to [`Engine::advance_clock`].
    pub fn clock(&self) -> Option<Timestamp> {
        (self.clock != i64::MIN).then_some(Timestamp(self.clock))
    }

    /// How much state is held (walks every product: for gauges, not the hot
    /// path).
    pub fn memory(&self) -> EngineMemory {
        let mut m = EngineMemory { products: self.products.len(), ..EngineMemory::default() };
        for p in &self.products {
            m.windows += p.candles.window_count();
            m.trade_id_entries += p.candles.id_count();
            m.book_levels += p.book.level_count();
        }
        m
    }

    /// Applies one event. Never panics: malformed input is counted in
    /// [`EngineCounters`] and otherwise ignored.
    pub fn apply(&mut self, event: MarketEvent) {
        let idx = self.product_index(event.instrument());
        match event {
            MarketEvent::Trade(trade) => self.apply_trade(idx, &trade),
            MarketEvent::BookSnapshot(snapshot) => self.apply_snapshot(idx, snapshot),
            MarketEvent::BookDelta(delta) => self.apply_delta(idx, &delta),
            MarketEvent::BookReset(_) => {
                self.counters.book_resets += 1;
                self.resync_at(idx);
            }
            MarketEvent::Ticker(ticker) => {
                self.counters.tickers += 1;
                if let Some(p) = self.products.get_mut(idx) {
                    if p.ticker.as_ref() != Some(&*ticker) {
                        p.ticker = Some(*ticker);
                        p.ticker_dirty = true;
                    }
                }
            }
            MarketEvent::Product(product) => {
                self.counters.products += 1;
                if let Some(p) = self.products.get_mut(idx) {
                    if p.product.as_ref() != Some(&product) {
                        p.product = Some(product);
                        p.product_dirty = true;
                    }
                }
            }
        }
        self.list_if_dirty(idx);
    }

    /// Serializes the whole state of the engine: what [`Engine::restore`]
    /// needs to build an engine that behaves exactly as this one from here
    /// on (same drains, counters, memory and later checkpoints). The format
    /// is described in the crate's `checkpoint.rs`.
    ///
    /// Correct at any point; right after [`Engine::drain`] nothing waits to
    /// be drained, which is what the `process` role stores with the
    /// position its results reached. Costs a walk over all the state (about
    /// 10 bytes per book level).
    pub fn checkpoint(&self) -> Vec<u8> {
        // The heap's order depends on its history, the checkpoint should not.
        let mut schedule: Vec<(i64, usize)> = self.schedule.iter().map(|&Reverse(entry)| entry).collect();
        schedule.sort_unstable();
        checkpoint::write(&Image {
            config: normalized(&self.config),
            clock: self.clock,
            schedule,
            dirty: self.dirty.clone(),
            counters: self.counters.clone(),
            products: self.products.as_slice(),
        })
    }

    /// Rebuilds the engine a [`Engine::checkpoint`] was taken of, for
    /// `config`, which must be the configuration the checkpoint was made
    /// under (intervals in any order).
    ///
    /// Never panics: damaged or truncated bytes, another format version, a
    /// different configuration and state that breaks the engine's
    /// invariants are all refused with a [`CheckpointError`].
    pub fn restore(config: EngineConfig, bytes: &[u8]) -> Result<Engine, CheckpointError> {
        config.validate()?;
        let image: Image<Vec<ProductState>> = checkpoint::read(bytes)?;
        let given = normalized(&config);
        if image.config != given {
            return Err(CheckpointError::ConfigMismatch(checkpoint::config_differences(&image.config, &given)));
        }
        let mut engine = Engine::new(config)?;
        engine.restore_state(image).map_err(CheckpointError::Inconsistent)?;
        Ok(engine)
    }

    /// Takes in the state of a checkpoint, checking what the engine relies
    /// on and rebuilding what follows from the rest.
    fn restore_state(&mut self, image: Image<Vec<ProductState>>) -> Result<(), String> {
        let Image { config: _, clock, schedule, dirty, counters, products } = image;
        for (idx, mut p) in products.into_iter().enumerate() {
            let checked = p.candles.check_restored(&self.params).and_then(|()| p.book.check_restored()).and_then(|()| {
                p.stats.check_restored(self.config.mid_ma_window)?;
                let foreign =
                    p.product.as_ref().is_some_and(|m| m.key != p.key) || p.ticker.as_ref().is_some_and(|t| t.instrument != p.key);
                if foreign {
                    return Err("metadata or ticker of another product");
                }
                Ok(())
            });
            if let Err(e) = checked {
                return Err(format!("{}: {e}", p.key));
            }
            if self.index.insert(p.key.clone(), idx).is_some() {
                return Err(format!("{}: product listed twice", p.key));
            }
            self.products.push(p);
        }
        // Every product that needs the clock must be reachable through the
        // schedule by the time its candles need work.
        if !schedule.is_sorted() || schedule.iter().any(|&(_, idx)| idx >= self.products.len()) {
            return Err("clock schedule out of order or out of range".into());
        }
        for (idx, p) in self.products.iter().enumerate() {
            let planned = p.scheduled == i64::MAX || schedule.binary_search(&(p.scheduled, idx)).is_ok();
            if !planned || p.candles.next_action() < p.scheduled {
                return Err(format!("{}: not scheduled for its next candle work", p.key));
            }
        }
        self.schedule = schedule.into_iter().map(Reverse).collect();
        for &idx in &dirty {
            let Some(p) = self.products.get_mut(idx) else { return Err("dirty list out of range".into()) };
            if p.listed {
                return Err(format!("{}: listed twice for the drain", p.key));
            }
            p.listed = true;
        }
        if let Some(p) = self.products.iter().find(|p| p.listed != p.is_dirty()) {
            return Err(format!("{}: changes not listed for the drain, or listed without changes", p.key));
        }
        self.dirty = dirty;
        // No engine counts 2^63 of anything: such a value can only be
        // damage, and would overflow on its next increment.
        if counters.to_repr().iter().any(|&c| c > i64::MAX as u64) {
            return Err("counter out of range".into());
        }
        self.counters = counters;
        self.clock = clock;
        self.clock_wm = self.clock_watermark();
        Ok(())
    }

    /// `clock − lateness − margin`: the watermark the clock alone implies.
    fn clock_watermark(&self) -> i64 {
        self.clock.saturating_sub(self.config.allowed_lateness_ns).saturating_sub(self.config.quiet_close_margin_ns)
    }

    /// Moves the injected wall clock to `now` (the live runtime passes the
    /// real time, a replay each record's receive time). Windows of products
    /// whose trades stopped become final once `now − lateness − margin`
    /// passes their end. The clock never goes back: an earlier `now` is
    /// ignored.
    pub fn advance_clock(&mut self, now: Timestamp) {
        if now.nanos() <= self.clock {
            return;
        }
        self.clock = now.nanos();
        self.clock_wm = self.clock_watermark();
        while let Some(&Reverse((at, idx))) = self.schedule.peek() {
            if at > self.clock_wm {
                break;
            }
            self.schedule.pop();
            let Some(p) = self.products.get_mut(idx) else { continue };
            if p.scheduled != at {
                continue; // superseded by an earlier entry that already ran
            }
            p.scheduled = i64::MAX;
            let wm = p.candles.watermark(&self.params, self.clock_wm);
            p.candles.advance(&self.params, wm, &mut self.counters);
            self.reschedule(idx);
            self.list_if_dirty(idx);
        }
    }

    /// Stops applying deltas to the product's book until its next snapshot
    /// (the live runtime calls this after a reconnect). No resync request is
    /// raised: the caller is already resyncing.
    pub fn mark_resyncing(&mut self, key: &InstrumentKey) {
        let idx = self.product_index(key);
        self.resync_at(idx);
        self.list_if_dirty(idx);
    }

    /// Stops applying deltas to product `idx`'s book until its next snapshot.
    fn resync_at(&mut self, idx: usize) {
        if let Some(p) = self.products.get_mut(idx) {
            if p.book.mark_resyncing() {
                p.book_dirty = true;
                p.stats.on_book(&p.book, None, self.config.mid_ma_window);
            }
        }
    }

    /// Marks the product's book stale (its feed went quiet or dropped): the
    /// levels stay as they were and deltas are not applied until the next
    /// snapshot. A book still waiting for its first snapshot stays
    /// resyncing.
    pub fn mark_stale(&mut self, key: &InstrumentKey) {
        let idx = self.product_index(key);
        if let Some(p) = self.products.get_mut(idx) {
            if p.book.mark_stale() {
                p.book_dirty = true;
                p.stats.on_book(&p.book, None, self.config.mid_ma_window);
            }
        }
        self.list_if_dirty(idx);
    }

    /// Appends everything that changed since the last drain to `out`, each
    /// item once with its latest state: candles by (instrument, interval,
    /// start), everything else by instrument. Windows that became final are
    /// included even if no trade touched them since.
    pub fn drain(&mut self, out: &mut EngineOutput) {
        let mut list = std::mem::take(&mut self.dirty);
        // Product indices follow first appearance; the output order must not.
        list.sort_unstable_by(|&a, &b| match (self.products.get(a), self.products.get(b)) {
            (Some(pa), Some(pb)) => pa.key.cmp(&pb.key),
            _ => a.cmp(&b),
        });
        let depth = self.config.book_depth;
        let window = self.config.mid_ma_window;
        for &idx in &list {
            let Some(p) = self.products.get_mut(idx) else { continue };
            p.listed = false;
            if p.product_dirty {
                p.product_dirty = false;
                out.products.extend(p.product.iter().cloned());
            }
            if p.candles.has_dirty() {
                p.candles.drain(&p.key, &mut out.candles);
                // Windows that became final and fell behind the retention in
                // one step could not be evicted before they were emitted.
                let wm = p.candles.watermark(&self.params, self.clock_wm);
                p.candles.advance(&self.params, wm, &mut self.counters);
                self.reschedule(idx);
            }
            let Some(p) = self.products.get_mut(idx) else { continue };
            if p.book_dirty {
                p.book_dirty = false;
                out.books.push(p.book.top(&p.key, depth));
            }
            if p.stats.dirty {
                p.stats.dirty = false;
                out.stats.push(p.stats.to_stats(&p.key, window));
            }
            if p.ticker_dirty {
                p.ticker_dirty = false;
                out.tickers.extend(p.ticker.iter().cloned());
            }
            if p.resync_pending {
                p.resync_pending = false;
                out.resync_requests.push(p.key.clone());
            }
            // The advance above runs at a watermark the schedule already
            // handled, so it should mark nothing new; if it ever did, the
            // product stays listed rather than losing the change.
            if p.is_dirty() {
                p.listed = true;
                self.dirty.push(idx);
            }
        }
        if self.dirty.is_empty() {
            list.clear();
            self.dirty = list; // keep the allocation
        }
    }

    fn product_index(&mut self, key: &InstrumentKey) -> usize {
        // Decoders intern one symbol per product, so the previous product's
        // key usually shares the very allocation. Identity is conclusive:
        // the stored key keeps its allocation alive, so no other string can
        // sit at that address. Anything else goes through the map.
        let same = |p: &ProductState| p.key.exchange == key.exchange && std::ptr::eq(p.key.symbol.as_str(), key.symbol.as_str());
        if self.products.get(self.last).is_some_and(same) {
            return self.last;
        }
        let idx = match self.index.get(key) {
            Some(&idx) => idx,
            None => {
                let idx = self.products.len();
                self.products.push(ProductState::new(key.clone(), &self.params));
                self.index.insert(key.clone(), idx);
                idx
            }
        };
        self.last = idx;
        idx
    }

    fn list_if_dirty(&mut self, idx: usize) {
        if let Some(p) = self.products.get_mut(idx) {
            if !p.listed && p.is_dirty() {
                p.listed = true;
                self.dirty.push(idx);
            }
        }
    }

    /// Makes sure the clock schedule reaches the product by the time its
    /// candles next need work.
    fn reschedule(&mut self, idx: usize) {
        if let Some(p) = self.products.get_mut(idx) {
            let next = p.candles.next_action();
            if next < p.scheduled {
                p.scheduled = next;
                self.schedule.push(Reverse((next, idx)));
            }
        }
    }

    fn apply_trade(&mut self, idx: usize, trade: &Trade) {
        self.counters.trades += 1;
        let Some(p) = self.products.get_mut(idx) else { return };
        match p.candles.add_trade(&self.params, self.clock_wm, trade, &mut self.counters) {
            TradeOutcome::Accepted { late } => {
                if late {
                    self.counters.late_trades += 1;
                }
                p.stats.on_trade(trade);
                self.reschedule(idx);
            }
            TradeOutcome::Duplicate => self.counters.duplicate_trades += 1,
            TradeOutcome::TooLate => self.counters.too_late_trades += 1,
            TradeOutcome::Invalid => self.counters.invalid_trades += 1,
            TradeOutcome::Overflow => self.counters.overflowed_trades += 1,
        }
    }

    fn apply_snapshot(&mut self, idx: usize, snapshot: BookSnapshot) {
        let Some(p) = self.products.get_mut(idx) else { return };
        let outcome = p.book.apply_snapshot(snapshot, &mut self.counters);
        self.after_book(idx, outcome);
    }

    fn apply_delta(&mut self, idx: usize, delta: &BookDelta) {
        let Some(p) = self.products.get_mut(idx) else { return };
        let outcome = p.book.apply_delta(delta, &mut self.counters);
        self.after_book(idx, outcome);
    }

    fn after_book(&mut self, idx: usize, outcome: BookOutcome) {
        let Some(p) = self.products.get_mut(idx) else { return };
        if outcome == BookOutcome::Ignored {
            return;
        }
        p.book_dirty = true;
        // Statistics only look at the best levels and the state: most deltas
        // change neither.
        if outcome != (BookOutcome::Applied { top: false }) {
            p.stats.on_book(&p.book, p.book.time(), self.config.mid_ma_window);
        }
        if outcome == BookOutcome::Crossed {
            // One request per incident: the book now ignores deltas until a
            // snapshot arrives, so this cannot fire again before one does.
            p.resync_pending = true;
            self.counters.resync_requests += 1;
        }
    }
}

/// The engine's state as a checkpoint holds it: `P` is `&[ProductState]`
/// when writing and `Vec<ProductState>` when reading. Caches are left out
/// (the key index, `last`, `params`, `clock_wm`, the `listed` flags).
#[derive(serde::Serialize, serde::Deserialize)]
struct Image<P> {
    /// Intervals sorted: their order changes nothing.
    #[serde(with = "stored")]
    config: EngineConfig,
    clock: i64,
    /// Sorted, stale entries included.
    schedule: Vec<(i64, usize)>,
    dirty: Vec<usize>,
    #[serde(with = "stored")]
    counters: EngineCounters,
    products: P,
}

/// `config` with its intervals sorted, as checkpoints store and compare it.
fn normalized(config: &EngineConfig) -> EngineConfig {
    let mut config = config.clone();
    config.intervals.sort_unstable();
    config
}
