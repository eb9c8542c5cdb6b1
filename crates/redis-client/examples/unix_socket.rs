//! redis-py 3.5.2 README, "Connecting to Redis over a Unix socket"
//! (`redis.Redis(unix_socket_path='/tmp/redis.sock')`): the builder's `unix_socket(path)` and
//! `unix://` URLs.
//!
//! The socket path comes from the environment variable `REDIS_UNIX_SOCKET`, from a `unix://`
//! URL given as the argument, or else from the server itself (`CONFIG GET unixsocket` over the
//! TCP URL). A server that listens on no socket is not an error: the example says how to
//! enable one and exits successfully. `cargo xtask demo unix_socket` starts its throwaway
//! server with a socket; to run it against your own:
//! `cargo run -p redis-client --example unix_socket -- redis://127.0.0.1:6379/0`.
//! It only touches keys that start with `unix_socket:` and deletes them at the end.

use std::path::PathBuf;

use redis_client::conn::{Address, ConnectionConfig};
use redis_client::{Client, Commands, Error};

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());

    let Some(path) = socket_path(&url)? else {
        println!(
            "The server at {url} listens on no Unix socket, so there is nothing to show.\n\
             Start one with `redis-server --unixsocket /tmp/redis.sock --unixsocketperm 700`\n\
             (or set REDIS_UNIX_SOCKET=/path/to/redis.sock) and run this example again."
        );
        return Ok(());
    };

    // The same database as the URL's.
    let db = ConnectionConfig::from_url(&url)?.db();

    // >>> r = redis.Redis(unix_socket_path='/tmp/redis.sock', db=0)
    println!(
        "1. Client::builder().unix_socket({:?}).db({db}).build()",
        path.display()
    );
    let r = Client::builder().unix_socket(&path).db(db).build();
    r.set("unix_socket:greeting", "hello over a socket file")?;
    let me = r.get_connection()?;
    let info = me.client_info()?;
    assert!(
        info.has_flag('U'),
        "CLIENT INFO flags should say Unix socket: {info:?}"
    );
    println!(
        "   CLIENT INFO -> addr={} flags={} (U: connected through a Unix socket)",
        info.addr,
        info.flags.as_deref().unwrap_or("")
    );
    drop(me);

    // >>> redis.Redis.from_url('unix:///tmp/redis.sock?db=0')
    let socket_url = format!("unix://{}?db={db}", path.display());
    println!("2. Client::open({socket_url:?})");
    let from_url = Client::open(&socket_url)?;
    let greeting: Option<String> = from_url.get("unix_socket:greeting")?;
    assert_eq!(greeting.as_deref(), Some("hello over a socket file"));
    println!("   GET unix_socket:greeting -> {greeting:?}");

    let deleted = r.del("unix_socket:greeting")?;
    assert_eq!(deleted, 1);
    println!("Done (deleted {deleted} key).");
    Ok(())
}

/// The socket to use: `REDIS_UNIX_SOCKET`, the URL's own path, or the server's `unixsocket`.
fn socket_path(url: &str) -> Result<Option<PathBuf>, Error> {
    if let Some(path) = std::env::var_os("REDIS_UNIX_SOCKET") {
        return Ok(Some(PathBuf::from(path)));
    }
    let config = ConnectionConfig::from_url(url)?;
    if let Address::Unix(path) = config.address() {
        return Ok(Some(path.clone()));
    }
    let tcp = Client::open(url)?;
    let setting = tcp.config_get("unixsocket")?;
    Ok(setting
        .get("unixsocket")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from))
}
