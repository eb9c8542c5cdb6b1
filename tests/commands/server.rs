//! Typed commands against a real server: the `server` and `connection` groups (ACL, CLIENT,
//! COMMAND, CONFIG, persistence, replication, introspection, SHUTDOWN, ...).
//!
//! The `transactions` group has no generated methods (MULTI/EXEC/WATCH live on `Pipeline`), and
//! WAIT/WAITAOF belong to the `generic` group.

use std::collections::HashMap;
use std::fs;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis_client::replies::{
    AclLogEntry, AclUser, ClientInfo, ClientList, CommandDocs, CommandInfo, Info, LatencySample,
    MemoryStats, Role, ServerTime, SlowlogEntry,
};
use redis_client::{
    AclCatOptions, AclDryrunOptions, AclGenpassOptions, AclLogOptions, AclSetuserOptions,
    BgsaveOptions, Client, ClientKillClientType, ClientKillFilter, ClientKillFilterNewFormat,
    ClientListOptions, ClientPauseOptions, ClientSetinfoAttr, ClientUnblockOptions,
    CommandDocsOptions, CommandGetkeysOptions, CommandGetkeysandflagsOptions, CommandInfoOptions,
    CommandListOptions, Commands, Error, FailoverOptions, FlushallOptions, FlushdbOptions,
    InfoOptions, LatencyHistogramOptions, LatencyResetOptions, LolwutOptions, MemoryUsageOptions,
    ModuleLoadOptions, ModuleLoadexOptions, OnOff, PingOptions, PipelineCommands, Protocol,
    ReplicaofArgs, RestoreAskingOptions, ServerErrorKind, ShutdownOptions, SlaveofArgs,
    SlowlogGetOptions, Value, YesNo, cmd,
};
use tests::{CommandServer, RedisServer, eventually};

/// How long replication, background saves and shutdowns get to finish.
const SETTLE: Duration = Duration::from_secs(10);

/// The message of a server error reply; panics on success or any other error.
#[track_caller]
fn server_err<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Server(e)) => e.message().to_owned(),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Asserts that a request was refused before it was sent (an empty argument list).
#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Error>) {
    assert!(
        matches!(result, Err(Error::InvalidRequest(_))),
        "expected InvalidRequest, got {result:?}"
    );
}

/// One field of one INFO section.
fn info_value(c: &Client, section: &str, field: &str) -> String {
    let info: Info = c
        .info_with(&InfoOptions::new().section(section))
        .expect("INFO");
    info.get(field)
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .to_owned()
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
}

fn version_text(s: &CommandServer) -> String {
    let (a, b, c) = s.version();
    format!("{a}.{b}.{c}")
}

fn resp_number(protocol: Protocol) -> u8 {
    if protocol == Protocol::Resp3 { 3 } else { 2 }
}

// ---------------------------------------------------------------------------------------------
// connection: PING, ECHO
// ---------------------------------------------------------------------------------------------

#[test]
fn ping_and_echo() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let pong: String = c.ping().unwrap();
        assert_eq!(pong, "PONG");
        let message: String = c
            .ping_with(&PingOptions::new().message("hello there"))
            .unwrap();
        assert_eq!(message, "hello there");

        let echoed: String = c.echo("echo me").unwrap();
        assert_eq!(echoed, "echo me");
        let binary: Vec<u8> = c.echo(b"\x00\xff\r\nend").unwrap();
        assert_eq!(binary, b"\x00\xff\r\nend");
        let empty: String = c.echo("").unwrap();
        assert_eq!(empty, "");
    });
}

#[test]
fn pipeline_of_connection_and_server_commands() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("k", "v").unwrap();
        let mut p = c.pipeline();
        p.transaction(false).ping().echo("piped").dbsize().time();
        let (pong, echoed, size, time): (String, String, i64, ServerTime) = p.query().unwrap();
        assert_eq!(pong, "PONG");
        assert_eq!(echoed, "piped");
        assert_eq!(size, 1);
        assert!(time.seconds().abs_diff(unix_now().as_secs()) < 60);
    });
}

// ---------------------------------------------------------------------------------------------
// connection: CLIENT ...
// ---------------------------------------------------------------------------------------------

#[test]
fn client_id_info_list_and_help() {
    let s = CommandServer::start();
    s.each_protocol(|c, protocol| {
        let conn = c.get_connection().unwrap();
        let id = conn.client_id().unwrap();
        assert!(id > 0);
        let id_again = conn.client_id().unwrap();
        assert_eq!(id, id_again, "the id belongs to the connection");
        let uid = u64::try_from(id).unwrap();

        let info: ClientInfo = conn.client_info().unwrap();
        assert_eq!(info.id, uid);
        assert_eq!(info.db, Some(0));
        assert_eq!(info.cmd.as_deref(), Some("client|info"));
        assert_eq!(info.user.as_deref(), Some("default"));
        assert_eq!(info.resp, Some(resp_number(protocol)));
        assert!(info.addr.starts_with("127.0.0.1:"), "{}", info.addr);
        assert!(info.has_flag('N'), "a normal client: {:?}", info.flags);
        assert_eq!(info.get("id"), Some(id.to_string().as_str()));

        let all: ClientList = c.client_list().unwrap();
        let me = all.by_id(uid).expect("the dedicated connection is listed");
        assert_eq!(me.addr, info.addr);

        let only: ClientList = c
            .client_list_with(&ClientListOptions::new().id([id]))
            .unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].id, uid);
        let other = c.get_connection().unwrap();
        let other_id = other.client_id().unwrap();
        let two: ClientList = c
            .client_list_with(&ClientListOptions::new().id([id, other_id]))
            .unwrap();
        let mut ids: Vec<i64> = two.iter().map(|i| i64::try_from(i.id).unwrap()).collect();
        ids.sort_unstable();
        assert_eq!(ids, [id.min(other_id), id.max(other_id)]);
        let normal: ClientList = c
            .client_list_with(&ClientListOptions::new().normal())
            .unwrap();
        assert!(
            normal.by_id(uid).is_some() && normal.by_id(u64::try_from(other_id).unwrap()).is_some()
        );
        assert!(normal.iter().all(|i| i.has_flag('N')));
        // SPEC: `CLIENT LIST [TYPE ...] [ID ...]` shows both options as independent, but
        // Redis 7.0 accepts only one of them per call.
        let both = c.client_list_with(&ClientListOptions::new().normal().id([id]));
        if let Err(e) = &both {
            assert!(e.to_string().contains("syntax error"), "{e}");
        }
        for (what, options) in [
            ("pubsub", ClientListOptions::new().pubsub()),
            ("master", ClientListOptions::new().master()),
            ("replica", ClientListOptions::new().replica()),
        ] {
            let none: ClientList = c.client_list_with(&options).unwrap();
            assert!(none.is_empty(), "no {what} clients: {none:?}");
        }
        assert_invalid(c.client_list_with(&ClientListOptions::new().id(Vec::<i64>::new())));

        let help: Vec<String> = c.client_help().unwrap();
        assert!(help[0].contains("CLIENT"), "{help:?}");
        assert!(help.iter().any(|l| l.contains("SETNAME")), "{help:?}");
    });
}

#[test]
fn client_setname_and_getname_are_per_connection() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let conn = c.get_connection().unwrap();
        let unnamed: Option<String> = conn.client_getname().unwrap();
        assert_eq!(unnamed, None);

        conn.client_setname("worker-1").unwrap();
        let name: Option<String> = conn.client_getname().unwrap();
        assert_eq!(name.as_deref(), Some("worker-1"));
        let info: ClientInfo = conn.client_info().unwrap();
        assert_eq!(info.name.as_deref(), Some("worker-1"));
        let list: ClientList = c.client_list().unwrap();
        assert_eq!(
            list.by_id(info.id).and_then(|i| i.name.as_deref()),
            Some("worker-1"),
            "other connections see the name"
        );
        let elsewhere: Option<String> = c.get_connection().unwrap().client_getname().unwrap();
        assert_eq!(elsewhere, None, "the name is per connection");

        let err = server_err(conn.client_setname("has space"));
        assert!(err.contains("cannot contain spaces"), "{err}");
        let still: Option<String> = conn.client_getname().unwrap();
        assert_eq!(still.as_deref(), Some("worker-1"));

        conn.client_setname("").unwrap();
        let cleared: Option<String> = conn.client_getname().unwrap();
        assert_eq!(cleared, None, "an empty name removes it");
    });
}

