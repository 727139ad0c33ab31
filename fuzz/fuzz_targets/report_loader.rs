//! Any bytes given as report.json must load or be refused with an input error, never panic; a
//! report that loads must also render.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match rightsize::report::Report::from_slice(data, Path::new("fuzz.json")) {
        Ok(r) => {
            let _ = rightsize::report::text::summary(&r);
            let _ = r.to_json();
        }
        Err(e) => assert_eq!(e.exit_code(), 2, "a bad report is bad input: {e}"),
    }
});
