//! `cargo xtask release <VERSION>`: prepares a release without publishing anything.
//!
//! 1. Checks that the docs build (`RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
//!    --locked`) before touching a file.
//! 2. Bumps `[workspace.package] version` and the `version` of every internal path dependency
//!    in `[workspace.dependencies]` of the root `Cargo.toml` (the member crates inherit both),
//!    and updates `Cargo.lock` (`cargo update --workspace --offline`).
//! 3. Turns the `## [Unreleased]` section of `CHANGELOG.md` into `## [VERSION] - DATE` under a
//!    fresh, empty `## [Unreleased]`.
//! 4. Runs `cargo publish --dry-run` for every publishable crate in one invocation, in
//!    dependency order: cargo packages them all, then verifies each one against the packages of
//!    the crates it depends on (a temporary local registry overlay), so crates whose workspace
//!    dependencies are not on crates.io yet are fully verified too. The command always carries
//!    `--dry-run`; publishing is left to a person (the order to do it in is printed).
//!
//! `--dry` prints what would change and the commands that would run, and does neither.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage: cargo xtask release <VERSION> [--dry] [--date YYYY-MM-DD]

  VERSION        the new version (semver, greater than the current one), e.g. 0.2.0
  --dry          print the changes and commands; write nothing, run nothing
  --date DATE    the date of the changelog section (default: today, UTC)
";

/// A semantic version: `MAJOR.MINOR.PATCH[-PRE][+BUILD]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<String>,
    build: Option<String>,
}

