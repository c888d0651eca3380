//! The check that modules depend only downward: each top-level module of the crate may use only
//! the modules listed before it in [`LAYERS`], the order of `src/lib.rs`'s layout list. Run it with
//! `cargo test --lib layering`. It reads the sources as text: every `crate::<module>` path outside
//! a comment counts, in test code too.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The crate's top-level modules, lowest first. A module uses only modules before it.
const LAYERS: &[&str] = &[
    "runtime",
    "records",
    "formats",
    "metrics",
    "network",
    "chaos",
    "generator",
    "scenario",
    "control",
    "sink",
    "transport",
    "kafka",
    "verify",
    "score",
    "fidelity",
    "cli",
];

fn source_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// The top-level modules a source text names as `crate::<module>`, outside comments.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let preceded_by_ident = code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
            let name: String = code[at + "crate::".len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !preceded_by_ident && !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

/// `(module, file, used module)` for every use of a module at or above the user's own layer.
fn upward_uses(src: &Path) -> Vec<(String, PathBuf, String)> {
    let mut found = Vec::new();
    for (rank, module) in LAYERS.iter().enumerate() {
        let dir = src.join(module);
        let mut files = Vec::new();
        if dir.is_dir() {
            source_files(&dir, &mut files);
        }
        let single = src.join(format!("{module}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "LAYERS names `{module}`, which has no src/{module}/ or src/{module}.rs");
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for used in used_modules(&text) {
                let allowed = LAYERS[..rank].contains(&used.as_str()) || used == *module;
                if !allowed {
                    found.push((module.to_string(), file.clone(), used));
                }
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let upward: Vec<String> = upward_uses(&src)
        .into_iter()
        .map(|(module, file, used)| format!("{module} uses {used} in {}", file.strip_prefix(&src).unwrap_or(&file).display()))
        .collect();
    assert!(upward.is_empty(), "modules must use only modules listed before them in LAYERS:\n{}", upward.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib.lines().filter_map(|line| line.strip_prefix("pub mod ")?.strip_suffix(';')).collect();
    let layered: BTreeSet<&str> = LAYERS.iter().copied().collect();
    assert_eq!(declared, layered, "src/lib.rs's modules and LAYERS differ");
}

#[test]
fn the_check_sees_paths_and_skips_comments() {
    let text = "use crate::sink::Sink;\n// crate::cli in a comment\nlet x = crate::records::Timestamp::now(); // crate::kafka\n$crate::verify\nmy_crate::cli";
    let used: Vec<String> = used_modules(text).into_iter().collect();
    assert_eq!(used, ["records", "sink"]);
    let tmp = tempfile::tempdir().unwrap();
    for module in LAYERS {
        fs::write(tmp.path().join(format!("{module}.rs")), "").unwrap();
    }
    fs::write(tmp.path().join("records.rs"), "use crate::sink::Sink;").unwrap();
    let upward = upward_uses(tmp.path());
    assert_eq!(upward.len(), 1, "{upward:?}");
    assert_eq!((upward[0].0.as_str(), upward[0].2.as_str()), ("records", "sink"));
}
