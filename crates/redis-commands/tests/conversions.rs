//! Reply conversions and argument encoding, without a server.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use redis_commands::{Cmd, FromReply, ToArg, cmd};
use resp_proto::{Decoder, Value};

fn bulk(s: &str) -> Value {
    Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
}

fn array(items: Vec<Value>) -> Value {
    Value::Array(items.into())
}

#[test]
fn scalars() {
    assert_eq!(i64::from_reply(Value::Integer(-5)).unwrap(), -5);
    assert_eq!(i64::from_reply(bulk("42")).unwrap(), 42);
    assert_eq!(u64::from_reply(Value::Integer(7)).unwrap(), 7);
    assert!(u64::from_reply(Value::Integer(-1)).is_err());
    assert!(i32::from_reply(Value::Integer(i64::MAX)).is_err());
    assert!(i64::from_reply(bulk("4x")).is_err());
    assert_eq!(f64::from_reply(bulk("3.5")).unwrap(), 3.5);
    assert_eq!(
        f64::from_reply(Value::Double(f64::INFINITY)).unwrap(),
        f64::INFINITY
    );
    assert!(bool::from_reply(Value::Integer(1)).unwrap());
    assert!(!bool::from_reply(Value::Integer(0)).unwrap());
    assert!(bool::from_reply(Value::Boolean(true)).unwrap());
    assert!(bool::from_reply(Value::Integer(2)).is_err());
    assert_eq!(String::from_reply(bulk("héllo")).unwrap(), "héllo");
    assert_eq!(
        String::from_reply(Value::SimpleString("OK".into())).unwrap(),
        "OK"
    );
    assert_eq!(Vec::<u8>::from_reply(bulk("ab")).unwrap(), b"ab");
    assert_eq!(
        Bytes::from_reply(bulk("ab")).unwrap(),
        Bytes::from_static(b"ab")
    );
    <()>::from_reply(Value::SimpleString("OK".into())).unwrap();
}

#[test]
fn invalid_utf8_is_a_string_error_but_fine_as_bytes() {
    let value = Value::BulkString(Bytes::from_static(&[0xff, 0xfe]));
    let err = String::from_reply(value.clone()).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");
    assert_eq!(Vec::<u8>::from_reply(value).unwrap(), vec![0xff, 0xfe]);
}

#[test]
fn errors_do_not_convert() {
    let error = Value::Error("ERR nope".into());
    assert!(<()>::from_reply(error.clone()).is_err());
    assert!(String::from_reply(error.clone()).is_err());
    assert!(i64::from_reply(error).is_err());
}

#[test]
fn options_and_collections() {
    assert_eq!(Option::<String>::from_reply(Value::Null).unwrap(), None);
    assert_eq!(
        Option::<i64>::from_reply(Value::Integer(3)).unwrap(),
        Some(3)
    );
    let list = array(vec![bulk("a"), Value::Null, bulk("c")]);
    assert_eq!(
        Vec::<Option<String>>::from_reply(list.clone()).unwrap(),
        vec![Some("a".to_owned()), None, Some("c".to_owned())]
    );
    let err = Vec::<String>::from_reply(list).unwrap_err();
    assert!(err.to_string().contains("element 1"), "{err}");
    let set: HashSet<String> = FromReply::from_reply(Value::Set(vec![bulk("x")].into())).unwrap();
    assert!(set.contains("x"));
    assert_eq!(
        Vec::<i64>::from_reply(Value::Null).unwrap(),
        Vec::<i64>::new()
    );
}

/// Lists of strings take bulk strings directly and every other element the way a single
/// value converts: the result must not depend on which path an element took.
#[test]
fn lists_of_strings_convert_each_element_like_a_single_value() {
    let attributed = Value::Attribute {
        attributes: vec![(bulk("ttl"), Value::Integer(3))].into(),
        value: Box::new(bulk("d")),
    };
    let mixed = array(vec![
        bulk("a"),
        Value::SimpleString("b".into()),
        Value::Integer(7),
        attributed,
        bulk(""),
    ]);
    let expected = ["a", "b", "7", "d", ""];
    assert_eq!(Vec::<String>::from_reply(mixed.clone()).unwrap(), expected);
    let as_bytes: Vec<Bytes> = FromReply::from_reply(mixed.clone()).unwrap();
    assert_eq!(as_bytes, expected.map(|s| Bytes::from_static(s.as_bytes())));
    let as_vecs: Vec<Vec<u8>> = FromReply::from_reply(mixed.clone()).unwrap();
    assert_eq!(as_vecs, expected.map(|s| s.as_bytes().to_vec()));
    // Sets and push messages too.
    let set = Value::Set(vec![bulk("x"), bulk("y")].into());
    assert_eq!(Vec::<String>::from_reply(set).unwrap(), ["x", "y"]);

    // A failing element is named, whichever path it took.
    let not_utf8 = array(vec![
        bulk("ok"),
        Value::BulkString(Bytes::from_static(&[0xff])),
    ]);
    let err = Vec::<String>::from_reply(not_utf8.clone()).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");
    assert!(err.to_string().contains("element 1"), "{err}");
    assert_eq!(
        Vec::<Vec<u8>>::from_reply(not_utf8).unwrap(),
        vec![b"ok".to_vec(), vec![0xff]]
    );
    for shape in [Value::Null, Value::Error("ERR no".into()), array(vec![])] {
        let list = array(vec![bulk("a"), bulk("b"), shape]);
        let err = Vec::<Bytes>::from_reply(list.clone()).unwrap_err();
        assert!(err.to_string().contains("element 2"), "{err}");
        let err = Vec::<Vec<u8>>::from_reply(list.clone()).unwrap_err();
        assert!(err.to_string().contains("element 2"), "{err}");
        let err = Vec::<String>::from_reply(list).unwrap_err();
        assert!(err.to_string().contains("element 2"), "{err}");
    }
}