impl Version {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a version (MAJOR.MINOR.PATCH[-PRE][+BUILD])");
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (text, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let numbers: Vec<u64> = core
            .split('.')
            .map(|n| {
                let leading_zero = n.len() > 1 && n.starts_with('0');
                if leading_zero || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    n.parse().ok()
                }
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let [major, minor, patch] = numbers[..] else {
            return Err(bad());
        };
        let identifiers_ok = |s: &str| {
            s.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        };
        if pre.is_some_and(|p| !identifiers_ok(p)) || build.is_some_and(|b| !identifiers_ok(b)) {
            return Err(bad());
        }
        Ok(Version {
            major,
            minor,
            patch,
            pre: pre.map_or_else(Vec::new, |p| p.split('.').map(str::to_owned).collect()),
            build: build.map(str::to_owned),
        })
    }

    /// Semver precedence (the build metadata does not count).
    pub(crate) fn precedence(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let core =
            (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        if core != Ordering::Equal {
            return core;
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) => {}
        }
        for (a, b) in self.pre.iter().zip(&other.pre) {
            let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                (Err(_), Err(_)) => a.cmp(b),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        self.pre.len().cmp(&other.pre.len())
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        if let Some(build) = &self.build {
            write!(f, "+{build}")?;
        }
        Ok(())
    }
}

/// One edit of a text file, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    /// 1-based line number.
    pub(crate) line: usize,
    pub(crate) before: String,
    pub(crate) after: String,
}

/// The `[section]` a header line opens, if it is one (`[[array]]` tables give `None`).
fn section_of(line: &str) -> Option<&str> {
    let t = line.trim();
    let t = t.split('#').next().unwrap_or(t).trim();
    if t.starts_with("[[") {
        return None;
    }
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// Finds `key = "value"` in `line` (as a whole key: `rust-version` is not `version`) and
/// returns the byte range of `value`.
fn quoted_value(line: &str, key: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(found) = line[from..].find(key) {
        let start = from + found;
        from = start + key.len();
        let before = line[..start].chars().next_back();
        if before.is_some_and(|c| !(c == ' ' || c == '\t' || c == '{' || c == ',')) {
            continue;
        }
        let rest = line[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(value) = rest.strip_prefix('"') else {
            continue;
        };
        let value_start = line.len() - value.len();
        let end = value.find('"')?;
        return Some((value_start, value_start + end));
    }
    None
}

/// The `[workspace.package] version` of a root manifest.
pub(crate) fn workspace_version(manifest: &str) -> Result<String, String> {
    let mut section = "";
    for line in manifest.lines() {
        if let Some(s) = section_of(line) {
            section = s;
        } else if section == "workspace.package"
            && line.trim_start().starts_with("version")
            && let Some((a, b)) = quoted_value(line, "version")
        {
            return Ok(line[a..b].to_owned());
        }
    }
    Err("Cargo.toml has no `version = \"...\"` in [workspace.package]".to_owned())
}

/// The root manifest with `[workspace.package] version` and the `version` of every internal
/// path dependency in `[workspace.dependencies]` set to `new` (an operator such as `=` in
/// front of a dependency's version is kept). Returns the new text and the edits.
pub(crate) fn bump_manifest(manifest: &str, new: &str) -> Result<(String, Vec<Edit>), String> {
    let mut out = String::with_capacity(manifest.len() + 64);
    let mut edits = Vec::new();
    let mut section = String::new();
    let mut package_version = false;
    for (i, line) in manifest.split_inclusive('\n').enumerate() {
        if let Some(s) = section_of(line) {
            section = s.to_owned();
            out.push_str(line);
            continue;
        }
        let code = line.split('#').next().unwrap_or(line);
        let target = match section.as_str() {
            "workspace.package" if code.trim_start().starts_with("version") => {
                quoted_value(code, "version")
            }
            "workspace.dependencies" if quoted_value(code, "path").is_some() => {
                quoted_value(code, "version")
            }
            _ => None,
        };
        let Some((a, b)) = target else {
            out.push_str(line);
            continue;
        };
        let old = &line[a..b];
        let operator: String = old
            .chars()
            .take_while(|c| matches!(c, '=' | '^' | '~' | ' '))
            .collect();
        let replaced = format!("{}{operator}{new}{}", &line[..a], &line[b..]);
        if section == "workspace.package" {
            package_version = true;
        }
        if replaced != line {
            edits.push(Edit {
                line: i + 1,
                before: line.trim_end().to_owned(),
                after: replaced.trim_end().to_owned(),
            });
        }
        out.push_str(&replaced);
    }
    if !package_version {
        return Err("Cargo.toml has no `version = \"...\"` in [workspace.package]".to_owned());
    }
    Ok((out, edits))
}

/// Whether a line is a markdown link reference definition (`[label]: url`).
fn is_link_reference(line: &str) -> bool {
    line.starts_with('[') && line.find("]:").is_some_and(|i| !line[1..i].contains('['))
}

/// CHANGELOG.md with the Unreleased section turned into the section of `version`, dated
/// `date`, under a new empty Unreleased section. A Keep a Changelog compare link for
/// Unreleased (`[Unreleased]: <base>/compare/<from>...HEAD`) is moved on to `v<version>` and
/// one for the new version added.
pub(crate) fn release_changelog(text: &str, version: &str, date: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let is_unreleased = |l: &str| {
        let h = l.trim().to_ascii_lowercase();
        h == "## [unreleased]" || h == "## unreleased"
    };
    let start = lines
        .iter()
        .position(|l| is_unreleased(l))
        .ok_or("CHANGELOG.md has no `## [Unreleased]` section")?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## ") || is_link_reference(l))
        .map_or(lines.len(), |p| start + 1 + p);
    let heading = format!("## [{version}]");
    if lines
        .iter()
        .any(|l| l.trim() == heading || l.starts_with(&format!("{heading} ")))
    {
        return Err(format!("CHANGELOG.md already has a section {heading}"));
    }
    let body = &lines[start + 1..end];
    let first = body.iter().position(|l| !l.trim().is_empty());
    let last = body.iter().rposition(|l| !l.trim().is_empty());
    let (Some(first), Some(last)) = (first, last) else {
        return Err(
            "the Unreleased section of CHANGELOG.md is empty: nothing to release".to_owned(),
        );
    };

    let mut out: Vec<String> = lines[..start].iter().map(|l| (*l).to_owned()).collect();
    out.push(lines[start].to_owned());
    out.push(String::new());
    out.push(format!("{heading} - {date}"));
    out.push(String::new());
    out.extend(body[first..=last].iter().map(|l| (*l).to_owned()));
    if end < lines.len() {
        out.push(String::new());
    }
    for line in &lines[end..] {
        let lower = line.to_ascii_lowercase();
        if let (true, Some(compare), Some(from_end)) = (
            lower.starts_with("[unreleased]:"),
            line.find("/compare/"),
            line.rfind("...HEAD"),
        ) {
            let base = line["[unreleased]:".len()..compare].trim();
            let from = &line[compare + "/compare/".len()..from_end];
            out.push(format!("[Unreleased]: {base}/compare/v{version}...HEAD"));
            out.push(format!("[{version}]: {base}/compare/{from}...v{version}"));
        } else {
            out.push((*line).to_owned());
        }
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    Ok(joined)
}

/// Days since 1970-01-01 to a (year, month, day) date (proleptic Gregorian calendar).
pub(crate) fn civil_date(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_date((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

fn valid_date(date: &str) -> bool {
    let parts: Vec<&str> = date.split('-').collect();
    matches!(parts[..], [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2
        && date.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d.parse::<u32>().unwrap_or(0)))
}

/// A workspace member that can be published, from `cargo metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Crate {
    pub(crate) name: String,
    pub(crate) version: String,
    /// Normal and build dependencies on other workspace members: (name, version requirement).
    pub(crate) internal: Vec<(String, String)>,
    /// What crates.io would refuse: missing description or license.
    pub(crate) problems: Vec<String>,
    pub(crate) repository: Option<String>,
}

/// The publishable members of a workspace from `cargo metadata --no-deps` output. Fails when
/// a publishable crate depends on a member that is not publishable.
pub(crate) fn publishable(metadata: &serde_json::Value) -> Result<Vec<Crate>, String> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;
    let can_publish = |p: &serde_json::Value| match &p["publish"] {
        serde_json::Value::Null => true,
        serde_json::Value::Array(registries) => registries.iter().any(|r| r == "crates-io"),
        _ => false,
    };
    let members: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut crates = Vec::new();
    for p in packages.iter().filter(|p| can_publish(p)) {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let mut internal = Vec::new();
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or_default();
            let dev = d["kind"].as_str() == Some("dev");
            if dev || d["path"].is_null() || !members.contains(&dep) {
                continue;
            }
            let target = packages.iter().find(|q| q["name"] == dep);
            if target.is_some_and(|q| !can_publish(q)) {
                return Err(format!(
                    "{name} depends on {dep}, which is `publish = false`: it cannot be published"
                ));
            }
            let req = d["req"].as_str().unwrap_or("*").to_owned();
            internal.push((dep.to_owned(), req));
        }
        let mut problems = Vec::new();
        if p["description"].as_str().is_none_or(str::is_empty) {
            problems.push("no description".to_owned());
        }
        if p["license"].is_null() && p["license_file"].is_null() {
            problems.push("no license or license-file".to_owned());
        }
        crates.push(Crate {
            name,
            version: p["version"].as_str().unwrap_or_default().to_owned(),
            internal,
            problems,
            repository: p["repository"].as_str().map(str::to_owned),
        });
    }
    Ok(crates)
}

/// The crates in an order where each comes after the crates it depends on; among crates that
/// are ready at the same time, the one earlier in `preferred` (then by name) goes first.
pub(crate) fn publish_order(crates: &[Crate], preferred: &[String]) -> Result<Vec<String>, String> {
    let rank = |name: &str| {
        preferred
            .iter()
            .position(|p| p == name)
            .unwrap_or(preferred.len())
    };
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&Crate> = crates.iter().collect();
    while !left.is_empty() {
        let ready = left
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.internal
                    .iter()
                    .all(|(dep, _)| done.contains(dep) || !crates.iter().any(|k| &k.name == dep))
            })
            .min_by_key(|(_, c)| (rank(&c.name), c.name.clone()))
            .map(|(i, _)| i);
        let Some(i) = ready else {
            let names: Vec<&str> = left.iter().map(|c| c.name.as_str()).collect();
            return Err(format!("dependency cycle among {}", names.join(", ")));
        };
        done.push(left.remove(i).name.clone());
    }
    Ok(done)
}

/// The internal crates in the order `[workspace.dependencies]` declares them.
fn declared_order(manifest: &str) -> Vec<String> {
    let mut section = "";
    let mut names = Vec::new();
    for line in manifest.lines() {
        if let Some(s) = section_of(line) {
            section = s;
        } else if section == "workspace.dependencies"
            && quoted_value(line, "path").is_some()
            && let Some((name, _)) = line.split_once('=')
        {
            names.push(name.trim().to_owned());
        }
    }
    names
}

/// The arguments of the publish check. It always carries `--dry-run`: xtask never publishes.
pub(crate) fn publish_check_args(order: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["publish", "--dry-run", "--allow-dirty", "--locked"]
        .map(str::to_owned)
        .to_vec();
    for name in order {
        args.push("-p".to_owned());
        args.push(name.clone());
    }
    args
}

/// Lines of `text` that pin an internal crate to a version `old` satisfies but `new` does not
/// (`redis-client = "0.1"` in a README), so a person can decide whether to update them.
pub(crate) fn stale_mentions(text: &str, crates: &[String], old: &str) -> Vec<(usize, String)> {
    let old_parts: Vec<&str> = old
        .split(['-', '+'])
        .next()
        .unwrap_or(old)
        .split('.')
        .collect();
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mentions = crates.iter().any(|name| {
            let Some(at) = line.find(name.as_str()) else {
                return false;
            };
            let rest = &line[at + name.len()..];
            let value = quoted_value(rest, "version")
                .map(|(a, b)| &rest[a..b])
                .or_else(|| {
                    let r = rest.trim_start().strip_prefix('=')?.trim_start();
                    let v = r.strip_prefix('"')?;
                    v.find('"').map(|e| &v[..e])
                });
            value.is_some_and(|v| {
                let v = v.trim_start_matches(['=', '^', '~', ' ']);
                let parts: Vec<&str> = v.split('.').collect();
                !parts.is_empty() && parts.len() <= 3 && old_parts.starts_with(&parts)
            })
        });
        if mentions {
            found.push((i + 1, line.to_owned()));
        }
    }
    found
}

struct Options {
    version: Version,
    dry: bool,
    date: String,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut version = None;
    let mut dry = false;
    let mut date = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dry" | "--dry-run" => dry = true,
            "--date" => {
                let d = it.next().ok_or("--date needs YYYY-MM-DD")?;
                if !valid_date(d) {
                    return Err(format!("--date {d}: not a YYYY-MM-DD date"));
                }
                date = Some(d.clone());
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option `{flag}`\n\n{USAGE}"));
            }
            v if version.is_none() => version = Some(Version::parse(v)?),
            extra => return Err(format!("unexpected argument `{extra}`\n\n{USAGE}")),
        }
    }
    Ok(Options {
        version: version.ok_or_else(|| format!("which version?\n\n{USAGE}"))?,
        dry,
        date: date.unwrap_or_else(today),
    })
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(root());
    command
}

