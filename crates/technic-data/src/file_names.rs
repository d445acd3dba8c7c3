//! The one mapping between a symbol and the file name that holds its bars.
//!
//! A symbol comes from outside: a `--symbols` flag, a request body, a market-data source's
//! listing. Joined into a path as it is, `../../AB` or `/X` would name a file outside the
//! directory. So a symbol is encoded, never trusted: every character outside a short list of
//! characters that are safe in a file name on every common file system is percent-encoded (as
//! UTF-8 bytes, `%2F` for `/`), `%` itself included, and so is a leading `.` (which would make
//! the file hidden, or be `.` or `..`). The result is always one ordinary path component.
//!
//! Plain tickers (`AAPL`, `BF.B`, `BRK-B`, `^GSPC`) are unchanged, so data directories and stores
//! written before the encoding keep their file names, and pandas users see the same files.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::DataError;

/// Characters kept as they are; everything else is encoded. An allow-list, so a character
/// nobody thought of (a Windows `:` or `|`, a control character, a non-ASCII letter a file
/// system normalises) is safe by default.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'^')
    .remove(b'=')
    .remove(b'+');

/// The longest file stem a symbol may have, in bytes: a file name is at most 255 bytes on the
/// common file systems, and the bar store's temporary files add about 45 to the stem
/// (`.STEM.parquet.PID-N.tmp`).
pub const MAX_FILE_STEM_BYTES: usize = 200;

/// The file stem (the name without `.csv`, `.parquet`…) of `symbol`'s bar file: a single, normal
/// path component that does not begin with `.`, and that [`symbol_from_file_stem`] turns back
/// into `symbol`. An empty symbol, or one whose encoding would exceed [`MAX_FILE_STEM_BYTES`],
/// has none.
pub fn symbol_file_stem(symbol: &str) -> Result<String, DataError> {
    let unusable = |reason: String| DataError::BadSymbol {
        symbol: shown(symbol),
        reason,
    };
    if symbol.is_empty() {
        return Err(unusable("a symbol cannot be empty".into()));
    }
    let mut stem = utf8_percent_encode(symbol, ENCODED).to_string();
    if stem.starts_with('.') {
        stem.replace_range(..1, "%2E");
    }
    if stem.len() > MAX_FILE_STEM_BYTES {
        return Err(unusable(format!(
            "its file name would be {} bytes long; at most {MAX_FILE_STEM_BYTES} are allowed",
            stem.len()
        )));
    }
    Ok(stem)
}

/// The symbol whose bars a file with this stem holds: the inverse of [`symbol_file_stem`].
/// Lenient, as names written by hand may be: a `%` not followed by two hex digits, or escapes
/// that do not decode to UTF-8, are taken literally, as they were before the encoding existed.
pub fn symbol_from_file_stem(stem: &str) -> String {
    match percent_decode_str(stem).decode_utf8() {
        Ok(symbol) => symbol.into_owned(),
        Err(_) => stem.to_owned(),
    }
}

/// A symbol as quoted in a message: escaped, and cut short, since it may be anything.
fn shown(symbol: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    let mut quoted: String = symbol.chars().take(SHOWN_CHARS).collect();
    if quoted.len() < symbol.len() {
        quoted.push('…');
    }
    format!("{quoted:?}")
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path};

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn plain_tickers_keep_their_names() {
        for ticker in [
            "AAPL", "BF.B", "BRK-B", "BRK_B", "^GSPC", "ES=F", "aapl", "A2",
        ] {
            assert_eq!(symbol_file_stem(ticker).expect("stem"), ticker);
            assert_eq!(symbol_from_file_stem(ticker), ticker);
        }
    }

    #[test]
    fn unsafe_characters_are_encoded() {
        let cases = [
            ("../../../AB", "%2E.%2F..%2F..%2FAB"),
            ("/X", "%2FX"),
            (".", "%2E"),
            ("..", "%2E."),
            (".HIDDEN", "%2EHIDDEN"),
            ("A\\B", "A%5CB"),
            ("A\0B", "A%00B"),
            ("50%", "50%25"),
            ("A:B", "A%3AB"),
            ("A B", "A%20B"),
            ("A\nB", "A%0AB"),
            ("É", "%C3%89"),
        ];
        for (symbol, stem) in cases {
            assert_eq!(symbol_file_stem(symbol).expect("stem"), stem, "{symbol:?}");
            assert_eq!(symbol_from_file_stem(stem), symbol);
        }
    }

    #[test]
    fn names_written_by_hand_are_read_as_before() {
        assert_eq!(symbol_from_file_stem("50%"), "50%");
        assert_eq!(symbol_from_file_stem("A%ZZ"), "A%ZZ");
        assert_eq!(symbol_from_file_stem("A%FF"), "A%FF");
        assert_eq!(symbol_from_file_stem("brk%2fb"), "brk/b");
    }

    #[test]
    fn empty_and_overlong_symbols_have_no_file_and_say_why() {
        let empty = symbol_file_stem("").expect_err("empty").to_string();
        assert!(empty.contains("cannot be empty"), "{empty}");
        let long = "/".repeat(100);
        let err = symbol_file_stem(&long).expect_err("too long").to_string();
        assert!(err.contains("300 bytes") && err.contains("200"), "{err}");
        assert!(
            err.len() < 200,
            "the symbol is cut short in the message: {err}"
        );
        assert_eq!(
            symbol_file_stem(&"A".repeat(MAX_FILE_STEM_BYTES))
                .expect("at the limit")
                .len(),
            MAX_FILE_STEM_BYTES
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_stem_is_one_normal_component_and_decodes_back(symbol in any::<String>()) {
            let Ok(stem) = symbol_file_stem(&symbol) else {
                prop_assert!(symbol.is_empty() || symbol.len() * 3 > MAX_FILE_STEM_BYTES);
                return Ok(());
            };
            for name in [stem.clone(), format!("{stem}.parquet"), format!("{stem}.csv.gz")] {
                let components: Vec<Component> = Path::new(&name).components().collect();
                prop_assert_eq!(components.len(), 1, "{:?}", name);
                prop_assert!(matches!(components[0], Component::Normal(_)), "{:?}", name);
                prop_assert!(!name.starts_with('.'), "{:?}", name);
                prop_assert!(!name.contains(['/', '\\', '\0']), "{:?}", name);
                prop_assert!(!name.chars().any(char::is_control), "{:?}", name);
            }
            prop_assert_eq!(symbol_from_file_stem(&stem), symbol);
        }

        #[test]
        fn path_like_symbols_stay_inside(parts in proptest::collection::vec(
            prop_oneof![Just("..".to_owned()), Just(".".to_owned()), Just(String::new()), "[A-Z]{1,3}"],
            1..6,
        ), absolute in any::<bool>()) {
            let symbol = format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"));
            let dir = Path::new("/store/bars");
            if let Ok(stem) = symbol_file_stem(&symbol) {
                let path = dir.join(format!("{stem}.parquet"));
                prop_assert_eq!(path.parent(), Some(dir));
                prop_assert_eq!(symbol_from_file_stem(&stem), symbol);
            }
        }
    }
}
