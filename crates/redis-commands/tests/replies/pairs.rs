//! `Vec<(A, B)>` in every shape Redis sends pairs, and `f64` from scores.

use std::collections::BTreeMap;

use redis_commands::FromReply;
use resp_proto::Value;

use super::{array, bulk, decode, int, map, set};

fn scores(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(m, s)| ((*m).to_owned(), *s)).collect()
}

#[test]
fn zrange_withscores_in_both_protocols() {
    // Captured: ZRANGE z 0 -1 WITHSCORES (RESP2 flat, scores as strings).
    let resp2 =
        decode(b"*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$3\r\n3.5\r\n");
    let expected = scores(&[("a", 1.0), ("b", 2.0), ("c", 3.5)]);
    assert_eq!(Vec::<(String, f64)>::from_reply(resp2).unwrap(), expected);
    // Captured: the RESP3 shape, one array per pair with a double score.
    let resp3 = decode(b"*1\r\n*2\r\n$1\r\nc\r\n,3.5\r\n");
    assert_eq!(
        Vec::<(String, f64)>::from_reply(resp3).unwrap(),
        scores(&[("c", 3.5)])
    );
    let resp3 = array(vec![
        array(vec![bulk("a"), Value::Double(1.0)]),
        array(vec![bulk("b"), Value::Double(f64::NEG_INFINITY)]),
    ]);
    assert_eq!(
        Vec::<(String, f64)>::from_reply(resp3).unwrap(),
        scores(&[("a", 1.0), ("b", f64::NEG_INFINITY)])
    );
}

