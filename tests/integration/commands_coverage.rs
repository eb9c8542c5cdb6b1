//! Every generated command method is called by at least one integration test.
//!
//! The list comes from the generator (`redis_client::commands::METHODS`); the calls are found
//! by reading the test sources (`tests/integration`, `tests/commands`) for `.method(` and `.method::<`, the same scan that
//! `cargo xtask codegen` uses to fill the "Test" column of docs/commands.md.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use redis_client::commands::METHODS;

/// The identifiers `x` in `.x(` or `.x::<` on a line.
fn called_methods(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices('.').filter_map(move |(i, _)| {
        let rest = &line[i + 1..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let after = &rest[len..];
        (len > 0 && (after.starts_with('(') || after.starts_with("::<"))).then(|| &rest[..len])
    })
}

#[test]
fn every_generated_method_has_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["integration", "commands"] {
        for entry in fs::read_dir(root.join(dir)).expect("read a test directory") {
            files.push(entry.expect("directory entry").path());
        }
    }
    let mut called = BTreeSet::new();
    for path in files {
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("commands_coverage.rs") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("read a test file");
        for line in text.lines() {
            called.extend(called_methods(line).map(str::to_owned));
        }
    }
    let missing: Vec<String> = METHODS
        .iter()
        .filter(|m| !called.contains(m.method))
        .map(|m| format!("{} ({})", m.method, m.command))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} generated methods have no test: {}",
        missing.len(),
        METHODS.len(),
        missing.join(", ")
    );
}

#[test]
fn the_scan_finds_method_calls() {
    let found: Vec<&str> =
        called_methods("let n: i64 = c.incr(\"k\")?; c.get::<String>(k)").collect();
    assert_eq!(found, ["incr", "get"]);
}
