//! The product registry of the Coinbase decoders (Exchange and Advanced
//! Trade): native product id -> interned [`InstrumentKey`], plus the
//! product's alias where the exchange gives one.
//!
//! Every event carries a clone of the key registered here (an `Arc` bump),
//! so decoding a frame allocates no symbol string. Products come from REST
//! metadata; a frame or trades page naming an id never listed there is still
//! usable, because a Coinbase product id is by definition `BASE-QUOTE`, so
//! the product is derived from it and announced once.
//!
//! Lookups never mutate: [`Registry::resolve`] only says what *would* be
//! registered, and [`Registry::commit`] registers it once the whole frame
//! (or response) has validated. That split is what keeps a failed frame
//! from leaving a half-announced product behind.
//!
//! Aliases matter for Advanced Trade's trades: it serves `-USDC` books from
//! the matching `-USD` product (`BTC-USDC` has `"alias": "BTC-USD"`), so a
//! trades page requested for one may name the other in its `product_id`.
//! Coinbase Exchange has no aliases.

use marketpipe_model::{Exchange, InstrumentKey, MarketEvent, Product};
use rustc_hash::FxHashMap;

use super::{de::snippet, symbol::split_base_quote};
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

/// A registered product and its alias.
#[derive(Debug, Clone)]
struct Entry {
    product: Product,
    /// The product id this one is an alias of, or that is an alias of it.
    alias: Option<String>,
}

/// Native product id -> product, for one decoder of one exchange.
#[derive(Debug)]
pub(crate) struct Registry {
    /// The exchange of the products derived from ids.
    exchange: Exchange,
    by_native: FxHashMap<Box<str>, Entry>,
}

impl Registry {
    /// An empty registry for `exchange`'s products.
    pub(crate) fn new(exchange: Exchange) -> Self {
        Registry { exchange, by_native: FxHashMap::default() }
    }

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
            Some((base, quote)) => Ok(Resolved::New(Product::new(self.exchange, native, base, quote))),
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
    fn resolve_does_not_register_until_commit() {
        let mut reg = Registry::new(Exchange::Coinbase);
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
        assert!(reg.resolve("ETHUSD").is_err());
    }

    #[test]
    fn derived_products_belong_to_the_registry_exchange() {
        let reg = Registry::new(Exchange::CoinbaseAdvanced);
        let Resolved::New(p) = reg.resolve("eth-usd").unwrap() else { panic!("a new product") };
        assert_eq!((p.key.exchange, p.key.symbol.as_str()), (Exchange::CoinbaseAdvanced, "ETH-USD"));
    }

    #[test]
    fn aliases_join_books_both_ways() {
        let mut reg = Registry::new(Exchange::CoinbaseAdvanced);
        reg.upsert(Product::new(Exchange::CoinbaseAdvanced, "BTC-USDC", "BTC", "USDC"), Some("BTC-USD".into()));
        assert!(reg.same_book("BTC-USDC", "BTC-USD"));
        assert!(reg.same_book("BTC-USD", "BTC-USDC"));
        assert!(reg.same_book("ETH-USD", "ETH-USD"));
        assert!(!reg.same_book("BTC-USD", "ETH-USD"));
    }
}
