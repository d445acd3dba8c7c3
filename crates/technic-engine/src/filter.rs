//! Every filter a request asks for, through one seam: a compiled expression of the screen
//! language, the name it is reported under, and the place in a scan it applies. The built-in
//! filters are expressions like any screen (`min_price 5` is `not (close < 5)`), compiled by the
//! same compiler as `where`; the scan's stages, the distributed workers and the backtest read
//! every filter from here, so a new built-in is a [`FilterName`], its expression and its message.
//!
//! The place is what a filter may change, and follows from what its expression reads: the
//! universe row alone (`sector`) before any bars are read; bars-derived columns before the
//! analysis, which saves the analysis of the symbols it refuses; the rating, alpha or a
//! cross-sectional function after it, where it never changes the cross-section the ratings and
//! alpha scores are placed in (`scan/finalise.rs` judges it again, exactly, over everything rated).
//! A built-in narrows the universe a scan rates, as it always has, so it goes to the earliest place
//! its columns allow. The screen (`where`) narrows only the results: it is judged after the
//! analysis whatever it reads, so no user's screen changes another symbol's rating.
//!
//! A minimum refuses a value known to be below it, not a missing one (`not (x < min)`, not
//! `x >= min`): a rating or an average the bars cannot give is the data's fault, and the skip
//! that follows says so.

use std::sync::Arc;

use technic_core::Bars;
use technic_data::SymbolInfo;
use technic_screen::{Captured, Fields, Screen, ScreenOptions, Verdict};

use crate::report::ScanResult;
use crate::request::{GICS_SECTORS, ValidScan};

/// Where in a scan a filter applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// On the universe's rows, before any bars are read.
    Universe,
    /// On a symbol's bars, before the analysis.
    BeforeAnalysis,
    /// On the rated result: streamed on estimates, then exactly in the final ranking.
    AfterAnalysis,
}

impl Place {
    /// The earliest place a program can be judged at, from the columns it reads.
    pub fn earliest(program: &Screen) -> Place {
        if program.reads_rating() || program.uses_cross_section() {
            Place::AfterAnalysis
        } else if program.reads_bars() {
            Place::BeforeAnalysis
        } else {
            Place::Universe
        }
    }
}

/// A filter's name: which request field asked for it, with its value. It says how the filter is
/// written as an expression and what a refused symbol is told.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterName {
    /// `sectors`: canonical GICS names.
    Sectors(Vec<String>),
    MinPrice(f64),
    MinAvgVolume(f64),
    MinTechRating(f64),
    /// `where` (and a named `screen`), with its `rank_by`; one that only ranks refuses nothing.
    Where,
}

/// The reason a symbol-date the screen refuses is counted under, and a refused symbol is told.
pub const NOT_MATCHED: &str = "not matched by the screen (`where`)";

/// The name the screen's filter is read under (a `static`: [`Filter`] borrows its name).
static WHERE: FilterName = FilterName::Where;

impl FilterName {
    /// A built-in's expression: its filter, and the value a refused symbol is told of. `None`
    /// for `where`, which is the user's own text.
    fn expression(&self) -> Option<(String, Option<&'static str>)> {
        Some(match self {
            FilterName::Sectors(sectors) => {
                let quoted: Vec<String> = sectors.iter().map(|s| format!("'{s}'")).collect();
                (format!("sector in ({})", quoted.join(", ")), None)
            }
            // `{min}` is Rust's shortest round-trip form, which the parser reads back exactly.
            FilterName::MinPrice(min) => (format!("not (close < {min})"), Some("close")),
            FilterName::MinAvgVolume(min) => (
                format!("not (avg_volume_20 < {min})"),
                Some("avg_volume_20"),
            ),
            FilterName::MinTechRating(min) => {
                (format!("not (tech_rating < {min})"), Some("tech_rating"))
            }
            FilterName::Where => return None,
        })
    }

