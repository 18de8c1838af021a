//! The checks of [`PositionStore`]: consumer positions stored with the
//! results they cover.

use super::{assert_exact, key, latest, revised, sample_candle, write, POISON_SYMBOL, T0};
use crate::{Checkpoint, LogPosition, MarketReader, MarketWriter, PositionStore, WriteBatch};
use marketpipe_model::{Exchange, Interval};

/// A log position, with a checkpoint taken at its own offset.
pub fn position(group: &str, topic: &str, partition: i32, next_offset: i64, checkpoint: Option<&[u8]>) -> LogPosition {
    position_with(group, topic, partition, next_offset, checkpoint.map(|state| (next_offset, state)))
}

/// A log position with a checkpoint taken at any offset.
pub fn position_with(group: &str, topic: &str, partition: i32, next_offset: i64, checkpoint: Option<(i64, &[u8])>) -> LogPosition {
    LogPosition {
        group: group.to_owned(),
        topic: topic.to_owned(),
        partition,
        next_offset,
        checkpoint: checkpoint.map(|(next_offset, state)| Checkpoint { next_offset, state: state.to_vec() }),
    }
}

async fn write_at<S: PositionStore>(store: &S, batch: WriteBatch, positions: &[LogPosition], what: &str) {
    if let Err(e) = store.write_at(&batch, positions).await {
        panic!("{what}: write_at failed: {e}");
    }
}

async fn positions_of<S: PositionStore>(store: &S, group: &str, topic: &str) -> Vec<LogPosition> {
    store.positions(group, topic).await.unwrap_or_else(|e| panic!("positions({group}, {topic}) failed: {e}"))
}

/// Positions come back exactly as written, by partition, checkpoints byte
/// for byte with their own offsets (empty and absent stay distinct), and
/// the batch written with them is there too.
pub async fn positions_round_trip<S: PositionStore + MarketWriter + MarketReader>(store: &S) {
    assert!(positions_of(store, "g", "t").await.is_empty(), "a fresh store has positions");
    let k = key(Exchange::Coinbase, "BTC-USD");
    let c = sample_candle(&k, Interval::M1, T0, "100");
    // Bytes that trip naive text encodings: NUL, backslash, tab, newline, high bytes.
    let awkward: Vec<u8> = (0..=255u8).chain(*b"\\\\t\tN\n\r").collect();
    let written = [
        position("g", "t", 2, 10, Some(&awkward)),
        position("g", "t", 0, 5, None),
        position("g", "t", 1, i64::MAX, Some(&[])),
        position_with("g", "t", -1, 7, Some((3, b"x"))),
    ];
    write_at(store, WriteBatch { candles: vec![c.clone()], ..WriteBatch::default() }, &written, "batch with positions").await;
    let mut expected = written.to_vec();
    expected.sort_by_key(|p| p.partition);
    assert_eq!(positions_of(store, "g", "t").await, expected, "positions as written, by partition");
    assert_exact(&latest(store, &k, Interval::M1, "batch with positions").await, &c, "the batch written with positions");

    // Positions alone (a consumer that read only messages producing nothing).
    write_at(store, WriteBatch::default(), &[position("g", "t", 0, 6, Some(b"s6"))], "positions alone").await;
    assert_eq!(positions_of(store, "g", "t").await[1], position("g", "t", 0, 6, Some(b"s6")), "positions alone moved");
    // A batch alone through write_at is a plain write.
    let rev1 = revised(&c, 1, true, "101");
    write_at(store, WriteBatch { candles: vec![rev1.clone()], ..WriteBatch::default() }, &[], "batch alone").await;
    assert_exact(&latest(store, &k, Interval::M1, "batch alone").await, &rev1, "batch written through write_at without positions");
}

/// A position changes only through `write_at`, only for the partitions
/// written, never backwards; at an equal offset the later write wins.
/// Within one call the highest offset wins. Checkpoints follow the same
/// rules by their own offsets, apart from the positions they come with.
pub async fn positions_only_move_as_written<S: PositionStore + MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Binance, "NKN-USDT");
    write_at(store, WriteBatch::default(), &[position("g", "t", 0, 10, Some(b"a")), position("g", "t", 1, 20, Some(b"b"))], "start").await;
    write_at(store, WriteBatch::default(), &[position("g", "t", 0, 15, Some(b"c"))], "advance 0").await;
    let expect_after_advance = vec![position("g", "t", 0, 15, Some(b"c")), position("g", "t", 1, 20, Some(b"b"))];
    assert_eq!(positions_of(store, "g", "t").await, expect_after_advance, "only partition 0 moves");

    let c = sample_candle(&k, Interval::M1, T0, "0.35");
    write_at(
        store,
        WriteBatch { candles: vec![c.clone()], ..WriteBatch::default() },
        &[position("g", "t", 0, 12, Some(b"stale"))],
        "rewind",
    )
    .await;
    assert_eq!(positions_of(store, "g", "t").await, expect_after_advance, "a lower offset must not rewind the position or its checkpoint");
    assert_exact(&latest(store, &k, Interval::M1, "rewind").await, &c, "the batch of a stale position is still written");

    write(store, WriteBatch { candles: vec![revised(&c, 1, true, "0.36")], ..WriteBatch::default() }, "plain write").await;
    assert_eq!(positions_of(store, "g", "t").await, expect_after_advance, "a plain write moved positions");

    write_at(store, WriteBatch::default(), &[position("g", "t", 0, 15, None)], "same offset, no checkpoint").await;
    assert_eq!(positions_of(store, "g", "t").await, expect_after_advance, "a position without a checkpoint must keep the stored one");
    write_at(store, WriteBatch::default(), &[position("g", "t", 0, 18, None)], "advance, no checkpoint").await;
    let ck15 = |state: &'static [u8], next: i64| position_with("g", "t", 0, next, Some((15, state)));
    assert_eq!(positions_of(store, "g", "t").await[0], ck15(b"c", 18), "the position moves, its checkpoint stays");
    write_at(store, WriteBatch::default(), &[position_with("g", "t", 0, 19, Some((14, b"older")))], "older checkpoint").await;
    assert_eq!(positions_of(store, "g", "t").await[0], ck15(b"c", 19), "an older checkpoint must not replace a newer one");
    write_at(store, WriteBatch::default(), &[position_with("g", "t", 0, 19, Some((15, b"c2")))], "equal checkpoint").await;
    assert_eq!(positions_of(store, "g", "t").await[0], ck15(b"c2", 19), "equal checkpoint offset: the later write wins");
    write_at(store, WriteBatch::default(), &[position_with("g", "t", 0, 17, Some((16, b"stale but newer")))], "stale position").await;
    assert_eq!(
        positions_of(store, "g", "t").await[0],
        position_with("g", "t", 0, 19, Some((16, b"stale but newer"))),
        "a checkpoint moves by its own offset, even with a stale position"
    );

    let dupes = [position("g", "t", 1, 30, Some(b"30")), position("g", "t", 1, 25, Some(b"25")), position("g", "t", 1, 30, Some(b"30b"))];
    write_at(store, WriteBatch::default(), &dupes, "one partition thrice").await;
    assert_eq!(
        positions_of(store, "g", "t").await[1],
        position("g", "t", 1, 30, Some(b"30b")),
        "in one call: highest offset, then the last"
    );
}

