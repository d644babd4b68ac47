//! The project opener on mutated project files: open read-only and read-write, then read,
//! compute the ledger and verify; errors are fine, panics and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuban_core::store::{Access, Project};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("tuban-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("fuzz.gpkg");
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    if std::fs::write(&path, data).is_err() {
        return;
    }
    for access in [Access::ReadOnly, Access::ReadWrite] {
        if let Ok(mut p) = Project::open(&path, access) {
            let _ = p.patches();
            let _ = p.ledger();
            let _ = p.verify();
            let _ = p.summary();
            if access == Access::ReadWrite {
                if let Ok(Some(fid)) = p.find_patch("150999SJBG2025000001") {
                    let _ = p.set_text(fid, &[("BZ", "fuzz")]);
                }
            }
        }
    }
});
