//! Publish/subscribe: redis-py's README flows in Rust, handlers and the worker thread, health
//! checks, and RELIABILITY section 6 C (tests 23-26).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use redis_client::{
    Bytes, Client, Commands, Error, Message, MessageKind, Protocol, PubSub, ServerErrorKind,
};
use tests::{RedisServer, eventually};

const WAIT: Duration = Duration::from_secs(5);

fn client(server: &RedisServer, protocol: Protocol) -> Client {
    server.client_builder().protocol(protocol).build()
}

/// The next message that is not a confirmation or a pong, waiting at most [`WAIT`].
fn next_message(p: &mut PubSub) -> Message {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(m) = p.get_message(Duration::from_millis(100)).unwrap()
            && !m.kind.is_subscription_change()
            && m.kind != MessageKind::Pong
        {
            return m;
        }
    }
    panic!("no message within {WAIT:?}");
}

/// The next event of `kind`, skipping others, waiting at most [`WAIT`].
fn next_of_kind(p: &mut PubSub, kind: MessageKind) -> Message {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match p.get_message(Duration::from_millis(100)) {
            Ok(Some(m)) if m.kind == kind => return m,
            Ok(_) => {}
            Err(e) => panic!("waiting for {kind:?}: {e}"),
        }
    }
    panic!("no {kind:?} within {WAIT:?}");
}

/// Publishes until `p` has `n` subscribers on `channel` (the subscription is confirmed).
fn wait_subscribed(c: &Client, channel: &str, n: i64) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let counts: Vec<(String, i64)> = c
            .pubsub_numsub_with(&redis_client::PubsubNumsubOptions::new().channel(channel))
            .unwrap();
        if counts.first().is_some_and(|(_, k)| *k >= n) {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("{channel} never reached {n} subscribers");
}

/// How many subscribers `channel` has, as the server counts them.
fn numsub(c: &Client, channel: &str) -> i64 {
    let counts: Vec<(String, i64)> = c
        .pubsub_numsub_with(&redis_client::PubsubNumsubOptions::new().channel(channel))
        .unwrap();
    counts.first().map_or(0, |(_, n)| *n)
}

/// How many PINGs the server has run (INFO commandstats). Ask through a client without
/// health checks, so that asking adds none.
fn pings(c: &Client) -> u64 {
    let stats = c
        .info_with(&redis_client::InfoOptions::new().section("commandstats"))
        .unwrap();
    stats
        .subfields("cmdstat_ping")
        .and_then(|fields| {
            fields
                .iter()
                .find(|(name, _)| *name == "calls")
                .and_then(|(_, calls)| calls.parse().ok())
        })
        .unwrap_or(0)
}

/// The ids of the server's subscribed clients (CLIENT LIST TYPE pubsub).
fn pubsub_client_ids(c: &Client) -> Vec<u64> {
    let list: String = redis_client::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query(c)
        .unwrap();
    let mut ids: Vec<u64> = list
        .lines()
        .filter_map(|line| line.strip_prefix("id=")?.split(' ').next()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// Closes the server side of every subscribed connection; returns how many.
fn kill_subscribers(c: &Client) -> i64 {
    redis_client::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(c)
        .unwrap()
}

/// Runs `f` on a thread of its own and waits at most `limit` for its result; `None` when
/// it did not return in time (the thread is left behind: it ends when the test's server
/// goes away).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// Publishes to a channel from a thread of its own, in bursts of 50 with 5 ms pauses (some
/// thousands a second: more than a handler that sleeps 1 ms can take), until dropped or for
/// at most `limit`.
struct Publisher {
    stop: Arc<AtomicBool>,
    published: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Publisher {
    fn start(c: &Client, channel: &'static str, limit: Duration) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let published = Arc::new(AtomicU64::new(0));
        let (c, flag, count) = (c.clone(), Arc::clone(&stop), Arc::clone(&published));
        let handle = thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                for _ in 0..50 {
                    if c.publish(channel, "tick").is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(5));
            }
        });
        Publisher {
            stop,
            published,
            handle: Some(handle),
        }
    }

    /// Waits (bounded) until `n` messages went out, so that a backlog has built up.
    fn wait_for(&self, n: u64) {
        assert!(
            eventually(WAIT, || self.published.load(Ordering::Relaxed) >= n),
            "the publisher did not publish {n} messages"
        );
    }

    fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A handler that counts the messages and takes 1 ms over each.
fn slow_counting_handler(count: &Arc<AtomicUsize>) -> impl FnMut(&Message) + Send + 'static {
    let count = Arc::clone(count);
    move |_m: &Message| {
        count.fetch_add(1, Ordering::Relaxed);
        thread::sleep(Duration::from_millis(1));
    }
}