#[test]
fn client_kill_by_id_addr_laddr_user_type_and_old_format() {
    use ClientKillFilterNewFormat as F;
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // By ID.
        let victim = c.get_connection().unwrap();
        let id = victim.client_id().unwrap();
        let killed: i64 = c
            .client_kill(ClientKillFilter::NewFormat(vec![F::ClientId(id)]))
            .unwrap();
        assert_eq!(killed, 1);
        let err = victim.ping::<String>().unwrap_err();
        assert!(
            err.is_connection(),
            "the killed connection is closed: {err}"
        );
        let again: i64 = c
            .client_kill(ClientKillFilter::NewFormat(vec![F::ClientId(id)]))
            .unwrap();
        assert_eq!(again, 0, "an unknown id kills nothing");

        // By ADDR, SKIPME YES.
        let victim = c.get_connection().unwrap();
        let info: ClientInfo = victim.client_info().unwrap();
        let killed: i64 = c
            .client_kill(ClientKillFilter::NewFormat(vec![
                F::Addr(Bytes::from(info.addr.clone())),
                F::Skipme(YesNo::Yes),
            ]))
            .unwrap();
        assert_eq!(killed, 1);
        assert!(victim.ping::<String>().unwrap_err().is_connection());

        // By LADDR and TYPE, narrowed to one connection by ID (the filters are ANDed).
        let victim = c.get_connection().unwrap();
        let info: ClientInfo = victim.client_info().unwrap();
        let laddr = info.laddr.clone().expect("laddr (Redis 6.2+)");
        let wrong_type: i64 = c
            .client_kill(ClientKillFilter::NewFormat(vec![
                F::ClientType(ClientKillClientType::Pubsub),
                F::ClientId(i64::try_from(info.id).unwrap()),
            ]))
            .unwrap();
        assert_eq!(wrong_type, 0, "the connection is not a pubsub client");
        let killed: i64 = c
            .client_kill(ClientKillFilter::NewFormat(vec![
                F::Laddr(Bytes::from(laddr)),
                F::ClientType(ClientKillClientType::Normal),
                F::ClientId(i64::try_from(info.id).unwrap()),
                F::Skipme(YesNo::No),
            ]))
            .unwrap();
        assert_eq!(killed, 1);
        assert!(victim.ping::<String>().unwrap_err().is_connection());

        // By USER.
        c.acl_setuser_with(
            "kill-me",
            &AclSetuserOptions::new().rule(["reset", "on", ">pw", "~*", "+@all"]),
        )
        .unwrap();
        let as_user = s
            .server
            .client_builder()
            .username("kill-me")
            .password("pw")
            .build();
        let victim = as_user.get_connection().unwrap();
        let whoami: String = victim.acl_whoami().unwrap();
        assert_eq!(whoami, "kill-me");
        let killed: i64 = c
            .client_kill(ClientKillFilter::NewFormat(vec![F::Username(
                "kill-me".into(),
            )]))
            .unwrap();
        assert_eq!(killed, 1);
        assert!(victim.ping::<String>().unwrap_err().is_connection());
        assert_eq!(c.acl_deluser("kill-me").unwrap(), 1);

        // The old `ip:port` form answers OK, or an error for an unknown address.
        let victim = c.get_connection().unwrap();
        let info: ClientInfo = victim.client_info().unwrap();
        let ok: String = c
            .client_kill(ClientKillFilter::OldFormat(Bytes::from(info.addr.clone())))
            .unwrap();
        assert_eq!(ok, "OK");
        assert!(victim.ping::<String>().unwrap_err().is_connection());
        let err =
            server_err(c.client_kill::<Value>(ClientKillFilter::OldFormat(Bytes::from(info.addr))));
        assert!(err.contains("No such client"), "{err}");

        // An empty new-format filter list is refused before sending.
        let empty = c.client_kill::<Value>(ClientKillFilter::NewFormat(Vec::new()));
        assert!(matches!(empty, Err(Error::InvalidRequest(_))), "{empty:?}");
    });
}

#[test]
fn client_pause_write_holds_writes_until_unpause() {
    let s = CommandServer::start();
    let c = s.client(Protocol::Resp3);
    let admin = c.get_connection().unwrap();
    let writer_client = s
        .server
        .client_builder()
        .socket_timeout(Duration::from_secs(20))
        .build();
    let writer = writer_client.get_connection().unwrap();

    admin
        .client_pause_with(10_000, &ClientPauseOptions::new().write())
        .unwrap();
    let read: Option<String> = admin.get("paused-key").unwrap();
    assert_eq!(read, None, "reads are served during a WRITE pause");
    let handle =
        thread::spawn(move || writer.set("paused-key", "written").map(|()| Instant::now()));
    thread::sleep(Duration::from_millis(300));
    assert!(
        !handle.is_finished(),
        "the write waits for the pause to end"
    );
    let read: Option<String> = admin.get("paused-key").unwrap();
    assert_eq!(read, None);

    let unpaused = Instant::now();
    admin.client_unpause().unwrap();
    let written_at = handle.join().unwrap().unwrap();
    assert!(written_at >= unpaused);
    let read: Option<String> = admin.get("paused-key").unwrap();
    assert_eq!(read.as_deref(), Some("written"));

    // ALL pauses every command of other clients until the timeout.
    let other = c.get_connection().unwrap();
    let start = Instant::now();
    admin
        .client_pause_with(300, &ClientPauseOptions::new().all())
        .unwrap();
    let pong: String = other.ping().unwrap();
    assert_eq!(pong, "PONG");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );

    // Without a mode, CLIENT PAUSE pauses ALL.
    let start = Instant::now();
    admin.client_pause(300).unwrap();
    let pong: String = other.ping().unwrap();
    assert_eq!(pong, "PONG");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );

    let err = server_err(admin.client_pause(-1));
    assert!(err.contains("timeout"), "{err}");
}

/// Whether client `id` is blocked in a command (flag `b`).
fn is_blocked(c: &Client, id: i64) -> bool {
    let list: ClientList = c
        .client_list_with(&ClientListOptions::new().id([id]))
        .unwrap();
    list.first().is_some_and(|i| i.has_flag('b'))
}

#[test]
fn client_unblock_wakes_a_blocked_client() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let mut blocked = c.get_connection().unwrap();
        let id = blocked.client_id().unwrap();
        assert!(!c.client_unblock(id).unwrap(), "not blocked yet");

        // Default and TIMEOUT: the command returns as if it timed out (a null).
        for options in [None, Some(ClientUnblockOptions::new().timeout())] {
            let waiter = thread::spawn(move || {
                let popped = blocked.blpop::<Option<(String, String)>>("queue", 10);
                (blocked, popped)
            });
            assert!(eventually(SETTLE, || is_blocked(c, id)));
            let unblocked = match &options {
                None => c.client_unblock(id).unwrap(),
                Some(options) => c.client_unblock_with(id, options).unwrap(),
            };
            assert!(unblocked);
            let (conn, popped) = waiter.join().unwrap();
            assert_eq!(popped.unwrap(), None);
            blocked = conn;
        }

        // ERROR: the command fails with UNBLOCKED.
        let waiter = thread::spawn(move || {
            let popped = blocked.blpop::<Option<(String, String)>>("queue", 10);
            (blocked, popped)
        });
        assert!(eventually(SETTLE, || is_blocked(c, id)));
        assert!(
            c.client_unblock_with(id, &ClientUnblockOptions::new().error())
                .unwrap()
        );
        let (blocked, popped) = waiter.join().unwrap();
        let err = popped.unwrap_err();
        assert_eq!(err.server_kind(), Some(ServerErrorKind::Unblocked), "{err}");
        let pong: String = blocked.ping().unwrap();
        assert_eq!(pong, "PONG", "the connection stays usable");
        assert!(!c.client_unblock(id).unwrap());
    });
}

