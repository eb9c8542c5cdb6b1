//! The scan iterators of [`Client`]: [`ScanExt`]'s, except that on a client whose pool can
//! reach several servers every page of a scan goes to the same server.
//!
//! A SCAN cursor means something only to the server that returned it (each server process
//! orders its keys by its own hash seed). `ScanExt::scan_iter` runs each page as one command on
//! the client, one checkout per page; on a Sentinel replica client two checkouts can give
//! connections to two replicas, and the scan would silently miss or repeat items. So `Client`
//! has inherent `scan_iter`, `sscan_iter`, `hscan_iter` and `zscan_iter` (found before the
//! trait's by method resolution) whose pages run on a [`ScanConnection`]: the client itself,
//! or one pooled connection taken on the first page and kept until the iterator is dropped.

use std::cell::RefCell;

use redis_commands::options::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use redis_commands::{Cmd, Commands, FromReply, ToArg};
use redis_ext::{ScanExt, ScanIter};
use redis_pool::PooledConnection;
use resp_proto::Value;

use crate::client::{Client, check, is_readonly, run_on};
use crate::error::Error;

/// What the pages of a [`Client`]'s scan iterator run on; see [`Client::scan_iter`].
///
/// On a client whose pool can reach several servers ([`Client::sentinel_replica`]) it is one
/// pooled connection, taken from the pool when the first page is asked for and given back
/// (clean, unless a request on it failed) when the iterator is dropped. On any other client
/// it is the client itself: one checkout per page, no connection held between pages.
///
/// It runs commands like the client does ([`Commands`]), on that connection when it holds
/// one; [`ScanIter::client`] gives it, for commands that must reach the server the scan is
/// on.
#[derive(Debug)]
pub struct ScanConnection<'a> {
    client: &'a Client,
    /// Whether the pages stay on one connection: set for a client whose pool can reach
    /// several servers.
    pinned: bool,
    /// The connection kept for the scan (pinned only): taken from the pool by the first
    /// command, given back when this is dropped.
    conn: RefCell<Option<PooledConnection>>,
}

impl<'a> ScanConnection<'a> {
    fn new(client: &'a Client) -> Self {
        ScanConnection {
            client,
            pinned: client.reaches_several_servers(),
            conn: RefCell::new(None),
        }
    }

    /// Whether the pages stay on one connection (a client whose pool can reach several
    /// servers), rather than taking one from the pool each.
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }
}

/// Runs a command on the client, or on the connection kept for the scan (taken from the
/// pool by the first command).
impl Commands for ScanConnection<'_> {
    type Error = Error;

    fn run_cmd(&self, cmd: &Cmd) -> Result<Value, Error> {
        if !self.pinned {
            return self.client.run_cmd(cmd);
        }
        check(cmd)?;
        // Only one command runs at a time: the type is not `Sync` and nothing runs a command
        // while holding the borrow, so this never fails in practice.
        let mut slot = self.conn.try_borrow_mut().map_err(|_| {
            Error::InvalidRequest("the scan's connection is already running a command".to_owned())
        })?;
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(self.client.pool().get()?),
        };
        // No retry and no reconnect in place: the cursor would mean nothing to another
        // connection, so a failure ends the scan (and the pool closes the broken connection
        // when the iterator is dropped).
        let result = run_on(conn, cmd);
        self.client
            .after_request(conn, matches!(&result, Err(e) if is_readonly(e)));
        result
    }
}

