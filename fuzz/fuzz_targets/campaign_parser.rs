//! Any bytes given as a campaign file must parse or be refused with an input error, never panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match rightsize::config::Campaign::parse(text, Path::new("fuzz.toml"), Path::new("/fuzz-base"))
    {
        Ok(c) => {
            // A campaign that validates must survive the rest of the read path too.
            let _ = c.redacted();
            let _ = c.target_label();
            let _ = rightsize::run::campaign::plan_of(&c);
        }
        Err(e) => assert_eq!(e.exit_code(), 2, "a bad campaign is bad input: {e}"),
    }
});