#[test]
fn client_no_evict_no_touch_and_setinfo() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let conn = c.get_connection().unwrap();
        conn.client_no_evict(OnOff::On).unwrap();
        let info: ClientInfo = conn.client_info().unwrap();
        assert!(info.has_flag('e'), "no-evict flag: {:?}", info.flags);
        conn.client_no_evict(OnOff::Off).unwrap();
        let info: ClientInfo = conn.client_info().unwrap();
        assert!(!info.has_flag('e'), "{:?}", info.flags);

        if s.supports("7.2.0", "CLIENT NO-TOUCH") {
            conn.client_no_touch(OnOff::On).unwrap();
            let info: ClientInfo = conn.client_info().unwrap();
            assert!(info.has_flag('T'), "no-touch flag: {:?}", info.flags);
            conn.client_no_touch(OnOff::Off).unwrap();
            let info: ClientInfo = conn.client_info().unwrap();
            assert!(!info.has_flag('T'), "{:?}", info.flags);
        }

        if s.supports("7.2.0", "CLIENT SETINFO") {
            conn.client_setinfo(ClientSetinfoAttr::Libname("typed-tests".into()))
                .unwrap();
            conn.client_setinfo(ClientSetinfoAttr::Libver("1.2.3".into()))
                .unwrap();
            let info: ClientInfo = conn.client_info().unwrap();
            assert_eq!(info.get("lib-name"), Some("typed-tests"));
            assert_eq!(info.get("lib-ver"), Some("1.2.3"));
            let _ =
                server_err(conn.client_setinfo(ClientSetinfoAttr::Libname("with space".into())));
        }
    });
}

#[test]
fn client_getredir_and_trackinginfo() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let mut conn = c.get_connection().unwrap();
        assert_eq!(conn.client_getredir().unwrap(), -1, "tracking is off");
        let tracking: HashMap<String, Value> = conn.client_trackinginfo().unwrap();
        let flags = Vec::<String>::from_reply_value(&tracking["flags"]);
        assert_eq!(flags, ["off"]);
        assert_eq!(i64::from_reply_value(&tracking["redirect"]), -1);
        assert!(Vec::<String>::from_reply_value(&tracking["prefixes"]).is_empty());

        // CLIENT TRACKING has no typed method; turn it on by hand.
        let target = c.get_connection().unwrap();
        let target_id = target.client_id().unwrap();
        cmd("CLIENT")
            .arg("TRACKING")
            .arg("on")
            .arg("REDIRECT")
            .arg(target_id)
            .execute(&mut conn)
            .unwrap();
        assert_eq!(conn.client_getredir().unwrap(), target_id);
        let tracking: HashMap<String, Value> = conn.client_trackinginfo().unwrap();
        let flags = Vec::<String>::from_reply_value(&tracking["flags"]);
        assert!(flags.contains(&"on".to_owned()), "{flags:?}");
        assert_eq!(i64::from_reply_value(&tracking["redirect"]), target_id);
    });
}

/// Converts a part of a reply already read as a `Value`.
trait FromReplyValue: Sized {
    fn from_reply_value(value: &Value) -> Self;
}

impl<T: redis_client::FromReply> FromReplyValue for T {
    fn from_reply_value(value: &Value) -> Self {
        T::from_reply(value.clone()).expect("convert a part of the reply")
    }
}

// ---------------------------------------------------------------------------------------------
// server: ACL
// ---------------------------------------------------------------------------------------------

/// SHA-256 of "secret", as ACL GETUSER and ACL LIST show the password.
const SECRET_SHA256: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

#[test]
fn acl_setuser_getuser_users_list_and_deluser() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let whoami: String = c.acl_whoami().unwrap();
        assert_eq!(whoami, "default");

        c.acl_setuser("bob").unwrap();
        let bob: AclUser = c.acl_getuser("bob").unwrap().expect("bob exists");
        assert!(!bob.is_enabled(), "a new user is off: {:?}", bob.flags);
        assert!(bob.flags.contains(&"off".to_owned()));
        assert!(bob.passwords.is_empty());
        assert_eq!(bob.commands, "-@all");

        c.acl_setuser_with(
            "alice",
            &AclSetuserOptions::new().rule(["reset", "on", ">secret", "~k*", "+get"]),
        )
        .unwrap();
        let alice: AclUser = c.acl_getuser("alice").unwrap().expect("alice exists");
        assert!(alice.is_enabled());
        assert_eq!(alice.passwords, [SECRET_SHA256]);
        assert_eq!(alice.keys, "~k*");
        assert_eq!(alice.commands, "-@all +get");
        assert_eq!(alice.channels, "");
        assert!(alice.selectors.is_empty());
        let missing: Option<AclUser> = c.acl_getuser("nobody").unwrap();
        assert_eq!(missing, None);

        let err =
            server_err(c.acl_setuser_with("alice", &AclSetuserOptions::new().rule("nonsense")));
        assert!(err.contains("Error in ACL SETUSER modifier"), "{err}");
        assert_invalid(c.acl_setuser_with(
            "alice",
            &AclSetuserOptions::new().rule(Vec::<String>::new()),
        ));

        let users: Vec<String> = c.acl_users().unwrap();
        assert_eq!(users, ["alice", "bob", "default"]);
        let list: Vec<String> = c.acl_list().unwrap();
        assert_eq!(list.len(), 3);
        let alice_line = list
            .iter()
            .find(|l| l.starts_with("user alice "))
            .expect("alice is listed");
        assert!(alice_line.starts_with("user alice on "), "{alice_line}");
        assert!(
            alice_line.contains(&format!(" #{SECRET_SHA256} ")),
            "{alice_line}"
        );
        assert!(
            alice_line.contains("~k*") && alice_line.ends_with("+get"),
            "{alice_line}"
        );

        assert_eq!(c.acl_deluser(["alice", "bob", "nobody"]).unwrap(), 2);
        let users: Vec<String> = c.acl_users().unwrap();
        assert_eq!(users, ["default"]);
        assert_invalid(c.acl_deluser(Vec::<String>::new()));
    });
}

#[test]
fn acl_dryrun_cat_genpass_and_help() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.acl_setuser_with(
            "reader",
            &AclSetuserOptions::new().rule(["reset", "on", "nopass", "~k*", "+get"]),
        )
        .unwrap();
        let allowed: String = c
            .acl_dryrun_with("reader", "get", &AclDryrunOptions::new().arg("k1"))
            .unwrap();
        assert_eq!(allowed, "OK");
        let wrong_key: String = c
            .acl_dryrun_with("reader", "get", &AclDryrunOptions::new().arg(["other"]))
            .unwrap();
        assert!(
            wrong_key.contains("no permissions to access the 'other' key"),
            "{wrong_key}"
        );
        let wrong_command: String = c.acl_dryrun("reader", "ping").unwrap();
        assert!(
            wrong_command.contains("no permissions to run the 'ping' command"),
            "{wrong_command}"
        );
        let default_user: String = c
            .acl_dryrun_with("default", "set", &AclDryrunOptions::new().arg(["k", "v"]))
            .unwrap();
        assert_eq!(default_user, "OK");
        let err = server_err(c.acl_dryrun::<String>("nobody", "ping"));
        assert!(err.contains("nobody"), "{err}");
        assert_eq!(c.acl_deluser("reader").unwrap(), 1);

        let categories: Vec<String> = c.acl_cat().unwrap();
        for expected in ["keyspace", "read", "write", "string", "dangerous"] {
            assert!(
                categories.iter().any(|x| x == expected),
                "{expected}: {categories:?}"
            );
        }
        let strings: Vec<String> = c
            .acl_cat_with(&AclCatOptions::new().category("string"))
            .unwrap();
        for expected in ["get", "set", "append"] {
            assert!(
                strings.iter().any(|x| x == expected),
                "{expected}: {strings:?}"
            );
        }
        assert!(!strings.iter().any(|x| x == "lpush"));
        let err = server_err(
            c.acl_cat_with::<Vec<String>>(&AclCatOptions::new().category("nosuchcategory")),
        );
        assert!(err.contains("Unknown category"), "{err}");

        let password: String = c.acl_genpass().unwrap();
        assert_eq!(password.len(), 64, "256 bits as hex: {password}");
        assert!(password.bytes().all(|b| b.is_ascii_hexdigit()));
        let other: String = c.acl_genpass().unwrap();
        assert_ne!(password, other);
        let short: String = c
            .acl_genpass_with(&AclGenpassOptions::new().bits(32))
            .unwrap();
        assert_eq!(short.len(), 8, "32 bits as hex: {short}");
        let odd: String = c
            .acl_genpass_with(&AclGenpassOptions::new().bits(10))
            .unwrap();
        assert_eq!(odd.len(), 3, "bits are rounded up to a hex digit: {odd}");

        let help: Vec<String> = c.acl_help().unwrap();
        assert!(help[0].contains("ACL"), "{help:?}");
    });
}

