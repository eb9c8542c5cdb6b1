//! [`ClusterPipeline`]: a pipeline split by node and reassembled in order, or a MULTI/EXEC
//! transaction on one slot; and [`ClusterClient::transaction`], WATCH on one slot.

use std::sync::Arc;

use redis_pool::PooledConnection;

use redis_commands::{Cmd, FromReply, PipelineCommands, ToArg, ToArgs, cmd};
use redis_conn::{ServerError, ServerErrorKind};
use resp_proto::Value;

use super::route::{self, Route, command_name_of};
use super::{ClusterClient, ClusterError, Node, Target};
use crate::batch::Batch;
use crate::client::{check, is_state_changing};
use crate::error::Error;
use crate::pipeline::into_result;
use crate::pipeline::{RetryPolicy, WatchedPipeline};

/// Encoded size of one node's batch up to which a plain pipeline writes every node's batch
/// before reading any reply.
const WRITE_WHOLE_LIMIT: usize = 1 << 20;

/// A node and the indexes of the pipeline's commands it serves.
type NodeBatch = (Arc<Node>, Vec<usize>);

/// Takes the results of one node's batch.
type Sorter<'a> = dyn FnMut(&Arc<Node>, &[usize], Vec<Result<Value, Error>>) + 'a;

/// Commands sent together through a [`ClusterClient`]: a plain pipeline split by node
/// (the default), or a MULTI/EXEC transaction when every key is in one slot.
///
/// Every command is a chaining method through [`PipelineCommands`]
/// (`pipe.set("a", 1).incr("n")`); raw commands go through [`ClusterPipeline::cmd`].
///
/// **Plain pipeline** (the default): each command goes to the primary serving its keys'
/// slot (commands without keys all go to one primary chosen at random). The commands of
/// each node are sent as one plain [`Pipeline`](crate::Pipeline) on that node's pooled
/// connection, node after node, and the replies are put back in the order the commands were
/// added. The commands of one node run in the order they were added; there is no order
/// between nodes.
///
/// * A command answered with MOVED, ASK, TRYAGAIN or CLUSTERDOWN (the server did not run it)
///   is sent again alone, as [`ClusterClient`] sends any command, once the batches have run.
/// * A connection failure fails the whole pipeline, and nothing is sent again: which
///   commands ran is unknown (the commands of the nodes before may have run).
/// * A command fanned out by [`ClusterClient`] (DBSIZE, KEYS, FLUSHALL, PING, SCRIPT LOAD,
///   ...) or RANDOMKEY cannot be pipelined, nor can a command that changes the state of its
///   connection (MULTI, WATCH, SELECT, CLIENT ..., SUBSCRIBE, READONLY, ...):
///   [`ClusterError::Unsupported`], before anything is sent. Run them on the client.
/// * Every command goes to a primary, whatever the [`ReadFrom`](crate::ReadFrom) policy.
///
/// **Transaction** ([`ClusterPipeline::transaction`]`(true)`): every key of every command
/// must be in one slot ([`ClusterError::CrossSlot`] before anything is sent otherwise); the
/// batch runs as MULTI/EXEC on that slot's primary (commands without keys join it there;
/// with no key at all, a random primary). When the server discards it because the slot moved
/// (EXECABORT with MOVED: nothing ran), the slot map is updated and the transaction is sent
/// to the new primary, up to
/// [`ClusterClientBuilder::max_redirects`](crate::ClusterClientBuilder::max_redirects) times;
/// when it discards it for ASK, TRYAGAIN or CLUSTERDOWN (a migration or failover under way),
/// it is sent again after the backoff of
/// [`ClusterClientBuilder::max_retries`](crate::ClusterClientBuilder::max_retries). Other
/// failures are returned as [`Pipeline::execute`](crate::Pipeline::execute) returns them.
///
/// ```no_run
/// use redis_client::{ClusterClient, PipelineCommands};
///
/// let cluster = ClusterClient::open(&["redis://127.0.0.1:7000"])?;
/// // Keys on different nodes; the replies come back in order.
/// let (a, b): (i64, i64) = cluster.pipeline().incr("a").incr("b").query()?;
/// // A transaction: one slot, thanks to the hash tag.
/// let (n, _): (i64, ()) = cluster
///     .pipeline()
///     .transaction(true)
///     .incr("{user1}:visits")
///     .set("{user1}:seen", "now")
///     .query()?;
/// # drop((a, b, n));
/// # Ok::<(), redis_client::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterPipeline {
    client: ClusterClient,
    batch: Batch,
    transaction: bool,
}

