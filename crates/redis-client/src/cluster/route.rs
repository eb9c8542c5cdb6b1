//! Where each command goes: the slot of its keys, a random primary, or every primary (or
//! every node) with the replies combined. The table is in the docs of
//! [`ClusterClient`](crate::ClusterClient).

use redis_commands::Cmd;
use redis_commands::keys::for_each_key;

use super::error::ClusterError;
use super::slots::{SLOT_COUNT, key_slot};

/// Where a command is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The primary serving this slot.
    Slot(u16),
    /// Any primary, chosen at random.
    AnyPrimary,
    /// Several nodes, their replies combined.
    Fanout(Targets, Combine),
    /// RANDOMKEY: primaries in random order until one has a key.
    RandomKey,
}

/// The nodes of a fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Targets {
    /// Every primary serving slots.
    Primaries,
    /// Every primary and every healthy replica.
    AllNodes,
}

/// How the replies of a fan-out become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Every node must succeed; the first node's reply is returned.
    AllSucceeded,
    /// One node succeeding is enough (SCRIPT KILL: only the busy node can succeed).
    OneSucceeded,
    /// Integer replies are added up.
    Sum,
    /// Array replies are concatenated, in node order.
    Concat,
    /// Arrays of 0/1 integers are combined element by element with AND.
    LogicalAnd,
}

/// What the table says about a keyless command.
#[derive(Debug, Clone, Copy)]
enum Policy {
    Route(Route),
    /// The slot is the argument at this index (CLUSTER COUNTKEYSINSLOT).
    SlotArgument(usize),
    /// Refused, for this reason.
    Unsupported(&'static str),
}

use Combine::*;
use Policy::Route as R;
use Route::Fanout;
use Targets::{AllNodes, Primaries};

/// Why WAIT and WAITAOF are refused on their own.
const WAIT_ALONE: &str = "it waits for the writes of the connection it runs on, and a cluster \
     command runs on any connection of the node's pool; send the write and WAIT in one pipeline \
     of `ClusterClient::client_for_slot`";

/// The commands whose route is not "the slot of the keys" or "a random primary". A `None`
/// subcommand matches any. Keep in sync with the table of the `ClusterClient` docs.
const TABLE: &[(&str, Option<&str>, Policy)] = &[
    ("DBSIZE", None, R(Fanout(Primaries, Sum))),
    ("KEYS", None, R(Fanout(Primaries, Concat))),
    ("FLUSHALL", None, R(Fanout(Primaries, AllSucceeded))),
    ("FLUSHDB", None, R(Fanout(Primaries, AllSucceeded))),
    ("PING", None, R(Fanout(Primaries, AllSucceeded))),
    ("RANDOMKEY", None, R(Route::RandomKey)),
    ("SCRIPT", Some("LOAD"), R(Fanout(Primaries, AllSucceeded))),
    ("SCRIPT", Some("FLUSH"), R(Fanout(Primaries, AllSucceeded))),
    ("SCRIPT", Some("EXISTS"), R(Fanout(Primaries, LogicalAnd))),
    ("SCRIPT", Some("KILL"), R(Fanout(Primaries, OneSucceeded))),
    ("FUNCTION", Some("LOAD"), R(Fanout(Primaries, AllSucceeded))),
    (
        "FUNCTION",
        Some("DELETE"),
        R(Fanout(Primaries, AllSucceeded)),
    ),
    (
        "FUNCTION",
        Some("FLUSH"),
        R(Fanout(Primaries, AllSucceeded)),
    ),
    (
        "FUNCTION",
        Some("RESTORE"),
        R(Fanout(Primaries, AllSucceeded)),
    ),
    ("FUNCTION", Some("KILL"), R(Fanout(Primaries, OneSucceeded))),
    ("MEMORY", Some("PURGE"), R(Fanout(Primaries, AllSucceeded))),
    ("CONFIG", Some("SET"), R(Fanout(AllNodes, AllSucceeded))),
    (
        "CONFIG",
        Some("RESETSTAT"),
        R(Fanout(AllNodes, AllSucceeded)),
    ),
    ("CONFIG", Some("REWRITE"), R(Fanout(AllNodes, AllSucceeded))),
    ("ACL", Some("SETUSER"), R(Fanout(AllNodes, AllSucceeded))),
    ("ACL", Some("DELUSER"), R(Fanout(AllNodes, AllSucceeded))),
    ("ACL", Some("SAVE"), R(Fanout(AllNodes, AllSucceeded))),
    ("SLOWLOG", Some("GET"), R(Fanout(AllNodes, Concat))),
    ("SLOWLOG", Some("LEN"), R(Fanout(AllNodes, Sum))),
    ("SLOWLOG", Some("RESET"), R(Fanout(AllNodes, AllSucceeded))),
    ("LATENCY", Some("RESET"), R(Fanout(AllNodes, Sum))),
    ("CLUSTER", Some("COUNTKEYSINSLOT"), Policy::SlotArgument(2)),
    ("CLUSTER", Some("GETKEYSINSLOT"), Policy::SlotArgument(2)),
    ("WAIT", None, Policy::Unsupported(WAIT_ALONE)),
    ("WAITAOF", None, Policy::Unsupported(WAIT_ALONE)),
    (
        "SCAN",
        None,
        Policy::Unsupported(
            "its cursor belongs to one node; use the cluster-wide \
             `ClusterClient::scan_iter`, or scan each of `ClusterClient::primaries()`",
        ),
    ),
];

/// Where `cmd` goes. A command whose keys are in different slots is refused here, before
/// anything is sent.
pub(crate) fn route(cmd: &Cmd) -> Result<Route, ClusterError> {
    route_args(cmd.arg_bytes(), cmd.len())
}

/// [`route`] for a command given as its `count` arguments, its name first.
pub(crate) fn route_args<'a>(
    arg_bytes: impl Iterator<Item = &'a [u8]>,
    count: usize,
) -> Result<Route, ClusterError> {
    // Short commands (nearly all) are looked at without allocating.
    let mut short: [&[u8]; 8] = [&[]; 8];
    let long: Vec<&[u8]>;
    let args: &[&[u8]] = if count <= short.len() {
        let mut n = 0;
        for (slot, arg) in short.iter_mut().zip(arg_bytes) {
            *slot = arg;
            n += 1;
        }
        &short[..n]
    } else {
        long = arg_bytes.collect();
        &long
    };
    let Some(name) = args.first() else {
        return Ok(Route::AnyPrimary);
    };
    // The keys first: no command of the table has any, and most commands have one.
    let mut slot = None;
    let mut cross = None;
    let mut visit = |i: usize| {
        let Some(key) = args.get(i) else { return };
        let this = key_slot(key);
        match slot {
            None => slot = Some(this),
            Some(first) if first != this => {
                cross.get_or_insert((first, this));
            }
            Some(_) => {}
        }
    };
    // `None`: the specification cannot locate the keys (what was visited does not count).
    let located = for_each_key(args, &mut visit).is_some();
    if located {
        if let Some((first_slot, other_slot)) = cross {
            return Err(ClusterError::CrossSlot {
                command: command_name_of(args.iter().copied()),
                first_slot,
                other_slot,
            });
        }
        if let Some(slot) = slot {
            return Ok(Route::Slot(slot));
        }
    }
    if let Some(policy) = table_policy(name, args.get(1).copied()) {
        return match policy {
            Policy::Route(route) => Ok(route),
            Policy::SlotArgument(at) => Ok(args
                .get(at)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|a| a.parse::<u16>().ok())
                .filter(|&slot| slot < SLOT_COUNT)
                .map_or(Route::AnyPrimary, Route::Slot)),
            Policy::Unsupported(reason) => Err(ClusterError::Unsupported {
                command: command_name_of(args.iter().copied()),
                reason,
            }),
        };
    }
    if !located {
        // SORT's BY and GET patterns cannot be located; its key is the first argument.
        if name.eq_ignore_ascii_case(b"SORT") || name.eq_ignore_ascii_case(b"SORT_RO") {
            return Ok(args
                .get(1)
                .map_or(Route::AnyPrimary, |k| Route::Slot(key_slot(k))));
        }
        // A command the specification does not know (a module's): any primary, whose MOVED
        // reply, if the command has keys, leads to the right node.
    }
    Ok(Route::AnyPrimary)
}

