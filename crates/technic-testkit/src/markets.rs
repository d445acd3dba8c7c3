//! Market data the tests scan: the demo market in memory, and any source slowed down.

use std::sync::OnceLock;
use std::time::Duration;

use technic_core::Bars;
use technic_data::demo::DemoMarket;
use technic_data::memory::MemorySource;
use technic_data::{BarWindow, DataError, MarketData, SourceInfo, SymbolInfo};

/// The demo market's 500 symbols, their newest 300 bars, in memory. Built once per test binary
/// (generating the histories is most of a small test's time); each call is a cheap clone.
pub fn demo() -> MemorySource {
    static DEMO: OnceLock<MemorySource> = OnceLock::new();
    DEMO.get_or_init(|| {
        MemorySource::snapshot(&DemoMarket::new(), &BarWindow::last(300)).expect("demo snapshot")
    })
    .clone()
}

/// `inner` with every read of bars slowed by `delay`, so a scan lasts long enough to join, leave,
/// stop or watch mid-way.
#[derive(Debug)]
pub struct Slowed<M> {
    pub inner: M,
    pub delay: Duration,
}

impl<M: MarketData> MarketData for Slowed<M> {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        self.inner.universe()
    }
    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        std::thread::sleep(self.delay);
        self.inner.bars(symbol, window)
    }
}
