//! Memory follows what arrived, not what a header announces (RELIABILITY 7.4): a bulk header
//! alone cannot make a connection reserve megabytes, while a large reply that does arrive is
//! still read into one buffer of about its size.
//!
//! A counting global allocator measures the peak of the bytes this test's thread holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Duration;

use redis_conn::{Connection, ConnectionConfig, Error, Phase, Transport};

/// Bytes held and their peak, per thread (so tests running in parallel do not mix).
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: during thread teardown the slots may be gone.
    let _ = HELD.try_with(|held| {
        let now = held.get() + delta;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: the caller's layout is passed on as it came.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts measuring: the peak becomes what is held now. Returns that baseline.
fn reset_peak() -> isize {
    let held = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(held));
    held
}

fn peak_above(baseline: isize) -> isize {
    PEAK.with(Cell::get) - baseline
}

/// A server that sends the given chunks, one per read, then times out.
#[derive(Debug)]
struct Chunks(VecDeque<Vec<u8>>);

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(mut chunk) = self.0.pop_front() else {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "timeout"));
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            self.0.push_front(chunk.split_off(n));
        }
        Ok(n)
    }
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Chunks {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

const MIB: usize = 1024 * 1024;

#[test]
fn a_header_alone_reserves_little() {
    // Announces nearly 8 MiB, sends 100 bytes of it, then nothing.
    let chunks = VecDeque::from([b"$8388600\r\n".to_vec(), vec![b'x'; 100]]);
    let mut conn =
        Connection::with_transport(Chunks(chunks), &ConnectionConfig::default()).unwrap();
    let baseline = reset_peak();
    let result = conn.request(&["GET", "k"]);
    assert!(
        matches!(result, Err(Error::Timeout(Phase::Reading))),
        "{result:?}"
    );
    let peak = peak_above(baseline);
    assert!(peak < 256 * 1024, "peak {peak} bytes");
}

#[test]
fn a_large_reply_that_arrives_is_read_into_one_buffer_of_its_size() {
    let payload = vec![b'v'; MIB];
    let mut reply = format!("${}\r\n", payload.len()).into_bytes();
    reply.extend_from_slice(&payload);
    reply.extend_from_slice(b"\r\n");
    // It arrives in pieces of 64 KiB, as from a socket.
    let chunks: VecDeque<Vec<u8>> = reply.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    drop(reply);
    let mut conn =
        Connection::with_transport(Chunks(chunks), &ConnectionConfig::default()).unwrap();
    let baseline = reset_peak();
    let value = conn.request(&["GET", "k"]).unwrap();
    assert_eq!(value.as_bytes().map(|b| b.len()), Some(MIB));
    let peak = peak_above(baseline);
    // One buffer of about the reply's size, and the smaller ones it started with.
    assert!(peak < 2 * MIB as isize, "peak {peak} bytes");
}
