//! The compute core does no IO and no async: its dependency list must not grow a runtime, an
//! HTTP client, a cache client or a JSON codec (DESIGN.md, "Shape of the code").

#[test]
fn core_depends_on_nothing_that_does_io_or_async() {
    let manifest = include_str!("../Cargo.toml");
    let dependencies = manifest
        .split("\n[")
        .filter(|section| section.starts_with("dependencies]") || section.starts_with("target."))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!dependencies.is_empty(), "found the [dependencies] section");
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
    ] {
        let listed = dependencies
            .lines()
            .any(|line| line.trim_start().starts_with(forbidden));
        assert!(!listed, "technic-core must not depend on {forbidden}");
    }
}
