//! Lazy iterators over SCAN, SSCAN, HSCAN and ZSCAN.

use std::collections::VecDeque;
use std::marker::PhantomData;

use bytes::Bytes;
use redis_commands::options::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use redis_commands::{Commands, FromReply, ToArg, build};

/// One page request: the command for a cursor.
type Page<'a> = Box<dyn Fn(u64) -> redis_commands::Cmd + 'a>;

/// What the pages run on: borrowed (`scan_iter`) or owned by the iterator (`into_scan_iter`).
enum Source<'a, C: ?Sized> {
    Borrowed(&'a C),
    Owned(Box<C>),
}

impl<C: ?Sized> Source<'_, C> {
    fn get(&self) -> &C {
        match self {
            Source::Borrowed(client) => client,
            Source::Owned(client) => client,
        }
    }
}

/// A lazy iterator over a SCAN-family command: it asks for the next page only when the
/// items of the previous one are used up, passes the cursor back exactly as the server sent
/// it (an unsigned 64-bit number), goes on through empty pages whose cursor is not 0, and
/// ends when the server returns cursor 0. The server may return an item more than once
/// (SCAN's guarantee); an error ends the iteration after it is yielded.
///
/// Every page is one command on the client or connection the iterator was made from; see
/// [`ScanExt`], "One server per scan", for clients whose commands can reach several
/// servers.
pub struct ScanIter<'a, C: Commands + ?Sized, T> {
    client: Source<'a, C>,
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
    fn new(client: Source<'a, C>, page: Page<'a>) -> Self {
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

    /// The client or connection the pages run on (for an iterator made by an `into_*`
    /// method, the one it owns).
    pub fn client(&self) -> &C {
        self.client.get()
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
            let page: Result<(u64, Vec<T>), C::Error> = self.client.get().query_cmd(&cmd);
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
///
/// # One server per scan
///
/// A SCAN cursor means something only to the server that returned it. The `*scan_iter`
/// methods borrow `self` and run each page as one command on it; on a pooled client that is
/// one checkout per page. When every connection of the pool goes to the same server (a
/// plain `Client`) that is fine. When the pool's connections can go to **different
/// servers**, a replica pool above all (`Client::sentinel_replica`: each new connection
/// goes to the next replica), consecutive pages can reach different servers, and the scan
/// **silently misses or repeats items**; a Sentinel master client that follows a failover
/// in the middle of a scan has the same problem. `redis_client::Client` has scan methods of
/// its own that keep one connection for the whole scan on a `Client::sentinel_replica`
/// client. Elsewhere, scan on one connection: take one from the pool for the scan and let
/// the iterator own it with the `into_*` methods, so that every page goes to the same server
/// and the connection goes back (a dedicated connection is closed) when the iterator is
/// dropped:
///
/// ```no_run
/// # fn demo<C: redis_commands::Commands>(connection: C) -> Result<(), C::Error> {
/// use redis_commands::options::ScanOptions;
/// use redis_ext::ScanExt;
///
/// // `connection`: one connection of the pool, such as `client.get_connection()?` for a
/// // `redis_client::Client` made with `Client::from_pool` over a replica pool.
/// for key in connection.into_scan_iter::<String>(ScanOptions::new().count(500)) {
///     println!("{}", key?);
/// }
/// # Ok(())
/// # }
/// ```
///
/// A Redis Cluster has its own iterator, `ClusterClient::scan_iter`, which scans each
/// primary in turn.
pub trait ScanExt: Commands {
    /// Every key (SCAN), filtered by the options' MATCH, COUNT hint and TYPE.
    fn scan_iter<T: FromReply>(&self, options: ScanOptions) -> ScanIter<'_, Self, T> {
        ScanIter::new(Source::Borrowed(self), scan_page(options))
    }

    /// Every member of a set (SSCAN).
    fn sscan_iter<T: FromReply>(
        &self,
        key: impl ToArg,
        options: SscanOptions,
    ) -> ScanIter<'_, Self, T> {
        ScanIter::new(Source::Borrowed(self), sscan_page(key, options))
    }

    /// Every field and value of a hash (HSCAN), as pairs.
    fn hscan_iter<F: FromReply, V: FromReply>(
        &self,
        key: impl ToArg,
        options: HscanOptions,
    ) -> ScanIter<'_, Self, (F, V)> {
        ScanIter::new(Source::Borrowed(self), hscan_page(key, options))
    }

    /// Every member of a sorted set and its score (ZSCAN), as pairs.
    fn zscan_iter<M: FromReply>(
        &self,
        key: impl ToArg,
        options: ZscanOptions,
    ) -> ScanIter<'_, Self, (M, f64)> {
        ScanIter::new(Source::Borrowed(self), zscan_page(key, options))
    }

    /// [`scan_iter`](Self::scan_iter) on a client or connection the iterator owns, and
    /// drops (closes or returns to its pool) when it is dropped: with a connection taken
    /// for the scan, every page goes to the same server (see "One server per scan").
    fn into_scan_iter<'a, T: FromReply>(self, options: ScanOptions) -> ScanIter<'a, Self, T>
    where
        Self: Sized + 'a,
    {
        ScanIter::new(Source::Owned(Box::new(self)), scan_page(options))
    }

    /// [`sscan_iter`](Self::sscan_iter) on a client or connection the iterator owns.
    fn into_sscan_iter<'a, T: FromReply>(
        self,
        key: impl ToArg,
        options: SscanOptions,
    ) -> ScanIter<'a, Self, T>
    where
        Self: Sized + 'a,
    {
        ScanIter::new(Source::Owned(Box::new(self)), sscan_page(key, options))
    }

    /// [`hscan_iter`](Self::hscan_iter) on a client or connection the iterator owns.
    fn into_hscan_iter<'a, F: FromReply, V: FromReply>(
        self,
        key: impl ToArg,
        options: HscanOptions,
    ) -> ScanIter<'a, Self, (F, V)>
    where
        Self: Sized + 'a,
    {
        ScanIter::new(Source::Owned(Box::new(self)), hscan_page(key, options))
    }

    /// [`zscan_iter`](Self::zscan_iter) on a client or connection the iterator owns.
    fn into_zscan_iter<'a, M: FromReply>(
        self,
        key: impl ToArg,
        options: ZscanOptions,
    ) -> ScanIter<'a, Self, (M, f64)>
    where
        Self: Sized + 'a,
    {
        ScanIter::new(Source::Owned(Box::new(self)), zscan_page(key, options))
    }
}

fn scan_page<'a>(options: ScanOptions) -> Page<'a> {
    Box::new(move |cursor| build::scan_with(cursor, &options))
}

fn sscan_page<'a>(key: impl ToArg, options: SscanOptions) -> Page<'a> {
    let key = owned_key(key);
    Box::new(move |cursor| build::sscan_with(&key, cursor, &options))
}

fn hscan_page<'a>(key: impl ToArg, options: HscanOptions) -> Page<'a> {
    let key = owned_key(key);
    Box::new(move |cursor| build::hscan_with(&key, cursor, &options))
}

fn zscan_page<'a>(key: impl ToArg, options: ZscanOptions) -> Page<'a> {
    let key = owned_key(key);
    Box::new(move |cursor| build::zscan_with(&key, cursor, &options))
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