impl ClusterClient {
    /// A new pipeline on this cluster: a plain pipeline split by node by default; see
    /// [`ClusterPipeline`].
    pub fn pipeline(&self) -> ClusterPipeline {
        ClusterPipeline {
            client: self.clone(),
            batch: Batch::default(),
            transaction: false,
        }
    }

    /// Runs `f` as an optimistic transaction on `keys` (which must all be in one slot) until
    /// it commits, on the primary serving that slot: [`Client::transaction`] on that node
    /// (WATCH, `f`, MULTI/EXEC, again when a watched key changed).
    ///
    /// When the slot turns out to be elsewhere (WATCH answered MOVED, EXEC was discarded
    /// because a queued command got MOVED, or `f` failed with a MOVED reply: in each case the
    /// transaction did not run), the slot map is updated and the whole closure runs again on
    /// the new primary, up to [`ClusterClientBuilder::max_redirects`] times. TRYAGAIN, ASK
    /// (the slot is migrating) and CLUSTERDOWN are retried likewise, after the backoff of
    /// [`ClusterClientBuilder::max_retries`]. So `f` may run more than once: keep it free of
    /// side effects other than through the pipeline. An attempt in which `f` ran a command
    /// at once that is not a known read (a write outside the transaction) is not run again:
    /// its refusal comes back as [`ClusterError::PartlyRun`].
    ///
    /// ```no_run
    /// use redis_client::{ClusterClient, Commands, PipelineCommands};
    ///
    /// let cluster = ClusterClient::open(&["redis://127.0.0.1:7000"])?;
    /// let next = cluster.transaction(&["{acct}:balance", "{acct}:log"], |pipe| {
    ///     let balance: i64 = pipe.get::<Option<i64>>("{acct}:balance")?.unwrap_or(0);
    ///     pipe.multi().set("{acct}:balance", balance + 10).rpush("{acct}:log", ["+10"]);
    ///     Ok(balance + 10)
    /// })?;
    /// # drop(next);
    /// # Ok::<(), redis_client::Error>(())
    /// ```
    ///
    /// [`Client::transaction`]: crate::Client::transaction
    /// [`ClusterClientBuilder::max_redirects`]: crate::ClusterClientBuilder::max_redirects
    /// [`ClusterClientBuilder::max_retries`]: crate::ClusterClientBuilder::max_retries
    pub fn transaction<T, K: ToArgs>(
        &self,
        keys: K,
        f: impl FnMut(&mut WatchedPipeline) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.transaction_with(keys, RetryPolicy::new(), f)
    }

    /// [`ClusterClient::transaction`] with a bound on the attempts after a watched key
    /// changed, and a pause between them ([`RetryPolicy`]).
    pub fn transaction_with<T, K: ToArgs>(
        &self,
        keys: K,
        policy: RetryPolicy,
        mut f: impl FnMut(&mut WatchedPipeline) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut watch = Cmd::new();
        watch.arg("WATCH").args_required("keys", &keys);
        check(&watch)?;
        let target = match route::route(&watch)? {
            Route::Slot(slot) => Target::Slot(slot),
            _ => Target::AnyPrimary,
        };
        let mut redirects = 0;
        let mut retries = 0;
        loop {
            self.refresh_if_stale();
            let node = self.resolve(&target)?;
            // Whether `f` ran a command at once that may have written: then a refusal does
            // not mean the attempt did nothing, and it is not run again.
            let wrote = std::cell::Cell::new(false);
            let result = self.client_of(&node).transaction_with(
                &keys,
                policy,
                |pipe: &mut WatchedPipeline| {
                    let result = f(pipe);
                    if pipe.writes_sent() > 0 {
                        wrote.set(true);
                    }
                    result
                },
            );
            let error = match result {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if wrote.get() && did_not_run(&error).is_some() {
                return Err(ClusterError::PartlyRun {
                    source: Box::new(error),
                }
                .into());
            }
            match self.redirect_step(&error, &node, &mut redirects, &mut retries, "WATCH")? {
                Step::Again => {}
                Step::GiveUp => return Err(error),
            }
        }
    }

    /// What to do after a transaction failed with `error` on `node`: try again (after
    /// updating the map for MOVED, or after a pause), or give up. Errors past the limits.
    fn redirect_step(
        &self,
        error: &Error,
        node: &Node,
        redirects: &mut usize,
        retries: &mut u32,
        command: &str,
    ) -> Result<Step, Error> {
        let Some(refusal) = did_not_run(error) else {
            return Ok(Step::GiveUp);
        };
        let settings = self.inner.settings;
        match refusal.kind() {
            ServerErrorKind::Moved => {
                *redirects += 1;
                if *redirects > settings.max_redirects {
                    return Err(ClusterError::TooManyRedirects {
                        command: command.to_owned(),
                        redirects: *redirects - 1,
                        last: refusal.clone(),
                    }
                    .into());
                }
                self.follow_moved(refusal, &node.addr)?;
                Ok(Step::Again)
            }
            kind => {
                *retries += 1;
                if *retries > settings.max_retries {
                    return Ok(Step::GiveUp);
                }
                if kind == ServerErrorKind::ClusterDown {
                    self.mark_stale();
                }
                std::thread::sleep(self.backoff(*retries));
                Ok(Step::Again)
            }
        }
    }
}

/// After a failed transaction: run it again, or return the error.
enum Step {
    Again,
    GiveUp,
}

/// The refusal (MOVED, ASK, TRYAGAIN or CLUSTERDOWN) in `error` that says the transaction
/// did not run: the error itself, or the first such rejection of a discarded transaction.
fn did_not_run(error: &Error) -> Option<&ServerError> {
    let redirect = |e: &&ServerError| {
        matches!(
            e.kind(),
            ServerErrorKind::Moved
                | ServerErrorKind::Ask
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
        )
    };
    match error {
        Error::Server(e) => Some(e).filter(redirect),
        Error::ExecAbort { rejected } => rejected.iter().map(|(_, _, e)| e).find(redirect),
        _ => None,
    }
}

impl ClusterPipeline {
    /// Whether the batch runs as one MULTI/EXEC transaction on the slot of its keys (`true`;
    /// every key must be in one slot) or as a plain pipeline split by node (`false`, the
    /// default).
    pub fn transaction(&mut self, on: bool) -> &mut Self {
        self.transaction = on;
        self
    }

