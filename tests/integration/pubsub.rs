//! Publish/subscribe: redis-py's README flows in Rust, handlers and the worker thread, health
//! checks, and RELIABILITY section 6 C (tests 23-26).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis_client::{Client, Commands, Error, Message, MessageKind, Protocol, PubSub};
use tests::RedisServer;

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
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{channel} never reached {n} subscribers");
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

#[test]
fn a_zero_timeout_never_blocks() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("quiet").unwrap();
    // Nothing is published: each call returns at once with nothing.
    for _ in 0..100 {
        assert!(p.get_message(Duration::ZERO).unwrap().is_none());
    }
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

/// redis-py README: `run_in_thread`, then `thread.stop()`.
#[test]
fn the_worker_thread_runs_handlers_and_stops_promptly() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut p = c.pubsub().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    p.subscribe_with_handler("jobs", move |m: &Message| {
        let _ = tx.send(m.payload_str().unwrap_or("").to_owned());
    })
    .unwrap();
    let worker = p.run_in_thread(Duration::from_millis(50), None).unwrap();
    wait_subscribed(&c, "jobs", 1);
    for i in 0..10 {
        c.publish("jobs", i).unwrap();
    }
    let got: Vec<String> = (0..10).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    let started = Instant::now();
    worker.stop().unwrap();
    // Bounded by the poll interval; generous for a loaded machine.
    assert!(started.elapsed() < WAIT, "stop joined the worker");
    assert_eq!(
        c.pubsub_numsub_with::<Vec<(String, i64)>>(
            &redis_client::PubsubNumsubOptions::new().channel("jobs")
        )
        .unwrap()[0]
            .1,
        0
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
        std::thread::sleep(Duration::from_millis(10));
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
        std::thread::sleep(Duration::from_millis(20));
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
    let mut p = c.pubsub().unwrap();
    p.ignore_subscribe_messages(true);
    p.subscribe("idle").unwrap();
    std::thread::sleep(Duration::from_millis(120));
    // The health check's PING goes out; its answer is not shown to the caller.
    assert!(p.get_message(Duration::from_millis(200)).unwrap().is_none());
    let stats = c
        .info_with(&redis_client::InfoOptions::new().section("commandstats"))
        .unwrap();
    let pings = stats.get("cmdstat_ping").unwrap_or_default().to_owned();
    assert!(pings.starts_with("calls="), "{pings}");
    // PING by hand: its answer is shown.
    p.ping().unwrap();
    next_of_kind(&mut p, MessageKind::Pong);
    // A timeout too long for the clock does not panic.
    c.publish("idle", "now").unwrap();
    let m = p.get_message(Duration::MAX).unwrap().unwrap();
    assert_eq!(m.payload_str(), Some("now"));
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
