//! Exchanges, symbols and products.

use std::{fmt, str::FromStr, sync::Arc};

/// A venue marketpipe speaks to. The string forms are the capture format's
/// `exchange` values and the API's `exchange` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exchange {
    /// Coinbase Exchange (formerly Coinbase Pro): the public ws-feed.
    Coinbase,
    /// Binance spot.
    Binance,
    /// KuCoin spot.
    Kucoin,
    /// Coinbase Advanced Trade public REST market data.
    CoinbaseAdvanced,
}

impl Exchange {
    /// Every exchange, in a fixed order.
    pub const ALL: [Exchange; 4] = [Exchange::Coinbase, Exchange::Binance, Exchange::Kucoin, Exchange::CoinbaseAdvanced];

    /// The stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Exchange::Coinbase => "coinbase",
            Exchange::Binance => "binance",
            Exchange::Kucoin => "kucoin",
            Exchange::CoinbaseAdvanced => "coinbase-advanced",
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exchange name that marketpipe does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown exchange {0:?}; valid exchanges are coinbase, binance, kucoin, coinbase-advanced")]
pub struct ParseExchangeError(pub String);

impl FromStr for Exchange {
    type Err = ParseExchangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Exchange::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| ParseExchangeError(s.to_owned()))
    }
}

/// A normalized symbol, `BASE-QUOTE` in upper case (`BTC-USD`, `NKN-USDT`).
///
/// Cheap to clone (a shared string): decoders intern one per product and
/// every event of that product carries a clone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Symbol(Arc<str>);

impl Symbol {
    /// Wraps a symbol that is already normalized.
    pub fn new(s: &str) -> Self {
        Symbol(Arc::from(s))
    }

    /// The normalized symbol from base and quote currency codes.
    pub fn from_parts(base: &str, quote: &str) -> Self {
        Symbol(Arc::from(format!("{}-{}", base.to_ascii_uppercase(), quote.to_ascii_uppercase())))
    }

    /// The symbol as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Symbol {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Names one product on one exchange: the key of every per-product state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct InstrumentKey {
    /// The venue.
    pub exchange: Exchange,
    /// The normalized symbol.
    pub symbol: Symbol,
}

impl InstrumentKey {
    /// Builds a key.
    pub fn new(exchange: Exchange, symbol: Symbol) -> Self {
        InstrumentKey { exchange, symbol }
    }
}

impl fmt::Display for InstrumentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.exchange, self.symbol)
    }
}

/// A tradable product as the exchange's instrument metadata describes it.
///
/// The normalized symbol comes from the metadata's base and quote
/// currencies, never from cutting up the native symbol: Binance `NKNUSDT`
/// is `NKN-USDT`, KuCoin's native `BCHSV-USDT` is `BSV-USDT`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Product {
    /// Exchange and normalized symbol.
    pub key: InstrumentKey,
    /// The exchange's own name for it (`BTC-USD`, `NKNUSDT`, `BCHSV-USDT`).
    pub native_symbol: String,
    /// Base currency code, upper case.
    pub base: String,
    /// Quote currency code, upper case.
    pub quote: String,
}

impl Product {
    /// Builds a product, normalizing the currency codes to upper case.
    pub fn new(exchange: Exchange, native_symbol: &str, base: &str, quote: &str) -> Self {
        let (base, quote) = (base.to_ascii_uppercase(), quote.to_ascii_uppercase());
        Product {
            key: InstrumentKey::new(exchange, Symbol::from_parts(&base, &quote)),
            native_symbol: native_symbol.to_owned(),
            base,
            quote,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_names_round_trip() {
        for e in Exchange::ALL {
            assert_eq!(e.as_str().parse::<Exchange>().unwrap(), e);
        }
        let err = "kraken".parse::<Exchange>().unwrap_err();
        assert!(err.to_string().contains("coinbase, binance"));
    }

    #[test]
    fn symbol_comes_from_metadata_currencies() {
        let p = Product::new(Exchange::Kucoin, "BCHSV-USDT", "bsv", "usdt");
        assert_eq!(p.key.symbol.as_str(), "BSV-USDT");
        assert_eq!(p.native_symbol, "BCHSV-USDT");
    }
}
