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

/// Every table the store holds, as text, in key order.
fn dump(data: &Path) -> String {
    let db = rusqlite::Connection::open(data.join("marketpipe.db")).unwrap();
    let mut out = String::new();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(tables.iter().any(|t| t == "candles"), "{tables:?}");
    for table in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2, 3, 4")).unwrap();
        let n = stmt.column_count();
        let rows =
            stmt.query_map([], |r| Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))).unwrap();
        out.push_str(&format!("== {table}\n"));
        for row in rows {
            out.push_str(&row.unwrap());
            out.push('\n');
        }
    }
    out
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

    // one thread or two (decoding beside the engine), the tables are the same
    let single = dir.path().join("single");
    run(bin().arg("replay").arg(&dirty).arg("--data-dir").arg(&single).arg("--single-thread"));
    assert_eq!(dump(&dirty_data), dump(&single), "--single-thread gave other tables");
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