    /// What a symbol it refuses is told; `value` is the expression's value for it.
    pub fn reason(&self, value: f64) -> String {
        match self {
            FilterName::Sectors(_) => "sector not among `sectors`".to_owned(),
            FilterName::MinPrice(min) => format!("close {value:.2} is below min_price {min}"),
            FilterName::MinAvgVolume(min) => {
                format!("20-day average volume {value:.0} is below min_avg_volume {min}")
            }
            FilterName::MinTechRating(min) => {
                format!("tech_rating {value:.1} is below min_tech_rating {min}")
            }
            FilterName::Where => NOT_MATCHED.to_owned(),
        }
    }

    /// A short name of the rule, for counts of symbol-dates left out by reason.
    pub fn rule(&self) -> &'static str {
        match self {
            FilterName::Sectors(_) => "not among sectors",
            FilterName::MinPrice(_) => "below min_price",
            FilterName::MinAvgVolume(_) => "below min_avg_volume",
            FilterName::MinTechRating(_) => "below min_tech_rating",
            FilterName::Where => NOT_MATCHED,
        }
    }
}

/// One filter of a request: its name, its compiled expression and its place.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    pub name: &'a FilterName,
    pub program: &'a Screen,
    pub place: Place,
}

/// A symbol a filter refused, and the value the filter read.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    pub filter: &'a FilterName,
    pub value: f64,
}

impl std::fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.filter.reason(self.value))
    }
}

/// A symbol's fields before it is rated: its sector, and no rating.
fn unrated(sector: Option<&str>) -> Fields<'_> {
    Fields {
        tech_rating: f64::NAN,
        alpha_score: f64::NAN,
        trend_score: f64::NAN,
        momentum_score: f64::NAN,
        volume_score: f64::NAN,
        volatility_score: f64::NAN,
        sector,
        signal: None,
    }
}

impl Filter<'_> {
    /// Its verdict on a symbol that is not rated yet ([`Place::Universe`] and
    /// [`Place::BeforeAnalysis`]: exact, since such a program reads no rating or cross-section).
    fn judge_unrated(&self, captured: &Captured, sector: Option<&str>) -> Verdict {
        self.program.verdict(captured, &unrated(sector))
    }
}

/// The built-in filters (`sectors`, `min_price`, `min_avg_volume`, `min_tech_rating`), compiled.
/// Serialized as their names and values; compiled again where they are read, as a screen is.
#[derive(Debug, Clone, Default)]
pub struct BuiltinFilters(Vec<(FilterName, Arc<Screen>, Place)>);

impl BuiltinFilters {
    /// Compiles the built-ins in the order a symbol meets them (within a place, the order decides
    /// the reason a refused symbol is given). Their values were validated, so compiling fails only
    /// on a bug, which names the filter and its expression.
    pub fn compile(names: Vec<FilterName>) -> Result<Self, String> {
        let options = ScreenOptions {
            sectors: GICS_SECTORS.iter().map(|s| (*s).to_owned()).collect(),
            ..ScreenOptions::default()
        };
        let mut filters = Vec::with_capacity(names.len());
        for name in names {
            let Some((filter, value)) = name.expression() else {
                return Err(format!("{name:?} is not a built-in filter"));
            };
            let program = Screen::compile(Some(&filter), value, &options)
                .map_err(|(_, e)| format!("the filter {name:?} as `{filter}`: {e}"))?;
            let place = Place::earliest(&program);
            filters.push((name, Arc::new(program), place));
        }
        Ok(Self(filters))
    }

    pub fn names(&self) -> impl Iterator<Item = &FilterName> {
        self.0.iter().map(|(name, _, _)| name)
    }
}

impl PartialEq for BuiltinFilters {
    fn eq(&self, other: &Self) -> bool {
        self.names().eq(other.names())
    }
}

impl serde::Serialize for BuiltinFilters {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names())
    }
}

impl<'de> serde::Deserialize<'de> for BuiltinFilters {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<FilterName>::deserialize(deserializer)?;
        Self::compile(names).map_err(serde::de::Error::custom)
    }
}