    /// Starts a command; add its arguments with [`ClusterPipeline::arg`] and
    /// [`ClusterPipeline::args`].
    pub fn cmd(&mut self, name: &str) -> &mut Self {
        self.add(cmd(name))
    }

    /// Adds an argument to the command started last (before any command, the argument starts
    /// one and is its name).
    pub fn arg<T: ToArg>(&mut self, arg: T) -> &mut Self {
        self.batch.arg(arg);
        self
    }

    /// Adds arguments to the command started last.
    pub fn args<T: ToArgs>(&mut self, args: T) -> &mut Self {
        self.batch.args(args);
        self
    }

    /// Adds a command built elsewhere (for example by [`redis_commands::build`]).
    pub fn add(&mut self, command: Cmd) -> &mut Self {
        self.batch.push(&command);
        self
    }

    /// The number of commands.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether no command was added.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Removes every command, keeping the settings.
    pub fn clear(&mut self) -> &mut Self {
        self.batch.clear();
        self
    }

    /// Runs the batch and returns one result per command, in the order they were added: a
    /// server error of one command is its own `Err` and does not hide the others' results.
    ///
    /// The outer `Err` is for what affects the whole batch: a command that cannot be routed
    /// (nothing sent), a connection failure (which commands ran is unknown), a transaction
    /// the server discarded ([`Error::ExecAbort`]).
    pub fn execute(&self) -> Result<Vec<Result<Value, Error>>, Error> {
        let routes = self.routes()?;
        if self.batch.is_empty() {
            return Ok(Vec::new());
        }
        self.client.refresh_if_stale();
        if self.transaction {
            self.run_transaction(&routes)
        } else {
            self.run_plain(&routes)
        }
    }

