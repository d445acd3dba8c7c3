//! The learning store: what earlier scans learned, kept in an embedded SQLite file by default or in
//! PostgreSQL when `DATABASE_URL` says so. One code path serves both (sqlx's `Any` driver and SQL
//! that both databases accept); the migrations in `migrations/` run on open.
//!
//! It also keeps saved screens ([`screens`]) as the text users typed.
//!
//! Architecture invariant: the store only persists the engine's plain learning types and saved
//! screens' text; it decides nothing about scans. Recording is idempotent per scan id, so a retried write never counts a scan
//! twice.
//!
//! It keeps each symbol's history (scans, high-quality signals, last rating and date) and its
//! signal per as-of date (bounded by [`SIGNAL_HISTORY_DAYS`]), the last
//! completed scan's alpha distribution and its sector statistics, in `technic.db` under technic's
//! home unless `DATABASE_URL` is set. Recording is one transaction. A stopped scan adds its
//! outcomes but never replaces the completed scan's distribution. An alpha reference too old to use
//! is never parsed; one that cannot be read is logged and left out, the histories still served.
//! (Not to be confused with `technic-barstore`, which keeps bars.)

mod screens;

pub use screens::{MAX_SCREEN_NAME, Saved, SavedScreen, check_screen_name, library_of};

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use technic_core::priority::SymbolHistory;
use technic_engine::{Learned, LearningUpdate, SectorStats, SymbolOutcome};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the learning store at {location}: {cause}")]
    Open {
        location: String,
        cause: sqlx::Error,
    },
    #[error("cannot prepare the learning store's tables at {location}: {cause}")]
    Migrate {
        location: String,
        cause: sqlx::migrate::MigrateError,
    },
    #[error("learning store query failed ({what}): {cause}")]
    Query {
        what: &'static str,
        cause: sqlx::Error,
    },
    #[error("the alpha reference has no JSON form: {0}")]
    Unencodable(serde_json::Error),
    #[error("cannot create the directory {path}: {cause}")]
    Directory { path: String, cause: std::io::Error },
    #[error("'{0}' is not a screen name: a letter, then up to 63 letters, digits, '_' or '-'")]
    BadScreenName(String),
}

fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |cause| StoreError::Query { what, cause }
}

/// Whether the scan being recorded saw its whole universe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Completed,
    Stopped,
}

/// What the store holds for scans to come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remembered {
    pub learned: Learned,
    /// When the scan that left `learned.alpha_reference` completed (whole seconds).
    pub reference_completed_at: Option<SystemTime>,
}

/// Whether an alpha reference left by a scan completed at `completed` is still used at `now`: it
/// scores results against the market as it was, which drifts.
pub fn is_fresh(completed: SystemTime, max_age: Duration, now: SystemTime) -> bool {
    now.duration_since(completed).is_ok_and(|age| age < max_age)
}

/// How far back a symbol's dated signals are kept, counted back from the as-of date each record
/// brings: a year of daily scans and a little more, so the history stays bounded however often
/// scans run (one row per as-of date, whatever the number of scans).
pub const SIGNAL_HISTORY_DAYS: i64 = 400;

/// One symbol's signal as the last recorded scan of one as-of date gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatedSignal {
    /// The date of the newest bar that scan saw (YYYY-MM-DD).
    pub as_of: String,
    /// `STRONG_BUY`, `BUY`, `HOLD`, `SELL` or `STRONG_SELL`.
    pub signal: String,
    pub tech_rating: f64,
    pub alpha_score: Option<f64>,
    pub high_quality: bool,
}

/// A connection pool to the learning database.
#[derive(Debug, Clone)]
pub struct LearningStore {
    pool: AnyPool,
    /// Where it is, for messages (the password of a URL is not kept).
    location: String,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl LearningStore {
    /// Opens (creating where needed) the store at a `sqlite://…` or `postgres://…` URL.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let location = redact(url);
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|cause| StoreError::Open {
                location: location.clone(),
                cause,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|cause| StoreError::Migrate {
                location: location.clone(),
                cause,
            })?;
        Ok(Self { pool, location })
    }

