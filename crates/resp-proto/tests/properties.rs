//! Property tests: encode/decode round trips in RESP3 and RESP2, splitting at every byte,
//! concatenated replies, arbitrary and RESP-like input (through the same checks as the fuzz
//! targets), and the command encoder.

mod common;

use bytes::{Bytes, BytesMut};
use common::check::{self, Mode, Outcome};
use common::strategy;
use proptest::prelude::*;
use resp_proto::{Decoder, Limits, Protocol, Value};

/// Decodes the single reply `input` holds after encoding `value`, and compares it under `mode`.
fn decodes_as(value: &Value, input: &[u8], mode: Mode) -> Value {
    let decoded = check::decode_exactly(input, Limits::default());
    if let Err(msg) = check::compare(value, &decoded, mode) {
        panic!("{mode:?} round trip of {value:?}: {msg}");
    }
    decoded
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// RESP3 is exact (up to the documented normal form: line breaks make simple strings and
    /// errors bulk, consecutive attribute blocks merge), and canonical once decoded.
    #[test]
    fn resp3_round_trip(value in strategy::reply(4), trailing in strategy::bytes(12)) {
        let encoded = check::encode(&value, Protocol::Resp3);
        let decoded = decodes_as(&value, &encoded, Mode::Resp3);
        check::roundtrip_value(&decoded, Limits::default());
        // Whatever follows, the reply is decoded the same and consumes exactly its bytes.
        let mut input = encoded.clone();
        input.extend_from_slice(&trailing);
        let outcome = check::decode_owned(&input, Limits::default(), &[]);
        prop_assert!(!outcome.replies.is_empty());
        prop_assert_eq!(outcome.replies[0].1, encoded.len());
        prop_assert!(check::compare(&decoded, &outcome.replies[0].0, Mode::Exact).is_ok());
    }

    /// RESP2 gives the documented downgrade.
    #[test]
    fn resp2_round_trip(value in strategy::reply(4)) {
        let encoded = check::encode(&value, Protocol::Resp2);
        decodes_as(&value, &encoded, Mode::Resp2);
    }

    /// Concatenated replies decode in order, whole or in random pieces.
    #[test]
    fn concatenation_decodes_in_order(
        a in strategy::reply(3),
        b in strategy::reply(3),
        mode in 0u8..5,
        param in any::<u8>(),
    ) {
        let first = check::encode(&a, Protocol::Resp3);
        let second = check::encode(&b, Protocol::Resp3);
        let input = [first.as_slice(), second.as_slice()].concat();
        let expected = Outcome {
            replies: vec![
                (check::decode_exactly(&first, Limits::default()), first.len()),
                (check::decode_exactly(&second, Limits::default()), second.len()),
            ],
            end: Ok(()),
        };
        let cuts = check::chunking(mode, param, input.len());
        check::decode_owned(&input, Limits::default(), &cuts).assert_same(&expected, "decode");
        check::decode_borrowed(&input, Limits::default(), &cuts)
            .assert_same(&expected, "decode_frames");
    }

    /// Pipelined top-level scalars (mostly lines, whose search resumes across feeds) decode
    /// in order however they are cut.
    #[test]
    fn pipelined_scalars_in_random_pieces(
        values in proptest::collection::vec(strategy::scalar(), 1..8),
        mode in 0u8..5,
        param in any::<u8>(),
    ) {
        let encoded: Vec<Vec<u8>> =
            values.iter().map(|v| check::encode(v, Protocol::Resp3)).collect();
        let expected = Outcome {
            replies: encoded
                .iter()
                .map(|e| (check::decode_exactly(e, Limits::default()), e.len()))
                .collect(),
            end: Ok(()),
        };
        let input = encoded.concat();
        let cuts = check::chunking(mode, param, input.len());
        check::decode_owned(&input, Limits::default(), &cuts).assert_same(&expected, "decode");
        check::decode_borrowed(&input, Limits::default(), &cuts)
            .assert_same(&expected, "decode_frames");
    }

    /// Arbitrary bytes never panic, and chunking never changes the outcome: the fuzz targets'
    /// checks, with default and with tiny limits.
    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        check::parse_oneshot(&data);
        check::parse_chunked(&data);
        check::roundtrip(&data);
        check::limits(&data);
    }

    /// The same on random sequences of RESP tokens, which get much further into the decoder.
    #[test]
    fn resp_soup(soup in strategy::soup(), header in any::<[u8; 3]>(), mode in any::<u8>()) {
        check::parse_oneshot(&soup);
        check::roundtrip(&soup);
        let chunked = [&[mode, header[0]][..], &soup].concat();
        check::parse_chunked(&chunked);
        let limited = [&header[..], &soup].concat();
        check::limits(&limited);
    }

    /// A command parses back as an array of bulk strings equal to its arguments.
    #[test]
    fn encode_command_round_trip(argv in strategy::argv()) {
        let mut buf = Vec::new();
        resp_proto::encode_command(&mut buf, &argv);
        let decoded = check::decode_exactly(&buf, Limits::default());
        let expected = Value::Array(
            argv.iter().map(|a| Value::BulkString(Bytes::copy_from_slice(a))).collect(),
        );
        prop_assert!(check::compare(&expected, &decoded, Mode::Exact).is_ok());
        // The same command written piecewise with the lower-level writers.
        let mut piecewise = BytesMut::new();
        resp_proto::write_array_header(&mut piecewise, argv.len());
        for arg in &argv {
            resp_proto::write_bulk_header(&mut piecewise, arg.len());
            piecewise.extend_from_slice(arg);
            piecewise.extend_from_slice(b"\r\n");
        }
        prop_assert_eq!(&piecewise[..], &buf[..]);
    }

    /// Integer arguments are bulk strings of their decimal digits.
    #[test]
    fn bulk_integer_round_trip(n in any::<i64>()) {
        let mut buf = Vec::new();
        resp_proto::write_bulk_integer(&mut buf, n);
        let decoded = check::decode_exactly(&buf, Limits::default());
        prop_assert_eq!(decoded, Value::BulkString(n.to_string().into()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every proper prefix of a valid reply is "need more" (never an error, never a value) for
    /// a fresh decoder, through both entry points; fed in two pieces split anywhere, or byte
    /// by byte, the reply decodes as it does whole.
    #[test]
    fn split_at_every_byte(value in strategy::reply(3)) {
        let encoded = check::encode(&value, Protocol::Resp3);
        let whole = check::decode_owned(&encoded, Limits::default(), &[]);
        prop_assert_eq!(whole.replies.len(), 1);
        for at in 0..encoded.len() {
            let prefix = &encoded[..at];
            prop_assert_eq!(Decoder::new().decode_frames(prefix).map(|o| o.is_some()), Ok(false));
            let mut buf = BytesMut::from(prefix);
            prop_assert_eq!(Decoder::new().decode(&mut buf), Ok(None));
            prop_assert_eq!(buf.len(), at);
            if at > 0 {
                check::decode_owned(&encoded, Limits::default(), &[at])
                    .assert_same(&whole, "decode, split");
                check::decode_borrowed(&encoded, Limits::default(), &[at])
                    .assert_same(&whole, "decode_frames, split");
            }
        }
        let bytewise = check::bytewise_cuts(encoded.len());
        check::decode_owned(&encoded, Limits::default(), &bytewise)
            .assert_same(&whole, "decode, byte by byte");
        check::decode_borrowed(&encoded, Limits::default(), &bytewise)
            .assert_same(&whole, "decode_frames, byte by byte");
    }
}

#[test]
fn nan_aware_comparison() {
    let nan = Value::Array(vec![Value::Double(f64::NAN)].into());
    assert_ne!(nan, nan.clone(), "Value's own PartialEq: NaN != NaN");
    assert!(check::compare(&nan, &nan.clone(), Mode::Exact).is_ok());
    let zero = Value::Double(0.0);
    assert!(check::compare(&zero, &Value::Double(-0.0), Mode::Exact).is_err());
    let as_text = Value::BulkString(Bytes::from_static(b"nan"));
    assert!(check::compare(&Value::Double(f64::NAN), &as_text, Mode::Resp2).is_ok());
}
