//! Saved screens on a real SQLite file and a real PostgreSQL server.

use std::time::{Duration, SystemTime};

use technic_learning::{LearningStore, Saved};
use technic_testkit::databases::OwnDatabase;

async fn screens_persist(url: &str) {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let store = LearningStore::open(url).await.expect("open");
    assert!(store.screens().await.expect("list").is_empty());
    let saved = store
        .save_screen(
            "oversold-bounce",
            Some("rsi_2 < 10 and close > sma_200"),
            Some("-rsi_2"),
            Some("RSI(2) dips in uptrends"),
            t0,
        )
        .await
        .expect("save");
    assert_eq!(saved, Saved::Created);
    store
        .save_screen("volume_surge", Some("rel_volume > 2"), None, None, t0)
        .await
        .expect("save");
    // Replaced under the same name: the creation time stays, the update time moves.
    let later = t0 + Duration::from_secs(60);
    let saved = store
        .save_screen("oversold-bounce", Some("rsi_2 < 5"), None, None, later)
        .await
        .expect("save");
    assert_eq!(saved, Saved::Updated);
    drop(store);

    let store = LearningStore::open(url).await.expect("reopen");
    let all = store.screens().await.expect("list");
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["oversold-bounce", "volume_surge"]);
    let bounce = store
        .screen("oversold-bounce")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(bounce.filter.as_deref(), Some("rsi_2 < 5"));
    assert_eq!((bounce.rank_by, bounce.description), (None, None));
    assert_eq!((bounce.created_at, bounce.updated_at), (t0, later));
    // Any text is kept as typed (compiling is the caller's): it is reported, never lost.
    store
        .save_screen(
            "legacy",
            Some("an old 'syntax' ; DROP TABLE screens"),
            None,
            None,
            t0,
        )
        .await
        .expect("save");
    assert_eq!(store.screens().await.expect("list").len(), 3);

    assert!(store.remove_screen("volume_surge").await.expect("rm"));
    assert!(!store.remove_screen("volume_surge").await.expect("rm again"));
    assert!(store.screen("volume_surge").await.expect("get").is_none());
    for bad in ["", "1abc", "a b", "a/b", "../x", &"x".repeat(65)] {
        let error = store
            .save_screen(bad, Some("close > 1"), None, None, t0)
            .await
            .expect_err(bad);
        assert!(
            error.to_string().contains("is not a screen name"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn screens_persist_in_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    screens_persist(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("s.db").display()
    ))
    .await;
}

/// PostgreSQL at `TECHNIC_TEST_DATABASE_URL` (default: the local server's `test` database), in a
/// database of its own, dropped at the end.
#[tokio::test]
async fn screens_persist_in_postgres() {
    let Some(database) = OwnDatabase::create("screens_persist_in_postgres").await else {
        return;
    };
    screens_persist(database.url()).await;
    database.remove().await;
}
