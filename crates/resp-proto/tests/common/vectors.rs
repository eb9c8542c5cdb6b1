//! Reads the test-vector table `testdata/vectors.txt`.
//!
//! The file format (also described at the top of the file itself): one vector a line,
//! `name | input | expected` with an optional fourth column `| limits`; blank lines and lines
//! starting with `#` are ignored.
//!
//! * `input` is the wire bytes with the escapes `\r`, `\n`, `\t`, `\\`, `\xNN`, and
//!   `\{N,text}` for `text` repeated N times (text without escapes or `}`).
//! * `expected` is `more` (the input is an incomplete reply), `Kind@offset` for an error (for
//!   example `TooDeep@4096`, `UnknownType(0x40)@0`), or a value in a notation that mirrors the
//!   wire markers:
//!   `+"OK"` simple string, `-"ERR x"` error, `:42` integer, `$"foo"` bulk string, `_` null,
//!   `,1.5` / `,inf` / `,-inf` / `,nan` double, `#t` / `#f`, `("123"` big number, `!"E"` bulk
//!   error, `="txt" "text"` verbatim, `*[v, v]` array, `~[v]` set, `>[v]` push,
//!   `%{k: v, k: v}` map, and `|{k: v} v` an attribute block and the value it describes.
//!   Strings take the same escapes as the input column.
//! * `limits` is space-separated `depth=N`, `bulk=N`, `aggregate=N`; unnamed limits keep their
//!   defaults.

use bytes::Bytes;
use resp_proto::{ErrorKind, Limits, List, Pairs, Value};

/// What decoding a vector's input must give.
#[derive(Debug)]
pub(crate) enum Expected {
    /// One complete reply, exactly the whole input.
    Value(Value),
    /// An error of this kind at this offset.
    Error(ErrorKind, usize),
    /// The input is an incomplete reply.
    More,
}

/// One line of the table.
#[derive(Debug)]
pub(crate) struct Vector {
    /// Its name, unique in the table.
    pub(crate) name: String,
    /// Its line number, for messages.
    pub(crate) line: usize,
    /// The wire bytes.
    pub(crate) input: Vec<u8>,
    /// The outcome.
    pub(crate) expected: Expected,
    /// The limits to decode with.
    pub(crate) limits: Limits,
}

/// The path of the vector table.
pub(crate) fn table_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors.txt")
}

/// Reads and parses the whole table; panics with the line number on a malformed line.
pub(crate) fn load() -> Vec<Vector> {
    let path = table_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let vectors = parse_table(&text);
    let mut names: Vec<&str> = vectors.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        panic!("vector name {} is used twice", pair[0]);
    }
    vectors
}

/// Parses the text of a table.
pub(crate) fn parse_table(text: &str) -> Vec<Vector> {
    let mut vectors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let columns: Vec<&str> = trimmed.splitn(4, " | ").map(str::trim).collect();
        let [name, input, expected, rest @ ..] = columns.as_slice() else {
            panic!("line {line}: expected `name | input | expected [| limits]`");
        };
        let fail = |what: &str, err: String| -> ! { panic!("line {line} ({name}): {what}: {err}") };
        let input = unescape(input).unwrap_or_else(|e| fail("input", e));
        let expected = parse_expected(expected).unwrap_or_else(|e| fail("expected", e));
        let limits = match rest {
            [] => Limits::default(),
            [limits] => parse_limits(limits).unwrap_or_else(|e| fail("limits", e)),
            _ => fail("columns", "too many".into()),
        };
        vectors.push(Vector {
            name: (*name).to_owned(),
            line,
            input,
            expected,
            limits,
        });
    }
    vectors
}

fn parse_limits(text: &str) -> Result<Limits, String> {
    let mut limits = Limits::default();
    for item in text.split_whitespace() {
        let (key, value) = item.split_once('=').ok_or(format!("bad item {item}"))?;
        let value: usize = value.parse().map_err(|e| format!("{item}: {e}"))?;
        limits = match key {
            "depth" => limits.max_depth(value),
            "bulk" => limits.max_bulk_len(value),
            "aggregate" => limits.max_aggregate_len(value),
            _ => return Err(format!("unknown limit {key}")),
        };
    }
    Ok(limits)
}

/// Decodes the escapes of the input column and of quoted strings.
pub(crate) fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let Some(&escape) = bytes.get(i + 1) else {
            return Err("a trailing backslash".into());
        };
        i += 2;
        match escape {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'x' => {
                let hex = text.get(i..i + 2).ok_or("a short \\x escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| format!("\\x{hex}: {e}"))?);
                i += 2;
            }
            b'{' => {
                let end = text[i..].find('}').ok_or("an unclosed \\{")? + i;
                let (count, unit) = text[i..end]
                    .split_once(',')
                    .ok_or("\\{N,text} needs a comma")?;
                let count: usize = count.parse().map_err(|e| format!("\\{{{count}: {e}"))?;
                let unit = unescape(unit)?;
                for _ in 0..count {
                    out.extend_from_slice(&unit);
                }
                i = end + 1;
            }
            other => return Err(format!("unknown escape \\{}", other as char)),
        }
    }
    Ok(out)
}

