//! `cargo xtask codegen [--check]`: writes the typed command methods of `redis-commands` from
//! the vendored Redis command specification and the project's overrides.
//!
//! Inputs: `crates/redis-commands/spec/commands/*.json` and `spec/overrides.ini`. Outputs:
//! `crates/redis-commands/src/generated/*.rs` and `docs/commands.md`. With `--check`, nothing is
//! written and the command fails when an output differs from what it would write.

mod emit;
mod overrides;
mod plan;
mod spec;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether to write the outputs or only compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Write,
    Check,
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `cargo xtask codegen [--check]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mode = match args {
        [] => Mode::Write,
        [flag] if flag == "--check" => Mode::Check,
        _ => return Err("usage: cargo xtask codegen [--check]".to_owned()),
    };
    generate(mode)
}

/// Generates every output and writes or checks it.
pub(crate) fn generate(mode: Mode) -> Result<(), String> {
    let root = root();
    let crate_dir = root.join("crates/redis-commands");
    let commands = spec::load(&crate_dir.join("spec/commands"))?;
    let override_path = crate_dir.join("spec/overrides.ini");
    let override_text = fs::read_to_string(&override_path)
        .map_err(|e| format!("cannot read {}: {e}", override_path.display()))?;
    let overrides = overrides::parse(&override_text)
        .map_err(|e| format!("{}: {e}", override_path.display()))?;
    let model = plan::plan(&commands, &overrides)?;

    let generated = crate_dir.join("src/generated");
    let outputs: Vec<(PathBuf, String)> = vec![
        (
            generated.join("builders.rs"),
            rustfmt(&emit::builders(&model))?,
        ),
        (
            generated.join("commands.rs"),
            rustfmt(&emit::traits(&model, false))?,
        ),
        (
            generated.join("pipeline.rs"),
            rustfmt(&emit::traits(&model, true))?,
        ),
        (
            generated.join("options.rs"),
            rustfmt(&emit::options(&model))?,
        ),
        (generated.join("enums.rs"), rustfmt(&emit::enums(&model))?),
        (generated.join("table.rs"), rustfmt(&emit::table(&model))?),
        (
            generated.join("keyspecs.rs"),
            rustfmt(&emit::key_specs(&commands))?,
        ),
        (root.join("docs/commands.md"), commands_doc(&model, &root)?),
        (
            root.join("docs/redis-py-parity.md"),
            parity_doc(&model, &root, &crate_dir.join("spec/redis-py-3.5.2.txt"))?,
        ),
    ];
    let mut stale = Vec::new();
    for (path, text) in &outputs {
        let current = fs::read_to_string(path).unwrap_or_default();
        if &current == text {
            continue;
        }
        match mode {
            Mode::Check => stale.push(
                path.strip_prefix(&root)
                    .unwrap_or(path)
                    .display()
                    .to_string(),
            ),
            Mode::Write => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                fs::write(path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                println!(
                    "wrote {}",
                    path.strip_prefix(&root).unwrap_or(path).display()
                );
            }
        }
    }
    if !stale.is_empty() {
        return Err(format!(
            "generated files are stale: {}\nrun `cargo xtask codegen` and commit the result",
            stale.join(", ")
        ));
    }
    Ok(())
}

/// Formats Rust source with the toolchain's rustfmt.
fn rustfmt(source: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run rustfmt: {e} (install it with `rustup component add rustfmt`)")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(source.as_bytes())
            .map_err(|e| format!("cannot write to rustfmt: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt failed: {e}"))?;
    if !output.status.success() {
        let dump = std::env::temp_dir().join("xtask-codegen-unformatted.rs");
        let _ = fs::write(&dump, source);
        return Err(format!(
            "rustfmt rejected the generated code (saved to {}):\n{}",
            dump.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt wrote invalid UTF-8: {e}"))
}

/// Which test calls each method: `file::function`, found by scanning `tests/commands` and
/// `tests/integration`
/// for `.method(` and `.method::<`.
pub(crate) fn coverage(root: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["tests/commands", "tests/integration"] {
        let dir = root.join(dir);
        files.extend(
            fs::read_dir(&dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "rs")),
        );
    }
    files.sort();
    let mut found = BTreeMap::new();
    for path in files {
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut function = String::new();
        for line in text.lines() {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("fn ") {
                function = rest.split(['(', '<']).next().unwrap_or("").to_owned();
            }
            // A comment may name a method (a redis-py example) without calling it.
            if trimmed.starts_with("//") {
                continue;
            }
            for name in called_methods(line) {
                found
                    .entry(name)
                    .or_insert_with(|| format!("{stem}::{function}"));
            }
        }
    }
    Ok(found)
}

/// The identifiers `x` in `.x(` or `.x::<` on a line.
pub(crate) fn called_methods(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    for (i, _) in line.match_indices('.') {
        let rest = &line[i + 1..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if len == 0 {
            continue;
        }
        let after = &rest[len..];
        if after.starts_with('(') || after.starts_with("::<") {
            out.push(rest[..len].to_owned());
        }
        let _ = bytes;
    }
    out
}

fn commands_doc(model: &plan::Model, root: &Path) -> Result<String, String> {
    let covered = coverage(root)?;
    let mut out = String::new();
    out.push_str(
        "<!-- @generated by `cargo xtask codegen`; do not edit. -->\n\
         # Commands\n\n\
         Every command of the Redis 7.2 specification and its typed method. Each method is on\n\
         `Commands` (run it, get the typed reply) and on `PipelineCommands` (queue it); `*_with`\n\
         methods take the command's option struct. \"Test\" names the test (`tests/commands/<file>.rs`\n\
         or `tests/integration/<file>.rs`, function) that runs the method against a real server.\n\n",
    );
    let all = emit::methods(model);
    let tested = all.iter().filter(|(_, m)| covered.contains_key(m)).count();
    let _ = writeln!(
        out,
        "{} commands, {} methods, {} covered by a test.\n",
        model.plans.len(),
        all.len(),
        tested
    );
    out.push_str("| Command | Method | Since | Group | Test |\n| --- | --- | --- | --- | --- |\n");
    for (plan, method) in &all {
        let test = covered
            .get(method)
            .map_or_else(|| "none yet".to_owned(), |t| format!("`{t}`"));
        let _ = writeln!(
            out,
            "| {} | `{method}` | {} | {} | {test} |",
            plan.command.name, plan.command.since, plan.command.group
        );
    }
    if !model.skipped.is_empty() {
        out.push_str("\n## Not generated\n\n| Command | Why |\n| --- | --- |\n");
        for s in &model.skipped {
            let _ = writeln!(out, "| {} | {} |", s.command, s.reason);
        }
    }
    Ok(out)
}

/// `docs/redis-py-parity.md`: redis-py 3.5.2's command methods, their Rust counterparts and
/// the tests that cover them, from `spec/redis-py-3.5.2.txt`.
fn parity_doc(model: &plan::Model, root: &Path, mapping: &Path) -> Result<String, String> {
    let text = fs::read_to_string(mapping)
        .map_err(|e| format!("cannot read {}: {e}", mapping.display()))?;
    let covered = coverage(root)?;
    let generated: Vec<String> = emit::methods(model).into_iter().map(|(_, m)| m).collect();
    let mut rows = String::new();
    let (mut total, mut tested) = (0, 0);
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(heading) = line.strip_prefix('#') {
            let _ = writeln!(rows, "| **{}** | | | |", heading.trim());
            continue;
        }
        let fields: Vec<&str> = line.splitn(3, " | ").map(str::trim).collect();
        let [python, rust, note] = fields[..] else {
            return Err(format!(
                "{}:{}: expected `redis-py method | Rust method(s) | note`",
                mapping.display(),
                number + 1
            ));
        };
        total += 1;
        let main = rust.split(',').next().unwrap_or("").trim();
        let short = main.rsplit("::").next().unwrap_or(main);
        let is_method = !main.contains("::");
        if is_method && !generated.iter().any(|m| m == main) && !note.contains("planned") {
            return Err(format!(
                "{}:{}: `{main}` is not a generated method",
                mapping.display(),
                number + 1
            ));
        }
        let test = match covered.get(short) {
            Some(t) => {
                tested += 1;
                format!("`{t}`")
            }
            None => "none yet".to_owned(),
        };
        let rust_cell: Vec<String> = rust.split(',').map(|r| format!("`{}`", r.trim())).collect();
        let _ = writeln!(
            rows,
            "| `{python}` | {} | {test} | {note} |",
            rust_cell.join(", ")
        );
    }
    let mut out = String::from(
        "<!-- @generated by `cargo xtask codegen` from crates/redis-commands/spec/redis-py-3.5.2.txt; do not edit. -->\n\
         # redis-py 3.5.2 parity\n\n\
         Every command method of redis-py 3.5.2 (the features file, section 1) and its counterpart here.\n\
         \"Test\" is the test that calls the Rust method against a real server; the note says where the\n\
         behaviour differs on purpose. Edit the mapping file and run `cargo xtask codegen`.\n\n",
    );
    let _ = writeln!(
        out,
        "{total} redis-py methods, {tested} with a covering test.\n"
    );
    out.push_str("| redis-py | Rust | Test | Note |\n| --- | --- | --- | --- |\n");
    out.push_str(&rows);
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// The checked-in generated code and docs/commands.md match what the generator writes.
    #[test]
    fn generated_code_is_fresh() {
        if let Err(message) = super::generate(super::Mode::Check) {
            panic!("{message}");
        }
    }

    #[test]
    fn finds_called_methods() {
        assert_eq!(
            super::called_methods("let v: i64 = c.incr(\"k\")?; c.get::<String>(x).unwrap()"),
            ["incr", "get", "unwrap"]
        );
    }
}
