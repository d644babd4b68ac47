//! The encoding detector and the DBF text extractor it reads: any bytes, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = tuban_core::import::encoding::dbf_text_bytes(data);
    let _ = tuban_core::import::encoding::detect(&text);
    let _ = tuban_core::import::encoding::detect(data);
    if let Some(b) = data.get(29) {
        let _ = tuban_core::import::encoding::ldid_encoding(*b);
    }
});