/// redis-py README: subscribe, psubscribe, the confirmations, then a message of each kind.
#[test]
fn subscribe_psubscribe_and_messages_under_both_protocols() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let c = client(&server, protocol);
        let mut p = c.pubsub().unwrap();
        p.subscribe(["my-first-channel", "my-second-channel"])
            .unwrap();
        p.psubscribe("my-*").unwrap();
        let first = next_of_kind(&mut p, MessageKind::Subscribe);
        assert_eq!(&first.channel[..], b"my-first-channel");
        assert_eq!(first.payload_str(), Some("1"));
        next_of_kind(&mut p, MessageKind::Subscribe);
        let pattern = next_of_kind(&mut p, MessageKind::PSubscribe);
        assert_eq!(pattern.channel_str(), Some("my-*"));

        assert_eq!(c.publish("my-first-channel", "some data").unwrap(), 2);
        let m = next_message(&mut p);
        assert_eq!(m.kind, MessageKind::Message);
        assert_eq!(m.channel_str(), Some("my-first-channel"));
        assert_eq!(m.payload_str(), Some("some data"));
        assert_eq!(m.pattern, None);
        let m = next_message(&mut p);
        assert_eq!(m.kind, MessageKind::PMessage);
        assert_eq!(m.pattern.as_deref(), Some(&b"my-*"[..]));
        assert_eq!(m.channel_str(), Some("my-first-channel"));

        // Unsubscribing from everything with an empty list.
        p.unsubscribe(Vec::<String>::new()).unwrap();
        p.punsubscribe(Vec::<String>::new()).unwrap();
        next_of_kind(&mut p, MessageKind::Unsubscribe);
        next_of_kind(&mut p, MessageKind::PUnsubscribe);
        assert!(!p.is_subscribed());
    }
}

#[test]
fn ignore_subscribe_messages_hides_confirmations() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("news").unwrap();
    wait_subscribed(&c, "news", 1);
    c.publish("news", "first").unwrap();
    let m = p
        .get_message(WAIT)
        .unwrap()
        .expect("the message, not the confirmation");
    assert_eq!(m.payload_str(), Some("first"));
}

/// A zero timeout never waits: with nothing published each read returns at once, and a
/// handled channel under a steady stream its handler cannot keep up with does not keep a
/// read going (each handles a bounded batch and returns).
#[test]
fn a_zero_timeout_never_blocks() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("quiet").unwrap();
    let started = Instant::now();
    for _ in 0..100 {
        assert!(p.get_message(Duration::ZERO).unwrap().is_none());
    }
    // Liveness, not speed: a hundred reads that never wait end in far less than this.
    assert!(
        started.elapsed() < WAIT,
        "100 zero-timeout reads took {:?}",
        started.elapsed()
    );

    let handled = Arc::new(AtomicUsize::new(0));
    p.subscribe_with_handler("busy", slow_counting_handler(&handled))
        .unwrap();
    wait_subscribed(&c, "busy", 1);
    let publisher = Publisher::start(&c, "busy", WAIT * 2);
    publisher.wait_for(500);
    let reads = within(Duration::from_secs(3), move || {
        let results: Vec<Result<Option<Message>, Error>> =
            (0..3).map(|_| p.get_message(Duration::ZERO)).collect();
        (p, results)
    });
    let (_p, results) = reads.expect("zero-timeout reads returned within 3 s under steady traffic");
    assert!(
        publisher.is_running(),
        "the messages were still coming when the reads returned"
    );
    for result in results {
        assert!(
            result.unwrap().is_none(),
            "handled messages are not returned"
        );
    }
    assert!(handled.load(Ordering::Relaxed) > 0, "the handler ran");
}

