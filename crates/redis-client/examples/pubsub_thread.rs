//! redis-py 3.5.2 README, "Publish / Subscribe", the third way to read: handlers and
//! `run_in_thread()`. A worker thread reads the subscribed connection and runs each channel's
//! or pattern's handler until `stop()`; it blocks in the socket read between messages (no
//! spinning, unlike `sleep_time=0` in redis-py), and it survives a dropped connection by
//! reconnecting and subscribing again.
//!
//! `cargo xtask demo pubsub_thread` runs it against a throwaway server; to run it against your
//! own: `cargo run -p redis-client --example pubsub_thread -- redis://127.0.0.1:6379/0`.
//! Its channels start with `pubsub_thread:`; it writes no keys. It closes (CLIENT KILL) only
//! its own subscribed connection, found by its client name.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis_client::{
    Client, ClientKillFilter, ClientKillFilterNewFormat, Commands, Error, Message, MessageKind,
    PubsubNumsubOptions,
};

/// How long the example waits for something that should happen.
const WAIT: Duration = Duration::from_secs(5);

/// The client name of the subscribed connection, to find it on the server.
const NAME: &str = "pubsub-thread-example";

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    let r = Client::builder_from_url(&url)?.client_name(NAME).build();
    let publisher = Client::open(&url)?;

    // >>> def my_handler(message):
    // ...     print('MY HANDLER: ', message['data'])
    // >>> p.subscribe(**{'my-channel': my_handler})
    println!("1. Handlers for a channel and a pattern");
    let (tx, received) = mpsc::channel::<(String, String)>();
    let mut p = r.pubsub()?;
    let channel_tx = tx.clone();
    p.subscribe_with_handler("pubsub_thread:my-channel", move |m: &Message| {
        println!("   MY HANDLER:       {:?}", m.payload);
        let text = m.payload_str().unwrap_or_default().to_owned();
        let _ = channel_tx.send(("channel".to_owned(), text));
    })?;
    p.psubscribe_with_handler("pubsub_thread:news.*", move |m: &Message| {
        println!("   PATTERN HANDLER:  {:?} on {:?}", m.payload, m.channel);
        let text = m.payload_str().unwrap_or_default().to_owned();
        let _ = tx.send(("pattern".to_owned(), text));
    })?;
    // The confirmations are not for handlers: read them, so the subscriptions are surely
    // active before anything is published.
    for _ in 0..2 {
        let confirmation = p
            .get_message(WAIT)?
            .ok_or_else(|| Error::InvalidRequest("no subscribe confirmation".to_owned()))?;
        assert!(confirmation.kind.is_subscription_change());
    }

    // >>> thread = p.run_in_thread(sleep_time=0.001)
    println!("2. worker = p.run_in_thread(poll = 100 ms, on_error)");
    let worker = p.run_in_thread(
        Duration::from_millis(100),
        Some(Box::new(|e: &Error| eprintln!("   worker error: {e}"))),
    )?;

    assert_eq!(
        publisher.publish("pubsub_thread:my-channel", "awesome data")?,
        1
    );
    assert_eq!(
        publisher.publish("pubsub_thread:news.tech", "a pattern match")?,
        1
    );
    let mut got = vec![
        received
            .recv_timeout(WAIT)
            .expect("the channel handler ran"),
        received
            .recv_timeout(WAIT)
            .expect("the pattern handler ran"),
    ];
    got.sort();
    assert_eq!(
        got,
        [
            ("channel".to_owned(), "awesome data".to_owned()),
            ("pattern".to_owned(), "a pattern match".to_owned())
        ]
    );
    println!("   both handlers ran on the worker thread");

    println!(
        "3. The server drops the subscribed connection; the worker reconnects and resubscribes"
    );
    let admin = Client::open(&url)?;
    let ours = admin
        .client_list()?
        .clients
        .into_iter()
        .find(|c| c.name.as_deref() == Some(NAME))
        .expect("the subscribed connection is on the client list");
    let killed: i64 = admin.client_kill(ClientKillFilter::NewFormat(vec![
        ClientKillFilterNewFormat::ClientId(ours.id as i64),
    ]))?;
    assert_eq!(killed, 1);
    println!("   CLIENT KILL ID {} -> killed", ours.id);
    // Messages published while it is away are lost (at-most-once): wait until the worker is
    // subscribed again before publishing.
    let deadline = Instant::now() + WAIT;
    while subscribers(&publisher)? == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(subscribers(&publisher)?, 1, "the worker subscribed again");
    assert_eq!(
        publisher.publish("pubsub_thread:my-channel", "after the reconnect")?,
        1
    );
    let after = received.recv_timeout(WAIT).expect("the handler ran again");
    assert_eq!(after.1, "after the reconnect");
    assert!(!worker.is_finished());
    println!(
        "   the worker is still running and the handler got {:?}",
        after.1
    );

    // >>> thread.stop()
    println!("4. worker.stop(): the thread ends within one poll and the connection is closed");
    let started = Instant::now();
    worker.stop()?;
    println!("   stopped in {:?}", started.elapsed());
    let deadline = Instant::now() + WAIT;
    while subscribers(&publisher)? != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(subscribers(&publisher)?, 0);
    println!("   pubsub_numsub('pubsub_thread:my-channel') -> 0");

    println!("5. A message kind worth knowing: get_message() reports a reconnect");
    let mut p = r.pubsub()?;
    p.ignore_subscribe_messages(true);
    p.subscribe("pubsub_thread:my-channel")?;
    assert_eq!(p.get_message(Duration::from_millis(200))?, None);
    let ours = admin
        .client_list()?
        .clients
        .into_iter()
        .find(|c| c.name.as_deref() == Some(NAME))
        .expect("the subscribed connection is on the client list");
    let _: i64 = admin.client_kill(ClientKillFilter::NewFormat(vec![
        ClientKillFilterNewFormat::ClientId(ours.id as i64),
    ]))?;
    let event = p.get_message(WAIT)?;
    assert_eq!(event.map(|m| m.kind), Some(MessageKind::Reconnected));
    println!(
        "   after CLIENT KILL, get_message() -> Reconnected (messages sent meanwhile were lost)"
    );
    drop(p);

    println!("Done.");
    Ok(())
}

/// How many subscribers `pubsub_thread:my-channel` has.
fn subscribers(client: &Client) -> Result<u64, Error> {
    let numsub: Vec<(String, u64)> = client
        .pubsub_numsub_with(&PubsubNumsubOptions::new().channel("pubsub_thread:my-channel"))?;
    Ok(numsub.first().map_or(0, |(_, n)| *n))
}
