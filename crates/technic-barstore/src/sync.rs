//! Bringing the store up to date: only bars newer than what is stored are asked for, by
//! whichever of the two ways costs fewer requests.
//!
//! - Grouped daily: one request per missing session, however many symbols it updates. A daily
//!   update is one request.
//! - Ticker aggregates: one request per lagging symbol, however many sessions it covers; fewer
//!   when the store has a few symbols and a long gap.
//!
//! Adjusted history changes when a split or dividend happens: bars stored before it no longer
//! match the source's. Ticker aggregates are asked from the last stored date, so the overlapping
//! bar shows a re-adjustment exactly. A grouped day has no overlap; there a first new bar that
//! opens more than 45 % away from the last stored close (a split's signature: 2:1, 3:2, 1:10…)
//! makes the symbol's whole history be fetched again. A dividend's small re-adjustment is not
//! seen on that path; `technic data sync --full` refetches every history.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Serialize;
use technic_core::{Bar, Bars};
use technic_data::{BarWindow, DailyFeed, DataError};

use crate::{BarStore, StoreError};

/// Requests in flight at once from a sync; the feed applies its own (tighter) limits.
const SYNC_THREADS: usize = 8;

/// A first new bar opening beyond this ratio of the last stored close (either way) is taken for
/// a split, and the history is fetched again.
const SPLIT_RATIO: f64 = 1.45;

/// What a sync will ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncPlan {
    pub today: NaiveDate,
    /// Sessions to fetch as grouped daily aggregates (empty when ticker aggregates are cheaper).
    pub days: Vec<NaiveDate>,
    /// Stored symbols whose last bar is older than `today`, with that bar's date.
    pub lagging: Vec<(String, NaiveDate)>,
    /// Symbols not stored at all: their whole history is fetched.
    pub missing: Vec<String>,
    /// `grouped daily`, `ticker aggregates` or `up to date`.
    pub strategy: &'static str,
    /// Requests the plan needs, pagination and retries aside.
    pub requests: usize,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    pub strategy: &'static str,
    pub days_fetched: Vec<NaiveDate>,
    /// Fetched days on which the market did not trade.
    pub closed_days: Vec<NaiveDate>,
    pub symbols_updated: usize,
    pub bars_added: usize,
    /// Symbols stored for the first time.
    pub fetched_whole: Vec<String>,
    /// Symbols whose history was fetched again because the source re-adjusted it.
    pub refetched: Vec<String>,
    /// Symbols (or `day YYYY-MM-DD`) that could not be brought up to date, and why. What was
    /// stored before stays.
    pub failed: Vec<(String, String)>,
    pub synced_through: Option<NaiveDate>,
}

impl BarStore {
    /// What bringing `members` up to `feed.today()` takes. With `fetch_missing`, symbols not
    /// stored yet are fetched whole; a scan leaves them to be fetched as it reaches them.
    pub fn plan(&self, feed: &dyn DailyFeed, members: &[String], fetch_missing: bool) -> SyncPlan {
        let today = feed.today();
        let stored = self.symbols();
        let manifest = self.manifest();
        let mut lagging = Vec::new();
        let mut missing = Vec::new();
        for symbol in members {
            match stored.get(symbol) {
                Some(s) if s.last < today => lagging.push((symbol.clone(), s.last)),
                Some(_) => {}
                None if fetch_missing => missing.push(symbol.clone()),
                None => {}
            }
        }
        // Sessions after the store's sync point (or, without one, after the oldest lagging bar),
        // skipping weekends and days known to be holidays.
        let floor = manifest
            .synced_through
            .or_else(|| lagging.iter().map(|(_, last)| *last).min());
        let mut days = Vec::new();
        if let (Some(floor), false) = (floor, lagging.is_empty()) {
            let mut date = floor.succ_opt();
            while let Some(d) = date.filter(|d| *d <= today) {
                if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
                    && !manifest.closed_days.contains(&d)
                {
                    days.push(d);
                }
                date = d.succ_opt();
            }
        }
        let (strategy, requests) = if lagging.is_empty() || days.is_empty() {
            days.clear();
            ("up to date", 0)
        } else if days.len() <= lagging.len() {
            ("grouped daily", days.len())
        } else {
            days.clear();
            ("ticker aggregates", lagging.len())
        };
        let strategy = if strategy == "up to date" && !missing.is_empty() {
            "whole histories"
        } else {
            strategy
        };
        SyncPlan {
            today,
            days,
            requests: requests + missing.len(),
            lagging: if strategy == "up to date" || strategy == "whole histories" {
                Vec::new()
            } else {
                lagging
            },
            missing,
            strategy,
        }
    }

