//! The Binance dialect over real loopback sockets, checked with the real
//! Binance decoder.

mod common;

use std::time::{Duration, Instant};

use common::{fast_on, http, side_of, sim, strip, Books, Client, Next, Raw};
use marketpipe_model::{MarketEvent, Timestamp, Trade};
use marketpipe_sim::{AckFault, Exchange, Faults, SimConfig, SimHandle};
use marketpipe_venues::{
    binance::{agg_trades_url, depth_snapshot_url, stream_name, subscribe_request, BinanceDecoder, BookSyncState},
    Decoded, VenueDecoder,
};

const IDLE: Duration = Duration::from_millis(400);

fn binance(seed: u64, products: usize, duration_ms: u64) -> SimConfig {
    fast_on(Exchange::Binance, seed, products, duration_ms)
}

/// A decoder that knows the simulator's symbols, from its exchangeInfo.
async fn decoder(sim: &SimHandle) -> BinanceDecoder {
    let url = format!("{}/api/v3/exchangeInfo", sim.rest_url());
    let body = http().get(&url).send().await.unwrap().text().await.unwrap();
    let mut d = BinanceDecoder::new();
    let mut out = Vec::new();
    assert_eq!(d.decode_rest(&url, &body, Timestamp(0), &mut out).unwrap(), Decoded::Rest { endpoint: "exchangeInfo" });
    assert_eq!(out.len(), sim.products().len());
    d
}

fn decode(d: &mut BinanceDecoder, frame: &str) -> (Decoded, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let decoded = d.decode_ws(frame, Timestamp(0), &mut out).unwrap_or_else(|e| panic!("{e}: {frame}"));
    (decoded, out)
}

fn streams_url(sim: &SimHandle, channels: &[&str]) -> String {
    let names: Vec<String> = sim.products().iter().flat_map(|p| channels.iter().map(move |c| stream_name(p, c))).collect();
    format!("{}?streams={}", sim.ws_url(), names.join("/"))
}