impl ValidScan {
    /// The request's filters, in the order they apply: the built-ins, then the screen.
    pub fn filters(&self) -> impl Iterator<Item = Filter<'_>> {
        let builtins = self.builtins.0.iter().map(|(name, program, place)| Filter {
            name,
            program,
            place: *place,
        });
        let screen = self.screen.as_ref().map(|spec| Filter {
            name: &WHERE,
            program: &spec.compiled,
            place: Place::AfterAnalysis,
        });
        builtins.chain(screen)
    }

    /// The filters at one place, in order.
    pub fn filters_at(&self, place: Place) -> impl Iterator<Item = Filter<'_>> {
        self.filters().filter(move |f| f.place == place)
    }

    /// Whether the universe's row passes the filters placed there.
    pub fn admits_row(&self, info: &SymbolInfo) -> bool {
        let nothing = Captured::from_parts(Vec::new(), 1);
        self.filters_at(Place::Universe)
            .all(|f| f.judge_unrated(&nothing, info.sector.as_deref()).matches)
    }

    /// The first filter placed before the analysis that refuses these bars; none for bars with
    /// no rows (the core's `NoBars` says why). An `Err` is a filter whose indicators failed.
    pub fn refuse_bars(
        &self,
        bars: &Bars,
        sector: Option<&str>,
    ) -> Result<Option<Refusal<'_>>, String> {
        if bars.is_empty() {
            return Ok(None);
        }
        for filter in self.filters_at(Place::BeforeAnalysis) {
            let captured = filter.program.capture(bars).map_err(|e| {
                format!("the {} filter's indicators failed: {e}", filter.name.rule())
            })?;
            let verdict = filter.judge_unrated(&captured, sector);
            if !verdict.matches {
                return Ok(Some(Refusal {
                    filter: filter.name,
                    value: verdict.rank_value,
                }));
            }
        }
        Ok(None)
    }
}

/// A rated symbol's fields, as the scan has them when a filter after the analysis judges it.
fn fields_of(result: &ScanResult) -> Fields<'_> {
    Fields {
        tech_rating: result.tech_rating,
        alpha_score: result.alpha_score.unwrap_or(f64::NAN),
        trend_score: result.trend_score,
        momentum_score: result.momentum_score,
        volume_score: result.volume_score,
        volatility_score: result.volatility_score,
        sector: result.sector.as_deref(),
        signal: Some(result.signal.as_str()),
    }
}

impl ValidScan {
    /// The series each filter placed after the analysis reads of these bars (only its own
    /// indicators), in their order: kept until the final ranking judges them. An indicator that
    /// fails is the symbol's error, as the analysis' own would be.
    pub(crate) fn capture_rated(&self, bars: &Bars) -> Result<Vec<Captured>, String> {
        self.filters_at(Place::AfterAnalysis)
            .map(|f| {
                f.program.capture(bars).map_err(|e| match f.name {
                    FilterName::Where => format!("the screen's indicators failed: {e}"),
                    other => format!("the {} filter's indicators failed: {e}", other.rule()),
                })
            })
            .collect()
    }

    /// Whether a result, as streamed (estimated rating and alpha), may pass every filter placed
    /// after the analysis; `captured` is [`ValidScan::capture_rated`]'s.
    pub(crate) fn may_stream(&self, result: &ScanResult, captured: &[Captured]) -> bool {
        let fields = fields_of(result);
        self.filters_at(Place::AfterAnalysis)
            .zip(captured)
            .all(|(f, captured)| f.program.may_match(captured, &fields))
    }

