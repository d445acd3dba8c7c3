//! The statistics are pure arithmetic: their dependency list must not grow a runtime, a thread
//! pool, a JSON codec or anything that does IO (serde_json is a dev-dependency only: the JSON
//! report is the caller's `serde_json::to_string(&report)`).

#[test]
fn backtest_depends_on_nothing_that_does_io_threads_or_json() {
    let manifest = include_str!("../Cargo.toml");
    let dependencies = manifest
        .split("\n[")
        .filter(|section| section.starts_with("dependencies]") || section.starts_with("target."))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        dependencies.contains("plotters"),
        "found the [dependencies] section"
    );
    for forbidden in [
        "tokio",
        "async-std",
        "futures",
        "reqwest",
        "hyper",
        "redis",
        "sqlx",
        "serde_json",
        "axum",
        "rayon",
        "technic-data",
        "technic-engine",
    ] {
        let listed = dependencies
            .lines()
            .any(|line| line.trim_start().starts_with(forbidden));
        assert!(!listed, "technic-backtest must not depend on {forbidden}");
    }
}
