//! End to end: captures → `marketpipe replay` → SQLite → `marketpipe serve`,
//! checked against an independent computation (scripts/verify_capture.py,
//! a separate implementation in Python with exact decimals).

mod support;

use std::{io::Write, path::Path};

use support::*;

#[test]
fn sample_capture_matches_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let sample = repo().join("samples/coinbase-sample.jsonl");
    let data = dir.path().join("data");
    let summary = replay(&[&sample], &data);
    // the sample's deliberate faults are each seen and counted
    let skipped = &summary["skipped"];
    for reason in ["invalid_json", "unknown_type", "bad_number", "negative_size", "malformed_record"] {
        assert!(skipped[reason].as_u64().unwrap_or(0) >= 1, "expected a skipped {reason}: {summary:#}");
    }
    let engine = &summary["engine"];
    assert!(engine["duplicate_trades"].as_u64().unwrap() >= 1, "{summary:#}");
    assert!(engine["late_trades"].as_u64().unwrap() >= 1, "the REST backfill revises a final minute: {summary:#}");
    assert_eq!(summary["messages"]["coinbase/error"], 1);
    let server = Server::start(&data);
    let out = verify(&server, &[&sample]);
    assert!(out.starts_with("OK:"), "{out}");
    // the revised minute is served as final with revision 1
    let candles = server.get("/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=1m&limit=100");
    let revised: Vec<_> = candles["candles"].as_array().unwrap().iter().filter(|c| c["revision"].as_u64() > Some(0)).collect();
    assert!(!revised.is_empty(), "a late trade must revise a final candle");
    assert!(revised.iter().all(|c| c["final"] == true));
}

#[test]
fn generated_captures_match_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    for (seed, symbols, hours) in [(11, 6, 3.0), (12, 3, 30.0)] {
        let capture = generate(dir.path(), seed, 40_000, symbols, hours);
        let data = dir.path().join(format!("data-{seed}"));
        let summary = replay(&[&capture], &data);
        assert_eq!(summary["skipped"], serde_json::json!({}), "a clean capture skips nothing: {summary:#}");
        let server = Server::start(&data);
        let out = verify(&server, &[&capture]);
        assert!(out.starts_with("OK:"), "seed {seed}: {out}");
    }
}

#[test]
fn generated_binance_captures_match_independent_computation() {
    // Books synced from REST depth snapshots and diff streams by update id,
    // products from exchangeInfo, taker side from `m`.
    let dir = tempfile::tempdir().unwrap();
    for (seed, symbols, hours) in [(21, 5, 2.0), (22, 2, 26.0)] {
        let capture = generate_for("binance", dir.path(), seed, 40_000, symbols, hours);
        let data = dir.path().join(format!("data-{seed}"));
        let summary = replay(&[&capture], &data);
        assert_eq!(summary["skipped"], serde_json::json!({}), "a clean capture skips nothing: {summary:#}");
        assert_eq!(summary["engine"]["book_resets"], 0, "{summary:#}");
        let server = Server::start(&data);
        let out = verify(&server, &[&capture]);
        assert!(out.starts_with("OK:") && out.contains(&format!("{symbols} books")), "seed {seed}: {out}");
    }
}

/// Lines a corrupted capture could contain: each must be skipped, none may
/// change a candle or a book.
const GARBAGE: &[&str] = &[
    "",
    "   ",
    "not json at all",
    "\u{0}\u{1}\u{2}binary",
    "{",
    "[]",
    "{}",
    "null",
    r#"{"recv_ns":"soon","exchange":"coinbase","kind":"ws","conn":1,"data":{}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"kraken","kind":"ws","conn":1,"data":{"type":"match"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"telepathy","data":{}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":"{\"type\":\"match\",\"trade_id\":"}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":[1,2,3]}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"match","trade_id":999999999999,"side":"buy","size":"1","price":"NaN","product_id":"BTC-USD","time":"2026-01-01T00:00:01.000000Z"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"match","trade_id":999999999998,"side":"buy","size":"-1","price":"100","product_id":"BTC-USD","time":"2026-01-01T00:00:01.000000Z"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"match","trade_id":999999999997,"side":"buy","size":"1","price":"100","product_id":"BTC-USD","time":"yesterday"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"match","trade_id":999999999996,"side":"buy","size":"1","price":"1e30","product_id":"BTC-USD","time":"2026-01-01T00:00:01.000000Z"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"match","trade_id":"abc","side":"buy","size":"1","price":"100","product_id":"BTC-USD","time":"2026-01-01T00:00:01.000000Z"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1.00","-5"]],"time":"2026-01-01T00:00:01.000000Z"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"l2update","product_id":"BTC-USD","changes":[["up","1.00","5"]],"time":"2026-01-01T00:00:01.000000Z"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"l2update","product_id":"BTC-USD","changes":"lots","time":"2026-01-01T00:00:01.000000Z"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"snapshot","product_id":"BTC-USD","bids":[["x","1"]],"asks":[]}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"received","order_id":"x"}}"#,
    r#"{"recv_ns":1767225600000000000,"exchange":"coinbase","kind":"rest","url":"https://api.exchange.coinbase.com/nowhere","data":{}}"#,
];

