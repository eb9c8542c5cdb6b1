//! Replies: how a decoded [`Value`] becomes the Rust type a caller asks for.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use bytes::Bytes;
use resp_proto::Value;

/// A reply that does not have the shape of the requested type.
///
/// The whole reply was read before conversion, so the connection stays aligned and usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot convert {got} reply to {expected}{detail}")]
pub struct ConversionError {
    expected: &'static str,
    got: &'static str,
    detail: String,
}

impl ConversionError {
    /// An error for a reply `value` that cannot become `expected`.
    pub fn new(expected: &'static str, value: &Value) -> Self {
        ConversionError {
            expected,
            got: shape(value),
            detail: String::new(),
        }
    }

    /// Adds a detail (which element, what was wrong).
    ///
    /// Details accumulate from the innermost to the outermost, so the message of a nested
    /// reply says what was wrong first and then where it was.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        match self.detail.strip_suffix(')') {
            Some(previous) => self.detail = format!("{previous}; {detail})"),
            None => self.detail = format!(" ({detail})"),
        }
        self
    }

    /// An error for a reply whose shape is right but whose contents are not (a missing field,
    /// a line that does not parse), where there is no single offending value to name.
    pub(crate) fn malformed(
        expected: &'static str,
        got: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ConversionError {
            expected,
            got,
            detail: String::new(),
        }
        .with_detail(detail)
    }

    /// The type the caller asked for.
    pub fn expected(&self) -> &'static str {
        self.expected
    }

    /// The shape of the reply the server sent.
    pub fn got(&self) -> &'static str {
        self.got
    }
}

/// The shape of a reply, for messages.
pub fn shape(value: &Value) -> &'static str {
    match value {
        Value::SimpleString(_) => "a simple string",
        Value::Error(_) | Value::BulkError(_) => "an error",
        Value::Integer(_) => "an integer",
        Value::BulkString(_) => "a bulk string",
        Value::Null => "a null",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        Value::Set(_) => "a set",
        Value::Double(_) => "a double",
        Value::Boolean(_) => "a boolean",
        Value::BigNumber(_) => "a big number",
        Value::Verbatim { .. } => "a verbatim string",
        Value::Push(_) => "a push message",
        Value::Attribute { .. } => "an attributed value",
        _ => "an unknown",
    }
}

/// A type a reply can be converted to.
///
/// Conversions are strict where it protects the caller (a non-UTF-8 bulk string is not a
/// `String`, an integer out of range is an error, not a wrap) and lenient where Redis is (an
/// integer may arrive as a bulk string of digits, a map as a flat array of keys and values in
/// RESP2). Attributes are ignored: the value they describe is converted.
pub trait FromReply: Sized {
    /// Converts a reply.
    fn from_reply(value: Value) -> Result<Self, ConversionError>;

    /// Converts the elements of an array or set reply, for `Vec<Self>`.
    ///
    /// The default converts each element with [`FromReply::from_reply`]. Pairs override it to
    /// accept both the RESP3 shape (`[[a, b], [a, b]]`) and the flat RESP2 shape
    /// (`[a, b, a, b]`); a type can also skip elements (a stream entry skips nulls).
    #[doc(hidden)]
    fn from_reply_list(items: Vec<Value>) -> Result<Vec<Self>, ConversionError> {
        convert_each(items)
    }

    /// Converts the entries of a map reply, for `Vec<Self>`.
    ///
    /// The default flattens the entries into keys and values in order and calls
    /// [`FromReply::from_reply_list`]; pairs override it to convert each entry.
    #[doc(hidden)]
    fn from_reply_map(entries: Vec<(Value, Value)>) -> Result<Vec<Self>, ConversionError> {
        Self::from_reply_list(entries.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

/// Unwraps attributes, which describe a value without changing it.
///
/// Inlined: every conversion starts here, and almost no reply carries an attribute.
#[inline]
pub(crate) fn plain(value: Value) -> Value {
    match value {
        Value::Attribute { .. } => without_attributes(value),
        value => value,
    }
}

fn without_attributes(value: Value) -> Value {
    let mut value = value;
    while let Value::Attribute { value: inner, .. } = value {
        value = *inner;
    }
    value
}

/// Converts each element of a list, taking bulk strings (nearly every element of LRANGE,
/// MGET, HGETALL or SMEMBERS) with `bulk` and anything else with `T::from_reply`.
///
/// The elements are moved out of the list, and the result reuses its allocation.
#[inline]
fn convert_bulk_each<T: FromReply>(
    items: Vec<Value>,
    bulk: impl Fn(Bytes) -> Result<T, ConversionError>,
) -> Result<Vec<T>, ConversionError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            match v {
                Value::BulkString(b) => bulk(b),
                v => T::from_reply(v),
            }
            .map_err(|e| e.with_detail(format!("element {i}")))
        })
        .collect()
}

