//! [`ClusterScanIter`]: SCAN over every primary of a cluster, one after the other.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use redis_commands::options::ScanOptions;
use redis_commands::{Commands, FromReply, build};

use super::ClusterClient;
use crate::client::Client;
use crate::error::Error;

/// A lazy iterator over every key of a cluster: SCAN on each primary in turn (each with its
/// own cursor, from 0 until the node returns 0), asking for the next page only when the
/// items of the previous one are used up; made by [`ClusterClient::scan_iter`].
///
/// The primaries are those of the slot map when the iterator is made. SCAN's guarantees hold
/// per node: a key present on its node for the whole scan of that node is returned, possibly
/// more than once. A key whose slot moves to a node already scanned (or not yet scanned)
/// during the scan can be missed (or returned twice). An error (a node unreachable, a
/// failover under way) is yielded and ends the iteration.
#[non_exhaustive]
pub struct ClusterScanIter<T> {
    nodes: Vec<Client>,
    node: usize,
    options: ScanOptions,
    cursor: u64,
    started: bool,
    buffer: VecDeque<T>,
    done: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ClusterScanIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterScanIter")
            .field("node", &self.node)
            .field("nodes", &self.nodes.len())
            .field("cursor", &self.cursor)
            .field("buffered", &self.buffer.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// Every key of the cluster (SCAN on every primary in turn, filtered by the options'
    /// MATCH, COUNT hint and TYPE); see [`ClusterScanIter`].
    ///
    /// ```no_run
    /// use redis_client::{ClusterClient, ScanOptions};
    ///
    /// let cluster = ClusterClient::open(&["redis://127.0.0.1:7000"])?;
    /// let keys: Vec<String> = cluster
    ///     .scan_iter(ScanOptions::new().pattern("user:*").count(500))
    ///     .collect::<Result<_, _>>()?;
    /// # drop(keys);
    /// # Ok::<(), redis_client::Error>(())
    /// ```
    pub fn scan_iter<T: FromReply>(&self, options: ScanOptions) -> ClusterScanIter<T> {
        // The primaries are taken once, now: from a fresh map if this one is known stale.
        self.refresh_if_stale();
        ClusterScanIter {
            nodes: self.primaries(),
            node: 0,
            options,
            cursor: 0,
            started: false,
            buffer: VecDeque::new(),
            done: false,
            _item: PhantomData,
        }
    }
}

impl<T> ClusterScanIter<T> {
    /// How many primaries the iterator scans, and how many it has finished.
    pub fn progress(&self) -> (usize, usize) {
        (self.node.min(self.nodes.len()), self.nodes.len())
    }
}

impl<T: FromReply> Iterator for ClusterScanIter<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            if self.started && self.cursor == 0 {
                // This node is finished; on to the next one.
                self.node += 1;
                self.started = false;
            }
            let Some(client) = self.nodes.get(self.node) else {
                self.done = true;
                return None;
            };
            self.started = true;
            let cmd = build::scan_with(self.cursor, &self.options);
            let page: Result<(u64, Vec<T>), Error> = client.query_cmd(&cmd);
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
