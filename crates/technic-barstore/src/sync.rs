//! Bringing the store up to date: only bars newer than what is stored are asked for, by
//! whichever of the two ways costs fewer requests.
//!
//! - Grouped daily: one request per missing session, however many symbols it updates. A daily
//!   update is one request.
//! - Ticker aggregates: one request per lagging symbol, however many sessions it covers; fewer
//!   when the store has a few symbols and a long gap.
//!
//! Each symbol carries the date up to which it has been asked for ([`crate::Manifest`]). Most
//! symbols share one (they were synced together): the sessions after it are fetched grouped, and
//! a symbol behind that pack (it failed once, or was imported with an older end) is fetched per
//! ticker, so one straggler never makes the whole store re-ask old days, and a sync of a few
//! symbols never makes the others skip a session.
//!
//! Adjusted history changes when a split happens: bars stored before it no longer match the
//! source's. Ticker aggregates are asked from the last stored date, so the overlapping bar shows
//! a re-adjustment exactly. A grouped day has no overlap; there a first new bar that opens more
//! than 20 % away from the last stored close (a split's signature: 5:4, 4:3, 2:1, 1:10…) makes
//! the symbol's whole history be fetched again (a real 20 % gap costs one needless request). A
//! dividend's small re-adjustment is not seen on that path; `technic data sync --full`
//! ([`BarStore::sync_full`]) fetches every history again.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Serialize;
use technic_core::{Bar, Bars};
use technic_data::{BarWindow, DailyFeed, DataError};

use crate::{BarStore, StoreError, WriteLock};

/// What an unfinished sync is recorded as in the manifest.
const SYNC: &str = "sync";

/// Requests in flight at once from a sync; the feed applies its own (tighter) limits.
const SYNC_THREADS: usize = 8;

/// A first new bar opening beyond this ratio of the last stored close (either way) is taken for
/// a split, and the history is fetched again.
const SPLIT_RATIO: f64 = 1.2;

/// What a sync will ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncPlan {
    pub today: NaiveDate,
    /// Sessions to fetch as grouped daily aggregates.
    pub days: Vec<NaiveDate>,
    /// Stored symbols brought up to date from those days, with their last stored bar's date.
    pub grouped: Vec<(String, NaiveDate)>,
    /// Stored symbols fetched per ticker from their last stored bar.
    pub per_ticker: Vec<(String, NaiveDate)>,
    /// Stored symbols with no session to ask for (a weekend, a holiday): only noted as asked.
    pub current: Vec<String>,
    /// Symbols not stored at all: their whole history is fetched.
    pub missing: Vec<String>,
    /// `grouped daily`, `ticker aggregates`, `whole histories` or `up to date`.
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
    /// Every member has been asked for every session up to this date.
    pub synced_through: Option<NaiveDate>,
    /// Per member, the date it has now been asked through (kept in the manifest).
    #[serde(skip)]
    asked: Vec<(String, NaiveDate)>,
}

/// Weekdays after `after` up to `today` that are not known holidays.
fn sessions(
    after: NaiveDate,
    today: NaiveDate,
    closed: &std::collections::BTreeSet<NaiveDate>,
) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let mut date = after.succ_opt();
    while let Some(d) = date.filter(|d| *d <= today) {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !closed.contains(&d) {
            days.push(d);
        }
        date = d.succ_opt();
    }
    days
}