    /// Runs the batch and converts the list of replies to `T` (a tuple with one element per
    /// command, a `Vec`, ...), failing on the first command that failed, with its index and
    /// name ([`Error::Pipeline`] for a server error).
    pub fn query<T: FromReply>(&self) -> Result<T, Error> {
        let results = self.execute()?;
        let mut values = Vec::with_capacity(results.len());
        for (index, result) in results.into_iter().enumerate() {
            match result {
                Ok(value) => values.push(value),
                Err(Error::Server(error)) => {
                    return Err(Error::Pipeline {
                        index,
                        command: self.name(index),
                        error,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(T::from_reply(Value::Array(values.into()))?)
    }

    /// The name (and subcommand) of command `index`, for messages.
    fn name(&self, index: usize) -> String {
        command_name_of(self.batch.arg_bytes(index))
    }

    /// Each command's slot (`None`: no key), checked before anything is sent.
    fn routes(&self) -> Result<Vec<Option<u16>>, Error> {
        let mut routes = Vec::with_capacity(self.batch.len());
        for index in 0..self.batch.len() {
            self.batch.validate_command(index)?;
            if is_state_changing(self.batch.name_bytes(index)) {
                return Err(ClusterError::Unsupported {
                    command: self.name(index),
                    reason: "it changes the state of its connection, which a pipeline on \
                             pooled connections cannot keep; use a DedicatedConnection of \
                             `ClusterClient::client_for_slot`",
                }
                .into());
            }
            let route = route::route_args(self.batch.arg_bytes(index), self.batch.arg_count(index));
            routes.push(match route? {
                Route::Slot(slot) => Some(slot),
                Route::AnyPrimary => None,
                Route::Fanout(..) | Route::RandomKey => {
                    return Err(ClusterError::Unsupported {
                        command: self.name(index),
                        reason: "it runs on several nodes, which a pipeline cannot do; run it \
                                 on the ClusterClient itself",
                    }
                    .into());
                }
            });
        }
        Ok(routes)
    }

    /// The plain pipeline: one batch per node, then the redirected commands one by one.
    ///
    /// When every node's batch is small enough to be written whole (up to 1 MiB), all are
    /// written before any reply is read, so the nodes work at the same time; larger batches
    /// go node after node, each in chunks with its replies read in between.
    fn run_plain(&self, routes: &[Option<u16>]) -> Result<Vec<Result<Value, Error>>, Error> {
        let client = &self.client;
        let groups = self.groups(routes)?;
        let mut results: Vec<Option<Result<Value, Error>>> =
            (0..self.batch.len()).map(|_| None).collect();
        // The commands a node refused without running them, to send again alone.
        let mut refused: Vec<(usize, Arc<Node>, ServerError)> = Vec::new();
        let mut sort = |node: &Arc<Node>, indexes: &[usize], replies: Vec<Result<Value, Error>>| {
            for (&index, reply) in indexes.iter().zip(replies) {
                match reply {
                    Err(Error::Server(e))
                        if matches!(
                            e.kind(),
                            ServerErrorKind::Moved
                                | ServerErrorKind::Ask
                                | ServerErrorKind::TryAgain
                                | ServerErrorKind::ClusterDown
                        ) =>
                    {
                        refused.push((index, Arc::clone(node), e));
                    }
                    other => results[index] = Some(other),
                }
            }
        };
        let fits = groups.iter().all(|(_, indexes)| {
            let size: usize = indexes.iter().map(|&i| self.batch.packed_len(i) + 16).sum();
            size <= WRITE_WHOLE_LIMIT
        });
        let outcome = if fits {
            self.write_all_then_read(&groups, &mut sort)
        } else {
            let mut sent = false;
            groups.iter().try_for_each(|(node, indexes)| {
                let mut batch = client.client_of(node).pipeline();
                batch.transaction(false);
                for &index in indexes {
                    batch.add_packed(&self.batch, index);
                }
                let replies = batch.execute().map_err(|e| partly_run(e, sent))?;
                sent = true;
                sort(node, indexes, replies);
                Ok(())
            })
        };
        outcome.inspect_err(|e| {
            if e.is_connection() {
                client.mark_stale();
            }
        })?;
        refused.sort_by_key(|(index, _, _)| *index);
        for (index, node, error) in refused {
            let target = routes[index].map_or(Target::AnyPrimary, Target::Slot);
            let command = self.batch.to_cmd(index);
            match client.run_with(&command, target, Some((node, error))) {
                // The rest of the pipeline has run by now.
                Err(e) if !matches!(e, Error::Server(_) | Error::Cluster(_)) => {
                    return Err(partly_run(e, true));
                }
                other => results[index] = Some(other),
            }
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::InvalidRequest(
                        "the pipeline lost a reply".to_owned(),
                    ))
                })
            })
            .collect())
    }

    /// The commands' indexes grouped by the node serving them (commands without keys share
    /// one random primary), nodes in the order they first appear.
    fn groups(&self, routes: &[Option<u16>]) -> Result<Vec<NodeBatch>, Error> {
        let client = &self.client;
        let any = if routes.iter().any(Option::is_none) {
            Some(client.resolve(&Target::AnyPrimary)?)
        } else {
            None
        };
        let mut groups: Vec<NodeBatch> = Vec::new();
        let map = client.inner.topology.read();
        for (index, route) in routes.iter().enumerate() {
            let node = match (route, &any) {
                (Some(slot), _) => map.primary_for(*slot),
                (None, any) => any.as_ref(),
            };
            let Some(node) = node else {
                drop(map);
                // A slot the map does not know: the slow path picks a node (and refreshes).
                return self.groups_one_by_one(routes, any);
            };
            match groups.iter_mut().find(|(n, _)| Arc::ptr_eq(n, node)) {
                Some((_, indexes)) => indexes.push(index),
                None => groups.push((Arc::clone(node), vec![index])),
            }
        }
        Ok(groups)
    }

