//! redis-py 3.5.2 README, "Monitor" (`with r.monitor() as m: for command in m.listen()`):
//! every command the server runs, parsed into time, database, sender and arguments.
//!
//! `cargo xtask demo monitor` runs it against a throwaway server; to run it against your own:
//! `cargo run -p redis-client --example monitor -- redis://127.0.0.1:6379/0`.
//! On a busy server MONITOR shows everyone's commands (and slows the server down); the example
//! keeps only those on its own keys, which start with `monitor:`, and deletes them at the end.

use std::time::{Duration, Instant};

use redis_client::{Client, Commands, Error, MonitorEvent, MonitorSource};

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    let r = Client::open(&url)?;

    // >>> with r.monitor() as m:
    println!("1. m = r.monitor(): MONITOR on a connection of its own");
    let mut m = r.monitor()?;

    println!("2. Another connection runs SET, GET, INCRBY and a Lua script");
    r.set("monitor:greeting", "hello \"world\"\n")?;
    let _: Option<String> = r.get("monitor:greeting")?;
    r.incrby("monitor:counter", 5)?;
    let _: i64 = r.eval(
        "return redis.call('INCR', KEYS[1])",
        ["monitor:counter"],
        Vec::<&str>::new(),
    )?;

    // >>>     for command in m.listen():
    // >>>         print(command)
    println!("3. for command in m.listen(): the events, as parsed");
    let mut seen: Vec<MonitorEvent> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    // EVAL and the INCR the script runs make five events on our keys.
    while seen.len() < 5 && Instant::now() < deadline {
        let Some(event) = m.next_event(Duration::from_millis(200))? else {
            continue;
        };
        if !event.args.iter().any(|a| a.starts_with(b"monitor:")) {
            continue; // someone else's command
        }
        let source = match &event.source {
            MonitorSource::Tcp(addr) => format!("tcp {addr}"),
            MonitorSource::Unix(path) => format!("unix {path}"),
            MonitorSource::Lua => "lua".to_owned(),
            other => format!("{other:?}"),
        };
        println!(
            "   time {:.6} db {} from {source:<21} {} {:?}",
            event.timestamp,
            event.db,
            event.command(),
            &event.args[1..]
        );
        seen.push(event);
    }
    let commands: Vec<String> = seen.iter().map(MonitorEvent::command).collect();
    assert_eq!(commands, ["SET", "GET", "INCRBY", "EVAL", "INCR"]);
    // The server's escaping is undone: the value comes back byte for byte.
    assert_eq!(&seen[0].args[2][..], b"hello \"world\"\n");
    assert_eq!(seen[4].source, MonitorSource::Lua);
    assert!(matches!(
        seen[0].source,
        MonitorSource::Tcp(_) | MonitorSource::Unix(_)
    ));
    println!(
        "   the SET's value comes back unescaped: {:?}",
        seen[0].args[2]
    );

    println!("4. m.iter(): the same as an iterator (each step waits for the next command)");
    r.set("monitor:last", 1)?;
    // Bounded: the SET just ran, so it is among the next few commands the server reports.
    let last = m
        .iter()
        .take(1_000)
        .find(|event| {
            event.as_ref().map_or(true, |e| {
                e.args.get(1).map(|a| &a[..]) == Some(&b"monitor:last"[..])
            })
        })
        .expect("the SET was reported")?;
    assert_eq!(last.command(), "SET");
    println!("   -> {} {:?}", last.command(), &last.args[1..]);

    // Leaving the `with` block: dropping the Monitor closes its connection.
    drop(m);
    let deleted = r.del(["monitor:greeting", "monitor:counter", "monitor:last"])?;
    assert_eq!(deleted, 3);
    println!("Done (deleted {deleted} keys).");
    Ok(())
}
