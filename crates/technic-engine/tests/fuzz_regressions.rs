//! Replays what `scripts/fuzz scan_request` kept: request bodies that reach the most distinct
//! parsing and validation code, and any that once panicked (`found-*`). Each must be refused with
//! a message or validated, never panic; a refusal must name what it refused.

use std::path::Path;

use technic_engine::ScanRequest;

#[test]
fn kept_request_bodies_are_refused_by_name_or_accepted_never_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions/scan_request");
    let mut parsed = 0;
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("kept input");
        inputs += 1;
        if let Ok(request) = serde_json::from_slice::<ScanRequest>(&bytes) {
            parsed += 1;
            if let Err(refused) = request.validate() {
                assert!(
                    !refused.to_string().trim().is_empty(),
                    "a refusal without a message"
                );
            }
        }
    }
    assert!(inputs > 0, "no kept inputs: run scripts/fuzz scan_request");
    // The corpus grows from valid requests; if none parse any more, the request shape changed
    // and the corpus should be regrown.
    assert!(
        parsed > 0,
        "none of {inputs} kept bodies parse as a request"
    );
}
