//! The built-in demo market: 500 synthetic symbols across the 11 GICS sectors, deterministic, so a
//! scan works with nothing installed and repeats exactly. Every output labels it synthetic.
//!
//! Each day's log return is `beta · market + sector + own drift + own shock`:
//! - the market switches between a calm bull and a volatile bear regime (a two-state Markov chain),
//!   so there are trends and volatility regimes;
//! - each sector has a slowly wandering drift, so sectors lead and lag;
//! - each symbol has GARCH(1,1) volatility (quiet and stormy spells), a wandering drift of its own,
//!   and occasional earnings-sized jumps;
//! - volume has a per-symbol base and rises on days whose move is large for that symbol.
//!
//! Randomness comes from ChaCha streams with fixed seeds (never the OS), so the same version of
//! technic always produces the same market.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use technic_core::{Bar, Bars};

use crate::{BarWindow, DataError, MarketData, SourceInfo, SymbolInfo};

const SEED: u64 = 0x7ec4_41c0_de40_0001;
/// Bars of history per symbol: enough for the longest lookback a scan allows by default.
const HISTORY: usize = 1000;

/// The GICS sectors with roughly the S&P 500's membership counts.
const SECTORS: [(&str, usize, &[&str]); 11] = [
    (
        "Information Technology",
        75,
        &[
            "Systems",
            "Software",
            "Semiconductor",
            "Networks",
            "Digital",
        ],
    ),
    (
        "Industrials",
        73,
        &["Industries", "Aerospace", "Machinery", "Logistics", "Rail"],
    ),
    (
        "Financials",
        65,
        &["Bancorp", "Financial", "Capital", "Insurance", "Trust"],
    ),
    (
        "Health Care",
        62,
        &["Health", "Therapeutics", "Medical", "Biosciences", "Pharma"],
    ),
    (
        "Consumer Discretionary",
        62,
        &["Brands", "Retail", "Motors", "Leisure", "Apparel"],
    ),
    (
        "Consumer Staples",
        32,
        &["Foods", "Beverage", "Household", "Grocers", "Farms"],
    ),
    (
        "Real Estate",
        29,
        &["Realty", "Properties", "REIT", "Land", "Towers"],
    ),
    (
        "Utilities",
        28,
        &["Power", "Energy", "Water", "Electric", "Gas"],
    ),
    (
        "Communication Services",
        26,
        &[
            "Media",
            "Telecom",
            "Interactive",
            "Broadcasting",
            "Wireless",
        ],
    ),
    (
        "Materials",
        25,
        &["Materials", "Chemicals", "Mining", "Steel", "Packaging"],
    ),
    (
        "Energy",
        23,
        &[
            "Petroleum",
            "Oil & Gas",
            "Resources",
            "Drilling",
            "Midstream",
        ],
    ),
];

const NAME_STEMS: [&str; 40] = [
    "Apex",
    "Blue Harbor",
    "Cobalt",
    "Summit",
    "Northwind",
    "Redstone",
    "Silverline",
    "Granite",
    "Meridian",
    "Oakridge",
    "Pinnacle",
    "Quantum",
    "Riverbend",
    "Sterling",
    "Tidewater",
    "Vanguard",
    "Westfield",
    "Horizon",
    "Ironclad",
    "Juniper",
    "Keystone",
    "Lakeshore",
    "Magnolia",
    "Nimbus",
    "Orion",
    "Prairie",
    "Crescent",
    "Evergreen",
    "Falcon",
    "Golden Gate",
    "Highland",
    "Atlas",
    "Beacon",
    "Cedar",
    "Delta",
    "Ember",
    "Frontier",
    "Harbor Point",
    "Liberty",
    "Polaris",
];

#[derive(Debug, Clone)]
struct Member {
    info: SymbolInfo,
    sector: usize,
    seed: u64,
    beta: f64,
    /// Long-run daily volatility of the symbol's own shocks.
    own_volatility: f64,
    start_price: f64,
    base_volume: f64,
}

/// The synthetic market. Market and sector paths are built once; a symbol's bars are generated on
/// request from its own seed, so symbols are independent and can be produced in parallel.
#[derive(Debug, Clone)]
pub struct DemoMarket {
    members: Vec<Member>,
    dates: Vec<NaiveDate>,
    market_returns: Vec<f64>,
    sector_returns: Vec<Vec<f64>>,
}

