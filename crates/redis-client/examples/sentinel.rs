//! redis-py 3.5.2 README, "Sentinel support": ask the Sentinels where the master and the
//! replicas of a group are, then write to the master and read from a replica.
//!
//! It needs Sentinels, which the server of `cargo xtask demo` does not have, so it connects only
//! when the environment names them:
//!
//! * `REDIS_SENTINEL_ADDRS`: the Sentinels, `host:port` separated by commas, for example
//!   `127.0.0.1:26379,127.0.0.1:26380`;
//! * `REDIS_SENTINEL_MASTER` (optional): the monitored group's name, `mymaster` by default.
//!
//! Without `REDIS_SENTINEL_ADDRS` it prints how to set one up and exits successfully.
//!
//! This example asks the Sentinels with the typed `SENTINEL` commands (`sentinel_master`,
//! `sentinel_replicas`) and the checks redis-py's `Sentinel.discover_master` makes (the master
//! flag, not subjectively or objectively down), then connects to the addresses it found. Such
//! a client does not follow a failover by itself.
//!
//! It only touches the key `sentinel:foo` and deletes it at the end.

use std::env;
use std::time::Duration;

use redis_client::replies::SentinelState;
use redis_client::{Client, Commands, Error, InfoOptions};

/// The timeout for talking to a Sentinel (redis-py's example uses 0.1 s).
const SENTINEL_TIMEOUT: Duration = Duration::from_millis(500);

fn main() -> Result<(), Error> {
    let Some(addrs) = env::var("REDIS_SENTINEL_ADDRS")
        .ok()
        .filter(|a| !a.trim().is_empty())
    else {
        println!(
            "REDIS_SENTINEL_ADDRS is not set: there are no Sentinels to ask, so this is what the example does.\n\
             \n\
             1. sentinel.discover_master('mymaster'): SENTINEL MASTER mymaster on each Sentinel in turn,\n\
             \x20  until one names a master that is up -> (ip, port).\n\
             2. sentinel.discover_slaves('mymaster'): SENTINEL REPLICAS mymaster, without the ones that are down.\n\
             3. master.set('foo', 'bar') on the master; slave.get('foo') on a replica -> \"bar\".\n\
             \n\
             To run it, start a master, a replica and a Sentinel:\n\
             \x20 redis-server --port 6379 --save '' &\n\
             \x20 redis-server --port 6380 --save '' --replicaof 127.0.0.1 6379 &\n\
             \x20 printf 'port 26379\\nsentinel monitor mymaster 127.0.0.1 6379 1\\n' > sentinel.conf\n\
             \x20 redis-sentinel sentinel.conf &\n\
             \x20 REDIS_SENTINEL_ADDRS=127.0.0.1:26379 cargo run -p redis-client --example sentinel\n\
             (REDIS_SENTINEL_MASTER names another group than mymaster.)"
        );
        return Ok(());
    };
    let name = env::var("REDIS_SENTINEL_MASTER").unwrap_or_else(|_| "mymaster".to_owned());

    // >>> sentinel = Sentinel([('localhost', 26379)], socket_timeout=0.1)
    let mut sentinels = Vec::new();
    for addr in addrs.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                Error::InvalidRequest(format!("REDIS_SENTINEL_ADDRS: {addr:?} is not host:port"))
            })?;
        let client = Client::builder()
            .host(host)
            .port(port)
            .socket_timeout(SENTINEL_TIMEOUT)
            .connect_timeout(SENTINEL_TIMEOUT)
            .build();
        sentinels.push((addr.to_owned(), client));
    }
    println!(
        "1. Sentinels {:?}, group {name:?}",
        sentinels.iter().map(|(a, _)| a).collect::<Vec<_>>()
    );

    // >>> sentinel.discover_master('mymaster')
    // ('127.0.0.1', 6379)
    let (master_host, master_port) = discover_master(&sentinels, &name)?;
    println!("2. discover_master({name:?}) -> ({master_host:?}, {master_port})");

    // >>> sentinel.discover_slaves('mymaster')
    // [('127.0.0.1', 6380)]
    let replicas = discover_replicas(&sentinels, &name);
    println!("3. discover_slaves({name:?}) -> {replicas:?}");

    // >>> master = sentinel.master_for('mymaster', socket_timeout=0.1)
    // >>> master.set('foo', 'bar')
    let master = Client::builder()
        .host(master_host.clone())
        .port(master_port)
        .socket_timeout(Duration::from_secs(2))
        .build();
    let info = master.info_with(&InfoOptions::new().section("replication"))?;
    assert_eq!(info.get("role"), Some("master"));
    master.set("sentinel:foo", "bar")?;
    println!("4. master.set('foo', 'bar') on {master_host}:{master_port} (INFO says role:master)");

    // >>> slave = sentinel.slave_for('mymaster', socket_timeout=0.1)
    // >>> slave.get('foo')
    // b'bar'
    if let Some((host, port)) = replicas.first() {
        // Replication is asynchronous: WAIT until a replica has the write (at most 2 s).
        let acked = master.wait(1, 2_000)?;
        let replica = Client::builder()
            .host(host.clone())
            .port(*port)
            .socket_timeout(Duration::from_secs(2))
            .build();
        let info = replica.info_with(&InfoOptions::new().section("replication"))?;
        assert_eq!(info.get("role"), Some("slave"));
        let value: Option<String> = replica.get("sentinel:foo")?;
        if acked >= 1 && replicas.len() == 1 {
            assert_eq!(value.as_deref(), Some("bar"));
        }
        println!(
            "5. slave.get('foo') on {host}:{port} -> {value:?} (WAIT: {acked} replica(s) acknowledged)"
        );
    } else {
        println!("5. The group has no replica that is up: nothing to read from");
    }

    let deleted = master.del("sentinel:foo")?;
    assert_eq!(deleted, 1);
    println!("Done (deleted {deleted} key).");
    Ok(())
}

/// redis-py's `Sentinel.check_master_state`: a master, and not down.
fn usable(state: &SentinelState) -> bool {
    state.is_master() && !state.is_sdown() && !state.is_odown()
}

/// The first Sentinel's answer that names a usable master. A Sentinel that cannot be reached
/// is skipped, as redis-py does.
fn discover_master(sentinels: &[(String, Client)], name: &str) -> Result<(String, u16), Error> {
    let mut reasons = Vec::new();
    for (addr, sentinel) in sentinels {
        match sentinel.sentinel_master(name) {
            Ok(state) if usable(&state) => {
                if let (Some(ip), Some(port)) = (state.ip(), state.port()) {
                    return Ok((ip.to_owned(), port));
                }
                reasons.push(format!("{addr}: no address in the answer"));
            }
            Ok(state) => reasons.push(format!("{addr}: master is down ({:?})", state.flags())),
            Err(e) => reasons.push(format!("{addr}: {e}")),
        }
    }
    Err(Error::InvalidRequest(format!(
        "no master found for {name:?} (redis-py's MasterNotFoundError): {}",
        reasons.join("; ")
    )))
}

/// The replicas the first answering Sentinel reports up.
fn discover_replicas(sentinels: &[(String, Client)], name: &str) -> Vec<(String, u16)> {
    for (_, sentinel) in sentinels {
        let Ok(states) = sentinel.sentinel_replicas(name) else {
            continue;
        };
        let up: Vec<(String, u16)> = states
            .iter()
            .filter(|s| !s.is_sdown() && !s.is_odown() && !s.is_disconnected())
            .filter_map(|s| Some((s.ip()?.to_owned(), s.port()?)))
            .collect();
        if !up.is_empty() {
            return up;
        }
    }
    Vec::new()
}
