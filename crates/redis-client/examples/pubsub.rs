//! redis-py 3.5.2 README, "Publish / Subscribe": every flow of the section on one page.
//! `subscribe` and `psubscribe`, the confirmations `get_message()` returns, `publish` and the
//! message and pmessage it delivers, `unsubscribe`/`punsubscribe`, handlers,
//! `ignore_subscribe_messages`, the three ways to read (a `get_message()` loop, `listen()`,
//! and a worker thread, shown in `pubsub_thread.rs`), `ping`, and the introspection commands
//! `pubsub_channels`, `pubsub_numsub` and `pubsub_numpat`.
//!
//! `cargo xtask demo pubsub` runs it against a throwaway server; to run it against your own:
//! `cargo run -p redis-client --example pubsub -- redis://127.0.0.1:6379/0`.
//! Its channels start with `pubsub:`; it writes no keys. Every wait is bounded by a timeout.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis_client::{
    Client, Commands, Error, Message, MessageKind, PubSub, PubsubChannelsOptions,
    PubsubNumsubOptions,
};

/// How long the example waits for a message that should arrive.
const WAIT: Duration = Duration::from_secs(2);

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());

    // >>> r = redis.Redis(...)
    // >>> p = r.pubsub()
    let r = Client::open(&url)?;
    let mut p = r.pubsub()?;

    // >>> p.subscribe('my-first-channel', 'my-second-channel', ...)
    // >>> p.psubscribe('my-*', ...)
    println!("1. p.subscribe('my-first-channel', 'my-second-channel'); p.psubscribe('my-*')");
    p.subscribe(["pubsub:my-first-channel", "pubsub:my-second-channel"])?;
    p.psubscribe("pubsub:my-*")?;
    assert!(p.is_subscribed());
    // >>> p.get_message()
    // {'pattern': None, 'type': 'subscribe', 'channel': b'my-second-channel', 'data': 1}
    for (kind, channel, count) in [
        (MessageKind::Subscribe, "pubsub:my-first-channel", "1"),
        (MessageKind::Subscribe, "pubsub:my-second-channel", "2"),
        (MessageKind::PSubscribe, "pubsub:my-*", "3"),
    ] {
        let m = next(&mut p)?;
        assert_eq!(
            (m.kind, m.channel_str(), m.payload_str()),
            (kind, Some(channel), Some(count))
        );
        println!("   p.get_message() -> {}", show(&m));
    }

    // >>> r.publish('my-first-channel', 'some data')
    // 2
    println!("2. r.publish('my-first-channel', 'some data')");
    let receivers = r.publish("pubsub:my-first-channel", "some data")?;
    assert_eq!(receivers, 2, "one channel subscription and one pattern");
    println!("   -> {receivers} receivers (the channel and the pattern)");
    let m = next(&mut p)?;
    assert_eq!(m.kind, MessageKind::Message);
    assert_eq!(m.payload_str(), Some("some data"));
    println!("   p.get_message() -> {}", show(&m));
    let m = next(&mut p)?;
    assert_eq!(m.kind, MessageKind::PMessage);
    assert_eq!(m.pattern.as_deref(), Some(&b"pubsub:my-*"[..]));
    println!("   p.get_message() -> {}", show(&m));

    println!("3. p.get_message() with nothing waiting returns None at once (a zero timeout)");
    let started = Instant::now();
    assert_eq!(p.get_message(Duration::ZERO)?, None);
    println!("   -> None after {:?}", started.elapsed());

    println!("4. The server's view: pubsub_channels, pubsub_numsub, pubsub_numpat");
    let mut channels: Vec<String> =
        r.pubsub_channels_with(&PubsubChannelsOptions::new().pattern("pubsub:*"))?;
    channels.sort();
    assert_eq!(
        channels,
        ["pubsub:my-first-channel", "pubsub:my-second-channel"]
    );
    println!("   r.pubsub_channels('pubsub:*') -> {channels:?}");
    let numsub: Vec<(String, u64)> = r.pubsub_numsub_with(
        &PubsubNumsubOptions::new().channel(["pubsub:my-first-channel", "pubsub:nobody"]),
    )?;
    assert_eq!(
        numsub,
        [
            ("pubsub:my-first-channel".to_owned(), 1),
            ("pubsub:nobody".to_owned(), 0)
        ]
    );
    println!("   r.pubsub_numsub('pubsub:my-first-channel', 'pubsub:nobody') -> {numsub:?}");
    let numpat = r.pubsub_numpat()?;
    assert!(numpat >= 1);
    println!("   r.pubsub_numpat() -> {numpat}");

    // >>> p.unsubscribe()
    // >>> p.punsubscribe('my-*')
    println!("5. p.unsubscribe() (every channel); p.punsubscribe('my-*')");
    p.unsubscribe(Vec::<&str>::new())?;
    p.punsubscribe("pubsub:my-*")?;
    let mut confirmations = Vec::new();
    for _ in 0..3 {
        let m = next(&mut p)?;
        assert!(matches!(
            m.kind,
            MessageKind::Unsubscribe | MessageKind::PUnsubscribe
        ));
        println!("   p.get_message() -> {}", show(&m));
        confirmations.push(m.payload_str().unwrap_or_default().to_owned());
    }
    assert_eq!(confirmations.last().map(String::as_str), Some("0"));
    assert!(!p.is_subscribed());

    // >>> def my_handler(message):
    // ...     print('MY HANDLER: ', message['data'])
    // >>> p.subscribe(**{'my-channel': my_handler})
    println!("6. Handlers: p.subscribe(**{{'my-channel': my_handler}})");
    let (tx, handled) = mpsc::channel();
    p.subscribe_with_handler("pubsub:my-channel", move |m: &Message| {
        println!("   MY HANDLER:  {:?}", m.payload);
        let _ = tx.send(m.payload_str().unwrap_or_default().to_owned());
    })?;
    let m = next(&mut p)?; // the subscribe confirmation still comes to the caller
    assert_eq!(m.kind, MessageKind::Subscribe);
    assert_eq!(r.publish("pubsub:my-channel", "awesome data")?, 1);
    // >>> message = p.get_message()
    // MY HANDLER:  awesome data
    // >>> print(message)
    // None
    let message = p.get_message(Duration::from_millis(300))?;
    assert_eq!(message, None, "the handler took the message");
    assert_eq!(
        handled.recv_timeout(WAIT).ok().as_deref(),
        Some("awesome data")
    );
    println!("   p.get_message() ran the handler and returned {message:?}");
    p.unsubscribe("pubsub:my-channel")?;
    assert_eq!(next(&mut p)?.kind, MessageKind::Unsubscribe);

    // >>> p = r.pubsub(ignore_subscribe_messages=True)
    // >>> p.subscribe('my-channel')
    // >>> p.get_message()  # hides the subscribe message and returns None
    // >>> r.publish('my-channel', 'my data')
    // 1
    // >>> p.get_message()
    // {'channel': b'my-channel', 'data': b'my data', 'pattern': None, 'type': 'message'}
    println!("7. r.pubsub(ignore_subscribe_messages=True)");
    let mut p = r.pubsub()?;
    p.ignore_subscribe_messages(true);
    p.subscribe("pubsub:my-channel")?;
    let hidden = p.get_message(Duration::from_millis(300))?;
    assert_eq!(hidden, None);
    println!("   p.get_message() -> {hidden:?} (the confirmation is hidden)");
    assert_eq!(r.publish("pubsub:my-channel", "my data")?, 1);
    let m = next(&mut p)?;
    assert_eq!(m.payload_str(), Some("my data"));
    println!("   p.get_message() -> {}", show(&m));

    // >>> while True:
    // ...     message = p.get_message()
    // ...     if message:
    // ...         # do something with the message
    // ...     time.sleep(0.001)  # be nice to the system :)
    println!("8. A get_message() loop: the timeout blocks in the socket read, no sleep needed");
    for i in 0..3 {
        r.publish("pubsub:my-channel", format!("loop message {i}"))?;
    }
    let mut received = Vec::new();
    let deadline = Instant::now() + WAIT;
    while received.len() < 3 && Instant::now() < deadline {
        if let Some(m) = p.get_message(Duration::from_millis(100))? {
            received.push(m.payload_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(
        received,
        ["loop message 0", "loop message 1", "loop message 2"]
    );
    println!("   received {received:?}");

    // >>> for message in p.listen():
    // ...     # do something with the message
    println!("9. for message in p.listen(): an iterator that waits for each message");
    for i in 0..3 {
        r.publish("pubsub:my-channel", format!("listened {i}"))?;
    }
    let mut count = 0;
    for message in p.listen().take(3) {
        let message = message?;
        assert_eq!(message.payload_str(), Some(&*format!("listened {count}")));
        println!("   {}", show(&message));
        count += 1;
    }
    assert_eq!(count, 3);

    println!("10. p.ping(): the answer arrives as a message");
    p.ping()?;
    let pong = next(&mut p)?;
    assert_eq!(pong.kind, MessageKind::Pong);
    println!("   -> {pong:?}");

    // >>> p.close()
    println!("11. Dropping the PubSub closes its connection (p.close())");
    drop(p);
    let deadline = Instant::now() + WAIT;
    let mut subscribers = u64::MAX;
    while subscribers != 0 && Instant::now() < deadline {
        let numsub: HashMap<String, u64> =
            r.pubsub_numsub_with(&PubsubNumsubOptions::new().channel("pubsub:my-channel"))?;
        subscribers = numsub.get("pubsub:my-channel").copied().unwrap_or(0);
        if subscribers != 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(subscribers, 0);
    println!("   pubsub_numsub('pubsub:my-channel') -> 0 subscribers");

    println!("12. listen() ends by itself once nothing is subscribed");
    let mut p = r.pubsub()?;
    p.subscribe("pubsub:my-channel")?;
    assert_eq!(next(&mut p)?.kind, MessageKind::Subscribe);
    p.unsubscribe(Vec::<&str>::new())?;
    // `take` only bounds the example; the loop ends at once.
    let rest = p.listen().take(10).count();
    assert_eq!(rest, 0);
    println!("   after p.unsubscribe(): for message in p.listen() -> {rest} messages, loop ended");

    println!("Done.");
    Ok(())
}

/// The next message, which must arrive within [`WAIT`].
fn next(p: &mut PubSub) -> Result<Message, Error> {
    p.get_message(WAIT)?
        .ok_or_else(|| Error::InvalidRequest(format!("no message within {WAIT:?}")))
}

/// A message the way redis-py prints it.
fn show(m: &Message) -> String {
    let kind = match m.kind {
        MessageKind::Message => "message",
        MessageKind::PMessage => "pmessage",
        MessageKind::Subscribe => "subscribe",
        MessageKind::Unsubscribe => "unsubscribe",
        MessageKind::PSubscribe => "psubscribe",
        MessageKind::PUnsubscribe => "punsubscribe",
        MessageKind::Pong => "pong",
        _ => "other",
    };
    let pattern = m
        .pattern
        .as_ref()
        .map_or_else(|| "None".to_owned(), |p| format!("{p:?}"));
    let data = if m.kind.is_subscription_change() {
        // redis-py shows the subscription count as an int.
        m.payload_str().unwrap_or_default().to_owned()
    } else {
        format!("{:?}", m.payload)
    };
    format!(
        "{{'type': '{kind}', 'pattern': {pattern}, 'channel': {:?}, 'data': {data}}}",
        m.channel
    )
}