#[test]
fn maps_from_resp3_maps_and_resp2_flat_arrays() {
    let resp3 = Value::Map(
        vec![
            (bulk("a"), Value::Integer(1)),
            (bulk("b"), Value::Integer(2)),
        ]
        .into(),
    );
    let resp2 = array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]);
    let expected: BTreeMap<String, i64> = [("a".to_owned(), 1), ("b".to_owned(), 2)].into();
    assert_eq!(
        BTreeMap::<String, i64>::from_reply(resp3.clone()).unwrap(),
        expected
    );
    assert_eq!(
        BTreeMap::<String, i64>::from_reply(resp2).unwrap(),
        expected
    );
    let hashed: HashMap<String, i64> = FromReply::from_reply(resp3).unwrap();
    assert_eq!(hashed["b"], 2);
    assert!(HashMap::<String, i64>::from_reply(array(vec![bulk("odd")])).is_err());
}

#[test]
fn tuples_need_the_exact_length() {
    let pair = array(vec![bulk("k"), Value::Integer(1)]);
    assert_eq!(
        <(String, i64)>::from_reply(pair.clone()).unwrap(),
        ("k".to_owned(), 1)
    );
    assert!(<(String, i64, i64)>::from_reply(pair).is_err());
}

#[test]
fn attributes_are_looked_through() {
    let value = Value::Attribute {
        attributes: vec![(bulk("ttl"), Value::Integer(3))].into(),
        value: Box::new(Value::Integer(9)),
    };
    assert_eq!(i64::from_reply(value).unwrap(), 9);
}

#[test]
fn commands_encode_as_arrays_of_bulk_strings() {
    let mut c = cmd("CONFIG GET");
    c.arg("maxmemory")
        .arg(-1i64)
        .arg(2.5f64)
        .arg(&b"\r\n"[..])
        .arg(Bytes::from_static(b"x"));
    c.args(["a", "b"]).args(vec![1i64, 2]);
    assert_eq!(c.name(), b"CONFIG");
    assert_eq!(c.len(), 11);
    let mut wire = bytes::BytesMut::new();
    let mut packed = Vec::new();
    c.write_packed(&mut packed);
    wire.extend_from_slice(&packed);
    let decoded = Decoder::new().decode(&mut wire).unwrap().unwrap();
    let args: Vec<Vec<u8>> = FromReply::from_reply(decoded).unwrap();
    let expected: Vec<&[u8]> = vec![
        b"CONFIG",
        b"GET",
        b"maxmemory",
        b"-1",
        b"2.5",
        b"\r\n",
        b"x",
        b"a",
        b"b",
        b"1",
    ];
    assert_eq!(args.len(), 11);
    for (got, want) in args.iter().zip(expected) {
        assert_eq!(got.as_slice(), want);
    }
}

#[test]
fn numbers_format_exactly() {
    let mut out = Vec::new();
    u64::MAX.write_arg(&mut out);
    f64::NEG_INFINITY.write_arg(&mut out);
    1e300f64.write_arg(&mut out);
    assert_eq!(
        out,
        b"$20\r\n18446744073709551615\r\n$4\r\n-inf\r\n$5\r\n1e300\r\n"
    );
}

#[test]
fn an_empty_command_is_empty() {
    assert!(Cmd::new().is_empty());
    assert!(cmd("  ").is_empty());
}

#[test]
fn debug_shows_arguments_and_hides_secrets() {
    let mut set = cmd("SET");
    set.arg("k").arg(1);
    assert_eq!(format!("{set:?}"), r#"["SET", "k", "1"]"#);
    let cases: &[&[&str]] = &[
        &["AUTH", "hunter2"],
        &["AUTH", "alice", "hunter2"],
        &["HELLO", "3", "AUTH", "alice", "hunter2", "SETNAME", "x"],
        &["MIGRATE", "h", "1", "k", "0", "5", "AUTH", "hunter2"],
        &[
            "MIGRATE", "h", "1", "k", "0", "5", "AUTH2", "alice", "hunter2",
        ],
        &["ACL", "SETUSER", "alice", "on", ">hunter2", "~*"],
        &["CONFIG", "SET", "requirepass", "hunter2"],
        &["CONFIG", "SET", "masterauth", "hunter2"],
        &["SENTINEL", "SET", "mymaster", "auth-pass", "hunter2"],
    ];
    for case in cases {
        let mut c = Cmd::new();
        c.args(case.to_vec());
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