impl Default for DemoMarket {
    fn default() -> Self {
        Self::new()
    }
}

impl DemoMarket {
    /// The last trading day of the demo market: fixed, so outputs repeat.
    pub fn last_date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default()
    }

    pub fn new() -> Self {
        let dates = business_days_ending(Self::last_date(), HISTORY);
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let market_returns = market_path(&mut rng, HISTORY);
        let sector_returns = (0..SECTORS.len())
            .map(|_| sector_path(&mut rng, HISTORY))
            .collect();
        let members = make_members(&mut rng);
        Self {
            members,
            dates,
            market_returns,
            sector_returns,
        }
    }

    fn generate(&self, member: &Member) -> Bars {
        let mut rng = ChaCha8Rng::seed_from_u64(member.seed);
        let normal = |rng: &mut ChaCha8Rng| -> f64 { StandardNormal.sample(rng) };
        let sigma2 = member.own_volatility.powi(2);
        let (alpha, beta_g) = (0.08, 0.90);
        let omega = sigma2 * (1.0 - alpha - beta_g);
        let mut variance = sigma2;
        let mut drift = 0.0;
        let mut close = member.start_price;
        let mut bars = Bars::with_capacity(HISTORY);
        for (t, &date) in self.dates.iter().enumerate() {
            let sd = variance.sqrt();
            let mut shock = sd * normal(&mut rng);
            if rng.gen_bool(1.0 / 63.0) {
                shock += 3.0 * member.own_volatility * normal(&mut rng);
            }
            drift = 0.99 * drift + 0.0001 * normal(&mut rng);
            let ret = member.beta * self.market_returns[t]
                + self.sector_returns[member.sector][t]
                + drift
                + shock;
            variance = omega + alpha * shock.powi(2) + beta_g * variance;
            let open = close * (0.25 * sd * normal(&mut rng)).exp();
            close *= ret.exp();
            let high = open.max(close) * (0.5 * sd * normal(&mut rng)).abs().exp();
            let low = open.min(close) * (-(0.5 * sd * normal(&mut rng)).abs()).exp();
            let surprise = (shock / sd).abs();
            let volume =
                (member.base_volume * (0.35 * normal(&mut rng)).exp() * (1.0 + 0.6 * surprise))
                    .round();
            let bar = Bar {
                date,
                open,
                high,
                low,
                close,
                volume,
            };
            // Generated bars satisfy the invariants by construction (prices are exponentials of finite numbers).
            if bars.push(bar).is_err() {
                break;
            }
        }
        bars
    }
}

impl MarketData for DemoMarket {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "demo",
            description: format!(
                "demo market: {} synthetic symbols, deterministic, NOT real prices (use --data DIR for real data)",
                self.members.len()
            ),
            synthetic: true,
        }
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        let mut universe: Vec<SymbolInfo> = self.members.iter().map(|m| m.info.clone()).collect();
        universe.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        Ok(universe)
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        let member = self
            .members
            .iter()
            .find(|m| m.info.symbol.eq_ignore_ascii_case(symbol))
            .ok_or_else(|| DataError::UnknownSymbol {
                symbol: symbol.to_owned(),
            })?;
        Ok(window.apply(self.generate(member)))
    }
}

fn business_days_ending(last: NaiveDate, count: usize) -> Vec<NaiveDate> {
    let mut dates = Vec::with_capacity(count);
    let mut day = last;
    while dates.len() < count {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            dates.push(day);
        }
        day = day - Days::new(1);
    }
    dates.reverse();
    dates
}

/// Daily market log returns from a two-regime (bull/bear) Markov chain.
fn market_path(rng: &mut ChaCha8Rng, len: usize) -> Vec<f64> {
    let (bull, bear) = (Normal::new(0.0006, 0.008), Normal::new(-0.0012, 0.018));
    let (Ok(bull), Ok(bear)) = (bull, bear) else {
        return vec![0.0; len];
    };
    let mut in_bear = false;
    (0..len)
        .map(|_| {
            let switch = if in_bear { 0.02 } else { 0.004 };
            if rng.gen_bool(switch) {
                in_bear = !in_bear;
            }
            if in_bear {
                bear.sample(rng)
            } else {
                bull.sample(rng)
            }
        })
        .collect()
}

