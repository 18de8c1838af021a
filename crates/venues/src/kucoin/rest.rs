//! REST responses of KuCoin's public spot API: the websocket token
//! (`bullet-public`), the symbol list, and level-2 book snapshots.
//!
//! Every KuCoin REST body is an envelope, `{"code":"200000","data":...}`;
//! any other code is an error reply (`{"code":"429000","msg":"Too Many
//! Requests"}`) and is reported as [`DecodeError::BadField`] on `code`.
//! Endpoints are recognized by path and query alone, so captures made
//! against `api.kucoin.com`, a regional host or the simulator decode the
//! same.

use std::{borrow::Cow, time::Duration};

use marketpipe_model::{Exchange, Product};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    book::SnapshotData,
    de::{self, json_error, OptSeq, OptStr, OptU64},
};
use crate::DecodeError;

/// A REST endpoint this decoder understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint<'u> {
    /// `POST /api/v1/bullet-public`.
    Bullet,
    /// `GET /api/v1/symbols` or `/api/v2/symbols`.
    Symbols,
    /// `GET /api/v2/symbols/{symbol}` (or v1).
    Symbol(Cow<'u, str>),
    /// A level-2 snapshot of `symbol` (the query parameter):
    /// `/api/v1/market/orderbook/level2_20`, `level2_50`, `level2_100`, or
    /// the full book at `/api/v3/market/orderbook/level2` (and its older
    /// `/api/v1` and `/api/v2` paths).
    OrderBook(Cow<'u, str>),
}

/// Recognizes the endpoint from the path and query of `url` (an absolute
/// URL from any host, or a bare path). A trailing slash is ignored.
pub(crate) fn route(url: &str) -> Result<Endpoint<'_>, DecodeError> {
    let (path, query) = split_url(url);
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let mut segments = trimmed.strip_prefix('/').unwrap_or(trimmed).split('/');
    let parts = [segments.next(), segments.next(), segments.next(), segments.next(), segments.next(), segments.next()];
    let unknown = || DecodeError::UnknownEndpoint(de::bounded(path));
    match parts {
        [Some("api"), Some("v1"), Some("bullet-public"), None, ..] => Ok(Endpoint::Bullet),
        [Some("api"), Some("v1" | "v2"), Some("symbols"), None, ..] => Ok(Endpoint::Symbols),
        [Some("api"), Some("v1" | "v2"), Some("symbols"), Some(symbol), None, ..] if !symbol.is_empty() => {
            Ok(Endpoint::Symbol(percent_decoded(symbol)))
        }
        [Some("api"), Some("v1"), Some("market"), Some("orderbook"), Some("level2_20" | "level2_50" | "level2_100"), None]
        | [Some("api"), Some("v1" | "v2" | "v3"), Some("market"), Some("orderbook"), Some("level2"), None] => {
            let symbol = query_param(query, "symbol").ok_or(DecodeError::MissingField("symbol"))?;
            Ok(Endpoint::OrderBook(symbol))
        }
        _ => Err(unknown()),
    }
}

/// The path and query of `url`: after `scheme://host` if there is one, and
/// without a `#fragment`.
fn split_url(url: &str) -> (&str, &str) {
    let url = url.split('#').next().unwrap_or_default();
    let (before, query) = url.split_once('?').unwrap_or((url, ""));
    let path = match before.split_once("://") {
        Some((_, after_scheme)) => after_scheme.find('/').map_or("/", |i| &after_scheme[i..]),
        None => before,
    };
    (path, query)
}

/// The first value of `name` in a query string, percent-decoded; `None`
/// when absent or empty.
fn query_param<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).filter(|v| !v.is_empty()).map(percent_decoded)
}

/// `s` with `%XX` escapes (and `+` as space) decoded; invalid escapes and
/// non-UTF-8 results are kept as written.
fn percent_decoded(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_or(Cow::Borrowed(s), Cow::Owned)
}

/// The KuCoin REST envelope.
///
/// ```json
/// {"code": "200000", "data": {...}}
/// {"code": "400100", "msg": "Unsupported trading pair."}
/// ```
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    /// `"200000"` on success (accepted as an integer too).
    #[serde(borrow, default)]
    code: OptSeq<'a>,
    /// The error message, on failure.
    #[serde(borrow, default)]
    msg: OptStr<'a>,
    /// The payload.
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// KuCoin's success code.
const SUCCESS: u64 = 200_000;

