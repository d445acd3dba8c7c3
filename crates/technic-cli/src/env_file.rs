//! `.env.example` at the repository's root against the parsers that read the environment, so the
//! file cannot drift from the code: every variable `technic serve` reads is in it with a line that
//! says what it does, nothing else is, and each default it gives is the parser's own.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use clap::CommandFactory;

use crate::Cli;

/// Read by libraries outside the three parsers below: `tracing`'s filter.
const READ_ELSEWHERE: [&str; 1] = ["RUST_LOG"];

/// The seeds' `.env.production` and deployment guide: a seed deployment must find each.
const SEEDS: [&str; 9] = [
    "ENABLE_PRIORITIZATION",
    "ENABLE_STREAMING",
    "MAX_CONCURRENT_STREAMS",
    "STREAM_TIMEOUT_SECONDS",
    "EARLY_TERMINATION_DEFAULT",
    "PORT",
    "REDIS_URL",
    "MAX_WORKERS",
    "USE_CACHE",
];

/// A variable of the file: its value, whether it is set by default, and the comment above it.
#[derive(Debug)]
struct Entry {
    value: String,
    set: bool,
    meaning: String,
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `NAME=value` (set) and `# NAME=value` (unset, an example), each under its comment line.
fn parse(text: &str) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    let mut comment = String::new();
    for line in text.lines() {
        let (commented, body) = match line.strip_prefix("# ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        match body.split_once('=') {
            Some((name, value)) if is_name(name) => {
                let previous = entries.insert(
                    name.to_owned(),
                    Entry {
                        value: value.to_owned(),
                        set: !commented,
                        meaning: std::mem::take(&mut comment),
                    },
                );
                assert!(previous.is_none(), ".env.example: {name} appears twice");
            }
            _ if commented => comment = body.to_owned(),
            _ => comment.clear(),
        }
    }
    entries
}

fn example() -> BTreeMap<String, Entry> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse(&text)
}

/// The variables `technic serve`'s flags take from the environment, with their defaults.
/// The variables the deployed processes' flags read (`technic serve` and `technic worker`), with
/// their defaults; a variable both read must have one default.
fn serve_flags() -> BTreeMap<String, Option<String>> {
    let mut cli = Cli::command();
    // Built, so implied defaults (a flag's `false`) are filled in as parsing sees them.
    cli.build();
    let mut flags = BTreeMap::new();
    for command in ["serve", "worker"] {
        let command = cli.find_subcommand(command).expect("subcommand");
        for arg in command.get_arguments() {
            let Some(name) = arg.get_env().and_then(|n| n.to_str()) else {
                continue;
            };
            let default = arg
                .get_default_values()
                .first()
                .and_then(|v| v.to_str())
                .map(str::to_owned);
            if let Some(other) = flags.insert(name.to_owned(), default.clone()) {
                assert_eq!(
                    other, default,
                    "{name}: serve and worker default it differently"
                );
            }
        }
    }
    flags
}

/// The names a lookup-based parser asks for.
fn asked_by(parse: impl FnOnce(&dyn Fn(&str) -> Option<String>)) -> BTreeSet<String> {
    let asked = Mutex::new(BTreeSet::new());
    parse(&|name: &str| {
        asked.lock().expect("lock").insert(name.to_owned());
        // The Polygon parser stops at a missing key; every other name is left unset.
        (name == "POLYGON_API_KEY").then(|| "key".to_owned())
    });
    asked.into_inner().expect("lock")
}

#[test]
fn env_example_lists_every_variable_with_its_meaning_and_the_parsers_defaults() {
    let entries = example();
    let server = asked_by(|get| {
        technic_server::Config::from_lookup(get).expect("defaults are valid");
    });
    let polygon = asked_by(|get| {
        technic_polygon::PolygonConfig::from_vars(get).expect("a key is enough");
    });
    let flags = serve_flags();
    let read: BTreeSet<String> = server
        .iter()
        .chain(&polygon)
        .chain(flags.keys())
        .cloned()
        .chain(READ_ELSEWHERE.map(str::to_owned))
        .collect();
    let listed: BTreeSet<String> = entries.keys().cloned().collect();
    assert_eq!(
        listed.difference(&read).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        ".env.example lists variables nothing reads"
    );
    assert_eq!(
        read.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "variables read but missing from .env.example"
    );
    for name in SEEDS {
        assert!(listed.contains(name), "the seeds' {name}");
    }
    for (name, entry) in &entries {
        assert!(
            entry.meaning.len() > 10,
            "{name}: the line above it must say what it does"
        );
    }

    // The server's settings: the file's values are its defaults, and an unset one has no default.
    let set = |name: &str| entries.get(name).filter(|e| e.set).map(|e| e.value.clone());
    let from_file = technic_server::Config::from_lookup(set).expect("the file's values are valid");
    assert_eq!(
        format!("{from_file:?}"),
        format!("{:?}", technic_server::Config::default())
    );
    // Polygon's: the same, given a key.
    let with_key = |name: &str| {
        if name == "POLYGON_API_KEY" {
            Some("key".to_owned())
        } else {
            set(name)
        }
    };
    let polygon_file =
        technic_polygon::PolygonConfig::from_vars(with_key).expect("the file's values are valid");
    assert_eq!(
        format!("{polygon_file:?}"),
        format!("{:?}", technic_polygon::PolygonConfig::new("key"))
    );
    // The flags': set exactly when the flag has a default, to that default.
    for (name, default) in &flags {
        let entry = &entries[name];
        match default {
            Some(default) => {
                assert!(entry.set, "{name} has a default ({default}): set it");
                assert_eq!(&entry.value, default, "{name}");
            }
            None => assert!(!entry.set, "{name} has no default: comment it out"),
        }
    }
    // The example values of unset variables are accepted too.
    let examples = |name: &str| entries.get(name).map(|e| e.value.clone());
    technic_server::Config::from_lookup(examples).expect("the examples are valid");
    technic_polygon::PolygonConfig::from_vars(examples).expect("the examples are valid");
}

#[test]
fn the_file_format_is_read_as_documented() {
    let entries = parse("# Say why.\nA=1\n# Unset, an example.\n# B=x=y\n\n# Z=2\n");
    assert!(entries["A"].set && entries["A"].value == "1" && entries["A"].meaning == "Say why.");
    assert!(!entries["B"].set && entries["B"].value == "x=y");
    assert_eq!(entries["Z"].meaning, "", "a blank line ends a comment");
}
