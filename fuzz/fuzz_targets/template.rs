//! The template parser: any text gives a template or a TemplateError, never a panic; a parsed
//! template written back with `to_toml` parses again to the same spec.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(t) = tuban_model::Template::from_toml(text, "fuzz.toml") {
            let again = t.to_toml();
            let back = match tuban_model::Template::from_toml(&again, "fuzz-again.toml") {
                Ok(back) => back,
                Err(e) => panic!("to_toml wrote a template that does not parse: {e}\n{again}"),
            };
            assert_eq!(back.spec, t.spec, "the round trip changed the template:\n{again}");
        }
    }
});
