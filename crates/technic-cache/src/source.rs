//! [`CachedSource`]: any [`MarketData`] read through a [`Cache`].
//!
//! Bars are kept under the namespace, the symbol and the window, in the compact versioned binary
//! form of `codec.rs`, validated when read; the universe as JSON, with the last bytes decoded and
//! what they decoded to kept, since every scan reads it. Errors are never cached. Which cache a
//! command uses is the binary's choice: `technic serve` puts its source behind the in-process cache
//! by default, or Redis with `REDIS_URL`; `technic scan` only with `REDIS_URL` (a one-off scan
//! would only pay for an in-process one).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use technic_core::Bars;
use technic_data::{BarWindow, DataError, Lookup, MarketData, SourceInfo, SymbolInfo};

use crate::{Cache, decode_bars, encode_bars};

/// A source that answers from `cache` when it can and from `inner` otherwise, keeping what `inner`
/// answered for `ttl`. Failures of `inner` are passed on and never cached, so a file fixed on disk
/// is read again on the next scan.
pub struct CachedSource<S> {
    inner: S,
    cache: Arc<dyn Cache>,
    namespace: String,
    ttl: Duration,
    /// The cached universe's bytes as last decoded, and what they decoded to: every scan reads
    /// the universe, and decoding 500 members' JSON (0.2 ms) is most of a scan's set-up, spent
    /// fifty times over when fifty scans start at once. Equal bytes are the same universe.
    decoded_universe: Mutex<Option<(Vec<u8>, Vec<SymbolInfo>)>>,
}

impl<S: MarketData> CachedSource<S> {
    /// `namespace` must differ between sources whose data differ (say, two data directories) that
    /// share a Redis: keys are `{namespace}:bars:{symbol}:{last}/{from}/{to}` and
    /// `{namespace}:universe`.
    pub fn new(
        inner: S,
        cache: Arc<dyn Cache>,
        namespace: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            inner,
            cache,
            namespace: namespace.into(),
            ttl,
            decoded_universe: Mutex::default(),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn bars_key(&self, symbol: &str, window: &BarWindow) -> String {
        fn part(value: Option<impl ToString>) -> String {
            value.map_or_else(|| "-".to_owned(), |v| v.to_string())
        }
        format!(
            "{}:bars:{symbol}:{}/{}/{}",
            self.namespace,
            part(window.last),
            part(window.from),
            part(window.to)
        )
    }
}

impl<S> std::fmt::Debug for CachedSource<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSource")
            .field("cache", &self.cache)
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<S: MarketData> MarketData for CachedSource<S> {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }

    fn identity(&self) -> String {
        self.inner.identity()
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        let key = format!("{}:universe", self.namespace);
        if let Some(bytes) = self.cache.get(&key) {
            let mut decoded = self
                .decoded_universe
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((seen, universe)) = &*decoded
                && *seen == bytes
            {
                return Ok(universe.clone());
            }
            match serde_json::from_slice::<Vec<SymbolInfo>>(&bytes) {
                Ok(universe) => {
                    *decoded = Some((bytes, universe.clone()));
                    return Ok(universe);
                }
                Err(error) => {
                    tracing::debug!(%key, %error, "unreadable cached universe; reading the source");
                    self.cache.reject(&key);
                }
            }
        }
        let universe = self.inner.universe()?;
        match serde_json::to_vec(&universe) {
            Ok(json) => self.cache.put(&key, &json, self.ttl),
            // A market cap of NaN or infinity has no JSON form; such a universe is just not cached.
            Err(error) => tracing::debug!(%key, %error, "universe not cached"),
        }
        Ok(universe)
    }

    fn concurrent_reads(&self) -> Option<usize> {
        self.inner.concurrent_reads()
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        self.bars_with_lookup(symbol, window).0
    }

    fn bars_with_lookup(
        &self,
        symbol: &str,
        window: &BarWindow,
    ) -> (Result<Bars, DataError>, Lookup) {
        let key = self.bars_key(symbol, window);
        if let Some(bytes) = self.cache.get(&key) {
            match decode_bars(&bytes) {
                Some(bars) => return (Ok(bars), Lookup::Hit),
                None => {
                    tracing::debug!(%key, bytes = bytes.len(), "unreadable cached bars; reading the source");
                    self.cache.reject(&key);
                }
            }
        }
        let bars = self.inner.bars(symbol, window);
        if let Ok(bars) = &bars {
            self.cache.put(&key, &encode_bars(bars), self.ttl);
        }
        (bars, Lookup::Miss)
    }
}