    /// [`ClusterPipeline::groups`] through [`ClusterClient::resolve`], command by command.
    fn groups_one_by_one(
        &self,
        routes: &[Option<u16>],
        any: Option<Arc<Node>>,
    ) -> Result<Vec<NodeBatch>, Error> {
        let client = &self.client;
        let mut groups: Vec<NodeBatch> = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            let node = match (route, &any) {
                (Some(slot), _) => client.resolve(&Target::Slot(*slot))?,
                (None, Some(any)) => Arc::clone(any),
                (None, None) => client.resolve(&Target::AnyPrimary)?,
            };
            match groups.iter_mut().find(|(n, _)| Arc::ptr_eq(n, &node)) {
                Some((_, indexes)) => indexes.push(index),
                None => groups.push((node, vec![index])),
            }
        }
        Ok(groups)
    }

    /// Writes every node's batch, then reads every node's replies and hands them to `sort`.
    /// On a failure every connection used is closed (replies may be left unread).
    fn write_all_then_read(
        &self,
        groups: &[NodeBatch],
        sort: &mut Sorter<'_>,
    ) -> Result<(), Error> {
        // Every node's connection first: a node that cannot be reached fails the pipeline
        // before anything is sent. A connection dropped with replies unread is closed by its
        // pool.
        let mut conns: Vec<PooledConnection> = groups
            .iter()
            .map(|(node, _)| self.client.pool_of(node).get())
            .collect::<Result<_, _>>()?;
        for (i, ((_, indexes), conn)) in groups.iter().zip(conns.iter_mut()).enumerate() {
            conn.send_with(indexes.len(), |buf| {
                for &index in indexes {
                    self.batch.write(index, buf);
                }
            })
            .map_err(|e| partly_run(e.into(), i > 0))?;
        }
        let mut replies = Vec::new();
        for ((node, indexes), conn) in groups.iter().zip(conns.iter_mut()) {
            replies.clear();
            conn.read_replies(indexes.len(), &mut replies)?;
            sort(node, indexes, replies.drain(..).map(into_result).collect());
        }
        Ok(())
    }

    /// The transaction: every key in one slot, MULTI/EXEC on its primary, sent again to the
    /// new primary when the slot moved.
    fn run_transaction(&self, routes: &[Option<u16>]) -> Result<Vec<Result<Value, Error>>, Error> {
        let mut slot: Option<u16> = None;
        for (index, route) in routes.iter().enumerate() {
            match (slot, route) {
                (_, None) => {}
                (None, Some(s)) => slot = Some(*s),
                (Some(first), Some(s)) if first != *s => {
                    return Err(ClusterError::CrossSlot {
                        command: format!("MULTI (command {index}, {})", self.name(index)),
                        first_slot: first,
                        other_slot: *s,
                    }
                    .into());
                }
                (Some(_), Some(_)) => {}
            }
        }
        let target = slot.map_or(Target::AnyPrimary, Target::Slot);
        let client = &self.client;
        let mut redirects = 0;
        let mut retries = 0;
        loop {
            let node = client.resolve(&target)?;
            let mut batch = client.client_of(&node).pipeline();
            batch.transaction(true);
            for index in 0..self.batch.len() {
                batch.add_packed(&self.batch, index);
            }
            let error = match batch.execute() {
                Ok(results) => return Ok(results),
                Err(e) => e,
            };
            if error.is_connection() {
                client.mark_stale();
            }
            match client.redirect_step(&error, &node, &mut redirects, &mut retries, "MULTI")? {
                Step::Again => {}
                Step::GiveUp => return Err(error),
            }
        }
    }
}

/// Every command as a chaining method: `pipe.set("a", 1).incr("n").get("a")`.
impl PipelineCommands for ClusterPipeline {
    fn queue_cmd(&mut self, cmd: Cmd) -> &mut Self {
        self.add(cmd)
    }
}

/// `error`, or when part of the pipeline was already sent and `error` would read as safe to
/// send again, [`ClusterError::PartlyRun`] around it.
fn partly_run(error: Error, sent: bool) -> Error {
    if sent && error.is_retryable() {
        Error::Cluster(ClusterError::PartlyRun {
            source: Box::new(error),
        })
    } else {
        error
    }
}
