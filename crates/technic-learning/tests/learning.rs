//! Learning persisted across scans, on a real SQLite file and a real PostgreSQL server.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use technic_core::Signal;
use technic_data::MarketData;
use technic_engine::{
    EventLog, LearningUpdate, ProgressSnapshot, ScanOptions, ScanRequest, ScanStatus, Scanner,
    SymbolOutcome, TerminationRequest,
};
use technic_learning::{Completion, DatedSignal, LearningStore, SIGNAL_HISTORY_DAYS};
use technic_testkit::databases::OwnDatabase;

const DAY: Duration = Duration::from_secs(24 * 3600);

fn source() -> Arc<dyn MarketData> {
    Arc::new(technic_testkit::markets::demo())
}

/// Scans with what the store learned, records what the scan learned, and returns the report.
async fn scan_and_record(
    store: &LearningStore,
    source: &Arc<dyn MarketData>,
    request: ScanRequest,
) -> technic_engine::ScanReport {
    let learned = store.load(DAY, SystemTime::now()).await.expect("load");
    let options = ScanOptions {
        learned: Arc::new(learned),
        ..ScanOptions::default()
    };
    let log = EventLog::new(options.scan_id.clone());
    let valid = request.validate().expect("valid");
    let outcome = Scanner::new(Arc::clone(source))
        .execute(&valid, options, &log, &|_: &ProgressSnapshot| {})
        .expect("scan");
    let completion = if outcome.report.status == ScanStatus::Completed {
        Completion::Completed
    } else {
        Completion::Stopped
    };
    let recorded = store
        .record(
            &outcome.report.scan_id,
            completion,
            &outcome.learning,
            SystemTime::now(),
        )
        .await
        .expect("record");
    assert!(recorded, "a new scan is recorded");
    let again = store
        .record(
            &outcome.report.scan_id,
            completion,
            &outcome.learning,
            SystemTime::now(),
        )
        .await
        .expect("record");
    assert!(!again, "recording the same scan twice changes nothing");
    outcome.report
}

