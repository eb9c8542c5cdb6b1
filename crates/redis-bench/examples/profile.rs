//! A driver for profilers: runs one benchmark loop alone, so `perf record` or
//! `valgrind --tool=callgrind` sees nothing else.
//!
//! ```text
//! cargo build -p redis-bench --profile bench --example profile
//! valgrind --tool=callgrind target/release/examples/profile owned a_mixed_small resp-proto 1
//! perf record -g target/release/examples/profile borrowed d_xrange resp-proto 200
//! ```
//!
//! Arguments: `owned|borrowed|encode`, a workload name (`a_mixed_small`, `b_bulk_array`,
//! `c_big_bulks`, `d_xrange`; ignored for `encode`), a client (`resp-proto`,
//! `redis-protocol`, `redis-rs`, `redis-rs-reused-cmd`) and a pass count.

use std::process::ExitCode;

use redis_bench::{
    SetCommands, encode_redis_rs, encode_redis_rs_reused, encode_resp_proto, fresh_buffer,
    redis_protocol_owned, redis_protocol_range, redis_rs_owned, resp_proto_borrowed,
    resp_proto_owned, workloads,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, workload, client, passes] = &args[..] else {
        eprintln!("usage: profile owned|borrowed|encode WORKLOAD CLIENT PASSES");
        return ExitCode::FAILURE;
    };
    let Ok(passes) = passes.parse::<usize>() else {
        eprintln!("PASSES must be a number");
        return ExitCode::FAILURE;
    };
    if mode == "encode" {
        let cmds = SetCommands::new(1_000_000);
        let mut out = Vec::new();
        let mut cmd = redis::Cmd::new();
        for _ in 0..passes {
            match client.as_str() {
                "resp-proto" => encode_resp_proto(&cmds, &mut out),
                "redis-rs" => encode_redis_rs(&cmds, &mut out),
                "redis-rs-reused-cmd" => encode_redis_rs_reused(&cmds, &mut cmd, &mut out),
                other => {
                    eprintln!("unknown encoder {other}");
                    return ExitCode::FAILURE;
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    let Some(w) = workloads().into_iter().find(|w| w.name == workload) else {
        eprintln!("unknown workload {workload}");
        return ExitCode::FAILURE;
    };
    for _ in 0..passes {
        match (mode.as_str(), client.as_str()) {
            ("owned", "resp-proto") => resp_proto_owned(fresh_buffer(&w.bytes).0, w.replies),
            ("owned", "redis-protocol") => {
                redis_protocol_owned(fresh_buffer(&w.bytes).0, w.replies)
            }
            ("owned", "redis-rs") => redis_rs_owned(fresh_buffer(&w.bytes).0, w.replies),
            ("borrowed", "resp-proto") => resp_proto_borrowed(&w.bytes, w.replies),
            ("borrowed", "redis-protocol") => redis_protocol_range(&w.bytes, w.replies),
            other => {
                eprintln!("unknown mode and client {other:?}");
                return ExitCode::FAILURE;
            }
        };
    }
    ExitCode::SUCCESS
}
