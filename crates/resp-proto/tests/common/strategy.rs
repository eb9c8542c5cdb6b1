//! Proptest strategies: arbitrary values of every type, command argv, and "RESP soup" (random
//! sequences of RESP tokens and stray bytes, which reach deeper into the decoder than uniform
//! random bytes do).

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use resp_proto::{List, Pairs, Value};

/// Arbitrary bytes, up to `max` of them.
pub(crate) fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Short text that often holds `\r` and `\n`, which simple strings and errors must survive.
fn text() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..12).prop_map(Bytes::from),
        1 => vec(prop::sample::select(b"ab \r\n".to_vec()), 0..8).prop_map(Bytes::from),
    ]
}

/// Any double, with the special values made likely.
fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0]),
    ]
}

/// Every scalar type.
pub(crate) fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::SimpleString),
        text().prop_map(Value::Error),
        any::<i64>().prop_map(Value::Integer),
        prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1]).prop_map(Value::Integer),
        bytes(24).prop_map(Value::BulkString),
        Just(Value::Null),
        double().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        "-?[0-9]{1,40}".prop_map(|digits| Value::BigNumber(digits.into())),
        // Hand-built big numbers may hold anything, line breaks included.
        text().prop_map(Value::BigNumber),
        text().prop_map(Value::BulkError),
        (any::<[u8; 3]>(), bytes(16)).prop_map(|(format, text)| Value::Verbatim { format, text }),
    ]
}

/// Values of every type but push, nested at most `depth` levels (attributes anywhere, also
/// directly describing other attributes).
pub(crate) fn nested(depth: u32) -> impl Strategy<Value = Value> {
    scalar().prop_recursive(depth, 48, 5, |inner| {
        let pairs = |n| vec((inner.clone(), inner.clone()), 0..n);
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(|v| Value::Array(List::from(v))),
            vec(inner.clone(), 0..5).prop_map(|v| Value::Set(List::from(v))),
            pairs(4).prop_map(|p| Value::Map(Pairs::from(p))),
            (pairs(3), inner.clone()).prop_map(|(p, v)| Value::Attribute {
                attributes: Pairs::from(p),
                value: Box::new(v),
            }),
        ]
    })
}

/// A whole reply: any nested value, or a push (only allowed at the top level, possibly after
/// an attribute block).
pub(crate) fn reply(depth: u32) -> impl Strategy<Value = Value> {
    let push = || vec(nested(depth.saturating_sub(1)), 0..5).prop_map(|v| Value::Push(v.into()));
    prop_oneof![
        6 => nested(depth),
        1 => push(),
        1 => (vec((scalar(), scalar()), 0..3), push()).prop_map(|(p, v)| Value::Attribute {
            attributes: Pairs::from(p),
            value: Box::new(v),
        }),
    ]
}

/// Command arguments: binary, empty, or holding `\r\n`.
pub(crate) fn argv() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let arg = prop_oneof![
        4 => vec(any::<u8>(), 0..40),
        1 => Just(Vec::new()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"*1\r\n$-1\r\n".to_vec()),
    ];
    vec(arg, 0..10)
}

/// Random sequences of RESP tokens, fragments and stray bytes.
pub(crate) fn soup() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&[u8]] = &[
        b"*1\r\n",
        b"*2\r\n",
        b"*?\r\n",
        b"*0\r\n",
        b"*-1\r\n",
        b"%1\r\n",
        b"%?\r\n",
        b"~1\r\n",
        b"~?\r\n",
        b">1\r\n",
        b">0\r\n",
        b"|1\r\n",
        b"|0\r\n",
        b"$?\r\n",
        b";1\r\nx\r\n",
        b";0\r\n",
        b".\r\n",
        b"$3\r\nfoo\r\n",
        b"$0\r\n\r\n",
        b"$-1\r\n",
        b"_\r\n",
        b":1\r\n",
        b":-9223372036854775808\r\n",
        b"+OK\r\n",
        b"-ERR x\r\n",
        b",1.5\r\n",
        b",nan\r\n",
        b"#t\r\n",
        b"(12\r\n",
        b"!1\r\nx\r\n",
        b"=5\r\ntxt:x\r\n",
        b"\r\n",
        b"\r",
        b"\n",
        b"*",
        b"$",
        b"%",
        b"1",
        b"-1",
        b"?",
        b"9223372036854775807",
        b"+",
    ];
    let piece = prop_oneof![
        6 => prop::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
        1 => vec(any::<u8>(), 1..3),
    ];
    vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}