/// Runs a cargo command, echoing it first and its standard error as it comes; returns the
/// lines of its standard error.
fn run_cargo(args: &[String], envs: &[(&str, &str)], what: &str) -> Result<Vec<String>, String> {
    let shown: String = envs
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\" "))
        .collect::<String>()
        + "cargo "
        + &args.join(" ");
    eprintln!("\nxtask: {what}: {shown}");
    let mut child = cargo()
        .args(args)
        .envs(envs.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    let mut lines = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            lines.push(line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(lines)
    } else {
        Err(format!("{what} failed: `{shown}` exited with {status}"))
    }
}

/// The `repository:` line of `cargo info` output.
pub(crate) fn info_repository(output: &str) -> Option<&str> {
    output
        .lines()
        .find_map(|l| l.strip_prefix("repository:"))
        .map(str::trim)
}

/// Which of the crates' names crates.io already has for a crate of another repository (asked
/// with `cargo info` from outside the workspace, so the local crate is not what it finds).
fn names_taken(order: &[String], ours: Option<&str>) -> Vec<String> {
    let mut taken = Vec::new();
    for name in order {
        let Ok(output) = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .args(["info", name.as_str(), "--registry", "crates-io", "--quiet"])
            .current_dir(env::temp_dir())
            .stdin(Stdio::null())
            .output()
        else {
            continue;
        };
        if !output.status.success() {
            continue; // not on crates.io (or no network: the publish check said so already)
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let theirs = info_repository(&text);
        if theirs.is_none() || theirs != ours {
            taken.push(format!(
                "{name} (repository {})",
                theirs.unwrap_or("not given")
            ));
        }
    }
    taken
}

fn metadata() -> Result<serde_json::Value, String> {
    let output = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata: {e}"))
}

/// Markdown and manifest files a version could be written in by hand.
fn docs_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    for dir in [root.join("docs"), root.join("crates")] {
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if path.is_dir() && !matches!(name.as_ref(), "target" | "spec" | "testdata") {
                    stack.push(path);
                } else if name.ends_with(".md") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

/// `cargo xtask release`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let root = root();
    let manifest_path = root.join("Cargo.toml");
    let changelog_path = root.join("CHANGELOG.md");
    let manifest = fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    let changelog = fs::read_to_string(&changelog_path)
        .map_err(|e| format!("cannot read {}: {e}", changelog_path.display()))?;

    let current_text = workspace_version(&manifest)?;
    let current = Version::parse(&current_text)?;
    let new = o.version.to_string();
    if o.version.precedence(&current) != std::cmp::Ordering::Greater {
        return Err(format!(
            "{new} is not greater than the current version {current}"
        ));
    }

    let crates = publishable(&metadata()?)?;
    let mut problems = String::new();
    for c in &crates {
        if c.version != current_text {
            let _ = writeln!(
                problems,
                "  {} has version {}, not the workspace's {current_text} (does it set \
                 `version.workspace = true`?)",
                c.name, c.version
            );
        }
        for p in &c.problems {
            let _ = writeln!(problems, "  {}: {p} (crates.io requires it)", c.name);
        }
    }
    if !problems.is_empty() {
        return Err(format!("the crates are not ready to publish:\n{problems}"));
    }
    let order = publish_order(&crates, &declared_order(&manifest))?;

    let (new_manifest, edits) = bump_manifest(&manifest, &new)?;
    let new_changelog = release_changelog(&changelog, &new, &o.date)?;

    println!("Release {current} -> {new} ({})\n", o.date);
    println!("Cargo.toml:");
    for e in &edits {
        println!("  {:>3}: - {}\n       + {}", e.line, e.before, e.after);
    }
    println!("Cargo.lock: the workspace members' versions (cargo update --workspace --offline)");
    println!(
        "CHANGELOG.md: `## [Unreleased]` becomes `## [{new}] - {}`:",
        o.date
    );
    let section: Vec<&str> = new_changelog
        .lines()
        .skip_while(|l| !l.starts_with(&format!("## [{new}]")))
        .take_while(|l| !l.starts_with(&format!("## [{current}]")) && !is_link_reference(l))
        .collect();
    for line in section.iter().take(12) {
        println!("  | {line}");
    }
    if section.len() > 12 {
        println!("  | ... ({} more lines)", section.len() - 12);
    }
    println!(
        "\nPublish order (crates.io, publish = false skipped): {}",
        order.join(", ")
    );
    let doc_args: Vec<String> = ["doc", "--workspace", "--no-deps", "--locked"]
        .map(str::to_owned)
        .to_vec();
    let update_args: Vec<String> = ["update", "--workspace", "--offline"]
        .map(str::to_owned)
        .to_vec();
    let publish_args = publish_check_args(&order);
    println!("Commands:");
    println!(
        "  RUSTDOCFLAGS=\"-D warnings\" cargo {}",
        doc_args.join(" ")
    );
    println!("  cargo {}", update_args.join(" "));
    println!("  cargo {}", publish_args.join(" "));

    let names: Vec<String> = crates.iter().map(|c| c.name.clone()).collect();
    let mut stale = Vec::new();
    for file in docs_files(&root) {
        if let Ok(text) = fs::read_to_string(&file) {
            for (line, content) in stale_mentions(&text, &names, &current_text) {
                let shown = file
                    .strip_prefix(&root)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                stale.push(format!("  {shown}:{line}: {}", content.trim()));
            }
        }
    }
    if !stale.is_empty() {
        println!(
            "\nThese lines name the old version {current_text}; update them by hand if \
             they should name {new}:"
        );
        for s in &stale {
            println!("{s}");
        }
    }

    if o.dry {
        println!("\n--dry: nothing written, nothing run.");
        return Ok(());
    }

    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(&root)
        .output()
        .map(|out| !out.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        eprintln!(
            "\nxtask: note: the working tree has uncommitted changes; the packages checked \
             below include them (--allow-dirty)"
        );
    }

    // 1. Docs, before any file changes.
    run_cargo(
        &doc_args,
        &[("RUSTDOCFLAGS", "-D warnings")],
        "checking that the docs build",
    )?;

    // 2. Version bump, lock file, changelog.
    fs::write(&manifest_path, &new_manifest)
        .map_err(|e| format!("cannot write {}: {e}", manifest_path.display()))?;
    let undo = "(undo with `git checkout Cargo.toml Cargo.lock CHANGELOG.md`)";
    run_cargo(&update_args, &[], "updating Cargo.lock")
        .map_err(|e| format!("{e}; Cargo.toml is already bumped {undo}"))?;
    fs::write(&changelog_path, &new_changelog)
        .map_err(|e| format!("cannot write {}: {e}", changelog_path.display()))?;

    // Every publishable crate and internal requirement now names the new version.
    let mut wrong = Vec::new();
    for c in publishable(&metadata()?)? {
        if c.version != new {
            wrong.push(format!("{} is still {}", c.name, c.version));
        }
        for (dep, req) in &c.internal {
            if req.trim_start_matches(['=', '^', '~', ' ']) != new {
                wrong.push(format!("{} requires {dep} {req}", c.name));
            }
        }
    }
    if !wrong.is_empty() {
        return Err(format!(
            "after the bump: {}; fix those manifests by hand {undo}",
            wrong.join("; ")
        ));
    }

    // 3. Package and verify every crate, in dependency order, without uploading.
    let output = run_cargo(
        &publish_args,
        &[],
        "packaging and verifying every crate (dry run, nothing is uploaded)",
    )
    .map_err(|e| format!("{e}\nThe version bump and changelog are written {undo}"))?;

    // 4. What the dry run cannot see: names on crates.io that belong to another project.
    let existing: Vec<&String> = output
        .iter()
        .filter(|l| l.contains("already exists on crates.io"))
        .collect();
    let ours = crates.first().and_then(|c| c.repository.as_deref());
    let taken = names_taken(&order, ours);

    println!(
        "\nPackaged and verified: {}. Nothing was published.",
        order.join(", ")
    );
    if !existing.is_empty() || !taken.is_empty() {
        println!("\nWARNING: a real `cargo publish` would be refused for some crates:");
        for line in existing {
            println!("  {}", line.trim_start_matches("warning: "));
        }
        for t in &taken {
            println!("  crates.io already has a crate named {t}");
        }
        println!("  Rename those crates (package name) or get ownership before publishing.");
    }
    println!("\nRelease {current} -> {new} prepared. Next, by hand:");
    println!("  git diff    # review Cargo.toml, Cargo.lock, CHANGELOG.md");
    println!("  git commit -am \"Release {new}\" && git tag v{new}");
    for name in &order {
        println!("  cargo publish -p {name}");
    }
    println!("  (or all at once, in that order: cargo publish --workspace)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.1.0"
edition = "2024"
rust-version = "1.95"

[workspace.dependencies]
# Internal crates, declared once.
resp-proto = { path = "crates/resp-proto", version = "0.1.0" }
redis-conn = { version = "=0.1.0", path = "crates/redis-conn" } # pinned
bytes = { version = "1.10", default-features = false }
url = "2.5"

[profile.bench]
debug = 1
"#;

    #[test]
    fn bump_edits_the_workspace_version_and_internal_requirements_only() {
        let (text, edits) = bump_manifest(MANIFEST, "0.2.0").expect("bump");
        assert_eq!(edits.len(), 3, "{edits:?}");
        assert!(text.contains("[workspace.package]\nversion = \"0.2.0\"\n"));
        assert!(
            text.contains("resp-proto = { path = \"crates/resp-proto\", version = \"0.2.0\" }\n")
        );
        assert!(text.contains(
            "redis-conn = { version = \"=0.2.0\", path = \"crates/redis-conn\" } # pinned\n"
        ));
        // Untouched: other versions, rust-version, comments, layout.
        assert!(text.contains("rust-version = \"1.95\"\n"));
        assert!(text.contains("bytes = { version = \"1.10\", default-features = false }\n"));
        assert!(text.contains("url = \"2.5\"\n"));
        assert_eq!(text.lines().count(), MANIFEST.lines().count());
        assert_eq!(edits[0].line, 5);
        assert_eq!(edits[0].before, "version = \"0.1.0\"");
        assert_eq!(edits[0].after, "version = \"0.2.0\"");
        assert_eq!(workspace_version(&text), Ok("0.2.0".to_owned()));
        // Bumping again to the same version changes nothing.
        let (again, edits) = bump_manifest(&text, "0.2.0").expect("bump");
        assert_eq!(again, text);
        assert!(edits.is_empty());
    }

    #[test]
    fn bump_needs_a_workspace_version() {
        assert!(bump_manifest("[package]\nversion = \"0.1.0\"\n", "0.2.0").is_err());
        assert!(workspace_version("[workspace]\n").is_err());
        assert_eq!(declared_order(MANIFEST), ["resp-proto", "redis-conn"]);
    }

    #[test]
    fn bump_of_the_real_manifest() {
        let real = fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
        let current = workspace_version(&real).expect("version");
        let (text, edits) = bump_manifest(&real, "99.0.0").expect("bump");
        // The package version and one requirement per internal crate.
        assert_eq!(edits.len(), 1 + declared_order(&real).len());
        assert!(!text.contains(&format!("\"{current}\"")));
        assert_eq!(workspace_version(&text), Ok("99.0.0".to_owned()));
    }

    const CHANGELOG: &str = "# Changelog

Intro.

## [Unreleased]

### Added

- Everything.

## [0.1.0] - 2026-01-01

- First.

[Unreleased]: https://example.invalid/repo/compare/v0.1.0...HEAD
[0.1.0]: https://example.invalid/repo/releases/tag/v0.1.0
";

    #[test]
    fn changelog_section_moves_under_the_version() {
        let out = release_changelog(CHANGELOG, "0.2.0", "2026-11-25").expect("release");
        assert_eq!(
            out,
            "# Changelog

Intro.

## [Unreleased]

## [0.2.0] - 2026-11-25

### Added

- Everything.

## [0.1.0] - 2026-01-01

- First.

[Unreleased]: https://example.invalid/repo/compare/v0.2.0...HEAD
[0.2.0]: https://example.invalid/repo/compare/v0.1.0...v0.2.0
[0.1.0]: https://example.invalid/repo/releases/tag/v0.1.0
"
        );
        // The released changelog has an empty Unreleased section: nothing more to release.
        let err = release_changelog(&out, "0.3.0", "2026-11-26").expect_err("empty");
        assert!(err.contains("empty"), "{err}");
        assert!(release_changelog(CHANGELOG, "0.1.0", "2026-11-25").is_err());
        assert!(release_changelog("# Changelog\n", "0.2.0", "2026-11-25").is_err());
    }

    #[test]
    fn changelog_without_links_or_older_sections() {
        let text = "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- A.\n";
        let out = release_changelog(text, "1.0.0", "2027-01-02").expect("release");
        assert_eq!(
            out,
            "# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2027-01-02\n\n### Added\n\n- A.\n"
        );
    }

    #[test]
    fn versions_parse_and_order() {
        let v = |s: &str| Version::parse(s).expect(s);
        assert_eq!(v("1.2.3").to_string(), "1.2.3");
        assert_eq!(v("1.0.0-rc.1+build.5").to_string(), "1.0.0-rc.1+build.5");
        for bad in [
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "a.b.c",
            "1.2.3-",
            "1.2.3-a..b",
            "",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        use std::cmp::Ordering::*;
        let cmp = |a: &str, b: &str| v(a).precedence(&v(b));
        assert_eq!(cmp("0.2.0", "0.1.9"), Greater);
        assert_eq!(cmp("0.10.0", "0.9.0"), Greater);
        assert_eq!(cmp("1.0.0", "1.0.0-rc.1"), Greater);
        assert_eq!(cmp("1.0.0-rc.2", "1.0.0-rc.10"), Less);
        assert_eq!(cmp("1.0.0-alpha", "1.0.0-alpha.1"), Less);
        assert_eq!(cmp("1.0.0-1", "1.0.0-alpha"), Less);
        assert_eq!(cmp("1.0.0+a", "1.0.0+b"), Equal);
    }

    #[test]
    fn dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(20_417), (2025, 11, 25));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert!(valid_date("2026-11-25"));
        assert!(!valid_date("2026-13-01"));
        assert!(!valid_date("26-11-25"));
        assert_eq!(today().len(), 10);
    }

    fn krate(name: &str, deps: &[&str]) -> Crate {
        Crate {
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            internal: deps
                .iter()
                .map(|d| ((*d).to_owned(), "^0.1.0".to_owned()))
                .collect(),
            problems: Vec::new(),
            repository: None,
        }
    }

    #[test]
    fn dependency_order() {
        let crates = [
            krate("redis-client", &["redis-ext", "redis-pool", "resp-proto"]),
            krate("redis-commands", &["resp-proto"]),
            krate("redis-conn", &["resp-proto"]),
            krate("redis-ext", &["redis-commands", "redis-conn", "redis-pool"]),
            krate("redis-pool", &["redis-conn"]),
            krate("resp-proto", &[]),
        ];
        let preferred: Vec<String> = [
            "resp-proto",
            "redis-conn",
            "redis-pool",
            "redis-commands",
            "redis-ext",
            "redis-client",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(publish_order(&crates, &preferred), Ok(preferred.clone()));
        // Without a preference: still dependencies first, ties by name.
        assert_eq!(
            publish_order(&crates, &[]).expect("order"),
            [
                "resp-proto",
                "redis-commands",
                "redis-conn",
                "redis-pool",
                "redis-ext",
                "redis-client"
            ]
        );
        let cycle = [krate("a", &["b"]), krate("b", &["a"])];
        assert!(publish_order(&cycle, &[]).is_err());
    }

    #[test]
    fn publishable_crates_from_metadata() {
        let metadata = serde_json::json!({"packages": [
            {"name": "core", "version": "0.1.0", "publish": null, "description": "d",
             "license": "MIT", "license_file": null, "dependencies": [
                {"name": "bytes", "req": "^1", "kind": null}]},
            {"name": "app", "version": "0.1.0", "publish": null, "description": null,
             "license": "MIT", "license_file": null, "dependencies": [
                {"name": "core", "req": "^0.1.0", "kind": null, "path": "/w/core"},
                {"name": "bench", "req": "*", "kind": "dev", "path": "/w/bench"}]},
            {"name": "bench", "version": "0.1.0", "publish": [], "dependencies": [
                {"name": "app", "req": "^0.1.0", "kind": null, "path": "/w/app"}]}
        ]});
        let crates = publishable(&metadata).expect("crates");
        let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["core", "app"]);
        assert!(crates[0].internal.is_empty() && crates[0].problems.is_empty());
        assert_eq!(
            crates[1].internal,
            [("core".to_owned(), "^0.1.0".to_owned())]
        );
        assert_eq!(crates[1].problems, ["no description"]);

        let bad = serde_json::json!({"packages": [
            {"name": "lib", "version": "0.1.0", "publish": null, "dependencies": [
                {"name": "private", "req": "*", "kind": null, "path": "/w/private"}]},
            {"name": "private", "version": "0.1.0", "publish": [], "dependencies": []}
        ]});
        assert!(publishable(&bad).is_err());
    }

    #[test]
    fn the_publish_check_is_always_a_dry_run() {
        let args = publish_check_args(&["a".to_owned(), "b".to_owned()]);
        assert_eq!(args[0], "publish");
        assert!(args.iter().any(|a| a == "--dry-run"));
        assert_eq!(&args[args.len() - 4..], ["-p", "a", "-p", "b"]);
        assert!(publish_check_args(&[]).contains(&"--dry-run".to_owned()));
    }

    #[test]
    fn stale_version_mentions() {
        let names = ["redis-client".to_owned(), "resp-proto".to_owned()];
        let text = "\
[dependencies]
redis-client = \"0.1\"
resp-proto = { version = \"0.1.0\", default-features = false }
redis-client = \"0.2\"
serde = \"0.1\"
The redis-client crate, version 0.1.
";
        let found = stale_mentions(text, &names, "0.1.0");
        let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3]);
    }

    #[test]
    fn repository_of_cargo_info() {
        let out = "redis-client #redis\nA client\nversion: 0.5.0\nlicense: MIT\n\
                   repository: https://github.com/someone/redis-client\n";
        assert_eq!(
            info_repository(out),
            Some("https://github.com/someone/redis-client")
        );
        assert_eq!(info_repository("version: 1.0.0\n"), None);
    }

    #[test]
    fn options() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let o = parse(&args(&["0.2.0", "--dry", "--date", "2026-11-25"])).expect("ok");
        assert_eq!(
            (o.version.to_string(), o.dry, o.date.as_str()),
            ("0.2.0".to_owned(), true, "2026-11-25")
        );
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["0.2"])).is_err());
        assert!(parse(&args(&["0.2.0", "0.3.0"])).is_err());
        assert!(parse(&args(&["0.2.0", "--publish"])).is_err());
    }
}
