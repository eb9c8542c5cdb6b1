//! Where a command's keys are, from the specification's key specs: what a cluster client
//! routes by.

use crate::generated::keyspecs::KEY_SPECS;

/// Where the search for a command's keys starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BeginSearch {
    /// At this argument index (the command name is index 0).
    Index(i32),
    /// After this keyword, searched from `start_from` (backwards from the end when negative).
    Keyword {
        /// The keyword (`STREAMS`, `KEYS`, ...).
        keyword: &'static str,
        /// Where the search starts.
        start_from: i32,
    },
    /// The specification cannot say (SORT's BY/GET patterns).
    Unknown,
}

/// Which arguments after the start are keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindKeys {
    /// Keys up to `last_key` (relative to the start, negative from the end), every `step`;
    /// `limit` divides the remaining arguments (XREAD's keys are the first half).
    Range {
        /// The last key, relative to the first (negative: from the end).
        last_key: i32,
        /// The distance between keys (MSET: 2).
        step: i32,
        /// When not 0, only 1/limit of the remaining arguments are keys.
        limit: i32,
    },
    /// The number of keys is an argument (`numkeys`).
    KeyNum {
        /// Where the count is, relative to the start.
        key_num_index: i32,
        /// Where the first key is, relative to the start.
        first_key: i32,
        /// The distance between keys.
        step: i32,
    },
    /// The specification cannot say.
    Unknown,
}

/// One key spec of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySpec {
    /// Where the search starts.
    pub begin: BeginSearch,
    /// Which arguments are keys.
    pub find: FindKeys,
}

/// The key specs of a command, by its name (`"GET"`, `"OBJECT ENCODING"`; any case). A
/// command with subcommands is looked up with its subcommand first.
pub fn key_specs(name: &str) -> Option<&'static [KeySpec]> {
    match name.split_once(' ') {
        Some((name, sub)) => find_specs(name.as_bytes(), Some(sub.as_bytes())),
        None => find_specs(name.as_bytes(), None),
    }
}

/// The key specs of `NAME` or `NAME SUB` (any case).
fn find_specs(name: &[u8], sub: Option<&[u8]>) -> Option<&'static [KeySpec]> {
    index_of(name, sub).map(|i| KEY_SPECS[i].1)
}

/// Where `NAME` or `NAME SUB` (any case) is in the table.
fn index_of(name: &[u8], sub: Option<&[u8]>) -> Option<usize> {
    // Longer than every name of the specification ("CLIENT NO-EVICT" and the like).
    let mut upper = [0u8; 48];
    let len = name.len() + sub.map_or(0, |s| s.len() + 1);
    if len > upper.len() {
        return None;
    }
    upper[..name.len()].copy_from_slice(name);
    if let Some(sub) = sub {
        upper[name.len()] = b' ';
        upper[name.len() + 1..len].copy_from_slice(sub);
    }
    let wanted = &mut upper[..len];
    wanted.make_ascii_uppercase();
    // A router asks for the same few commands over and over: try the last answer first.
    thread_local! {
        static LAST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }
    let last = LAST.with(std::cell::Cell::get);
    if KEY_SPECS
        .get(last)
        .is_some_and(|(entry, _)| entry.as_bytes() == &*wanted)
    {
        return Some(last);
    }
    let found = KEY_SPECS
        .binary_search_by(|(entry, _)| entry.as_bytes().cmp(wanted))
        .ok()?;
    LAST.with(|cell| cell.set(found));
    Some(found)
}

/// The key specs of a command, of its subcommand `sub` when it is a container (the table
/// lists a container's subcommands right after it: `"CLIENT"`, `"CLIENT CACHING"`, ...).
fn specs_of(name: &[u8], sub: Option<&[u8]>) -> Option<&'static [KeySpec]> {
    let i = index_of(name, None)?;
    let container = KEY_SPECS
        .get(i + 1)
        .is_some_and(|(next, _)| next.as_bytes().get(name.len()) == Some(&b' '));
    if container
        && let Some(sub) = sub
        && let Some(j) = index_of(name, Some(sub))
    {
        return Some(KEY_SPECS[j].1);
    }
    Some(KEY_SPECS[i].1)
}

/// Calls `visit` with the index of each of a command's keys among its arguments, in the
/// order of the key specs (a key may come twice); `None` when the specification cannot
/// locate them (see [`key_indexes`], which sorts and removes duplicates). It allocates
/// nothing: what a router calls for every command.
///
/// ```
/// use redis_commands::keys::for_each_key;
///
/// let args: Vec<&[u8]> = vec![b"MSET", b"a", b"1", b"b", b"2"];
/// let mut keys = Vec::new();
/// assert_eq!(for_each_key(&args, |i| keys.push(i)), Some(()));
/// assert_eq!(keys, [1, 3]);
/// ```
pub fn for_each_key(args: &[&[u8]], mut visit: impl FnMut(usize)) -> Option<()> {
    let name = args.first()?;
    if name.eq_ignore_ascii_case(b"MIGRATE") {
        key_indexes(args)?.into_iter().for_each(visit);
        return Some(());
    }
    visit_spec_keys(args, &mut visit)
}

