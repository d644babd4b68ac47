//! The architecture rules that the crate graph and the sources must keep (ARCHITECTURE.md):
//! tuban-model and tuban-core never depend on the UI stack and tuban-model on no I/O library,
//! read from Cargo.lock (the resolved graph, not a text search); no SQL outside the store; no
//! source file over 600 lines and no function over 100 lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common;

/// Packages of Cargo.lock and the names of their dependencies.
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(common::root().join("Cargo.lock")).unwrap();
    let mut graph = BTreeMap::new();
    for block in text.split("[[package]]").skip(1) {
        let name = block.lines().find_map(|l| l.strip_prefix("name = ")).unwrap().trim_matches('"').to_string();
        let mut deps = Vec::new();
        if let Some(start) = block.find("dependencies = [") {
            let list = &block[start + "dependencies = [".len()..];
            let list = &list[..list.find(']').unwrap()];
            for d in list.split(',') {
                let d = d.trim().trim_matches('"');
                if let Some(n) = d.split_whitespace().next() {
                    deps.push(n.to_string());
                }
            }
        }
        graph.entry(name).or_insert_with(Vec::new).extend(deps);
    }
    graph
}

/// Everything `krate` depends on, directly or not, per Cargo.lock (normal, build and dev
/// dependencies together: the strictest reading).
fn closure(graph: &BTreeMap<String, Vec<String>>, krate: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![krate.to_string()];
    while let Some(k) = todo.pop() {
        for d in graph.get(&k).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn the_core_and_the_model_never_depend_on_the_ui_stack() {
    let graph = lock_graph();
    assert!(
        graph.contains_key("tuban-core") && graph.contains_key("tuban-app"),
        "workspace crates missing from Cargo.lock"
    );
    let ui = ["egui", "eframe", "walkers", "rfd", "winit", "egui_kittest", "tuban-app"];
    for krate in ["tuban-model", "tuban-core"] {
        let deps = closure(&graph, krate);
        let leaks: Vec<_> = ui.iter().filter(|u| deps.contains(**u)).collect();
        assert!(leaks.is_empty(), "{krate} depends on the UI stack: {leaks:?}");
    }
    // The window does pull it in, so the check above can fail.
    assert!(closure(&graph, "tuban-app").contains("egui"));
    let model = closure(&graph, "tuban-model");
    for io in ["gdal", "rusqlite", "ureq", "printpdf", "tuban-core"] {
        assert!(!model.contains(io), "tuban-model depends on {io}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The sources of the workspace's libraries and the binary (not tests, benches or examples).
fn sources() -> Vec<(String, String)> {
    let root = common::root();
    let mut files = Vec::new();
    for dir in ["src", "crates/tuban-model/src", "crates/tuban-core/src", "crates/tuban-app/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 40, "{} source files", files.len());
    files
        .into_iter()
        .map(|f| {
            (f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"), std::fs::read_to_string(&f).unwrap())
        })
        .collect()
}

#[test]
fn no_model_file_does_io_and_no_ui_crate_is_named_outside_the_app() {
    let mut leaks = Vec::new();
    for (rel, text) in sources() {
        for (n, line) in text.lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            if rel.starts_with("crates/tuban-model/")
                && ["std::fs", "std::net", "std::process", "File::open"].iter().any(|io| l.contains(io))
            {
                leaks.push(format!("{rel}:{}: {line}", n + 1));
            }
            if !rel.starts_with("crates/tuban-app/")
                && ["egui::", "eframe::", "walkers::", "rfd::"].iter().any(|k| l.contains(k))
            {
                leaks.push(format!("{rel}:{}: {line}", n + 1));
            }
        }
    }
    assert!(leaks.is_empty(), "I/O in the model or UI crates outside the app:\n{}", leaks.join("\n"));
}

#[test]
fn no_sql_outside_the_store() {
    // The MBTiles reader queries its own tile file, which is not a project; the hub's module
    // speaks PostgreSQL to the hub (no rusqlite there: the project file is reached through the
    // store).
    let allowed = |rel: &str| {
        rel.starts_with("crates/tuban-core/src/store/")
            || rel == "crates/tuban-core/src/imagery/pyramid.rs"
            || (rel.starts_with("crates/tuban-core/src/hub/") && !text_uses_rusqlite(rel))
    };
    let mut leaks = Vec::new();
    for (rel, text) in sources() {
        if allowed(&rel) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let sql =
                ["SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM", "CREATE TABLE"].iter().any(|k| line.contains(k));
            if line.contains("rusqlite") || (sql && line.contains('"')) {
                leaks.push(format!("{rel}:{}: {line}", n + 1));
            }
        }
    }
    assert!(leaks.is_empty(), "SQL outside the store:\n{}", leaks.join("\n"));
}

fn text_uses_rusqlite(rel: &str) -> bool {
    std::fs::read_to_string(crate::common::root().join(rel)).is_ok_and(|t| t.contains("rusqlite"))
}

/// Lengths of the functions of a file: a line starting a `fn` item up to the line that closes
/// its body at the same indentation.
fn function_lengths(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let is_fn = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "async fn ",
            "pub async fn ",
            "const fn ",
            "pub const fn ",
            "unsafe fn ",
        ]
        .iter()
        .any(|p| t.starts_with(p));
        if !is_fn || line.trim_end().ends_with(';') {
            continue;
        }
        let indent = line.len() - t.len();
        let close = " ".repeat(indent) + "}";
        if let Some(end) = lines[i + 1..].iter().position(|l| l.trim_end() == close) {
            let name = t.split('(').next().unwrap_or(t).to_string();
            out.push((i + 1, name, end + 2));
        }
    }
    out
}

#[test]
fn no_file_over_600_lines_and_no_function_over_100() {
    let mut long = Vec::new();
    for (rel, text) in sources() {
        let n = text.lines().count();
        if n > 600 {
            long.push(format!("{rel}: {n} lines"));
        }
        for (line, name, len) in function_lengths(&text) {
            if len > 100 {
                long.push(format!("{rel}:{line}: {name}: {len} lines"));
            }
        }
    }
    assert!(long.is_empty(), "too long:\n{}", long.join("\n"));
}

#[test]
fn the_function_length_reader_measures() {
    let text = "fn a() {\n    x();\n}\n\nimpl T {\n    pub fn b(&self) {\n        y();\n        z();\n    }\n}\n";
    let got = function_lengths(text);
    assert_eq!(got, vec![(1, "fn a".to_string(), 3), (6, "pub fn b".to_string(), 4)]);
}
