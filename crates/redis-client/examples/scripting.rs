//! redis-py 3.5.2 README, "Lua Scripting": `register_script`, calling the script with keys and
//! arguments, on another client, inside a pipeline, and the NOSCRIPT fallback that loads the
//! script when the server's cache lacks it.
//!
//! `cargo xtask demo scripting` runs it against a throwaway server; to run it against your own:
//! `cargo run -p redis-client --example scripting -- redis://127.0.0.1:6379/0`.
//! It only touches the key `scripting:foo` in the URL's database and in one other (1, or 2
//! when the URL's is 1: the README's second server), and deletes them at the end. It never
//! flushes the script cache.

use std::time::{SystemTime, UNIX_EPOCH};

use redis_client::conn::ConnectionConfig;
use redis_client::{Client, Commands, Error, PipelineCommands, ServerErrorKind};

/// The README's script.
const LUA: &str = "
local value = redis.call('GET', KEYS[1])
value = tonumber(value)
return value * ARGV[1]";

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    let r = Client::open(&url)?;

    // >>> multiply = r.register_script(lua)
    println!("1. multiply = r.register_script(lua)");
    let multiply = r.register_script(LUA);
    println!(
        "   SHA1 {} (computed locally; nothing sent yet)",
        multiply.sha()
    );

    // >>> r.set('foo', 2)
    // >>> multiply(keys=['foo'], args=[5])
    // 10
    println!("2. r.set('foo', 2); multiply(keys=['foo'], args=[5])");
    r.set("scripting:foo", 2)?;
    let n: i64 = multiply.invoke(&r, ["scripting:foo"], [5])?;
    assert_eq!(n, 10);
    println!("   -> {n}");

    // >>> r2 = redis.Redis('redis2.example.com')
    // >>> r2.set('foo', 3)
    // >>> multiply(keys=['foo'], args=[5], client=r2)
    // 15
    let other_db = if ConnectionConfig::from_url(&url)?.db() == 1 {
        2
    } else {
        1
    };
    println!(
        "3. multiply(keys=['foo'], args=[5], client=r2), with r2 on database {other_db} standing for another server"
    );
    let r2 = Client::builder_from_url(&url)?.db(other_db).build();
    r2.set("scripting:foo", 3)?;
    let n: i64 = multiply.invoke(&r2, ["scripting:foo"], [5])?;
    assert_eq!(n, 15);
    println!("   -> {n}");

    // >>> pipe = r.pipeline()
    // >>> pipe.set('foo', 5)
    // >>> multiply(keys=['foo'], args=[5], client=pipe)
    // >>> pipe.execute()
    // [True, 25]
    println!("4. In a pipeline: pipe.set('foo', 5); multiply(..., client=pipe); pipe.execute()");
    let mut pipe = r.pipeline();
    pipe.set("scripting:foo", 5);
    multiply.queue(&mut pipe, ["scripting:foo"], [5]);
    // The pipeline loads the script on its connection first, so the EVALSHA inside MULTI
    // cannot fail with NOSCRIPT.
    let (_, n): ((), i64) = pipe.query()?;
    assert_eq!(n, 25);
    println!("   -> [OK, {n}]");

    println!(
        "5. A script the server has never seen: EVALSHA fails with NOSCRIPT, so it is loaded and run again"
    );
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let fresh = r.register_script(format!("-- run {nonce}\nreturn ARGV[1] .. '!'"));
    let cached: Vec<bool> = r.script_exists(fresh.sha())?;
    assert_eq!(cached, [false]);
    let shout: String = fresh.invoke(&r, Vec::<&str>::new(), ["hello"])?;
    assert_eq!(shout, "hello!");
    let cached: Vec<bool> = r.script_exists(fresh.sha())?;
    assert_eq!(cached, [true]);
    println!(
        "   SCRIPT EXISTS before -> [false]; invoke -> {shout:?}; SCRIPT EXISTS after -> {cached:?}"
    );

    println!("6. A script error is a server error, like any command's");
    r.set("scripting:foo", "not a number")?;
    let err = multiply
        .invoke::<i64, _>(&r, ["scripting:foo"], [5])
        .unwrap_err();
    assert!(err.server_error().is_some(), "{err:?}");
    assert_ne!(err.server_kind(), Some(ServerErrorKind::NoScript));
    println!("   multiply on 'not a number' -> {err}");

    let deleted = r.del("scripting:foo")? + r2.del("scripting:foo")?;
    assert_eq!(deleted, 2);
    println!("Done (deleted {deleted} keys).");
    Ok(())
}
