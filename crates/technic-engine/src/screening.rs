//! A scan's screen (`where`, `rank_by`): compiled once when the request is validated, then applied
//! at the three points of a scan that know enough.
//!
//! 1. While streaming ([`may_stream`]): on the streamed estimates of the rating and alpha, its
//!    cross-sectional comparisons counted as passing (`Screen::may_match`); a symbol that may not
//!    match is held back like one below `min_tech_rating`.
//! 2. In the final ranking ([`judge`]): exactly, over every rated symbol, after the exact alpha
//!    and rating placement; `rank_by` orders the results.
//!
//! A screen filters results; it never changes the cross-section the ratings and alpha scores are
//! placed in. So it is not applied before the analysis, as `min_price` is: a bars-only filter
//! could save the analysis of the symbols it refuses, but every other symbol's `tech_rating`
//! would then depend on the screen.
//!
//! The screen reads its own series ([`Screen::capture`]: only the indicators it names), whatever
//! indicator set the analysis uses, and keeps their tails until the final ranking.

use std::sync::Arc;

use technic_core::Bars;
use technic_screen::{Captured, Fields, Screen, ScreenOptions, Verdict};

use crate::report::ScanResult;
use crate::request::{GICS_SECTORS, RequestError};

/// A request's screen: the texts (what two requests are compared by) and the compiled program.
#[derive(Debug, Clone)]
pub struct ScreenSpec {
    pub filter: Option<String>,
    pub rank_by: Option<String>,
    pub compiled: Arc<Screen>,
}

impl PartialEq for ScreenSpec {
    fn eq(&self, other: &Self) -> bool {
        (&self.filter, &self.rank_by) == (&other.filter, &other.rank_by)
    }
}

/// A screen crosses processes (a distributed scan's request) as its texts, and is compiled again
/// where it is read: the compiled program is a function of them.
impl serde::Serialize for ScreenSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.filter, &self.rank_by).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for ScreenSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (filter, rank_by): (Option<String>, Option<String>) =
            serde::Deserialize::deserialize(deserializer)?;
        ScreenSpec::compile(filter.as_deref(), rank_by.as_deref())
            .map_err(|e| serde::de::Error::custom(e.to_string()))?
            .ok_or_else(|| serde::de::Error::custom("a screen with neither where nor rank_by"))
    }
}

impl ScreenSpec {
    /// Compiles the request's `where` and `rank_by`; `None` when it has neither. An error names
    /// the field and carries the character column of the mistake.
    pub fn compile(
        filter: Option<&str>,
        rank_by: Option<&str>,
    ) -> Result<Option<ScreenSpec>, RequestError> {
        if filter.is_none() && rank_by.is_none() {
            return Ok(None);
        }
        let options = ScreenOptions {
            sectors: GICS_SECTORS.iter().map(|s| (*s).to_owned()).collect(),
        };
        match Screen::compile(filter, rank_by, &options) {
            Ok(compiled) => Ok(Some(ScreenSpec {
                filter: filter.map(str::to_owned),
                rank_by: rank_by.map(str::to_owned),
                compiled: Arc::new(compiled),
            })),
            Err((part, error)) => Err(RequestError {
                field: part.field(),
                column: Some(error.column),
                message: error.to_string(),
            }),
        }
    }
}

/// The screen's series for one symbol; an indicator the screen names that fails is the symbol's
/// error, as the analysis' own would be.
pub(crate) fn capture(
    spec: Option<&ScreenSpec>,
    bars: &Bars,
) -> Result<Option<Arc<Captured>>, String> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    spec.compiled
        .capture(bars)
        .map(|captured| Some(Arc::new(captured)))
        .map_err(|e| format!("the screen's indicators failed: {e}"))
}

fn not_matched() -> String {
    "not matched by the screen (`where`)".to_owned()
}

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

/// Whether a result, as streamed (estimated rating and alpha), may match the filter.
pub(crate) fn may_stream(
    spec: Option<&ScreenSpec>,
    result: &ScanResult,
    captured: Option<&Captured>,
) -> bool {
    match (spec, captured) {
        (Some(spec), Some(captured)) => spec.compiled.may_match(captured, &fields_of(result)),
        _ => true,
    }
}

/// The exact verdicts over every rated symbol, in the order given; `None` without a screen.
pub(crate) fn judge(
    spec: Option<&ScreenSpec>,
    rated: &[ScanResult],
    captured: &[Option<Arc<Captured>>],
) -> Option<Vec<Verdict>> {
    let spec = spec?;
    // Every rated symbol of a scan with a screen has its capture; one without is treated as
    // having no data, so it matches nothing rather than everything.
    let empty = spec.compiled.capture(&Bars::default()).ok()?;
    let rows: Vec<(&Captured, Fields<'_>)> = rated
        .iter()
        .zip(captured)
        .map(|(result, captured)| (captured.as_deref().unwrap_or(&empty), fields_of(result)))
        .collect();
    Some(spec.compiled.judge(&rows))
}

/// The skip message of a rated symbol the exact filter refuses.
pub(crate) fn refused_message() -> String {
    not_matched()
}
