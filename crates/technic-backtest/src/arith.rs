//! The small numerical kernels the statistics are made of: means, Newey–West standard errors,
//! average ranks and pandas' `qcut` edges.
//!
//! Written here rather than taken from a statistics crate because each must reproduce one exact
//! reference definition (scipy's `rankdata`, numpy's linear quantile, pandas' rounding of the
//! quantile grid) and the crates that offer them follow other conventions; each is a few lines.

/// Arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation (divisor n − 1, as pandas' `std`); `None` below two values.
pub fn sample_std(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let sum_sq: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((sum_sq / (values.len() - 1) as f64).sqrt())
}

/// The Newey–West (Bartlett kernel) standard error of the mean of `values`, with `lags`
/// autocovariances, and the small-sample factor n / (n − 1) so that with no lags it equals the
/// classic s / √n (statsmodels' `OLS(y, 1).fit(cov_type="HAC", use_correction=True)`).
///
/// γₗ = (1/n) Σₜ (xₜ − x̄)(xₜ₋ₗ − x̄); variance of the mean = n/(n−1) · (γ₀ + 2 Σₗ (1 − l/(L+1)) γₗ) / n.
/// `None` below two values or when the variance is not positive (a constant series).
pub fn newey_west_std_error(values: &[f64], lags: usize) -> Option<f64> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let m = mean(values)?;
    let centred: Vec<f64> = values.iter().map(|v| v - m).collect();
    let autocovariance = |lag: usize| -> f64 {
        centred[lag..]
            .iter()
            .zip(&centred)
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / n as f64
    };
    let lags = lags.min(n - 1);
    let mut long_run = autocovariance(0);
    for lag in 1..=lags {
        let weight = 1.0 - lag as f64 / (lags + 1) as f64;
        long_run += 2.0 * weight * autocovariance(lag);
    }
    let variance_of_mean = long_run / n as f64 * n as f64 / (n - 1) as f64;
    (variance_of_mean > 0.0 && variance_of_mean.is_finite()).then(|| variance_of_mean.sqrt())
}

/// Mean over standard error, with Newey–West errors over `lags`.
pub fn newey_west_t(values: &[f64], lags: usize) -> Option<f64> {
    Some(mean(values)? / newey_west_std_error(values, lags)?)
}

/// Writes the average rank (1-based; tied values share the mean of their ranks, as scipy's
/// `rankdata(method="average")`) of each item of `sorted` into `ranks[item]`. `sorted` lists the
/// items in ascending order of `value(item)`.
pub fn average_ranks(sorted: &[usize], value: impl Fn(usize) -> f64, ranks: &mut [f64]) {
    let mut start = 0;
    while start < sorted.len() {
        let v = value(sorted[start]);
        let mut end = start + 1;
        while end < sorted.len() && value(sorted[end]) == v {
            end += 1;
        }
        // Ranks start..end (0-based) share the mean of start+1 ..= end.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &item in &sorted[start..end] {
            ranks[item] = rank;
        }
        start = end;
    }
}

