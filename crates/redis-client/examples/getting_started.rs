//! redis-py 3.5.2 README, "Getting Started" (with its notes on `decode_responses` and on
//! parsers): open a client, SET and GET, and choose per call whether a reply is bytes or text.
//!
//! `cargo xtask demo getting_started` runs it against a throwaway server; to run it against
//! your own: `cargo run -p redis-client --example getting_started -- redis://127.0.0.1:6379/0`.
//! It only touches keys that start with `getting_started:` and deletes them at the end.

use redis_client::conn::{Address, ConnectionConfig};
use redis_client::{Client, Commands, Error, cmd};

/// Every key the example writes.
const KEYS: [&str; 3] = [
    "getting_started:foo",
    "getting_started:binary",
    "getting_started:counter",
];

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());

    // >>> r = redis.Redis(host='localhost', port=6379, db=0)
    println!("1. Client::open({url:?}): a pooled client, like redis.Redis(...)");
    let r = Client::open(&url)?;
    r.del(KEYS)?; // left over from an interrupted run

    // The same client from explicit settings, as redis-py's keyword arguments.
    let config = ConnectionConfig::from_url(&url)?;
    if let Address::Tcp { host, port } = config.address() {
        let built = Client::builder()
            .host(host.clone())
            .port(*port)
            .db(config.db())
            .build();
        let pong: String = built.ping()?;
        assert_eq!(pong, "PONG");
        println!(
            "   Client::builder().host({host:?}).port({port}).db({}) -> PING answers {pong}",
            config.db()
        );
    }

    // >>> r.set('foo', 'bar')
    // True
    println!("2. r.set('foo', 'bar')");
    r.set("getting_started:foo", "bar")?;
    println!("   SET getting_started:foo bar -> OK");

    // >>> r.get('foo')
    // b'bar'
    println!("3. r.get('foo'): redis-py returns bytes; here the type you ask for decides");
    let raw: Option<Vec<u8>> = r.get("getting_started:foo")?;
    assert_eq!(raw.as_deref(), Some(&b"bar"[..]));
    println!(
        "   as Option<Vec<u8>> (bytes)                      -> {}",
        show(raw.as_deref())
    );

    // decode_responses=True: ask for text instead. There is no client-wide switch, so one
    // client serves both kinds of callers.
    let text: Option<String> = r.get("getting_started:foo")?;
    assert_eq!(text.as_deref(), Some("bar"));
    println!("   as Option<String> (decode_responses=True)       -> {text:?}");

    let missing: Option<String> = r.get("getting_started:missing")?;
    assert_eq!(missing, None);
    println!("   a missing key as Option<String>                 -> {missing:?} (Python's None)");

    println!(
        "4. Decoding is strict UTF-8: bytes that are not text fail to convert, and stay readable as bytes"
    );
    r.set("getting_started:binary", &b"\xff\xfe"[..])?;
    let err = r
        .get::<Option<String>>("getting_started:binary")
        .unwrap_err();
    assert!(matches!(err, Error::Conversion(_)), "{err:?}");
    println!("   GET getting_started:binary as String  -> error: {err}");
    let bytes: Option<Vec<u8>> = r.get("getting_started:binary")?;
    assert_eq!(bytes.as_deref(), Some(&b"\xff\xfe"[..]));
    println!(
        "   GET getting_started:binary as Vec<u8> -> {}",
        show(bytes.as_deref())
    );

    println!("5. Numbers come back typed; any command also runs raw with cmd()");
    let n: i64 = r.incr("getting_started:counter")?;
    assert_eq!(n, 1);
    let n: i64 = cmd("INCRBY")
        .arg("getting_started:counter")
        .arg(41)
        .query(&r)?;
    assert_eq!(n, 42);
    println!("   INCR then INCRBY 41 -> {n}");

    println!(
        "6. Parsers: redis-py picks hiredis when installed; here one zero-copy RESP parser is built in"
    );

    let deleted = r.del(KEYS)?;
    assert_eq!(deleted, 3);
    println!("Done (deleted {deleted} keys).");
    Ok(())
}

/// Bytes the way Python prints them: `b"bar"`, `b"\xff\xfe"`.
fn show(bytes: Option<&[u8]>) -> String {
    match bytes {
        Some(bytes) => format!("b\"{}\"", bytes.escape_ascii()),
        None => "None".to_owned(),
    }
}
