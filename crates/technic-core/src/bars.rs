//! Daily bars as a struct of arrays, the layout TA-Lib's kernels read without copying.

use chrono::NaiveDate;

/// Why a bar was refused. The data layer adds the file and line; the rule itself lives here so every
/// source (files, demo, remote) enforces the same one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BarError {
    #[error(
        "date {date} is not after the previous bar's date {previous} (dates must be strictly ascending)"
    )]
    DateNotAscending {
        date: NaiveDate,
        previous: NaiveDate,
    },
    #[error("high {high} is below low {low}")]
    HighBelowLow { high: f64, low: f64 },
    #[error("{field} is {value}, expected a finite positive price")]
    BadPrice { field: &'static str, value: f64 },
    #[error("volume is {0}, expected a finite number >= 0")]
    BadVolume(f64),
}

/// One bar, used only to hand a row to [`Bars::push`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub date: NaiveDate,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// A symbol's daily bars, oldest first, already split- and dividend-adjusted.
///
/// Invariants, enforced by [`Bars::push`]: dates strictly ascending, prices finite and positive,
/// `high >= low`, volume finite and non-negative. Indicators may rely on them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bars {
    pub dates: Vec<NaiveDate>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    /// f64 rather than an integer because TA-Lib's volume inputs are f64 and adjusted feeds can be fractional.
    pub volume: Vec<f64>,
}

impl Bars {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            dates: Vec::with_capacity(capacity),
            open: Vec::with_capacity(capacity),
            high: Vec::with_capacity(capacity),
            low: Vec::with_capacity(capacity),
            close: Vec::with_capacity(capacity),
            volume: Vec::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.dates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dates.is_empty()
    }

    pub fn last_date(&self) -> Option<NaiveDate> {
        self.dates.last().copied()
    }

    /// The `i`-th bar as a row, if there is one.
    pub fn get(&self, i: usize) -> Option<Bar> {
        Some(Bar {
            date: *self.dates.get(i)?,
            open: *self.open.get(i)?,
            high: *self.high.get(i)?,
            low: *self.low.get(i)?,
            close: *self.close.get(i)?,
            volume: *self.volume.get(i)?,
        })
    }

    /// Appends a bar after checking it against the invariants; a refused bar leaves `self` unchanged.
    pub fn push(&mut self, bar: Bar) -> Result<(), BarError> {
        bar.validate()?;
        if let Some(previous) = self.last_date()
            && bar.date <= previous
        {
            return Err(BarError::DateNotAscending {
                date: bar.date,
                previous,
            });
        }
        self.dates.push(bar.date);
        self.open.push(bar.open);
        self.high.push(bar.high);
        self.low.push(bar.low);
        self.close.push(bar.close);
        self.volume.push(bar.volume);
        Ok(())
    }

    /// Keeps only the newest `n` bars, so a scan holds no more history than its lookback needs.
    pub fn keep_last(&mut self, n: usize) {
        let excess = self.len().saturating_sub(n);
        if excess == 0 {
            return;
        }
        self.dates.drain(..excess);
        for series in [
            &mut self.open,
            &mut self.high,
            &mut self.low,
            &mut self.close,
            &mut self.volume,
        ] {
            series.drain(..excess);
        }
    }

    /// Bars on or between the given dates (either bound optional).
    pub fn between(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Bars {
        let start = from.map_or(0, |d| self.dates.partition_point(|x| *x < d));
        let end = to.map_or(self.len(), |d| self.dates.partition_point(|x| *x <= d));
        let end = end.max(start);
        Bars {
            dates: self.dates[start..end].to_vec(),
            open: self.open[start..end].to_vec(),
            high: self.high[start..end].to_vec(),
            low: self.low[start..end].to_vec(),
            close: self.close[start..end].to_vec(),
            volume: self.volume[start..end].to_vec(),
        }
    }
}

impl Bar {
    /// Checks the bar's own values (not its date order, which needs the previous bar).
    pub fn validate(&self) -> Result<(), BarError> {
        check_bar(self)
    }
}

fn check_bar(bar: &Bar) -> Result<(), BarError> {
    for (field, value) in [
        ("open", bar.open),
        ("high", bar.high),
        ("low", bar.low),
        ("close", bar.close),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(BarError::BadPrice { field, value });
        }
    }
    if bar.high < bar.low {
        return Err(BarError::HighBelowLow {
            high: bar.high,
            low: bar.low,
        });
    }
    if !(bar.volume.is_finite() && bar.volume >= 0.0) {
        return Err(BarError::BadVolume(bar.volume));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(day: u32, low: f64, high: f64) -> Bar {
        Bar {
            date: NaiveDate::from_ymd_opt(2024, 1, day).expect("valid date"),
            open: low,
            high,
            low,
            close: high,
            volume: 100.0,
        }
    }

    #[test]
    fn push_rejects_each_broken_rule_and_keeps_state() {
        let mut bars = Bars::default();
        bars.push(bar(2, 1.0, 2.0)).expect("first bar is valid");
        assert!(matches!(
            bars.push(bar(2, 1.0, 2.0)),
            Err(BarError::DateNotAscending { .. })
        ));
        assert!(matches!(
            bars.push(bar(1, 1.0, 2.0)),
            Err(BarError::DateNotAscending { .. })
        ));
        assert!(matches!(
            bars.push(bar(3, 2.0, 1.0)),
            Err(BarError::HighBelowLow { .. })
        ));
        assert!(matches!(
            bars.push(bar(3, -1.0, 1.0)),
            Err(BarError::BadPrice { field: "open", .. })
        ));
        let mut nan_volume = bar(3, 1.0, 2.0);
        nan_volume.volume = f64::NAN;
        assert!(matches!(bars.push(nan_volume), Err(BarError::BadVolume(_))));
        assert_eq!(bars.len(), 1);
    }

    #[test]
    fn keep_last_and_between_slice_by_position_and_date() {
        let mut bars = Bars::default();
        for day in 1..=10 {
            bars.push(bar(day, 1.0, 2.0)).expect("valid");
        }
        let window = bars.between(
            NaiveDate::from_ymd_opt(2024, 1, 3),
            NaiveDate::from_ymd_opt(2024, 1, 5),
        );
        assert_eq!(window.len(), 3);
        bars.keep_last(4);
        assert_eq!(bars.len(), 4);
        assert_eq!(
            bars.dates[0],
            NaiveDate::from_ymd_opt(2024, 1, 7).expect("valid")
        );
        assert_eq!(bars.volume.len(), 4);
    }
}