/// Groups and topics keep separate positions, even for the same partition.
pub async fn positions_are_isolated_by_group_and_topic<S: PositionStore + MarketWriter + MarketReader>(store: &S) {
    let written = [position("g1", "t", 0, 10, Some(b"1")), position("g2", "t", 0, 99, Some(b"2")), position("g1", "u", 0, 5, None)];
    write_at(store, WriteBatch::default(), &written, "three groups/topics").await;
    write_at(store, WriteBatch::default(), &[position("g2", "t", 0, 1, None)], "rewind g2").await;
    write_at(store, WriteBatch::default(), &[position("g1", "t", 0, 11, None)], "advance g1").await;
    assert_eq!(positions_of(store, "g1", "t").await, [position_with("g1", "t", 0, 11, Some((10, b"1")))], "g1 on t");
    assert_eq!(positions_of(store, "g2", "t").await, [position("g2", "t", 0, 99, Some(b"2"))], "g2 on t");
    assert_eq!(positions_of(store, "g1", "u").await, [position("g1", "u", 0, 5, None)], "g1 on u");
    assert!(positions_of(store, "g2", "u").await.is_empty(), "g2 has nothing on u");
    assert!(positions_of(store, "G1", "t").await.is_empty(), "group names are case-sensitive");
}

/// Positions and results commit together: a failed transaction leaves
/// neither, whichever part failed.
///
/// Like [`batch_is_atomic`], the store must be rigged to reject candle rows
/// whose symbol is [`POISON_SYMBOL`] and positions whose group is
/// [`POISON_SYMBOL`].
pub async fn positions_commit_with_results<S: PositionStore + MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Coinbase, "BTC-USD");
    let poison = key(Exchange::Coinbase, POISON_SYMBOL);
    let c0 = sample_candle(&k, Interval::M1, T0, "100");
    let c1 = revised(&c0, 1, true, "101");
    write_at(
        store,
        WriteBatch { candles: vec![c0.clone()], ..WriteBatch::default() },
        &[position("g", "t", 0, 10, Some(b"10"))],
        "baseline",
    )
    .await;

    let poisoned_batch = WriteBatch { candles: vec![c1.clone(), sample_candle(&poison, Interval::M1, T0, "1")], ..WriteBatch::default() };
    let result = store.write_at(&poisoned_batch, &[position("g", "t", 0, 20, Some(b"20"))]).await;
    assert!(result.is_err(), "a batch with a rejected candle must fail (is the store rigged?)");
    assert_eq!(positions_of(store, "g", "t").await, [position("g", "t", 0, 10, Some(b"10"))], "a failed batch moved the position");
    assert_exact(&latest(store, &k, Interval::M1, "failed batch").await, &c0, "a failed batch with positions left a candle");

    let batch = WriteBatch { candles: vec![c1.clone()], ..WriteBatch::default() };
    let result = store.write_at(&batch, &[position("g", "t", 0, 20, Some(b"20")), position(POISON_SYMBOL, "t", 0, 1, None)]).await;
    assert!(result.is_err(), "a rejected position must fail the call (is the store rigged?)");
    assert_eq!(positions_of(store, "g", "t").await, [position("g", "t", 0, 10, Some(b"10"))], "a failed position write moved another");
    assert_exact(&latest(store, &k, Interval::M1, "failed positions").await, &c0, "a failed position write left its batch");

    write_at(store, batch, &[position("g", "t", 0, 20, Some(b"20"))], "unpoisoned").await;
    assert_eq!(positions_of(store, "g", "t").await, [position("g", "t", 0, 20, Some(b"20"))], "the unpoisoned write moved the position");
    assert_exact(&latest(store, &k, Interval::M1, "unpoisoned").await, &c1, "the unpoisoned write stored its candle");
}