/// The `data` of a successful envelope.
pub(crate) fn unwrap(body: &str) -> Result<&RawValue, DecodeError> {
    let env: Envelope<'_> = de::from_object(body)?;
    let code = match &env.code.0 {
        None => return Err(DecodeError::MissingField("code")),
        Some(_) => env.code.value("code").ok().flatten(),
    };
    if code != Some(SUCCESS) {
        let shown = match &env.code.0 {
            Some(de::SeqRepr::Num(n)) => n.to_string(),
            Some(de::SeqRepr::Text(s)) => de::bounded(s.as_str()),
            None => String::new(),
        };
        let msg = env.msg.get().map_or_else(String::new, |m| format!(": {}", de::bounded(m)));
        return Err(DecodeError::BadField { field: "code", detail: format!("KuCoin error {shown}{msg}") });
    }
    de::required(env.data, "data")
}

/// One symbol of `GET /api/v2/symbols` (the response `data` is an array of
/// these, or one for `/api/v2/symbols/{symbol}`). Only the identity fields
/// are used: `symbol` is the native id (it never changes, even when a pair
/// is renamed), `baseCurrency`/`quoteCurrency` the currency codes that name
/// the product; `name` (the display name), increments and flags are
/// ignored (a pair with trading disabled still needs its name for history).
///
/// See <https://www.kucoin.com/docs/rest/spot-trading/market-data/get-symbols-list>.
///
/// ```json
/// {
///   "symbol": "BCHSV-USDT",
///   "name": "BSV-USDT",
///   "baseCurrency": "BSV",
///   "quoteCurrency": "USDT",
///   "feeCurrency": "USDT",
///   "market": "USDS",
///   "baseMinSize": "0.01",
///   "quoteMinSize": "0.1",
///   "baseMaxSize": "10000000000",
///   "quoteMaxSize": "99999999",
///   "baseIncrement": "0.0001",
///   "quoteIncrement": "0.01",
///   "priceIncrement": "0.01",
///   "priceLimitRate": "0.1",
///   "minFunds": "0.1",
///   "isMarginEnabled": true,
///   "enableTrading": true
/// }
/// ```
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SymbolWire<'a> {
    /// Native symbol.
    #[serde(borrow, default)]
    symbol: OptStr<'a>,
    /// Base currency code.
    #[serde(borrow, default)]
    base_currency: OptStr<'a>,
    /// Quote currency code.
    #[serde(borrow, default)]
    quote_currency: OptStr<'a>,
}

impl SymbolWire<'_> {
    /// The product, if its identity fields are usable.
    fn validate(&self) -> Result<Product, DecodeError> {
        let symbol = de::required_str(&self.symbol, "symbol")?;
        let base = de::required_str(&self.base_currency, "baseCurrency")?;
        let quote = de::required_str(&self.quote_currency, "quoteCurrency")?;
        if !de::is_native_symbol(symbol) {
            return Err(DecodeError::BadField { field: "symbol", detail: format!("unusable symbol {}", de::snippet(symbol)) });
        }
        for (field, code) in [("baseCurrency", base), ("quoteCurrency", quote)] {
            if !de::is_currency_code(code) {
                return Err(DecodeError::BadField { field, detail: format!("unusable currency code {}", de::snippet(code)) });
            }
        }
        Ok(Product::new(Exchange::Kucoin, symbol, base, quote))
    }
}

/// Decodes the `data` of the symbol list into products, in response order,
/// and the number of unusable entries skipped. An unusable entry does not
/// fail the others; a `data` that is not an array fails whole.
pub(crate) fn symbols(data: &RawValue) -> Result<(Vec<Product>, u64), DecodeError> {
    let entries: Vec<&RawValue> = serde_json::from_str(data.get()).map_err(json_error)?;
    let mut skipped = 0;
    let mut products = Vec::with_capacity(entries.len());
    for raw in entries {
        match de::from_object::<SymbolWire<'_>>(raw.get()).and_then(|s| s.validate()) {
            Ok(product) => products.push(product),
            Err(e) => {
                skipped += 1;
                tracing::debug!(reason = e.reason(), error = %e, "skipped a KuCoin symbol entry");
            }
        }
    }
    Ok((products, skipped))
}