#[test]
fn handlers_take_their_channels_messages() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let mut p = c.pubsub().unwrap();
    let (tx, rx) = mpsc::channel::<(String, String)>();
    let tx2 = tx.clone();
    p.subscribe_with_handler("alerts", move |m: &Message| {
        let _ = tx.send(("channel".into(), m.payload_str().unwrap_or("").to_owned()));
    })
    .unwrap();
    p.psubscribe_with_handler("log.*", move |m: &Message| {
        let _ = tx2.send(("pattern".into(), m.channel_str().unwrap_or("").to_owned()));
    })
    .unwrap();
    p.subscribe("plain").unwrap();
    wait_subscribed(&c, "alerts", 1);
    wait_subscribed(&c, "plain", 1);
    c.publish("alerts", "fire").unwrap();
    c.publish("log.disk", "full").unwrap();
    c.publish("plain", "for the caller").unwrap();
    let m = next_message(&mut p);
    assert_eq!(
        m.payload_str(),
        Some("for the caller"),
        "handled messages are not returned"
    );
    let mut got: Vec<(String, String)> = rx.try_iter().collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("channel".to_owned(), "fire".to_owned()),
            ("pattern".to_owned(), "log.disk".to_owned())
        ]
    );
}

/// redis-py README: `run_in_thread`, then `thread.stop()`, which returns promptly even while
/// messages keep coming faster than the handler takes them.
#[test]
fn the_worker_thread_runs_handlers_and_stops_promptly() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    p.subscribe_with_handler("jobs", move |m: &Message| {
        let _ = tx.send(m.payload_str().unwrap_or("").to_owned());
        thread::sleep(Duration::from_millis(1));
    })
    .unwrap();
    let worker = p.run_in_thread(Duration::from_millis(50), None).unwrap();
    wait_subscribed(&c, "jobs", 1);
    for i in 0..10 {
        c.publish("jobs", i).unwrap();
    }
    let got: Vec<String> = (0..10).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());

    let publisher = Publisher::start(&c, "jobs", WAIT * 2);
    publisher.wait_for(500);
    let stopped = within(WAIT, move || worker.stop());
    stopped
        .expect("stop() returned within 5 s while messages kept coming")
        .unwrap();
    assert!(
        publisher.is_running(),
        "the messages were still coming when the worker stopped"
    );
    drop(publisher);
    // The worker's connection is closed; the server notices soon after.
    assert!(
        eventually(WAIT, || numsub(&c, "jobs") == 0),
        "the stopped worker's subscription is gone"
    );
}

/// An error in the worker without an error handler ends it visibly.
#[test]
fn a_worker_error_without_a_handler_ends_the_worker_and_is_returned() {
    let mut server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.subscribe_with_handler("x", |_m: &Message| {}).unwrap();
    let worker = p.run_in_thread(Duration::from_millis(20), None).unwrap();
    server.kill();
    let deadline = Instant::now() + WAIT;
    while !worker.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        worker.is_finished(),
        "the worker ended after the server died"
    );
    let err = worker.stop().unwrap_err();
    assert!(err.is_connection(), "{err}");
}

/// With an error handler, the worker reports errors and keeps going until it reconnects.
#[test]
fn a_worker_with_an_error_handler_survives_a_restart() {
    let mut server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    p.subscribe_with_handler("after", move |m: &Message| {
        let _ = tx.send(m.payload_str().unwrap_or("").to_owned());
    })
    .unwrap();
    let (etx, erx) = mpsc::channel::<String>();
    let worker = p
        .run_in_thread(
            Duration::from_millis(20),
            Some(Box::new(move |e: &Error| {
                let _ = etx.send(e.to_string());
            })),
        )
        .unwrap();
    wait_subscribed(&c, "after", 1);
    server.kill();
    let first_error = erx
        .recv_timeout(WAIT)
        .expect("the error handler was called");
    assert!(!first_error.is_empty());
    server.restart();
    // Publish until the resubscribed worker delivers (messages before that are lost).
    let deadline = Instant::now() + WAIT * 2;
    let mut delivered = false;
    while Instant::now() < deadline && !delivered {
        let _ = c.publish("after", "hello");
        delivered = rx.recv_timeout(Duration::from_millis(50)).is_ok();
    }
    assert!(delivered, "the worker resubscribed after the restart");
    worker.stop().unwrap();
}

