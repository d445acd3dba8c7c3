//! The screen language is pure like the core: its dependency list must not grow a runtime, an
//! HTTP client, a database, a thread pool or a JSON codec.

#[test]
fn screen_depends_on_nothing_that_does_io_or_async() {
    let manifest = include_str!("../Cargo.toml");
    let dependencies = manifest
        .split("\n[")
        .filter(|section| section.starts_with("dependencies]") || section.starts_with("target."))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        dependencies.contains("winnow"),
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
        assert!(!listed, "technic-screen must not depend on {forbidden}");
    }
}