impl FromReply for Value {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        Ok(value)
    }
}

/// Any reply but an error; for commands whose reply carries nothing (`OK`).
impl FromReply for () {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        match plain(value) {
            v @ (Value::Error(_) | Value::BulkError(_)) => Err(ConversionError::new("()", &v)),
            _ => Ok(()),
        }
    }
}

fn integer(value: Value, expected: &'static str) -> Result<i128, ConversionError> {
    match plain(value) {
        Value::Integer(i) => Ok(i128::from(i)),
        Value::Boolean(b) => Ok(i128::from(b)),
        v @ (Value::BulkString(_) | Value::SimpleString(_) | Value::BigNumber(_)) => {
            let text = v.as_bytes().map(|b| &b[..]).or(match &v {
                Value::BigNumber(b) => Some(&b[..]),
                _ => None,
            });
            text.and_then(|t| std::str::from_utf8(t).ok())
                .and_then(|t| t.parse::<i128>().ok())
                .ok_or_else(|| {
                    ConversionError::new(expected, &v).with_detail("not a decimal integer")
                })
        }
        v => Err(ConversionError::new(expected, &v)),
    }
}

/// An integer reply in the range of `T`.
fn ranged<T: TryFrom<i128>>(value: Value, expected: &'static str) -> Result<T, ConversionError> {
    let i = integer(value, expected)?;
    T::try_from(i).map_err(|_| {
        ConversionError::new(expected, &Value::Integer(0))
            .with_detail(format!("{i} is out of range"))
    })
}

impl FromReply for i64 {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        ranged(value, "i64")
    }
}

impl FromReply for u64 {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        ranged(value, "u64")
    }
}

impl FromReply for i32 {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        ranged(value, "i32")
    }
}

impl FromReply for u32 {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        ranged(value, "u32")
    }
}

impl FromReply for u16 {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        ranged(value, "u16")
    }
}

impl FromReply for usize {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        ranged(value, "usize")
    }
}

impl FromReply for isize {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        ranged(value, "isize")
    }
}

/// `1`/`0` integers, RESP3 booleans, and `OK` as true.
impl FromReply for bool {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        match plain(value) {
            Value::Boolean(b) => Ok(b),
            Value::Integer(0) => Ok(false),
            Value::Integer(1) => Ok(true),
            Value::SimpleString(s) if &s[..] == b"OK" => Ok(true),
            Value::Null => Ok(false),
            v => Err(ConversionError::new("bool", &v)),
        }
    }
}

/// RESP3 doubles, integers, and strings of a decimal number (`3.5`, `1e3`) or of an infinity
/// (`inf`, `+inf`, `-inf`, as sorted-set scores arrive in RESP2). A string `nan` is an error;
/// a RESP3 double is taken as sent.
impl FromReply for f64 {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        match plain(value) {
            Value::Double(d) => Ok(d),
            Value::Integer(i) => Ok(i as f64),
            v @ (Value::BulkString(_) | Value::SimpleString(_) | Value::Verbatim { .. }) => {
                let text = v.as_bytes().and_then(|t| std::str::from_utf8(t).ok());
                text.and_then(|t| t.parse::<f64>().ok())
                    .filter(|d| !d.is_nan())
                    .ok_or_else(|| ConversionError::new("f64", &v).with_detail("not a number"))
            }
            v => Err(ConversionError::new("f64", &v)),
        }
    }
}