#[test]
fn acl_log_records_denied_commands_and_failed_auth() {
    let s = CommandServer::start();
    s.each_protocol(|c, protocol| {
        c.acl_log_with::<()>(&AclLogOptions::new().reset()).unwrap();
        let empty: Vec<AclLogEntry> = c.acl_log().unwrap();
        assert!(empty.is_empty(), "{empty:?}");

        c.acl_setuser_with(
            "limited",
            &AclSetuserOptions::new().rule(["reset", "on", ">pw", "~*", "+get", "+ping"]),
        )
        .unwrap();
        let limited = s
            .server
            .client_builder()
            .protocol(protocol)
            .username("limited")
            .password("pw")
            .build();
        limited.get::<Option<String>>("k").unwrap();
        let denied = limited.set("k", "v").unwrap_err();
        assert_eq!(
            denied.server_kind(),
            Some(ServerErrorKind::NoPerm),
            "{denied}"
        );
        let wrong = s
            .server
            .client_builder()
            .protocol(protocol)
            .username("limited")
            .password("wrong")
            .build();
        let failed = wrong.ping::<String>().unwrap_err();
        assert!(matches!(failed, Error::Auth(_)), "{failed:?}");

        let log: Vec<AclLogEntry> = c.acl_log().unwrap();
        let command = log
            .iter()
            .find(|e| e.reason == "command")
            .expect("the denied SET is logged");
        assert_eq!(command.object, "set");
        assert_eq!(command.username, "limited");
        assert_eq!(command.context, "toplevel");
        assert_eq!(command.count, 1);
        assert!(command.age_seconds >= 0.0 && command.age_seconds < 60.0);
        let client = command.client().unwrap();
        assert_eq!(client.user.as_deref(), Some("limited"));
        let auth = log
            .iter()
            .find(|e| e.reason == "auth")
            .expect("the failed authentication is logged");
        assert_eq!(auth.username, "limited");

        let newest: Vec<AclLogEntry> = c.acl_log_with(&AclLogOptions::new().count(1)).unwrap();
        assert_eq!(newest.len(), 1);
        assert_eq!(
            (&newest[0].reason, &newest[0].object, &newest[0].username),
            (&log[0].reason, &log[0].object, &log[0].username),
            "the log lists the newest entry first"
        );

        let reset: String = c.acl_log_with(&AclLogOptions::new().reset()).unwrap();
        assert_eq!(reset, "OK");
        let empty: Vec<AclLogEntry> = c.acl_log().unwrap();
        assert!(empty.is_empty(), "{empty:?}");
        assert_eq!(c.acl_deluser("limited").unwrap(), 1);
    });
}

#[test]
fn acl_save_and_load_round_trip_through_the_acl_file() {
    let acl_dir = tempfile::tempdir().unwrap();
    let path = acl_dir.path().join("users.acl");
    fs::write(&path, "").unwrap();
    let server = RedisServer::builder().arg("--aclfile").arg(&path).start();
    let c = server.client_builder().build();

    c.acl_setuser_with(
        "carol",
        &AclSetuserOptions::new().rule(["on", ">secret", "~c:*", "+@read"]),
    )
    .unwrap();
    c.acl_save().unwrap();
    let saved = fs::read_to_string(&path).unwrap();
    let carol_line = saved
        .lines()
        .find(|l| l.starts_with("user carol "))
        .unwrap_or_else(|| panic!("carol is saved: {saved}"));
    assert!(carol_line.contains(SECRET_SHA256), "{carol_line}");
    assert!(carol_line.contains("~c:*"), "{carol_line}");
    assert!(
        saved.lines().any(|l| l.starts_with("user default ")),
        "{saved}"
    );

    c.acl_setuser("dave").unwrap();
    let users: Vec<String> = c.acl_users().unwrap();
    assert_eq!(users, ["carol", "dave", "default"]);
    c.acl_load().unwrap();
    let users: Vec<String> = c.acl_users().unwrap();
    assert_eq!(
        users,
        ["carol", "default"],
        "LOAD replaces the users with the file's"
    );

    // A file with an invalid rule is refused as a whole.
    fs::write(&path, format!("{saved}user eve on nonsense\n")).unwrap();
    let err = server_err(c.acl_load());
    assert!(
        err.contains("users.acl:3") && err.contains("Syntax error"),
        "{err}"
    );
    let users: Vec<String> = c.acl_users().unwrap();
    assert_eq!(users, ["carol", "default"]);

    // Without --aclfile both commands fail.
    let plain = RedisServer::start();
    let c = plain.client_builder().build();
    let err = server_err(c.acl_load());
    assert!(err.contains("not configured to use an ACL file"), "{err}");
    let err = server_err(c.acl_save());
    assert!(err.contains("not configured to use an ACL file"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// server: persistence
// ---------------------------------------------------------------------------------------------

#[test]
fn save_bgsave_bgrewriteaof_and_lastsave() {
    let s = CommandServer::start();
    let c = s.client(Protocol::Resp3);
    c.set("k", "v").unwrap();
    let rdb = s.server.dir().join("dump.rdb");
    assert!(!rdb.exists());

    let startup = c.lastsave().unwrap();
    let now = i64::try_from(unix_now().as_secs()).unwrap();
    assert!(
        (now - startup).abs() < 60,
        "LASTSAVE is a Unix time: {startup}"
    );
    c.save().unwrap();
    assert!(rdb.exists(), "SAVE writes the RDB file");
    let saved = c.lastsave().unwrap();
    assert!(saved >= startup);
    assert!((now - saved).abs() < 60);
    assert_eq!(
        info_value(&c, "persistence", "rdb_changes_since_last_save"),
        "0"
    );

    fs::remove_file(&rdb).unwrap();
    let started: String = c.bgsave().unwrap();
    assert_eq!(started, "Background saving started");
    assert!(eventually(SETTLE, || {
        info_value(&c, "persistence", "rdb_bgsave_in_progress") == "0"
    }));
    assert!(rdb.exists(), "BGSAVE writes the RDB file");
    assert_eq!(
        info_value(&c, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );

    let scheduled: String = c.bgsave_with(&BgsaveOptions::new().schedule()).unwrap();
    assert!(
        scheduled == "Background saving started" || scheduled == "Background saving scheduled",
        "{scheduled}"
    );
    assert!(eventually(SETTLE, || {
        info_value(&c, "persistence", "rdb_bgsave_in_progress") == "0"
    }));

    let rewrite: String = c.bgrewriteaof().unwrap();
    assert!(
        rewrite.starts_with("Background append only file rewriting"),
        "{rewrite}"
    );
    assert!(eventually(SETTLE, || {
        info_value(&c, "persistence", "aof_rewrite_in_progress") == "0"
            && info_value(&c, "persistence", "aof_rewrite_scheduled") == "0"
    }));
    assert_eq!(
        info_value(&c, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
}

// ---------------------------------------------------------------------------------------------
// server: COMMAND
// ---------------------------------------------------------------------------------------------

#[test]
fn command_count_info_and_list() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let count = c.command_count().unwrap();
        assert!(count > 200, "{count}");
        let count = usize::try_from(count).unwrap();

        let all: Vec<CommandInfo> = c.command().unwrap().into_iter().flatten().collect();
        assert_eq!(all.len(), count, "COMMAND has no null entries");
        let get = all.iter().find(|i| i.name == "get").expect("GET is listed");
        assert_eq!(get.arity, 2);
        assert_eq!((get.first_key, get.last_key, get.step), (1, 1, 1));
        assert!(
            get.flags.contains(&"readonly".to_owned()),
            "{:?}",
            get.flags
        );
        assert!(get.acl_categories.contains(&"@read".to_owned()));
        let config = all.iter().find(|i| i.name == "config").unwrap();
        assert!(
            config
                .subcommands
                .iter()
                .any(|sub| sub.name == "config|get"),
            "{:?}",
            config.subcommands
        );

        let every: Vec<Option<CommandInfo>> = c.command_info().unwrap();
        assert_eq!(every.len(), count);
        let some: Vec<Option<CommandInfo>> = c
            .command_info_with(&CommandInfoOptions::new().command_name(["get", "nosuchcommand"]))
            .unwrap();
        assert_eq!(some.len(), 2);
        assert_eq!(some[0].as_ref(), Some(get));
        assert_eq!(some[1], None);
        assert_invalid(
            c.command_info_with(&CommandInfoOptions::new().command_name(Vec::<String>::new())),
        );

        // COMMAND LIST names the subcommands too (`config|get`), COMMAND COUNT does not.
        let names: Vec<String> = c.command_list().unwrap();
        let top_level = names.iter().filter(|n| !n.contains('|')).count();
        assert_eq!(top_level, count);
        assert!(names.contains(&"get".to_owned()));
        assert!(names.contains(&"config|get".to_owned()));
        let mut xa: Vec<String> = c
            .command_list_with(&CommandListOptions::new().pattern("xa*"))
            .unwrap();
        xa.sort();
        assert_eq!(xa, ["xack", "xadd", "xautoclaim"]);
        let hll: Vec<String> = c
            .command_list_with(&CommandListOptions::new().aclcat("hyperloglog"))
            .unwrap();
        for expected in ["pfadd", "pfcount", "pfmerge"] {
            assert!(hll.iter().any(|x| x == expected), "{expected}: {hll:?}");
        }
        let from_module: Vec<String> = c
            .command_list_with(&CommandListOptions::new().module("nosuchmodule"))
            .unwrap();
        assert!(from_module.is_empty());

        let help: Vec<String> = c.command_help().unwrap();
        assert!(help[0].contains("COMMAND"), "{help:?}");
    });
}

#[test]
fn command_docs_getkeys_and_getkeysandflags() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let count = usize::try_from(c.command_count().unwrap()).unwrap();
        let all: CommandDocs = c.command_docs().unwrap();
        assert_eq!(all.len(), count);
        let docs: CommandDocs = c
            .command_docs_with(&CommandDocsOptions::new().command_name(["get", "nosuchcommand"]))
            .unwrap();
        assert_eq!(docs.len(), 1, "unknown commands are left out");
        let get = docs.get("get").expect("GET is documented");
        assert_eq!(get.summary.as_deref(), Some("Get the value of a key"));
        assert_eq!(get.since.as_deref(), Some("1.0.0"));
        assert_eq!(get.group.as_deref(), Some("string"));
        assert!(get.complexity.is_some());
        let client: CommandDocs = c
            .command_docs_with(&CommandDocsOptions::new().command_name("client"))
            .unwrap();
        let subcommands = &client.get("client").unwrap().subcommands;
        assert!(subcommands.get("client|kill").is_some(), "{subcommands:?}");

        let keys: Vec<String> = c
            .command_getkeys_with(
                "mset",
                &CommandGetkeysOptions::new().arg(["a", "1", "b", "2"]),
            )
            .unwrap();
        assert_eq!(keys, ["a", "b"]);
        let keys: Vec<String> = c
            .command_getkeys_with("set", &CommandGetkeysOptions::new().arg(["k", "v"]))
            .unwrap();
        assert_eq!(keys, ["k"]);
        let err = server_err(
            c.command_getkeys_with::<Vec<String>>("ping", &CommandGetkeysOptions::new().arg("x")),
        );
        assert!(err.contains("no key arguments"), "{err}");
        // Without arguments the server refuses (7.0: arity; later: no key arguments).
        let _ = server_err(c.command_getkeys::<Vec<String>>("ping"));

        let flags: Vec<(String, Vec<String>)> = c
            .command_getkeysandflags_with(
                "lmove",
                &CommandGetkeysandflagsOptions::new().arg(["src", "dst", "left", "right"]),
            )
            .unwrap();
        assert_eq!(
            flags,
            [
                (
                    "src".to_owned(),
                    vec!["RW".into(), "access".into(), "delete".into()]
                ),
                ("dst".to_owned(), vec!["RW".into(), "insert".into()]),
            ]
        );
        let _ = server_err(c.command_getkeysandflags::<Value>("ping"));
    });
}

