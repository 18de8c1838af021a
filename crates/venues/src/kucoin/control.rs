//! Control frames: `welcome`, `ack`, `pong` and `error` from the server,
//! and the `subscribe` / `unsubscribe` requests sent to it.
//!
//! See <https://www.kucoin.com/docs-new/websocket-api/base-info/introduction>
//! (welcome, ping/pong, subscribe, ack) and
//! <https://www.kucoin.com/docs-new/error-code/websocket> (error codes).
//!
//! The server's frames:
//!
//! ```json
//! {"id":"hQvf8jkno","type":"welcome"}
//! {"id":"1545910660739","type":"ack"}
//! {"id":"1545910590801","type":"pong"}
//! {"id":"1545910660739","type":"error","code":404,"data":"topic /market/match:BTC-XYZ is not found"}
//! ```
//!
//! An `ack` carries nothing but the request's `id`, so it cannot say what
//! was subscribed. The requests built here therefore use an id of the form
//! `{n}{topic}` (`7/market/level2:BTC-USDT,ETH-USDT`): a counter for
//! uniqueness followed by the topic. KuCoin documents the id as any unique
//! string and echoes it verbatim, so the `ack` names its topic and the
//! decoder reports its symbols without remembering any request. An ack
//! whose id is not of that form (sent by another client) is reported with
//! no channels.

use serde_json::value::RawValue;

use super::de::{self, json_error, Str};
use crate::DecodeError;

/// The most symbols one topic may name (KuCoin: "A topic supports up to
/// 100 symbols").
pub const MAX_SYMBOLS_PER_TOPIC: usize = 100;

/// The channels an `ack` with id `id` acknowledges: `[(channel, symbols)]`
/// where the channel is the topic up to its `:` (`/market/level2`) and the
/// symbols are the comma-separated rest, verbatim (`all` for
/// `/market/ticker:all`). Empty for an id that does not embed a topic.
pub(crate) fn ack_channels(id: Option<&RawValue>) -> Result<Vec<(String, Vec<String>)>, DecodeError> {
    let Some(raw) = id else { return Ok(Vec::new()) };
    let id = match serde_json::from_str::<Str<'_>>(raw.get()) {
        Ok(s) => s,
        // Another client's numeric id: nothing to read from it.
        Err(_) if serde_json::from_str::<u64>(raw.get()).is_ok() => return Ok(Vec::new()),
        Err(e) => return Err(json_error(e)),
    };
    let topic = id.as_str().trim_start_matches(|c: char| c.is_ascii_digit());
    if topic.len() == id.as_str().len() || !topic.starts_with('/') {
        return Ok(Vec::new());
    }
    let Some((channel, symbols)) = topic.split_once(':') else { return Ok(Vec::new()) };
    let symbols = symbols.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    Ok(vec![(channel.to_owned(), symbols)])
}

/// The message and code of an `error` frame: `data` is the message (a
/// string), `code` the reason.
pub(crate) fn error_parts(code: Option<&RawValue>, data: Option<&RawValue>) -> Result<(String, Option<String>), DecodeError> {
    let data = de::required(data, "data")?;
    let message = serde_json::from_str::<Str<'_>>(data.get()).map_err(json_error)?.0.into_owned();
    let reason = match code {
        None => None,
        Some(raw) => match serde_json::from_str::<Option<Str<'_>>>(raw.get()) {
            Ok(s) => s.map(|s| s.0.into_owned()),
            Err(_) => Some(serde_json::from_str::<u64>(raw.get()).map_err(json_error)?.to_string()),
        },
    };
    Ok((message, reason))
}

/// The topic for `channel` (`/market/level2`) on `symbols`:
/// `/market/level2:BTC-USDT,ETH-USDT`. At most
/// [`MAX_SYMBOLS_PER_TOPIC`] symbols belong in one topic.
pub fn topic(channel: &str, symbols: &[&str]) -> String {
    let mut t = String::with_capacity(channel.len() + 1 + symbols.iter().map(|s| s.len() + 1).sum::<usize>());
    t.push_str(channel);
    t.push(':');
    for (i, s) in symbols.iter().enumerate() {
        if i > 0 {
            t.push(',');
        }
        t.push_str(s);
    }
    t
}

