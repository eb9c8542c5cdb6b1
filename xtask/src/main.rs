//! Project automation, run as `cargo xtask <command>`.
//!
//! Commands:
//!
//! * `test [ARGS...]`: makes sure the Redis binaries the integration tests start are installed
//!   (installing them with apt-get when run as root on Debian or Ubuntu), then runs every test
//!   of the workspace. Extra arguments go to `cargo test`.
//!
//! * `demo [EXAMPLE | --all | --list]`: starts a throwaway redis-server on a free loopback
//!   port, runs the guided tour (or the named example of `redis-client`, or all of them)
//!   against it, and stops the server.
//!
//! * `codegen [--check]`: writes the typed command methods of `redis-commands` from the vendored
//!   Redis command specification (`--check` fails when the checked-in code is stale).
//!
//! * `bench [--charts-only]`: runs the benchmarks of `redis-bench` (the scripts behind the
//!   tables of `docs/benchmarks.md`) and draws `docs/charts/*.svg` from their results
//!   (`--charts-only`: from the results already on disk, running nothing).
//!
//! * `release <VERSION> [--dry]`: bumps the workspace version, dates the changelog's Unreleased
//!   section, checks that the docs build and runs `cargo publish --dry-run` for every crate in
//!   dependency order. It never publishes.
//!
//! xtask depends on the standard library and serde_json only, so it builds in seconds.

mod bench;
mod codegen;
mod demo;
mod provision;
mod release;

use std::env;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    let result = match command.as_deref() {
        Some("test") => test(&rest),
        Some("demo") => demo::run(&rest),
        Some("codegen") => codegen::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("release") => release::run(&rest),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [ARGS...]   install redis-server, redis-sentinel and redis-tools when missing, then run
                   every test of the workspace (ARGS go to `cargo test`)
  demo [EXAMPLE | --all | --list]
                   run the guided tour (or an example of redis-client, or all of them)
                   against a throwaway redis-server on a free port; --list names them
  codegen [--check]
                   write the typed command methods of redis-commands from its spec/ (with
                   --check, fail when the checked-in code is stale)
  bench [--charts-only] [--codec | --client | --cluster] [--runs N] [-- FILTER...]
                   run the benchmarks (crates/redis-bench/run.sh, run-client.sh,
                   run-cluster.sh) and write docs/charts/*.svg; --charts-only: from existing
                   results, running nothing
  release <VERSION> [--dry]
                   bump the workspace version, date CHANGELOG.md's Unreleased section, check
                   the docs, `cargo publish --dry-run` every crate in dependency order (never
                   publishes; --dry: only print what would change)
";

/// `cargo xtask test`: provision, then `cargo test --workspace --locked`.
fn test(extra: &[String]) -> Result<(), String> {
    provision::ensure_redis()?;
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["test", "--workspace", "--locked"])
        .args(extra)
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo test failed ({status})"))
    }
}