// ---------------------------------------------------------------------------------------------
// server: CONFIG
// ---------------------------------------------------------------------------------------------

#[test]
fn config_get_set_and_resetstat() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let policy: HashMap<String, String> = c.config_get("maxmemory-policy").unwrap();
        assert_eq!(
            policy,
            HashMap::from([("maxmemory-policy".to_owned(), "noeviction".to_owned())])
        );

        c.config_set([("maxmemory-policy", "allkeys-lru")]).unwrap();
        c.config_set([("slowlog-max-len", "64"), ("maxmemory-samples", "7")])
            .unwrap();
        let got: HashMap<String, String> = c
            .config_get(["maxmemory-policy", "slowlog-max-len", "maxmemory-samples"])
            .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got["maxmemory-policy"], "allkeys-lru");
        assert_eq!(got["slowlog-max-len"], "64");
        assert_eq!(got["maxmemory-samples"], "7");
        let glob: HashMap<String, String> = c.config_get("maxmemory*").unwrap();
        assert!(
            glob.len() >= 3 && glob.contains_key("maxmemory"),
            "{glob:?}"
        );
        let unknown: HashMap<String, String> = c.config_get("nosuchparameter").unwrap();
        assert!(unknown.is_empty());

        let err = server_err(c.config_set([("maxmemory-policy", "nonsense")]));
        assert!(err.contains("maxmemory-policy"), "{err}");
        let err = server_err(c.config_set([("nosuchparameter", "1")]));
        assert!(err.contains("nosuchparameter"), "{err}");
        assert_invalid(c.config_set(Vec::<(&str, &str)>::new()));
        assert_invalid(c.config_get(Vec::<String>::new()));
        c.config_set([
            ("maxmemory-policy", "noeviction"),
            ("slowlog-max-len", "128"),
            ("maxmemory-samples", "5"),
        ])
        .unwrap();

        c.set("k", "v").unwrap();
        c.get::<Option<String>>("k").unwrap();
        c.get::<Option<String>>("missing").unwrap();
        let hits: u64 = info_value(c, "stats", "keyspace_hits").parse().unwrap();
        assert!(hits >= 1);
        c.config_resetstat().unwrap();
        assert_eq!(info_value(c, "stats", "keyspace_hits"), "0");
        assert_eq!(info_value(c, "stats", "keyspace_misses"), "0");

        let help: Vec<String> = c.config_help().unwrap();
        assert!(help[0].contains("CONFIG"), "{help:?}");
    });
}

