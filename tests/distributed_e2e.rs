//! Distributed mode end to end, on real servers: the simulator → `ingest`
//! → Kafka (tansu) → two `process` members of one consumer group →
//! PostgreSQL, with one member killed (SIGKILL) mid-stream and restarted,
//! and PostgreSQL restarted mid-stream. Afterwards every candle in
//! PostgreSQL equals the one a plain `replay` of the simulator's capture
//! produces: nothing lost, nothing counted twice.
//!
//! `ingest` archives to S3 as it goes, and a replay of that S3 archive gives
//! the same candles too.
//!
//! Members checkpoint their engines every second, when partitions are
//! revoked and at exit. Afterwards a new member of the group takes over
//! every partition from those checkpoints and has nothing to replay, and one
//! whose engine settings differ cannot restore them, rebuilds from the
//! beginning, and changes nothing stored.
//!
//! Needs `MARKETPIPE_TEST_KAFKA_URL`, `MARKETPIPE_TEST_POSTGRES_URL` and
//! `MARKETPIPE_TEST_S3_ENDPOINT` (scripts/test.sh starts the three servers
//! and sets them) and the `kafka` and `s3` build features.

#![cfg(all(feature = "kafka", feature = "s3"))]

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{bin, bin_s3, create_bucket, last_word, run, word_after, Proc};

const INTERVALS: &str = "1s,1m,1h,1d";

/// Partitions of the events topic (`--topic-partitions`' default).
const PARTITIONS: usize = 6;

fn env_url(var: &str, start: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!("{var} is not set: run the tests through scripts/test.sh, or `export {var}=$({start} start)`"),
    }
}

/// Every candle of every product and interval the truth store has, as JSON
/// values without `final` and `revision` (they depend on when a window was
/// closed, not on what it holds), read through `marketpipe candles`; a
/// product the store does not know yet has `"unknown product"` for candles.
fn candle_rows(store_args: &[&str], products: &[&str]) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for symbol in products {
        for interval in INTERVALS.split(',') {
            let mut cmd = bin();
            cmd.args(["candles", "--exchange", "coinbase", "--symbol", symbol, "--interval", interval])
                .args(["--limit", "100000", "--format", "json"])
                .args(store_args);
            let out = cmd.output().expect("candles runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && stderr.contains("unknown product") {
                // Not stored yet (the store is still catching up): a row
                // that equals nothing the truth has.
                rows.push(serde_json::json!({"symbol": symbol, "interval": interval, "candles": "unknown product"}));
                continue;
            }
            assert!(out.status.success(), "{cmd:?} failed: {stderr}");
            let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("candles print JSON");
            let candles = v["candles"].as_array_mut().expect("a candles array");
            for c in candles.iter_mut() {
                let c = c.as_object_mut().expect("an object");
                c.remove("final");
                c.remove("revision");
            }
            rows.push(serde_json::json!({"symbol": symbol, "interval": interval, "candles": candles}));
        }
    }
    rows
}

/// A count from `process`'s summary line (`... rebuilt 12, ...`).
fn summary_count(summary: &str, what: &str) -> u64 {
    word_after(summary, what).and_then(|w| w.trim_end_matches(',').parse().ok()).unwrap_or_else(|| panic!("no {what} in {summary}"))
}

/// Waits until `member` says it was assigned `n` partitions of the events
/// topic (the range assignor splits them evenly), skipping reports of
/// earlier assignments.
fn holds_partitions(member: &Proc, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = member.line_within("process: assigned partitions", deadline.saturating_duration_since(Instant::now()));
        let list = line.split('[').nth(1).and_then(|rest| rest.split(']').next()).unwrap_or_default();
        if list.split(',').filter(|p| !p.trim().is_empty()).count() == n {
            return;
        }
    }
}

fn process(kafka: &str, store: &str, group: &str, prefix: &str) -> Proc {
    process_with(kafka, store, group, prefix, INTERVALS)
}

fn process_with(kafka: &str, store: &str, group: &str, prefix: &str, intervals: &str) -> Proc {
    let proc = Proc::spawn(bin().args([
        "process",
        "--bus",
        kafka,
        "--store",
        store,
        "--group",
        group,
        "--topic-prefix",
        prefix,
        "--intervals",
        intervals,
        "--checkpoint-interval",
        "1s",
    ]));
    proc.line_with("marketpipe process consuming");
    proc
}

