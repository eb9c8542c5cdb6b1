//! Allocations and peak heap of the clients against a live `redis-server`: a counting global
//! allocator around warm request loops.
//!
//! * Allocations per GET of a 16-byte value (`alloc`, `alloc_zeroed` and `realloc` calls),
//!   over 10,000 GETs after 1,000 of warm-up, for this client (dedicated connection, pooled
//!   `&Client`, and the parts of a request on their own) and for redis-rs's `Connection`.
//! * Peak heap above the baseline while 2,000 GETs of a 1 MiB value run one after the other,
//!   each reply dropped before the next: the baseline is the live heap after the warm-up,
//!   the peak counts a moving `realloc` as holding both blocks.
//!
//! The counts are deterministic; this prints them as the markdown tables of
//! `docs/benchmarks.md`. Run: `cargo bench -p redis-bench --bench client_alloc`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use redis_client::{Client, cmd};

#[path = "support/server.rs"]
mod server;

use server::{KEY, LIST, MIB, Server, VALUE_16};

/// The system allocator, counting calls and bytes requested, and tracking the live heap and
/// its peak.
struct Counting;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        grow(layout.size());
        // SAFETY: forwarded as is; `layout` satisfies `System.alloc`'s contract by ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        grow(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        // Counted as if the block moved: old and new are both live for a moment.
        grow(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What a loop allocated.
struct Counted {
    calls: usize,
    bytes: usize,
    /// The live heap's highest point above its level at the start.
    peak_above_start: usize,
}

/// Runs `op` `n` times and counts.
fn count(n: usize, mut op: impl FnMut()) -> Counted {
    let calls = CALLS.load(Ordering::SeqCst);
    let bytes = BYTES.load(Ordering::SeqCst);
    let start = LIVE.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    for _ in 0..n {
        op();
    }
    Counted {
        calls: CALLS.load(Ordering::SeqCst) - calls,
        bytes: BYTES.load(Ordering::SeqCst) - bytes,
        peak_above_start: PEAK.load(Ordering::SeqCst).saturating_sub(start),
    }
}

/// Warms `op` up with `warm` runs, then counts `n`; prints one row per GET.
fn per_get(client: &str, how: &str, warm: usize, n: usize, mut op: impl FnMut()) -> f64 {
    for _ in 0..warm {
        op();
    }
    let counted = count(n, op);
    let per = counted.calls as f64 / n as f64;
    println!(
        "| {client} | {how} | {per:.2} | {:.1} |",
        counted.bytes as f64 / n as f64
    );
    per
}

fn main() {
    let server = Server::start();
    println!("redis-server on port {}\n", server.port());
    let url = server.url();
    let client = Client::open(&url).expect("client");
    let mut dedicated = client.get_connection().expect("dedicated connection");
    let mut rs = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("redis-rs connection");

    server.set_value(16);
    let (warm, n) = (1_000, 10_000);
    println!("Allocations per request, 16-byte values ({n} requests after {warm} of warm-up)\n");
    println!("| client | how | allocations per request | bytes requested per request |");
    println!("|---|---|---:|---:|");
    let check = |value: &Option<Vec<u8>>| assert_eq!(value.as_ref().map(Vec::len), Some(16));
    let ours_pooled = per_get(
        "ours",
        "`cmd(\"GET\").arg(k).query::<Option<Vec<u8>>, _>(&client)` (pool)",
        warm,
        n,
        || {
            let value: Option<Vec<u8>> = cmd("GET").arg(KEY).query(&client).expect("GET");
            check(&value);
            black_box(value);
        },
    );
    let ours_dedicated = per_get("ours", "same, `&mut` dedicated connection", warm, n, || {
        let value: Option<Vec<u8>> = cmd("GET").arg(KEY).query(&mut dedicated).expect("GET");
        check(&value);
        black_box(value);
    });
    per_get("ours", "same, pool, `Option<Bytes>`", warm, n, || {
        let value: Option<Bytes> = cmd("GET").arg(KEY).query(&client).expect("GET");
        assert_eq!(value.as_ref().map(Bytes::len), Some(16));
        black_box(value);
    });
    per_get(
        "ours, part",
        "`cmd(\"GET\").arg(k)` alone (building the command)",
        warm,
        n,
        || {
            black_box(cmd("GET").arg(KEY));
        },
    );
    per_get(
        "ours, part",
        "`Connection::request(&[\"GET\", k])` (send, read, decode to `Value`)",
        warm,
        n,
        || {
            let value = dedicated.connection().request(&["GET", KEY]).expect("GET");
            black_box(value);
        },
    );
    per_get(
        "ours",
        "`cmd(\"SET\").arg(k).arg(v).execute(&client)` (16-byte value)",
        warm,
        n,
        || {
            cmd("SET")
                .arg(KEY)
                .arg(&VALUE_16[..])
                .execute(&client)
                .expect("SET");
        },
    );
    per_get(
        "redis-rs",
        "`redis::cmd(\"SET\").arg(k).arg(v).exec(&mut con)`",
        warm,
        n,
        || {
            redis::cmd("SET")
                .arg(KEY)
                .arg(&VALUE_16[..])
                .exec(&mut rs)
                .expect("SET");
        },
    );
    let rs_plain = per_get(
        "redis-rs",
        "`redis::cmd(\"GET\").arg(k).query::<Option<Vec<u8>>>(&mut con)`",
        warm,
        n,
        || {
            let value: Option<Vec<u8>> = redis::cmd("GET").arg(KEY).query(&mut rs).expect("GET");
            check(&value);
            black_box(value);
        },
    );
    println!();
    println!(
        "Target (at most one allocation per GET beyond the reply's own buffer, the `Vec<u8>`, \
         so at most 2 with `Vec<u8>`): pool {ours_pooled:.2}, dedicated {ours_dedicated:.2}: {}; \
         redis-rs makes {rs_plain:.2}.\n",
        if ours_pooled <= 2.0 && ours_dedicated <= 2.0 {
            "met"
        } else {
            "MISSED"
        }
    );

    server.fill_list(1_000, 16);
    let (warm, n) = (100, 1_000);
    println!(
        "Allocations per `LRANGE mylist 0 999` over 1,000 16-byte elements ({n} after {warm} of warm-up)\n"
    );
    println!("| client | how | allocations per LRANGE | bytes requested per LRANGE |");
    println!("|---|---|---:|---:|");
    let lrange = || {
        let mut c = cmd("LRANGE");
        c.arg(LIST).arg(0).arg(999);
        c
    };
    per_get("ours", "pool, `Vec<Vec<u8>>`", warm, n, || {
        let items: Vec<Vec<u8>> = lrange().query(&client).expect("LRANGE");
        assert_eq!(items.len(), 1_000);
        black_box(items);
    });
    per_get("ours", "pool, `Vec<Bytes>`", warm, n, || {
        let items: Vec<Bytes> = lrange().query(&client).expect("LRANGE");
        assert_eq!(items.len(), 1_000);
        black_box(items);
    });
    per_get("redis-rs", "`Connection`, `Vec<Vec<u8>>`", warm, n, || {
        let items: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(LIST)
            .arg(0)
            .arg(999)
            .query(&mut rs)
            .expect("LRANGE");
        assert_eq!(items.len(), 1_000);
        black_box(items);
    });
    println!();

    server.set_value(MIB);
    let (warm, n) = (10, 2_000);
    println!("Peak heap above baseline, {n} GETs of a 1 MiB value after {warm} of warm-up\n");
    println!(
        "| client | how | peak above baseline (MiB) | allocations per GET | MiB requested per GET |"
    );
    println!("|---|---|---:|---:|---:|");
    let big = |client: &str, how: &str, op: &mut dyn FnMut()| -> f64 {
        for _ in 0..warm {
            op();
        }
        let counted = count(n, op);
        let peak = counted.peak_above_start as f64 / MIB as f64;
        println!(
            "| {client} | {how} | {peak:.2} | {:.1} | {:.2} |",
            counted.calls as f64 / n as f64,
            counted.bytes as f64 / n as f64 / MIB as f64
        );
        peak
    };
    let check = |value: &Option<Vec<u8>>| assert_eq!(value.as_ref().map(Vec::len), Some(MIB));
    let ours_peak = big("ours", "pool, `Option<Vec<u8>>`", &mut || {
        let value: Option<Vec<u8>> = cmd("GET").arg(KEY).query(&client).expect("GET");
        check(&value);
        black_box(value);
    });
    big("ours", "pool, `Option<Bytes>`", &mut || {
        let value: Option<Bytes> = cmd("GET").arg(KEY).query(&client).expect("GET");
        assert_eq!(value.as_ref().map(Bytes::len), Some(MIB));
        black_box(value);
    });
    big("redis-rs", "`Connection`, `Option<Vec<u8>>`", &mut || {
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(KEY).query(&mut rs).expect("GET");
        check(&value);
        black_box(value);
    });
    println!();
    println!(
        "Target (peak under 3 MiB above baseline): ours {ours_peak:.2} MiB: {}",
        if ours_peak < 3.0 { "met" } else { "MISSED" }
    );
    server.set_value(16);
}
