//! The tables of `client_report` and `cluster_report`: per workload, each client's median
//! time per batch and its rate in requests per second, then every ratio of this client to a
//! peer (the peer's median time over ours: above 1 means this client is faster) against its
//! target. With several criterion directories (one per run) each time is the median over the
//! runs of criterion's median, ratios are computed from those, and the `runs` columns give the
//! lowest and highest value of a single run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One workload: a criterion group of batches.
pub(crate) struct Workload {
    /// The group, without the suite's prefix (`client/`, `cluster/`).
    pub(crate) group: &'static str,
    /// What it does, for the table's title.
    pub(crate) title: &'static str,
    /// Requests per batch.
    pub(crate) batch: u64,
    /// This client's benchmarks: (id, label).
    pub(crate) ours: &'static [(&'static str, &'static str)],
    /// The peers: (id, label, target ratio ours/peer).
    pub(crate) peers: &'static [(&'static str, &'static str, Option<f64>)],
}

/// Criterion's median time, in nanoseconds, of one benchmark in one run.
fn median_ns(dir: &Path, suite: &str, group: &str, id: &str) -> Option<f64> {
    let path = dir
        .join(format!("{suite}_{group}"))
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// The median of the runs.
fn middle(runs: &[f64]) -> f64 {
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn spread(values: impl Iterator<Item = f64>, decimals: usize) -> String {
    let values: Vec<f64> = values.collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    format!("{low:.decimals$}–{high:.decimals$}")
}

fn time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

/// Prints the tables of `workloads` from the criterion directories given on the command line
/// (the workspace's `target/criterion` when none); fails when an estimate is missing.
pub(crate) fn report(suite: &str, workloads: &[Workload]) -> ExitCode {
    let mut dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion"));
    }
    println!("Runs: {}\n", dirs.len());
    let mut absent = Vec::new();
    let mut summary = Vec::new();
    let mut missed = 0;
    for w in workloads {
        let mut get = |id: &str| -> Option<Vec<f64>> {
            let runs: Option<Vec<f64>> = dirs
                .iter()
                .map(|d| median_ns(d, suite, w.group, id))
                .collect();
            if runs.is_none() {
                absent.push(format!("{suite}/{}/{id}", w.group));
            }
            runs
        };
        let ours: Vec<_> = w
            .ours
            .iter()
            .filter_map(|&(id, label)| Some((label, get(id)?)))
            .collect();
        let peers: Vec<_> = w
            .peers
            .iter()
            .filter_map(|&(id, label, target)| Some((label, target, get(id)?)))
            .collect();
        if ours.is_empty() && peers.is_empty() {
            continue;
        }
        let batch = w.batch as f64;
        let rate = |ns: f64| batch / ns * 1e6; // thousands of requests per second
        println!("### {} ({} requests per batch)\n", w.title, w.batch);
        println!("| client | median time per batch | k requests/s | runs (k requests/s) |");
        println!("|---|---:|---:|---:|");
        let all = ours
            .iter()
            .map(|(label, runs)| (*label, runs))
            .chain(peers.iter().map(|(label, _, runs)| (*label, runs)));
        for (label, runs) in all {
            let ns = middle(runs);
            println!(
                "| {label} | {} | {:.2} | {} |",
                time(ns),
                rate(ns),
                spread(runs.iter().map(|&r| rate(r)), 2)
            );
        }
        println!();
        for (our_label, our_runs) in &ours {
            for (peer_label, target, peer_runs) in &peers {
                let ratio = middle(peer_runs) / middle(our_runs);
                let per_run = peer_runs.iter().zip(our_runs.iter()).map(|(p, o)| p / o);
                let (target, met) = match target {
                    Some(t) if ratio >= *t => (format!("≥ {t}x"), "yes"),
                    Some(t) => {
                        missed += 1;
                        (format!("≥ {t}x"), "**no**")
                    }
                    None => ("—".to_owned(), ""),
                };
                summary.push(format!(
                    "| {} | {our_label} ({:.2}) | {peer_label} ({:.2}) | {ratio:.2}x | {} | {target} | {met} |",
                    w.group,
                    rate(middle(our_runs)),
                    rate(middle(peer_runs)),
                    spread(per_run, 2),
                ));
            }
        }
    }
    println!("### Ratios (k requests/s in brackets)\n");
    println!("| workload | ours | peer | ours/peer | runs | target | met |");
    println!("|---|---|---|---:|---:|---:|:---:|");
    for line in &summary {
        println!("{line}");
    }
    println!("\nTargets missed: {missed}");
    if absent.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("no estimates for: {}", absent.join(", "));
        ExitCode::FAILURE
    }
}