/// RELIABILITY 23: after CLIENT KILL and after a restart, every channel, pattern and shard
/// channel is subscribed again, a reconnect event says messages may have been lost, and
/// messages published after resubscribing arrive exactly once.
#[test]
fn resubscribes_after_kill_and_restart() {
    let mut server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let c = client(&server, protocol);
        let mut p = c.pubsub().unwrap();
        p.ignore_subscribe_messages(true);
        p.subscribe(["a", "b", "c"]).unwrap();
        p.psubscribe(["p.*", "q.*"]).unwrap();
        p.ssubscribe("shard").unwrap();
        wait_subscribed(&c, "c", 1);

        let killed: i64 = redis_client::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query(&c)
            .unwrap();
        assert_eq!(killed, 1);
        next_of_kind(&mut p, MessageKind::Reconnected);
        wait_subscribed(&c, "c", 1);
        let counts: Vec<(String, i64)> = c
            .pubsub_numsub_with(&redis_client::PubsubNumsubOptions::new().channel(["a", "b", "c"]))
            .unwrap();
        assert!(counts.iter().all(|(_, n)| *n == 1), "{counts:?}");
        assert_eq!(c.pubsub_numpat().unwrap(), 2);
        let shard: Vec<(String, i64)> = c
            .pubsub_shardnumsub_with(
                &redis_client::PubsubShardnumsubOptions::new().shardchannel("shard"),
            )
            .unwrap();
        assert_eq!(shard[0].1, 1);

        c.publish("b", "once").unwrap();
        let m = next_message(&mut p);
        assert_eq!(m.payload_str(), Some("once"));
        assert!(
            p.get_message(Duration::from_millis(200)).unwrap().is_none(),
            "exactly once"
        );
        drop(p);
    }

    // A restart: the next read reconnects (after the server is back).
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("r").unwrap();
    wait_subscribed(&c, "r", 1);
    server.restart();
    let deadline = Instant::now() + WAIT;
    let mut reconnected = false;
    while Instant::now() < deadline && !reconnected {
        if let Ok(Some(m)) = p.get_message(Duration::from_millis(100)) {
            reconnected = m.kind == MessageKind::Reconnected;
        }
    }
    assert!(reconnected, "a reconnect event after the restart");
    wait_subscribed(&c, "r", 1);
    c.publish("r", "back").unwrap();
    assert_eq!(next_message(&mut p).payload_str(), Some("back"));
}

/// RELIABILITY 24: a subscriber that does not read is disconnected by the server's output
/// buffer limit; the client notices, reconnects, resubscribes and says messages were lost.
#[test]
fn a_slow_subscriber_killed_by_the_server_recovers() {
    let server = RedisServer::builder()
        .args(["--client-output-buffer-limit", "pubsub 1mb 512kb 1"])
        .start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("firehose").unwrap();
    wait_subscribed(&c, "firehose", 1);
    // Far more than the loopback socket buffers hold, so the server's buffer fills.
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..512 {
        c.publish("firehose", &chunk).unwrap();
    }
    // The subscriber reads now: some messages, then the disconnect, then the gap event.
    let deadline = Instant::now() + WAIT * 4;
    let mut reconnected = false;
    while Instant::now() < deadline && !reconnected {
        if let Some(m) = p.get_message(Duration::from_millis(100)).unwrap() {
            reconnected = m.kind == MessageKind::Reconnected;
        }
    }
    assert!(reconnected, "the disconnect was detected and reported");
    wait_subscribed(&c, "firehose", 1);
    c.publish("firehose", "after").unwrap();
    let m = next_message(&mut p);
    assert_eq!(m.payload_str(), Some("after"));
}

/// RELIABILITY 25 (the pub/sub part): under RESP3, messages, confirmations and PONGs
/// interleave on the subscribed connection and each is recognised for what it is.
#[test]
fn resp3_pushes_and_pongs_interleave() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let mut p = c.pubsub().unwrap();
    p.subscribe("mix").unwrap();
    next_of_kind(&mut p, MessageKind::Subscribe);
    for i in 0..200 {
        c.publish("mix", i).unwrap();
        if i % 10 == 0 {
            p.ping().unwrap();
        }
    }
    let (mut messages, mut pongs) = (Vec::new(), 0);
    let deadline = Instant::now() + WAIT;
    while (messages.len() < 200 || pongs < 20) && Instant::now() < deadline {
        match p.get_message(Duration::from_millis(100)).unwrap() {
            Some(m) if m.kind == MessageKind::Message => {
                messages.push(m.payload_str().unwrap().parse::<i32>().unwrap());
            }
            Some(m) if m.kind == MessageKind::Pong => pongs += 1,
            Some(other) => panic!("unexpected {other:?}"),
            None => {}
        }
    }
    assert_eq!(messages, (0..200).collect::<Vec<_>>());
    assert_eq!(pongs, 20);
    // The pooled client, also RESP3, was never confused by anything.
    assert_eq!(c.publish("mix", "x").unwrap(), 1);
}

