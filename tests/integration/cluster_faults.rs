//! The cluster client under faults, with concurrent writers and a reader sharing one
//! [`ClusterClient`] (RELIABILITY.md section 6, "no reply given to the wrong caller", and
//! issue 7's cluster client):
//!
//! * **resharding while writers run**
//!   (`resharding_under_write_load_loses_no_acknowledged_write`): slots holding keys move
//!   from one primary to a second, then on to a third, the way `redis-cli --cluster reshard`
//!   does it (SETSLOT IMPORTING/MIGRATING, MIGRATE in batches from CLUSTER GETKEYSINSLOT,
//!   SETSLOT NODE on every primary), so the workers meet ASK, TRYAGAIN and MOVED; the
//!   servers' own counters prove the redirects happened;
//! * **SIGSTOP of a primary under write load**
//!   (`sigstop_of_a_primary_under_write_load_recovers`): the cluster fails over to the
//!   replica after `cluster-node-timeout`; the recovery time (SIGSTOP to the first
//!   acknowledged write on the stopped primary's slots) is measured and printed, writes to
//!   the other shards keep succeeding, failures are only timeouts, connection errors and
//!   CLUSTERDOWN, and after SIGCONT the old primary rejoins as a replica;
//! * **CLUSTER FAILOVER under write load**
//!   (`cluster_failover_under_write_load_keeps_every_acknowledged_write`): a manual failover
//!   loses no acknowledged write and fails no request.
//!
//! Every value names its key and version (`<key>:<version>`), and every key has exactly one
//! writer, which tracks the last version it sent and the last one acknowledged. The writers
//! use single commands, pipelines split by node, MULTI/EXEC and MGET. So each read can be
//! checked: it must name its own key (a reply meant for another command would name another
//! key), it must never be a version that was not sent, and it must not be older than a write
//! acknowledged before the read was sent. A write that failed is "unknown": its version may
//! or may not have landed. At the end every key holds its last acknowledged version or a
//! later one that was sent.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use redis_client::replies::Role;
use redis_client::{
    ClusterClient, ClusterError, Commands, Error, FromReply, PipelineCommands, ServerErrorKind,
    cmd, key_slot,
};
use tests::{RedisCluster, eventually};

use crate::cluster_util::{
    calls, info_stat, migrate_keys, node_client, owner_of, set_slot, start_migration,
    wait_replicated,
};

/// Bound of every wait for the cluster or the workload to converge.
const CONVERGE: Duration = Duration::from_secs(30);

/// Hard limit of every worker thread's loop, whatever the test does.
const WORKER_LIMIT: Duration = Duration::from_secs(180);

/// Hard limit of the number of steps of one worker thread.
const MAX_STEPS: u64 = 50_000_000;

/// How many violations one worker keeps in full (all are counted).
const KEPT_VIOLATIONS: usize = 20;

// ------------------------------------------------------------------------------------------
// Cluster helpers (the private ones of `cluster.rs`, which this file may not share).
// ------------------------------------------------------------------------------------------

/// A cluster client on every node's seed URL, with the given socket timeout.
fn cluster_client(cluster: &RedisCluster, socket_timeout: Duration) -> ClusterClient {
    ClusterClient::builder_from_urls(&cluster.seed_urls())
        .expect("seed URLs")
        .socket_timeout(socket_timeout)
        .connect_timeout(socket_timeout)
        .build()
        .expect("the cluster is discovered")
}

/// `count` hash tags (`<prefix><n>`) with distinct slots, all served by primary `owner` at
/// start-up, with their slots.
fn tags_served_by(
    cluster: &RedisCluster,
    prefix: &str,
    owner: usize,
    count: usize,
) -> Vec<(String, u16)> {
    let mut seen = HashSet::new();
    let tags: Vec<(String, u16)> = (0..100_000)
        .map(|i| format!("{prefix}{i}"))
        .map(|tag| {
            let slot = key_slot(tag.as_bytes());
            (tag, slot)
        })
        .filter(|(_, slot)| cluster.primary_for_slot(*slot) == owner && seen.insert(*slot))
        .take(count)
        .collect();
    assert_eq!(tags.len(), count, "not enough tags for primary {owner}");
    tags
}

/// Ends a migration: CLUSTER SETSLOT `slot` NODE `target` on the target, then the source,
/// then every other primary (the target first, so no node sends a MOVED towards a target
/// that does not own the slot yet).
fn finish_migration(cluster: &RedisCluster, slot: u16, source: usize, target: usize) {
    let others = cluster
        .primaries()
        .into_iter()
        .filter(|&p| p != source && p != target);
    for node in [target, source].into_iter().chain(others) {
        set_slot(cluster, node, slot, "NODE", cluster.node_id(target));
    }
}

/// Up to `count` keys node `i` holds in `slot` (CLUSTER GETKEYSINSLOT).
fn keys_in_slot(cluster: &RedisCluster, i: usize, slot: u16, count: usize) -> Vec<String> {
    cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(count)
        .query(&node_client(cluster, i))
        .expect("CLUSTER GETKEYSINSLOT")
}

/// How many keys node `i` holds in `slot` (CLUSTER COUNTKEYSINSLOT).
fn count_keys_in_slot(cluster: &RedisCluster, i: usize, slot: u16) -> u64 {
    cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&node_client(cluster, i))
        .expect("CLUSTER COUNTKEYSINSLOT")
}

/// `count` of `errorstat_<prefix>` in node `i`'s `INFO errorstats` (the error replies it
/// sent that start with `prefix`: MOVED, ASK, TRYAGAIN, ...).
fn errors_sent(cluster: &RedisCluster, i: usize, prefix: &str) -> u64 {
    info_stat(
        cluster,
        i,
        "errorstats",
        &format!("errorstat_{prefix}"),
        "count",
    )
}

/// Whether node `i` answers ROLE as a replica.
fn is_replica(cluster: &RedisCluster, i: usize) -> bool {
    node_client(cluster, i)
        .role()
        .is_ok_and(|role| matches!(role, Role::Replica { .. }))
}

