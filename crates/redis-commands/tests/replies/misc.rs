//! GEOSEARCH results, LCS IDX and the multi-key pops.

use bytes::Bytes;
use redis_commands::FromReply;
use redis_commands::replies::{GeoMember, LcsIdx, PoppedFrom};
use resp_proto::Value;

use super::{array, bulk, decode, int, map};

#[test]
fn geosearch_with_everything_in_both_protocols() {
    // Captured: GEOSEARCH g1 FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH;
    // the coordinates are strings in RESP2 and doubles in RESP3.
    let resp2 = decode(
        b"*2\r\n*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n*2\r\n\
$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n*4\r\n$7\r\nPalermo\r\n\
$8\r\n190.4424\r\n:3479099956230698\r\n*2\r\n$20\r\n13.36138933897018433\r\n\
$20\r\n38.11555639549629859\r\n",
    );
    let resp3 = decode(
        b"*2\r\n*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n*2\r\n\
,15.08726745843887329\r\n,37.50266842333162032\r\n*4\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n\
:3479099956230698\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n",
    );
    for reply in [resp2, resp3] {
        let found = Vec::<GeoMember>::from_reply(reply).unwrap();
        assert_eq!(found.len(), 2);
        let catania = &found[0];
        assert_eq!(catania.member, Bytes::from("Catania"));
        assert_eq!(catania.member_str(), Some("Catania"));
        assert_eq!(catania.distance, Some(56.4413));
        assert_eq!(catania.hash, Some(3_479_447_370_796_909));
        let (lon, lat) = catania.position.unwrap();
        assert!((lon - 15.087_267).abs() < 1e-5 && (lat - 37.502_668).abs() < 1e-5);
        assert_eq!(found[1].member_str(), Some("Palermo"));
        assert_eq!(found[1].distance, Some(190.4424));
    }
}

#[test]
fn geosearch_with_some_or_none_of_the_options() {
    // Captured: ... WITHDIST, and with no option at all.
    let dist = decode(
        b"*2\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n",
    );
    let found = Vec::<GeoMember>::from_reply(dist).unwrap();
    assert_eq!(found[1].distance, Some(190.4424));
    assert_eq!((found[1].hash, found[1].position), (None, None));
    let plain = decode(b"*2\r\n$7\r\nCatania\r\n$7\r\nPalermo\r\n");
    let found = Vec::<GeoMember>::from_reply(plain).unwrap();
    assert_eq!(found[0].member_str(), Some("Catania"));
    assert_eq!(found[0].distance, None);
    // WITHHASH and WITHCOORD without WITHDIST, and a RESP3 double distance.
    let hash_coord = array(vec![
        bulk("m"),
        int(42),
        array(vec![Value::Double(1.5), Value::Double(2.5)]),
    ]);
    let m = GeoMember::from_reply(hash_coord).unwrap();
    assert_eq!(
        (m.distance, m.hash, m.position),
        (None, Some(42), Some((1.5, 2.5)))
    );
    let m = GeoMember::from_reply(array(vec![bulk("m"), Value::Double(0.25)])).unwrap();
    assert_eq!(m.distance, Some(0.25));
    // Malformed.
    assert!(GeoMember::from_reply(array(vec![])).is_err());
    assert!(GeoMember::from_reply(array(vec![bulk("m"), bulk("far")])).is_err());
    assert!(GeoMember::from_reply(array(vec![bulk("m"), array(vec![bulk("1")])])).is_err());
    assert!(GeoMember::from_reply(Value::Null).is_err());
}

#[test]
fn lcs_idx_in_both_protocols() {
    // Captured: LCS k1 k2 IDX MINMATCHLEN 4 WITHMATCHLEN (RESP2), LCS k1 k2 IDX (RESP3).
    let resp2 = decode(
        b"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
$3\r\nlen\r\n:6\r\n",
    );
    let lcs = LcsIdx::from_reply(resp2).unwrap();
    assert_eq!(lcs.len, 6);
    assert_eq!(lcs.matches.len(), 1);
    assert_eq!((lcs.matches[0].key1, lcs.matches[0].key2), ((4, 7), (5, 8)));
    assert_eq!(lcs.matches[0].len, Some(4));
    let resp3 = decode(
        b"%2\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n\
:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n",
    );
    let lcs = LcsIdx::from_reply(resp3).unwrap();
    assert_eq!(lcs.matches.len(), 2);
    assert_eq!((lcs.matches[1].key1, lcs.matches[1].key2), ((2, 3), (0, 1)));
    assert_eq!(lcs.matches[1].len, None);
    assert!(LcsIdx::from_reply(map(vec![(bulk("matches"), array(vec![]))])).is_err());
    assert!(LcsIdx::from_reply(bulk("mytext")).is_err());
}

#[test]
fn lmpop_and_zmpop_in_both_protocols() {
    // Captured: LMPOP 1 l LEFT COUNT 2.
    let popped = Option::<PoppedFrom<String>>::from_reply(decode(
        b"*2\r\n$1\r\nl\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(popped.key, "l");
    assert_eq!(popped.values, ["a", "b"]);
    // Captured: ZMPOP 1 z MIN COUNT 2, in RESP2 (string scores) and RESP3 (doubles).
    let resp2 =
        decode(b"*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    let z = PoppedFrom::<(String, f64)>::from_reply(resp2).unwrap();
    assert_eq!(z.key, "z");
    assert_eq!(z.values, [("a".to_owned(), 1.0), ("b".to_owned(), 2.0)]);
    let resp3 = decode(b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n,3.5\r\n");
    let z = PoppedFrom::<(String, f64)>::from_reply(resp3).unwrap();
    assert_eq!(z.values, [("c".to_owned(), 3.5)]);
    // Captured: nothing to pop, RESP2 (*-1) and RESP3 (_).
    for reply in [decode(b"*-1\r\n"), decode(b"_\r\n")] {
        assert_eq!(
            Option::<PoppedFrom<String>>::from_reply(reply).unwrap(),
            None
        );
    }
    assert!(PoppedFrom::<String>::from_reply(array(vec![bulk("k")])).is_err());
}