impl BarStore {
    /// What bringing `members` up to `feed.today()` takes. With `fetch_missing`, symbols not
    /// stored yet are fetched whole; a scan leaves them to be fetched as it reaches them.
    pub fn plan(&self, feed: &dyn DailyFeed, members: &[String], fetch_missing: bool) -> SyncPlan {
        let today = feed.today();
        let manifest = self.manifest();
        // (symbol, last stored bar, asked through)
        let mut lagging: Vec<(String, NaiveDate, NaiveDate)> = Vec::new();
        let mut current = Vec::new();
        let mut missing = Vec::new();
        for symbol in members {
            match (self.get(symbol), self.asked_through(symbol)) {
                (Some(stored), Some(asked)) => {
                    if sessions(asked, today, &manifest.closed_days).is_empty() {
                        if asked < today {
                            current.push(symbol.clone());
                        }
                    } else {
                        lagging.push((symbol.clone(), stored.last, asked));
                    }
                }
                _ if fetch_missing => missing.push(symbol.clone()),
                _ => {}
            }
        }
        // The pack: the most common asked-through date (on a tie the later one).
        let mut counts: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (_, _, asked) in &lagging {
            *counts.entry(*asked).or_default() += 1;
        }
        let pack_date = counts
            .iter()
            .max_by_key(|(date, count)| (**count, **date))
            .map(|(date, _)| *date);
        let days = pack_date.map_or_else(Vec::new, |d| sessions(d, today, &manifest.closed_days));
        let (pack, behind): (Vec<_>, Vec<_>) = lagging
            .iter()
            .partition(|(_, _, asked)| pack_date.is_some_and(|d| *asked >= d));
        let strip = |list: &[&(String, NaiveDate, NaiveDate)]| -> Vec<(String, NaiveDate)> {
            list.iter().map(|(s, last, _)| (s.clone(), *last)).collect()
        };
        // Grouped only when strictly cheaper: on a tie, ticker requests are smaller and their
        // overlapping bar checks the stored history.
        let grouped_cost = days.len() + behind.len();
        let (strategy, days, grouped, per_ticker) = if lagging.is_empty() {
            let strategy = if missing.is_empty() {
                "up to date"
            } else {
                "whole histories"
            };
            (strategy, Vec::new(), Vec::new(), Vec::new())
        } else if grouped_cost < lagging.len() {
            ("grouped daily", days, strip(&pack), strip(&behind))
        } else {
            let all: Vec<&(String, NaiveDate, NaiveDate)> = lagging.iter().collect();
            ("ticker aggregates", Vec::new(), Vec::new(), strip(&all))
        };
        SyncPlan {
            today,
            requests: days.len() + per_ticker.len() + missing.len(),
            days,
            grouped,
            per_ticker,
            current,
            missing,
            strategy,
        }
    }

    /// Carries out [`BarStore::plan`], waiting for another process's sync first. Failures of
    /// single symbols or days are reported, not returned: everything that could be stored is,
    /// and the next sync picks up the rest.
    pub fn sync(
        &self,
        feed: &dyn DailyFeed,
        members: &[String],
        fetch_missing: bool,
    ) -> Result<SyncReport, StoreError> {
        let lock = self.lock(members)?;
        self.sync_locked(&lock, feed, members, fetch_missing)
    }