/// Whether node `i` answers ROLE as a master.
fn is_master(cluster: &RedisCluster, i: usize) -> bool {
    node_client(cluster, i)
        .role()
        .is_ok_and(|role| matches!(role, Role::Master { .. }))
}

// ------------------------------------------------------------------------------------------
// The ledger: self-identifying values and what each writer knows about its keys.
// ------------------------------------------------------------------------------------------

/// One key, written by exactly one writer: the highest version sent and the highest version
/// acknowledged (versions grow by one per write).
#[derive(Debug)]
struct Tracked {
    /// The key.
    key: String,
    /// The highest version whose SET was sent (stored before sending).
    attempted: AtomicU64,
    /// The highest version whose SET was acknowledged.
    acked: AtomicU64,
}

impl Tracked {
    /// A key whose version 1 was written and acknowledged.
    fn seeded(client: &ClusterClient, key: String) -> Arc<Tracked> {
        client
            .set(&key, value_of(&key, 1))
            .unwrap_or_else(|e| panic!("seeding {key}: {e}"));
        Arc::new(Tracked {
            key,
            attempted: AtomicU64::new(1),
            acked: AtomicU64::new(1),
        })
    }
}

/// The value of version `version` of `key`: it names both.
fn value_of(key: &str, version: u64) -> String {
    format!("{key}:{version}")
}

/// Checks a value read for `key`: it must exist, name `key`, and carry a version in
/// `lo..=hi`. Returns the version, or what is wrong.
fn check_value(key: &str, got: Option<&str>, lo: u64, hi: u64) -> Result<u64, String> {
    let Some(value) = got else {
        return Err(format!(
            "{key}: no value, expected a version in {lo}..={hi}"
        ));
    };
    let version = value
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| format!("{key}: got {value:?}, the value of another key"))?;
    if version < lo {
        return Err(format!(
            "{key}: got version {version}, older than acknowledged version {lo} (a lost write)"
        ));
    }
    if version > hi {
        return Err(format!(
            "{key}: got version {version}, but only versions up to {hi} were sent"
        ));
    }
    Ok(version)
}

/// The kind of a failed request, for the allowed-error checks.
fn classify(e: &Error) -> &'static str {
    match e.server_kind() {
        Some(ServerErrorKind::ClusterDown) => return "CLUSTERDOWN",
        Some(ServerErrorKind::TryAgain) => return "TRYAGAIN",
        Some(ServerErrorKind::Moved) => return "MOVED",
        Some(ServerErrorKind::Ask) => return "ASK",
        Some(_) => return "other server error",
        None => {}
    }
    if matches!(e, Error::Cluster(ClusterError::TooManyRedirects { .. })) {
        "too many redirects"
    } else if let Error::ExecAbort { rejected } = e {
        match rejected.first().map(|(_, _, e)| e.kind()) {
            Some(ServerErrorKind::Ask) => "EXECABORT (ASK)",
            Some(ServerErrorKind::TryAgain) => "EXECABORT (TRYAGAIN)",
            Some(ServerErrorKind::ClusterDown) => "EXECABORT (CLUSTERDOWN)",
            _ => "EXECABORT",
        }
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_connection() {
        "connection"
    } else {
        "other"
    }
}

/// What one worker saw: failed requests by kind (with the first message of each kind) and
/// broken invariants.
#[derive(Debug, Default)]
struct Outcomes {
    /// Kind → (count, first message).
    errors: BTreeMap<&'static str, (u64, String)>,
    /// The first [`KEPT_VIOLATIONS`] broken invariants.
    violations: Vec<String>,
    /// How many invariants were broken.
    violation_count: u64,
}

impl Outcomes {
    /// Records a failed request.
    fn error(&mut self, what: &str, e: &Error) {
        let entry = self
            .errors
            .entry(classify(e))
            .or_insert_with(|| (0, format!("{what}: {e}")));
        entry.0 += 1;
    }

    /// Records a broken invariant.
    fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < KEPT_VIOLATIONS {
            self.violations.push(what);
        }
    }

    /// Adds another worker's outcomes to these.
    fn merge(&mut self, other: Outcomes) {
        for (kind, (count, first)) in other.errors {
            self.errors.entry(kind).or_insert((0, first)).0 += count;
        }
        self.violation_count += other.violation_count;
        self.violations.extend(other.violations);
        self.violations.truncate(KEPT_VIOLATIONS);
    }

    /// How many requests failed.
    fn error_count(&self) -> u64 {
        self.errors.values().map(|(n, _)| n).sum()
    }

    /// Panics when an invariant broke or a request failed with a kind not in `allowed`.
    fn assert_clean(&self, who: &str, allowed: &[&str]) {
        assert!(
            self.violation_count == 0,
            "{who}: {} broken invariants, first: {:#?}",
            self.violation_count,
            self.violations
        );
        let unexpected: Vec<_> = self
            .errors
            .iter()
            .filter(|(kind, _)| !allowed.contains(kind))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{who}: errors of unexpected kinds (allowed: {allowed:?}): {unexpected:#?}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// The workers.
// ------------------------------------------------------------------------------------------

/// State shared by the test and its workers.
#[derive(Debug)]
struct Shared {
    /// Set to end the workers.
    stop: AtomicBool,
    /// The workers end by then at the latest.
    deadline: Instant,
    /// The moment of the fault: writes sent after it count in [`Progress::acks_after_mark`].
    mark: Mutex<Option<Instant>>,
}

impl Shared {
    /// A new state, workers running.
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            stop: AtomicBool::new(false),
            deadline: Instant::now() + WORKER_LIMIT,
            mark: Mutex::new(None),
        })
    }

    /// Whether the workers go on.
    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst) && Instant::now() < self.deadline
    }

    /// The fault's moment, once set.
    fn mark(&self) -> Option<Instant> {
        *self.mark.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the fault's moment.
    fn set_mark(&self, at: Instant) {
        *self.mark.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
    }
}

