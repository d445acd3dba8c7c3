//! The web page's JavaScript gets the checks Rust gets from its compiler and `cargo test`: `tsc
//! --noEmit` checks every module of `assets/` against its JSDoc types (`// @ts-check`, strict), and
//! node's test runner runs the unit tests of the pure modules (`tests/browser/unit`: seq handling,
//! sorting, filtering, formatting, the URL's view, plain words).
//!
//! Needs node and `npm ci` in `tests/browser` (typescript is pinned in its package.json);
//! `scripts/test` installs them. Without them each test says so and passes, except under
//! `CI=true`, where a missing piece means the set-up is broken and the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Node with the npm packages, or why not.
fn node_ready() -> Result<(), String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    if !browser_dir().join("node_modules/typescript").is_dir() {
        return Err(format!(
            "typescript is not installed (npm ci in {})",
            browser_dir().display()
        ));
    }
    Ok(())
}

fn skip_without_node(what: &str) -> bool {
    match node_ready() {
        Ok(()) => false,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI: {why}; scripts/test installs it"
            );
            eprintln!("SKIPPED {what}: {why}; scripts/test installs it");
            true
        }
    }
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(browser_dir())
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_page_scripts_type_check() {
    if skip_without_node("tsc --noEmit") {
        return;
    }
    let (ok, text) = run(
        "node",
        &["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"],
    );
    assert!(ok, "tsc --noEmit found type errors in assets/:\n{text}");
    // The check covers every module the server serves, so a new one cannot slip past it.
    let (_, listed) = run(
        "node",
        &[
            "node_modules/typescript/bin/tsc",
            "-p",
            "tsconfig.json",
            "--listFilesOnly",
        ],
    );
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for entry in std::fs::read_dir(&assets).expect("assets/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        // A vendored library (`*.min.js`, `vendor/`) is someone else's code, not checked here.
        if path.extension().is_some_and(|e| e == "js") && !name.ends_with(".min.js") {
            assert!(
                listed.contains(&format!("assets/{name}")),
                "tsc checks {name}:\n{listed}"
            );
            let source = std::fs::read_to_string(&path).expect("read");
            assert!(
                source.starts_with("// @ts-check"),
                "{name} starts with // @ts-check"
            );
        }
    }
}

#[test]
fn the_page_scripts_pass_their_unit_tests() {
    if skip_without_node("node --test") {
        return;
    }
    let (ok, text) = run("node", &["--test", "unit/"]);
    assert!(ok, "node --test unit/ failed:\n{text}");
    let passed = text
        .lines()
        .find_map(|line| line.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("node --test reports a count:\n{text}"));
    assert!(
        passed >= 30,
        "the unit tests ran ({passed} passed):\n{text}"
    );
}