/// RELIABILITY 26: subscribers dropped without unsubscribing do not leak connections.
#[test]
fn dropped_subscribers_do_not_leak_connections() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let baseline = c.client_list().unwrap().len();
    for i in 0..200 {
        let mut p = c.pubsub().unwrap();
        p.subscribe(format!("ch{i}")).unwrap();
        drop(p);
    }
    let deadline = Instant::now() + WAIT;
    let mut now = usize::MAX;
    while Instant::now() < deadline {
        now = c.client_list().unwrap().len();
        if now <= baseline {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(now <= baseline, "{now} connections, baseline {baseline}");
    assert_eq!(c.pubsub_numpat().unwrap(), 0);
}

/// PING and health checks while subscribed: an idle subscription is checked with PING.
#[test]
fn health_checks_ping_while_subscribed() {
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .health_check_interval(Duration::from_millis(50))
        .build();
    // Counts the server's PINGs without health checks of its own.
    let plain = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("idle").unwrap();
    wait_subscribed(&plain, "idle", 1);
    let before = pings(&plain);
    thread::sleep(Duration::from_millis(120));
    // The health check's PING goes out; its answer is not shown to the caller.
    assert!(p.get_message(Duration::from_millis(200)).unwrap().is_none());
    let after = pings(&plain);
    assert!(after > before, "PINGs before {before}, after {after}");
    // PING by hand: its answer is shown.
    p.ping().unwrap();
    next_of_kind(&mut p, MessageKind::Pong);
    // A timeout too long for the clock does not panic.
    c.publish("idle", "now").unwrap();
    let m = p.get_message(Duration::MAX).unwrap().unwrap();
    assert_eq!(m.payload_str(), Some("now"));
}

/// A caller that reads less often than the health-check interval is not taken for a lost
/// connection: the PONG that arrived meanwhile is read before the PING is judged.
#[test]
fn reading_less_often_than_the_health_check_interval_keeps_the_connection() {
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .health_check_interval(Duration::from_secs(1))
        .build();
    let plain = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("seldom").unwrap();
    wait_subscribed(&plain, "seldom", 1);
    let ids = pubsub_client_ids(&plain);
    assert_eq!(ids.len(), 1);
    let before = pings(&plain);
    for _ in 0..4 {
        thread::sleep(Duration::from_secs(2));
        match p.get_message(Duration::ZERO) {
            Ok(None) => {}
            Ok(Some(m)) => panic!("a quiet server gave {m:?}"),
            Err(e) => panic!("a quiet server gave {e}"),
        }
    }
    assert!(pings(&plain) > before, "the health checks ran");
    assert_eq!(
        pubsub_client_ids(&plain),
        ids,
        "the same connection throughout"
    );
}

/// A zero health-check interval from the builder means no health checks (as in a URL), not
/// a PING and a reconnect on every read.
#[test]
fn a_zero_health_check_interval_turns_health_checks_off() {
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .health_check_interval(Duration::ZERO)
        .build();
    let plain = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("zero").unwrap();
    wait_subscribed(&plain, "zero", 1);
    let ids = pubsub_client_ids(&plain);
    let before = pings(&plain);
    assert!(p.get_message(Duration::from_millis(300)).unwrap().is_none());
    for _ in 0..20 {
        assert!(p.get_message(Duration::ZERO).unwrap().is_none());
    }
    assert_eq!(pings(&plain), before, "no health-check PING");
    assert_eq!(pubsub_client_ids(&plain), ids, "no reconnect");
}

/// A frozen server keeps the connection open and answers nothing: the unanswered health-check
/// PING gives it away within about two intervals (the read reports a failed reconnect, or a
/// reconnect the kernel accepted for the frozen process), and once the server is back the
/// session is subscribed again.
#[test]
fn an_unanswered_health_check_counts_as_a_lost_connection() {
    let mut server = RedisServer::start();
    let c = server
        .client_builder()
        .health_check_interval(Duration::from_millis(200))
        .socket_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        .build();
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("frozen").unwrap();
    wait_subscribed(&c, "frozen", 1);
    server.pause();
    let paused_at = Instant::now();
    // A long wait is cut short by the failed health check.
    let noticed = match p.get_message(Duration::from_secs(30)) {
        Err(e) => {
            assert!(e.is_timeout() || e.is_connection(), "{e:?}");
            paused_at.elapsed()
        }
        Ok(Some(m)) => {
            assert_eq!(m.kind, MessageKind::Reconnected);
            paused_at.elapsed()
        }
        Ok(None) => panic!("nothing noticed in 30 s"),
    };
    server.resume();
    assert!(
        noticed < Duration::from_secs(5),
        "noticed after {noticed:?}"
    );
    wait_subscribed(&c, "frozen", 1);
    c.publish("frozen", "thawed").unwrap();
    assert_eq!(next_message(&mut p).payload_str(), Some("thawed"));
}

#[test]
fn sharded_channels_and_listen() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let mut p = c.pubsub().unwrap();
    p.ssubscribe("orders").unwrap();
    next_of_kind(&mut p, MessageKind::SSubscribe);
    assert_eq!(c.spublish("orders", "o-1").unwrap(), 1);
    assert_eq!(c.spublish("orders", "o-2").unwrap(), 1);
    let got: Vec<Message> = p.listen().take(2).map(Result::unwrap).collect();
    assert!(got.iter().all(|m| m.kind == MessageKind::SMessage));
    assert_eq!(got[1].payload_str(), Some("o-2"));
    p.sunsubscribe("orders").unwrap();
    next_of_kind(&mut p, MessageKind::SUnsubscribe);
    assert!(p.shard_channels().is_empty());
}