/// Decodes the `data` of a single symbol, which must be the one requested.
pub(crate) fn symbol(requested: &str, data: &RawValue) -> Result<Product, DecodeError> {
    let product = de::from_object::<SymbolWire<'_>>(data.get())?.validate()?;
    if product.native_symbol != requested {
        return Err(DecodeError::BadField {
            field: "symbol",
            detail: format!("{} answers a request for {}", de::snippet(&product.native_symbol), de::snippet(requested)),
        });
    }
    Ok(product)
}

/// Parses the `data` of a level-2 snapshot.
pub(crate) fn snapshot_data(data: &RawValue) -> Result<SnapshotData<'_>, DecodeError> {
    de::from_object(data.get())
}

/// What a websocket connection needs, from `POST /api/v1/bullet-public`:
/// the token to connect with, the server to connect to, and how often to
/// ping it. The token is valid for 24 hours.
///
/// See <https://www.kucoin.com/docs/websocket/basic-info/apply-connect-token/public-token-no-authentication-required->.
///
/// ```json
/// {
///   "code": "200000",
///   "data": {
///     "token": "2neAiuYvAU61ZDXANAGAsiL4-iAExhsBXZxftpOeh_55i3Ysy2q2LEsEWU64mdzUOPusi34M_wGoSf7iNyEWJ4aBZXpWhrmY9jKtqkdWoFa75w3istPvPtiYB9J6i9GjsxUuhPw3BlrzazF6ghq4L_u0MhKxG3x8TeN4aVbNiYo=.mvnekBb8DJegZIgYLs2FBQ==",
///     "instanceServers": [
///       {
///         "endpoint": "wss://ws-api-spot.kucoin.com/",
///         "encrypt": true,
///         "protocol": "websocket",
///         "pingInterval": 18000,
///         "pingTimeout": 10000
///       }
///     ]
///   }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bullet {
    /// The connect token, passed as the `token` query parameter.
    pub token: String,
    /// The websocket server (`wss://ws-api-spot.kucoin.com/`). KuCoin asks
    /// clients to use this rather than a hard-coded URL: it may change.
    pub endpoint: String,
    /// How often the client should send a `ping` (`pingInterval`).
    pub ping_interval: Duration,
    /// How long to wait for the `pong` before declaring the connection dead
    /// (`pingTimeout`).
    pub ping_timeout: Duration,
}

impl Bullet {
    /// The URL to open: the endpoint with the token and a client-chosen
    /// connection id (echoed as the `id` of the `welcome` frame), both
    /// percent-encoded.
    ///
    /// ```text
    /// wss://ws-api-spot.kucoin.com/?token=2neAiu...%3D%3D&connectId=1
    /// ```
    pub fn ws_url(&self, connect_id: &str) -> String {
        let mut url = String::with_capacity(self.endpoint.len() + self.token.len() + connect_id.len() + 32);
        url.push_str(&self.endpoint);
        url.push(if self.endpoint.contains('?') { '&' } else { '?' });
        url.push_str("token=");
        crate::session::push_path_segment(&mut url, &self.token);
        url.push_str("&connectId=");
        crate::session::push_path_segment(&mut url, connect_id);
        url
    }
}

/// The `data` of the bullet response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulletData<'a> {
    #[serde(borrow, default)]
    token: OptStr<'a>,
    #[serde(borrow, default)]
    instance_servers: Option<Vec<de::MapOnly<InstanceServer<'a>>>>,
}

/// One server of the bullet response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceServer<'a> {
    #[serde(borrow, default)]
    endpoint: OptStr<'a>,
    #[serde(borrow, default)]
    protocol: OptStr<'a>,
    #[serde(default)]
    ping_interval: OptU64,
    #[serde(default)]
    ping_timeout: OptU64,
}