    /// The embedded default: `technic.db` in technic's home directory.
    pub async fn open_in(home: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(home).map_err(|cause| StoreError::Directory {
            path: home.display().to_string(),
            cause,
        })?;
        let file = home.join("technic.db");
        Self::open(&format!("sqlite://{}?mode=rwc", file.display())).await
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether the store answers a query on its tables (a readiness probe's question), without
    /// reading what they hold.
    pub async fn check(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT scan_id FROM recorded_scans LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(query("checking the store"))?;
        Ok(())
    }

    /// What earlier scans learned. The alpha reference is handed out only if the scan that left it
    /// completed less than `max_age` before `now`.
    pub async fn load(&self, max_age: Duration, now: SystemTime) -> Result<Learned, StoreError> {
        Ok(self.remembered(max_age, now).await?.learned)
    }

    /// As [`Self::load`], with when the reference's scan completed: for a caller that keeps it in
    /// memory and judges its age again each time it hands it out.
    pub async fn remembered(
        &self,
        max_age: Duration,
        now: SystemTime,
    ) -> Result<Remembered, StoreError> {
        let rows = sqlx::query(
            "SELECT symbol, scans, signals, last_rating, last_scan_date FROM symbol_history",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query("reading symbol history"))?;
        let mut remembered = Remembered::default();
        for row in rows {
            let get = |e: sqlx::Error| StoreError::Query {
                what: "reading a symbol history row",
                cause: e,
            };
            let history = SymbolHistory {
                scans: u32::try_from(row.try_get::<i64, _>("scans").map_err(get)?)
                    .unwrap_or(u32::MAX),
                signals: u32::try_from(row.try_get::<i64, _>("signals").map_err(get)?)
                    .unwrap_or(u32::MAX),
                last_rating: row.try_get::<Option<f64>, _>("last_rating").map_err(get)?,
                last_scan_date: row
                    .try_get::<Option<String>, _>("last_scan_date")
                    .map_err(get)?,
            };
            remembered
                .learned
                .histories
                .insert(row.try_get::<String, _>("symbol").map_err(get)?, history);
        }
        let reference =
            sqlx::query("SELECT completed_at, reference FROM alpha_reference WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(query("reading the alpha reference"))?;
        if let Some(row) = reference {
            let completed_at: i64 = row
                .try_get("completed_at")
                .map_err(query("reading the alpha reference"))?;
            let completed =
                UNIX_EPOCH + Duration::from_secs(u64::try_from(completed_at).unwrap_or(0));
            // Read only when fresh: a reference too old to use is never parsed.
            if completed_at >= 0 && is_fresh(completed, max_age, now) {
                let text: String = row
                    .try_get("reference")
                    .map_err(query("reading the alpha reference"))?;
                // An unreadable reference (another version's, say) costs streamed results their
                // alpha score until the next completed scan replaces it, not the histories.
                match serde_json::from_str(&text) {
                    Ok(reference) => {
                        remembered.learned.alpha_reference = Some(reference);
                        remembered.reference_completed_at = Some(completed);
                    }
                    Err(e) => tracing::warn!(
                        location = %self.location,
                        error = %e,
                        "the learning store's alpha reference is unreadable; scans go without it"
                    ),
                }
            }
        }
        Ok(remembered)
    }

    /// The last completed scan's sector figures.
    pub async fn sector_stats(&self) -> Result<Vec<SectorStats>, StoreError> {
        let rows = sqlx::query(
            "SELECT sector, symbols, mean_rating, signal_rate FROM sector_stats ORDER BY sector",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query("reading sector statistics"))?;
        rows.iter()
            .map(|row| {
                Ok(SectorStats {
                    sector: row.try_get("sector")?,
                    symbols: usize::try_from(row.try_get::<i64, _>("symbols")?).unwrap_or(0),
                    mean_rating: row.try_get("mean_rating")?,
                    signal_rate: row.try_get("signal_rate")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(query("reading sector statistics"))
    }

    /// The symbol's dated signals, newest first, at most `limit` of them.
    pub async fn signal_history(
        &self,
        symbol: &str,
        limit: usize,
    ) -> Result<Vec<DatedSignal>, StoreError> {
        let rows = sqlx::query(
            "SELECT as_of, signal, tech_rating, alpha_score, high_quality FROM signal_history \
             WHERE symbol = $1 ORDER BY as_of DESC LIMIT $2",
        )
        .bind(symbol)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(query("reading a symbol's dated signals"))?;
        rows.iter()
            .map(|row| {
                Ok(DatedSignal {
                    as_of: row.try_get("as_of")?,
                    signal: row.try_get("signal")?,
                    tech_rating: row.try_get("tech_rating")?,
                    alpha_score: row.try_get("alpha_score")?,
                    high_quality: row.try_get::<i64, _>("high_quality")? != 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(query("reading a symbol's dated signals"))
    }

    /// Records what a scan learned, in one transaction. Returns `false` if this scan id was already
    /// recorded (nothing is changed then).
    // Long on purpose: the statements of one transaction, in order; split, the transaction would
    // have to pass through every piece.
    pub async fn record(
        &self,
        scan_id: &str,
        completion: Completion,
        update: &LearningUpdate,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let now = unix_seconds(now);
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query("starting a transaction"))?;
        let signals = update.outcomes.iter().filter(|o| o.high_quality).count();
        let status = match completion {
            Completion::Completed => "completed",
            Completion::Stopped => "stopped",
        };
        let inserted = sqlx::query(
            "INSERT INTO recorded_scans (scan_id, status, results, signals, recorded_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (scan_id) DO NOTHING",
        )
        .bind(scan_id)
        .bind(status)
        .bind(i64::try_from(update.outcomes.len()).unwrap_or(i64::MAX))
        .bind(i64::try_from(signals).unwrap_or(i64::MAX))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(query("recording the scan"))?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await.map_err(query("rolling back"))?;
            return Ok(false);
        }
        // Rows are locked in symbol order, the same in every writer: two scans recording at once over
        // overlapping symbols then wait for each other instead of deadlocking (PostgreSQL).
        let mut outcomes: Vec<_> = update.outcomes.iter().collect();
        outcomes.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        for outcome in outcomes {
            sqlx::query(
                "INSERT INTO symbol_history (symbol, scans, signals, last_rating, last_scan_date, updated_at) \
                 VALUES ($1, 1, $2, $3, $4, $5) \
                 ON CONFLICT (symbol) DO UPDATE SET scans = symbol_history.scans + 1, \
                 signals = symbol_history.signals + excluded.signals, last_rating = excluded.last_rating, \
                 last_scan_date = excluded.last_scan_date, updated_at = excluded.updated_at",
            )
            .bind(&outcome.symbol)
            .bind(i64::from(outcome.high_quality))
            .bind(outcome.tech_rating)
            .bind(&outcome.date)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(query("updating symbol history"))?;
            record_dated_signal(&mut tx, scan_id, outcome, now).await?;
        }
        if let Some(reference) = &update.alpha_reference {
            let json = serde_json::to_string(reference).map_err(StoreError::Unencodable)?;
            sqlx::query(
                "INSERT INTO alpha_reference (id, scan_id, completed_at, reference) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET scan_id = excluded.scan_id, completed_at = excluded.completed_at, \
                 reference = excluded.reference",
            )
            .bind(scan_id)
            .bind(now)
            .bind(json)
            .execute(&mut *tx)
            .await
            .map_err(query("saving the alpha reference"))?;
        }
        if !update.sector_stats.is_empty() {
            sqlx::query("DELETE FROM sector_stats")
                .execute(&mut *tx)
                .await
                .map_err(query("replacing sector statistics"))?;
            for s in &update.sector_stats {
                sqlx::query(
                    "INSERT INTO sector_stats (sector, symbols, mean_rating, signal_rate, completed_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&s.sector)
                .bind(i64::try_from(s.symbols).unwrap_or(i64::MAX))
                .bind(s.mean_rating)
                .bind(s.signal_rate)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(query("saving sector statistics"))?;
            }
        }
        tx.commit().await.map_err(query("committing"))?;
        Ok(true)
    }
}

/// Keeps one outcome as its symbol's signal of that as-of date (a later scan of the same date
/// replaces it), and drops the symbol's signals more than [`SIGNAL_HISTORY_DAYS`] older.
async fn record_dated_signal(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    scan_id: &str,
    outcome: &SymbolOutcome,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signal_history (symbol, as_of, signal, tech_rating, alpha_score, high_quality, scan_id, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (symbol, as_of) DO UPDATE SET signal = excluded.signal, tech_rating = excluded.tech_rating, \
         alpha_score = excluded.alpha_score, high_quality = excluded.high_quality, scan_id = excluded.scan_id, \
         recorded_at = excluded.recorded_at",
    )
    .bind(&outcome.symbol)
    .bind(&outcome.date)
    .bind(outcome.signal.as_str())
    .bind(outcome.tech_rating)
    .bind(outcome.alpha_score)
    .bind(i64::from(outcome.high_quality))
    .bind(scan_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(query("recording a dated signal"))?;
    // ISO dates compare as text; a date the engine did not write is kept rather than guessed at.
    if let Ok(date) = chrono::NaiveDate::parse_from_str(&outcome.date, "%Y-%m-%d") {
        let cutoff = date - chrono::Duration::days(SIGNAL_HISTORY_DAYS);
        sqlx::query("DELETE FROM signal_history WHERE symbol = $1 AND as_of < $2")
            .bind(&outcome.symbol)
            .bind(cutoff.format("%Y-%m-%d").to_string())
            .execute(&mut **tx)
            .await
            .map_err(query("pruning old dated signals"))?;
    }
    Ok(())
}

/// A URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://user:secret@db:5432/x"),
            "postgres://user:***@db:5432/x"
        );
        assert_eq!(redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(redact("postgres://user@db/x"), "postgres://user@db/x");
    }
}