#[test]
fn run_in_thread_needs_a_handler_for_every_subscription() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.subscribe_with_handler("handled", |_m: &Message| {})
        .unwrap();
    p.subscribe("unhandled").unwrap();
    let err = p
        .run_in_thread(Duration::from_millis(10), None)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRequest(m) if m.contains("unhandled")),
        "{err}"
    );
}

#[test]
fn subscribing_to_nothing_is_refused() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    let err = p.subscribe(Vec::<String>::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
}

/// A reconnect made by a subscription or a PING (not by a read) is still reported: the next
/// read returns the [`MessageKind::Reconnected`] event before anything else.
#[test]
fn a_reconnect_made_by_subscribe_or_ping_is_reported() {
    let mut server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("first").unwrap();
    wait_subscribed(&c, "first", 1);

    // Subscribing makes the connection again.
    lose_connection(&mut server, &mut p);
    p.subscribe("second").unwrap();
    let m = p.get_message(WAIT).unwrap().expect("an event");
    assert_eq!(m.kind, MessageKind::Reconnected);
    wait_subscribed(&c, "first", 1);
    wait_subscribed(&c, "second", 1);
    c.publish("second", "after").unwrap();
    assert_eq!(next_message(&mut p).payload_str(), Some("after"));

    // A PING makes it again.
    lose_connection(&mut server, &mut p);
    p.ping().unwrap();
    let m = p.get_message(WAIT).unwrap().expect("an event");
    assert_eq!(m.kind, MessageKind::Reconnected);
    next_of_kind(&mut p, MessageKind::Pong);
    wait_subscribed(&c, "second", 1);
    assert_eq!(p.channels(), [Bytes::from("first"), Bytes::from("second")]);
}

/// Kills the server, reads until a reconnect has failed, and starts the server again: the
/// session is left without a connection.
fn lose_connection(server: &mut RedisServer, p: &mut PubSub) {
    server.kill();
    let deadline = Instant::now() + WAIT;
    let mut failed = false;
    while !failed && Instant::now() < deadline {
        failed = p.get_message(Duration::from_millis(100)).is_err();
    }
    assert!(failed, "a read reported the failed reconnect");
    server.restart();
}