fn table_policy(name: &[u8], sub: Option<&[u8]>) -> Option<Policy> {
    TABLE.iter().find_map(|(n, s, policy)| {
        let name_matches = n.as_bytes().eq_ignore_ascii_case(name);
        let sub_matches = match (s, sub) {
            (None, _) => true,
            (Some(s), Some(sub)) => s.as_bytes().eq_ignore_ascii_case(sub),
            (Some(_), None) => false,
        };
        (name_matches && sub_matches).then_some(*policy)
    })
}

/// The command's name (and subcommand, for container commands) for error messages.
pub(crate) fn command_name(cmd: &Cmd) -> String {
    command_name_of(cmd.arg_bytes())
}

/// [`command_name`] for a command given as its arguments, its name first.
pub(crate) fn command_name_of<'a>(mut args: impl Iterator<Item = &'a [u8]>) -> String {
    let name = String::from_utf8_lossy(args.next().unwrap_or_default()).to_ascii_uppercase();
    const CONTAINERS: &[&str] = &[
        "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "FUNCTION", "LATENCY", "MEMORY", "MODULE",
        "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
    ];
    match args.next() {
        Some(sub) if CONTAINERS.contains(&name.as_str()) => {
            format!(
                "{name} {}",
                String::from_utf8_lossy(sub).to_ascii_uppercase()
            )
        }
        _ => name,
    }
}

/// Whether a command changes the state of its connection: the same list as
/// [`Client`](crate::Client)'s; its pooled connection is closed afterwards.
pub(crate) use crate::client::changes_state;

