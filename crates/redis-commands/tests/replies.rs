//! Structured replies and pair lists, in both the RESP2 and the RESP3 shape, without a
//! server.
//!
//! Fixtures are either built by hand or captured from redis-server 7.0.15 (raw bytes sent by
//! the server, decoded with `resp_proto::Decoder`); captured fixtures say so.

#[path = "replies/admin.rs"]
mod admin;
#[path = "replies/cluster.rs"]
mod cluster;
#[path = "replies/misc.rs"]
mod misc;
#[path = "replies/pairs.rs"]
mod pairs;
#[path = "replies/server.rs"]
mod server;
#[path = "replies/streams.rs"]
mod streams;

use bytes::{Bytes, BytesMut};
use resp_proto::{Decoder, Value};

/// Decodes one complete reply captured from a server.
fn decode(raw: &[u8]) -> Value {
    let mut buf = BytesMut::from(raw);
    let value = Decoder::new()
        .decode(&mut buf)
        .expect("a valid reply")
        .expect("a complete reply");
    assert!(buf.is_empty(), "trailing bytes after the reply");
    value
}

fn bulk(s: &str) -> Value {
    Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
}

fn simple(s: &str) -> Value {
    Value::SimpleString(Bytes::copy_from_slice(s.as_bytes()))
}

fn int(i: i64) -> Value {
    Value::Integer(i)
}

fn array(items: Vec<Value>) -> Value {
    Value::Array(items.into())
}

fn set(items: Vec<Value>) -> Value {
    Value::Set(items.into())
}

fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries.into())
}

fn verbatim(s: &str) -> Value {
    Value::Verbatim {
        format: *b"txt",
        text: Bytes::copy_from_slice(s.as_bytes()),
    }
}

/// A RESP2 flat list of names and values and the RESP3 map with the same entries.
fn both_shapes(entries: Vec<(Value, Value)>) -> [Value; 2] {
    let flat = array(
        entries
            .iter()
            .flat_map(|(k, v)| [k.clone(), v.clone()])
            .collect(),
    );
    [flat, map(entries)]
}

/// A small deterministic generator of arbitrary replies, for the no-panic sweep.
struct Shapes(u64);

impl Shapes {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn value(&mut self, depth: u32) -> Value {
        let words = [
            "",
            "0",
            "-1",
            "1-1",
            "inf",
            "nan",
            "name",
            "id=1 addr=a",
            "db0:keys=x",
            "a b c",
            "# S\r\nk:v",
            "slave",
            "master",
            "length",
            "matches",
            "len",
            "flags",
        ];
        let leaf = self.next(if depth == 0 { 7 } else { 11 });
        match leaf {
            0 => Value::Null,
            1 => int(self.next(5) as i64 - 2),
            2 => Value::Double(f64::NAN),
            3 | 4 => bulk(words[self.next(words.len() as u64) as usize]),
            5 => Value::Boolean(true),
            6 => Value::BulkString(Bytes::from_static(&[0xff, 0x00])),
            7 | 8 => array((0..self.next(6)).map(|_| self.value(depth - 1)).collect()),
            9 => map((0..self.next(4))
                .map(|_| (self.value(0), self.value(depth - 1)))
                .collect()),
            _ => set((0..self.next(3)).map(|_| self.value(depth - 1)).collect()),
        }
    }
}

#[test]
fn no_reply_panics() {
    use redis_commands::FromReply;
    use redis_commands::replies::*;

    fn all(v: &Value) {
        let _ = Info::from_reply(v.clone());
        let _ = ClientInfo::from_reply(v.clone());
        let _ = ClientList::from_reply(v.clone());
        let _ = Vec::<SlowlogEntry>::from_reply(v.clone());
        let _ = Vec::<StreamEntry>::from_reply(v.clone());
        let _ = StreamRead::from_reply(v.clone());
        let _ = XInfoStream::from_reply(v.clone());
        let _ = Vec::<XInfoGroup>::from_reply(v.clone());
        let _ = Vec::<XInfoConsumer>::from_reply(v.clone());
        let _ = XPendingSummary::from_reply(v.clone());
        let _ = Vec::<XPendingEntry>::from_reply(v.clone());
        let _ = XAutoClaim::from_reply(v.clone());
        let _ = Vec::<GeoMember>::from_reply(v.clone());
        let _ = Vec::<Option<CommandInfo>>::from_reply(v.clone());
        let _ = CommandDocs::from_reply(v.clone());
        let _ = MemoryStats::from_reply(v.clone());
        let _ = Vec::<LatencySample>::from_reply(v.clone());
        let _ = Option::<AclUser>::from_reply(v.clone());
        let _ = Vec::<AclLogEntry>::from_reply(v.clone());
        let _ = Vec::<ClusterSlotRange>::from_reply(v.clone());
        let _ = Vec::<ClusterShard>::from_reply(v.clone());
        let _ = ClusterNodes::from_reply(v.clone());
        let _ = ClusterInfo::from_reply(v.clone());
        let _ = Vec::<SentinelState>::from_reply(v.clone());
        let _ = Role::from_reply(v.clone());
        let _ = ServerTime::from_reply(v.clone());
        let _ = LcsIdx::from_reply(v.clone());
        let _ = Vec::<FunctionLibrary>::from_reply(v.clone());
        let _ = FunctionStats::from_reply(v.clone());
        let _ = Option::<PoppedFrom<(String, f64)>>::from_reply(v.clone());
        let _ = Vec::<(String, f64)>::from_reply(v.clone());
        let _ = Vec::<(Value, Option<i64>)>::from_reply(v.clone());
    }

    let mut shapes = Shapes(7);
    for _ in 0..5_000 {
        let v = shapes.value(3);
        all(&v);
        all(&array(vec![v]));
    }
}