/// Decodes a `POST /api/v1/bullet-public` response body (the whole
/// envelope). The first server whose `protocol` is `websocket` (or that
/// names none) is taken.
pub fn bullet(body: &str) -> Result<Bullet, DecodeError> {
    let data: BulletData<'_> = de::from_object(unwrap(body)?.get())?;
    let token = de::required_str(&data.token, "token")?;
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DecodeError::BadField { field: "token", detail: format!("unusable token {}", de::snippet(token)) });
    }
    let servers = de::required(data.instance_servers.as_ref(), "instanceServers")?;
    let server = servers
        .iter()
        .map(|s| &s.0)
        .find(|s| s.protocol.get().is_none_or(|p| p == "websocket"))
        .ok_or(DecodeError::MissingField("instanceServers"))?;
    let endpoint = de::required_str(&server.endpoint, "endpoint")?;
    if !(endpoint.starts_with("wss://") || endpoint.starts_with("ws://")) || !endpoint.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DecodeError::BadField { field: "endpoint", detail: format!("not a websocket URL: {}", de::snippet(endpoint)) });
    }
    let millis = |v: OptU64, field: &'static str| match de::required(v.0, field)? {
        0 => Err(DecodeError::BadField { field, detail: "must be positive".to_owned() }),
        ms => Ok(Duration::from_millis(ms)),
    };
    Ok(Bullet {
        token: token.to_owned(),
        endpoint: endpoint.to_owned(),
        ping_interval: millis(server.ping_interval, "pingInterval")?,
        ping_timeout: millis(server.ping_timeout, "pingTimeout")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_and_query_only() {
        assert_eq!(route("https://api.kucoin.com/api/v1/bullet-public"), Ok(Endpoint::Bullet));
        assert_eq!(route("/api/v1/bullet-public/"), Ok(Endpoint::Bullet));
        assert_eq!(route("https://api.kucoin.com/api/v2/symbols"), Ok(Endpoint::Symbols));
        assert_eq!(route("http://127.0.0.1:9/api/v1/symbols?market=USDS"), Ok(Endpoint::Symbols));
        assert_eq!(route("/api/v2/symbols/BTC-USDT"), Ok(Endpoint::Symbol("BTC-USDT".into())));
        for path in [
            "/api/v1/market/orderbook/level2_100?symbol=BTC-USDT",
            "/api/v1/market/orderbook/level2_20?symbol=BTC-USDT",
            "https://api.kucoin.com/api/v3/market/orderbook/level2?symbol=BTC-USDT",
            "/api/v2/market/orderbook/level2?x=1&symbol=BTC-USDT#frag",
            "/api/v1/market/orderbook/level2_100/?symbol=BTC%2DUSDT",
        ] {
            assert_eq!(route(path), Ok(Endpoint::OrderBook("BTC-USDT".into())), "{path}");
        }
        assert_eq!(route("/api/v1/market/orderbook/level2_100"), Err(DecodeError::MissingField("symbol")));
        assert_eq!(route("/api/v1/market/orderbook/level2_100?symbol="), Err(DecodeError::MissingField("symbol")));
        for url in [
            "",
            "https://api.kucoin.com",
            "/api/v1/bullet-private",
            "/api/v1/market/histories?symbol=BTC-USDT",
            "/api/v1/market/orderbook/level2_10?symbol=BTC-USDT",
            "/api/v3/market/orderbook/level2_100?symbol=BTC-USDT",
            "/api/v1/market/orderbook/level3?symbol=BTC-USDT",
            "/api/v3/symbols",
            "/products",
        ] {
            assert_eq!(route(url).unwrap_err().reason(), "unknown_endpoint", "{url}");
        }
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decoded("A%2dB"), "A-B");
        assert_eq!(percent_decoded("a+b"), "a b");
        assert_eq!(percent_decoded("100%"), "100%");
        assert_eq!(percent_decoded("%zz%4"), "%zz%4");
        assert_eq!(percent_decoded("%FF"), "%FF");
    }

    #[test]
    fn envelope_codes_other_than_success_are_errors() {
        assert_eq!(unwrap(r#"{"code":"200000","data":[1]}"#).map(RawValue::get), Ok("[1]"));
        assert_eq!(unwrap(r#"{"code":200000,"data":{}}"#).map(RawValue::get), Ok("{}"));
        let e = unwrap(r#"{"code":"429000","msg":"Too Many Requests"}"#).unwrap_err();
        assert_eq!(e, DecodeError::BadField { field: "code", detail: "KuCoin error 429000: Too Many Requests".to_owned() });
        assert_eq!(unwrap(r#"{"code":"x"}"#).unwrap_err().reason(), "bad_field");
        assert_eq!(unwrap(r#"{"data":{}}"#).unwrap_err(), DecodeError::MissingField("code"));
        assert_eq!(unwrap(r#"{"code":"200000"}"#).unwrap_err(), DecodeError::MissingField("data"));
        assert_eq!(unwrap(r#"{"code":"200000","data":null}"#).unwrap_err(), DecodeError::MissingField("data"));
        assert_eq!(unwrap("[]").unwrap_err().reason(), "invalid_json");
    }
}