/// A sector's daily log returns: a slowly wandering drift plus noise.
fn sector_path(rng: &mut ChaCha8Rng, len: usize) -> Vec<f64> {
    let mut drift = 0.0;
    (0..len)
        .map(|_| {
            let (a, b): (f64, f64) = (StandardNormal.sample(rng), StandardNormal.sample(rng));
            drift = 0.98 * drift + 0.0002 * a;
            drift + 0.006 * b
        })
        .collect()
}

fn make_members(rng: &mut ChaCha8Rng) -> Vec<Member> {
    let mut taken = std::collections::HashSet::new();
    let mut members = Vec::new();
    for (sector_index, (sector, count, suffixes)) in SECTORS.iter().enumerate() {
        for i in 0..*count {
            let symbol = loop {
                let len = if rng.gen_bool(0.6) { 3 } else { 4 };
                let candidate: String = (0..len)
                    .map(|_| char::from(b'A' + rng.gen_range(0..26u8)))
                    .collect();
                if taken.insert(candidate.clone()) {
                    break candidate;
                }
            };
            let stem = NAME_STEMS[rng.gen_range(0..NAME_STEMS.len())];
            let suffix = suffixes[i % suffixes.len()];
            let start_price = (rng.gen_range(2.5f64..6.0)).exp();
            let base_volume = (rng.gen_range(12.5f64..16.5)).exp();
            let shares = (rng.gen_range(18.0f64..22.5)).exp();
            members.push(Member {
                info: SymbolInfo {
                    symbol,
                    name: Some(format!("{stem} {suffix} (synthetic)")),
                    sector: Some((*sector).to_owned()),
                    industry: None,
                    market_cap: Some((start_price * shares).round()),
                },
                sector: sector_index,
                seed: rng.r#gen(),
                beta: rng.gen_range(0.6..1.5),
                own_volatility: rng.gen_range(0.008..0.025),
                start_price,
                base_volume,
            });
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_market_is_deterministic_and_labelled() {
        let (a, b) = (DemoMarket::new(), DemoMarket::new());
        let universe = a.universe().expect("universe");
        assert_eq!(universe.len(), 500);
        assert_eq!(universe, b.universe().expect("universe"));
        let sectors: std::collections::BTreeSet<_> =
            universe.iter().filter_map(|s| s.sector.clone()).collect();
        assert_eq!(sectors.len(), 11);
        let symbol = &universe[17].symbol;
        let bars = a.bars(symbol, &BarWindow::last(300)).expect("bars");
        assert_eq!(bars.len(), 300);
        assert_eq!(bars, b.bars(symbol, &BarWindow::last(300)).expect("bars"));
        assert_eq!(bars.last_date(), Some(DemoMarket::last_date()));
        assert!(a.info().synthetic && a.info().description.contains("synthetic"));
        assert!(matches!(
            a.bars("NOPE1", &BarWindow::default()),
            Err(DataError::UnknownSymbol { .. })
        ));
    }

    #[test]
    fn demo_bars_look_like_a_market() {
        let market = DemoMarket::new();
        let universe = market.universe().expect("universe");
        let mut vols = Vec::new();
        for info in universe.iter().take(50) {
            let bars = market
                .bars(&info.symbol, &BarWindow::default())
                .expect("bars");
            assert_eq!(bars.len(), HISTORY);
            let returns: Vec<f64> = bars.close.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
            let sd = (returns.iter().map(|r| r * r).sum::<f64>() / returns.len() as f64).sqrt();
            vols.push(sd);
            assert!(bars.volume.iter().all(|&v| v > 0.0));
        }
        // Daily volatility within what real equities show (roughly 1% to 5%), and not all alike.
        assert!(vols.iter().all(|&v| (0.005..0.06).contains(&v)), "{vols:?}");
        let (min, max) = vols
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(
            max / min > 1.5,
            "volatility varies across symbols: {min}..{max}"
        );
    }
}
