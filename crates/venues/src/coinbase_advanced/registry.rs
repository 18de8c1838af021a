//! The product registry: native Advanced Trade product id -> interned
//! [`InstrumentKey`], plus the product's `alias`.
//!
//! As on Coinbase Exchange, products come from REST metadata, and a trades
//! page naming an id never listed is still usable when the id is
//! `BASE-QUOTE`: the product is derived from it and announced once.
//! [`Registry::resolve`] never mutates; [`Registry::commit`] registers once
//! the whole response has validated, so a failed response leaves nothing
//! half-announced.
//!
//! Aliases matter for trades: Advanced Trade serves `-USDC` books from the
//! matching `-USD` product (`BTC-USDC` has `"alias": "BTC-USD"`), so a
//! trades page requested for one may name the other in its `product_id`.

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
    /// announce if the response turns out valid.
    New(Product),
}

/// A registered product and its alias (empty when it has none).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The product.
    pub(crate) product: Product,
    /// The product id this one is an alias of, or that is an alias of it.
    pub(crate) alias: Option<String>,
}

/// Native product id -> product, for one decoder.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_native: FxHashMap<Box<str>, Entry>,
}

impl Registry {
    /// The registered product with native id `native`.
    pub(crate) fn get(&self, native: &str) -> Option<&Product> {
        self.by_native.get(native).map(|e| &e.product)
    }

    /// Whether a trade naming `named` may be part of a page requested for
    /// `requested`: the same product, or one of the two is the other's alias.
    pub(crate) fn same_book(&self, requested: &str, named: &str) -> bool {
        let alias_of = |id: &str| self.by_native.get(id).and_then(|e| e.alias.as_deref());
        requested == named || alias_of(requested) == Some(named) || alias_of(named) == Some(requested)
    }

    /// Looks `native` up, deriving a product from a `BASE-QUOTE` id that is
    /// not registered. Does not change the registry.
    pub(crate) fn resolve(&self, native: &str) -> Result<Resolved, DecodeError> {
        if let Some(e) = self.by_native.get(native) {
            return Ok(Resolved::Known(e.product.key.clone()));
        }
        match split_base_quote(native) {
            Some((base, quote)) => Ok(Resolved::New(Product::new(Exchange::CoinbaseAdvanced, native, base, quote))),
            None => Err(DecodeError::BadField {
                field: "product_id",
                detail: format!("{} is neither a known product nor BASE-QUOTE", snippet(native)),
            }),
        }
    }

    /// Registers a resolved product if it is new, announcing it on `out`
    /// (before the response's own events, so stores learn the product
    /// first), and returns its key.
    pub(crate) fn commit(&mut self, resolved: Resolved, out: &mut Vec<MarketEvent>) -> InstrumentKey {
        match resolved {
            Resolved::Known(key) => key,
            Resolved::New(product) => {
                let key = product.key.clone();
                out.push(MarketEvent::Product(product.clone()));
                self.by_native.insert(product.native_symbol.clone().into_boxed_str(), Entry { product, alias: None });
                key
            }
        }
    }

    /// Registers (or replaces) a product from exchange metadata.
    pub(crate) fn upsert(&mut self, product: Product, alias: Option<String>) {
        self.by_native.insert(product.native_symbol.clone().into_boxed_str(), Entry { product, alias });
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
    fn resolve_does_not_register_until_commit_and_derives_advanced_products() {
        let mut reg = Registry::default();
        let Resolved::New(p) = reg.resolve("eth-usd").unwrap() else { panic!() };
        assert_eq!((p.key.exchange, p.key.symbol.as_str()), (Exchange::CoinbaseAdvanced, "ETH-USD"));
        assert_eq!(reg.len(), 0);
        let mut out = Vec::new();
        let r = reg.resolve("eth-usd").unwrap();
        reg.commit(r, &mut out);
        assert_eq!((reg.len(), out.len()), (1, 1));
        let r = reg.resolve("eth-usd").unwrap();
        reg.commit(r, &mut out);
        assert_eq!(out.len(), 1, "announced once");
        assert!(reg.resolve("ETHUSD").is_err());
    }

    #[test]
    fn aliases_join_books_both_ways() {
        let mut reg = Registry::default();
        reg.upsert(Product::new(Exchange::CoinbaseAdvanced, "BTC-USDC", "BTC", "USDC"), Some("BTC-USD".into()));
        assert!(reg.same_book("BTC-USDC", "BTC-USD"));
        assert!(reg.same_book("BTC-USD", "BTC-USDC"));
        assert!(reg.same_book("ETH-USD", "ETH-USD"));
        assert!(!reg.same_book("BTC-USD", "ETH-USD"));
    }
}
