//! Allocation counts: a counting global allocator around the same loops the criterion
//! benchmarks time.
//!
//! Prints, per workload and client, how many allocations (`alloc`, `alloc_zeroed` and
//! `realloc` calls) one full pass makes, excluding the setup copy into a fresh buffer, and per
//! item (reply, or element of the one big reply, as in the reports). The
//! encoding check warms the output buffer with one pass, then counts a second pass of
//! 1,000,000 `SET` commands; resp-proto must make zero allocations there, or this exits
//! non-zero.
//!
//! Run: `cargo bench -p redis-bench --bench alloc_count`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use redis_bench::{
    SetCommands, encode_redis_rs, encode_redis_rs_reused, encode_resp_proto, encode_typed_set,
    fresh_buffer, redis_protocol_owned, redis_protocol_range, redis_rs_owned, resp_proto_borrowed,
    resp_proto_owned, workloads,
};

/// The system allocator, counting calls and bytes requested.
struct Counting;

static CALLS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded as is; `layout` satisfies `System.alloc`'s contract by ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocation calls and bytes made while `f` runs.
fn count<R>(f: impl FnOnce() -> R) -> (u64, u64) {
    let calls = CALLS.load(Ordering::SeqCst);
    let bytes = BYTES.load(Ordering::SeqCst);
    let result = f();
    let counted = (
        CALLS.load(Ordering::SeqCst) - calls,
        BYTES.load(Ordering::SeqCst) - bytes,
    );
    drop(std::hint::black_box(result));
    counted
}

fn row(workload: &str, client: &str, (calls, bytes): (u64, u64), units: usize) {
    println!(
        "| {workload} | {client} | {calls} | {:.2} | {:.1} |",
        calls as f64 / units as f64,
        bytes as f64 / (1024.0 * 1024.0),
    );
}

fn main() -> ExitCode {
    println!("Allocations per full pass (setup copy excluded)\n");
    println!("| workload | client | allocations | per item | MiB requested |");
    println!("|---|---|---:|---:|---:|");
    for w in workloads() {
        let n = w.replies;
        let items = w.items;
        let (buf, _keep) = fresh_buffer(&w.bytes);
        row(
            w.name,
            "owned resp-proto",
            count(|| resp_proto_owned(buf, n)),
            items,
        );
        let (buf, _keep) = fresh_buffer(&w.bytes);
        row(
            w.name,
            "owned redis-protocol",
            count(|| redis_protocol_owned(buf, n)),
            items,
        );
        let (buf, _keep) = fresh_buffer(&w.bytes);
        row(
            w.name,
            "owned redis-rs",
            count(|| redis_rs_owned(buf, n)),
            items,
        );
        row(
            w.name,
            "borrowed resp-proto",
            count(|| resp_proto_borrowed(&w.bytes, n)),
            items,
        );
        row(
            w.name,
            "borrowed redis-protocol decode_range",
            count(|| redis_protocol_range(&w.bytes, n)),
            items,
        );
    }

    let cmds = SetCommands::new(1_000_000);
    let n = cmds.len();
    let mut out = Vec::new();
    // Warm the buffer: the first pass grows it to its final size.
    encode_resp_proto(&cmds, &mut out);
    let ours = count(|| encode_resp_proto(&cmds, &mut out));
    row(
        "encode 1M SET (warm buffer)",
        "resp-proto encode_command",
        ours,
        n,
    );
    encode_typed_set(&cmds, &mut out);
    let typed = count(|| encode_typed_set(&cmds, &mut out));
    row(
        "encode 1M SET (warm buffer)",
        "redis-commands build::set+write_packed",
        typed,
        n,
    );
    encode_redis_rs(&cmds, &mut out);
    let theirs = count(|| encode_redis_rs(&cmds, &mut out));
    row(
        "encode 1M SET (warm buffer)",
        "redis-rs cmd()+write_packed_command",
        theirs,
        n,
    );
    let mut cmd = redis::Cmd::new();
    encode_redis_rs_reused(&cmds, &mut cmd, &mut out);
    let reused = count(|| encode_redis_rs_reused(&cmds, &mut cmd, &mut out));
    row(
        "encode 1M SET (warm buffer)",
        "redis-rs reused Cmd+write_packed_command",
        reused,
        n,
    );

    if ours.0 == 0 && typed.0 == 0 {
        println!("\nresp-proto and typed-command encoding: 0 allocations for {n} commands: OK");
        ExitCode::SUCCESS
    } else {
        println!(
            "\nencoding allocations for {n} commands: resp-proto {}, typed {}: FAIL",
            ours.0, typed.0
        );
        ExitCode::FAILURE
    }
}