#[test]
fn empty_and_null_lists_are_empty() {
    // Captured: ZPOPMIN z 0.
    assert!(
        Vec::<(String, f64)>::from_reply(decode(b"*0\r\n"))
            .unwrap()
            .is_empty()
    );
    assert!(
        Vec::<(String, f64)>::from_reply(Value::Null)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn zscan_page_in_both_protocols() {
    // Captured: ZSCAN z 0 in RESP2 and RESP3 (scores are strings in both).
    let resp2 = decode(
        b"*2\r\n$1\r\n0\r\n*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$3\r\n3.5\r\n",
    );
    let (cursor, page) = <(u64, Vec<(String, f64)>)>::from_reply(resp2).unwrap();
    assert_eq!(cursor, 0);
    assert_eq!(page, scores(&[("a", 1.0), ("b", 2.0), ("c", 3.5)]));
    let resp3 = decode(b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nc\r\n$3\r\n3.5\r\n");
    let (cursor, page) = <(String, Vec<(String, f64)>)>::from_reply(resp3).unwrap();
    assert_eq!(cursor, "0");
    assert_eq!(page, scores(&[("c", 3.5)]));
}

#[test]
fn hrandfield_withvalues_in_both_protocols() {
    // Captured: HRANDFIELD h 2 WITHVALUES.
    let resp2 = decode(b"*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n");
    let resp3 = decode(b"*2\r\n*2\r\n$2\r\nf1\r\n$2\r\nv1\r\n*2\r\n$2\r\nf2\r\n$2\r\nv2\r\n");
    let expected = vec![
        ("f1".to_owned(), "v1".to_owned()),
        ("f2".to_owned(), "v2".to_owned()),
    ];
    assert_eq!(
        Vec::<(String, String)>::from_reply(resp2).unwrap(),
        expected
    );
    assert_eq!(
        Vec::<(String, String)>::from_reply(resp3).unwrap(),
        expected
    );
}

#[test]
fn config_get_as_a_map_and_as_a_flat_list() {
    // Captured: CONFIG GET maxmemory* (first two entries).
    let resp2 = decode(
        b"*4\r\n$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n",
    );
    let resp3 = decode(
        b"%2\r\n$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n",
    );
    let expected = vec![
        ("maxmemory-samples".to_owned(), "5".to_owned()),
        ("maxmemory-policy".to_owned(), "noeviction".to_owned()),
    ];
    assert_eq!(
        Vec::<(String, String)>::from_reply(resp2).unwrap(),
        expected
    );
    assert_eq!(
        Vec::<(String, String)>::from_reply(resp3).unwrap(),
        expected
    );
}

#[test]
fn map_entries_with_aggregate_keys_stay_pairs() {
    let reply = map(vec![
        (array(vec![bulk("a"), bulk("b")]), int(1)),
        (array(vec![bulk("c")]), int(2)),
    ]);
    let pairs = Vec::<(Vec<String>, i64)>::from_reply(reply).unwrap();
    assert_eq!(pairs[0], (vec!["a".to_owned(), "b".to_owned()], 1));
    assert_eq!(pairs[1], (vec!["c".to_owned()], 2));
}

#[test]
fn odd_flat_lists_and_bad_pairs_are_errors() {
    let err =
        Vec::<(String, f64)>::from_reply(array(vec![bulk("a"), bulk("1"), bulk("b")])).unwrap_err();
    assert!(err.to_string().contains("odd number"), "{err}");
    let err = Vec::<(String, f64)>::from_reply(array(vec![
        array(vec![bulk("a"), bulk("1")]),
        array(vec![bulk("b")]),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("element 1"), "{err}");
    let err = Vec::<(String, f64)>::from_reply(array(vec![bulk("a"), bulk("x")])).unwrap_err();
    assert!(err.to_string().contains("not a number"), "{err}");
    assert!(err.to_string().contains("pair 0"), "{err}");
}

#[test]
fn other_element_types_are_unchanged() {
    // A map still flattens into its keys and values for non-pair elements.
    let reply = map(vec![(bulk("k"), bulk("v"))]);
    assert_eq!(
        Vec::<String>::from_reply(reply).unwrap(),
        vec!["k".to_owned(), "v".to_owned()]
    );
    // Triples are not chunked.
    let triples = array(vec![array(vec![bulk("a"), int(1), int(2)])]);
    assert_eq!(
        Vec::<(String, i64, i64)>::from_reply(triples).unwrap(),
        vec![("a".to_owned(), 1, 2)]
    );
    // Maps of pairs and sets still work.
    let m: BTreeMap<String, f64> =
        FromReply::from_reply(array(vec![bulk("a"), bulk("inf")])).unwrap();
    assert_eq!(m["a"], f64::INFINITY);
    let s = Vec::<String>::from_reply(set(vec![bulk("x")])).unwrap();
    assert_eq!(s, vec!["x".to_owned()]);
}

#[test]
fn scores_accept_infinities_but_not_nan() {
    assert_eq!(f64::from_reply(bulk("inf")).unwrap(), f64::INFINITY);
    assert_eq!(f64::from_reply(bulk("+inf")).unwrap(), f64::INFINITY);
    assert_eq!(f64::from_reply(bulk("-inf")).unwrap(), f64::NEG_INFINITY);
    assert_eq!(f64::from_reply(bulk("-2.5e3")).unwrap(), -2500.0);
    assert_eq!(f64::from_reply(int(3)).unwrap(), 3.0);
    assert_eq!(
        f64::from_reply(Value::Double(f64::NEG_INFINITY)).unwrap(),
        f64::NEG_INFINITY
    );
    let err = f64::from_reply(bulk("nan")).unwrap_err();
    assert!(err.to_string().contains("not a number"), "{err}");
    assert!(f64::from_reply(bulk("NaN")).is_err());
    assert!(f64::from_reply(bulk("")).is_err());
    assert!(f64::from_reply(Value::Null).is_err());
}

#[test]
fn geopos_in_both_protocols() {
    // Captured: GEOPOS g1 Palermo nonexist.
    let resp2 = decode(
        b"*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n",
    );
    let resp3 = decode(b"*2\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n");
    for reply in [resp2, resp3] {
        let positions = Vec::<Option<(f64, f64)>>::from_reply(reply).unwrap();
        assert_eq!(positions.len(), 2);
        let (lon, lat) = positions[0].unwrap();
        assert!((lon - 13.361_389).abs() < 1e-5 && (lat - 38.115_556).abs() < 1e-5);
        assert_eq!(positions[1], None);
    }
}

#[test]
fn latency_history_pairs() {
    // Captured: LATENCY HISTORY command.
    let reply = decode(b"*1\r\n*2\r\n:1795614030\r\n:66\r\n");
    assert_eq!(
        Vec::<(i64, u64)>::from_reply(reply).unwrap(),
        vec![(1_795_614_030, 66)]
    );
}

#[test]
fn nested_errors_keep_every_detail() {
    let reply = array(vec![array(vec![bulk("a"), bulk("x")])]);
    let err = Vec::<(String, i64)>::from_reply(reply).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not a decimal integer"), "{text}");
    assert!(text.contains("element 0"), "{text}");
}
