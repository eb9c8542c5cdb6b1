//! Lazy iterators over SCAN, SSCAN, HSCAN and ZSCAN.

use std::collections::VecDeque;
use std::marker::PhantomData;

use bytes::Bytes;
use redis_commands::options::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use redis_commands::{Commands, FromReply, ToArg, build};

/// One page request: the command for a cursor.
type Page<'a> = Box<dyn Fn(u64) -> redis_commands::Cmd + 'a>;

/// A lazy iterator over a SCAN-family command: it asks for the next page only when the
/// items of the previous one are used up, passes the cursor back exactly as the server sent
/// it (an unsigned 64-bit number), goes on through empty pages whose cursor is not 0, and
/// ends when the server returns cursor 0. The server may return an item more than once
/// (SCAN's guarantee); an error ends the iteration after it is yielded.
pub struct ScanIter<'a, C: Commands + ?Sized, T> {
    client: &'a C,
    page: Page<'a>,
    cursor: u64,
    started: bool,
    buffer: VecDeque<T>,
    done: bool,
    _item: PhantomData<fn() -> T>,
}

impl<C: Commands + ?Sized, T> std::fmt::Debug for ScanIter<'_, C, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanIter")
            .field("cursor", &self.cursor)
            .field("buffered", &self.buffer.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<'a, C: Commands + ?Sized, T: FromReply> ScanIter<'a, C, T> {
    fn new(client: &'a C, page: Page<'a>) -> Self {
        ScanIter {
            client,
            page,
            cursor: 0,
            started: false,
            buffer: VecDeque::new(),
            done: false,
            _item: PhantomData,
        }
    }

    /// The cursor the next page will be asked with.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }
}

impl<C: Commands + ?Sized, T: FromReply> Iterator for ScanIter<'_, C, T> {
    type Item = Result<T, C::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(Ok(item));
            }
            if self.done || (self.started && self.cursor == 0) {
                return None;
            }
            self.started = true;
            let cmd = (self.page)(self.cursor);
            let page: Result<(u64, Vec<T>), C::Error> = self.client.query_cmd(&cmd);
            match page {
                Ok((cursor, items)) => {
                    self.cursor = cursor;
                    self.buffer.extend(items);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Lazy scan iterators on anything that runs commands (redis-py's `scan_iter`,
/// `sscan_iter`, `hscan_iter`, `zscan_iter`).
///
/// ```no_run
/// # fn demo<C: redis_commands::Commands>(c: &C) -> Result<(), C::Error> {
/// use redis_commands::options::ScanOptions;
/// use redis_ext::ScanExt;
///
/// let keys: Vec<String> = c
///     .scan_iter(ScanOptions::new().pattern("user:*").count(500))
///     .collect::<Result<_, _>>()?;
/// for pair in c.hscan_iter::<String, String>("user:1", Default::default()) {
///     let (field, value) = pair?;
///     println!("{field} = {value}");
/// }
/// # let _ = keys;
/// # Ok(())
/// # }
/// ```
pub trait ScanExt: Commands {
    /// Every key (SCAN), filtered by the options' MATCH, COUNT hint and TYPE.
    fn scan_iter<T: FromReply>(&self, options: ScanOptions) -> ScanIter<'_, Self, T> {
        ScanIter::new(
            self,
            Box::new(move |cursor| build::scan_with(cursor, &options)),
        )
    }

    /// Every member of a set (SSCAN).
    fn sscan_iter<T: FromReply>(
        &self,
        key: impl ToArg,
        options: SscanOptions,
    ) -> ScanIter<'_, Self, T> {
        let key = owned_key(key);
        ScanIter::new(
            self,
            Box::new(move |cursor| build::sscan_with(&key, cursor, &options)),
        )
    }

    /// Every field and value of a hash (HSCAN), as pairs.
    fn hscan_iter<F: FromReply, V: FromReply>(
        &self,
        key: impl ToArg,
        options: HscanOptions,
    ) -> ScanIter<'_, Self, (F, V)> {
        let key = owned_key(key);
        ScanIter::new(
            self,
            Box::new(move |cursor| build::hscan_with(&key, cursor, &options)),
        )
    }

    /// Every member of a sorted set and its score (ZSCAN), as pairs.
    fn zscan_iter<M: FromReply>(
        &self,
        key: impl ToArg,
        options: ZscanOptions,
    ) -> ScanIter<'_, Self, (M, f64)> {
        let key = owned_key(key);
        ScanIter::new(
            self,
            Box::new(move |cursor| build::zscan_with(&key, cursor, &options)),
        )
    }
}

impl<C: Commands + ?Sized> ScanExt for C {}

/// A key as owned bytes, so that the iterator does not borrow the caller's value.
fn owned_key(key: impl ToArg) -> Bytes {
    let mut cmd = redis_commands::Cmd::new();
    cmd.arg(key);
    cmd.arg_bytes()
        .next()
        .map(Bytes::copy_from_slice)
        .unwrap_or_default()
}
