//! The Kafka client against a real broker (tansu, started by
//! scripts/test.sh; `MARKETPIPE_TEST_KAFKA_URL` names it): topics are
//! created once and creating them again is harmless, a product's messages
//! land in one partition in order, and a group member is told its
//! assignment and reads each partition from its beginning.

#![cfg(feature = "kafka")]

use std::{collections::BTreeMap, time::Duration};

use marketpipe_bus::{
    kafka::{ensure_topics, Assignment, KafkaSettings, Publisher, Subscriber},
    BusUrl,
};

fn settings() -> KafkaSettings {
    let url = std::env::var("MARKETPIPE_TEST_KAFKA_URL").unwrap_or_default();
    let brokers = match url.parse::<BusUrl>() {
        Ok(BusUrl::Kafka { brokers }) => brokers,
        _ => panic!("MARKETPIPE_TEST_KAFKA_URL={url:?}: run through scripts/test.sh, or `export MARKETPIPE_TEST_KAFKA_URL=$(scripts/services/kafka.sh start)`"),
    };
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    KafkaSettings { partitions: 3, topic_prefix: format!("bus{}_{unique}.", std::process::id()), ..KafkaSettings::new(brokers) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_stay_ordered_in_one_partition_and_members_read_from_the_beginning() {
    let s = settings();
    let topic = s.events_topic();
    ensure_topics(&s, std::slice::from_ref(&topic)).await.unwrap();
    ensure_topics(&s, std::slice::from_ref(&topic)).await.expect("creating an existing topic is harmless");

    let publisher = Publisher::new(&s).unwrap();
    let keys = ["coinbase:BTC-USD", "binance:BTC-USDT", "kucoin:ETH-USDT", "coinbase:SOL-USD"];
    let mut partition_of = BTreeMap::new();
    for i in 0..40u32 {
        let key = keys[i as usize % keys.len()];
        let delivered = publisher.send(&topic, key, format!("{key}#{i}").as_bytes()).await.unwrap();
        let first = *partition_of.entry(key).or_insert(delivered.partition);
        assert_eq!(first, delivered.partition, "{key} moved partition");
    }
    publisher.flush(Duration::from_secs(5)).unwrap();

    // Joins after everything was published: still reads it all, from offset 0.
    let subscriber = Subscriber::new(&s, &format!("{}group", s.topic_prefix), &[topic.as_str()]).unwrap();
    let mut seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.values().map(Vec::len).sum::<usize>() < 40 {
        let m = tokio::time::timeout_at(deadline, subscriber.recv()).await.expect("all 40 messages arrive").unwrap();
        let text = String::from_utf8(m.payload).unwrap();
        let (key, n) = text.split_once('#').unwrap();
        assert_eq!(m.key.as_deref(), Some(key.as_bytes()));
        assert_eq!(Some(&m.partition), partition_of.get(key));
        seen.entry(key.to_owned()).or_default().push(n.parse().unwrap());
    }
    for (key, ns) in &seen {
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{key} out of order: {ns:?}");
        assert_eq!(ns.len(), 10, "{key}");
    }
    let assigned: Vec<i32> = subscriber
        .assignments()
        .into_iter()
        .flat_map(|a| match a {
            Assignment::Assigned(list) => list.into_iter().map(|(_, p)| p).collect(),
            Assignment::Revoked(_) => Vec::new(),
        })
        .collect();
    assert_eq!(assigned.len(), 3, "the only member gets every partition: {assigned:?}");
    for &p in partition_of.values() {
        let (low, high) = subscriber.watermarks(&topic, p).unwrap();
        assert_eq!(low, 0);
        assert!(high >= 10, "partition {p} holds its messages: {high}");
    }
}

/// The offset of the next message `sub` reads.
async fn next(sub: &Subscriber) -> i64 {
    tokio::time::timeout(Duration::from_secs(30), sub.recv()).await.expect("a message arrives").unwrap().offset
}

/// What a member commits is where the next member of its group starts
/// reading; a seek moves reading back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_starts_at_the_committed_offset_and_seek_moves_back() {
    let s = KafkaSettings { partitions: 1, ..settings() };
    let topic = s.events_topic();
    ensure_topics(&s, std::slice::from_ref(&topic)).await.unwrap();
    let publisher = Publisher::new(&s).unwrap();
    for i in 0..20u32 {
        publisher.send(&topic, "k", i.to_string().as_bytes()).await.unwrap();
    }
    publisher.flush(Duration::from_secs(5)).unwrap();
    let group = format!("{}group", s.topic_prefix);
    {
        let first = Subscriber::new(&s, &group, &[topic.as_str()]).unwrap();
        assert_eq!(next(&first).await, 0, "nothing committed: from the beginning");
        first.commit(&topic, 0, 12).unwrap();
        // The commit is asynchronous; give it time to land before leaving.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let second = Subscriber::new(&s, &group, &[topic.as_str()]).unwrap();
    assert_eq!(next(&second).await, 12, "starts at the committed offset");
    assert_eq!(next(&second).await, 13);
    second.seek(&topic, 0, 3).unwrap();
    assert_eq!(next(&second).await, 3, "reads again from where it sought");
    drop(second);

    // Seeking right after the assignment (what `process` does) takes too.
    // A message delivered together with the assignment was fetched before
    // the seek, so its owner must drop it; nothing fetched before the seek
    // is delivered after it.
    let third = Subscriber::new(&s, &group, &[topic.as_str()]).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no assignment");
        let _ = tokio::time::timeout(Duration::from_millis(20), third.recv()).await;
        if third.assignments().iter().any(|a| matches!(a, Assignment::Assigned(_))) {
            break;
        }
    }
    third.seek(&topic, 0, 7).unwrap();
    assert_eq!(next(&third).await, 7, "reads from where it sought at assignment");
    assert_eq!(next(&third).await, 8);
}