/// The indexes of a command's keys among its arguments (`args[0]` is the command name), or
/// `None` when the specification cannot locate them (an unknown command, or a spec the
/// command's arguments do not fit). A command without keys gives an empty list.
///
/// ```
/// use redis_commands::keys::key_indexes;
///
/// let args: Vec<&[u8]> = vec![b"MSET", b"a", b"1", b"b", b"2"];
/// assert_eq!(key_indexes(&args), Some(vec![1, 3]));
/// let args: Vec<&[u8]> = vec![b"XREAD", b"COUNT", b"2", b"STREAMS", b"s1", b"s2", b"0", b"0"];
/// assert_eq!(key_indexes(&args), Some(vec![4, 5]));
/// let args: Vec<&[u8]> = vec![b"PING"];
/// assert_eq!(key_indexes(&args), Some(vec![]));
/// ```
pub fn key_indexes(args: &[&[u8]]) -> Option<Vec<usize>> {
    let mut keys = Vec::new();
    visit_spec_keys(args, &mut |i| keys.push(i))?;
    // MIGRATE's multi-key form leaves its single key empty (as the server's own key finder
    // does, ignore it).
    if args[0].eq_ignore_ascii_case(b"MIGRATE")
        && args.get(3).is_some_and(|k| k.is_empty())
        && keys.len() > 1
    {
        keys.retain(|&i| i != 3);
    }
    keys.sort_unstable();
    keys.dedup();
    Some(keys)
}

/// The keys the specs locate, in spec order, duplicates included.
fn visit_spec_keys(args: &[&[u8]], visit: &mut dyn FnMut(usize)) -> Option<()> {
    let name = args.first()?;
    let specs = specs_of(name, args.get(1).copied())?;
    let argc = i64::try_from(args.len()).ok()?;
    for spec in specs {
        let Some(first) = begin(spec.begin, args, argc)? else {
            continue;
        };
        let (start, last, step) = match spec.find {
            FindKeys::Range {
                last_key,
                step,
                limit,
            } => {
                let last_key = i64::from(last_key);
                let last = if last_key >= 0 {
                    first + last_key
                } else if limit <= 1 {
                    argc + last_key
                } else {
                    first + ((argc - first) / i64::from(limit) + last_key)
                };
                (first, last, i64::from(step))
            }
            FindKeys::KeyNum {
                key_num_index,
                first_key,
                step,
            } => {
                let at = usize::try_from(first + i64::from(key_num_index)).ok()?;
                let count: i64 = std::str::from_utf8(args.get(at)?).ok()?.parse().ok()?;
                if count < 0 {
                    return None;
                }
                let start = first + i64::from(first_key);
                (
                    start,
                    start + (count - 1) * i64::from(step),
                    i64::from(step),
                )
            }
            FindKeys::Unknown => return None,
        };
        if step <= 0 {
            return None;
        }
        // Checked before any key is visited, so a bad spec visits nothing.
        if start <= last && (start < 1 || start + (last - start) / step * step >= argc) {
            return None;
        }
        let mut i = start;
        while i <= last {
            visit(usize::try_from(i).ok()?);
            i += step;
        }
    }
    Some(())
}

/// The index where a spec's keys start; `Some(None)` when the spec does not apply (its
/// keyword is absent, or an index beyond the arguments); `None` when unknown.
fn begin(begin: BeginSearch, args: &[&[u8]], argc: i64) -> Option<Option<i64>> {
    match begin {
        BeginSearch::Index(pos) => {
            let pos = i64::from(pos);
            Some((pos < argc).then_some(pos))
        }
        BeginSearch::Keyword {
            keyword,
            start_from,
        } => {
            let start = i64::from(start_from);
            let found = if start >= 0 {
                (start..argc).find(|&i| matches_keyword(args, i, keyword))
            } else {
                (1..=argc + start)
                    .rev()
                    .find(|&i| matches_keyword(args, i, keyword))
            };
            Some(found.map(|i| i + 1))
        }
        BeginSearch::Unknown => None,
    }
}

fn matches_keyword(args: &[&[u8]], i: i64, keyword: &str) -> bool {
    usize::try_from(i)
        .ok()
        .and_then(|i| args.get(i))
        .is_some_and(|a| a.eq_ignore_ascii_case(keyword.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::key_indexes;

    fn keys(args: &[&str]) -> Option<Vec<usize>> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        key_indexes(&args)
    }

    #[test]
    fn finds_keys_like_the_server() {
        assert_eq!(keys(&["GET", "k"]), Some(vec![1]));
        assert_eq!(keys(&["set", "k", "v", "EX", "10"]), Some(vec![1]));
        assert_eq!(keys(&["DEL", "a", "b", "c"]), Some(vec![1, 2, 3]));
        assert_eq!(
            keys(&["EVAL", "return 1", "2", "a", "b", "x"]),
            Some(vec![3, 4])
        );
        assert_eq!(keys(&["EVAL", "return 1", "0", "x"]), Some(vec![]));
        assert_eq!(
            keys(&["ZUNIONSTORE", "d", "2", "a", "b"]),
            Some(vec![1, 3, 4])
        );
        assert_eq!(
            keys(&["MIGRATE", "h", "1", "", "0", "5", "KEYS", "a", "b"]),
            Some(vec![7, 8])
        );
        assert_eq!(keys(&["OBJECT", "ENCODING", "k"]), Some(vec![2]));
        assert_eq!(
            keys(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]),
            Some(vec![5])
        );
        assert_eq!(keys(&["PING"]), Some(vec![]));
        assert_eq!(keys(&["NOSUCHCOMMAND", "x"]), None);
        // A numkeys larger than the arguments cannot be routed.
        assert_eq!(keys(&["EVAL", "s", "3", "a"]), None);
    }
}
