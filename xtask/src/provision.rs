//! Installs the Redis binaries the tests start, when they are missing.

use std::env;
use std::path::Path;
use std::process::Command;

/// The binaries the test fixtures and benchmarks run, and the Debian package of each.
const BINARIES: [(&str, &str); 4] = [
    ("redis-server", "redis-server"),
    ("redis-sentinel", "redis-sentinel"),
    ("redis-cli", "redis-tools"),
    ("redis-benchmark", "redis-tools"),
];

/// Makes sure every binary in [`BINARIES`] is on `PATH`, installing the missing packages with
/// apt-get when this runs as root on a system that has it; otherwise says what to install.
pub(crate) fn ensure_redis() -> Result<(), String> {
    let mut packages: Vec<&str> = BINARIES
        .iter()
        .filter(|(binary, _)| find_on_path(binary).is_none())
        .map(|&(_, package)| package)
        .collect();
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    let missing = packages.join(" ");
    if !is_root() || find_on_path("apt-get").is_none() {
        return Err(format!(
            "the tests need redis-server 7 or later, redis-sentinel, redis-cli and \
             redis-benchmark on PATH. Install them, for example on Debian or Ubuntu with \
             `sudo apt-get install -y {missing}`, or on macOS with `brew install redis`, \
             then run `cargo xtask test` again."
        ));
    }
    eprintln!("xtask: installing {missing} with apt-get");
    run("apt-get", &["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&packages);
    run("apt-get", &install)?;
    match BINARIES
        .iter()
        .find(|(binary, _)| find_on_path(binary).is_none())
    {
        Some((binary, package)) => Err(format!(
            "apt-get installed {package} but `{binary}` is still not on PATH"
        )),
        None => Ok(()),
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("could not run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn find_on_path(binary: &str) -> Option<std::path::PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