/// Stops the workers when dropped, so a failing test does not leave them running.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

/// A worker's counters, read by the test while it runs.
#[derive(Debug, Default)]
struct Progress {
    /// Acknowledged writes.
    acks: AtomicU64,
    /// Acknowledged writes that were sent after the mark.
    acks_after_mark: AtomicU64,
    /// When the first write sent after the mark was acknowledged.
    first_ack_after_mark: Mutex<Option<Instant>>,
    /// The longest time between two acknowledged writes, in microseconds.
    max_gap_us: AtomicU64,
}

impl Progress {
    /// Acknowledged writes so far.
    fn acks(&self) -> u64 {
        self.acks.load(Ordering::SeqCst)
    }

    /// When the first write sent after the mark was acknowledged, if one was.
    fn first_ack_after_mark(&self) -> Option<Instant> {
        *self
            .first_ack_after_mark
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The longest time between two acknowledged writes.
    fn max_gap(&self) -> Duration {
        Duration::from_micros(self.max_gap_us.load(Ordering::SeqCst))
    }
}

/// A writer: round-robin over its own keys. Most steps SET the next version and GET it back
/// (once acknowledged it must be exactly that version); every eighth step sends a pipeline
/// of SET and GET over three keys (usually on different nodes), and every eighth a
/// MULTI/EXEC of SET and GET on one key; every fourth step an MGET of two of its keys
/// sharing a slot (a TRYAGAIN candidate during a migration). Returns what it saw.
fn writer(
    client: ClusterClient,
    keys: Vec<Arc<Tracked>>,
    pairs: Vec<[Arc<Tracked>; 2]>,
    shared: Arc<Shared>,
    progress: Arc<Progress>,
) -> Outcomes {
    let mut acks = Acks {
        progress,
        last: None,
    };
    let mut out = Outcomes::default();
    for step in 0..MAX_STEPS {
        if !shared.running() {
            break;
        }
        let at = |offset: u64| &keys[((step + offset) % keys.len() as u64) as usize];
        let mark = shared.mark();
        match step % 8 {
            6 => pipelined_writes(&client, &[at(0), at(1), at(2)], mark, &mut acks, &mut out),
            7 => transactional_write(&client, at(0), mark, &mut acks, &mut out),
            _ => plain_write(&client, at(0), mark, &mut acks, &mut out),
        }
        if step % 4 == 0 && !pairs.is_empty() {
            let pair = &pairs[(step as usize / 4) % pairs.len()];
            check_mget(&client, pair, &mut out);
        }
    }
    out
}

/// Records a writer's acknowledged writes in its [`Progress`].
struct Acks {
    /// The writer's counters.
    progress: Arc<Progress>,
    /// When its last write was acknowledged.
    last: Option<Instant>,
}

impl Acks {
    /// Version `version` of `tracked`, sent at `sent_at` (`mark` was the fault's moment
    /// then), was acknowledged.
    fn record(&mut self, tracked: &Tracked, version: u64, sent_at: Instant, mark: Option<Instant>) {
        let now = Instant::now();
        tracked.acked.fetch_max(version, Ordering::SeqCst);
        let progress = &self.progress;
        progress.acks.fetch_add(1, Ordering::SeqCst);
        if let Some(previous) = self.last {
            let gap = u64::try_from((now - previous).as_micros()).unwrap_or(u64::MAX);
            progress.max_gap_us.fetch_max(gap, Ordering::SeqCst);
        }
        self.last = Some(now);
        if mark.is_some_and(|m| sent_at >= m) {
            progress.acks_after_mark.fetch_add(1, Ordering::SeqCst);
            progress
                .first_ack_after_mark
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(now);
        }
    }
}

/// The next version of `tracked`, recorded as attempted before it is sent.
fn next_version(tracked: &Tracked) -> u64 {
    tracked.attempted.fetch_add(1, Ordering::SeqCst) + 1
}

/// SET of the next version, then GET (exactly that version when the SET was acknowledged).
fn plain_write(
    client: &ClusterClient,
    tracked: &Tracked,
    mark: Option<Instant>,
    acks: &mut Acks,
    out: &mut Outcomes,
) {
    let key = tracked.key.as_str();
    let version = next_version(tracked);
    let sent_at = Instant::now();
    match client.set(key, value_of(key, version)) {
        Ok(()) => {
            acks.record(tracked, version, sent_at, mark);
            // The only writer of this key was acknowledged: exactly this version.
            match client.get::<Option<String>>(key) {
                Ok(got) => {
                    if let Err(why) = check_value(key, got.as_deref(), version, version) {
                        out.violation(format!("GET after an acknowledged SET: {why}"));
                    }
                }
                Err(e) => out.error("GET", &e),
            }
        }
        Err(e) => out.error("SET", &e),
    }
}

/// One pipeline of `SET k v; GET k` for each of `keys`: each GET must answer its own SET
/// (exactly when that SET was acknowledged; otherwise between the last acknowledged and the
/// attempted version).
fn pipelined_writes(
    client: &ClusterClient,
    keys: &[&Arc<Tracked>],
    mark: Option<Instant>,
    acks: &mut Acks,
    out: &mut Outcomes,
) {
    let mut pipe = client.pipeline();
    let mut plan = Vec::with_capacity(keys.len());
    for tracked in keys {
        let lo = tracked.acked.load(Ordering::SeqCst);
        let version = next_version(tracked);
        pipe.set(&tracked.key, value_of(&tracked.key, version))
            .get(&tracked.key);
        plan.push((tracked, lo, version));
    }
    let sent_at = Instant::now();
    let results = match pipe.execute() {
        Ok(results) if results.len() == 2 * keys.len() => results,
        Ok(results) => {
            out.violation(format!(
                "a pipeline of {} commands answered {} results",
                2 * keys.len(),
                results.len()
            ));
            return;
        }
        Err(e) => {
            out.error("pipeline", &e);
            return;
        }
    };
    let mut results = results.into_iter();
    for (tracked, lo, version) in plan {
        let (set, get) = (results.next(), results.next());
        let (Some(set), Some(get)) = (set, get) else {
            return;
        };
        let lo = match set {
            Ok(_) => {
                acks.record(tracked, version, sent_at, mark);
                version
            }
            Err(e) => {
                out.error("pipelined SET", &e);
                lo
            }
        };
        let got = get.and_then(|value| Ok(Option::<String>::from_reply(value)?));
        match got {
            Ok(got) => {
                if let Err(why) = check_value(&tracked.key, got.as_deref(), lo, version) {
                    out.violation(format!("pipelined GET after its SET: {why}"));
                }
            }
            Err(e) => out.error("pipelined GET", &e),
        }
    }
}

/// `MULTI; SET k v; GET k; EXEC` on one key: the GET must answer exactly its SET.
fn transactional_write(
    client: &ClusterClient,
    tracked: &Tracked,
    mark: Option<Instant>,
    acks: &mut Acks,
    out: &mut Outcomes,
) {
    let key = tracked.key.as_str();
    let version = next_version(tracked);
    let sent_at = Instant::now();
    let result: Result<((), Option<String>), Error> = client
        .pipeline()
        .transaction(true)
        .set(key, value_of(key, version))
        .get(key)
        .query();
    match result {
        Ok(((), got)) => {
            acks.record(tracked, version, sent_at, mark);
            if let Err(why) = check_value(key, got.as_deref(), version, version) {
                out.violation(format!("GET in a transaction after its SET: {why}"));
            }
        }
        Err(e) => out.error("MULTI/EXEC", &e),
    }
}

/// An MGET of a pair of keys in one slot: each element must be its own key's value, not
/// older than acknowledged before the MGET, not newer than sent after it.
fn check_mget(client: &ClusterClient, pair: &[Arc<Tracked>; 2], out: &mut Outcomes) {
    let acked = pair.clone().map(|t| t.acked.load(Ordering::SeqCst));
    match client.mget::<Vec<Option<String>>>([&pair[0].key, &pair[1].key]) {
        Ok(values) if values.len() == 2 => {
            for ((tracked, value), lo) in pair.iter().zip(&values).zip(acked) {
                let hi = tracked.attempted.load(Ordering::SeqCst);
                if let Err(why) = check_value(&tracked.key, value.as_deref(), lo, hi) {
                    out.violation(format!("MGET: {why}"));
                }
            }
        }
        Ok(values) => out.violation(format!("MGET of two keys answered {values:?}")),
        Err(e) => out.error("MGET", &e),
    }
}

/// A reader: GETs of every key in a pseudo-random order, and MGETs of `pairs`; each value
/// must be its own key's, not older than acknowledged before the read, not newer than sent
/// after it.
fn reader(
    client: ClusterClient,
    keys: Vec<Arc<Tracked>>,
    pairs: Vec<[Arc<Tracked>; 2]>,
    shared: Arc<Shared>,
    progress: Arc<Progress>,
) -> Outcomes {
    let mut out = Outcomes::default();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for step in 0..MAX_STEPS {
        if !shared.running() {
            break;
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if step % 3 == 0 && !pairs.is_empty() {
            check_mget(&client, &pairs[state as usize % pairs.len()], &mut out);
            continue;
        }
        let tracked = &keys[state as usize % keys.len()];
        let lo = tracked.acked.load(Ordering::SeqCst);
        match client.get::<Option<String>>(&tracked.key) {
            Ok(got) => {
                let hi = tracked.attempted.load(Ordering::SeqCst);
                match check_value(&tracked.key, got.as_deref(), lo, hi) {
                    Ok(_) => {
                        progress.acks.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(why) => out.violation(format!("reader GET: {why}")),
                }
            }
            Err(e) => out.error("GET", &e),
        }
    }
    out
}

/// The signature of [`writer`] and [`reader`].
type Worker = fn(
    ClusterClient,
    Vec<Arc<Tracked>>,
    Vec<[Arc<Tracked>; 2]>,
    Arc<Shared>,
    Arc<Progress>,
) -> Outcomes;

/// A running worker: its thread and its counters.
struct Running {
    /// The worker's name, for messages.
    name: String,
    /// Its thread.
    handle: JoinHandle<Outcomes>,
    /// Its counters.
    progress: Arc<Progress>,
}

/// Starts `work` on a thread named `name` with its own clone of `client`.
fn spawn(
    name: String,
    work: Worker,
    client: &ClusterClient,
    keys: Vec<Arc<Tracked>>,
    pairs: Vec<[Arc<Tracked>; 2]>,
    shared: &Arc<Shared>,
) -> Running {
    let progress = Arc::new(Progress::default());
    let handle = {
        let (client, shared, progress) =
            (client.clone(), Arc::clone(shared), Arc::clone(&progress));
        thread::Builder::new()
            .name(name.clone())
            .spawn(move || work(client, keys, pairs, shared, progress))
            .expect("spawn a worker")
    };
    Running {
        name,
        handle,
        progress,
    }
}

/// Waits until every worker of `workers` has `more` acknowledged operations beyond what it
/// has now; panics after [`CONVERGE`].
fn wait_for_progress(workers: &[&Running], more: u64, why: &str) {
    let targets: Vec<u64> = workers.iter().map(|w| w.progress.acks() + more).collect();
    let done = eventually(CONVERGE, || {
        workers
            .iter()
            .zip(&targets)
            .all(|(w, &target)| w.progress.acks() >= target)
    });
    let stuck: Vec<&str> = workers
        .iter()
        .zip(&targets)
        .filter(|(w, target)| w.progress.acks() < **target)
        .map(|(w, _)| w.name.as_str())
        .collect();
    assert!(done, "{why}: no progress of {stuck:?} within {CONVERGE:?}");
}

/// Stops the workers, joins them, and returns each one's name, outcomes and acknowledged
/// count.
fn stop_and_join(shared: &Shared, workers: Vec<Running>) -> Vec<(String, Outcomes, u64)> {
    shared.stop.store(true, Ordering::SeqCst);
    workers
        .into_iter()
        .map(|w| {
            let outcomes = w
                .handle
                .join()
                .unwrap_or_else(|_| panic!("worker {} panicked", w.name));
            (w.name, outcomes, w.progress.acks())
        })
        .collect()
}

/// Reads every key back through the client once the workers have stopped: each must hold
/// its last acknowledged version or a later one that was sent.
fn check_final_values(client: &ClusterClient, keys: &[Arc<Tracked>]) -> Outcomes {
    let mut out = Outcomes::default();
    for tracked in keys {
        let lo = tracked.acked.load(Ordering::SeqCst);
        let hi = tracked.attempted.load(Ordering::SeqCst);
        match client.get::<Option<String>>(&tracked.key) {
            Ok(got) => {
                if let Err(why) = check_value(&tracked.key, got.as_deref(), lo, hi) {
                    out.violation(format!("final read: {why}"));
                }
            }
            Err(e) => out.violation(format!("final read of {}: {e}", tracked.key)),
        }
    }
    out
}

/// Keys `<prefix><n>` bucketed by the primary serving them at start-up, `per_primary` each,
/// in the order of [`RedisCluster::primaries`].
fn keys_per_primary(cluster: &RedisCluster, prefix: &str, per_primary: usize) -> Vec<Vec<String>> {
    let primaries = cluster.primaries();
    let mut buckets: Vec<Vec<String>> = vec![Vec::new(); primaries.len()];
    for n in 0..1_000_000 {
        if buckets.iter().all(|b| b.len() >= per_primary) {
            break;
        }
        let key = format!("{prefix}{n}");
        let owner = cluster.primary_for_slot(key_slot(key.as_bytes()));
        let bucket = primaries
            .iter()
            .position(|&p| p == owner)
            .expect("every slot has a primary");
        if buckets[bucket].len() < per_primary {
            buckets[bucket].push(key);
        }
    }
    assert!(buckets.iter().all(|b| b.len() == per_primary));
    buckets
}

// ------------------------------------------------------------------------------------------
// The tests.
// ------------------------------------------------------------------------------------------

/// How many slots the resharding test moves.
const MOVING_SLOTS: usize = 6;
/// Keys per moving slot.
const KEYS_PER_SLOT: usize = 48;
/// Keys per MIGRATE.
const MIGRATE_BATCH: usize = 6;
/// Writers of the resharding test.
const WRITERS: usize = 3;

/// Moves `slot` from node `source` to node `target` the way `redis-cli --cluster reshard`
/// does, while the workers run: IMPORTING/MIGRATING, MIGRATE in batches of
/// [`MIGRATE_BATCH`] keys until the source holds none, then SETSLOT NODE on every primary.
/// After every batch it waits until some command reached the target with ASKING (so the
/// workers really met the half-moved slot), and at the end until the client's map names
/// the target (which only a MOVED from the source does here). Returns the number of batches.
fn move_slot_under_load(
    cluster: &RedisCluster,
    client: &ClusterClient,
    slot: u16,
    source: usize,
    target: usize,
) -> u64 {
    start_migration(cluster, slot, source, target);
    let mut batches = 0;
    for _ in 0..KEYS_PER_SLOT {
        let batch = keys_in_slot(cluster, source, slot, MIGRATE_BATCH);
        if batch.is_empty() {
            break;
        }
        let asking = calls(cluster, target, "asking");
        migrate_keys(cluster, source, target, &batch);
        batches += 1;
        assert!(
            eventually(CONVERGE, || calls(cluster, target, "asking") > asking),
            "no command reached node {target} with ASKING after a MIGRATE of slot {slot}"
        );
    }
    assert_eq!(count_keys_in_slot(cluster, source, slot), 0, "slot {slot}");
    finish_migration(cluster, slot, source, target);
    assert!(
        eventually(CONVERGE, || client.slot_owner(slot)
            == Some(owner_of(cluster, target))),
        "the client's map never learned that slot {slot} moved to node {target}"
    );
    batches
}

/// Moves six slots holding keys twice (primary 0 → 1 → 2) while three writers and a reader
/// run on one shared client: no misattributed, lost or invented value, ASK/ASKING, TRYAGAIN
/// and MOVED really happened, and the keys end on the last owner.
#[test]
fn resharding_under_write_load_loses_no_acknowledged_write() {
    let started = Instant::now();
    let cluster = RedisCluster::start(3, 0);
    let client = cluster_client(&cluster, Duration::from_secs(5));
    let primaries = cluster.primaries();
    // The slots go from `source` to `target`, then on to `third`.
    let (source, target, third) = (primaries[0], primaries[1], primaries[2]);
    let moving = tags_served_by(&cluster, "mv", source, MOVING_SLOTS);
    let moving_slots: Vec<u16> = moving.iter().map(|&(_, slot)| slot).collect();

    // The keys: KEYS_PER_SLOT in each moving slot (key j written by writer j % WRITERS), and
    // keys elsewhere on every primary that stay where they are.
    let mut owned: Vec<Vec<Arc<Tracked>>> = vec![Vec::new(); WRITERS];
    let mut writer_pairs: Vec<Vec<[Arc<Tracked>; 2]>> = vec![Vec::new(); WRITERS];
    let mut reader_pairs = Vec::new();
    let mut all = Vec::new();
    for (tag, _) in &moving {
        let in_slot: Vec<Arc<Tracked>> = (0..KEYS_PER_SLOT)
            .map(|j| Tracked::seeded(&client, format!("{{{tag}}}:k{j}")))
            .collect();
        for (j, tracked) in in_slot.iter().enumerate() {
            owned[j % WRITERS].push(Arc::clone(tracked));
            if j + WRITERS < KEYS_PER_SLOT && j % (2 * WRITERS) < WRITERS {
                writer_pairs[j % WRITERS]
                    .push([Arc::clone(tracked), Arc::clone(&in_slot[j + WRITERS])]);
            }
            if j + 1 < KEYS_PER_SLOT {
                reader_pairs.push([Arc::clone(tracked), Arc::clone(&in_slot[j + 1])]);
            }
        }
        all.extend(in_slot);
    }
    let staying: Vec<String> = (0..)
        .map(|n| format!("st:{n}"))
        .filter(|k| !moving_slots.contains(&key_slot(k.as_bytes())))
        .take(60)
        .collect();
    let staying_owners: HashSet<usize> = staying
        .iter()
        .map(|k| cluster.primary_for_slot(key_slot(k.as_bytes())))
        .collect();
    assert_eq!(
        staying_owners.len(),
        3,
        "the staying keys span every primary"
    );
    for (n, key) in staying.into_iter().enumerate() {
        let tracked = Tracked::seeded(&client, key);
        owned[n % WRITERS].push(Arc::clone(&tracked));
        all.push(tracked);
    }

    let asking_before: Vec<u64> = primaries
        .iter()
        .map(|&p| calls(&cluster, p, "asking"))
        .collect();
    let errors_total = |prefix: &str| -> u64 {
        primaries
            .iter()
            .map(|&p| errors_sent(&cluster, p, prefix))
            .sum()
    };
    let (moved_before, ask_before, tryagain_before) = (
        errors_total("MOVED"),
        errors_total("ASK"),
        errors_total("TRYAGAIN"),
    );
    let shared = Shared::new();
    let _stop = StopOnDrop(Arc::clone(&shared));
    let mut workers: Vec<Running> = owned
        .into_iter()
        .zip(writer_pairs)
        .enumerate()
        .map(|(w, (keys, pairs))| {
            spawn(format!("writer-{w}"), writer, &client, keys, pairs, &shared)
        })
        .collect();
    workers.push(spawn(
        "reader".to_owned(),
        reader,
        &client,
        all.clone(),
        reader_pairs,
        &shared,
    ));
    wait_for_progress(&workers.iter().collect::<Vec<_>>(), 50, "warm-up");

    // Move each slot the real way while the workers run. After every MIGRATE batch, wait
    // until some worker was sent to the target with ASKING: the workers really saw the slot
    // half moved.
    let reshard_started = Instant::now();
    let mut batches = 0;
    for (from, to) in [(source, target), (target, third)] {
        for &slot in &moving_slots {
            batches += move_slot_under_load(&cluster, &client, slot, from, to);
        }
    }
    let reshard_time = reshard_started.elapsed();
    // The workers go on against the final layout for a while.
    wait_for_progress(
        &workers.iter().collect::<Vec<_>>(),
        50,
        "after the resharding",
    );
    let results = stop_and_join(&shared, workers);

    // Nothing was misattributed, stale or invented. The only failures allowed are refusals
    // that say nothing ran, returned after the client's bounded retries: TRYAGAIN (an MGET
    // of a pair split by a MIGRATE batch), and a transaction discarded for ASK or TRYAGAIN
    // (the client retries a transaction on the slot's owner, it does not follow ASK).
    let mut total = Outcomes::default();
    let mut acks = 0;
    for (name, outcomes, n) in results {
        outcomes.assert_clean(
            &name,
            &["TRYAGAIN", "EXECABORT (ASK)", "EXECABORT (TRYAGAIN)"],
        );
        acks += n;
        total.merge(outcomes);
    }
    check_final_values(&client, &all).assert_clean("final values", &[]);

    // The slots and their keys are on the last owner, which serves them directly.
    let third_client = node_client(&cluster, third);
    for (tag, slot) in &moving {
        assert_eq!(count_keys_in_slot(&cluster, source, *slot), 0);
        assert_eq!(count_keys_in_slot(&cluster, target, *slot), 0);
        assert_eq!(
            count_keys_in_slot(&cluster, third, *slot),
            KEYS_PER_SLOT as u64
        );
        let key = format!("{{{tag}}}:k0");
        let direct: Option<String> = third_client.get(&key).expect("GET on the owner");
        let routed: Option<String> = client.get(&key).expect("GET through the cluster");
        assert_eq!(direct, routed, "{key}");
    }
    // The redirects happened: ASKING on each round's target (at least once per batch), ASK
    // and MOVED sent by the nodes.
    let asking: u64 = [target, third]
        .iter()
        .map(|&p| {
            let i = primaries.iter().position(|&q| q == p).expect("a primary");
            calls(&cluster, p, "asking") - asking_before[i]
        })
        .sum();
    let moved = errors_total("MOVED") - moved_before;
    let ask = errors_total("ASK") - ask_before;
    let tryagain = errors_total("TRYAGAIN") - tryagain_before;
    assert!(asking >= batches, "{asking} ASKING for {batches} batches");
    assert!(ask >= batches, "{ask} ASK for {batches} batches");
    assert!(moved > 0, "no MOVED was sent");
    eprintln!(
        "resharding of {MOVING_SLOTS} slots, twice ({batches} MIGRATE batches), took \
         {reshard_time:?} under load: {acks} operations acknowledged, {} failed {:?}; the \
         nodes sent {moved} MOVED, {ask} ASK and {tryagain} TRYAGAIN, and counted {asking} \
         ASKING; test time {:?}",
        total.error_count(),
        total.errors,
        started.elapsed()
    );
}

/// Keys per primary in the failover tests.
const KEYS_PER_PRIMARY: usize = 30;

/// What [`FailoverWorkload::finish`] returns: each writer's longest pause between
/// acknowledged writes, every tracked key, and each worker's outcomes and acknowledged count.
type Finished = (
    Vec<(String, Duration)>,
    Vec<Arc<Tracked>>,
    Vec<(String, Outcomes, u64)>,
);

/// The workload of the failover tests: one writer per primary (on keys that primary serves
/// at start-up) and one reader of every key.
struct FailoverWorkload {
    /// Every key.
    all: Vec<Arc<Tracked>>,
    /// For each primary (in the order of [`RedisCluster::primaries`]), the slot of its first
    /// key.
    slots: Vec<u16>,
    /// The writers, in the order of [`RedisCluster::primaries`], then the reader.
    workers: Vec<Running>,
}

impl FailoverWorkload {
    /// Seeds the keys, makes sure the replicas have them, and starts the workers.
    fn start(cluster: &RedisCluster, client: &ClusterClient, shared: &Arc<Shared>) -> Self {
        let buckets = keys_per_primary(cluster, "fo:", KEYS_PER_PRIMARY);
        let owned: Vec<Vec<Arc<Tracked>>> = buckets
            .into_iter()
            .map(|keys| {
                keys.into_iter()
                    .map(|k| Tracked::seeded(client, k))
                    .collect()
            })
            .collect();
        // The seeds are on every replica before any fault.
        wait_replicated(client);
        let all: Vec<Arc<Tracked>> = owned.iter().flatten().cloned().collect();
        let slots = owned
            .iter()
            .map(|keys| key_slot(keys[0].key.as_bytes()))
            .collect();
        let mut workers: Vec<Running> = owned
            .into_iter()
            .enumerate()
            .map(|(p, keys)| {
                spawn(
                    format!("writer-primary-{p}"),
                    writer,
                    client,
                    keys,
                    Vec::new(),
                    shared,
                )
            })
            .collect();
        workers.push(spawn(
            "reader".to_owned(),
            reader,
            client,
            all.clone(),
            Vec::new(),
            shared,
        ));
        let workload = FailoverWorkload {
            all,
            slots,
            workers,
        };
        wait_for_progress(&workload.every(), 100, "warm-up");
        workload
    }

    /// Stops and joins the workers: the longest pause between acknowledged writes of each
    /// writer, every tracked key, and each worker's outcomes.
    fn finish(self, shared: &Shared) -> Finished {
        let max_gaps = self
            .workers
            .iter()
            .filter(|w| w.name.starts_with("writer"))
            .map(|w| (w.name.clone(), w.progress.max_gap()))
            .collect();
        let results = stop_and_join(shared, self.workers);
        (max_gaps, self.all, results)
    }

    /// Every worker.
    fn every(&self) -> Vec<&Running> {
        self.workers.iter().collect()
    }

    /// The writers of the primaries other than number `victim` (of `primaries()`).
    fn others(&self, victim: usize) -> Vec<&Running> {
        let writers = self.workers.len() - 1;
        (0..writers)
            .filter(|&w| w != victim)
            .map(|w| &self.workers[w])
            .collect()
    }
}

/// SIGSTOPs a primary under write load: the cluster promotes its replica, writes to its slots
/// succeed again within 30 s (the recovery time is printed), the other shards keep taking
/// writes, failures are only timeouts, connection errors and CLUSTERDOWN, and after SIGCONT
/// the old primary is a replica and the client still works.
#[test]
fn sigstop_of_a_primary_under_write_load_recovers() {
    let started = Instant::now();
    let mut cluster = RedisCluster::start(3, 1);
    let client = cluster_client(&cluster, Duration::from_millis(500));
    let primaries = cluster.primaries();
    let victim_at = 1;
    let victim = primaries[victim_at];
    let replica = cluster.replicas_of(victim)[0];
    let shared = Shared::new();
    let _stop = StopOnDrop(Arc::clone(&shared));
    let workload = FailoverWorkload::start(&cluster, &client, &shared);
    let victim_key_slot = workload.slots[victim_at];
    assert_eq!(
        client.slot_owner(victim_key_slot),
        Some(owner_of(&cluster, victim))
    );

    // SIGSTOP: the process keeps its sockets (connects still succeed) but answers nothing.
    let sigstop = Instant::now();
    cluster.node_mut(victim).pause();
    shared.set_mark(Instant::now());
    let others = workload.others(victim_at);

    // Recovery: the first write sent after the stop and acknowledged, on the victim's keys.
    // Meanwhile, note when the cluster promoted the replica.
    let victim_writer = &workload.workers[victim_at];
    let mut promoted_at = None;
    let recovered = eventually(Duration::from_secs(30), || {
        if promoted_at.is_none() && is_master(&cluster, replica) {
            promoted_at = Some(Instant::now());
        }
        victim_writer.progress.first_ack_after_mark().is_some()
    });
    assert!(
        recovered,
        "no write to the stopped primary's slots succeeded within 30 s of SIGSTOP"
    );
    // Writes to the other shards sent after the stop and acknowledged by now.
    let other_acks_during: Vec<u64> = others
        .iter()
        .map(|w| w.progress.acks_after_mark.load(Ordering::SeqCst))
        .collect();
    let recovered_at = victim_writer
        .progress
        .first_ack_after_mark()
        .expect("recovered");
    let recovery = recovered_at - sigstop;
    eprintln!("recovery after SIGSTOP: {:.1} s", recovery.as_secs_f64());
    let promoted = promoted_at.map(|at| at - sigstop);
    // The other shards kept taking writes during the outage: some were acknowledged, and
    // none of their pauses lasted as long as the outage.
    for (w, during) in others.iter().zip(&other_acks_during) {
        assert!(
            *during > 0,
            "{} had no write acknowledged between SIGSTOP and the recovery",
            w.name
        );
        assert!(
            w.progress.max_gap() < recovery,
            "{} paused {:?}, as long as the outage ({recovery:?})",
            w.name,
            w.progress.max_gap()
        );
    }
    assert!(is_master(&cluster, replica), "the replica was promoted");
    assert_eq!(
        client.slot_owner(victim_key_slot),
        Some(owner_of(&cluster, replica)),
        "the client's map names the promoted replica"
    );
    wait_for_progress(&workload.every(), 50, "after the failover");

    // SIGCONT: the old primary learns it was replaced and becomes a replica of the new one;
    // the workers carry on meanwhile.
    cluster.node_mut(victim).resume();
    let resumed = Instant::now();
    assert!(
        eventually(CONVERGE, || is_replica(&cluster, victim)),
        "the old primary did not become a replica after SIGCONT"
    );
    assert!(
        cluster.wait_until_ok(CONVERGE),
        "the cluster is not ok again"
    );
    let rejoined = resumed.elapsed();
    wait_for_progress(&workload.every(), 50, "after SIGCONT");

    let (max_gaps, all, results) = workload.finish(&shared);
    // Every failure was a connection failure, a timeout (outcome unknown) or CLUSTERDOWN
    // (nothing ran; also on the healthy shards: with `cluster-require-full-coverage yes`
    // every node refuses commands between the FAIL flag and the promotion, which can
    // outlast the client's retries; a transaction then comes back as EXECABORT with
    // CLUSTERDOWN rejections); no value was misattributed, stale or invented.
    let mut summary = Vec::new();
    for (name, outcomes, acks) in &results {
        outcomes.assert_clean(
            name,
            &[
                "timeout",
                "connection",
                "CLUSTERDOWN",
                "EXECABORT (CLUSTERDOWN)",
            ],
        );
        summary.push(format!(
            "{name}: {acks} acknowledged, {} failed {:?}",
            outcomes.error_count(),
            outcomes.errors
        ));
    }
    check_final_values(&client, &all).assert_clean("final values", &[]);
    let pong: String = client.ping().expect("PING every primary");
    assert_eq!(pong, "PONG");
    assert_eq!(client.dbsize().expect("DBSIZE"), all.len() as i64);
    eprintln!(
        "SIGSTOP failover: replica seen promoted {promoted:?} after SIGSTOP, writes to its \
         slots acknowledged again after {recovery:?} (meanwhile the other shards' writers \
         had {other_acks_during:?} acknowledged), old primary a replica {rejoined:?} \
         after SIGCONT; longest pause between acknowledged writes per writer: {max_gaps:?}; \
         {summary:#?}; test time {:?}",
        started.elapsed()
    );
}

/// CLUSTER FAILOVER on a replica under write load: no request fails, no acknowledged write
/// is lost, and writes reach the promoted replica.
#[test]
fn cluster_failover_under_write_load_keeps_every_acknowledged_write() {
    let started = Instant::now();
    let cluster = RedisCluster::start(3, 1);
    let client = cluster_client(&cluster, Duration::from_secs(3));
    let primaries = cluster.primaries();
    let victim_at = 0;
    let victim = primaries[victim_at];
    let replica = cluster.replicas_of(victim)[0];
    let shared = Shared::new();
    let _stop = StopOnDrop(Arc::clone(&shared));
    let workload = FailoverWorkload::start(&cluster, &client, &shared);
    let victim_key_slot = workload.slots[victim_at];

    let failover = Instant::now();
    cmd("CLUSTER")
        .arg("FAILOVER")
        .execute(&node_client(&cluster, replica))
        .expect("CLUSTER FAILOVER");
    assert!(
        eventually(CONVERGE, || is_master(&cluster, replica)),
        "the replica was not promoted"
    );
    let promoted = failover.elapsed();
    shared.set_mark(Instant::now());
    let victim_writer = &workload.workers[victim_at];
    assert!(
        eventually(CONVERGE, || victim_writer
            .progress
            .first_ack_after_mark()
            .is_some()),
        "no write to the failed-over shard succeeded after the promotion"
    );
    let recovered = victim_writer
        .progress
        .first_ack_after_mark()
        .expect("recovered")
        - failover;
    assert!(
        eventually(CONVERGE, || is_replica(&cluster, victim)),
        "the old primary did not become a replica"
    );
    wait_for_progress(&workload.every(), 100, "after the failover");
    assert_eq!(
        client.slot_owner(victim_key_slot),
        Some(owner_of(&cluster, replica))
    );
    let (max_gaps, all, results) = workload.finish(&shared);

    // A manual failover waits for the replica to catch up: no acknowledged write is lost
    // (the final check), and no shard sees an error (writes paused on the old primary are
    // answered MOVED and followed).
    let mut summary = Vec::new();
    for (name, outcomes, acks) in &results {
        outcomes.assert_clean(name, &[]);
        summary.push(format!("{name}: {acks} acknowledged"));
    }
    check_final_values(&client, &all).assert_clean("final values", &[]);
    assert!(cluster.wait_until_ok(CONVERGE));
    eprintln!(
        "CLUSTER FAILOVER under load: promoted after {promoted:?}, writes to the shard \
         acknowledged again {recovered:?} after the command; longest pause between \
         acknowledged writes per writer: {max_gaps:?}; {summary:?}; test time {:?}",
        started.elapsed()
    );
}

/// A cluster pipeline whose nodes cannot all be reached fails before anything is sent: the
/// error is safe to retry, and the reachable node ran none of its commands. (It used to
/// write to the first node before checking out the second.)
#[test]
fn a_pipeline_with_an_unreachable_node_sends_nothing() {
    let mut cluster = RedisCluster::start(3, 0);
    let client = cluster_client(&cluster, Duration::from_secs(2));
    let keys = keys_per_primary(&cluster, "pr:", 1);
    let primaries = cluster.primaries();
    // Connections to every node exist, so the map is known; then the last primary dies.
    for bucket in &keys {
        client.set(&bucket[0], 0).expect("SET");
    }
    let dead = *primaries.last().expect("a primary");
    cluster.node_mut(dead).kill();
    let mut pipe = client.pipeline();
    for bucket in &keys {
        pipe.incr(&bucket[0]);
    }
    let err = pipe.execute().expect_err("a node is down");
    assert!(err.is_retryable(), "{err}");
    for bucket in &keys[..keys.len() - 1] {
        let n: i64 = client.get(&bucket[0]).expect("GET");
        assert_eq!(n, 0, "{} was incremented", bucket[0]);
    }
}