/// The worker hands [`MessageKind::Reconnected`] (and the session's other events) to the
/// handler set with `on_event`, instead of dropping it.
#[test]
fn the_worker_tells_its_event_handler_about_reconnects() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.subscribe_with_handler("w", |_m: &Message| {}).unwrap();
    let (tx, rx) = mpsc::channel::<MessageKind>();
    p.on_event(move |m: &Message| {
        let _ = tx.send(m.kind);
    });
    let worker = p.run_in_thread(Duration::from_millis(20), None).unwrap();
    assert_eq!(rx.recv_timeout(WAIT), Ok(MessageKind::Subscribe));
    assert_eq!(kill_subscribers(&c), 1);
    assert_eq!(rx.recv_timeout(WAIT), Ok(MessageKind::Reconnected));
    assert_eq!(rx.recv_timeout(WAIT), Ok(MessageKind::Subscribe));
    worker.stop().unwrap();
}

/// A frozen server (SIGSTOP) and a client without connect or socket timeouts: the reconnect
/// after the unanswered health check would wait forever for its handshake (SELECT), but
/// zero-timeout reads keep returning at once and a worker still stops. Once the server
/// thaws, the session reconnects.
#[test]
fn a_frozen_server_blocks_neither_zero_timeout_reads_nor_stop() {
    let mut server = RedisServer::start();
    let c = server
        .client_builder()
        .db(1)
        .health_check_interval(Duration::from_millis(200))
        .build();
    let plain = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("frozen").unwrap();
    let mut w = c.pubsub().unwrap();
    w.subscribe_with_handler("frozen", |_m: &Message| {})
        .unwrap();
    let worker = w.run_in_thread(Duration::from_millis(50), None).unwrap();
    wait_subscribed(&plain, "frozen", 2);
    server.pause();

    // Three seconds of polling: past the unanswered health check and into the reconnect.
    let polled = within(Duration::from_secs(10), move || {
        let until = Instant::now() + Duration::from_secs(3);
        let mut slowest = Duration::ZERO;
        let mut results = Vec::new();
        while Instant::now() < until {
            let started = Instant::now();
            results.push(p.get_message(Duration::ZERO).map(|m| m.map(|m| m.kind)));
            slowest = slowest.max(started.elapsed());
            thread::sleep(Duration::from_millis(50));
        }
        (p, slowest, results)
    });
    // Asked to stop while frozen (a stop that hangs is left behind, not waited for).
    let stopped = within(WAIT, move || worker.stop());
    server.resume();
    let (mut p, slowest, results) = polled.expect("zero-timeout reads returned while frozen");
    // Liveness: a read that never waits takes far less than this even on a loaded machine.
    assert!(slowest < Duration::from_secs(2), "a read took {slowest:?}");
    for result in results {
        assert!(
            matches!(result, Ok(None)),
            "nothing to report while the reconnect waits: {result:?}"
        );
    }
    stopped
        .expect("stop() returned while the server was frozen")
        .unwrap();

    // Thawed: the reconnect finishes.
    let m = p.get_message(WAIT).unwrap().expect("an event");
    assert_eq!(m.kind, MessageKind::Reconnected);
    wait_subscribed(&plain, "frozen", 1);
    plain.publish("frozen", "thawed").unwrap();
    assert_eq!(next_message(&mut p).payload_str(), Some("thawed"));
}

/// A subscription the server refuses (an ACL user without the channel) is forgotten when
/// the refusal arrives: not listed, not made again by a reconnect.
#[test]
fn a_subscription_the_server_refuses_is_forgotten() {
    let server = RedisServer::start();
    let admin = client(&server, Protocol::Resp2);
    let _: String = redis_client::cmd("ACL")
        .args(["SETUSER", "limited", "on", ">secret", "~*", "+@all"])
        .args(["resetchannels", "&allowed*"])
        .query(&admin)
        .unwrap();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let c = server
            .client_builder()
            .username("limited")
            .password("secret")
            .protocol(protocol)
            .build();
        let mut p = c.pubsub().unwrap();
        p.ignore_subscribe_messages(true);
        p.subscribe("allowed-1").unwrap();
        // Refused as a whole: one of its channels is not allowed.
        p.subscribe(["forbidden", "allowed-2"]).unwrap();
        p.psubscribe("allowed*").unwrap();
        let deadline = Instant::now() + WAIT;
        let err = loop {
            assert!(Instant::now() < deadline, "no refusal within {WAIT:?}");
            if let Err(e) = p.get_message(Duration::from_millis(100)) {
                break e;
            }
        };
        assert_eq!(err.server_kind(), Some(ServerErrorKind::NoPerm), "{err}");
        assert_eq!(p.channels(), [Bytes::from("allowed-1")]);
        assert_eq!(p.patterns(), [Bytes::from("allowed*")]);

        // A reconnect subscribes to what was accepted only: no refusal again.
        assert_eq!(kill_subscribers(&admin), 1);
        next_of_kind(&mut p, MessageKind::Reconnected);
        wait_subscribed(&admin, "allowed-1", 1);
        assert!(p.get_message(Duration::from_millis(300)).unwrap().is_none());
        admin.publish("allowed-1", "ok").unwrap();
        let m = next_message(&mut p);
        assert_eq!(
            (m.kind, m.payload_str()),
            (MessageKind::Message, Some("ok"))
        );
        let m = next_message(&mut p);
        assert_eq!(m.kind, MessageKind::PMessage, "{m:?}");
    }
}