#[test]
fn a_killed_member_and_a_restarted_database_lose_nothing_and_count_nothing_twice() {
    let kafka = env_url("MARKETPIPE_TEST_KAFKA_URL", "scripts/services/kafka.sh");
    let postgres = env_url("MARKETPIPE_TEST_POSTGRES_URL", "scripts/services/postgres.sh");
    let s3 = env_url("MARKETPIPE_TEST_S3_ENDPOINT", "scripts/services/s3.sh");
    let archive = format!("s3://{}/ingest", create_bucket(&s3, "distributed"));
    let unique = format!("{}_{}", std::process::id(), SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis());
    // A schema, topics and a group of this run's own: the servers may be shared.
    let sep = if postgres.contains('?') { '&' } else { '?' };
    let store = format!("{postgres}{sep}schema=mpt_dist_{unique}");
    let prefix = format!("t{unique}.");
    let group = format!("g{unique}");
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.jsonl");

    let mut sim = Proc::spawn(
        bin()
            .args(["sim", "--listen", "127.0.0.1:0", "--seed", "31", "--products", "3", "--rate", "300", "--duration", "10s"])
            .args(["--wait-for-subscriber", "--write-capture"])
            .arg(&truth),
    );
    let endpoints = sim.line_with("marketpipe sim:");
    let (ws, rest) = (word_after(&endpoints, "websocket").unwrap(), word_after(&endpoints, "rest").unwrap());
    let products = last_word(&sim.line_with("products:"));

    // The members join one at a time. Two joining within milliseconds of
    // each other sometimes left one of them in tansu's group without ever
    // receiving its assignment: its partitions then went unread for the
    // whole run (see the README's test section).
    let mut a = process(&kafka, &store, &group, &prefix);
    holds_partitions(&a, PARTITIONS);
    let mut b = process(&kafka, &store, &group, &prefix);
    holds_partitions(&b, PARTITIONS / 2);
    let mut ingest = Proc::spawn(
        bin_s3(&s3)
            .args(["ingest", "--bus", &kafka, "--topic-prefix", &prefix, "--archive", &archive])
            .args(["--exchange", "coinbase", "--products", &products])
            .args(["--ws-url", &ws, "--rest-url", &rest, "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("ingest")),
    );
    ingest.line_with("listening on");
    // The market starts when ingest subscribes and runs 10 s.
    let market_started = Instant::now();

    // Mid-stream: one member dies without a word, the database restarts,
    // and the member comes back.
    std::thread::sleep(Duration::from_secs(3));
    let _ = a.signal("-KILL");
    std::thread::sleep(Duration::from_secs(1));
    let restarted = std::process::Command::new("scripts/services/postgres.sh").arg("restart").status().expect("postgres.sh runs");
    assert!(restarted.success(), "PostgreSQL restarts");
    std::thread::sleep(Duration::from_secs(2));
    a = process(&kafka, &store, &group, &prefix);

    // The market ends at 10 s, and the last frames are published.
    std::thread::sleep(Duration::from_secs(13).saturating_sub(market_started.elapsed()));
    let (status, _) = ingest.interrupt();
    assert!(status.success(), "ingest exits 0: {status}");
    let (status, _) = sim.interrupt();
    assert!(status.success());

    let truth_dir = dir.path().join("truth");
    run(bin().arg("replay").arg(&truth).arg("--data-dir").arg(&truth_dir).args(["--intervals", INTERVALS]));
    let products: Vec<&str> = ["BTC-USD", "ETH-USD", "SOL-USD"].into_iter().collect();
    let expected = candle_rows(&["--data-dir", truth_dir.to_str().unwrap()], &products);
    let stored = || candle_rows(&["--store", &store, "--data-dir", dir.path().to_str().unwrap()], &products);
    let count = |rows: &[serde_json::Value]| rows.iter().map(|r| r["candles"].as_array().map_or(0, Vec::len)).sum::<usize>();
    assert!(count(&expected) > 30, "{} candles", count(&expected));
    // The members catch up on their own. How soon depends on the broker:
    // the killed member's partitions stay assigned to it until the group
    // coordinator gives up on it (its session timeout, and sometimes longer
    // with tansu), so the test waits for the result rather than a fixed time.
    let caught_up = Instant::now() + Duration::from_secs(90);
    let mut now_stored = stored();
    while now_stored != expected && Instant::now() < caught_up {
        std::thread::sleep(Duration::from_millis(500));
        now_stored = stored();
    }
    assert_eq!(now_stored, expected, "candles in PostgreSQL differ from a replay of the capture");

    // The raw archive ingest uploaded replays to the same candles.
    let from_s3 = dir.path().join("from-s3");
    run(bin_s3(&s3).arg("replay").arg(&archive).arg("--data-dir").arg(&from_s3).args(["--intervals", INTERVALS]));
    let replayed = candle_rows(&["--data-dir", from_s3.to_str().unwrap()], &products);
    assert_eq!(replayed, expected, "a replay of the S3 archive differs from a replay of the capture");

    // Hand-over by checkpoint: a member joining the group takes partitions
    // restored from the checkpoints the others write when those are
    // revoked, then the others stop and it takes the rest from the
    // checkpoints they write at exit. It replays nothing. Members join and
    // leave one at a time, each once the group has settled, and one always
    // stays: tansu sometimes never completes a rebalance that a member
    // leaves in the middle of (Kafka's protocol drops such a member).
    let mut c = process(&kafka, &store, &group, &prefix);
    holds_partitions(&c, PARTITIONS / 3);
    for (member, left) in [(&mut a, 2), (&mut b, 1)] {
        let (status, took) = member.interrupt();
        assert!(status.success() && took < Duration::from_secs(5), "process exits 0 promptly: {status} after {took:?}");
        holds_partitions(&c, PARTITIONS / left);
    }
    assert_eq!(stored(), expected, "stopping the members changed stored candles");
    // Other engine settings cannot use those checkpoints: a member with
    // them rebuilds from the beginning up to the stored positions, which
    // writes nothing.
    let mut d = process_with(&kafka, &store, &group, &prefix, "1s,1m");
    holds_partitions(&d, PARTITIONS / 2);
    let (status, _) = c.interrupt();
    assert!(status.success());
    let summary = c.line_with("process summary:");
    let count = |what: &str| summary_count(&summary, what);
    assert!(count("restored") >= 1, "nothing restored: {summary}");
    assert_eq!((count("applied"), count("rebuilt"), count("unrestorable")), (0, 0, 0), "{summary}");

    holds_partitions(&d, PARTITIONS);
    std::thread::sleep(Duration::from_secs(2));
    let (status, _) = d.interrupt();
    assert!(status.success());
    let summary = d.line_with("process summary:");
    let count = |what: &str| summary_count(&summary, what);
    assert!(count("unrestorable") >= 1 && count("rebuilt") > 0, "{summary}");
    assert_eq!(count("applied"), 0, "{summary}");
    assert_eq!(stored(), expected, "a member rebuilding from the beginning changed stored candles");
}