fn with_garbage(clean: &Path, out: &Path) {
    let text = std::fs::read_to_string(clean).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    for (i, line) in text.lines().enumerate() {
        if i % 97 == 5 {
            writeln!(f, "{}", GARBAGE[(i / 97) % GARBAGE.len()]).unwrap();
        }
        writeln!(f, "{line}").unwrap();
    }
    // and a truncated final line, as a crash mid-write leaves it
    write!(f, "{}", &text.lines().last().unwrap()[..40]).unwrap();
}

#[test]
fn garbage_lines_change_nothing_and_replays_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let clean = generate(dir.path(), 21, 30_000, 4, 2.0);
    let dirty = dir.path().join("dirty.jsonl");
    with_garbage(&clean, &dirty);

    let clean_data = dir.path().join("clean");
    let dirty_data = dir.path().join("dirty");
    replay(&[&clean], &clean_data);
    let summary = replay(&[&dirty], &dirty_data);
    let skipped = summary["skipped"].as_object().unwrap();
    let total: u64 = skipped.values().map(|v| v.as_u64().unwrap()).sum();
    let injected = std::fs::read_to_string(&clean).unwrap().lines().enumerate().filter(|(i, _)| i % 97 == 5).count() as u64 + 1;
    assert_eq!(total, injected, "every garbage line is skipped exactly once: {skipped:?}");
    assert_eq!(dump(&clean_data), dump(&dirty_data), "garbage changed the stored results");

    // and the dirty store still matches the independent computation of the clean capture
    let server = Server::start(&dirty_data);
    let out = verify(&server, &[&clean]);
    assert!(out.starts_with("OK:"), "{out}");
    drop(server);

    // replaying the same capture again into the same store changes nothing
    let before = dump(&clean_data);
    replay(&[&clean], &clean_data);
    assert_eq!(before, dump(&clean_data), "a second replay changed the tables");

    // one thread or split by product, the tables are the same
    let single = dir.path().join("single");
    run(bin().arg("replay").arg(&dirty).arg("--data-dir").arg(&single).arg("--single-thread"));
    assert_eq!(dump(&dirty_data), dump(&single), "--single-thread gave other tables");
}