#[test]
fn config_rewrite_needs_a_config_file() {
    let s = CommandServer::start();
    let err = server_err(s.client(Protocol::Resp2).config_rewrite());
    assert!(err.contains("without a config file"), "{err}");

    let server = RedisServer::builder()
        .config("maxmemory-policy noeviction\n")
        .start();
    let c = server.client_builder().build();
    c.config_set([("maxmemory-policy", "allkeys-lfu")]).unwrap();
    c.config_rewrite().unwrap();
    let path = server.config_file().expect("the server has a config file");
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains("maxmemory-policy allkeys-lfu"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// server: keyspace administration
// ---------------------------------------------------------------------------------------------

#[test]
fn dbsize_swapdb_flushdb_and_flushall() {
    let s = CommandServer::start();
    s.each_protocol(|c, protocol| {
        let db1 = s.server.client_builder().protocol(protocol).db(1).build();
        let fill = || {
            c.set("a", "1").unwrap();
            c.set("b", "2").unwrap();
            db1.set("c", "3").unwrap();
        };
        fill();
        assert_eq!(c.dbsize().unwrap(), 2);
        assert_eq!(db1.dbsize().unwrap(), 1);

        c.swapdb(0, 1).unwrap();
        assert_eq!(c.dbsize().unwrap(), 1);
        assert_eq!(db1.dbsize().unwrap(), 2);
        let moved: Option<String> = c.get("c").unwrap();
        assert_eq!(moved.as_deref(), Some("3"));
        c.swapdb(1, 0).unwrap();
        assert_eq!(c.dbsize().unwrap(), 2);
        let err = server_err(c.swapdb(0, 100_000));
        assert!(err.contains("out of range"), "{err}");

        c.flushdb().unwrap();
        assert_eq!(c.dbsize().unwrap(), 0);
        assert_eq!(db1.dbsize().unwrap(), 1, "FLUSHDB leaves other databases");
        fill();
        c.flushdb_with(&FlushdbOptions::new().asynchronous())
            .unwrap();
        assert_eq!(c.dbsize().unwrap(), 0);
        assert_eq!(db1.dbsize().unwrap(), 1);
        fill();
        c.flushdb_with(&FlushdbOptions::new().sync()).unwrap();
        assert_eq!(c.dbsize().unwrap(), 0);
        assert_eq!(db1.dbsize().unwrap(), 1);

        fill();
        c.flushall().unwrap();
        assert_eq!((c.dbsize().unwrap(), db1.dbsize().unwrap()), (0, 0));
        fill();
        c.flushall_with(&FlushallOptions::new().asynchronous())
            .unwrap();
        assert_eq!((c.dbsize().unwrap(), db1.dbsize().unwrap()), (0, 0));
        fill();
        c.flushall_with(&FlushallOptions::new().sync()).unwrap();
        assert_eq!((c.dbsize().unwrap(), db1.dbsize().unwrap()), (0, 0));
    });
}

#[test]
fn restore_asking_restores_a_dump() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("src", "payload").unwrap();
        let dump: Vec<u8> = c.dump("src").unwrap();

        c.restore_asking("copy", 0, &dump).unwrap();
        let copy: Option<String> = c.get("copy").unwrap();
        assert_eq!(copy.as_deref(), Some("payload"));
        assert_eq!(c.ttl("copy").unwrap(), -1);
        let busy = c.restore_asking("copy", 0, &dump).unwrap_err();
        assert_eq!(busy.server_kind(), Some(ServerErrorKind::BusyKey), "{busy}");

        c.restore_asking_with(
            "copy",
            0,
            &dump,
            &RestoreAskingOptions::new().replace().idletime(1000),
        )
        .unwrap();
        let idle = c.object_idletime("copy").unwrap().expect("the key exists");
        assert!(
            (1000..1100).contains(&idle),
            "IDLETIME sets the idle time: {idle}"
        );

        let at = i64::try_from(unix_now().as_millis()).unwrap() + 60_000;
        c.restore_asking_with("timed", at, &dump, &RestoreAskingOptions::new().absttl())
            .unwrap();
        let pttl = c.pttl("timed").unwrap();
        assert!(pttl > 50_000 && pttl <= 60_000, "ABSTTL: {pttl}");

        c.restore_asking_with(
            "copy",
            5_000,
            &dump,
            &RestoreAskingOptions::new().replace().freq(5),
        )
        .unwrap();
        let ttl = c.ttl("copy").unwrap();
        assert!(ttl > 0 && ttl <= 5, "a relative TTL in ms: {ttl}");

        let err = server_err(c.restore_asking("bad", 0, "not a dump"));
        assert!(err.contains("payload"), "{err}");
    });
}

// ---------------------------------------------------------------------------------------------
// server: introspection (INFO, TIME, LOLWUT, MEMORY, LATENCY, SLOWLOG)
// ---------------------------------------------------------------------------------------------

#[test]
fn info_parses_sections_and_keyspace() {
    let s = CommandServer::start();
    let version = version_text(&s);
    s.each_protocol(|c, _| {
        c.set("a", "1").unwrap();
        c.set("b", "2").unwrap();

        let info: Info = c.info().unwrap();
        assert_eq!(info.get("redis_version"), Some(version.as_str()));
        for section in [
            "server",
            "clients",
            "memory",
            "persistence",
            "stats",
            "replication",
        ] {
            assert!(info.section(section).is_some(), "INFO has # {section}");
        }
        assert_eq!(info.get("role"), Some("master"));
        assert_eq!(info.get_as::<u64>("connected_slaves"), Some(0));

        let keyspace: Info = c
            .info_with(&InfoOptions::new().section("keyspace"))
            .unwrap();
        let dbs = keyspace.keyspace();
        assert_eq!(dbs.len(), 1);
        assert_eq!((dbs[0].db, dbs[0].keys, dbs[0].expires), (0, 2, 0));
        assert!(keyspace.section("server").is_none());

        let two: Info = c
            .info_with(&InfoOptions::new().section(["server", "clients"]))
            .unwrap();
        assert!(two.section("server").is_some() && two.section("clients").is_some());
        assert!(two.section("memory").is_none());
        let connected: u64 = two.get_as("connected_clients").unwrap();
        assert!(connected >= 1);

        let first = info.sections().next().expect("a section");
        assert!(first.name().eq_ignore_ascii_case("server"));
        let nothing: Info = c
            .info_with(&InfoOptions::new().section("nosuchsection"))
            .unwrap();
        assert_eq!(nothing.sections().count(), 0);
        assert_invalid(c.info_with(&InfoOptions::new().section(Vec::<String>::new())));
    });
}

#[test]
fn time_lastsave_role_and_lolwut() {
    let s = CommandServer::start();
    let version = version_text(&s);
    s.each_protocol(|c, _| {
        let time: ServerTime = c.time().unwrap();
        let now = unix_now();
        assert!(time.seconds().abs_diff(now.as_secs()) < 60, "{time:?}");
        assert!(time.microseconds() < 1_000_000);
        let later: ServerTime = c.time().unwrap();
        assert!(later >= time, "{later:?} >= {time:?}");

        let role: Role = c.role().unwrap();
        match role {
            Role::Master { replicas, .. } => assert!(replicas.is_empty()),
            other => panic!("a standalone server is a master: {other:?}"),
        }

        let art: String = c.lolwut().unwrap();
        assert!(art.contains(&format!("Redis ver. {version}")), "{art}");
        let v5: String = c.lolwut_with(&LolwutOptions::new().version(5)).unwrap();
        assert!(v5.contains("Georg Nees"), "{v5}");
        assert!(v5.contains(&format!("Redis ver. {version}")));
    });
}

#[test]
fn memory_usage_stats_doctor_and_purge() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("k", "value").unwrap();
        c.lpush("list", ["a", "b", "c"]).unwrap();

        let usage = c.memory_usage("k").unwrap().expect("the key exists");
        assert!(usage > 0);
        assert_eq!(c.memory_usage("missing").unwrap(), None);
        let sampled = c
            .memory_usage_with("list", &MemoryUsageOptions::new().samples(0))
            .unwrap()
            .expect("the key exists");
        assert!(sampled > 0);
        assert_eq!(
            c.memory_usage_with("missing", &MemoryUsageOptions::new().samples(5))
                .unwrap(),
            None
        );

        let stats: MemoryStats = c.memory_stats().unwrap();
        assert_eq!(stats.keys_count(), Some(2));
        assert!(stats.total_allocated().unwrap() > 0);
        assert!(stats.peak_allocated().unwrap() > 0);
        assert!(stats.db(0).is_some(), "db.0 is reported");

        let doctor: String = c.memory_doctor().unwrap();
        assert!(!doctor.is_empty());
        let malloc: String = c.memory_malloc_stats().unwrap();
        if info_value(c, "memory", "mem_allocator").starts_with("jemalloc") {
            assert!(malloc.contains("jemalloc statistics"), "{malloc}");
        } else {
            assert!(!malloc.is_empty());
        }
        c.memory_purge().unwrap();
        let help: Vec<String> = c.memory_help().unwrap();
        assert!(help[0].contains("MEMORY"), "{help:?}");
    });
}

