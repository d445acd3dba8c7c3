//! Screens: the user's own filters and rankings, as expressions over a symbol's newest values.
//!
//! ```text
//! rsi_2 < 10 and close > sma_200 and sector in ('Energy', 'Utilities')
//! crosses_above(sma_50, sma_200) or pct_from_high_52w between -5 and 0
//! pct_rank(return_126) > 80 and rel_volume >= 1.5
//! ```
//!
//! An expression is compiled once per scan ([`Screen::compile`]) into a typed tree over column
//! slots; evaluating it for a symbol reads numbers from slots and never looks at the text again.
//! Compiling also says which indicators the screen needs ([`Screen::indicators`]) and how many bars
//! back it reads ([`Screen::history`]), so a scan computes only those, and
//! [`Screen::capture`] keeps just that tail of each series for the final ranking.
//!
//! **Why winnow.** The grammar is small, and errors must point at a column. winnow (the parser
//! behind `toml_edit`, already in this workspace's lock file) gives byte offsets for errors,
//! committed alternatives (`cut_err`) so an error lands where the user must change something, and
//! a state slot for the nesting limit; its plain functions type-check without the long generic
//! types of chumsky. pest would add a grammar file and a derive macro for no gain here, and CEL's
//! Rust implementations evaluate dynamic values through a map per call, which misses the budget of
//! under a microsecond per symbol.
//!
//! **Chained screens.** `screen('uptrend')` is the filter of the saved screen `uptrend`, inlined
//! when compiling ([`ScreenOptions::saved`] holds the saved texts; the caller reads them from its
//! store), so a chain costs nothing per symbol. A cycle is an error naming the screens in it.
//!
//! **Missing values.** A value in an indicator's warm-up, before the first bar or without a sector
//! is missing (NaN). Arithmetic on a missing value is missing, and a comparison with one is false,
//! so a screen never matches on data it does not have (`not` of such a comparison is true).
//!
//! **Cross-sectional functions** (`pct_rank`, `sector_pct_rank`, `zscore`) need the whole
//! universe, so they are exact only in the final ranking ([`Screen::judge`]). While a scan streams,
//! [`Screen::may_match`] counts every comparison that uses one as whichever of true or false lets
//! the symbol through: a streamed symbol *may* match, and the final ranking says whether it does.
//!
//! Pure: no IO, no threads, no clock.

mod compile;
mod eval;
mod names;
mod syntax;

pub use compile::{MAX_CHAIN, Part, SavedText, Screen, ScreenOptions};
pub use eval::{Captured, Fields, Verdict, pct_ranks, zscores};
pub use names::{Column, Field, SeriesColumn, TextField};

/// Longest expression accepted, in characters: a screen is a line a person writes, and the
/// limit bounds the work a request can ask of the parser.
pub const MAX_LENGTH: usize = 2_000;
/// Deepest nesting accepted (each parenthesis, call, `[n]`, `not`, unary minus and further operand
/// of a chain adds one): the parser, the compiler and the evaluator recurse once per level.
pub const MAX_DEPTH: usize = 64;
/// Largest number of bars an expression may look back in one step (`x[n]`, `rising(x, n)`,
/// `return_N`, `avg_volume_N`): more than `lookback_days` allows is missing anyway.
pub const MAX_BARS_BACK: u32 = 5_000;

/// What kind of mistake an expression has; messages say the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    TooLong,
    TooDeep,
    Syntax,
    UnknownName,
    Type,
    OutOfRange,
    /// Saved screens that refer to each other in a loop (`screen('a')` in `b`, `screen('b')` in `a`).
    Cycle,
}

/// A mistake in an expression, at a character column (1 = the first character).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ScreenError {
    pub kind: ErrorKind,
    pub column: usize,
    pub message: String,
}

impl ScreenError {
    /// `offset` is a byte offset into `source`; the column counts characters, as an editor does.
    pub(crate) fn new(
        kind: ErrorKind,
        source: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let offset = offset.min(source.len());
        let column = source
            .char_indices()
            .take_while(|(i, _)| *i < offset)
            .count()
            + 1;
        Self {
            kind,
            column,
            message: message.into(),
        }
    }
}
