//! Runs every vector of `testdata/vectors.txt` through every decode entry point (see
//! `common/tester.rs`), and checks that the table covers every type and every error kind.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::tester::run_vector;
use common::vectors::{self, Expected};
use resp_proto::ErrorKind;

#[test]
fn every_vector_through_every_entry_point() {
    let table = vectors::load();
    assert!(table.len() >= 200, "only {} vectors", table.len());
    let mut failures = Vec::new();
    for vector in &table {
        if catch_unwind(AssertUnwindSafe(|| run_vector(vector))).is_err() {
            failures.push(format!("{} (line {})", vector.name, vector.line));
        }
    }
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn table_covers_every_error_kind() {
    let table = vectors::load();
    let kinds = [
        ErrorKind::UnknownType(b'@'),
        ErrorKind::InvalidLength,
        ErrorKind::InvalidInteger,
        ErrorKind::InvalidDouble,
        ErrorKind::InvalidBoolean,
        ErrorKind::InvalidBigNumber,
        ErrorKind::InvalidNull,
        ErrorKind::InvalidVerbatim,
        ErrorKind::MissingCrlf,
        ErrorKind::InvalidLine,
        ErrorKind::LineTooLong,
        ErrorKind::BulkTooLong,
        ErrorKind::AggregateTooLong,
        ErrorKind::TooDeep,
        ErrorKind::NestedPush,
        ErrorKind::UnexpectedStreamMarker,
        ErrorKind::IncompleteMapEntry,
    ];
    for kind in kinds {
        assert!(
            table
                .iter()
                .any(|v| matches!(v.expected, Expected::Error(k, _) if k == kind)),
            "no vector expects {kind:?}"
        );
    }
}

#[test]
fn table_covers_every_type_marker() {
    let table = vectors::load();
    for marker in b"+-:$_*%~,#(!=>|;." {
        assert!(
            table
                .iter()
                .any(|v| { matches!(v.expected, Expected::Value(_)) && v.input.contains(marker) }),
            "no valid vector uses '{}'",
            *marker as char
        );
    }
}

#[test]
fn notation_and_escapes_parse() {
    let table = vectors::parse_table(concat!(
        "# a comment\n",
        "\n",
        r#"a | \{3,ab}\x41\\ | *[+"x\r\n", |{:1: ,nan} ="txt" "t", %{}] | depth=3 bulk=4"#,
        "\n",
        "b | x | UnknownType(0x78)@0\n",
        "c | $1\\r\\n | more\n",
    ));
    assert_eq!(table.len(), 3);
    assert_eq!(table[0].input, b"abababA\\");
    assert_eq!(table[0].limits.depth(), 3);
    assert_eq!(table[0].limits.bulk_len(), 4);
    assert!(matches!(&table[0].expected, Expected::Value(v) if format!("{v:?}").contains("NaN")));
    assert!(matches!(
        table[1].expected,
        Expected::Error(ErrorKind::UnknownType(b'x'), 0)
    ));
    assert!(matches!(table[2].expected, Expected::More));
}

#[test]
fn tester_rejects_wrong_expectations() {
    // The tester must notice a wrong value, a wrong error, a wrong offset and a wrong length.
    let wrong = vectors::parse_table(concat!(
        "value | :1\\r\\n | :2\n",
        "kind | :x\\r\\n | InvalidLength@1\n",
        "offset | :x\\r\\n | InvalidInteger@2\n",
        "length | :1\\r\\n:2\\r\\n | :1\n",
        "not_more | :1\\r\\n | more\n",
        "not_value | :1\\r | :1\n",
    ));
    assert_eq!(wrong.len(), 6);
    // The panic messages are captured by the test harness and shown only if this test fails.
    let caught: Vec<bool> = wrong
        .iter()
        .map(|v| catch_unwind(AssertUnwindSafe(|| run_vector(v))).is_err())
        .collect();
    assert_eq!(caught, [true; 6]);
}