#[cfg(test)]
mod tests {
    use super::{Combine, Route, Targets, changes_state, command_name, route};
    use crate::cluster::error::ClusterError;
    use crate::cluster::slots::key_slot;
    use redis_commands::{Cmd, cmd};

    fn route_of(args: &[&str]) -> Result<Route, ClusterError> {
        let mut c = Cmd::new();
        for a in args {
            c.arg(*a);
        }
        route(&c)
    }

    #[test]
    fn keyed_commands_go_to_their_slot() {
        assert_eq!(route_of(&["GET", "123456789"]).unwrap(), Route::Slot(12739));
        assert_eq!(
            route_of(&["MSET", "{u}a", "1", "{u}b", "2"]).unwrap(),
            Route::Slot(key_slot(b"u"))
        );
        assert_eq!(
            route_of(&["EVAL", "return 1", "1", "foo", "x"]).unwrap(),
            Route::Slot(12182)
        );
        assert_eq!(
            route_of(&["XREAD", "STREAMS", "{s}1", "{s}2", "0", "0"]).unwrap(),
            Route::Slot(key_slot(b"s"))
        );
        assert_eq!(
            route_of(&["SORT", "foo", "BY", "nosort"]).unwrap(),
            Route::Slot(12182)
        );
        assert_eq!(
            route_of(&["OBJECT", "ENCODING", "foo"]).unwrap(),
            Route::Slot(12182)
        );
    }

    #[test]
    fn keys_in_different_slots_are_refused() {
        match route_of(&["MGET", "foo", "bar"]) {
            Err(ClusterError::CrossSlot {
                command,
                first_slot,
                other_slot,
            }) => {
                assert_eq!(command, "MGET");
                assert_eq!((first_slot, other_slot), (12182, 5061));
            }
            other => panic!("expected CrossSlot, got {other:?}"),
        }
        assert!(matches!(
            route_of(&["EVAL", "return 1", "2", "foo", "bar"]),
            Err(ClusterError::CrossSlot { .. })
        ));
        // The same key twice is one slot.
        assert!(route_of(&["DEL", "foo", "foo"]).is_ok());
    }

    #[test]
    fn keyless_commands_follow_the_table() {
        assert_eq!(
            route_of(&["DBSIZE"]).unwrap(),
            Route::Fanout(Targets::Primaries, Combine::Sum)
        );
        assert_eq!(
            route_of(&["keys", "*"]).unwrap(),
            Route::Fanout(Targets::Primaries, Combine::Concat)
        );
        assert_eq!(
            route_of(&["script", "load", "return 1"]).unwrap(),
            Route::Fanout(Targets::Primaries, Combine::AllSucceeded)
        );
        assert_eq!(
            route_of(&["CONFIG", "SET", "x", "y"]).unwrap(),
            Route::Fanout(Targets::AllNodes, Combine::AllSucceeded)
        );
        assert_eq!(
            route_of(&["CONFIG", "GET", "x"]).unwrap(),
            Route::AnyPrimary
        );
        assert_eq!(route_of(&["INFO"]).unwrap(), Route::AnyPrimary);
        assert_eq!(
            route_of(&["EVAL", "return 1", "0"]).unwrap(),
            Route::AnyPrimary
        );
        assert_eq!(route_of(&["RANDOMKEY"]).unwrap(), Route::RandomKey);
        assert_eq!(
            route_of(&["CLUSTER", "COUNTKEYSINSLOT", "42"]).unwrap(),
            Route::Slot(42)
        );
        assert_eq!(
            route_of(&["CLUSTER", "COUNTKEYSINSLOT", "99999"]).unwrap(),
            Route::AnyPrimary
        );
        assert_eq!(route_of(&["MODULE.CMD", "x"]).unwrap(), Route::AnyPrimary);
        assert!(matches!(
            route_of(&["SCAN", "0"]),
            Err(ClusterError::Unsupported { .. })
        ));
    }

    #[test]
    fn no_command_of_the_table_has_keys() {
        // `route` looks for keys before it looks at the table.
        for (name, sub, _) in super::TABLE {
            // As the router looks: the subcommand's specs, else the command's.
            let mut args: Vec<&[u8]> = vec![name.as_bytes()];
            args.extend(sub.map(str::as_bytes));
            args.extend([&b"x"[..], b"y", b"z"]);
            let mut keys = 0;
            redis_commands::keys::for_each_key(&args, |_| keys += 1);
            assert_eq!(keys, 0, "{name} {sub:?} has keys");
        }
    }

    #[test]
    fn names_and_state_changes() {
        assert_eq!(
            command_name(&cmd("config").arg("set").clone()),
            "CONFIG SET"
        );
        assert_eq!(command_name(&cmd("mget").arg("a").clone()), "MGET");
        assert!(changes_state(&cmd("client").arg("setname").clone()));
        assert!(!changes_state(&cmd("GET").arg("a").clone()));
    }
}
