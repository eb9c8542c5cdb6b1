//! Polling with a deadline, instead of fixed sleeps.

use std::thread;
use std::time::{Duration, Instant};

/// Calls `check` every 10 ms until it returns true or `limit` has passed; returns its last
/// answer. Every wait in the suites is bounded this way.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
