//! Memory is bounded by the bytes received. This binary installs a counting global allocator
//! (a `#[global_allocator]` applies to one binary, hence the separate file) and measures what
//! decoding allocates: nothing that scales with a declared but unreceived length, and at most
//! `BYTES_PER_INPUT_BYTE * input + SLACK` for any input.
//!
//! Counters are per thread, so tests running in parallel do not disturb each other.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use common::strategy;
use proptest::prelude::*;
use resp_proto::{Decoder, Limits, Protocol, Value};

/// The system allocator, counting this thread's live bytes, their peak, and allocations.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn grow(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(bytes);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
}

fn shrink(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counting
// touches only const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block allocated while the old one is still live, the worst case.
        grow(new_size);
        shrink(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What `f` allocated on this thread: the peak of live bytes above those live before, and the
/// number of allocations.
fn measure<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let calls = CALLS.with(Cell::get);
    let result = f();
    let peak = PEAK.with(Cell::get) - start;
    (result, peak, CALLS.with(Cell::get) - calls)
}

/// Bytes of heap per byte of input that decoding may use at its peak.
///
/// The worst case is deep nesting, `*1\r\n` repeated: each 4-byte level costs a 16-byte
/// validation level and an 88-byte aggregate under construction (both in vectors that grow by
/// doubling, counted with the old and new blocks live at once: up to 3x) plus a one-element
/// `Vec<Value>` (40 bytes), about 350 bytes, so about 88 per input byte; measured: 69. Wide
/// aggregates of 3-byte `_\r\n` elements cost a 40-byte `Value` each (13 per byte; 27 for
/// streamed ones, which grow by doubling). `decode_frames` needs only the validation stack.
const BYTES_PER_INPUT_BYTE: usize = 96;
/// Fixed allowance: small first allocations of vectors, the shared buffer header of `bytes`.
const SLACK: usize = 4096;

/// Decodes every reply of `input` with `Decoder::decode`, keeping the values alive, and returns
/// the peak heap use of the decoding (the input buffer is allocated before).
fn peak_decode(input: &[u8], limits: Limits) -> usize {
    let mut buf = BytesMut::from(input);
    let mut decoder = Decoder::with_limits(limits);
    let mut values: Vec<Value> = Vec::with_capacity(input.len());
    let ((), peak, _) = measure(|| {
        for _ in 0..=input.len() {
            match decoder.decode(&mut buf) {
                Ok(Some(value)) => values.push(value),
                Ok(None) | Err(_) => break,
            }
        }
    });
    peak
}

/// The same with `Decoder::decode_frames`, iterating the frames.
fn peak_frames(input: &[u8], limits: Limits) -> usize {
    let mut decoder = Decoder::with_limits(limits);
    let ((), peak, _) = measure(|| {
        let mut at = 0;
        for _ in 0..=input.len() {
            match decoder.decode_frames(&input[at..]) {
                Ok(Some((frames, len))) => {
                    assert_eq!(frames.count() > 0, len > 0);
                    at += len;
                }
                Ok(None) | Err(_) => break,
            }
        }
    });
    peak
}

fn assert_linear(input: &[u8], limits: Limits) {
    let bound = BYTES_PER_INPUT_BYTE * input.len() + SLACK;
    let owned = peak_decode(input, limits);
    assert!(
        owned <= bound,
        "decode: {owned} bytes for {} input bytes",
        input.len()
    );
    let borrowed = peak_frames(input, limits);
    assert!(
        borrowed <= bound,
        "frames: {borrowed} bytes for {} input bytes",
        input.len()
    );
}

#[test]
fn huge_declared_lengths_allocate_almost_nothing() {
    let headers: [&[u8]; 9] = [
        b"*4294967295\r\n:1\r\n:2\r\n",
        b"$536870000\r\nabc",
        b"%2000000000\r\n+a\r\n:1\r\n",
        b"~4294967295\r\n_\r\n",
        b">4294967295\r\n",
        b"|2000000000\r\n+a\r\n",
        b"*4294967295\r\n*4294967295\r\n%2000000000\r\n$536870000\r\nab",
        b"$?\r\n;536870000\r\nab",
        b"*?\r\n$536870000\r\n",
    ];
    // Under limits that accept these headers, the decoder waits for the announced bytes; under
    // the default ones, some headers are refused as soon as they are read. Neither allocates.
    let accepting = Limits::default().max_aggregate_len(u32::MAX as usize);
    for (input, limits) in headers
        .iter()
        .flat_map(|input| [(*input, accepting), (*input, Limits::default())])
    {
        // Whole, then byte by byte: neither may allocate for the declared lengths.
        let owned = peak_decode(input, limits);
        let borrowed = peak_frames(input, limits);
        assert!(owned <= 256, "{input:?}: decode allocated {owned} bytes");
        assert!(
            borrowed <= 256,
            "{input:?}: decode_frames allocated {borrowed} bytes"
        );
        let mut decoder = Decoder::with_limits(limits);
        let mut buf = BytesMut::with_capacity(input.len());
        let ((), peak, _) = measure(|| {
            for &byte in input {
                buf.extend_from_slice(&[byte]);
                let outcome = decoder.decode(&mut buf);
                if limits == accepting {
                    assert_eq!(outcome, Ok(None), "{input:?}");
                }
            }
        });
        assert!(peak <= 256, "{input:?}: byte by byte, {peak} bytes");
    }
}

#[test]
fn a_warm_decoder_allocates_nothing_for_frames() {
    let input =
        b"*3\r\n%1\r\n+a\r\n*?\r\n:1\r\n.\r\n$?\r\n;1\r\nx\r\n;0\r\n|1\r\n+k\r\n+v\r\n:2\r\n";
    let mut decoder = Decoder::new();
    let (len, _, _) = measure(|| decoder.decode_frames(input).map(|o| o.map(|(_, len)| len)));
    assert_eq!(len, Ok(Some(input.len())));
    let (frames, _, calls) = measure(|| {
        let (frames, _) = decoder
            .decode_frames(input)
            .ok()
            .flatten()
            .expect("complete");
        frames.count()
    });
    assert_eq!(calls, 0, "a warm decode_frames allocated");
    assert_eq!(frames, 13);
}

#[test]
fn empty_aggregates_allocate_nothing() {
    for input in [&b"*0\r\n"[..], b"%0\r\n", b"~0\r\n", b">0\r\n", b"_\r\n"] {
        let mut decoder = Decoder::new();
        let (frames, _, calls) = measure(|| decoder.decode_frames(input).map(|o| o.is_some()));
        assert_eq!(frames, Ok(true));
        assert_eq!(calls, 0, "{input:?}: decode_frames allocated");
        // `decode` hands out `Bytes` views of the buffer; the only allocation allowed is the
        // shared header the `bytes` crate creates when a buffer is first split.
        let mut buf = BytesMut::from(input);
        let mut decoder = Decoder::new();
        let (value, peak, _) = measure(|| decoder.decode(&mut buf));
        assert!(matches!(value, Ok(Some(_))));
        assert!(peak <= 64, "{input:?}: decode allocated {peak} bytes");
    }
}

#[test]
fn deep_and_wide_inputs_stay_linear() {
    let limits = Limits::default().max_depth(100_000);
    let deep = [b"*1\r\n".repeat(20_000), b":1\r\n".to_vec()].concat();
    let deep_maps = [b"%1\r\n_\r\n".repeat(10_000), b"_\r\n".to_vec()].concat();
    let attributes = [b"|1\r\n_\r\n_\r\n".repeat(10_000), b"_\r\n".to_vec()].concat();
    let wide = [b"*100000\r\n".to_vec(), b"_\r\n".repeat(100_000)].concat();
    let wide_map = [b"%50000\r\n".to_vec(), b"_\r\n".repeat(100_000)].concat();
    let streamed = [
        b"*?\r\n".to_vec(),
        b"_\r\n".repeat(100_000),
        b".\r\n".to_vec(),
    ]
    .concat();
    let chunks = [
        b"$?\r\n".to_vec(),
        b";1\r\nx\r\n".repeat(50_000),
        b";0\r\n".to_vec(),
    ]
    .concat();
    for input in [
        deep, deep_maps, attributes, wide, wide_map, streamed, chunks,
    ] {
        assert_linear(&input, limits);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn peak_allocation_is_linear_in_arbitrary_input(
        data in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        assert_linear(&data, Limits::default());
    }

    #[test]
    fn peak_allocation_is_linear_in_resp_soup(soup in strategy::soup()) {
        assert_linear(&soup, Limits::default());
    }

    #[test]
    fn peak_allocation_is_linear_in_valid_replies(value in strategy::reply(4)) {
        let mut input = Vec::new();
        value.encode(&mut input, Protocol::Resp3);
        assert_linear(&input, Limits::default());
    }
}