#[test]
fn latency_monitor_records_a_slow_command() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.latency_reset().unwrap();
        c.config_set([("latency-monitor-threshold", "0")]).unwrap();
        let err = server_err(c.latency_graph::<String>("command"));
        assert!(err.contains("No samples available"), "{err}");
        let latest: Vec<LatencySample> = c.latency_latest().unwrap();
        assert!(latest.is_empty(), "{latest:?}");
        let history: Vec<(i64, u64)> = c.latency_history("command").unwrap();
        assert!(history.is_empty());

        c.config_set([("latency-monitor-threshold", "1")]).unwrap();
        c.debug::<()>(["SLEEP", "0.05"]).unwrap();
        c.config_set([("latency-monitor-threshold", "0")]).unwrap();

        let latest: Vec<LatencySample> = c.latency_latest().unwrap();
        let sample = latest
            .iter()
            .find(|e| e.event == "command")
            .unwrap_or_else(|| panic!("a `command` spike: {latest:?}"));
        assert!(sample.latest_ms >= 40, "{sample:?}");
        assert!(sample.max_ms >= sample.latest_ms);
        let now = i64::try_from(unix_now().as_secs()).unwrap();
        assert!((now - sample.timestamp).abs() < 60);
        let history: Vec<(i64, u64)> = c.latency_history("command").unwrap();
        assert!(!history.is_empty());
        assert!(history.iter().any(|&(_, ms)| ms >= 40), "{history:?}");
        let graph: String = c.latency_graph("command").unwrap();
        assert!(graph.contains("command - high"), "{graph}");
        let doctor: String = c.latency_doctor().unwrap();
        assert!(doctor.contains("command"), "{doctor}");

        let reset = c
            .latency_reset_with(&LatencyResetOptions::new().event(["command", "nosuchevent"]))
            .unwrap();
        assert_eq!(reset, 1);
        let again = c
            .latency_reset_with(&LatencyResetOptions::new().event("command"))
            .unwrap();
        assert_eq!(again, 0);
        let latest: Vec<LatencySample> = c.latency_latest().unwrap();
        assert!(latest.iter().all(|e| e.event != "command"), "{latest:?}");

        let help: Vec<String> = c.latency_help().unwrap();
        assert!(help[0].contains("LATENCY"), "{help:?}");
    });
}

/// The `calls` and cumulative `histogram_usec` buckets of one command.
fn histogram(entry: &HashMap<String, Value>) -> (u64, Vec<(u64, u64)>) {
    (
        u64::from_reply_value(&entry["calls"]),
        Vec::<(u64, u64)>::from_reply_value(&entry["histogram_usec"]),
    )
}

#[test]
fn latency_histogram_counts_calls_per_command() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        for i in 0..3 {
            c.set("h", i64::from(i)).unwrap();
        }
        c.get::<Option<String>>("h").unwrap();

        let all: HashMap<String, HashMap<String, Value>> = c.latency_histogram().unwrap();
        assert!(
            all.contains_key("set") && all.contains_key("get"),
            "{:?}",
            all.keys()
        );

        let some: HashMap<String, HashMap<String, Value>> = c
            .latency_histogram_with(&LatencyHistogramOptions::new().command(["set", "get"]))
            .unwrap();
        let mut names: Vec<&String> = some.keys().collect();
        names.sort();
        assert_eq!(names, ["get", "set"]);
        let (calls, buckets) = histogram(&some["set"]);
        assert!(calls >= 3, "{calls}");
        assert!(!buckets.is_empty());
        assert_eq!(
            buckets.last().unwrap().1,
            calls,
            "the buckets are cumulative"
        );
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        );
        let unknown: HashMap<String, HashMap<String, Value>> = c
            .latency_histogram_with(&LatencyHistogramOptions::new().command("nosuchcommand"))
            .unwrap();
        assert!(unknown.is_empty());
    });
}

#[test]
fn slowlog_records_commands_over_the_threshold() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let conn = c.get_connection().unwrap();
        conn.client_setname("slow-client").unwrap();
        let addr = conn.client_info().unwrap().addr;
        c.config_set([("slowlog-log-slower-than", "0")]).unwrap();
        c.slowlog_reset().unwrap();

        conn.set("slow-key", "slow-value").unwrap();
        conn.get::<Option<String>>("slow-key").unwrap();
        let len = c.slowlog_len().unwrap();
        assert!(len >= 2, "{len}");

        let entries: Vec<SlowlogEntry> = c.slowlog_get().unwrap();
        assert!(
            entries.windows(2).all(|w| w[0].id > w[1].id),
            "newest first"
        );
        let set = entries
            .iter()
            .find(|e| {
                e.args
                    .first()
                    .is_some_and(|a| a.eq_ignore_ascii_case(b"set"))
            })
            .unwrap_or_else(|| panic!("SET is logged: {entries:?}"));
        assert_eq!(
            set.args[1..],
            [
                Bytes::from_static(b"slow-key"),
                Bytes::from_static(b"slow-value")
            ]
        );
        assert_eq!(set.client_name.as_deref(), Some("slow-client"));
        assert_eq!(set.client_addr.as_deref(), Some(addr.as_str()));
        let now = i64::try_from(unix_now().as_secs()).unwrap();
        assert!((now - set.start_time).abs() < 60);
        assert!(set.duration < Duration::from_secs(1));

        let newest: Vec<SlowlogEntry> = c
            .slowlog_get_with(&SlowlogGetOptions::new().count(1))
            .unwrap();
        assert_eq!(newest.len(), 1);
        assert!(newest[0].id >= entries[0].id);

        c.config_set([("slowlog-log-slower-than", "10000")])
            .unwrap();
        c.slowlog_reset().unwrap();
        assert_eq!(c.slowlog_len().unwrap(), 0);
        let none: Vec<SlowlogEntry> = c.slowlog_get().unwrap();
        assert!(none.is_empty());

        let help: Vec<String> = c.slowlog_help().unwrap();
        assert!(help[0].contains("SLOWLOG"), "{help:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// server: MODULE, DEBUG, REPLCONF, FAILOVER (error paths)
// ---------------------------------------------------------------------------------------------

#[test]
fn module_list_and_load_errors() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let modules: Vec<Value> = c.module_list().unwrap();
        assert!(modules.is_empty(), "{modules:?}");
        let help: Vec<String> = c.module_help().unwrap();
        assert!(help[0].contains("MODULE"), "{help:?}");
        // The fixture leaves enable-module-command at its default, `no`.
        let err = server_err(c.module_load("/nonexistent/module.so"));
        assert!(err.contains("MODULE command not allowed"), "{err}");
    });

    let server = RedisServer::builder()
        .arg("--enable-module-command")
        .arg("yes")
        .start();
    let c = server.client_builder().build();
    let missing = server.dir().join("missing-module.so");
    let missing = missing.to_str().unwrap();
    for result in [
        c.module_load(missing),
        c.module_load_with(missing, &ModuleLoadOptions::new().arg(["one", "two"])),
        c.module_loadex(missing),
        c.module_loadex_with(
            missing,
            &ModuleLoadexOptions::new()
                .config("first", "1")
                .config("second", "2")
                .args(["x", "y"]),
        ),
    ] {
        let err = server_err(result);
        assert!(err.contains("Error loading the extension"), "{err}");
    }
    let err = server_err(c.module_unload("nosuchmodule"));
    assert!(err.contains("no such module"), "{err}");
    let modules: Vec<Value> = c.module_list().unwrap();
    assert!(modules.is_empty());
}

