//! A source held entirely in memory: a snapshot of another source's bars. Used to measure the scan
//! without IO, and wherever the same bars are scanned many times.

use std::collections::HashMap;

use technic_core::Bars;

use crate::{BarWindow, DataError, MarketData, SourceInfo, SymbolInfo};

#[derive(Debug, Clone)]
pub struct MemorySource {
    info: SourceInfo,
    universe: Vec<SymbolInfo>,
    /// A symbol that failed to load keeps its error's text, so scans of the snapshot report it too.
    bars: HashMap<String, Result<Bars, String>>,
}

impl MemorySource {
    /// Loads every symbol of `source`'s universe within `window`.
    pub fn snapshot(source: &dyn MarketData, window: &BarWindow) -> Result<Self, DataError> {
        let universe = source.universe()?;
        let bars = universe
            .iter()
            .map(|info| {
                (
                    info.symbol.clone(),
                    source.bars(&info.symbol, window).map_err(|e| e.to_string()),
                )
            })
            .collect();
        let inner = source.info();
        let info = SourceInfo {
            kind: inner.kind,
            description: format!("{} (in memory)", inner.description),
            synthetic: inner.synthetic,
        };
        Ok(Self {
            info,
            universe,
            bars,
        })
    }

    /// Bars held, over all symbols.
    pub fn bar_count(&self) -> usize {
        self.bars
            .values()
            .filter_map(|b| b.as_ref().ok())
            .map(Bars::len)
            .sum()
    }
}

impl MarketData for MemorySource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        Ok(self.universe.clone())
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        let stored = self.bars.get(&symbol.to_ascii_uppercase()).ok_or_else(|| {
            DataError::UnknownSymbol {
                symbol: symbol.to_owned(),
            }
        })?;
        let bars = stored.clone().map_err(|reason| DataError::Unavailable {
            symbol: symbol.to_owned(),
            reason,
        })?;
        Ok(window.apply(bars))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DemoMarket;

    #[test]
    fn a_snapshot_serves_the_same_bars_as_its_source() {
        let demo = DemoMarket::new();
        let memory = MemorySource::snapshot(&demo, &BarWindow::last(300)).expect("snapshot");
        let symbol = &demo.universe().expect("universe")[3].symbol;
        assert_eq!(
            memory.bars(symbol, &BarWindow::last(50)).expect("bars"),
            demo.bars(symbol, &BarWindow::last(50)).expect("bars")
        );
        assert_eq!(memory.bar_count(), 500 * 300);
        assert!(memory.info().synthetic && memory.info().description.contains("in memory"));
    }
}
