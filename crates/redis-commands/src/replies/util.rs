//! Helpers shared by the reply types: records of named fields, text replies, lists.

use std::collections::BTreeMap;

use bytes::Bytes;
use resp_proto::Value;

use crate::reply::{ConversionError, FromReply, plain};

/// How deep a reply type that contains itself (command subcommands) may nest.
pub(crate) const MAX_NESTING: usize = 8;

/// The payload of a string-like reply (bulk, simple or verbatim string).
pub(crate) fn raw_text(value: Value, expected: &'static str) -> Result<Bytes, ConversionError> {
    match plain(value) {
        Value::BulkString(b) | Value::SimpleString(b) | Value::Verbatim { text: b, .. } => Ok(b),
        v => Err(ConversionError::new(expected, &v)),
    }
}

/// The text of a string-like reply produced by the server itself (INFO, CLIENT LIST): bytes
/// that are not UTF-8 become U+FFFD rather than failing the whole reply.
pub(crate) fn text(value: Value, expected: &'static str) -> Result<String, ConversionError> {
    raw_text(value, expected).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A scalar as text: strings, integers, doubles, booleans and big numbers. `None` for nulls
/// and aggregates.
pub(crate) fn scalar_text(value: Value) -> Option<String> {
    match plain(value) {
        Value::BulkString(b)
        | Value::SimpleString(b)
        | Value::Verbatim { text: b, .. }
        | Value::BigNumber(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Double(d) => Some(d.to_string()),
        Value::Boolean(b) => Some(if b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

/// The elements of an array or set; anything else (null included) is an error.
pub(crate) fn items(value: Value, expected: &'static str) -> Result<Vec<Value>, ConversionError> {
    match plain(value) {
        Value::Array(items) | Value::Set(items) => Ok(items.into_vec()),
        v => Err(ConversionError::new(expected, &v)),
    }
}

/// Converts a value with `T::from_reply`, naming `what` in the error.
pub(crate) fn convert<T: FromReply>(value: Value, what: &str) -> Result<T, ConversionError> {
    T::from_reply(value).map_err(|e| e.with_detail(what.to_owned()))
}

/// The entries of a map, or of a flat array of names and values (RESP2).
pub(crate) fn entries(
    value: Value,
    expected: &'static str,
) -> Result<Vec<(Value, Value)>, ConversionError> {
    match plain(value) {
        Value::Map(pairs) => Ok(pairs.into_vec()),
        Value::Array(items) | Value::Set(items) => {
            if !items.len().is_multiple_of(2) {
                return Err(ConversionError::new(expected, &Value::Array(items))
                    .with_detail("odd number of elements in a list of names and values"));
            }
            let mut iter = items.into_iter();
            let mut out = Vec::with_capacity(iter.len() / 2);
            while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
                out.push((k, v));
            }
            Ok(out)
        }
        v => Err(ConversionError::new(expected, &v)),
    }
}

/// A reply made of named fields: a RESP3 map, or a RESP2 flat array of names and values.
///
/// Reply types take the fields they know by name and keep the rest, so fields added by newer
/// servers never cause an error.
pub(crate) struct Record {
    expected: &'static str,
    fields: Vec<(String, Value)>,
}

impl Record {
    /// Reads a map or a flat list of names and values; names must be strings.
    pub(crate) fn parse(value: Value, expected: &'static str) -> Result<Self, ConversionError> {
        let fields = entries(value, expected)?
            .into_iter()
            .map(|(k, v)| {
                scalar_text(k.clone())
                    .map(|name| (name, v))
                    .ok_or_else(|| ConversionError::new(expected, &k).with_detail("field name"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Record { expected, fields })
    }

    /// Removes and returns the first field called `name`.
    pub(crate) fn take(&mut self, name: &str) -> Option<Value> {
        let at = self.fields.iter().position(|(n, _)| n == name)?;
        Some(self.fields.remove(at).1)
    }

    /// The field `name` converted to `T`; `None` when it is absent or null.
    pub(crate) fn opt<T: FromReply>(&mut self, name: &str) -> Result<Option<T>, ConversionError> {
        match self.take(name).map(plain) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::from_reply(v)
                .map(Some)
                .map_err(|e| e.with_detail(format!("field `{name}` of {}", self.expected))),
        }
    }

    /// The field `name` converted to `T`; an error when it is absent or null.
    pub(crate) fn req<T: FromReply>(&mut self, name: &str) -> Result<T, ConversionError> {
        self.opt(name)?.ok_or_else(|| self.missing(name))
    }

    /// The field `name` converted to `T`, or `T::default()` when it is absent or null.
    pub(crate) fn or_default<T: FromReply + Default>(
        &mut self,
        name: &str,
    ) -> Result<T, ConversionError> {
        Ok(self.opt(name)?.unwrap_or_default())
    }

    /// An error for a required field that is absent.
    pub(crate) fn missing(&self, name: &str) -> ConversionError {
        ConversionError::malformed(self.expected, "a reply", format!("missing field `{name}`"))
    }

    /// The fields not taken yet.
    pub(crate) fn into_rest(self) -> BTreeMap<String, Value> {
        self.fields.into_iter().collect()
    }

    /// The fields not taken yet, in reply order.
    pub(crate) fn into_fields(self) -> Vec<(String, Value)> {
        self.fields
    }
}

/// Lines of `name:value` text (INFO, CLUSTER INFO), each line split at its first colon.
///
/// Lines starting with `#` are section headers; empty lines and lines without a colon are
/// skipped.
pub(crate) fn colon_lines<'a>(text: &'a str) -> impl Iterator<Item = Line<'a>> + 'a {
    text.lines().filter_map(|line| {
        let line = line.trim_end_matches('\r');
        if let Some(header) = line.strip_prefix('#') {
            return Some(Line::Header(header.trim()));
        }
        let (name, value) = line.split_once(':')?;
        Some(Line::Field(name.trim(), value.trim_end()))
    })
}

/// One line of `name:value` text.
pub(crate) enum Line<'a> {
    /// `# Section`.
    Header(&'a str),
    /// `name:value`.
    Field(&'a str, &'a str),
}

/// Splits `a=1,b=2` into its `name=value` parts (INFO keyspace and replica lines).
pub(crate) fn comma_fields(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| part.split_once('=').unwrap_or((part, "")))
}

/// The first `N` elements of an array or set, and an iterator over the rest; fewer than `N`
/// elements is an error.
pub(crate) fn leading<const N: usize>(
    value: Value,
    expected: &'static str,
) -> Result<([Value; N], std::vec::IntoIter<Value>), ConversionError> {
    let mut all = items(value, expected)?;
    if all.len() < N {
        return Err(ConversionError::malformed(
            expected,
            "an array",
            format!("{} elements, expected at least {N}", all.len()),
        ));
    }
    let rest = all.split_off(N);
    let first = <[Value; N]>::try_from(all).map_err(|_| {
        ConversionError::malformed(expected, "an array", "too few elements".to_owned())
    })?;
    Ok((first, rest.into_iter()))
}
