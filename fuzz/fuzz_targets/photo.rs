//! EXIF and photo ingest: any bytes give photo information or a PhotoError, never a panic, and
//! never a huge allocation (libFuzzer's -rss_limit_mb catches those).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tuban_core::evidence::read_photo(data, "fuzz.jpg");
});