/// Messages already on their way when the caller unsubscribes still reach the channel's
/// handler: it goes only once the server confirms.
#[test]
fn a_handler_takes_its_messages_until_the_unsubscribe_is_confirmed() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let c = client(&server, protocol);
        let mut p = c.pubsub().unwrap();
        let handled = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&handled);
        p.subscribe_with_handler("h", move |_m: &Message| {
            count.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        wait_subscribed(&c, "h", 1);
        for i in 0..5 {
            assert_eq!(c.publish("h", i).unwrap(), 1);
        }
        // The server sends the five messages before it confirms this.
        p.unsubscribe("h").unwrap();
        assert!(p.channels().is_empty());
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no confirmation within {WAIT:?}");
            match p.get_message(Duration::from_millis(100)).unwrap() {
                Some(m) if m.kind == MessageKind::Unsubscribe => break,
                Some(m) if m.kind == MessageKind::Subscribe => {}
                Some(m) => panic!("{m:?} reached the caller"),
                None => {}
            }
        }
        assert_eq!(handled.load(Ordering::Relaxed), 5);
        assert!(!p.is_subscribed());
    }
}

/// Push messages of a kind the session does not know (here RESP3 `invalidate`s of
/// client-side caching redirected to the subscriber) are skipped: they end neither a worker
/// nor `listen`.
#[test]
fn pushes_of_unknown_kinds_end_neither_the_worker_nor_listen() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let plain = client(&server, Protocol::Resp2);

    // A worker without an error handler: an error would end it.
    let mut p = c.pubsub().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    p.subscribe_with_handler("after", move |m: &Message| {
        let _ = tx.send(m.payload_str().unwrap_or("").to_owned());
    })
    .unwrap();
    wait_subscribed(&plain, "after", 1);
    let worker = p.run_in_thread(Duration::from_millis(20), None).unwrap();
    redirect_invalidations_to_the_subscriber(&server, &plain, "cached-1");
    plain.publish("after", "still here").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).as_deref(), Ok("still here"));
    assert!(!worker.is_finished());
    worker.stop().unwrap();

    // `listen`.
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("listened").unwrap();
    wait_subscribed(&plain, "listened", 1);
    redirect_invalidations_to_the_subscriber(&server, &plain, "cached-2");
    plain.publish("listened", "next").unwrap();
    let m = p.listen().next().expect("a message").unwrap();
    assert_eq!(m.payload_str(), Some("next"));
}

/// Turns client-side caching on for a new connection with its invalidations redirected to
/// the (only) subscribed connection, reads `key` there and changes it, so that an
/// `invalidate` push goes to the subscriber.
fn redirect_invalidations_to_the_subscriber(server: &RedisServer, plain: &Client, key: &str) {
    assert!(
        eventually(WAIT, || pubsub_client_ids(plain).len() == 1),
        "one subscribed connection"
    );
    let ids = pubsub_client_ids(plain);
    let mut tracker = server.raw();
    let id = ids[0].to_string();
    let ok = tracker.request(["CLIENT", "TRACKING", "on", "REDIRECT", id.as_str()]);
    assert_eq!(ok, ok_reply(), "{ok:?}");
    tracker.request(["GET", key]);
    plain.set(key, 1).unwrap();
}

fn ok_reply() -> redis_client::Value {
    redis_client::Value::SimpleString(Bytes::from_static(b"OK"))
}