/// The `subscribe` request for `topic`, as the text of one websocket frame,
/// with `response: true` so the server acks it. `n` makes the id unique;
/// the id also embeds the topic, which is how the decoder reads the `ack`.
///
/// ```json
/// {"id":"7/market/level2:BTC-USDT","type":"subscribe","topic":"/market/level2:BTC-USDT","privateChannel":false,"response":true}
/// ```
pub fn subscribe_request(n: u64, topic: &str) -> String {
    request("subscribe", n, topic)
}

/// The `unsubscribe` request for `topic`: the `subscribe` shape with
/// another `type`.
pub fn unsubscribe_request(n: u64, topic: &str) -> String {
    request("unsubscribe", n, topic)
}

/// A `ping` frame; the server answers with a `pong` of the same id.
///
/// ```json
/// {"id":"42","type":"ping"}
/// ```
pub fn ping_request(n: u64) -> String {
    format!(r#"{{"id":"{n}","type":"ping"}}"#)
}

fn request(kind: &str, n: u64, topic: &str) -> String {
    let mut s = String::with_capacity(96 + 2 * topic.len());
    s.push_str(r#"{"id":"#);
    de::push_json_string(&mut s, &format!("{n}{topic}"));
    s.push_str(r#","type":""#);
    s.push_str(kind);
    s.push_str(r#"","topic":"#);
    de::push_json_string(&mut s, topic);
    s.push_str(r#","privateChannel":false,"response":true}"#);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn requests_embed_the_topic_in_the_id() {
        let t = topic("/market/level2", &["BTC-USDT", "ETH-USDT"]);
        assert_eq!(t, "/market/level2:BTC-USDT,ETH-USDT");
        let req = subscribe_request(7, &t);
        assert_eq!(
            req,
            r#"{"id":"7/market/level2:BTC-USDT,ETH-USDT","type":"subscribe","topic":"/market/level2:BTC-USDT,ETH-USDT","privateChannel":false,"response":true}"#
        );
        let v: serde_json::Value = serde_json::from_str(&unsubscribe_request(8, "/market/ticker:all")).unwrap();
        assert_eq!((v["type"].as_str(), v["id"].as_str()), (Some("unsubscribe"), Some("8/market/ticker:all")));
        assert_eq!(ping_request(42), r#"{"id":"42","type":"ping"}"#);
    }

    #[test]
    fn acks_name_their_topic_when_the_id_embeds_it() {
        let id = raw(r#""7/market/level2:BTC-USDT,ETH-USDT""#);
        assert_eq!(ack_channels(Some(&id)), Ok(vec![("/market/level2".to_owned(), vec!["BTC-USDT".to_owned(), "ETH-USDT".to_owned()])]));
        assert_eq!(ack_channels(Some(&raw(r#""1/market/ticker:all""#))), Ok(vec![("/market/ticker".to_owned(), vec!["all".to_owned()])]));
        for plain in [r#""1545910660739""#, "1545910660739", r#""/market/level2:BTC-USDT""#, r#""12abc""#, r#""""#, r#""3/market""#] {
            assert_eq!(ack_channels(Some(&raw(plain))), Ok(vec![]), "{plain}");
        }
        assert_eq!(ack_channels(None), Ok(vec![]));
        assert_eq!(ack_channels(Some(&raw("[1]"))).unwrap_err().reason(), "invalid_json");
    }

    #[test]
    fn errors_keep_message_and_code() {
        assert_eq!(
            error_parts(Some(&raw("404")), Some(&raw(r#""topic not found""#))),
            Ok(("topic not found".to_owned(), Some("404".to_owned())))
        );
        assert_eq!(error_parts(Some(&raw(r#""401""#)), Some(&raw(r#""token is invalid""#))).unwrap().1.as_deref(), Some("401"));
        assert_eq!(error_parts(None, Some(&raw(r#""x""#))), Ok(("x".to_owned(), None)));
        assert_eq!(error_parts(Some(&raw("404")), None), Err(DecodeError::MissingField("data")));
        assert_eq!(error_parts(None, Some(&raw("{}"))).unwrap_err().reason(), "invalid_json");
        assert_eq!(error_parts(Some(&raw("-1")), Some(&raw(r#""x""#))).unwrap_err().reason(), "invalid_json");
    }
}
