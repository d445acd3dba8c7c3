#![no_main]
//! A scan request body as the server receives it: parsed, then validated. Either step may refuse;
//! neither may panic.

use technic_engine::ScanRequest;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<ScanRequest>(bytes) {
        let _ = request.validate();
    }
});
