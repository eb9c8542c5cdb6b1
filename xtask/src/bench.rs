//! `cargo xtask bench`: runs the benchmarks of `crates/redis-bench` and draws one SVG bar chart
//! per workload into `docs/charts/`, comparing this project's code with the peers.
//!
//! Without `--charts-only` it runs the two scripts that produce the tables of
//! `docs/benchmarks.md` (`crates/redis-bench/run.sh`, the codec suite, and `run-client.sh`,
//! the client suite against a live redis-server), which print those tables, and then draws the
//! charts from the very runs the tables came from (`target/redis-bench/run-N` and
//! `target/redis-bench-client/run-N`). With `--charts-only` it runs nothing and draws the
//! charts from the criterion results already on disk.
//!
//! Each bar is one benchmark's throughput: the throughput criterion was given
//! (`benchmark.json`: requests, messages or bytes per iteration) over criterion's median time
//! per iteration (`estimates.json`); with several runs, the median over the runs of that
//! median, as `examples/report.rs` and `examples/client_report.rs` compute it.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: &str = "\
usage: cargo xtask bench [--charts-only] [--codec | --client | --cluster] [--runs N] [--from DIR]...
                         [--out DIR] [-- CRITERION_FILTER...]

  (default)      run crates/redis-bench/run.sh, run-client.sh and run-cluster.sh (RUNS runs
                 each, default 3; about 20 minutes on a 2-core machine), then write
                 docs/charts/*.svg from them
  --charts-only  run nothing: write the charts from the criterion results already on disk
                 (target/redis-bench/run-*, target/redis-bench-client/run-*,
                 target/redis-bench-cluster/run-*, and for workloads
                 not found there $CRITERION_HOME or target/criterion); alias --no-run
  --codec        only the codec suite (decode and encode benchmarks)
  --client       only the client suite (needs redis-server and redis-benchmark)
  --cluster      only the cluster suite (also needs redis-cli)
  --runs N       runs per suite (the scripts' RUNS; default 3)
  --from DIR     with --charts-only: read these criterion directories instead (repeatable;
                 several directories are runs of the same suite, medians are taken over them)
  --out DIR      write the SVG files here instead of docs/charts
  -- FILTER...   criterion filters passed to the scripts, e.g. `-- w2-get`
";

/// What a benchmark group's throughput counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quantity {
    /// Bytes per second.
    Bytes,
    /// Items per second, named by the noun ("requests", "messages").
    Items(&'static str),
}

/// One bar: a client's throughput in one workload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bar {
    pub(crate) label: String,
    /// Units (bytes or items) per second.
    pub(crate) per_second: f64,
    /// This project's code (drawn in the highlight colour).
    pub(crate) ours: bool,
}

/// One chart: a workload and a bar per client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chart {
    pub(crate) title: String,
    /// The line under the title (where the numbers come from).
    pub(crate) note: String,
    pub(crate) quantity: Quantity,
    pub(crate) bars: Vec<Bar>,
}

/// A suite of benchmarks: one script, the directories its runs go to, its workloads.
struct Suite {
    name: &'static str,
    /// The script, from the workspace root.
    script: &'static str,
    /// Where the script puts run N (`<runs_dir>/run-N`), from the workspace root.
    runs_dir: &'static str,
    groups: &'static [Group],
}

/// A criterion group (one workload) and how to draw it.
struct Group {
    /// Criterion's directory name of the group (`client/w2-get` is `client_w2-get`); also the
    /// chart's file name.
    dir: &'static str,
    title: &'static str,
    /// For a group whose throughput is in elements, what an element is.
    noun: &'static str,
    /// Known benchmarks in drawing order: (criterion id, label). Others found on disk are
    /// drawn after these, labelled with their id.
    benches: &'static [(&'static str, &'static str)],
}

const OWNED: &[(&str, &str)] = &[
    ("resp-proto", "resp-proto decode"),
    ("redis-protocol", "redis-protocol decode_bytes_mut"),
    ("redis-rs", "redis-rs Parser::parse_value"),
];
const BORROWED: &[(&str, &str)] = &[
    ("resp-proto", "resp-proto decode_frames"),
    ("redis-protocol", "redis-protocol decode_range"),
];
const W2: &[(&str, &str)] = &[
    ("ours-dedicated", "ours, dedicated connection"),
    ("ours-pool-of-1", "ours, pool of 1 (&Client)"),
    ("redis-rs", "redis-rs Connection"),
    ("redis-benchmark", "redis-benchmark -c 1 -P 1"),
];
const W3: &[(&str, &str)] = &[
    ("ours", "ours, Pipeline"),
    ("redis-rs", "redis-rs pipe()"),
    ("redis-benchmark", "redis-benchmark -c 1 -P <size>"),
];

const CODEC: Suite = Suite {
    name: "codec",
    script: "crates/redis-bench/run.sh",
    runs_dir: "target/redis-bench",
    groups: &[
        Group {
            dir: "owned_a_mixed_small",
            title: "Owned decoding (a): 1,000,000 small replies cycling +OK, :12345, $3 foo",
            noun: "",
            benches: OWNED,
        },
        Group {
            dir: "owned_b_bulk_array",
            title: "Owned decoding (b): one array of 100,000 bulk strings of 16 bytes",
            noun: "",
            benches: OWNED,
        },
        Group {
            dir: "owned_c_big_bulks",
            title: "Owned decoding (c): 10,000 bulk strings of 16 KiB, separate replies",
            noun: "",
            benches: OWNED,
        },
        Group {
            dir: "owned_d_xrange",
            title: "Owned decoding (d): one array of 100,000 XRANGE entries",
            noun: "",
            benches: OWNED,
        },
        Group {
            dir: "borrowed_a_mixed_small",
            title: "Borrowed decoding (a): 1,000,000 small replies cycling +OK, :12345, $3 foo",
            noun: "",
            benches: BORROWED,
        },
        Group {
            dir: "borrowed_b_bulk_array",
            title: "Borrowed decoding (b): one array of 100,000 bulk strings of 16 bytes",
            noun: "",
            benches: BORROWED,
        },
        Group {
            dir: "borrowed_c_big_bulks",
            title: "Borrowed decoding (c): 10,000 bulk strings of 16 KiB, separate replies",
            noun: "",
            benches: BORROWED,
        },
        Group {
            dir: "borrowed_d_xrange",
            title: "Borrowed decoding (d): one array of 100,000 XRANGE entries",
            noun: "",
            benches: BORROWED,
        },
        Group {
            dir: "encode_set_1m",
            title: "Encoding: 1,000,000 SET key:N <16-byte value> into a reused Vec",
            noun: "",
            benches: &[
                ("resp-proto", "resp-proto encode_command"),
                ("redis-rs", "redis-rs cmd().arg().arg()"),
                ("redis-rs-reused-cmd", "redis-rs reused Cmd (clear)"),
            ],
        },
    ],
};

const CLIENT: Suite = Suite {
    name: "client",
    script: "crates/redis-bench/run-client.sh",
    runs_dir: "target/redis-bench-client",
    groups: &[
        Group {
            dir: "client_w2-set",
            title: "W2 SET: sequential SETs of a 16-byte value, one connection",
            noun: "requests",
            benches: W2,
        },
        Group {
            dir: "client_w2-get",
            title: "W2 GET: sequential GETs of a 16-byte value, one connection",
            noun: "requests",
            benches: W2,
        },
        Group {
            dir: "client_w3-pipeline-100",
            title: "W3: SETs of a 16-byte value in pipelines of 100, one connection",
            noun: "requests",
            benches: W3,
        },
        Group {
            dir: "client_w3-pipeline-10000",
            title: "W3: SETs of a 16-byte value in pipelines of 10,000, one connection",
            noun: "requests",
            benches: W3,
        },
        Group {
            dir: "client_w4-get-8-threads",
            title: "W4: 8 threads sharing a pool of 8, GETs of a 16-byte value",
            noun: "requests",
            benches: &[
                ("ours-pool-of-8", "ours, pool of 8 (&Client)"),
                ("redis-rs-r2d2", "redis-rs + r2d2 (PING on checkout)"),
                (
                    "redis-rs-r2d2-no-test-on-checkout",
                    "redis-rs + r2d2, test_on_check_out(false)",
                ),
                ("redis-benchmark", "redis-benchmark -c 8"),
            ],
        },
        Group {
            dir: "client_w5-get-1mib",
            title: "W5: sequential GETs of a 1 MiB value, one connection",
            noun: "requests",
            benches: &[
                ("ours", "ours, pool of 1, Option<Vec<u8>>"),
                ("redis-rs", "redis-rs Connection"),
                ("redis-benchmark", "redis-benchmark -c 1 -P 1"),
            ],
        },
        Group {
            dir: "client_w5-lrange-1000",
            title: "W5: LRANGE mylist 0 999 over 1,000 elements of 16 bytes, one connection",
            noun: "requests",
            benches: &[
                ("ours", "ours, pool of 1, Vec<Vec<u8>>"),
                ("ours-bytes", "ours, pool of 1, Vec<Bytes>"),
                ("redis-rs", "redis-rs Connection, Vec<Vec<u8>>"),
                ("redis-benchmark", "redis-benchmark -c 1 -P 1"),
            ],
        },
        Group {
            dir: "client_pubsub-delivery",
            title: "Pub/sub: 16-byte messages delivered to one subscriber",
            noun: "messages",
            benches: &[
                ("ours", "ours, PubSub::get_message"),
                ("redis-rs", "redis-rs PubSub::get_message"),
            ],
        },
    ],
};

const CLUSTER: Suite = Suite {
    name: "cluster",
    script: "crates/redis-bench/run-cluster.sh",
    runs_dir: "target/redis-bench-cluster",
    groups: &[
        Group {
            dir: "cluster_pipeline-set",
            title: "Cluster: SETs of a 16-byte value in pipelines of 1,000 over 3 primaries",
            noun: "requests",
            benches: &[
                ("ours", "ours, ClusterClient::pipeline()"),
                ("redis-rs", "redis-rs cluster_pipe()"),
                ("redis-benchmark", "redis-benchmark --cluster -c 3 -P 1000"),
            ],
        },
        Group {
            dir: "cluster_get-8-threads",
            title: "Cluster: 8 threads, GETs of a 16-byte value over 3 primaries",
            noun: "requests",
            benches: &[
                ("ours-shared-client", "ours, one shared ClusterClient"),
                (
                    "redis-rs-connection-per-thread",
                    "redis-rs, one ClusterConnection per thread",
                ),
                ("redis-benchmark", "redis-benchmark --cluster -c 8"),
            ],
        },
    ],
};

const SUITES: [&Suite; 3] = [&CODEC, &CLIENT, &CLUSTER];

/// Parsed command line.
#[derive(Debug, Default)]
struct Options {
    charts_only: bool,
    codec: bool,
    client: bool,
    cluster: bool,
    runs: Option<u32>,
    from: Vec<PathBuf>,
    out: Option<PathBuf>,
    filters: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--charts-only" | "--no-run" => o.charts_only = true,
            "--codec" => o.codec = true,
            "--client" => o.client = true,
            "--cluster" => o.cluster = true,
            "--runs" => {
                let n = it.next().ok_or("--runs needs a number")?;
                let n: u32 = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--runs {n}: not a positive number"))?;
                o.runs = Some(n);
            }
            "--from" => o
                .from
                .push(PathBuf::from(it.next().ok_or("--from needs a directory")?)),
            "--out" => o.out = Some(PathBuf::from(it.next().ok_or("--out needs a directory")?)),
            "--" => o.filters.extend(it.by_ref().cloned()),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    if !o.from.is_empty() && !o.charts_only {
        return Err("--from reads existing results; use it with --charts-only".to_owned());
    }
    if o.charts_only && (o.runs.is_some() || !o.filters.is_empty()) {
        return Err(
            "--runs and criterion filters are for running the benchmarks, \
                    not for --charts-only"
                .to_owned(),
        );
    }
    Ok(o)
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `cargo xtask bench`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let root = root();
    let suites: Vec<&Suite> = SUITES
        .into_iter()
        .filter(|s| {
            let chosen = [
                ("codec", o.codec),
                ("client", o.client),
                ("cluster", o.cluster),
            ];
            // No choice means every suite.
            chosen.iter().all(|(_, on)| !on) || chosen.contains(&(s.name, true))
        })
        .collect();
    let out = o.out.clone().unwrap_or_else(|| root.join("docs/charts"));

    let mut charts = Vec::new();
    let mut failed = Vec::new();
    if o.charts_only {
        for suite in &suites {
            let sources = if o.from.is_empty() {
                default_sources(&root, suite)
            } else {
                vec![o.from.clone()]
            };
            charts.extend(collect(&root, suite, &sources));
        }
    } else {
        for suite in &suites {
            let (dirs, ok) = run_suite(&root, suite, o.runs, &o.filters)?;
            if !ok {
                failed.push(suite.script);
            }
            charts.extend(collect(&root, suite, &[dirs]));
        }
    }
    if charts.is_empty() {
        return Err(format!(
            "no criterion results found for the {} suite(s); run `cargo xtask bench` first",
            suites
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    write_charts(&root, &out, &charts)?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} failed (see above); the charts were drawn from what it left",
            failed.join(" and ")
        ))
    }
}

/// Runs one suite's script; returns the directories of its runs, and whether it succeeded
/// (with criterion filters, a missing benchmark is expected and not a failure).
fn run_suite(
    root: &Path,
    suite: &Suite,
    runs: Option<u32>,
    filters: &[String],
) -> Result<(Vec<PathBuf>, bool), String> {
    if suite.name != "codec" {
        crate::provision::ensure_redis()?;
    }
    eprintln!("xtask: running {} ({} suite)", suite.script, suite.name);
    let mut command = Command::new("bash");
    command.arg(suite.script).args(filters).current_dir(root);
    if let Some(n) = runs {
        command.env("RUNS", n.to_string());
    }
    let status = command
        .status()
        .map_err(|e| format!("could not run bash {}: {e}", suite.script))?;
    // The report at the end of the script exits non-zero when a benchmark is missing, as it
    // is with a criterion filter; the charts are drawn from what is there either way.
    if !status.success() {
        eprintln!(
            "xtask: {} exited with {status}; drawing the charts from the results it left",
            suite.script
        );
    }
    let ok = status.success() || !filters.is_empty();
    // The scripts' default, as in `runs=${RUNS:-3}`.
    let n = runs.unwrap_or_else(|| {
        env::var("RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3)
    });
    let dirs = (1..=n)
        .map(|i| root.join(suite.runs_dir).join(format!("run-{i}")))
        .collect();
    Ok((dirs, ok))
}

/// Where `--charts-only` looks, in order: the script's runs, then criterion's own directory.
fn default_sources(root: &Path, suite: &Suite) -> Vec<Vec<PathBuf>> {
    let mut runs: Vec<(u32, PathBuf)> = fs::read_dir(root.join(suite.runs_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let n = name.strip_prefix("run-")?.parse().ok()?;
            Some((n, entry.path()))
        })
        .collect();
    runs.sort();
    let criterion = env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion")))
        .unwrap_or_else(|| root.join("target/criterion"));
    vec![runs.into_iter().map(|(_, p)| p).collect(), vec![criterion]]
}

/// One benchmark's result in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Estimate {
    /// Criterion's median time per iteration, in nanoseconds.
    median_ns: f64,
    /// Units (bytes or elements) per iteration.
    per_iteration: f64,
    bytes: bool,
}

/// Reads `<dir>/<group>/<bench>/new/{estimates,benchmark}.json`.
fn read_estimate(bench_dir: &Path) -> Option<Estimate> {
    let json = |name: &str| -> Option<serde_json::Value> {
        let text = fs::read_to_string(bench_dir.join("new").join(name)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let median_ns = json("estimates.json")?["median"]["point_estimate"].as_f64()?;
    let (per_iteration, bytes) = throughput(&json("benchmark.json")?["throughput"])?;
    (median_ns > 0.0).then_some(Estimate {
        median_ns,
        per_iteration,
        bytes,
    })
}

/// Criterion's serialized `Throughput`: `{"Elements": n}`, `{"Bytes": n}`,
/// `{"BytesDecimal": n}` or `{"ElementsAndBytes": {"elements": n, "bytes": m}}`. Returns the
/// amount per iteration and whether it counts bytes.
fn throughput(value: &serde_json::Value) -> Option<(f64, bool)> {
    if let Some(n) = value["Elements"].as_f64() {
        Some((n, false))
    } else if let Some(n) = value["Bytes"].as_f64().or(value["BytesDecimal"].as_f64()) {
        Some((n, true))
    } else {
        value["ElementsAndBytes"]["elements"]
            .as_f64()
            .map(|n| (n, false))
    }
}

/// The median of `values` (not empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The charts of a suite: for each group, the first source (a list of run directories) that
/// has results for it.
fn collect(root: &Path, suite: &Suite, sources: &[Vec<PathBuf>]) -> Vec<(&'static str, Chart)> {
    let mut charts = Vec::new();
    for group in suite.groups {
        let found = sources.iter().find_map(|dirs| {
            let dirs: Vec<&PathBuf> = dirs.iter().filter(|d| d.join(group.dir).is_dir()).collect();
            let chart = chart_from(group, &dirs, root)?;
            Some((dirs, chart))
        });
        match found {
            Some((dirs, chart)) => {
                let shown: Vec<String> = dirs.iter().map(|d| shown_path(root, d)).collect();
                eprintln!(
                    "xtask: {}: {} bars from {}",
                    group.dir,
                    chart.bars.len(),
                    shown.join(", ")
                );
                charts.push((group.dir, chart));
            }
            None => eprintln!("xtask: {}: no results, no chart", group.dir),
        }
    }
    charts
}

/// `path` relative to the workspace root when it is inside it.
fn shown_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Builds one group's chart from the runs in `dirs`; `None` when no benchmark of it is there.
fn chart_from(group: &Group, dirs: &[&PathBuf], root: &Path) -> Option<Chart> {
    // Benchmark ids on disk, known ones first in their order, then the rest sorted.
    let mut on_disk: Vec<String> = dirs
        .iter()
        .flat_map(|d| {
            fs::read_dir(d.join(group.dir))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.path().join("new/estimates.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    on_disk.sort();
    on_disk.dedup();
    let mut ids: Vec<(String, String)> = group
        .benches
        .iter()
        .filter(|(id, _)| on_disk.iter().any(|d| d == id))
        .map(|&(id, label)| (id.to_owned(), label.to_owned()))
        .collect();
    for id in &on_disk {
        if !group.benches.iter().any(|(known, _)| known == id) {
            ids.push((id.clone(), id.clone()));
        }
    }

    let mut bars = Vec::new();
    let mut bytes = false;
    let mut runs_used = 0;
    for (id, label) in ids {
        let runs: Vec<Estimate> = dirs
            .iter()
            .filter_map(|d| read_estimate(&d.join(group.dir).join(&id)))
            .collect();
        let Some(first) = runs.first() else { continue };
        bytes = first.bytes;
        runs_used = runs_used.max(runs.len());
        let ns = median(&runs.iter().map(|r| r.median_ns).collect::<Vec<_>>());
        bars.push(Bar {
            label,
            per_second: first.per_iteration / ns * 1e9,
            ours: id.starts_with("ours") || id.starts_with("resp-proto"),
        });
    }
    if bars.is_empty() {
        return None;
    }
    let source = match dirs {
        [one] => shown_path(root, one),
        _ => {
            let parent = dirs[0].parent().unwrap_or(root);
            shown_path(root, &parent.join("run-*"))
        }
    };
    let runs = if runs_used == 1 {
        "one run".to_owned()
    } else {
        format!("median of {runs_used} runs")
    };
    Some(Chart {
        title: group.title.to_owned(),
        note: format!("criterion median time per iteration, {runs} ({source}); higher is better"),
        quantity: if bytes {
            Quantity::Bytes
        } else {
            Quantity::Items(group.noun)
        },
        bars,
    })
}

/// Writes `<out>/<name>.svg` for every chart and says which ones `docs/benchmarks.md` does
/// not show yet.
fn write_charts(root: &Path, out: &Path, charts: &[(&str, Chart)]) -> Result<(), String> {
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let doc = fs::read_to_string(root.join("docs/benchmarks.md")).unwrap_or_default();
    let mut unreferenced = Vec::new();
    for (name, chart) in charts {
        let path = out.join(format!("{name}.svg"));
        fs::write(&path, render_svg(chart))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if !doc.contains(&format!("charts/{name}.svg")) {
            unreferenced.push(format!("![{}](charts/{name}.svg)", chart.title));
        }
    }
    eprintln!(
        "xtask: wrote {} chart(s) to {}",
        charts.len(),
        shown_path(root, out)
    );
    if !unreferenced.is_empty() {
        eprintln!("xtask: docs/benchmarks.md does not show these yet:");
        for line in unreferenced {
            eprintln!("{line}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The SVG writer: a horizontal bar chart, one bar per client, plain SVG 1.1 with the generic
// sans-serif font (no web fonts, no scripts, no CSS beyond presentation attributes).

const FONT: &str = "font-family=\"sans-serif\"";
const OURS_COLOUR: &str = "#c0392b";
const PEER_COLOUR: &str = "#7b8794";
const MARGIN: f64 = 16.0;
const PLOT_WIDTH: f64 = 380.0;
const VALUE_WIDTH: f64 = 190.0;
const ROW: f64 = 28.0;
const BAR: f64 = 18.0;
/// Average advance of a character at 12 px in a sans-serif font, a little generous.
const CHAR_12PX: f64 = 6.9;

/// Escapes text for SVG content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A step of 1, 2, 2.5 or 5 times a power of ten giving at most 6 grid lines up to `max`,
/// and the top of the axis (a multiple of the step at or above `max`).
pub(crate) fn nice_axis(max: f64) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let top = (max / step - 1e-9).ceil().max(1.0) * step;
    (step, top)
}

/// The scale of a chart: divisor and unit text, e.g. `(1e3, "k requests/s")`.
pub(crate) fn scale(quantity: Quantity, max: f64) -> (f64, String) {
    match quantity {
        Quantity::Bytes => {
            let (div, unit) = if max >= 1e9 {
                (1e9, "GB/s")
            } else if max >= 1e6 {
                (1e6, "MB/s")
            } else {
                (1e3, "kB/s")
            };
            (div, unit.to_owned())
        }
        Quantity::Items(noun) => {
            let noun = if noun.is_empty() { "items" } else { noun };
            let (div, prefix) = if max >= 1e6 {
                (1e6, "M ")
            } else if max >= 1e3 {
                (1e3, "k ")
            } else {
                (1.0, "")
            };
            (div, format!("{prefix}{noun}/s"))
        }
    }
}

/// `1234567` as `1,234,567` (the digits of an integer part).
fn thousands(int: &str) -> String {
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

/// A value with three significant digits at most (at least the integer part), thousands
/// separated: `1,234`, `56.7`, `0.123`.
pub(crate) fn number(value: f64) -> String {
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else if value >= 1.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    match text.split_once('.') {
        Some((int, frac)) => format!("{}.{frac}", thousands(int)),
        None => thousands(&text),
    }
}

/// A number for an axis tick (no trailing zeros).
fn tick(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text.split_once('.') {
        Some((int, frac)) => format!("{}.{frac}", thousands(int)),
        None => thousands(text),
    }
}

/// The chart as a standalone SVG document.
pub(crate) fn render_svg(chart: &Chart) -> String {
    let max = chart.bars.iter().map(|b| b.per_second).fold(0.0, f64::max);
    let (divisor, unit) = scale(chart.quantity, max);
    let (step, top) = nice_axis(max / divisor);
    // The first bar of ours is what the peers are compared with.
    let reference = chart.bars.iter().find(|b| b.ours);
    let has_peers = chart.bars.iter().any(|b| !b.ours);
    let legend = match reference {
        Some(r) if has_peers => format!(
            "ours/peer: throughput of \u{201c}{}\u{201d} over the peer's (above 1: ours is faster)",
            r.label
        ),
        _ => String::new(),
    };

    let longest = chart
        .bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_width = (longest as f64 * CHAR_12PX + 12.0).clamp(120.0, 380.0);
    let plot_left = MARGIN + label_width;
    let title_width = chart.title.chars().count() as f64 * 8.3 + 2.0 * MARGIN;
    let note_width = chart.note.chars().count() as f64 * 6.4 + 2.0 * MARGIN;
    let legend_x = MARGIN + 156.0;
    let legend_width = legend_x + legend.chars().count() as f64 * 6.4 + MARGIN;
    let width = (plot_left + PLOT_WIDTH + VALUE_WIDTH + MARGIN)
        .max(title_width)
        .max(note_width)
        .max(legend_width)
        .ceil();
    let plot_top = 64.0;
    let plot_bottom = plot_top + chart.bars.len() as f64 * ROW;
    let legend_y = plot_bottom + 56.0;
    let height = (legend_y + 14.0).ceil();
    let x_of = |value: f64| plot_left + (value / divisor / top * PLOT_WIDTH).clamp(0.0, PLOT_WIDTH);

    let mut svg = String::new();
    let title = escape(&chart.title);
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{title}\">"
    );
    let _ = writeln!(svg, "<title>{title}</title>");
    let _ = writeln!(
        svg,
        "<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{MARGIN}\" y=\"24\" {FONT} font-size=\"15\" font-weight=\"bold\" \
         fill=\"#1f2933\">{title}</text>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{MARGIN}\" y=\"44\" {FONT} font-size=\"11\" fill=\"#52606d\">{}</text>",
        escape(&chart.note)
    );

    // Grid lines and their values.
    let ticks = (top / step).round() as usize;
    for i in 0..=ticks {
        let value = step * i as f64;
        let x = plot_left + value / top * PLOT_WIDTH;
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{plot_top}\" x2=\"{x:.1}\" y2=\"{plot_bottom}\" \
             stroke=\"{}\" stroke-width=\"1\"/>",
            if i == 0 { "#3e4c59" } else { "#e4e7eb" }
        );
        let _ = writeln!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" {FONT} font-size=\"11\" fill=\"#52606d\" \
             text-anchor=\"middle\">{}</text>",
            plot_bottom + 15.0,
            tick(value)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"11\" fill=\"#52606d\" \
         text-anchor=\"middle\">{}</text>",
        plot_left + PLOT_WIDTH / 2.0,
        plot_bottom + 32.0,
        escape(&unit)
    );

    // The bars, their labels and their values.
    for (i, bar) in chart.bars.iter().enumerate() {
        let y = plot_top + i as f64 * ROW + (ROW - BAR) / 2.0;
        let text_y = y + BAR / 2.0 + 4.0;
        let end = x_of(bar.per_second);
        let (colour, weight) = if bar.ours {
            (OURS_COLOUR, " font-weight=\"bold\"")
        } else {
            (PEER_COLOUR, "")
        };
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{text_y:.1}\" {FONT} font-size=\"12\"{weight} \
             fill=\"#1f2933\" text-anchor=\"end\">{}</text>",
            plot_left - 8.0,
            escape(&bar.label)
        );
        let _ = writeln!(
            svg,
            "<rect class=\"bar\" x=\"{plot_left}\" y=\"{y:.1}\" width=\"{:.1}\" \
             height=\"{BAR}\" fill=\"{colour}\"/>",
            end - plot_left
        );
        let mut value = number(bar.per_second / divisor);
        if let (false, Some(ours)) = (bar.ours, reference) {
            let _ = write!(
                value,
                "  (ours/peer {:.2}x)",
                ours.per_second / bar.per_second
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{text_y:.1}\" {FONT} font-size=\"12\"{weight} \
             fill=\"#1f2933\">{}</text>",
            end + 6.0,
            escape(&value)
        );
    }

    // Legend: the colours, and what the ratios compare.
    for (x, colour, text) in [
        (MARGIN, OURS_COLOUR, "this project"),
        (MARGIN + 96.0, PEER_COLOUR, "peers"),
    ] {
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>",
            legend_y - 9.0
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{legend_y:.1}\" {FONT} font-size=\"11\" \
             fill=\"#52606d\">{text}</text>",
            x + 14.0
        );
    }
    if !legend.is_empty() {
        let _ = writeln!(
            svg,
            "<text x=\"{legend_x}\" y=\"{legend_y:.1}\" {FONT} font-size=\"11\" \
             fill=\"#52606d\">{}</text>",
            escape(&legend)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn chart() -> Chart {
        Chart {
            title: "W2 GET: <16-byte> & \"more\"".to_owned(),
            note: "criterion median, one run".to_owned(),
            quantity: Quantity::Items("requests"),
            bars: vec![
                Bar {
                    label: "ours, pool of 1 (&Client)".to_owned(),
                    per_second: 40_000.0,
                    ours: true,
                },
                Bar {
                    label: "redis-rs Connection".to_owned(),
                    per_second: 32_000.0,
                    ours: false,
                },
                Bar {
                    label: "redis-benchmark".to_owned(),
                    per_second: 50_000.0,
                    ours: false,
                },
            ],
        }
    }

    /// The `width` attribute of every `<rect class="bar">`.
    fn bar_widths(svg: &str) -> Vec<f64> {
        svg.lines()
            .filter(|l| l.starts_with("<rect class=\"bar\""))
            .map(|l| {
                let rest = &l[l.find(" width=\"").expect("width") + 8..];
                rest[..rest.find('"').expect("quote")]
                    .parse()
                    .expect("number")
            })
            .collect()
    }

    #[test]
    fn one_bar_per_client_proportional_to_throughput() {
        let svg = render_svg(&chart());
        let widths = bar_widths(&svg);
        assert_eq!(widths.len(), 3);
        // 50k is the top of a 0..50k axis (step 10k): the full plot width.
        assert!((widths[2] - PLOT_WIDTH).abs() < 0.1, "{widths:?}");
        assert!((widths[0] - PLOT_WIDTH * 0.8).abs() < 0.1, "{widths:?}");
        assert!((widths[1] - PLOT_WIDTH * 0.64).abs() < 0.1, "{widths:?}");
    }

    #[test]
    fn labels_values_and_ratios() {
        let svg = render_svg(&chart());
        assert!(svg.contains(">40.0</text>"), "{svg}");
        assert!(svg.contains(">32.0  (ours/peer 1.25x)</text>"), "{svg}");
        assert!(svg.contains(">50.0  (ours/peer 0.80x)</text>"), "{svg}");
        assert!(svg.contains(">k requests/s</text>"));
        assert!(svg.contains(&format!("fill=\"{OURS_COLOUR}\"")));
        // Two peer bars and one legend swatch per colour.
        assert_eq!(svg.matches(&format!("fill=\"{PEER_COLOUR}\"")).count(), 3);
        assert_eq!(svg.matches(&format!("fill=\"{OURS_COLOUR}\"")).count(), 2);
        assert!(svg.contains("throughput of \u{201c}ours, pool of 1 (&amp;Client)\u{201d}"));
    }

    #[test]
    fn text_is_escaped_and_the_document_is_well_formed() {
        let svg = render_svg(&chart());
        assert!(svg.contains("W2 GET: &lt;16-byte&gt; &amp; &quot;more&quot;"));
        assert!(svg.contains("ours, pool of 1 (&amp;Client)"));
        assert!(!svg.contains("(&Client)"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert_eq!(svg.matches("<svg").count(), 1);
        // No external resources.
        assert!(!svg.contains("href"));
        assert!(!svg.contains("@import"));
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(render_svg(&chart()), render_svg(&chart()));
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_axis(50.0), (10.0, 50.0));
        assert_eq!(nice_axis(47.3), (10.0, 50.0));
        assert_eq!(nice_axis(0.41), (0.1, 0.5));
        assert_eq!(nice_axis(203.0), (50.0, 250.0));
        assert_eq!(nice_axis(12.0), (2.5, 12.5));
        assert_eq!(nice_axis(0.0), (1.0, 1.0));
        let (step, top) = nice_axis(1234.0);
        assert_eq!(step, 250.0);
        assert_eq!(top, 1250.0);
    }

    #[test]
    fn units_scale_with_the_largest_value() {
        assert_eq!(scale(Quantity::Bytes, 2.0e11).1, "GB/s");
        assert_eq!(scale(Quantity::Bytes, 4.1e8), (1e6, "MB/s".to_owned()));
        assert_eq!(
            scale(Quantity::Items("requests"), 1.2e6),
            (1e6, "M requests/s".to_owned())
        );
        assert_eq!(scale(Quantity::Items("messages"), 900.0).1, "messages/s");
    }

    #[test]
    fn numbers_have_three_significant_digits_and_separators() {
        assert_eq!(number(1234.4), "1,234");
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(number(56.74), "56.7");
        assert_eq!(number(5.678), "5.68");
        assert_eq!(number(0.1234), "0.123");
        assert_eq!(number(100.0), "100");
        assert_eq!(tick(12.5), "12.5");
        assert_eq!(tick(2000.0), "2,000");
        assert_eq!(tick(0.0), "0");
    }

    #[test]
    fn throughput_kinds() {
        let v: serde_json::Value = serde_json::json!({"Elements": 10000});
        assert_eq!(throughput(&v), Some((10000.0, false)));
        let v: serde_json::Value = serde_json::json!({"Bytes": 7333331});
        assert_eq!(throughput(&v), Some((7333331.0, true)));
        let v: serde_json::Value =
            serde_json::json!({"ElementsAndBytes": {"elements": 5, "bytes": 80}});
        assert_eq!(throughput(&v), Some((5.0, false)));
        assert_eq!(throughput(&serde_json::Value::Null), None);
    }

    #[test]
    fn charts_from_criterion_directories() {
        let tmp = env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let write = |run: &str, id: &str, ns: f64| {
            let dir = tmp.join(run).join("client_w2-get").join(id).join("new");
            fs::create_dir_all(&dir).expect("mkdir");
            fs::write(
                dir.join("estimates.json"),
                format!("{{\"median\":{{\"point_estimate\":{ns}}}}}"),
            )
            .expect("write");
            fs::write(
                dir.join("benchmark.json"),
                "{\"throughput\":{\"Elements\":10000}}",
            )
            .expect("write");
        };
        // Three runs: medians 200 ms (ours) and 250 ms (redis-rs), plus an unknown id.
        for (run, ours, rs) in [
            ("run-1", 2.0e8, 2.6e8),
            ("run-2", 1.9e8, 2.5e8),
            ("run-3", 2.1e8, 2.4e8),
        ] {
            write(run, "ours-dedicated", ours);
            write(run, "redis-rs", rs);
        }
        write("run-1", "zz-new-peer", 1.0e9);
        let dirs = vec![tmp.join("run-1"), tmp.join("run-2"), tmp.join("run-3")];
        let charts: BTreeMap<_, _> = collect(&tmp, &CLIENT, &[dirs]).into_iter().collect();
        assert_eq!(charts.len(), 1);
        let chart = &charts["client_w2-get"];
        let labels: Vec<&str> = chart.bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "ours, dedicated connection",
                "redis-rs Connection",
                "zz-new-peer"
            ]
        );
        assert!((chart.bars[0].per_second - 50_000.0).abs() < 1e-6);
        assert!((chart.bars[1].per_second - 40_000.0).abs() < 1e-6);
        assert!(chart.bars[0].ours && !chart.bars[1].ours);
        assert_eq!(chart.quantity, Quantity::Items("requests"));
        assert!(
            chart.note.contains("median of 3 runs (run-*)"),
            "{}",
            chart.note
        );
        let _ = fs::remove_dir_all(&tmp);
    }

    #[test]
    fn options() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let o = parse(&args(&["--charts-only", "--client"])).expect("ok");
        assert!(o.charts_only && o.client && !o.codec);
        let o = parse(&args(&["--runs", "1", "--", "w2-get"])).expect("ok");
        assert_eq!((o.runs, o.filters), (Some(1), vec!["w2-get".to_owned()]));
        assert!(parse(&args(&["--from", "x"])).is_err());
        assert!(parse(&args(&["--no-run", "--runs", "2"])).is_err());
        assert!(parse(&args(&["--runs", "0"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
    }
}