    /// The exact verdicts of each filter placed after the analysis, in their order, over every
    /// rated symbol (`captured[i]` is symbol `i`'s capture): cross-sectional functions are taken
    /// over all of them.
    pub(crate) fn judge_rated(
        &self,
        rated: &[ScanResult],
        captured: &[&[Captured]],
    ) -> Vec<(Filter<'_>, Vec<Verdict>)> {
        self.filters_at(Place::AfterAnalysis)
            .enumerate()
            .map(|(k, filter)| {
                // A rated symbol without a capture (none should be) is treated as having no
                // data: every series missing, so it matches nothing rather than everything.
                let nothing = Captured::from_parts(Vec::new(), 1);
                let rows: Vec<(&Captured, Fields<'_>)> = rated
                    .iter()
                    .zip(captured)
                    .map(|(result, captured)| {
                        (captured.get(k).unwrap_or(&nothing), fields_of(result))
                    })
                    .collect();
                (filter, filter.program.judge(&rows))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScanRequest;

    fn bars(closes: &[f64], volume: f64) -> Bars {
        let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        let mut bars = Bars::default();
        for (i, &close) in closes.iter().enumerate() {
            bars.push(technic_core::Bar {
                date: start + chrono::Days::new(i as u64),
                open: close,
                high: close,
                low: close,
                close,
                volume,
            })
            .expect("valid bar");
        }
        bars
    }

    #[test]
    fn every_filter_has_its_place_from_what_its_expression_reads() {
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
        let seen: Vec<(&FilterName, Place)> =
            request.filters().map(|f| (f.name, f.place)).collect();
        assert_eq!(
            seen,
            [
                (&FilterName::Sectors(vec!["Energy".into()]), Place::Universe),
                (&FilterName::MinPrice(5.0), Place::BeforeAnalysis),
                (&FilterName::MinAvgVolume(1e6), Place::BeforeAnalysis),
                (&FilterName::MinTechRating(60.0), Place::AfterAnalysis),
                // It reads only bars, yet it never narrows the cross-section.
                (&FilterName::Where, Place::AfterAnalysis),
            ]
        );
        let energy = |sector: Option<&str>| SymbolInfo {
            sector: sector.map(str::to_owned),
            ..SymbolInfo::new("X".to_owned())
        };
        assert!(request.admits_row(&energy(Some("Energy"))));
        assert!(!request.admits_row(&energy(Some("Utilities"))));
        assert!(!request.admits_row(&energy(None)));
        // A screen that only ranks refuses nothing; no filters, nothing refused.
        let ranking_only = ScanRequest {
            rank_by: Some("return_20".into()),
            ..ScanRequest::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(ranking_only.filters().count(), 1);
        assert!(!ranking_only.filters().any(|f| f.program.has_filter()));
        let none = ScanRequest::default().validate().expect("valid");
        assert_eq!(none.filters().count(), 0);
        assert!(none.admits_row(&energy(None)));
    }

    #[test]
    fn bar_filters_refuse_in_order_with_the_built_ins_messages() {
        let request = ScanRequest {
            min_price: Some(5.0),
            min_avg_volume: Some(1e6),
            ..ScanRequest::default()
        }
        .validate()
        .expect("valid");
        let reason = |bars: &Bars| {
            request
                .refuse_bars(bars, None)
                .expect("no indicators")
                .map(|r| r.to_string())
        };
        assert_eq!(reason(&Bars::default()), None, "no rows: the core says why");
        assert_eq!(
            reason(&bars(&[3.2149; 30], 1e3)).as_deref(),
            Some("close 3.21 is below min_price 5"),
            "the price is judged first"
        );
        assert_eq!(
            reason(&bars(&[5.0; 30], 999_999.4)).as_deref(),
            Some("20-day average volume 999999 is below min_avg_volume 1000000")
        );
        assert_eq!(
            reason(&bars(&[5.0; 30], 1e6)),
            None,
            "at the minimum passes"
        );
        // Fewer than 20 bars have no 20-day average: not below it, so the core's history rule
        // reports the symbol.
        assert_eq!(reason(&bars(&[5.0; 10], 1.0)), None);
    }

    #[test]
    fn built_ins_cross_processes_as_names_and_compile_again() {
        let request = ScanRequest {
            sectors: Some(vec!["Health Care".into(), "utilities".into()]),
            min_price: Some(0.1),
            min_avg_volume: Some(2.5e6),
            min_tech_rating: Some(33.3),
            ..ScanRequest::default()
        }
        .validate()
        .expect("valid");
        let json = serde_json::to_string(&request).expect("serializes");
        assert!(
            json.contains(r#"{"min_price":0.1}"#),
            "the built-ins travel as names: {json}"
        );
        let again: ValidScan = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(again, request);
        let places = |r: &ValidScan| r.filters().map(|f| f.place).collect::<Vec<_>>();
        assert_eq!(places(&again), places(&request));
    }
}
