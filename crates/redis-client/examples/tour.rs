//! A short guided tour of the client. `cargo xtask demo` runs it against a throwaway server;
//! to run it against your own: `cargo run -p redis-client --example tour -- redis://127.0.0.1:6379/0`.

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use redis_client::{Client, Error, ServerErrorKind, cmd};

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());

    println!("1. Client::open({url:?}): a pooled client; nothing connects until the first command");
    let client = Client::open(&url)?;

    println!("2. SET and GET with typed replies");
    cmd("SET")
        .arg("tour:greeting")
        .arg("hello")
        .execute(&client)?;
    let greeting: Option<String> = cmd("GET").arg("tour:greeting").query(&client)?;
    println!("   GET tour:greeting -> {greeting:?}");
    let missing: Option<String> = cmd("GET").arg("tour:missing").query(&client)?;
    println!("   GET tour:missing  -> {missing:?}");

    println!("3. Counters are i64, hashes come back as maps");
    cmd("DEL")
        .arg("tour:counter")
        .arg("tour:user")
        .execute(&client)?;
    let n: i64 = cmd("INCRBY").arg("tour:counter").arg(41).query(&client)?;
    assert_eq!(n, 41);
    let n: i64 = cmd("INCR").arg("tour:counter").query(&client)?;
    println!("   INCRBY 41 then INCR -> {n}");
    cmd("HSET")
        .arg("tour:user")
        .args(["name", "Ada", "lang", "Rust"])
        .execute(&client)?;
    let user: HashMap<String, String> = cmd("HGETALL").arg("tour:user").query(&client)?;
    println!(
        "   HGETALL tour:user -> {} fields, name = {}",
        user.len(),
        user["name"]
    );

    println!("4. Server errors keep their code; the connection stays usable");
    let err = cmd("INCR")
        .arg("tour:user")
        .query::<i64, _>(&client)
        .unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::WrongType));
    println!("   INCR on a hash -> {err}");

    println!("5. The client is Send + Sync + Clone: four threads share one pool");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            thread::spawn(move || -> Result<i64, Error> {
                let mut last = 0;
                for _ in 0..250 {
                    last = cmd("INCR").arg("tour:shared").query(&client)?;
                }
                Ok(last)
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join().expect("worker thread")?;
    }
    let total: i64 = cmd("GET").arg("tour:shared").query(&client)?;
    println!(
        "   1000 INCRs from 4 threads -> {total}; pool: {:?}",
        client.pool().stats()
    );

    println!("6. A dedicated connection for state-changing commands (SELECT)");
    let mut conn = client.get_connection()?;
    cmd("SELECT").arg(1).execute(&mut conn)?;
    cmd("SET")
        .arg("tour:in-db-1")
        .arg("yes")
        .execute(&mut conn)?;
    let here: Option<String> = cmd("GET").arg("tour:in-db-1").query(&mut conn)?;
    let there: Option<String> = cmd("GET").arg("tour:in-db-1").query(&client)?;
    println!("   in db 1 -> {here:?}; through the pooled client (db 0) -> {there:?}");

    println!("7. Timeouts close the connection instead of desynchronising it");
    let short = Client::builder_from_url(&url)?
        .socket_timeout(Duration::from_millis(100))
        .build();
    let err = cmd("BLPOP")
        .arg("tour:never")
        .arg(1)
        .query::<Option<Vec<String>>, _>(&short)
        .unwrap_err();
    println!(
        "   BLPOP 1s with a 100 ms timeout -> {err} (is_timeout: {})",
        err.is_timeout()
    );
    let pong: String = cmd("PING").query(&short)?;
    println!(
        "   next command on the same client -> {pong}; closed broken: {}",
        short.pool().stats().closed_broken
    );

    cmd("DEL")
        .args(["tour:greeting", "tour:counter", "tour:user", "tour:shared"])
        .execute(&client)?;
    println!("Done.");
    Ok(())
}
