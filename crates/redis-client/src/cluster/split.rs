//! The opt-in split of MGET, MSET, DEL, EXISTS, UNLINK and TOUCH across hash slots
//! ([`ClusterClientBuilder::split_multi_key`](super::ClusterClientBuilder::split_multi_key)).

use bytes::Bytes;
use redis_commands::Cmd;
use resp_proto::Value;

use super::ClusterClient;
use super::slots::key_slot;
use crate::error::Error;

/// How a split command's parts are put back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    /// MGET: the values, in the order of the keys.
    Values,
    /// MSET: `OK` when every part succeeded.
    Pairs,
    /// DEL, EXISTS, UNLINK, TOUCH: the sum of the counts.
    Count,
}

impl Split {
    /// How `cmd` splits, when it is one of the commands that can.
    pub(super) fn of(cmd: &Cmd) -> Option<Split> {
        let name = cmd.arg_bytes().next()?;
        let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        if is("MGET") {
            Some(Split::Values)
        } else if is("MSET") {
            Some(Split::Pairs)
        } else if is("DEL") || is("EXISTS") || is("UNLINK") || is("TOUCH") {
            Some(Split::Count)
        } else {
            None
        }
    }

    /// The arguments each key brings (the key, and for MSET its value).
    fn width(self) -> usize {
        if self == Split::Pairs { 2 } else { 1 }
    }
}

impl ClusterClient {
    /// Runs `cmd` as one command per slot of its keys, in one cluster pipeline (one round
    /// trip per node), and combines the replies.
    pub(super) fn run_split(&self, cmd: &Cmd, split: Split) -> Result<Value, Error> {
        let args: Vec<&[u8]> = cmd.arg_bytes().collect();
        let (name, rest) = args
            .split_first()
            .ok_or_else(|| Error::InvalidRequest("an empty command cannot be split".to_owned()))?;
        let width = split.width();
        if rest.is_empty() || rest.len() % width != 0 {
            return Err(Error::InvalidRequest(format!(
                "{} needs {}; nothing was sent",
                String::from_utf8_lossy(name),
                if width == 2 {
                    "key and value pairs"
                } else {
                    "at least one key"
                }
            )));
        }
        // The keys' numbers grouped by slot, slots in the order they first appear.
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for (number, item) in rest.chunks(width).enumerate() {
            let slot = key_slot(item[0]);
            match groups.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, numbers)) => numbers.push(number),
                None => groups.push((slot, vec![number])),
            }
        }
        let mut pipe = self.pipeline();
        for (_, numbers) in &groups {
            let mut part = Cmd::new();
            part.arg(*name);
            for &number in numbers {
                for arg in &rest[number * width..(number + 1) * width] {
                    part.arg(*arg);
                }
            }
            pipe.add(part);
        }
        let replies = pipe.execute()?;
        match split {
            Split::Values => {
                let mut values = vec![Value::Null; rest.len()];
                for ((_, numbers), reply) in groups.iter().zip(replies) {
                    let items = match reply? {
                        Value::Array(items) => items.into_vec(),
                        other => return Err(unexpected(name, &other)),
                    };
                    if items.len() != numbers.len() {
                        return Err(unexpected(name, &Value::Array(items.into())));
                    }
                    for (&number, item) in numbers.iter().zip(items) {
                        values[number] = item;
                    }
                }
                Ok(Value::Array(values.into()))
            }
            Split::Pairs => {
                for reply in replies {
                    reply?;
                }
                Ok(Value::SimpleString(Bytes::from_static(b"OK")))
            }
            Split::Count => {
                let mut sum: i64 = 0;
                for reply in replies {
                    match reply? {
                        Value::Integer(n) => sum = sum.saturating_add(n),
                        other => return Err(unexpected(name, &other)),
                    }
                }
                Ok(Value::Integer(sum))
            }
        }
    }
}

fn unexpected(name: &[u8], reply: &Value) -> Error {
    super::ClusterError::Aggregate {
        command: String::from_utf8_lossy(name).into_owned(),
        detail: format!("a part answered {reply:?}"),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_splittable_commands_are_recognised() {
        let mut mget = Cmd::new();
        mget.arg("mget").arg("a").arg("b");
        assert_eq!(Split::of(&mget), Some(Split::Values));
        let mut mset = Cmd::new();
        mset.arg("MSET").arg("a").arg("1");
        assert_eq!(Split::of(&mset), Some(Split::Pairs));
        for name in ["DEL", "exists", "Unlink", "TOUCH"] {
            let mut cmd = Cmd::new();
            cmd.arg(name).arg("a");
            assert_eq!(Split::of(&cmd), Some(Split::Count), "{name}");
        }
        let mut other = Cmd::new();
        other.arg("SUNIONSTORE").arg("d").arg("a");
        assert_eq!(Split::of(&other), None);
    }
}
