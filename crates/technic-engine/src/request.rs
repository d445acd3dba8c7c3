//! A scan request and its validation. JSON bodies and CLI flags share these field names, so an
//! error names the field the user wrote.
//!
//! Nested errors are named as `termination_criteria.max_signals`. `validate()` is linear in the
//! symbols named (a set for duplicates), and `timeout_seconds` is at most a year
//! ([`MAX_TIMEOUT_SECONDS`]): a deadline past that overflowed and panicked. A new termination
//! criterion belongs in the core's `termination.rs` alone: the request reads its type.

use serde::Deserialize;
use technic_core::rating::RatingModel;
use technic_core::termination::TerminationCriteria;

use crate::filter::{BuiltinFilters, FilterName};
use crate::scan::MIN_BARS;
use crate::screening::{ScreenLibrary, ScreenSpec};

/// The eleven GICS sectors; `sectors` must name some of them (any letter case).
pub const GICS_SECTORS: [&str; 11] = [
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
];

/// Bars kept per symbol unless the request says otherwise: a year and a half of trading days,
/// enough for SMA 200, the 12-1 month momentum factor and settled Wilder smoothing.
pub const DEFAULT_LOOKBACK_DAYS: usize = 400;
pub const MAX_LOOKBACK_DAYS: usize = 10_000;

pub use technic_core::termination::MAX_TIMEOUT_SECONDS;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanRequest {
    /// Scan at most this many symbols of the (filtered) universe.
    pub max_symbols: Option<usize>,
    /// Keep only results rated at least this (0–100); the others end as skips with the reason.
    pub min_tech_rating: Option<f64>,
    /// Restrict the universe to these GICS sectors.
    pub sectors: Option<Vec<String>>,
    /// Scan exactly these symbols (a symbol the source lacks ends as an error, not silently dropped).
    pub symbols: Option<Vec<String>>,
    /// Skip symbols whose latest close is below this.
    pub min_price: Option<f64>,
    /// Skip symbols whose 20-day average volume is below this.
    pub min_avg_volume: Option<f64>,
    /// Trading days of history per symbol (at least the rating's minimum).
    pub lookback_days: Option<usize>,
    /// Scan the likeliest signals first (default on).
    pub enable_prioritization: Option<bool>,
    /// Deliver each result as it is ready (default on); the engine always keeps the stream, this
    /// tells servers whether to offer it.
    pub enable_streaming: Option<bool>,
    pub termination_criteria: Option<TerminationRequest>,
    /// `standard` (the default) or `classic`, the rating technic gave before the standard one (docs/rating.md).
    pub rating: Option<String>,
    /// Accepted because the seeds' clients send it: `true` is what `POST /scan/start` always does
    /// (answer at once, scan in the background); servers refuse `false` there and `true` on the
    /// waiting `POST /scan`. The scan itself does not read it.
    pub async_mode: Option<bool>,
    /// A screen's filter (README, "Screens"), e.g. `rsi_2 < 10 and close > sma_200`: only
    /// symbols for which it is true are results.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// A screen's ranking, e.g. `return_126`: results in descending order of it (`-x` for
    /// ascending) instead of by rating.
    pub rank_by: Option<String>,
    /// A saved screen's name: its filter and `where` must both hold, and its ranking applies
    /// unless `rank_by` is given. An unknown name is an error of this field.
    pub screen: Option<String>,
}

/// `termination_criteria` of a request: the core's criteria, which are their own JSON shape.
pub type TerminationRequest = TerminationCriteria;

/// A request error names the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RequestError {
    pub field: &'static str,
    /// For an expression field (`where`, `rank_by`): the character column of the mistake.
    pub column: Option<usize>,
    pub message: String,
}

fn error(field: &'static str, message: impl Into<String>) -> RequestError {
    RequestError {
        field,
        column: None,
        message: message.into(),
    }
}

