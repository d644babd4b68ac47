//! Architecture invariant 1: nothing outside `src/app/` and `src/main.rs` uses egui, eframe,
//! walkers or rfd; the core runs headless.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn ui_crates_only_in_the_app() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 10);
    let mut leaks = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if rel.starts_with("app/") || rel == "main.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            for krate in ["egui", "eframe", "walkers", "rfd"] {
                if l.starts_with(&format!("use {krate}")) || l.contains(&format!("{krate}::")) {
                    leaks.push(format!("src/{rel}:{}: {line}", n + 1));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "UI crates outside src/app/:\n{}", leaks.join("\n"));
}
