//! Which commands change the state of the connection they run on.

/// Commands that change the state of the connection they run on (its database, user,
/// protocol, transaction, replies or role); with [`REPLY_COUNT_CHANGING`] (subscriptions,
/// MONITOR), what [`is_state_changing`] answers for. A pool closes a connection that ran one
/// instead of lending it again, and a [`SharedConnection`](crate::SharedConnection) refuses
/// them.
const STATE_CHANGING: &[&[u8]] = &[
    b"SELECT",
    b"AUTH",
    b"HELLO",
    b"RESET",
    b"QUIT",
    b"MULTI",
    b"WATCH",
    b"READONLY",
    b"READWRITE",
    b"CLIENT",
    b"SYNC",
    b"PSYNC",
    b"REPLCONF",
];

/// Commands after which replies no longer come one per command: the (un)subscribe commands
/// (one reply per channel, or push messages) and MONITOR (a stream of lines). `CLIENT REPLY`
/// too, by its subcommand.
const REPLY_COUNT_CHANGING: &[&[u8]] = &[
    b"SUBSCRIBE",
    b"PSUBSCRIBE",
    b"SSUBSCRIBE",
    b"UNSUBSCRIBE",
    b"PUNSUBSCRIBE",
    b"SUNSUBSCRIBE",
    b"MONITOR",
];

/// Whether a command (its name and, if any, its first argument; any case) changes how many
/// replies the commands after it on the same connection get: the (un)subscribe commands,
/// MONITOR and `CLIENT REPLY`. Such a command cannot go in a batch whose replies are matched
/// to its commands by their order.
///
/// ```
/// assert!(redis_conn::changes_reply_count(b"subscribe", Some(b"news")));
/// assert!(redis_conn::changes_reply_count(b"CLIENT", Some(b"REPLY")));
/// assert!(!redis_conn::changes_reply_count(b"CLIENT", Some(b"GETNAME")));
/// ```
pub fn changes_reply_count(name: &[u8], first_argument: Option<&[u8]>) -> bool {
    if name.eq_ignore_ascii_case(b"CLIENT") {
        return first_argument.is_some_and(|sub| sub.eq_ignore_ascii_case(b"REPLY"));
    }
    REPLY_COUNT_CHANGING
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
}

/// The length of the shortest and of the longest name of both lists.
const SHORTEST: usize = name_length(false);
const LONGEST: usize = name_length(true);

const fn name_length(longest: bool) -> usize {
    let mut found = if longest { 0 } else { usize::MAX };
    let lists = [STATE_CHANGING, REPLY_COUNT_CHANGING];
    let mut l = 0;
    while l < lists.len() {
        let mut i = 0;
        while i < lists[l].len() {
            let len = lists[l][i].len();
            if (longest && len > found) || (!longest && len < found) {
                found = len;
            }
            i += 1;
        }
        l += 1;
    }
    found
}

/// Whether a command of this name (any case) changes the state of the connection it runs
/// on: `SELECT`, `AUTH`, `HELLO`, `RESET`, `QUIT`, `MULTI`, `WATCH`, the (un)subscribe
/// commands, `MONITOR`, `READONLY`, `READWRITE`, `CLIENT` (`CLIENT REPLY OFF` silences the
/// replies that follow), and the replication handshake.
///
/// ```
/// assert!(redis_conn::is_state_changing(b"select"));
/// assert!(!redis_conn::is_state_changing(b"GET"));
/// ```
pub fn is_state_changing(name: &[u8]) -> bool {
    // Most commands (GET, SET, DEL, ...) are shorter or longer than any of the list.
    if !(SHORTEST..=LONGEST).contains(&name.len()) {
        return false;
    }
    STATE_CHANGING
        .iter()
        .chain(REPLY_COUNT_CHANGING)
        .any(|c| c.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::{changes_reply_count, is_state_changing};

    #[test]
    fn both_lists_count_as_state_changing() {
        for name in [
            &b"select"[..],
            b"CLIENT",
            b"SUBSCRIBE",
            b"sunsubscribe",
            b"MONITOR",
        ] {
            assert!(is_state_changing(name), "{}", String::from_utf8_lossy(name));
        }
        for name in [&b"GET"[..], b"SET", b"PUBLISH", b"SUBSCRIBED", b""] {
            assert!(
                !is_state_changing(name),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        assert!(changes_reply_count(b"monitor", None));
        assert!(!changes_reply_count(b"CLIENT", None));
    }
}