/// A request whose every value has been checked; the engine only runs these.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct ValidScan {
    pub max_symbols: Option<usize>,
    /// Upper-cased, de-duplicated, in the order given.
    pub symbols: Option<Vec<String>>,
    /// `sectors` (canonical GICS names), `min_price`, `min_avg_volume` and `min_tech_rating`,
    /// compiled as expressions; [`ValidScan::filters`] reads them with the screen.
    pub builtins: BuiltinFilters,
    pub lookback_days: usize,
    pub prioritize: bool,
    pub streaming: bool,
    pub termination: TerminationCriteria,
    pub rating: RatingModel,
    /// `screen`, `where` and `rank_by`, compiled.
    pub screen: Option<ScreenSpec>,
}

/// What [`ticker`] accepts, for messages.
pub const TICKER_RULE: &str = "up to 12 letters, digits and . - _ ^ / =";

/// A ticker as technic spells it (trimmed, upper case), or `None` when `raw` is not one
/// ([`TICKER_RULE`]). The one rule for every symbol a user names: a request's `symbols`, the
/// server's `/symbols/{symbol}` paths.
pub fn ticker(raw: &str) -> Option<String> {
    let symbol = raw.trim().to_ascii_uppercase();
    let valid = !symbol.is_empty()
        && symbol.len() <= 12
        && symbol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '^' | '/' | '='));
    valid.then_some(symbol)
}

fn non_negative(field: &'static str, value: Option<f64>) -> Result<Option<f64>, RequestError> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => {
            Err(error(field, format!("must be a number >= 0, got {v}")))
        }
        other => Ok(other),
    }
}

fn valid_min_tech_rating(rating: Option<f64>) -> Result<Option<f64>, RequestError> {
    match rating {
        Some(r) if !(0.0..=100.0).contains(&r) => Err(error(
            "min_tech_rating",
            format!("must be between 0 and 100, got {r}"),
        )),
        other => Ok(other),
    }
}

/// The sectors named, in GICS's spelling whatever the case the request used.
fn valid_sectors(list: &[String]) -> Result<Vec<String>, RequestError> {
    if list.is_empty() {
        return Err(error("sectors", "must name at least one sector"));
    }
    list.iter()
        .map(|s| {
            GICS_SECTORS
                .iter()
                .find(|g| g.eq_ignore_ascii_case(s.trim()))
                .map(|g| (*g).to_owned())
                .ok_or_else(|| {
                    error(
                        "sectors",
                        format!(
                            "unknown sector '{s}'; expected one of: {}",
                            GICS_SECTORS.join(", ")
                        ),
                    )
                })
        })
        .collect()
}

/// The symbols named, normalised, each once, in the order first named.
fn valid_symbols(list: &[String]) -> Result<Vec<String>, RequestError> {
    // A set beside the list: a request may name thousands of symbols, and checking each against
    // the list kept so far was quadratic (100,000 symbols took 20 s).
    let mut seen = Vec::new();
    let mut known = std::collections::HashSet::with_capacity(list.len());
    for raw in list {
        let Some(symbol) = ticker(raw) else {
            return Err(error(
                "symbols",
                format!("'{raw}' is not a ticker symbol ({TICKER_RULE})"),
            ));
        };
        if known.insert(symbol.clone()) {
            seen.push(symbol);
        }
    }
    if seen.is_empty() {
        return Err(error("symbols", "must name at least one symbol"));
    }
    Ok(seen)
}

impl ScanRequest {
    /// Validates a request that refers to no saved screen (one that does is an error of the
    /// field naming it); [`ScanRequest::validate_with`] resolves them.
    pub fn validate(&self) -> Result<ValidScan, RequestError> {
        self.validate_with(&ScreenLibrary::new())
    }

