//! The typed tree and its evaluation: numbers read from slots of a captured tail of each series,
//! at an offset (0 = the newest bar), and the cross-sectional step over a universe.

use technic_core::rating::mean_of_newest;
use technic_core::{Bars, IndicatorError};

use crate::compile::Screen;
use crate::names::{BARS_52W, Field, SeriesColumn, TextField};
use crate::syntax::{BinOp, CmpOp};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Num {
    Const(f64),
    Series(usize),
    Field(Field),
    /// The output of the cross-sectional call of that index.
    Cross(usize),
    Neg(Box<Num>),
    Arith(BinOp, Box<Num>, Box<Num>),
    Past(Box<Num>, usize),
    Highest(Box<Num>, usize),
    Lowest(Box<Num>, usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Text {
    Const(String),
    Field(TextField),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Compare(CmpOp, Num, Num),
    Between(Num, Num, Num),
    NumIn(Num, Vec<f64>, bool),
    TextEq(Text, Text, bool),
    TextIn(Text, Vec<String>, bool),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    CrossesAbove(Num, Num),
    CrossesBelow(Num, Num),
    Rising(Num, usize),
    Falling(Num, usize),
    /// A comparison that reads a cross-sectional function.
    Undecided(Box<Cond>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrossFn {
    PctRank,
    SectorPctRank,
    ZScore,
}

/// The tail of every series a screen reads, for one symbol: slot-major, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    values: Vec<f64>,
    history: usize,
}

impl Captured {
    fn get(&self, slot: usize, offset: usize) -> f64 {
        if offset >= self.history {
            return f64::NAN;
        }
        self.values
            .get(slot * self.history + offset)
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// The values (slot-major, newest first, NaN where undefined) and how many bars of each
    /// series are kept: what a distributed scan's worker sends its planner.
    pub fn parts(&self) -> (&[f64], usize) {
        (&self.values, self.history)
    }

    /// A capture from [`Captured::parts`].
    pub fn from_parts(values: Vec<f64>, history: usize) -> Self {
        Self { values, history }
    }

    /// Bytes held, for the scan's memory estimates.
    pub fn bytes(&self) -> usize {
        self.values.len() * std::mem::size_of::<f64>()
    }
}

/// A rated symbol's result fields, as the scan has them when the screen is evaluated.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    pub tech_rating: f64,
    /// NaN when the symbol has no alpha score (yet).
    pub alpha_score: f64,
    pub trend_score: f64,
    pub momentum_score: f64,
    pub volume_score: f64,
    pub volatility_score: f64,
    pub sector: Option<&'a str>,
    pub signal: Option<&'a str>,
}

/// One symbol's outcome in the final ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub matches: bool,
    /// The `rank_by` value (NaN when missing or when the screen has no ranking).
    pub rank_value: f64,
}

#[derive(Clone, Copy)]
struct Row<'a> {
    captured: &'a Captured,
    fields: &'a Fields<'a>,
    /// The cross-sectional outputs; `None` while streaming.
    cross: Option<&'a [f64]>,
    /// What an undecided comparison counts as (flipped under `not`).
    optimistic: bool,
}

impl Screen {
    /// Computes the series the screen reads (only its own indicators) and keeps their newest
    /// [`Screen::history`] values.
    pub fn capture(&self, bars: &Bars) -> Result<Captured, IndicatorError> {
        let history = self.history;
        let n = bars.len();
        let mut values = Vec::with_capacity(self.series.len() * history);
        // Each indicator once, even when several of its outputs are read.
        let mut computed: Vec<(technic_core::Indicator, Vec<Vec<f64>>)> = Vec::new();
        let atr_pct = SeriesColumn::atr_pct();
        for series in &self.series {
            let indicator = match series {
                SeriesColumn::Indicator(indicator, _) => Some(*indicator),
                SeriesColumn::AtrPct => Some(atr_pct),
                _ => None,
            };
            if let Some(indicator) = indicator
                && !computed.iter().any(|(i, _)| *i == indicator)
            {
                computed.push((indicator, indicator.compute(bars)?));
            }
            let output = |indicator: technic_core::Indicator, output: usize| {
                computed
                    .iter()
                    .find(|(i, _)| *i == indicator)
                    .and_then(|(_, outputs)| outputs.get(output))
            };
            for offset in 0..history {
                let value = if offset >= n {
                    f64::NAN
                } else {
                    let at = n - 1 - offset;
                    match series {
                        SeriesColumn::Indicator(indicator, index) => output(*indicator, *index)
                            .and_then(|s| s.get(at).copied())
                            .unwrap_or(f64::NAN),
                        SeriesColumn::AtrPct => output(atr_pct, 0)
                            .and_then(|s| s.get(at).copied())
                            .unwrap_or(f64::NAN),
                        other => derived(*other, bars, at),
                    }
                };
                values.push(value);
            }
        }
        Ok(Captured { values, history })
    }

    /// Whether a symbol may match while the scan streams: exact unless the filter uses a
    /// cross-sectional function, whose comparisons count as whatever lets the symbol through.
    /// A screen without a filter lets everything through.
    pub fn may_match(&self, captured: &Captured, fields: &Fields<'_>) -> bool {
        let Some(filter) = &self.filter else {
            return true;
        };
        let row = Row {
            captured,
            fields,
            cross: None,
            optimistic: true,
        };
        row.cond(filter, 0)
    }

    /// One symbol's outcome on its own: exact for a screen without cross-sectional functions
    /// (their comparisons count as [`Screen::may_match`] counts them).
    pub fn verdict(&self, captured: &Captured, fields: &Fields<'_>) -> Verdict {
        let row = Row {
            captured,
            fields,
            cross: None,
            optimistic: true,
        };
        Verdict {
            matches: self.filter.as_ref().is_none_or(|f| row.cond(f, 0)),
            rank_value: self.rank.as_ref().map_or(f64::NAN, |r| row.num(r, 0)),
        }
    }

    /// The exact outcome of every symbol of a universe (its rated symbols, in any order):
    /// cross-sectional functions are taken over all of `rows`.
    pub fn judge(&self, rows: &[(&Captured, Fields<'_>)]) -> Vec<Verdict> {
        let outputs = self.cross_section(rows);
        let width = self.cross.len();
        rows.iter()
            .enumerate()
            .map(|(i, (captured, fields))| {
                let row = Row {
                    captured,
                    fields,
                    cross: Some(&outputs[i * width..(i + 1) * width]),
                    optimistic: false,
                };
                Verdict {
                    matches: self.filter.as_ref().is_none_or(|f| row.cond(f, 0)),
                    rank_value: self.rank.as_ref().map_or(f64::NAN, |r| row.num(r, 0)),
                }
            })
            .collect()
    }

    /// Row-major: `outputs[i * calls + k]` is call `k` for row `i`.
    fn cross_section(&self, rows: &[(&Captured, Fields<'_>)]) -> Vec<f64> {
        let width = self.cross.len();
        let mut outputs = vec![f64::NAN; rows.len() * width];
        for (k, (function, inner)) in self.cross.iter().enumerate() {
            let inputs: Vec<f64> = rows
                .iter()
                .map(|(captured, fields)| {
                    Row {
                        captured,
                        fields,
                        cross: None,
                        optimistic: false,
                    }
                    .num(inner, 0)
                })
                .collect();
            let column = match function {
                CrossFn::PctRank => pct_ranks(&inputs),
                CrossFn::ZScore => zscores(&inputs),
                CrossFn::SectorPctRank => {
                    let mut column = vec![f64::NAN; rows.len()];
                    let mut sectors: Vec<&str> =
                        rows.iter().filter_map(|(_, f)| f.sector).collect();
                    sectors.sort_unstable();
                    sectors.dedup();
                    for sector in sectors {
                        let members: Vec<usize> = (0..rows.len())
                            .filter(|&i| rows[i].1.sector == Some(sector))
                            .collect();
                        let values: Vec<f64> = members.iter().map(|&i| inputs[i]).collect();
                        for (&i, rank) in members.iter().zip(pct_ranks(&values)) {
                            column[i] = rank;
                        }
                    }
                    column
                }
            };
            for (i, value) in column.into_iter().enumerate() {
                outputs[i * width + k] = value;
            }
        }
        outputs
    }
}

/// Percentile ranks as pandas' `rank(pct=True)` gives them, times 100: average ranks of tied
/// values, divided by the count of values that are not missing. Missing stays missing.
pub fn pct_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let count = order.len() as f64;
    let mut ranks = vec![f64::NAN; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let average = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = average / count * 100.0;
        }
        start = end;
    }
    ranks
}

/// Standard scores as scipy's `zscore` gives them (population standard deviation), over the
/// values that are not missing; all missing when they do not vary.
pub fn zscores(values: &[f64]) -> Vec<f64> {
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if present.is_empty() {
        return vec![f64::NAN; values.len()];
    }
    let n = present.len() as f64;
    let mean = present.iter().sum::<f64>() / n;
    let variance = present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let sd = variance.sqrt();
    values
        .iter()
        .map(|v| if sd > 0.0 { (v - mean) / sd } else { f64::NAN })
        .collect()
}

/// A derived series at bar index `at` (which exists).
fn derived(series: SeriesColumn, bars: &Bars, at: usize) -> f64 {
    let close = &bars.close;
    let before = |k: usize| at.checked_sub(k);
    let percent = |now: f64, then: f64| (now / then - 1.0) * 100.0;
    // The core's summation, so `avg_volume_20` is the scan's to the bit; a window reaching before
    // the first bar is missing here, as every rolling value is.
    let mean_volume = |window: usize| match at.checked_sub(window - 1) {
        Some(_) => mean_of_newest(&bars.volume[..=at], window).unwrap_or(f64::NAN),
        None => f64::NAN,
    };
    let window_52w = || at.checked_sub(BARS_52W - 1).map(|from| from..=at);
    match series {
        SeriesColumn::Open => bars.open[at],
        SeriesColumn::High => bars.high[at],
        SeriesColumn::Low => bars.low[at],
        SeriesColumn::Close => close[at],
        SeriesColumn::Volume => bars.volume[at],
        SeriesColumn::ChangePct => before(1).map_or(f64::NAN, |p| percent(close[at], close[p])),
        SeriesColumn::GapPct => before(1).map_or(f64::NAN, |p| percent(bars.open[at], close[p])),
        SeriesColumn::Return(n) => {
            before(n as usize).map_or(f64::NAN, |p| percent(close[at], close[p]))
        }
        SeriesColumn::AvgVolume(n) => mean_volume(n as usize),
        SeriesColumn::RelVolume => bars.volume[at] / mean_volume(20),
        SeriesColumn::High52w => window_52w().map_or(f64::NAN, |w| {
            bars.high[w].iter().copied().fold(f64::MIN, f64::max)
        }),
        SeriesColumn::Low52w => window_52w().map_or(f64::NAN, |w| {
            bars.low[w].iter().copied().fold(f64::MAX, f64::min)
        }),
        SeriesColumn::PctFromHigh52w => window_52w().map_or(f64::NAN, |w| {
            percent(
                close[at],
                bars.high[w].iter().copied().fold(f64::MIN, f64::max),
            )
        }),
        // Read from the indicator outputs by `capture`.
        SeriesColumn::Indicator(..) | SeriesColumn::AtrPct => f64::NAN,
    }
}

impl Row<'_> {
    fn num(&self, node: &Num, offset: usize) -> f64 {
        match node {
            Num::Const(value) => *value,
            Num::Series(slot) => self.captured.get(*slot, offset),
            Num::Field(field) => {
                let f = self.fields;
                match field {
                    Field::TechRating => f.tech_rating,
                    Field::AlphaScore => f.alpha_score,
                    Field::TrendScore => f.trend_score,
                    Field::MomentumScore => f.momentum_score,
                    Field::VolumeScore => f.volume_score,
                    Field::VolatilityScore => f.volatility_score,
                }
            }
            Num::Cross(index) => self
                .cross
                .and_then(|c| c.get(*index).copied())
                .unwrap_or(f64::NAN),
            Num::Neg(inner) => -self.num(inner, offset),
            Num::Arith(op, left, right) => {
                let (l, r) = (self.num(left, offset), self.num(right, offset));
                match op {
                    BinOp::Add => l + r,
                    BinOp::Sub => l - r,
                    BinOp::Mul => l * r,
                    BinOp::Div => l / r,
                }
            }
            Num::Past(inner, bars) => self.num(inner, offset + bars),
            Num::Highest(inner, bars) => self.window(inner, offset, *bars, f64::max),
            Num::Lowest(inner, bars) => self.window(inner, offset, *bars, f64::min),
        }
    }

    /// Folds `bars` values from `offset` back; missing if any of them is (as a rolling window
    /// with every value required).
    fn window(&self, inner: &Num, offset: usize, bars: usize, fold: fn(f64, f64) -> f64) -> f64 {
        let mut acc = self.num(inner, offset);
        for k in 1..bars {
            let value = self.num(inner, offset + k);
            if value.is_nan() {
                return f64::NAN;
            }
            acc = fold(acc, value);
        }
        acc
    }

    fn text<'s>(&'s self, node: &'s Text) -> Option<&'s str> {
        match node {
            Text::Const(text) => Some(text),
            Text::Field(TextField::Sector) => self.fields.sector,
            Text::Field(TextField::Signal) => self.fields.signal,
        }
    }

    fn cond(&self, node: &Cond, offset: usize) -> bool {
        match node {
            Cond::Compare(op, left, right) => {
                compare(*op, self.num(left, offset), self.num(right, offset))
            }
            Cond::Between(value, low, high) => {
                let v = self.num(value, offset);
                self.num(low, offset) <= v && v <= self.num(high, offset)
            }
            Cond::NumIn(value, set, negated) => {
                let v = self.num(value, offset);
                // Missing is in no set and out of none: both forms are false.
                !v.is_nan() && set.contains(&v) != *negated
            }
            Cond::TextEq(left, right, negated) => match (self.text(left), self.text(right)) {
                (Some(l), Some(r)) => (l == r) != *negated,
                _ => false,
            },
            Cond::TextIn(text, set, negated) => match self.text(text) {
                Some(t) => set.iter().any(|s| s == t) != *negated,
                None => false,
            },
            Cond::And(left, right) => self.cond(left, offset) && self.cond(right, offset),
            Cond::Or(left, right) => self.cond(left, offset) || self.cond(right, offset),
            Cond::Not(inner) => {
                let flipped = Row {
                    optimistic: !self.optimistic,
                    ..*self
                };
                !flipped.cond(inner, offset)
            }
            Cond::CrossesAbove(a, b) => {
                self.num(a, offset) > self.num(b, offset)
                    && self.num(a, offset + 1) <= self.num(b, offset + 1)
            }
            Cond::CrossesBelow(a, b) => {
                self.num(a, offset) < self.num(b, offset)
                    && self.num(a, offset + 1) >= self.num(b, offset + 1)
            }
            Cond::Rising(x, bars) => {
                let now = self.num(x, offset);
                let before = self.window(x, offset + 1, *bars, f64::max);
                now > before
            }
            Cond::Falling(x, bars) => {
                let now = self.num(x, offset);
                let before = self.window(x, offset + 1, *bars, f64::min);
                now < before
            }
            Cond::Undecided(inner) => match self.cross {
                Some(_) => self.cond(inner, offset),
                None => self.optimistic,
            },
        }
    }
}

fn compare(op: CmpOp, l: f64, r: f64) -> bool {
    match op {
        CmpOp::Lt => l < r,
        CmpOp::Le => l <= r,
        CmpOp::Gt => l > r,
        CmpOp::Ge => l >= r,
        CmpOp::Eq => l == r,
        // Missing is unequal to nothing: a comparison with a missing value is false.
        CmpOp::Ne => !l.is_nan() && !r.is_nan() && l != r,
    }
}