#[test]
fn debug_replconf_and_failover_without_replicas() {
    let s = CommandServer::start();
    let c = s.client(Protocol::Resp3);

    // The fixture runs with `--enable-debug-command local`.
    c.set("k", "v").unwrap();
    let object: String = c.debug(["OBJECT", "k"]).unwrap();
    assert!(object.contains("encoding:embstr"), "{object}");
    c.debug::<()>(["SLEEP", "0"]).unwrap();
    let err = server_err(c.debug::<Value>(["OBJECT", "missing"]));
    assert!(err.contains("no such key"), "{err}");
    // An empty subcommand list is refused before sending.
    let bare = c.debug::<Value>(Vec::<String>::new());
    assert!(matches!(&bare, Err(Error::InvalidRequest(_))), "{bare:?}");
    let locked = RedisServer::builder()
        .args(["--enable-debug-command", "no"])
        .start();
    let err = server_err(locked.client_builder().build().debug::<()>(["SLEEP", "0"]));
    assert!(err.contains("DEBUG command not allowed"), "{err}");

    // REPLCONF without options is accepted and does nothing.
    c.replconf().unwrap();

    let err = server_err(c.failover());
    assert!(err.contains("requires connected replicas"), "{err}");
    let port = i64::from(s.server.port());
    let err = server_err(
        c.failover_with(
            &FailoverOptions::new()
                .to("127.0.0.1", port + 1)
                .force()
                .timeout(100),
        ),
    );
    assert!(err.contains("requires connected replicas"), "{err}");
    // FORCE belongs to `TO host port [FORCE]`: without `to` it is refused before sending.
    let forced = c.failover_with(&FailoverOptions::new().force().timeout(100));
    assert!(
        matches!(&forced, Err(Error::InvalidRequest(m)) if m.contains("force")),
        "{forced:?}"
    );
    let err = server_err(c.failover_with(&FailoverOptions::new().abort()));
    assert!(err.contains("No failover in progress"), "{err}");
    let err = server_err(c.failover_with(&FailoverOptions::new().timeout(-1)));
    assert!(err.contains("timeout"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// server: replication (REPLICAOF, SLAVEOF, ROLE, FAILOVER) and SHUTDOWN
// ---------------------------------------------------------------------------------------------

/// Waits until `c` is a replica of `port` with its link up.
fn wait_connected_to(c: &Client, port: u16) -> bool {
    eventually(SETTLE, || {
        matches!(
            c.role(),
            Ok(Role::Replica { master_port, ref state, .. }) if master_port == port && state == "connected"
        )
    })
}

fn is_master(c: &Client) -> bool {
    matches!(c.role(), Ok(Role::Master { .. }))
}

#[test]
fn replicaof_slaveof_role_and_failover() {
    let primary = CommandServer::start();
    let secondary = CommandServer::start();
    let m = primary.client(Protocol::Resp3);
    let r = secondary.client(Protocol::Resp2);
    let r3 = secondary
        .server
        .client_builder()
        .protocol(Protocol::Resp3)
        .build();
    let m_port = primary.server.port();
    let r_port = secondary.server.port();
    m.set("k", "from-primary").unwrap();

    let ok: String = r
        .replicaof(ReplicaofArgs::HostPort {
            host: "127.0.0.1".into(),
            port: i64::from(m_port),
        })
        .unwrap();
    assert!(ok.starts_with("OK"), "{ok}");
    assert!(wait_connected_to(&r, m_port), "{:?}", r.role());
    match r3.role().unwrap() {
        Role::Replica {
            master_host,
            master_port,
            offset,
            ..
        } => {
            assert_eq!(master_host, "127.0.0.1");
            assert_eq!(master_port, m_port);
            assert!(offset >= 0);
        }
        other => panic!("a replica: {other:?}"),
    }
    assert!(eventually(SETTLE, || {
        r.get::<Option<String>>("k").unwrap().as_deref() == Some("from-primary")
    }));
    let readonly = r.set("k", "on-replica").unwrap_err();
    assert_eq!(
        readonly.server_kind(),
        Some(ServerErrorKind::ReadOnly),
        "{readonly}"
    );

    assert!(eventually(SETTLE, || {
        matches!(m.role(), Ok(Role::Master { ref replicas, .. }) if replicas.len() == 1)
    }));
    match m.role().unwrap() {
        Role::Master { replicas, .. } => {
            assert_eq!(
                (replicas[0].0.as_str(), replicas[0].1),
                ("127.0.0.1", r_port)
            );
        }
        other => panic!("a master: {other:?}"),
    }
    let replicas: ClientList = m
        .client_list_with(&ClientListOptions::new().replica())
        .unwrap();
    assert_eq!(replicas.len(), 1);
    assert!(replicas[0].has_flag('S'), "{:?}", replicas[0].flags);
    let masters: ClientList = r
        .client_list_with(&ClientListOptions::new().master())
        .unwrap();
    assert_eq!(masters.len(), 1);
    assert!(masters[0].has_flag('M'), "{:?}", masters[0].flags);

    // Killing the master link: the replica reconnects.
    let killed: i64 = r
        .client_kill(ClientKillFilter::NewFormat(vec![
            ClientKillFilterNewFormat::ClientType(ClientKillClientType::Master),
        ]))
        .unwrap();
    assert_eq!(killed, 1);
    assert!(wait_connected_to(&r, m_port));

    // A coordinated failover swaps the roles.
    m.failover_with(
        &FailoverOptions::new()
            .to("127.0.0.1", i64::from(r_port))
            .timeout(5_000),
    )
    .unwrap();
    assert!(wait_connected_to(&m, r_port), "{:?}", m.role());
    assert!(eventually(SETTLE, || is_master(&r)));
    r.set("k", "after-failover").unwrap();
    assert!(eventually(SETTLE, || {
        m.get::<Option<String>>("k").unwrap().as_deref() == Some("after-failover")
    }));

    // NO ONE promotes the former primary back.
    let ok: String = m.replicaof(ReplicaofArgs::NoOne).unwrap();
    assert_eq!(ok, "OK");
    assert!(is_master(&m));
    m.set("k", "writable-again").unwrap();

    // SLAVEOF, the old name, does the same.
    let ok: String = r
        .slaveof(SlaveofArgs::HostPort {
            host: "127.0.0.1".into(),
            port: i64::from(m_port),
        })
        .unwrap();
    assert!(ok.starts_with("OK"), "{ok}");
    assert!(wait_connected_to(&r, m_port));
    assert!(eventually(SETTLE, || {
        r.get::<Option<String>>("k").unwrap().as_deref() == Some("writable-again")
    }));
    let ok: String = r.slaveof(SlaveofArgs::NoOne).unwrap();
    assert_eq!(ok, "OK");
    assert!(is_master(&r));
}

/// Asserts that a server process has exited after SHUTDOWN.
fn assert_gone(server: &RedisServer) {
    assert!(
        eventually(SETTLE, || server.log().contains("ready to exit")),
        "the server logs its exit:\n{}",
        server.log()
    );
    assert!(
        eventually(SETTLE, || TcpStream::connect(server.addr()).is_err()),
        "the port is closed"
    );
}

/// SHUTDOWN closes the connection without a reply; a reply is accepted too.
#[track_caller]
fn assert_shutdown_reply(result: Result<(), Error>) {
    if let Err(e) = result {
        assert!(
            e.is_connection(),
            "SHUTDOWN fails only by losing the connection: {e}"
        );
    }
}

#[test]
fn shutdown_stops_the_server() {
    let doomed = RedisServer::start();
    let c = doomed.client_builder().build();
    let err = server_err(c.shutdown_with(&ShutdownOptions::new().abort()));
    assert!(err.contains("No shutdown in progress"), "{err}");
    c.set("k", "v").unwrap();
    assert_shutdown_reply(c.shutdown());
    assert_gone(&doomed);
    assert!(
        !doomed.dir().join("dump.rdb").exists(),
        "no save point: no RDB"
    );
    let after = c.ping::<String>().unwrap_err();
    assert!(after.is_connection(), "{after}");

    let doomed = RedisServer::start();
    let c = doomed.client_builder().build();
    c.set("k", "v").unwrap();
    assert_shutdown_reply(c.shutdown_with(&ShutdownOptions::new().save().now().force()));
    assert_gone(&doomed);
    assert!(
        doomed.dir().join("dump.rdb").exists(),
        "SHUTDOWN SAVE writes the RDB"
    );

    let doomed = RedisServer::builder().args(["--save", "3600", "1"]).start();
    let c = doomed.client_builder().build();
    c.set("k", "v").unwrap();
    assert_shutdown_reply(c.shutdown_with(&ShutdownOptions::new().nosave()));
    assert_gone(&doomed);
    assert!(
        !doomed.dir().join("dump.rdb").exists(),
        "NOSAVE skips the save point"
    );
}