    /// Validates a request, resolving `screen` and `screen('name')` in `saved`.
    pub fn validate_with(&self, saved: &ScreenLibrary) -> Result<ValidScan, RequestError> {
        if self.max_symbols == Some(0) {
            return Err(error("max_symbols", "must be at least 1"));
        }
        let min_tech_rating = valid_min_tech_rating(self.min_tech_rating)?;
        let sectors = self.sectors.as_deref().map(valid_sectors).transpose()?;
        let symbols = self.symbols.as_deref().map(valid_symbols).transpose()?;
        let lookback_days = self.lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS);
        if !(MIN_BARS..=MAX_LOOKBACK_DAYS).contains(&lookback_days) {
            return Err(error(
                "lookback_days",
                format!(
                    "must be between {MIN_BARS} (the rating needs SMA 200) and {MAX_LOOKBACK_DAYS} trading days, got {lookback_days}"
                ),
            ));
        }
        let termination = match &self.termination_criteria {
            None => TerminationCriteria::default(),
            Some(t) => t.validate().map_err(|e| error(e.field, e.message))?,
        };
        let rating = match self.rating.as_deref() {
            None => RatingModel::default(),
            Some(text) => RatingModel::parse(text).ok_or_else(|| {
                error(
                    "rating",
                    format!("must be \"standard\" or \"classic\", got \"{text}\""),
                )
            })?,
        };
        let screen = ScreenSpec::compile_with(
            self.screen.as_deref(),
            self.filter.as_deref(),
            self.rank_by.as_deref(),
            saved,
        )?;
        let builtins = [
            sectors.map(FilterName::Sectors),
            non_negative("min_price", self.min_price)?.map(FilterName::MinPrice),
            non_negative("min_avg_volume", self.min_avg_volume)?.map(FilterName::MinAvgVolume),
            min_tech_rating.map(FilterName::MinTechRating),
        ];
        let builtins = BuiltinFilters::compile(builtins.into_iter().flatten().collect())
            .map_err(|message| error("filters", message))?;
        Ok(ValidScan {
            screen,
            rating,
            prioritize: self.enable_prioritization.unwrap_or(true),
            streaming: self.enable_streaming.unwrap_or(true),
            termination,
            max_symbols: self.max_symbols,
            symbols,
            builtins,
            lookback_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(request: ScanRequest) -> &'static str {
        request.validate().expect_err("invalid").field
    }

    #[test]
    fn each_bad_value_names_its_field() {
        assert_eq!(
            field_of(ScanRequest {
                max_symbols: Some(0),
                ..Default::default()
            }),
            "max_symbols"
        );
        assert_eq!(
            field_of(ScanRequest {
                min_tech_rating: Some(101.0),
                ..Default::default()
            }),
            "min_tech_rating"
        );
        assert_eq!(
            field_of(ScanRequest {
                min_price: Some(-1.0),
                ..Default::default()
            }),
            "min_price"
        );
        assert_eq!(
            field_of(ScanRequest {
                min_avg_volume: Some(f64::NAN),
                ..Default::default()
            }),
            "min_avg_volume"
        );
        assert_eq!(
            field_of(ScanRequest {
                lookback_days: Some(10),
                ..Default::default()
            }),
            "lookback_days"
        );
        assert_eq!(
            field_of(ScanRequest {
                symbols: Some(vec!["A B".into()]),
                ..Default::default()
            }),
            "symbols"
        );
        let err = ScanRequest {
            sectors: Some(vec!["Tech".into()]),
            ..Default::default()
        }
        .validate()
        .expect_err("bad sector");
        assert_eq!(err.field, "sectors");
        assert!(
            err.message.contains("'Tech'") && err.message.contains("Information Technology"),
            "{err}"
        );
    }

    #[test]
    fn termination_criteria_errors_name_the_nested_field() {
        let with = |t: TerminationRequest| ScanRequest {
            termination_criteria: Some(t),
            ..Default::default()
        };
        let field = |t| with(t).validate().expect_err("invalid").field;
        assert_eq!(
            field(TerminationRequest {
                max_percent_scanned: Some(120.0),
                ..Default::default()
            }),
            "termination_criteria.max_percent_scanned"
        );
        assert_eq!(
            field(TerminationRequest {
                timeout_seconds: Some(-1.0),
                ..Default::default()
            }),
            "termination_criteria.timeout_seconds"
        );
        assert_eq!(
            field(TerminationRequest {
                max_signals: Some(0),
                ..Default::default()
            }),
            "termination_criteria.max_signals"
        );
        assert_eq!(
            field(TerminationRequest {
                min_signal_rating: Some(-3.0),
                ..Default::default()
            }),
            "termination_criteria.min_signal_rating"
        );
        let err =
            serde_json::from_str::<ScanRequest>(r#"{"termination_criteria": {"max_signal": 5}}"#)
                .expect_err("unknown")
                .to_string();
        assert!(err.contains("unknown field `max_signal`"), "{err}");
        let valid = with(TerminationRequest {
            max_signals: Some(5),
            ..Default::default()
        })
        .validate()
        .expect("valid");
        assert_eq!(valid.termination.max_signals, Some(5));
        assert!(valid.prioritize && valid.streaming);
    }

    #[test]
    fn timeouts_past_a_year_are_refused_by_name_and_a_year_is_accepted() {
        let with_timeout = |seconds: f64| ScanRequest {
            termination_criteria: Some(TerminationRequest {
                timeout_seconds: Some(seconds),
                ..Default::default()
            }),
            ..Default::default()
        };
        // 1e20 and 1e308 were accepted, and the scan's deadline (`now + timeout`) then panicked.
        for seconds in [
            1e20,
            1e308,
            f64::INFINITY,
            f64::NAN,
            MAX_TIMEOUT_SECONDS + 1.0,
        ] {
            let err = with_timeout(seconds).validate().expect_err("out of range");
            assert_eq!(err.field, "termination_criteria.timeout_seconds");
            assert!(err.message.contains("31536000 (a year)"), "{err}");
        }
        let year = with_timeout(MAX_TIMEOUT_SECONDS)
            .validate()
            .expect("a year");
        assert_eq!(year.termination.timeout_seconds, Some(MAX_TIMEOUT_SECONDS));
    }

    #[test]
    fn many_symbols_are_checked_in_linear_time() {
        // 200,000 distinct symbols (and each once more, in lower case): the duplicate check was a
        // scan of the list kept so far, 2e10 comparisons here (minutes); with a set it is a
        // fraction of a second even unoptimised. The bound is generous against a loaded machine.
        let symbols: Vec<String> = (0..200_000)
            .map(|i| format!("S{i}"))
            .chain((0..200_000).map(|i| format!("s{i}")))
            .collect();
        let started = std::time::Instant::now();
        let valid = ScanRequest {
            symbols: Some(symbols),
            ..Default::default()
        }
        .validate()
        .expect("valid");
        let took = started.elapsed();
        assert_eq!(valid.symbols.as_ref().map(Vec::len), Some(200_000));
        assert_eq!(
            valid
                .symbols
                .as_ref()
                .and_then(|s| s.last())
                .map(String::as_str),
            Some("S199999")
        );
        assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    }

    #[test]
    fn valid_values_are_normalised() {
        let valid = ScanRequest {
            sectors: Some(vec!["health care".into()]),
            symbols: Some(vec!["aapl".into(), "AAPL".into(), " brk.b ".into()]),
            ..Default::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(
            valid.builtins.names().collect::<Vec<_>>(),
            [&FilterName::Sectors(vec!["Health Care".to_owned()])]
        );
        assert_eq!(
            valid.symbols,
            Some(vec!["AAPL".to_owned(), "BRK.B".to_owned()])
        );
        assert_eq!(valid.lookback_days, DEFAULT_LOOKBACK_DAYS);
    }

    #[test]
    fn unknown_json_fields_are_rejected_by_name() {
        let err = serde_json::from_str::<ScanRequest>(r#"{"max_symbol": 5}"#)
            .expect_err("unknown field")
            .to_string();
        assert!(err.contains("unknown field `max_symbol`"), "{err}");
    }
}