impl FromReply for Bytes {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        match plain(value) {
            Value::BulkString(b) | Value::SimpleString(b) | Value::BigNumber(b) => Ok(b),
            Value::Verbatim { text, .. } => Ok(text),
            Value::Integer(i) => Ok(Bytes::from(i.to_string())),
            Value::Double(d) => Ok(Bytes::from(format!("{d:?}"))),
            v => Err(ConversionError::new("bytes", &v)),
        }
    }

    fn from_reply_list(items: Vec<Value>) -> Result<Vec<Self>, ConversionError> {
        convert_bulk_each(items, Ok)
    }
}

impl FromReply for Vec<u8> {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        Bytes::from_reply(value).map(Vec::from)
    }

    fn from_reply_list(items: Vec<Value>) -> Result<Vec<Self>, ConversionError> {
        convert_bulk_each(items, |b| Ok(Vec::from(b)))
    }
}

/// A `String` of the bytes, or the error that says what to ask for instead.
fn utf8(bytes: Bytes) -> Result<String, ConversionError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        ConversionError::new("String", &Value::BulkString(Bytes::new()))
            .with_detail("not valid UTF-8; ask for Vec<u8> or Bytes")
    })
}

impl FromReply for String {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        Bytes::from_reply(value).and_then(utf8)
    }

    fn from_reply_list(items: Vec<Value>) -> Result<Vec<Self>, ConversionError> {
        convert_bulk_each(items, utf8)
    }
}

/// `None` for a null reply, the converted value otherwise.
impl<T: FromReply> FromReply for Option<T> {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        match plain(value) {
            Value::Null => Ok(None),
            v => T::from_reply(v).map(Some),
        }
    }
}

/// The elements of an array, set or push; a map becomes its keys and values in order; a null
/// becomes an empty vector.
pub(crate) fn elements(
    value: Value,
    expected: &'static str,
) -> Result<Vec<Value>, ConversionError> {
    match plain(value) {
        Value::Array(items) | Value::Set(items) | Value::Push(items) => Ok(items.into_vec()),
        Value::Map(pairs) => Ok(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Value::Null => Ok(Vec::new()),
        v => Err(ConversionError::new(expected, &v)),
    }
}

fn convert_each<T: FromReply>(items: Vec<Value>) -> Result<Vec<T>, ConversionError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| T::from_reply(v).map_err(|e| e.with_detail(format!("element {i}"))))
        .collect()
}

/// The elements of an array, set or push, or the keys and values of a map; a null is empty.
///
/// `Vec<(A, B)>` reads pairs from every shape Redis uses for them: a map (RESP3 `CONFIG GET`),
/// an array of two-element arrays (RESP3 `ZRANGE ... WITHSCORES`, `HRANDFIELD ... WITHVALUES`)
/// and a flat array of alternating elements (their RESP2 forms).
impl<T: FromReply> FromReply for Vec<T> {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        match plain(value) {
            Value::Map(entries) => T::from_reply_map(entries.into_vec()),
            v => T::from_reply_list(elements(v, "Vec")?),
        }
    }
}

/// Entries of a map, or of a flat array of keys and values (RESP2).
fn pairs<K: FromReply, V: FromReply>(
    value: Value,
    expected: &'static str,
) -> Result<Vec<(K, V)>, ConversionError> {
    let entries: Vec<(Value, Value)> = match plain(value) {
        Value::Map(pairs) => pairs.into_vec(),
        Value::Null => Vec::new(),
        v @ (Value::Array(_) | Value::Set(_)) => {
            let items = elements(v, expected)?;
            if !items.len().is_multiple_of(2) {
                return Err(ConversionError::new(expected, &Value::Array(items.into()))
                    .with_detail("odd number of elements"));
            }
            let mut iter = items.into_iter();
            let mut entries = Vec::with_capacity(iter.len() / 2);
            while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
                entries.push((k, v));
            }
            entries
        }
        v => return Err(ConversionError::new(expected, &v)),
    };
    entries
        .into_iter()
        .map(|(k, v)| Ok((K::from_reply(k)?, V::from_reply(v)?)))
        .collect()
}