/// The scan iterators, inherent so that `client.scan_iter(..)` finds them before
/// [`ScanExt`]'s.
impl Client {
    /// Every key (SCAN), lazily, filtered by the options' MATCH, COUNT hint and TYPE; the
    /// iterator of [`ScanExt::scan_iter`], with one difference on a client whose pool can
    /// reach several servers.
    ///
    /// A cursor means something only to the server that returned it. On a client made by
    /// [`Client::sentinel_replica`], whose connections go to the replicas in turn, the
    /// iterator takes one connection from the pool when it asks for its first page and keeps
    /// it until it is dropped, so that every page goes to the same replica; the connection
    /// then goes back to the pool (closed instead if a request on it failed). A scan in
    /// progress thus holds one connection of the pool: other commands sent through the
    /// client meanwhile use others.
    ///
    /// On any other client (one server, including [`Client::sentinel_master`]) each page
    /// takes a connection from the pool and gives it back, and none is held between pages:
    /// a loop may send commands through the same client even with a pool of one connection.
    ///
    /// Generic code written against [`Commands`] gets [`ScanExt::scan_iter`], one checkout
    /// per page, on any client; the `into_*` methods of [`ScanExt`] scan on a connection of
    /// your choosing.
    ///
    /// ```no_run
    /// use redis_client::prelude::*;
    /// use redis_client::{Client, ScanOptions};
    ///
    /// # fn demo(sentinel: &redis_client::Sentinel) -> Result<(), redis_client::Error> {
    /// let config = redis_client::conn::ConnectionConfig::builder().build();
    /// let replicas = Client::sentinel_replica(sentinel, "mymaster", &config);
    /// for key in replicas.scan_iter::<String>(ScanOptions::new().pattern("user:*").count(500)) {
    ///     let key = key?;
    ///     // Pages stay on one replica; this GET may go to another one.
    ///     let value: Option<String> = replicas.get(&key)?;
    ///     println!("{key} = {value:?}");
    /// }
    ///
    /// // On a one-server client no connection is held between pages: deleting while
    /// // scanning works with a pool of one connection.
    /// let local = Client::builder().host("127.0.0.1").max_connections(1).build();
    /// for key in local.scan_iter::<String>(ScanOptions::new().pattern("tmp:*")) {
    ///     local.del(key?)?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn scan_iter<T: FromReply>(
        &self,
        options: ScanOptions,
    ) -> ScanIter<'_, ScanConnection<'_>, T> {
        ScanConnection::new(self).into_scan_iter(options)
    }

    /// Every member of a set (SSCAN), lazily; on one connection for a client whose pool can
    /// reach several servers, as for [`Client::scan_iter`].
    ///
    /// ```no_run
    /// use redis_client::{Client, SscanOptions};
    ///
    /// # fn demo(client: &Client) -> Result<(), redis_client::Error> {
    /// for member in client.sscan_iter::<String>("tags", SscanOptions::new().pattern("a*")) {
    ///     println!("{}", member?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn sscan_iter<T: FromReply>(
        &self,
        key: impl ToArg,
        options: SscanOptions,
    ) -> ScanIter<'_, ScanConnection<'_>, T> {
        ScanConnection::new(self).into_sscan_iter(key, options)
    }

    /// Every field and value of a hash (HSCAN), as pairs, lazily; on one connection for a
    /// client whose pool can reach several servers, as for [`Client::scan_iter`].
    ///
    /// ```no_run
    /// use redis_client::{Client, HscanOptions};
    ///
    /// # fn demo(client: &Client) -> Result<(), redis_client::Error> {
    /// for pair in client.hscan_iter::<String, String>("user:1", HscanOptions::new()) {
    ///     let (field, value) = pair?;
    ///     println!("{field} = {value}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn hscan_iter<F: FromReply, V: FromReply>(
        &self,
        key: impl ToArg,
        options: HscanOptions,
    ) -> ScanIter<'_, ScanConnection<'_>, (F, V)> {
        ScanConnection::new(self).into_hscan_iter(key, options)
    }

    /// Every member of a sorted set and its score (ZSCAN), as pairs, lazily; on one
    /// connection for a client whose pool can reach several servers, as for
    /// [`Client::scan_iter`].
    ///
    /// ```no_run
    /// use redis_client::{Client, ZscanOptions};
    ///
    /// # fn demo(client: &Client) -> Result<(), redis_client::Error> {
    /// for pair in client.zscan_iter::<String>("board", ZscanOptions::new().count(100)) {
    ///     let (member, score) = pair?;
    ///     println!("{member}: {score}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn zscan_iter<M: FromReply>(
        &self,
        key: impl ToArg,
        options: ZscanOptions,
    ) -> ScanIter<'_, ScanConnection<'_>, (M, f64)> {
        ScanConnection::new(self).into_zscan_iter(key, options)
    }
}
