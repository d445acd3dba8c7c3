//! A scan's screen (`where`, `rank_by`): compiled once when the request is validated, then judged
//! through the filter seam (`filter.rs`) with the filters placed after the analysis.
//!
//! 1. While streaming: on the streamed estimates of the rating and alpha, its cross-sectional
//!    comparisons counted as passing (`Screen::may_match`); a symbol that may not match is held
//!    back like one below `min_tech_rating`.
//! 2. In the final ranking: exactly, over every rated symbol, after the exact alpha and rating
//!    placement; `rank_by` orders the results.
//!
//! A screen filters results; it never changes the cross-section the ratings and alpha scores are
//! placed in. So it is not applied before the analysis, as `min_price` is: a bars-only filter
//! could save the analysis of the symbols it refuses, but every other symbol's `tech_rating`
//! would then depend on the screen.
//!
//! The screen reads its own series ([`Screen::capture`]: only the indicators it names), whatever
//! indicator set the analysis uses, and keeps their tails until the final ranking.

use std::collections::BTreeMap;
use std::sync::Arc;

use technic_screen::{Part, SavedText, Screen, ScreenOptions};

use crate::request::{GICS_SECTORS, RequestError};

/// Saved screens by name, as a request's `screen` and `screen('name')` in `where` refer to them.
/// The caller reads them from its store; a request naming none needs none.
pub type ScreenLibrary = BTreeMap<String, SavedText>;

/// A request's screen: the texts (what two requests are compared by) and the compiled program.
#[derive(Debug, Clone)]
pub struct ScreenSpec {
    /// The saved screen the request names (`screen`), which `filter` narrows.
    pub base: Option<String>,
    pub filter: Option<String>,
    pub rank_by: Option<String>,
    /// The saved screens it refers to, directly or through another, as they were when the
    /// request was validated: the spec compiles again anywhere without the store.
    pub saved: ScreenLibrary,
    pub compiled: Arc<Screen>,
}

impl PartialEq for ScreenSpec {
    fn eq(&self, other: &Self) -> bool {
        (&self.base, &self.filter, &self.rank_by, &self.saved)
            == (&other.base, &other.filter, &other.rank_by, &other.saved)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SpecTexts {
    base: Option<String>,
    filter: Option<String>,
    rank_by: Option<String>,
    saved: ScreenLibrary,
}

/// A screen crosses processes (a distributed scan's request) as its texts, and is compiled again
/// where it is read: the compiled program is a function of them.
impl serde::Serialize for ScreenSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SpecTexts {
            base: self.base.clone(),
            filter: self.filter.clone(),
            rank_by: self.rank_by.clone(),
            saved: self.saved.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for ScreenSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let texts = SpecTexts::deserialize(deserializer)?;
        ScreenSpec::compile_with(
            texts.base.as_deref(),
            texts.filter.as_deref(),
            texts.rank_by.as_deref(),
            &texts.saved,
        )
        .map_err(|e| serde::de::Error::custom(e.to_string()))?
        .ok_or_else(|| serde::de::Error::custom("a screen with neither where nor rank_by"))
    }
}

impl ScreenSpec {
    /// Compiles `where` and `rank_by` alone, referring to no saved screen; `None` when it has
    /// neither. An error names the field and carries the character column of the mistake.
    pub fn compile(
        filter: Option<&str>,
        rank_by: Option<&str>,
    ) -> Result<Option<ScreenSpec>, RequestError> {
        Self::compile_with(None, filter, rank_by, &ScreenLibrary::new())
    }

    /// Compiles a request's screen: the saved screen `base` (if named) narrowed by `filter`,
    /// ranked by `rank_by` or else by `base`'s ranking, with `screen('name')` resolved in
    /// `library`. An unknown or broken saved screen is an error of the field that names it.
    pub fn compile_with(
        base: Option<&str>,
        filter: Option<&str>,
        rank_by: Option<&str>,
        library: &ScreenLibrary,
    ) -> Result<Option<ScreenSpec>, RequestError> {
        if base.is_none() && filter.is_none() && rank_by.is_none() {
            return Ok(None);
        }
        let options = ScreenOptions {
            sectors: GICS_SECTORS.iter().map(|s| (*s).to_owned()).collect(),
            saved: library.clone(),
        };
        match Screen::compile_on(base, filter, rank_by, &options) {
            Ok(compiled) => {
                let saved = compiled
                    .screens()
                    .iter()
                    .filter_map(|name| Some((name.clone(), library.get(name)?.clone())))
                    .collect();
                Ok(Some(ScreenSpec {
                    base: base.map(str::to_owned),
                    filter: filter.map(str::to_owned),
                    rank_by: rank_by.map(str::to_owned),
                    saved,
                    compiled: Arc::new(compiled),
                }))
            }
            Err((part, error)) => Err(RequestError {
                field: part.field(),
                column: (part != Part::Screen).then_some(error.column),
                message: if part == Part::Screen {
                    error.message
                } else {
                    error.to_string()
                },
            }),
        }
    }
}
