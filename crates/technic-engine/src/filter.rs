//! Every filter a request asks for, in one list, each with its place in a scan explicit. The
//! scan's stages and the backtest read them from here rather than from the request's fields, so a
//! new filter is a variant, its place and its rule.
//!
//! The place is what a filter may change: one before the analysis saves the analysis of the
//! symbols it refuses, and so may only read the universe row or the bars; one after it reads the
//! rating, and never changes the cross-section the ratings and alpha scores are placed in
//! (`scan/finalise.rs` judges it again, exactly, over everything rated).

use technic_core::evaluate::Screens;

use crate::request::ValidScan;
use crate::screening::ScreenSpec;

/// Where in a scan a filter applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// On the universe's rows, before any bars are read.
    Universe,
    /// On a symbol's bars, before the analysis (the core's `evaluate::screen`).
    BeforeAnalysis,
    /// On the rated result: streamed on estimates, then exactly in the final ranking.
    AfterAnalysis,
}

/// One filter of a request.
#[derive(Debug, Clone, Copy)]
pub enum Filter<'a> {
    /// `sectors`: canonical GICS names.
    Sectors(&'a [String]),
    MinPrice(f64),
    MinAvgVolume(f64),
    MinTechRating(f64),
    /// `where` (and a named `screen`); a screen with only a ranking filters nothing.
    Screen(&'a ScreenSpec),
}

impl Filter<'_> {
    pub fn place(&self) -> Place {
        match self {
            Filter::Sectors(_) => Place::Universe,
            Filter::MinPrice(_) | Filter::MinAvgVolume(_) => Place::BeforeAnalysis,
            Filter::MinTechRating(_) | Filter::Screen(_) => Place::AfterAnalysis,
        }
    }
}

impl ValidScan {
    /// The request's filters, in the order they apply (within a place, the order a symbol is
    /// judged in, which decides the reason a refused symbol is given).
    pub fn filters(&self) -> Vec<Filter<'_>> {
        let mut filters = Vec::new();
        if let Some(sectors) = &self.sectors {
            filters.push(Filter::Sectors(sectors));
        }
        if let Some(min) = self.min_price {
            filters.push(Filter::MinPrice(min));
        }
        if let Some(min) = self.min_avg_volume {
            filters.push(Filter::MinAvgVolume(min));
        }
        if let Some(min) = self.min_tech_rating {
            filters.push(Filter::MinTechRating(min));
        }
        if let Some(screen) = self.screen.as_ref().filter(|s| s.compiled.has_filter()) {
            filters.push(Filter::Screen(screen));
        }
        filters
    }

    /// The filters at one place, in order.
    pub fn filters_at(&self, place: Place) -> impl Iterator<Item = Filter<'_>> {
        self.filters()
            .into_iter()
            .filter(move |f| f.place() == place)
    }

    /// The core's bar rules: the filters placed before the analysis.
    pub fn bar_rules(&self) -> Screens {
        let mut rules = Screens::default();
        for filter in self.filters_at(Place::BeforeAnalysis) {
            match filter {
                Filter::MinPrice(min) => rules.min_price = Some(min),
                Filter::MinAvgVolume(min) => rules.min_avg_volume = Some(min),
                // `filters_at` yields only the filters placed here.
                _ => {}
            }
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScanRequest;

    #[test]
    fn every_filter_has_its_place_in_the_order_a_symbol_meets_them() {
        let request = ScanRequest {
            sectors: Some(vec!["energy".into()]),
            min_price: Some(5.0),
            min_avg_volume: Some(1e6),
            min_tech_rating: Some(60.0),
            filter: Some("rsi_2 < 10".into()),
            ..ScanRequest::default()
        }
        .validate()
        .expect("valid");
        let places: Vec<Place> = request.filters().iter().map(Filter::place).collect();
        assert_eq!(
            places,
            [
                Place::Universe,
                Place::BeforeAnalysis,
                Place::BeforeAnalysis,
                Place::AfterAnalysis,
                Place::AfterAnalysis,
            ]
        );
        assert!(matches!(
            request.filters_at(Place::Universe).next(),
            Some(Filter::Sectors([sector])) if sector == "Energy"
        ));
        let rules = request.bar_rules();
        assert_eq!(
            (rules.min_price, rules.min_avg_volume),
            (Some(5.0), Some(1e6))
        );
        // A screen that only ranks filters nothing; no filters, no bar rules.
        let ranking_only = ScanRequest {
            rank_by: Some("return_20".into()),
            ..ScanRequest::default()
        }
        .validate()
        .expect("valid");
        assert!(ranking_only.filters().is_empty());
        assert_eq!(ranking_only.bar_rules(), Screens::default());
    }
}