async fn learning_persists(url: &str) {
    let source = source();
    let first_report = {
        let store = LearningStore::open(url).await.expect("open");
        let learned = store.load(DAY, SystemTime::now()).await.expect("load");
        assert!(
            learned.histories.is_empty() && learned.alpha_reference.is_none(),
            "a new store is empty"
        );
        let first = scan_and_record(&store, &source, ScanRequest::default()).await;
        assert_eq!(first.status, ScanStatus::Completed);
        // Streamed results had no reference to be scored against yet.
        assert!(
            first.results.iter().all(|r| r.alpha_score.is_some()),
            "the final ranking has exact alpha"
        );
        first
    };
    // A new connection (a new process, as far as the database can tell) sees what was learned.
    let store = LearningStore::open(url).await.expect("reopen");
    let learned = store.load(DAY, SystemTime::now()).await.expect("load");
    assert_eq!(learned.histories.len(), 500);
    let total_signals: u32 = learned.histories.values().map(|h| h.signals).sum();
    assert!(total_signals > 0);
    assert!(learned.histories.values().all(|h| h.scans == 1
        && h.last_rating.is_some()
        && h.last_scan_date.as_deref() == Some("2024-12-31")));
    assert!(
        learned.alpha_reference.is_some(),
        "the completed scan left its distribution"
    );
    assert_eq!(store.sector_stats().await.expect("sectors").len(), 11);
    // Too old a reference is not used.
    let later = SystemTime::now() + 2 * DAY;
    assert!(
        store
            .load(DAY, later)
            .await
            .expect("load")
            .alpha_reference
            .is_none()
    );

    // A stopped scan adds its outcomes but leaves the completed scan's distribution in place.
    let stopped = scan_and_record(
        &store,
        &source,
        ScanRequest {
            termination_criteria: Some(TerminationRequest {
                max_signals: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(stopped.status, ScanStatus::Stopped);
    let learned = store.load(DAY, SystemTime::now()).await.expect("load");
    let rescanned: Vec<_> = learned
        .histories
        .values()
        .filter(|h| h.scans == 2)
        .collect();
    assert_eq!(
        rescanned.len(),
        stopped.results.len(),
        "exactly the stopped scan's results were added"
    );
    assert!(learned.alpha_reference.is_some());

    // An update that lists a symbol twice counts it twice and keeps its later outcome, in the
    // store as in memory (`Learned::apply`), whether or not the store knew the symbol.
    let known = learned.histories.keys().min().expect("a symbol").clone();
    let outcome = |symbol: &str, tech_rating: f64, high_quality: bool, date: &str| SymbolOutcome {
        symbol: symbol.to_owned(),
        tech_rating,
        high_quality,
        date: date.to_owned(),
        signal: if high_quality {
            Signal::StrongBuy
        } else {
            Signal::Hold
        },
        alpha_score: high_quality.then_some(88.5),
    };
    let update = LearningUpdate {
        outcomes: vec![
            outcome(&known, 71.5, true, "2025-01-02"),
            outcome("NEWCO", 40.0, false, "2025-01-02"),
            outcome(&known, 12.25, false, "2025-01-03"),
        ],
        ..LearningUpdate::default()
    };
    let mut expected = learned.clone();
    expected.apply(&update);
    assert!(
        store
            .record("hand-made", Completion::Stopped, &update, SystemTime::now())
            .await
            .expect("record")
    );
    let stored = store.load(DAY, SystemTime::now()).await.expect("load");
    assert_eq!(stored.histories, expected.histories);
    assert_eq!(
        stored.histories[&known].scans,
        learned.histories[&known].scans + 2
    );
    assert_eq!(stored.histories[&known].last_rating, Some(12.25));

    // A reference the store cannot read (another version's, say) costs the reference, not the
    // histories.
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(url).await.expect("connect");
    sqlx::query("UPDATE alpha_reference SET reference = 'not json'")
        .execute(&raw)
        .await
        .expect("spoil the reference");
    let unreadable = store.load(DAY, SystemTime::now()).await.expect("load");
    assert!(unreadable.alpha_reference.is_none());
    assert_eq!(unreadable.histories, stored.histories);

    // The last scan of 2024-12-31 to rate it: the stopped one if it did (its percentiles are
    // over its own results, so its figures may differ from the first's).
    let last_of_first_date = stopped
        .results
        .iter()
        .chain(&first_report.results)
        .find(|r| r.symbol == known)
        .expect("the first scan rated it");
    dated_signals_are_kept_per_as_of_date_and_pruned(
        &store,
        &known,
        last_of_first_date,
        &first_report,
    )
    .await;
}

#[tokio::test]
async fn learning_persists_in_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    learning_persists(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("learn.db").display()
    ))
    .await;
    assert!(dir.path().join("learn.db").exists());
}

/// The dated signals of `known`, after the first (completed) scan of 2024-12-31, a stopped scan
/// of the same date and the hand-made records of 2025-01-02 and 2025-01-03 (the later one wins).
async fn dated_signals_are_kept_per_as_of_date_and_pruned(
    store: &LearningStore,
    known: &str,
    rated: &technic_engine::ScanResult,
    first: &technic_engine::ScanReport,
) {
    let dated = store
        .signal_history(known, 50)
        .await
        .expect("dated signals");
    let dates: Vec<&str> = dated.iter().map(|d| d.as_of.as_str()).collect();
    assert_eq!(
        dates,
        ["2025-01-03", "2025-01-02", "2024-12-31"],
        "one row per as-of date, newest first: {dated:?}"
    );
    assert_eq!(
        dated[0],
        DatedSignal {
            as_of: "2025-01-03".into(),
            signal: "HOLD".into(),
            tech_rating: 12.25,
            alpha_score: None,
            high_quality: false,
        }
    );
    assert_eq!(dated[1].signal, "STRONG_BUY");
    assert_eq!(dated[1].alpha_score, Some(88.5));
    assert_eq!(dated[2].signal, rated.signal.as_str());
    assert_eq!(dated[2].tech_rating, rated.tech_rating);
    assert_eq!(dated[2].alpha_score, rated.alpha_score);
    assert_eq!(dated[2].high_quality, rated.high_quality);
    assert_eq!(
        store.signal_history(known, 2).await.expect("limited").len(),
        2,
        "the limit holds"
    );
    assert!(
        store
            .signal_history("NOSUCH", 50)
            .await
            .expect("none")
            .is_empty()
    );

    // A record far later prunes what is more than SIGNAL_HISTORY_DAYS older, this symbol's only.
    let later = chrono::NaiveDate::from_ymd_opt(2025, 1, 3).expect("date")
        + chrono::Duration::days(SIGNAL_HISTORY_DAYS + 1);
    let update = LearningUpdate {
        outcomes: vec![SymbolOutcome {
            symbol: known.to_owned(),
            tech_rating: 55.0,
            high_quality: false,
            date: later.format("%Y-%m-%d").to_string(),
            signal: Signal::Buy,
            alpha_score: Some(61.0),
        }],
        ..LearningUpdate::default()
    };
    assert!(
        store
            .record(
                "much-later",
                Completion::Stopped,
                &update,
                SystemTime::now()
            )
            .await
            .expect("record")
    );
    let dated = store
        .signal_history(known, 50)
        .await
        .expect("dated signals");
    assert_eq!(dated.len(), 1, "older rows pruned: {dated:?}");
    assert_eq!(dated[0].as_of, later.format("%Y-%m-%d").to_string());
    let other = first
        .results
        .iter()
        .find(|r| r.symbol != known)
        .expect("another symbol");
    assert_eq!(
        store
            .signal_history(&other.symbol, 50)
            .await
            .expect("other")
            .len(),
        1,
        "another symbol's history is its own"
    );
}

/// PostgreSQL at `TECHNIC_TEST_DATABASE_URL` (default: the local server's `test` database). Each run
/// works in a database of its own, dropped at the end.
#[tokio::test]
async fn learning_persists_in_postgres() {
    let Some(database) = OwnDatabase::create("learning_persists_in_postgres").await else {
        return;
    };
    learning_persists(database.url()).await;
    database.remove().await;
}
