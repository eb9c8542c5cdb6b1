//! Replays the cargo-fuzz seed corpus (`fuzz/corpus/<target>/`) and every crash reproducer
//! (`testdata/crashes/`) through the same checks the fuzz targets run (`common/check.rs`), on
//! stable, and keeps the seeds generated from the vector table in step with it.
//!
//! The seeds named `v-<vector>` are generated from `testdata/vectors.txt`; after changing the
//! table, regenerate them with `RESP_PROTO_BLESS=1 cargo test -p resp-proto --test corpus`.
//! Other files in the corpus directories (inputs a fuzzer found) are replayed as they are.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use common::check::{self, TARGETS};
use common::vectors::{self, Expected};

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir(target: &str) -> PathBuf {
    crate_dir().join("fuzz/corpus").join(target)
}

/// The regular files of `dir`, sorted, skipping README files.
fn files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("README"))
        })
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file, and fails listing every file it panics on.
fn replay(paths: &[PathBuf], checks: &[(&str, check::Target)]) {
    let mut failures = Vec::new();
    for path in paths {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (name, check) in checks {
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(format!("{name}: {}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing inputs:\n{}",
        failures.join("\n")
    );
}

#[test]
fn replay_fuzz_corpus() {
    for (target, check) in TARGETS {
        let paths = files(&corpus_dir(target));
        assert!(paths.len() >= 24, "{target}: only {} seeds", paths.len());
        replay(&paths, &[(target, check)]);
    }
}

#[test]
fn replay_crash_reproducers() {
    // Every reproducer goes through every check, whatever target found it.
    let paths = files(&crate_dir().join("testdata/crashes"));
    replay(&paths, &TARGETS);
}

/// The seeds each target gets from the vector table, by file name.
fn seeds_from_vectors() -> BTreeMap<(&'static str, String), Vec<u8>> {
    let mut seeds = BTreeMap::new();
    for (index, vector) in vectors::load().iter().enumerate() {
        let name = format!("v-{}", vector.name);
        let input = &vector.input;
        seeds.insert(("parse_oneshot", name.clone()), input.clone());
        // Cycle through the chunking modes, with varied parameters.
        let [mode, param] = [(index % 5) as u8, (index * 37 % 256) as u8];
        seeds.insert(
            ("parse_chunked", name.clone()),
            [&[mode, param][..], input].concat(),
        );
        let header = check::limits_header(vector.limits);
        seeds.insert(("limits", name.clone()), [&header[..], input].concat());
        if matches!(vector.expected, Expected::Value(_)) {
            seeds.insert(("roundtrip", name), input.clone());
        }
    }
    seeds
}

#[test]
fn seed_corpus_matches_vectors() {
    let seeds = seeds_from_vectors();
    let bless = std::env::var_os("RESP_PROTO_BLESS").is_some();
    let mut stale = Vec::new();
    for ((target, name), bytes) in &seeds {
        let path = corpus_dir(target).join(name);
        if std::fs::read(&path).ok().as_ref() == Some(bytes) {
            continue;
        }
        if bless {
            std::fs::create_dir_all(corpus_dir(target)).expect("create the corpus directory");
            std::fs::write(&path, bytes).expect("write a seed");
        } else {
            stale.push(format!("missing or different: {}", path.display()));
        }
    }
    // Generated seeds whose vector is gone.
    for (target, _) in TARGETS {
        for path in files(&corpus_dir(target)) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name.filter(|n| n.starts_with("v-")) else {
                continue;
            };
            if !seeds.contains_key(&(target, name)) {
                if bless {
                    std::fs::remove_file(&path).expect("remove a stale seed");
                } else {
                    stale.push(format!("no such vector: {}", path.display()));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "the seed corpus is out of step with testdata/vectors.txt; regenerate it with \
         RESP_PROTO_BLESS=1 cargo test -p resp-proto --test corpus\n{}",
        stale.join("\n")
    );
}

#[test]
fn limits_header_round_trips() {
    let limits = resp_proto::Limits::default()
        .max_depth(3)
        .max_aggregate_len(5);
    let header = check::limits_header(limits);
    assert_eq!(check::limits_from(header), limits);
    let default = resp_proto::Limits::default();
    assert_eq!(check::limits_from(check::limits_header(default)), default);
}