impl<K: FromReply + Eq + Hash, V: FromReply, S: BuildHasher + Default> FromReply
    for HashMap<K, V, S>
{
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        Ok(pairs::<K, V>(value, "HashMap")?.into_iter().collect())
    }
}

impl<K: FromReply + Ord, V: FromReply> FromReply for BTreeMap<K, V> {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        Ok(pairs::<K, V>(value, "BTreeMap")?.into_iter().collect())
    }
}

impl<T: FromReply + Eq + Hash, S: BuildHasher + Default> FromReply for HashSet<T, S> {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        Ok(convert_each::<T>(elements(value, "HashSet")?)?
            .into_iter()
            .collect())
    }
}

impl<T: FromReply + Ord> FromReply for BTreeSet<T> {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        Ok(convert_each::<T>(elements(value, "BTreeSet")?)?
            .into_iter()
            .collect())
    }
}

fn exactly<const N: usize>(value: Value) -> Result<[Value; N], ConversionError> {
    let items = elements(value, "tuple")?;
    let len = items.len();
    <[Value; N]>::try_from(items).map_err(|items| {
        ConversionError::new("tuple", &Value::Array(items.into()))
            .with_detail(format!("{len} elements, expected {N}"))
    })
}

/// Whether a reply is an aggregate that can hold a pair (looking through attributes).
fn is_aggregate(value: &Value) -> bool {
    let mut value = value;
    while let Value::Attribute { value: inner, .. } = value {
        value = inner;
    }
    matches!(value, Value::Array(_) | Value::Map(_) | Value::Set(_))
}

fn pair<A: FromReply, B: FromReply>(a: Value, b: Value) -> Result<(A, B), ConversionError> {
    Ok((A::from_reply(a)?, B::from_reply(b)?))
}

/// A two-element array or set, or a map of one entry.
///
/// In a list, pairs come either one aggregate per pair (`[[a, b], [a, b]]`, RESP3) or flat
/// (`[a, b, a, b]`, RESP2): when the first element is an aggregate, each element is a pair;
/// otherwise the list is read two elements at a time, and an odd length is an error.
/// A one-element array (a pipeline of one command).
impl<A: FromReply> FromReply for (A,) {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let [a] = exactly::<1>(value)?;
        Ok((A::from_reply(a)?,))
    }
}

impl<A: FromReply, B: FromReply> FromReply for (A, B) {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let [a, b] = exactly::<2>(value)?;
        pair(a, b)
    }

    fn from_reply_list(items: Vec<Value>) -> Result<Vec<Self>, ConversionError> {
        if items.first().is_some_and(is_aggregate) {
            return convert_each(items);
        }
        if !items.len().is_multiple_of(2) {
            return Err(ConversionError::new("pairs", &Value::Array(items.into()))
                .with_detail("odd number of elements"));
        }
        let mut iter = items.into_iter();
        let mut out = Vec::with_capacity(iter.len() / 2);
        while let (Some(a), Some(b)) = (iter.next(), iter.next()) {
            let index = out.len();
            out.push(pair(a, b).map_err(|e| e.with_detail(format!("pair {index}")))?);
        }
        Ok(out)
    }

    fn from_reply_map(entries: Vec<(Value, Value)>) -> Result<Vec<Self>, ConversionError> {
        entries
            .into_iter()
            .enumerate()
            .map(|(i, (a, b))| pair(a, b).map_err(|e| e.with_detail(format!("entry {i}"))))
            .collect()
    }
}

impl<A: FromReply, B: FromReply, C: FromReply> FromReply for (A, B, C) {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let [a, b, c] = exactly::<3>(value)?;
        Ok((A::from_reply(a)?, B::from_reply(b)?, C::from_reply(c)?))
    }
}

impl<A: FromReply, B: FromReply, C: FromReply, D: FromReply> FromReply for (A, B, C, D) {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let [a, b, c, d] = exactly::<4>(value)?;
        Ok((
            A::from_reply(a)?,
            B::from_reply(b)?,
            C::from_reply(c)?,
            D::from_reply(d)?,
        ))
    }
}