    /// Carries out [`BarStore::plan`]. Failures of single symbols or days are reported, not
    /// returned: everything that could be stored is, and the next sync picks up the rest.
    pub fn sync(
        &self,
        feed: &dyn DailyFeed,
        members: &[String],
        fetch_missing: bool,
    ) -> Result<SyncReport, StoreError> {
        let _lock = self.lock()?;
        let plan = self.plan(feed, members, fetch_missing);
        let record = Mutex::new(SyncReport {
            strategy: plan.strategy,
            ..SyncReport::default()
        });
        let record = &record;
        if !plan.days.is_empty() {
            self.sync_days(feed, &plan, record)?;
        } else if !plan.lagging.is_empty() {
            parallel(&plan.lagging, |(symbol, last)| {
                self.sync_ticker(feed, symbol, *last, plan.today, record)
            })?;
        }
        parallel(&plan.missing, |symbol| {
            match self.fetch_whole(feed, symbol) {
                Ok(_) => {
                    note(record, |r| r.fetched_whole.push(symbol.clone()));
                    Ok(())
                }
                Err(StoreError::Data(e)) => {
                    note(record, |r| r.failed.push((symbol.clone(), e.to_string())));
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })?;
        let mut report =
            std::mem::take(&mut *record.lock().unwrap_or_else(PoisonError::into_inner));
        report.fetched_whole.sort();
        report.refetched.sort();
        report.failed.sort();
        if report.failed.is_empty() {
            let newest = members
                .iter()
                .filter_map(|s| self.get(s))
                .map(|s| s.last)
                .max();
            let through = report.days_fetched.last().copied().max(newest);
            self.update_manifest(|m| {
                m.synced_through = m.synced_through.max(through);
                m.origins.insert(feed.info().kind.to_owned());
            })?;
        } else {
            self.update_manifest(|m| {
                m.origins.insert(feed.info().kind.to_owned());
            })?;
        }
        report.synced_through = self.manifest().synced_through;
        Ok(report)
    }

    /// Fetches the symbol's whole history and stores it. A source that has no bars for it is
    /// remembered (see [`crate::Manifest::no_data`]) and not asked again for a while.
    pub fn fetch_whole(&self, feed: &dyn DailyFeed, symbol: &str) -> Result<Bars, StoreError> {
        let today = feed.today();
        if let Some(reason) = self.known_no_data(symbol, today) {
            return Err(DataError::NoData {
                symbol: symbol.to_owned(),
                reason,
            }
            .into());
        }
        // Up to the feed's last finished session: never a bar that may still change.
        let window = BarWindow {
            to: Some(today),
            ..BarWindow::default()
        };
        match feed.bars(symbol, &window) {
            Ok(bars) => {
                self.write(symbol, &bars)?;
                if self.manifest().no_data.contains_key(symbol) {
                    self.update_manifest(|m| {
                        m.no_data.remove(symbol);
                    })?;
                }
                Ok(bars)
            }
            Err(DataError::NoData { symbol, reason }) => {
                self.note_no_data(&symbol, today, &reason)?;
                Err(DataError::NoData { symbol, reason }.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The grouped path: every missing day, then each lagging symbol's new bars appended.
    fn sync_days(
        &self,
        feed: &dyn DailyFeed,
        plan: &SyncPlan,
        record: &Mutex<SyncReport>,
    ) -> Result<(), StoreError> {
        let answers: Mutex<BTreeMap<NaiveDate, DayAnswer>> = Mutex::default();
        parallel(&plan.days, |date| {
            let answer = feed.day(*date);
            answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(*date, answer);
            Ok(())
        })?;
        // Days are applied in order up to the first that failed: a later day's bars after a
        // missing one would leave a hole no delta would ever fill.
        let mut usable = Vec::new();
        let mut closed = Vec::new();
        for (date, answer) in answers.into_inner().unwrap_or_else(PoisonError::into_inner) {
            match answer {
                Ok(day) if day.is_empty() && date >= plan.today => {
                    // Today's session is not published yet: ask again next time.
                    break;
                }
                Ok(day) => {
                    if day.is_empty() {
                        closed.push(date);
                    }
                    note(record, |r| r.days_fetched.push(date));
                    usable.push(day);
                }
                Err(e) => {
                    note(record, |r| {
                        r.failed.push((format!("day {date}"), e.to_string()))
                    });
                    break;
                }
            }
        }
        if !closed.is_empty() {
            note(record, |r| r.closed_days.extend(closed.iter().copied()));
            self.update_manifest(|m| m.closed_days.extend(closed.iter().copied()))?;
        }
        if usable.is_empty() {
            return Ok(());
        }
        parallel(&plan.lagging, |(symbol, last)| {
            let new: Vec<Bar> = usable
                .iter()
                .filter_map(|day| day.get(symbol))
                .filter(|bar| bar.date > *last)
                .copied()
                .collect();
            if new.is_empty() {
                return Ok(());
            }
            match self.append(symbol, &new) {
                Ok(Appended::Added(n)) => {
                    note(record, |r| {
                        r.symbols_updated += 1;
                        r.bars_added += n;
                    });
                    Ok(())
                }
                Ok(Appended::Readjusted) => self.refetch(feed, symbol, record),
                Err(StoreError::Data(e)) => {
                    note(record, |r| r.failed.push((symbol.clone(), e.to_string())));
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })
    }

    /// The per-ticker path: bars from the last stored date on; the overlapping bar must match.
    fn sync_ticker(
        &self,
        feed: &dyn DailyFeed,
        symbol: &str,
        last: NaiveDate,
        today: NaiveDate,
        record: &Mutex<SyncReport>,
    ) -> Result<(), StoreError> {
        let window = BarWindow {
            last: None,
            from: Some(last),
            to: Some(today),
        };
        let fetched = match feed.bars(symbol, &window) {
            Ok(bars) => bars,
            Err(e) => {
                note(record, |r| {
                    r.failed.push((symbol.to_owned(), e.to_string()))
                });
                return Ok(());
            }
        };
        let stored = self.read(symbol)?;
        let overlap_matches = fetched.dates.first() == Some(&last)
            && stored
                .close
                .last()
                .zip(fetched.close.first())
                .is_some_and(|(a, b)| same_price(*a, *b));
        if !overlap_matches {
            return self.refetch(feed, symbol, record);
        }
        let new: Vec<Bar> = (1..fetched.len()).map(|i| bar_at(&fetched, i)).collect();
        if new.is_empty() {
            return Ok(());
        }
        match self.append(symbol, &new)? {
            Appended::Added(n) => {
                note(record, |r| {
                    r.symbols_updated += 1;
                    r.bars_added += n;
                });
                Ok(())
            }
            Appended::Readjusted => self.refetch(feed, symbol, record),
        }
    }

    fn refetch(
        &self,
        feed: &dyn DailyFeed,
        symbol: &str,
        record: &Mutex<SyncReport>,
    ) -> Result<(), StoreError> {
        match self.fetch_whole(feed, symbol) {
            Ok(_) => {
                note(record, |r| {
                    r.refetched.push(symbol.to_owned());
                    r.symbols_updated += 1;
                });
                Ok(())
            }
            Err(StoreError::Data(e)) => {
                note(record, |r| {
                    r.failed.push((symbol.to_owned(), e.to_string()))
                });
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Appends `new` (dated after the last stored bar) to the symbol's file, unless the first
    /// new bar looks like the source re-adjusted the history.
    fn append(&self, symbol: &str, new: &[Bar]) -> Result<Appended, StoreError> {
        let mut bars = self.read(symbol)?;
        if let (Some(previous), Some(first)) = (bars.close.last(), new.first()) {
            let ratio = first.open / previous;
            if !(1.0 / SPLIT_RATIO..=SPLIT_RATIO).contains(&ratio) {
                return Ok(Appended::Readjusted);
            }
        }
        for bar in new {
            bars.push(*bar).map_err(|problem| DataError::Unavailable {
                symbol: symbol.to_owned(),
                reason: format!("new bar of {}: {problem}", bar.date),
            })?;
        }
        self.write(symbol, &bars)?;
        Ok(Appended::Added(new.len()))
    }
}

/// A grouped day's bars by symbol, or why it could not be had.
type DayAnswer = Result<Arc<HashMap<String, Bar>>, DataError>;

fn note(record: &Mutex<SyncReport>, change: impl FnOnce(&mut SyncReport)) {
    change(&mut record.lock().unwrap_or_else(PoisonError::into_inner));
}

enum Appended {
    Added(usize),
    Readjusted,
}

fn same_price(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

fn bar_at(bars: &Bars, i: usize) -> Bar {
    Bar {
        date: bars.dates[i],
        open: bars.open[i],
        high: bars.high[i],
        low: bars.low[i],
        close: bars.close[i],
        volume: bars.volume[i],
    }
}

/// Runs `work` over `items` on a few threads; the first error stops the rest.
fn parallel<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> Result<(), StoreError> + Sync,
) -> Result<(), StoreError> {
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<StoreError>> = Mutex::new(None);
    let threads = SYNC_THREADS.min(items.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_none()
                {
                    let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    if let Err(e) = work(item) {
                        failed
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get_or_insert(e);
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