/// A replay split by product between threads leaves the tables and counts
/// of one thread, for every exchange's traffic (plain files, each part
/// reading for itself, and compressed ones, read once for all parts), with
/// garbage between the lines, and however many parts there are.
#[test]
fn split_replays_equal_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    for (exchange, seed) in [("coinbase", 41), ("binance", 42)] {
        let clean = generate_for(exchange, dir.path(), seed, 20_000, 7, 3.0);
        let dirty = dir.path().join(format!("{exchange}-dirty.jsonl"));
        with_garbage(&with_clock_jumps(&clean, if exchange == "binance" { "@bookTicker" } else { r#""type":"ticker""# }), &dirty);
        let packed = dir.path().join(format!("{exchange}-dirty.jsonl.zst"));
        std::fs::write(&packed, zstd_compress(&std::fs::read(&dirty).unwrap())).unwrap();
        let (tables, counts) = replay_with_threads(&dirty, &dir.path().join(format!("{exchange}-1")), 1);
        assert!(counts["records"].as_u64().unwrap() > 20_000, "{counts:#}");
        for (capture, threads) in [(&dirty, 2), (&dirty, 3), (&packed, 2), (&packed, 5)] {
            let data = dir.path().join(format!("{exchange}-{threads}-{}", capture.extension().unwrap().to_string_lossy()));
            let (split_tables, split_counts) = replay_with_threads(capture, &data, threads);
            assert!(split_tables == tables, "{exchange} {}: {threads} threads gave other tables", capture.display());
            assert_eq!(split_counts, counts, "{exchange} {}: {threads} threads counted otherwise", capture.display());
        }
    }
}

#[test]
fn compressed_captures_replay_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let clean = generate(dir.path(), 31, 10_000, 3, 1.0);
    let packed = dir.path().join("cb-31.jsonl.zst");
    std::fs::write(&packed, zstd_compress(&std::fs::read(&clean).unwrap())).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    replay(&[&clean], &a);
    replay(&[&packed], &b);
    assert_eq!(dump(&a), dump(&b));
}

/// `capture` with two copies of its first line containing `marker` (a
/// frame that changes nothing when repeated), received one hour later in
/// the middle and two hours later at the end: one product's frames move
/// every product's clock, so that in a split replay the other parts must
/// move theirs (windows close, late trades are revised or dropped).
fn with_clock_jumps(capture: &Path, marker: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(capture).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let repeat = lines.iter().find(|l| l.contains(marker) && l.contains(r#""kind":"ws""#)).expect("a line to repeat");
    let recv: i64 = serde_json::from_str::<serde_json::Value>(lines[lines.len() / 2]).unwrap()["recv_ns"].as_i64().unwrap();
    let at = |ns: i64| {
        let mut record: serde_json::Value = serde_json::from_str(repeat).unwrap();
        record["recv_ns"] = ns.into();
        // The canonical field order, as the recorder writes it.
        let data = serde_json::to_string(&record["data"]).unwrap();
        format!(r#"{{"recv_ns":{ns},"exchange":{},"kind":"ws","conn":{},"data":{data}}}"#, record["exchange"], record["conn"])
    };
    let mut out = lines[..lines.len() / 2].join("\n");
    out.push('\n');
    out.push_str(&at(recv + 3_600_000_000_000));
    out.push('\n');
    out.push_str(&lines[lines.len() / 2..].join("\n"));
    out.push('\n');
    out.push_str(&at(recv + 7_200_000_000_000));
    out.push('\n');
    let path = capture.with_extension("jumps.jsonl");
    std::fs::write(&path, out).unwrap();
    path
}

/// Replays `capture` on `threads` threads: the tables, and the summary
/// without what depends on the split (times, transactions).
fn replay_with_threads(capture: &Path, data: &Path, threads: usize) -> (String, serde_json::Value) {
    let summary = data.with_extension("summary.json");
    run(bin()
        .arg("replay")
        .arg(capture)
        .arg("--data-dir")
        .arg(data)
        .args(["--threads", &threads.to_string()])
        .arg("--summary-json")
        .arg(&summary));
    let mut summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["threads"], threads, "{summary:#}");
    for key in ["elapsed_s", "records_per_s", "threads", "files"] {
        summary.as_object_mut().unwrap().remove(key);
    }
    summary["written"].as_object_mut().unwrap().remove("batches");
    (dump(data), summary)
}

fn zstd_compress(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

#[test]
fn a_store_that_cannot_open_fails_the_replay_on_either_path() {
    let dir = tempfile::tempdir().unwrap();
    // More records than the decoding thread may run ahead of the engine
    // thread, so a decoder that were not stopped would block forever.
    let capture = generate(dir.path(), 7, 40_000, 3, 0.2);
    // A regular file where the data directory belongs.
    let not_a_dir = dir.path().join("data");
    std::fs::write(&not_a_dir, b"not a directory").unwrap();
    for mode in [None, Some("--single-thread")] {
        let mut child = bin()
            .arg("replay")
            .arg(&capture)
            .arg("--data-dir")
            .arg(&not_a_dir)
            .args(mode)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let Some(status) = exit_within(&mut child, std::time::Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("replay {mode:?} did not stop after the store failed to open");
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{mode:?}: {stderr}");
        assert!(stderr.contains("cannot open the store"), "{mode:?}: {stderr}");
    }
}
