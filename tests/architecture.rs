//! The layout rules of ARCHITECTURE.md, checked against the source:
//!
//! - every module of `src/` is named in the `layers` block of ARCHITECTURE.md;
//! - a module refers (`crate::…`) only to modules on lower lines of that block, never to one on
//!   its own line or above, so the imports run one way and form no circle;
//! - no file under `src/` reaches `MAX_SOURCE_LINES` lines.
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Longest a source file may grow (ARCHITECTURE.md, "Style").
const MAX_SOURCE_LINES: usize = 600;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module name -> layer (0 is the bottom), read from the ```layers block of ARCHITECTURE.md,
/// whose first line is the top layer.
fn layers() -> BTreeMap<String, usize> {
    let doc = fs::read_to_string(repo().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let block = doc
        .split("```layers\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has a ```layers block");
    let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut rank = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let names = line.split('#').next().unwrap_or("");
        for name in names.split_whitespace() {
            let previous = rank.insert(name.to_string(), lines.len() - 1 - i);
            assert!(
                previous.is_none(),
                "{name} is listed twice in the layers block"
            );
        }
    }
    rank
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`lib.rs` and `main.rs` are `main`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => "main".to_string(),
        Some(name) => name.to_string(),
        None => first.to_string(),
    }
}

/// Every `crate::NAME` in the code of `text` (comments skipped), with its line number.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `sluice_crate::` or similar
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                refs.push((n + 1, name));
            }
        }
    }
    refs
}

#[test]
fn imports_run_down_the_layers_of_architecture_md() {
    let rank = layers();
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(&own) = rank.get(&module) else {
            problems.push(format!(
                "{}: module '{module}' is not in the layers block of ARCHITECTURE.md",
                file.display()
            ));
            continue;
        };
        let text = fs::read_to_string(file).unwrap();
        for (line, target) in crate_refs(&text) {
            if target == module {
                continue;
            }
            match rank.get(&target) {
                None => problems.push(format!(
                    "{}:{line}: crate::{target} is not in the layers block",
                    file.display()
                )),
                Some(&theirs) if theirs >= own => problems.push(format!(
                    "{}:{line}: {module} may not import {target} ({})",
                    file.display(),
                    if theirs == own {
                        "same layer"
                    } else {
                        "a layer above"
                    }
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} import(s) break the layer rule:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_layer_check_sees_a_violation() {
    // The checker itself: a reference up the layers is found, a comment is not.
    let refs = crate_refs("use crate::reactor::Server; // crate::conn\nlet x = crate::http::X;");
    assert_eq!(
        refs,
        vec![(1, "reactor".to_string()), (2, "http".to_string())]
    );
    let rank = layers();
    assert!(rank["reactor"] > rank["conn"] && rank["conn"] > rank["http"]);
}

#[test]
fn no_source_file_reaches_the_line_cap() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = fs::read_to_string(f).unwrap().lines().count();
            (lines >= MAX_SOURCE_LINES).then(|| format!("{} has {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files at or over {MAX_SOURCE_LINES} lines:\n{}",
        long.join("\n")
    );
}