/// Pearson correlation of paired values; `None` when either side is constant or fewer than two
/// pairs (scipy's `spearmanr` gives NaN there).
pub fn pearson(pairs: impl Iterator<Item = (f64, f64)> + Clone) -> Option<f64> {
    let (mut n, mut sx, mut sy) = (0usize, 0.0, 0.0);
    for (x, y) in pairs.clone() {
        n += 1;
        sx += x;
        sy += y;
    }
    if n < 2 {
        return None;
    }
    let (mx, my) = (sx / n as f64, sy / n as f64);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        let (dx, dy) = (x - mx, y - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// The probabilities pandas' `qcut(x, q)` asks `Series.quantile` for: numpy's `linspace(0, 1, q+1)`,
/// each rounded up to the next float where `q · p` is not exactly the integer it should be
/// (pandas ≥ 3 does this so that a value on an edge is binned the same on every platform).
pub fn qcut_probabilities(q: usize) -> Vec<f64> {
    let step = 1.0 / q as f64;
    (0..=q)
        .map(|k| {
            let p = if k == q { 1.0 } else { k as f64 * step };
            if q as f64 * p != k as f64 {
                next_up(p)
            } else {
                p
            }
        })
        .collect()
}

fn next_up(x: f64) -> f64 {
    // Positive finite x only (probabilities in (0, 1)).
    f64::from_bits(x.to_bits() + 1)
}

/// numpy's default (`linear`) quantile of ascending `sorted` at probability `p`, bit for bit:
/// virtual index (n − 1)·p, and the two-sided interpolation numpy uses for accuracy near 1.
pub fn linear_quantile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = (n - 1) as f64 * p;
    if virtual_index >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    let below = virtual_index.floor();
    let gamma = virtual_index - below;
    let (a, b) = (sorted[below as usize], sorted[below as usize + 1]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// pandas' `qcut(x, q)` edges over ascending `sorted`, or `None` when two edges coincide (pandas
/// raises "Bin edges must be unique" and alphalens then leaves the date out).
pub fn qcut_edges(sorted: &[f64], probabilities: &[f64]) -> Option<Vec<f64>> {
    let edges: Vec<f64> = probabilities
        .iter()
        .map(|&p| linear_quantile(sorted, p))
        .collect();
    edges.windows(2).all(|w| w[0] < w[1]).then_some(edges)
}

/// The 1-based bucket of each value of ascending `sorted` under `edges` (right-closed bins, the
/// lowest edge included, as `qcut`), written through `assign(position, bucket)`.
pub fn assign_buckets(sorted: &[f64], edges: &[f64], mut assign: impl FnMut(usize, usize)) {
    let mut bucket = 1;
    for (position, &v) in sorted.iter().enumerate() {
        while bucket < edges.len() - 1 && v > edges[bucket] {
            bucket += 1;
        }
        assign(position, bucket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newey_west_matches_a_hand_computed_case() {
        // x = 1, 2, 3, 5: mean 2.75, deviations −1.75, −0.75, 0.25, 2.25.
        // γ0 = (3.0625 + 0.5625 + 0.0625 + 5.0625) / 4 = 2.1875
        // γ1 = (−0.75·−1.75 + 0.25·−0.75 + 2.25·0.25) / 4 = (1.3125 − 0.1875 + 0.5625) / 4 = 0.421875
        // lags 1: weight 1/2, long run = 2.1875 + 2·0.5·0.421875 = 2.609375
        // variance of the mean = 2.609375 / 4 · 4/3 = 0.8697916…
        let x = [1.0, 2.0, 3.0, 5.0];
        let se = newey_west_std_error(&x, 1).unwrap();
        assert!((se - (2.609375f64 / 3.0).sqrt()).abs() < 1e-15, "{se}");
        let t = newey_west_t(&x, 1).unwrap();
        assert!((t - 2.75 / (2.609375f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn newey_west_without_lags_is_the_classic_standard_error() {
        let x = [0.3, -0.1, 0.25, 0.05, 0.12, -0.02];
        let classic = sample_std(&x).unwrap() / (x.len() as f64).sqrt();
        assert!((newey_west_std_error(&x, 0).unwrap() - classic).abs() < 1e-15);
    }

    #[test]
    fn newey_west_with_two_lags_by_hand() {
        // x = 4, 0, 2, 2, 7: mean 3, deviations 1, −3, −1, −1, 4.
        // γ0 = (1 + 9 + 1 + 1 + 16) / 5 = 5.6
        // γ1 = (−3·1 + −1·−3 + −1·−1 + 4·−1) / 5 = (−3 + 3 + 1 − 4) / 5 = −0.6
        // γ2 = (−1·1 + −1·−3 + 4·−1) / 5 = (−1 + 3 − 4) / 5 = −0.4
        // weights 2/3, 1/3: long run = 5.6 + 2(2/3)(−0.6) + 2(1/3)(−0.4) = 5.6 − 0.8 − 0.2667 = 4.5333…
        let x = [4.0, 0.0, 2.0, 2.0, 7.0];
        let long_run = 5.6 - 0.8 - 0.8 / 3.0;
        let expected = (long_run / 5.0 * 5.0 / 4.0f64).sqrt();
        assert!((newey_west_std_error(&x, 2).unwrap() - expected).abs() < 1e-14);
        // A lag longer than the series is cut to n − 1.
        assert_eq!(newey_west_std_error(&x, 99), newey_west_std_error(&x, 4));
    }

    #[test]
    fn newey_west_of_a_constant_is_undefined() {
        assert_eq!(newey_west_std_error(&[0.5, 0.5, 0.5], 1), None);
        assert_eq!(newey_west_std_error(&[0.5], 0), None);
    }

    #[test]
    fn ties_share_their_average_rank() {
        let values: [f64; 5] = [3.0, 1.0, 3.0, 2.0, 3.0];
        let mut order: Vec<usize> = (0..5).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut ranks = [0.0; 5];
        average_ranks(&order, |i| values[i], &mut ranks);
        assert_eq!(ranks, [4.0, 1.0, 4.0, 2.0, 4.0]);
    }

    #[test]
    fn qcut_edges_and_buckets_follow_pandas() {
        // pd.qcut(range(5), 4, labels=False) == [0, 0, 1, 2, 3] (pandas' own docstring).
        let sorted = [0.0, 1.0, 2.0, 3.0, 4.0];
        let edges = qcut_edges(&sorted, &qcut_probabilities(4)).unwrap();
        let mut buckets = vec![0; 5];
        assign_buckets(&sorted, &edges, |i, b| buckets[i] = b);
        assert_eq!(buckets, [1, 1, 2, 3, 4]);
        // Tied values that fill a whole bucket make two edges equal: pandas refuses.
        assert_eq!(
            qcut_edges(&[1.0, 1.0, 1.0, 1.0, 2.0], &qcut_probabilities(4)),
            None
        );
    }

    #[test]
    fn the_quantile_grid_is_rounded_up_where_pandas_rounds_it() {
        let p = qcut_probabilities(10);
        assert_eq!(p[0], 0.0);
        assert_eq!(p[10], 1.0);
        // 3 · 0.1 is not 0.3 in binary: 10 · p must not fall below 3.
        assert!(10.0 * p[3] >= 3.0);
    }
}
