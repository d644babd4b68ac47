//! The template parser: any text gives a template or a TemplateError, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(t) = tuban_model::Template::from_toml(text, "fuzz.toml") {
            // A parsed template serialises and parses again.
            let again = t.to_toml();
            let _ = tuban_model::Template::from_toml(&again, "fuzz-again.toml");
        }
    }
});