fn parse_expected(text: &str) -> Result<Expected, String> {
    if text == "more" {
        return Ok(Expected::More);
    }
    if text.starts_with(|c: char| c.is_ascii_uppercase()) {
        let (kind, offset) = text.split_once('@').ok_or("an error needs @offset")?;
        let offset = offset
            .parse()
            .map_err(|e| format!("offset {offset}: {e}"))?;
        return Ok(Expected::Error(parse_kind(kind)?, offset));
    }
    let mut parser = Notation {
        text: text.as_bytes(),
        pos: 0,
    };
    let value = parser.value()?;
    parser.skip_space();
    if parser.pos != parser.text.len() {
        return Err(format!("trailing text at {}", parser.pos));
    }
    Ok(Expected::Value(value))
}

fn parse_kind(text: &str) -> Result<ErrorKind, String> {
    if let Some(byte) = text
        .strip_prefix("UnknownType(0x")
        .and_then(|t| t.strip_suffix(')'))
    {
        let byte = u8::from_str_radix(byte, 16).map_err(|e| format!("{text}: {e}"))?;
        return Ok(ErrorKind::UnknownType(byte));
    }
    Ok(match text {
        "InvalidLength" => ErrorKind::InvalidLength,
        "InvalidInteger" => ErrorKind::InvalidInteger,
        "InvalidDouble" => ErrorKind::InvalidDouble,
        "InvalidBoolean" => ErrorKind::InvalidBoolean,
        "InvalidBigNumber" => ErrorKind::InvalidBigNumber,
        "InvalidNull" => ErrorKind::InvalidNull,
        "InvalidVerbatim" => ErrorKind::InvalidVerbatim,
        "MissingCrlf" => ErrorKind::MissingCrlf,
        "InvalidLine" => ErrorKind::InvalidLine,
        "LineTooLong" => ErrorKind::LineTooLong,
        "BulkTooLong" => ErrorKind::BulkTooLong,
        "AggregateTooLong" => ErrorKind::AggregateTooLong,
        "TooDeep" => ErrorKind::TooDeep,
        "NestedPush" => ErrorKind::NestedPush,
        "UnexpectedStreamMarker" => ErrorKind::UnexpectedStreamMarker,
        "IncompleteMapEntry" => ErrorKind::IncompleteMapEntry,
        _ => return Err(format!("unknown error kind {text}")),
    })
}

/// A recursive-descent reader of the value notation; vectors are shallow.
struct Notation<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Notation<'_> {
    fn skip_space(&mut self) {
        while self.text.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", byte as char, self.pos))
        }
    }

    /// A run of characters that can make up a number: sign, digits, letters, '.'.
    fn word(&mut self) -> Result<&str, String> {
        let start = self.pos;
        while self
            .text
            .get(self.pos)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            self.pos += 1;
        }
        std::str::from_utf8(&self.text[start..self.pos]).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<Bytes, String> {
        self.expect(b'"')?;
        let start = self.pos;
        // The loop ends at the closing quote or the end of the text.
        while let Some(&b) = self.text.get(self.pos) {
            match b {
                b'"' => break,
                b'\\' => self.pos += 2,
                _ => self.pos += 1,
            }
        }
        if self.text.get(self.pos) != Some(&b'"') {
            return Err("an unterminated string".into());
        }
        let raw = std::str::from_utf8(&self.text[start..self.pos]).map_err(|e| e.to_string())?;
        self.pos += 1;
        Ok(unescape(raw)?.into())
    }

    fn values(&mut self, close: u8) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => {
                    return Err(format!(
                        "expected ',' or '{}' at {}",
                        close as char, self.pos
                    ));
                }
            }
        }
    }

    fn pairs(&mut self) -> Result<Vec<(Value, Value)>, String> {
        self.expect(b'{')?;
        let mut pairs = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(pairs);
        }
        loop {
            let key = self.value()?;
            self.expect(b':')?;
            let value = self.value()?;
            pairs.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(pairs);
                }
                _ => return Err(format!("expected ',' or '}}' at {}", self.pos)),
            }
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        let marker = self.peek().ok_or("a value is missing")?;
        self.pos += 1;
        Ok(match marker {
            b'+' => Value::SimpleString(self.string()?),
            b'-' => Value::Error(self.string()?),
            b'$' => Value::BulkString(self.string()?),
            b'(' => Value::BigNumber(self.string()?),
            b'!' => Value::BulkError(self.string()?),
            b'=' => {
                let format = self.string()?;
                let format: [u8; 3] = format[..]
                    .try_into()
                    .map_err(|_| "a verbatim format has three bytes")?;
                Value::Verbatim {
                    format,
                    text: self.string()?,
                }
            }
            b':' => {
                let word = self.word()?;
                Value::Integer(word.parse().map_err(|e| format!("integer {word}: {e}"))?)
            }
            b',' => {
                let word = self.word()?;
                Value::Double(word.parse().map_err(|e| format!("double {word}: {e}"))?)
            }
            b'_' => Value::Null,
            b'#' => match self.word()? {
                "t" => Value::Boolean(true),
                "f" => Value::Boolean(false),
                other => return Err(format!("boolean {other}")),
            },
            b'*' => {
                self.expect(b'[')?;
                Value::Array(List::from(self.values(b']')?))
            }
            b'~' => {
                self.expect(b'[')?;
                Value::Set(List::from(self.values(b']')?))
            }
            b'>' => {
                self.expect(b'[')?;
                Value::Push(List::from(self.values(b']')?))
            }
            b'%' => Value::Map(Pairs::from(self.pairs()?)),
            b'|' => {
                let attributes = Pairs::from(self.pairs()?);
                Value::Attribute {
                    attributes,
                    value: Box::new(self.value()?),
                }
            }
            other => {
                return Err(format!(
                    "unknown marker '{}' at {}",
                    other as char, self.pos
                ));
            }
        })
    }
}
