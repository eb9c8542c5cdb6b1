//! Turns criterion's estimates of one or more `cargo bench -p redis-bench` runs into the
//! markdown tables of `docs/benchmarks.md`: per workload, the median time of each client, its
//! rate, the ratio ours/peer (the peer's median time over ours: above 1 means resp-proto is
//! faster) and the target.
//!
//! ```text
//! cargo run -p redis-bench --profile bench --example report [CRITERION_DIR...]
//! ```
//!
//! With several directories (one per run, see `crates/redis-bench/run.sh`) each time is the
//! median over the runs of criterion's median, the ratio is computed from those, and the
//! `runs` column gives the lowest and highest ratio of a single run. `CRITERION_DIR` defaults
//! to the workspace's `target/criterion`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use redis_bench::{SetCommands, workloads};

/// Criterion's median time, in nanoseconds, of one benchmark in one run.
fn median_ns(dir: &Path, group: &str, client: &str) -> Option<f64> {
    let path = dir
        .join(group.replace('/', "_"))
        .join(client)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

/// One benchmark's median time in each run, in nanoseconds.
type Runs = Vec<f64>;

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

/// One client's row: its medians, rates, and its standing against resp-proto.
struct Row<'a> {
    client: &'a str,
    runs: Runs,
    /// For a peer: the minimum ours/peer speed ratio asked for, if any.
    target: Option<f64>,
}

/// Prints one table; returns how many targets were missed.
fn table(
    title: &str,
    bytes: usize,
    items: usize,
    item: &str,
    ours: &[f64],
    rows: &[Row<'_>],
) -> usize {
    let mut missed = 0;
    let ours_ns = middle(ours);
    println!("### {title}\n");
    println!("| client | median | GB/s | M {item}/s | ours/peer | runs | target | met |");
    println!("|---|---:|---:|---:|---:|---:|---:|:---:|");
    for row in rows {
        let ns = middle(&row.runs);
        let gbps = bytes as f64 / ns;
        let rate = items as f64 / ns * 1e3;
        let (ratio, spread, target, met) = if row.client.starts_with("resp-proto") {
            ("—".to_owned(), "—".to_owned(), "—".to_owned(), "")
        } else {
            let ratio = ns / ours_ns;
            let per_run: Vec<f64> = row.runs.iter().zip(ours).map(|(p, o)| p / o).collect();
            let low = per_run.iter().copied().fold(f64::INFINITY, f64::min);
            let high = per_run.iter().copied().fold(0.0, f64::max);
            let spread = format!("{low:.2}–{high:.2}");
            let (target, met) = match row.target {
                Some(t) if ratio >= t => (format!("≥ {t}x"), "yes"),
                Some(t) => {
                    missed += 1;
                    (format!("≥ {t}x"), "**no**")
                }
                None => ("—".to_owned(), ""),
            };
            (format!("{ratio:.2}x"), spread, target, met)
        };
        println!(
            "| {} | {} | {gbps:.3} | {rate:.2} | {ratio} | {spread} | {target} | {met} |",
            row.client,
            time(ns)
        );
    }
    println!();
    missed
}

fn main() -> ExitCode {
    let mut dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion"));
    }
    println!("Runs: {}\n", dirs.len());
    let mut missed = 0;
    let mut absent = Vec::new();
    let mut get = |group: &str, client: &str| -> Option<Runs> {
        let runs: Option<Runs> = dirs
            .iter()
            .map(|dir| median_ns(dir, group, client))
            .collect();
        if runs.is_none() {
            absent.push(format!("{group}/{client}"));
        }
        runs
    };

    println!("## Owned decoding\n");
    let owned = [
        ("a_mixed_small", Some(2.5), 5.0),
        ("b_bulk_array", Some(1.5), 5.0),
        ("c_big_bulks", None, 20.0),
        ("d_xrange", Some(2.5), 5.0),
    ];
    let mut borrowed_rows = Vec::new();
    for w in workloads() {
        let Some(&(_, rp_target, rs_target)) = owned.iter().find(|(name, ..)| *name == w.name)
        else {
            continue;
        };
        let group = format!("owned/{}", w.name);
        if let (Some(ours), Some(rp), Some(rs)) = (
            get(&group, "resp-proto"),
            get(&group, "redis-protocol"),
            get(&group, "redis-rs"),
        ) {
            let rows = [
                Row {
                    client: "resp-proto `decode`",
                    runs: ours.clone(),
                    target: None,
                },
                Row {
                    client: "redis-protocol `decode_bytes_mut`",
                    runs: rp,
                    target: rp_target,
                },
                Row {
                    client: "redis-rs `Parser::parse_value`",
                    runs: rs,
                    target: Some(rs_target),
                },
            ];
            let title = format!("owned/{}: {}", w.name, w.description);
            missed += table(&title, w.bytes.len(), w.items, w.item, &ours, &rows);
        }
        let group = format!("borrowed/{}", w.name);
        if let (Some(ours), Some(rp)) = (get(&group, "resp-proto"), get(&group, "redis-protocol")) {
            borrowed_rows.push((w, ours, rp));
        }
    }

    println!("## Borrowed decoding\n");
    for (w, ours, rp) in borrowed_rows {
        let rows = [
            Row {
                client: "resp-proto `decode_frames`",
                runs: ours.clone(),
                target: None,
            },
            Row {
                client: "redis-protocol `decode_range`",
                runs: rp,
                target: Some(1.0),
            },
        ];
        let title = format!("borrowed/{}: {}", w.name, w.description);
        missed += table(&title, w.bytes.len(), w.items, w.item, &ours, &rows);
    }

    println!("## Encoding\n");
    let cmds = SetCommands::new(1_000_000);
    let group = "encode/set_1m";
    if let (Some(ours), Some(rs), Some(reused)) = (
        get(group, "resp-proto"),
        get(group, "redis-rs"),
        get(group, "redis-rs-reused-cmd"),
    ) {
        let rows = [
            Row {
                client: "resp-proto `encode_command`",
                runs: ours.clone(),
                target: None,
            },
            Row {
                client: "redis-rs `cmd().arg().arg()` + `write_packed_command`",
                runs: rs,
                target: Some(2.0),
            },
            Row {
                client: "redis-rs reused `Cmd` (`clear`) + `write_packed_command`",
                runs: reused,
                target: Some(2.0),
            },
        ];
        let title = "encode/set_1m: 1,000,000 `SET key:N <16-byte value>` into a reused Vec";
        missed += table(
            title,
            cmds.encoded_len(),
            cmds.len(),
            "commands",
            &ours,
            &rows,
        );
    }

    println!("Targets missed: {missed}");
    if absent.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("no estimates for: {}", absent.join(", "));
        ExitCode::FAILURE
    }
}
