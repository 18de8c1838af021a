//! The product registry: native Coinbase product id -> interned
//! [`InstrumentKey`].
//!
//! Every event carries a clone of the key registered here (an `Arc` bump),
//! so decoding a frame allocates no symbol string. Products come from REST
//! metadata (`GET /products`); a websocket frame naming an id never seen
//! there is still usable, because a Coinbase Exchange product id is by
//! definition `BASE-QUOTE`, so the product is derived from it and announced
//! once.
//!
//! Lookups never mutate: [`Registry::resolve`] only says what *would* be
//! registered, and [`Registry::commit`] registers it once the whole frame
//! has validated. That split is what keeps a failed frame from leaving a
//! half-announced product behind.

use marketpipe_model::{Exchange, InstrumentKey, MarketEvent, Product};
use rustc_hash::FxHashMap;

use super::de::snippet;
pub(crate) use crate::wire::symbol::{is_currency_code, split_base_quote};
use crate::DecodeError;

/// A product id looked up, not yet committed.
#[derive(Debug)]
pub(crate) enum Resolved {
    /// Already registered: its interned key.
    Known(InstrumentKey),
    /// Never seen: the product derived from the id, to register and
    /// announce if the frame turns out valid.
    New(Product),
}

/// Native product id -> product, for one decoder.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_native: FxHashMap<Box<str>, Product>,
}

impl Registry {
    /// The registered product with native id `native`.
    pub(crate) fn get(&self, native: &str) -> Option<&Product> {
        self.by_native.get(native)
    }

    /// Looks `native` up, deriving a product from a `BASE-QUOTE` id that is
    /// not registered. Does not change the registry.
    pub(crate) fn resolve(&self, native: &str) -> Result<Resolved, DecodeError> {
        if let Some(p) = self.by_native.get(native) {
            return Ok(Resolved::Known(p.key.clone()));
        }
        match split_base_quote(native) {
            Some((base, quote)) => Ok(Resolved::New(Product::new(Exchange::Coinbase, native, base, quote))),
            None => Err(DecodeError::BadField {
                field: "product_id",
                detail: format!("{} is neither a known product nor BASE-QUOTE", snippet(native)),
            }),
        }
    }

    /// Registers a resolved product if it is new, announcing it on `out`
    /// (before the frame's own events, so stores learn the product first),
    /// and returns its key.
    pub(crate) fn commit(&mut self, resolved: Resolved, out: &mut Vec<MarketEvent>) -> InstrumentKey {
        match resolved {
            Resolved::Known(key) => key,
            Resolved::New(product) => {
                let key = product.key.clone();
                out.push(MarketEvent::Product(product.clone()));
                self.by_native.insert(product.native_symbol.clone().into_boxed_str(), product);
                key
            }
        }
    }

    /// Registers (or replaces) a product from exchange metadata.
    pub(crate) fn upsert(&mut self, product: Product) {
        self.by_native.insert(product.native_symbol.clone().into_boxed_str(), product);
    }

    /// How many products are registered.
    pub(crate) fn len(&self) -> usize {
        self.by_native.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_only_base_quote_ids() {
        assert_eq!(split_base_quote("BTC-USD"), Some(("BTC", "USD")));
        assert_eq!(split_base_quote("1inch-usd"), Some(("1inch", "usd")));
        for bad in ["", "BTC", "BTC-", "-USD", "BTC-USD-X", "BTC_USD", "BTC-US D", "ÄBC-USD"] {
            assert_eq!(split_base_quote(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resolve_does_not_register_until_commit() {
        let mut reg = Registry::default();
        let r = reg.resolve("eth-usd").unwrap();
        assert_eq!(reg.len(), 0);
        let mut out = Vec::new();
        let key = reg.commit(r, &mut out);
        assert_eq!(key.symbol.as_str(), "ETH-USD");
        assert_eq!(out.len(), 1);
        assert!(matches!(reg.resolve("eth-usd").unwrap(), Resolved::Known(_)));
        let key2 = reg.commit(reg.resolve("eth-usd").unwrap(), &mut out);
        assert_eq!(out.len(), 1, "announced once");
        assert_eq!(key2, key);
    }
}
