//! The kept fuzz corpus (fuzz/corpus.tar.xz, minimised by cargo-fuzz) and the seeds replayed
//! through the same entry points as the fuzz targets, on every CI run: an input that once
//! crashed, hung or broke a round trip fails the suite, naming the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use tuban_core::store::{Access, Project};

use crate::common;

/// The corpus unpacked into a temp dir (with the seeds beside it), per target.
fn inputs() -> (tempfile::TempDir, Vec<(String, PathBuf)>) {
    let dir = tempfile::tempdir().unwrap();
    let fuzz = common::root().join("fuzz");
    let out = Command::new("tar").arg("-xJf").arg(fuzz.join("corpus.tar.xz")).arg("-C").arg(dir.path()).output();
    let out = out.expect("tar (with xz) is needed to unpack fuzz/corpus.tar.xz");
    assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
    let mut files = Vec::new();
    for root in [dir.path().join("corpus"), fuzz.join("seeds")] {
        for target in ["template", "encoding", "photo", "project_open"] {
            for e in std::fs::read_dir(root.join(target)).into_iter().flatten().flatten() {
                files.push((target.to_string(), e.path()));
            }
        }
    }
    (dir, files)
}

fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(t) = tuban_model::Template::from_toml(text, "fuzz.toml") {
        let again = tuban_model::Template::from_toml(&t.to_toml(), "fuzz-again.toml")
            .unwrap_or_else(|e| panic!("a parsed template does not parse again: {e}"));
        assert_eq!(again.spec, t.spec, "the template changed in a TOML round trip");
    }
}

fn encoding(data: &[u8]) {
    let text = tuban_core::import::encoding::dbf_text_bytes(data);
    let _ = tuban_core::import::encoding::detect(&text);
    let _ = tuban_core::import::encoding::detect(data);
    if let Some(b) = data.get(29) {
        let _ = tuban_core::import::encoding::ldid_encoding(*b);
    }
}

fn photo(data: &[u8]) {
    let _ = tuban_core::evidence::read_photo(data, "fuzz.jpg");
}

fn project_open(data: &[u8], dir: &Path) {
    let path = dir.join("fuzz.gpkg");
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    std::fs::write(&path, data).unwrap();
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
}

#[test]
fn the_kept_fuzz_corpus_replays_without_a_panic() {
    let (_dir, files) = inputs();
    let work = tempfile::tempdir().unwrap();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut failures = Vec::new();
    for (target, file) in &files {
        let data = std::fs::read(file).unwrap();
        let run = catch_unwind(AssertUnwindSafe(|| match target.as_str() {
            "template" => template(&data),
            "encoding" => encoding(&data),
            "photo" => photo(&data),
            _ => project_open(&data, work.path()),
        }));
        if let Err(e) = run {
            let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            failures.push(format!("{target}: {}: {}", file.display(), why.unwrap_or_default()));
        }
        *counts.entry(target.clone()).or_default() += 1;
    }
    eprintln!("replayed {counts:?}");
    // The archive holds thousands of inputs; an empty replay would prove nothing.
    assert!(counts.values().all(|n| *n > 100), "{counts:?}");
    assert!(failures.is_empty(), "{} inputs failed:\n{}", failures.len(), failures.join("\n"));
}