#[tokio::test]
async fn url_streams_flow_at_connect_and_subscribe_is_acknowledged() {
    // A second of market at 5000 frames/s: one `!miniTicker@arr`.
    let sim = sim(SimConfig { rate: 5_000.0, ..binance(1, 2, 1_300) }).await;
    assert_eq!((sim.exchange(), sim.products()), (Exchange::Binance, vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()]));
    assert!(sim.ws_url().ends_with("/stream"));
    let mut d = decoder(&sim).await;
    let mut client = Client::connect(&format!("{}?streams=btcusdt@aggTrade", sim.ws_url())).await;
    // Data flows with no request at all: URL streams take effect at connect.
    let first = client.expect().await;
    assert!(first.starts_with(r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade""#), "{first}");
    client.send(&subscribe_request(&["ethusdt@depth@100ms", "ethusdt@bookTicker", "!miniTicker@arr"], 7)).await;
    client.send(r#"{"method":"LIST_SUBSCRIPTIONS","id":8}"#).await;
    let (mut ack, mut listing) = (None, None);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ack.is_none() || listing.is_none() || kinds.len() < 4 {
        assert!(Instant::now() < deadline, "{kinds:?} {ack:?} {listing:?}");
        let frame = client.expect().await;
        match decode(&mut d, &frame).0 {
            Decoded::Subscriptions { channels } if frame.contains(r#""id":7"#) => ack = Some((frame.clone(), channels)),
            Decoded::Subscriptions { channels } => listing = Some(channels),
            other => *kinds.entry(other.label().to_owned()).or_default() += 1,
        }
    }
    assert_eq!(ack.unwrap().0, r#"{"result":null,"id":7}"#);
    let listing = listing.unwrap();
    let names: Vec<&str> = listing.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(names, ["!miniTicker@arr", "aggTrade", "bookTicker", "depth@100ms"]);
    assert_eq!(kinds.keys().map(String::as_str).collect::<Vec<_>>(), ["24hrMiniTicker", "aggTrade", "bookTicker", "depthUpdate"]);
    // Unknown channels are refused; unknown symbols are accepted, silently.
    client.send(&subscribe_request(&["btcusdt@kline_1m"], 9)).await;
    client.send(&subscribe_request(&["nopeusdt@aggTrade"], 10)).await;
    let mut replies = Vec::new();
    while replies.len() < 2 {
        let frame = client.expect().await;
        if frame.contains(r#""id":9"#) || frame.contains(r#""id":10"#) {
            replies.push(frame);
        }
    }
    assert!(replies[0].starts_with(r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"#), "{}", replies[0]);
    assert_eq!(replies[1], r#"{"result":null,"id":10}"#);
    assert!(matches!(decode(&mut d, &replies[0]).0, Decoded::ExchangeError { .. }));
    client.close().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_depth_snapshot_joins_the_stream_by_update_id() {
    let sim = sim(binance(2, 3, 700)).await;
    let mut d = decoder(&sim).await;
    let mut client = Client::connect(&streams_url(&sim, &["depth@100ms"])).await;
    let mut books = Books::default();
    let apply = |events: Vec<MarketEvent>, books: &mut Books| {
        for e in &events {
            assert!(!matches!(e, MarketEvent::BookReset(_)), "{e:?}");
            books.apply(e);
        }
    };
    // Binance's procedure: buffer the stream, then fetch a snapshot for each
    // symbol the decoder asks for, while the stream keeps flowing.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(150) {
        let frame = client.expect().await;
        apply(decode(&mut d, &frame).1, &mut books);
    }
    let waiting: Vec<String> = d.needs_snapshot().map(str::to_owned).collect();
    assert_eq!(waiting, sim.products(), "every symbol buffered updates");
    for symbol in &waiting {
        let url = depth_snapshot_url(&sim.rest_url(), symbol);
        let body = http().get(&url).send().await.unwrap().text().await.unwrap();
        let mut out = Vec::new();
        d.decode_rest(&url, &body, Timestamp(0), &mut out).unwrap();
        apply(out, &mut books);
    }
    assert_eq!(books.snapshots, 3);
    sim.generation_done().await;
    for frame in client.drain(IDLE).await {
        apply(decode(&mut d, &frame).1, &mut books);
    }
    assert!(books.deltas > 100, "{}", books.deltas);
    assert_eq!(d.stats().sequence_gaps + d.stats().stale_snapshots, 0, "{:?}", d.stats());
    // The market is still now: the book built from the stream is the book.
    for symbol in sim.products() {
        let Some(BookSyncState::Synced { update_id, joined: true }) = d.book_state(&symbol) else { panic!("{symbol} not synced") };
        let url = depth_snapshot_url(&sim.rest_url(), &symbol);
        let body = http().get(&url).send().await.unwrap().text().await.unwrap();
        let mut fresh = BinanceDecoder::new();
        let mut out = Vec::new();
        fresh
            .decode_rest(
                &format!("{}/api/v3/exchangeInfo", sim.rest_url()),
                &http().get(format!("{}/api/v3/exchangeInfo", sim.rest_url())).send().await.unwrap().text().await.unwrap(),
                Timestamp(0),
                &mut out,
            )
            .unwrap();
        out.clear();
        fresh.decode_rest(&url, &body, Timestamp(0), &mut out).unwrap();
        let MarketEvent::BookSnapshot(now) = &out[0] else { panic!("{out:?}") };
        assert_eq!(now.sequence, Some(update_id), "{symbol}: the snapshot's lastUpdateId is the stream's last u");
        let (bids, asks) = books.book(&now.instrument.symbol.to_string()).unwrap();
        assert_eq!((bids, asks), (&side_of(&now.bids), &side_of(&now.asks)), "{symbol}");
    }
    client.close().await;
    sim.shutdown().await.unwrap();
}

/// Every aggregate trade of `symbol` from `from_id` on, page by page.
async fn agg_history(sim: &SimHandle, d: &mut BinanceDecoder, symbol: &str, from_id: u64) -> Vec<Trade> {
    let mut all: Vec<Trade> = Vec::new();
    let mut next = from_id;
    loop {
        let url = agg_trades_url(&sim.rest_url(), symbol, next).replace("limit=1000", "limit=97");
        let resp = http().get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let body = resp.text().await.unwrap();
        let mut out = Vec::new();
        d.decode_rest(&url, &body, Timestamp(0), &mut out).unwrap();
        let page: Vec<Trade> = out.into_iter().filter_map(|e| if let MarketEvent::Trade(t) = e { Some(t) } else { None }).collect();
        let Some(last) = page.last() else { break };
        assert_eq!(page[0].id.as_u64(), Some(next), "pages start at fromId");
        assert!(page.len() <= 97);
        next = last.id.as_u64().unwrap() + 1;
        all.extend(page);
    }
    all
}

#[tokio::test]
async fn agg_trades_page_ascending_from_an_id_and_match_the_stream() {
    let sim = sim(SimConfig { wait_for_subscriber: true, ..binance(3, 2, 400) }).await;
    let mut d = decoder(&sim).await;
    // URL streams count as the subscription the market waits for.
    let mut client = Client::connect(&streams_url(&sim, &["aggTrade"])).await;
    sim.generation_done().await;
    let mut streamed: Vec<Trade> = Vec::new();
    for frame in client.drain(IDLE).await {
        streamed.extend(decode(&mut d, &frame).1.into_iter().filter_map(|e| if let MarketEvent::Trade(t) = e { Some(t) } else { None }));
    }
    assert_eq!(streamed.len() as u64, sim.stats().trades, "the client saw the whole market");
    for symbol in sim.products() {
        let mine: Vec<Trade> = streamed.iter().filter(|t| t.instrument.symbol.to_string().replace('-', "") == symbol).map(strip).collect();
        assert!(mine.windows(2).all(|w| w[1].id.as_u64().unwrap() == w[0].id.as_u64().unwrap() + 1), "ids consecutive");
        let rest: Vec<Trade> = agg_history(&sim, &mut d, &symbol, mine[0].id.as_u64().unwrap()).await.iter().map(strip).collect();
        assert_eq!(rest, mine, "{symbol}: REST pages are the stream");
        // Without fromId: the most recent, ascending.
        let url = format!("{}/api/v3/aggTrades?symbol={symbol}&limit=5", sim.rest_url());
        let body = http().get(&url).send().await.unwrap().text().await.unwrap();
        let ids: Vec<u64> =
            serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap().iter().map(|t| t["a"].as_u64().unwrap()).collect();
        let last = mine.last().unwrap().id.as_u64().unwrap();
        assert_eq!(ids, (last - 4..=last).collect::<Vec<_>>());
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn rest_errors_are_binance_errors() {
    let sim = sim(binance(4, 2, 100)).await;
    let http = http();
    for (path, status, code) in [
        ("/api/v3/depth?symbol=NOPEUSDT", 400, Some(-1121)),
        ("/api/v3/depth", 400, Some(-1102)),
        ("/api/v3/depth?symbol=BTCUSDT&limit=ten", 400, Some(-1100)),
        ("/api/v3/depth?symbol=BTCUSDT&speed=1", 400, Some(-1104)),
        ("/api/v3/aggTrades?symbol=BTCUSDT&limit=1001", 400, Some(-1130)),
        ("/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&startTime=1", 400, Some(-1128)),
        ("/api/v3/exchangeInfo?symbol=NOPEUSDT", 400, Some(-1121)),
        ("/api/v3/depth?symbol=BTCUSDT&limit=5", 200, None),
        ("/api/v3/exchangeInfo?symbols=%5B%22ETHUSDT%22%5D", 200, None),
        ("/api/v3/ping", 200, None),
        ("/products", 404, Some(-1)),
    ] {
        let resp = http.get(format!("{}{path}", sim.rest_url())).send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["code"].as_i64(), code, "{path}: {body}");
    }
    let depth: serde_json::Value =
        http.get(format!("{}/api/v3/depth?symbol=BTCUSDT&limit=5", sim.rest_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!((depth["bids"].as_array().unwrap().len(), depth["asks"].as_array().unwrap().len()), (5, 5));
    let info: serde_json::Value =
        http.get(format!("{}/api/v3/exchangeInfo?symbols=%5B%22ETHUSDT%22%5D", sim.rest_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["symbols"].as_array().unwrap().len(), 1);
    // Streams the connection cannot have are refused at the handshake.
    assert!(Client::try_connect(&format!("{}?streams=btcusdt@nope", sim.ws_url())).await.is_err());
    assert!(Client::try_connect(&format!("ws://{}/elsewhere", sim.local_addr())).await.is_err());
    assert_eq!(sim.stats().refused, 1);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn more_than_five_messages_a_second_disconnect() {
    let sim = sim(binance(5, 1, 100)).await;
    let mut calm = Client::connect(&sim.ws_url()).await;
    for id in 0..8 {
        calm.send(&format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":{id}}}"#)).await;
        assert_eq!(calm.expect().await, format!(r#"{{"result":[],"id":{id}}}"#));
        tokio::time::sleep(Duration::from_millis(260)).await;
    }
    let mut eager = Client::connect(&sim.ws_url()).await;
    for id in 0..6 {
        eager.send(&format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":{id}}}"#)).await;
    }
    let mut replies = 0;
    loop {
        match eager.next(Duration::from_secs(3)).await {
            Next::Text(_) => replies += 1,
            Next::Closed => break,
            Next::Timeout => panic!("not disconnected"),
        }
    }
    assert_eq!(replies, 5, "the 6th message in a second ends the connection");
    assert_eq!(sim.stats().rate_limited, 1);
    calm.send(r#"{"method":"LIST_SUBSCRIPTIONS","id":99}"#).await;
    assert!(calm.expect().await.contains(r#""id":99"#), "other connections are unaffected");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn at_most_1024_streams_per_connection() {
    let sim = sim(binance(6, 1, 100)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    let names: Vec<String> = (0..1020).map(|i| format!("x{i}usdt@aggTrade")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    client.send(&subscribe_request(&refs, 1)).await;
    assert_eq!(client.expect().await, r#"{"result":null,"id":1}"#);
    let more = ["btcusdt@aggTrade", "btcusdt@depth", "btcusdt@depth@100ms", "btcusdt@bookTicker", "!miniTicker@arr"];
    client.send(&subscribe_request(&more, 2)).await;
    let reply = client.expect().await;
    assert!(reply.contains(r#""code":2"#) && reply.contains("1024"), "{reply}");
    client.send(&subscribe_request(&more[..4], 3)).await;
    assert_eq!(client.expect().await, r#"{"result":null,"id":3}"#, "exactly 1024 is fine");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_server_pings_and_drops_clients_that_never_pong() {
    // Pongs count against the 5 messages a second, as on Binance: a ping
    // every 250 ms keeps the answering client within it.
    let sim = sim(SimConfig { server_ping: Duration::from_millis(250), ..binance(7, 1, 100) }).await;
    let mut live = Client::connect(&sim.ws_url()).await;
    let mut quiet = Client::connect(&sim.ws_url()).await;
    // `live` reads (and so answers every ping); `quiet` reads nothing.
    let t = Instant::now();
    let mut pings = 0;
    while t.elapsed() < Duration::from_millis(1_600) {
        match live.next_raw(Duration::from_millis(300)).await {
            Raw::Ping => pings += 1,
            Raw::Closed => panic!("a client that pongs is kept"),
            Raw::Text(_) | Raw::Timeout => {}
        }
    }
    assert!((5..=7).contains(&pings), "{pings} pings in 1.6 s");
    assert_eq!(sim.stats().ping_timeouts, 1, "the silent client was dropped after three periods");
    let mut ended = false;
    while !ended {
        ended = matches!(quiet.next_raw(Duration::from_secs(1)).await, Raw::Closed | Raw::Timeout);
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn ack_faults_and_raw_streams() {
    let delay = Duration::from_millis(250);
    let late = sim(SimConfig { faults: Faults { ack: AckFault::Late(delay), ..Faults::default() }, ..binance(8, 1, 1_000) }).await;
    let mut client = Client::connect(&late.ws_url()).await;
    let sent = Instant::now();
    client.send(&subscribe_request(&["btcusdt@aggTrade"], 1)).await;
    assert_eq!(client.expect().await, r#"{"result":null,"id":1}"#);
    assert!(sent.elapsed() >= delay);
    assert!(client.expect().await.contains("aggTrade"));
    late.shutdown().await.unwrap();

    let sim = sim(SimConfig { faults: Faults { ack: AckFault::Missing, ..Faults::default() }, ..binance(8, 1, 1_000) }).await;
    let mut d = decoder(&sim).await;
    // `/ws/<stream>` serves bare payloads; SET_PROPERTY switches to wrapped.
    let mut raw = Client::connect(&format!("ws://{}/ws/btcusdt@aggTrade", sim.local_addr())).await;
    let bare = raw.expect().await;
    assert!(bare.starts_with(r#"{"e":"aggTrade""#), "{bare}");
    assert!(matches!(decode(&mut d, &bare).1[..], [MarketEvent::Trade(_)]));
    raw.send(r#"{"method":"SET_PROPERTY","params":["combined",true],"id":5}"#).await;
    raw.send(&subscribe_request(&["btcusdt@depth"], 6)).await;
    let mut saw = (false, false);
    for _ in 0..200 {
        let f = raw.expect().await;
        assert!(!f.contains(r#""id":6"#), "the missing-ack fault withholds the SUBSCRIBE reply");
        saw.0 |= f == r#"{"result":null,"id":5}"#;
        saw.1 |= f.starts_with(r#"{"stream":"btcusdt@depth","data":{"e":"depthUpdate""#);
        if saw.0 && saw.1 {
            break;
        }
    }
    assert_eq!(saw, (true, true));
    assert_eq!(sim.stats().acks_withheld, 1);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_and_duplicate_frames_are_extra() {
    let faults = Faults { malformed_rate: 0.05, duplicate_rate: 0.05, ..Faults::default() };
    let sim = sim(SimConfig { faults, ..binance(9, 2, 300) }).await;
    let mut d = decoder(&sim).await;
    let mut client = Client::connect(&streams_url(&sim, &["aggTrade", "bookTicker"])).await;
    sim.generation_done().await;
    let frames = client.drain(IDLE).await;
    let mut failures = 0;
    let mut ids = std::collections::BTreeMap::<String, Vec<u64>>::new();
    for f in &frames {
        let mut out = Vec::new();
        match d.decode_ws(f, Timestamp(0), &mut out) {
            Ok(_) => {
                for e in out {
                    if let MarketEvent::Trade(t) = e {
                        ids.entry(t.instrument.symbol.to_string()).or_default().push(t.id.as_u64().unwrap());
                    }
                }
            }
            Err(_) => failures += 1,
        }
    }
    let stats = sim.stats();
    assert_eq!(failures, stats.malformed_sent, "every malformed frame fails, nothing else does");
    assert!(stats.malformed_sent > 5 && stats.duplicates_sent > 5, "{stats:?}");
    for (symbol, mut v) in ids {
        v.dedup();
        assert!(v.windows(2).all(|w| w[1] == w[0] + 1), "{symbol}: nothing lost around faults");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn drop_faults_apply_to_binance_too() {
    let faults = Faults { drop_every: Some(Duration::from_millis(300)), ..Faults::default() };
    let sim = sim(SimConfig { faults, ..binance(10, 1, 3_000) }).await;
    for round in 1..=2u64 {
        let opened = Instant::now();
        let mut client = Client::connect(&streams_url(&sim, &["aggTrade"])).await;
        let mut frames = 0;
        while let Next::Text(_) = client.next(Duration::from_secs(3)).await {
            frames += 1;
        }
        let lived = opened.elapsed();
        assert!(lived >= Duration::from_millis(280) && lived < Duration::from_millis(1_500), "dropped after {lived:?}");
        assert!(frames > 10);
        assert_eq!(sim.stats().drops, round);
    }
    sim.shutdown().await.unwrap();
}