    /// [`BarStore::sync`] under a lock already taken (see [`BarStore::try_lock`]).
    pub fn sync_locked(
        &self,
        _lock: &WriteLock,
        feed: &dyn DailyFeed,
        members: &[String],
        fetch_missing: bool,
    ) -> Result<SyncReport, StoreError> {
        let plan = self.plan(feed, members, fetch_missing);
        if plan.requests > 0 {
            self.begin(SYNC)?;
        }
        let record = Mutex::new(SyncReport {
            strategy: plan.strategy,
            ..SyncReport::default()
        });
        let record = &record;
        for symbol in &plan.current {
            note(record, |r| r.asked.push((symbol.clone(), plan.today)));
        }
        if !plan.days.is_empty() {
            self.sync_days(feed, &plan, record)?;
        }
        parallel(&plan.per_ticker, |(symbol, last)| {
            self.sync_ticker(feed, symbol, *last, plan.today, record)
        })?;
        parallel(&plan.missing, |symbol| {
            match self.fetch_whole(feed, symbol) {
                Ok(_) => {
                    note(record, |r| {
                        r.fetched_whole.push(symbol.clone());
                        r.asked.push((symbol.clone(), plan.today));
                    });
                    Ok(())
                }
                Err(StoreError::Data(e)) => {
                    note(record, |r| r.failed.push((symbol.clone(), e.to_string())));
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })?;
        let report = std::mem::take(&mut *record.lock().unwrap_or_else(PoisonError::into_inner));
        self.finish(feed, members, report)
    }

    /// Fetches every member's whole history again, replacing what is stored: what picks up the
    /// dividend re-adjustments the grouped path cannot see. One request per symbol.
    pub fn sync_full(
        &self,
        feed: &dyn DailyFeed,
        members: &[String],
    ) -> Result<SyncReport, StoreError> {
        let _lock = self.lock(members)?;
        self.begin(SYNC)?;
        let today = feed.today();
        let record = Mutex::new(SyncReport {
            strategy: "whole histories",
            ..SyncReport::default()
        });
        parallel(members, |symbol| self.refetch(feed, symbol, today, &record))?;
        let report = record.into_inner().unwrap_or_else(PoisonError::into_inner);
        self.finish(feed, members, report)
    }

    /// Records in the manifest how far each member has now been asked, and sums up.
    fn finish(
        &self,
        feed: &dyn DailyFeed,
        members: &[String],
        mut report: SyncReport,
    ) -> Result<SyncReport, StoreError> {
        report.fetched_whole.sort();
        report.refetched.sort();
        report.failed.sort();
        let asked = std::mem::take(&mut report.asked);
        let closed = report.closed_days.clone();
        self.update_manifest(|m| {
            for (symbol, date) in asked {
                let entry = m.asked_through.entry(symbol).or_insert(date);
                *entry = (*entry).max(date);
            }
            m.closed_days.extend(closed);
            m.origins.insert(feed.info().kind.to_owned());
            m.unfinished.remove(SYNC);
        })?;
        report.synced_through = members
            .iter()
            .filter_map(|symbol| self.asked_through(symbol))
            .min();
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

    /// The grouped path: every missing day, then each pack member's new bars appended.
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
        let mut through = None;
        for (date, answer) in answers.into_inner().unwrap_or_else(PoisonError::into_inner) {
            match answer {
                Ok(day) if day.is_empty() && date >= plan.today => {
                    // The last session is not published yet: ask again next time.
                    break;
                }
                Ok(day) => {
                    note(record, |r| {
                        r.days_fetched.push(date);
                        if day.is_empty() {
                            r.closed_days.push(date);
                        }
                    });
                    usable.push(day);
                    through = Some(date);
                }
                Err(e) => {
                    note(record, |r| {
                        r.failed.push((format!("day {date}"), e.to_string()))
                    });
                    break;
                }
            }
        }
        let Some(through) = through else {
            return Ok(());
        };
        parallel(&plan.grouped, |(symbol, last)| {
            let new: Vec<Bar> = usable
                .iter()
                .filter_map(|day| day.get(symbol))
                .filter(|bar| bar.date > *last)
                .copied()
                .collect();
            let outcome = if new.is_empty() {
                Ok(Appended::Added(0))
            } else {
                self.append(symbol, &new)
            };
            self.settle(feed, symbol, outcome, through, plan.today, record)
        })
    }

    /// The per-ticker path: bars from the last stored date on; the overlapping bar must match.
    /// Any failure is this symbol's, reported; only the disk's stops the sync.
    fn sync_ticker(
        &self,
        feed: &dyn DailyFeed,
        symbol: &str,
        last: NaiveDate,
        today: NaiveDate,
        record: &Mutex<SyncReport>,
    ) -> Result<(), StoreError> {
        let outcome = (|| {
            let window = BarWindow {
                last: None,
                from: Some(last),
                to: Some(today),
            };
            let fetched = feed.bars(symbol, &window)?;
            let Some(stored) = self.read_unless_damaged(symbol)? else {
                return Ok(Appended::Readjusted);
            };
            let overlap_matches = fetched.dates.first() == stored.last_date().as_ref()
                && stored
                    .close
                    .last()
                    .zip(fetched.close.first())
                    .is_some_and(|(a, b)| same_price(*a, *b));
            if !overlap_matches {
                return Ok(Appended::Readjusted);
            }
            let new: Vec<Bar> = (1..fetched.len()).filter_map(|i| fetched.get(i)).collect();
            if new.is_empty() {
                return Ok(Appended::Added(0));
            }
            self.append(symbol, &new)
        })();
        self.settle(feed, symbol, outcome, today, today, record)
    }

    /// Records what bringing one symbol up to date came to: bars added (and the date it is now
    /// asked through), a re-adjusted history fetched again whole, or this symbol's failure. Only
    /// a disk failure is returned.
    fn settle(
        &self,
        feed: &dyn DailyFeed,
        symbol: &str,
        outcome: Result<Appended, StoreError>,
        asked_through: NaiveDate,
        today: NaiveDate,
        record: &Mutex<SyncReport>,
    ) -> Result<(), StoreError> {
        match outcome {
            Ok(Appended::Added(n)) => {
                note(record, |r| {
                    if n > 0 {
                        r.symbols_updated += 1;
                        r.bars_added += n;
                    }
                    r.asked.push((symbol.to_owned(), asked_through));
                });
                Ok(())
            }
            Ok(Appended::Readjusted) => self.refetch(feed, symbol, today, record),
            Err(StoreError::Data(e)) => {
                note(record, |r| {
                    r.failed.push((symbol.to_owned(), e.to_string()))
                });
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn refetch(
        &self,
        feed: &dyn DailyFeed,
        symbol: &str,
        today: NaiveDate,
        record: &Mutex<SyncReport>,
    ) -> Result<(), StoreError> {
        match self.fetch_whole(feed, symbol) {
            Ok(_) => {
                note(record, |r| {
                    r.refetched.push(symbol.to_owned());
                    r.symbols_updated += 1;
                    r.asked.push((symbol.to_owned(), today));
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

    /// Appends the bars of `new` dated after the file's last bar (read now, not remembered: a
    /// process that synced meanwhile may have appended them), unless the first looks like the
    /// source re-adjusted the history.
    fn append(&self, symbol: &str, new: &[Bar]) -> Result<Appended, StoreError> {
        let Some(mut bars) = self.read_unless_damaged(symbol)? else {
            return Ok(Appended::Readjusted);
        };
        let last = bars.last_date();
        let new: Vec<&Bar> = new.iter().filter(|b| Some(b.date) > last).collect();
        if let (Some(previous), Some(first)) = (bars.close.last(), new.first()) {
            let ratio = first.open / previous;
            if !(1.0 / SPLIT_RATIO..=SPLIT_RATIO).contains(&ratio) {
                return Ok(Appended::Readjusted);
            }
        }
        if new.is_empty() {
            return Ok(Appended::Added(0));
        }
        for bar in &new {
            bars.push(**bar).map_err(|problem| DataError::Unavailable {
                symbol: symbol.to_owned(),
                reason: format!("new bar of {}: {problem}", bar.date),
            })?;
        }
        self.write(symbol, &bars)?;
        Ok(Appended::Added(new.len()))
    }
}

impl BarStore {
    /// The symbol's stored bars, or `None` when its file is damaged: a sync then fetches the
    /// whole history again (as after a re-adjustment), which replaces the file.
    fn read_unless_damaged(&self, symbol: &str) -> Result<Option<Bars>, StoreError> {
        match self.read(symbol) {
            Ok(bars) => Ok(Some(bars)),
            Err(DataError::Damaged { path, reason }) => {
                tracing::warn!(path = %path.display(), %reason, "a stored file is damaged; its history is fetched again");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
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
