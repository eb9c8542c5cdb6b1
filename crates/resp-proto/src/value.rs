//! The owned, zero-copy value tree.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::mem;
use core::ops::{Deref, DerefMut};

use bytes::Bytes;

/// A decoded RESP2 or RESP3 reply that owns its data.
///
/// Payloads are [`Bytes`] views into the buffer the reply was read into: decoding a 1 MiB bulk
/// string copies none of its bytes. Keeping one small value alive keeps that buffer alive too;
/// call [`Bytes::copy_from_slice`] on a payload you keep for long.
///
/// Dropping, decoding and encoding a value never recurse, whatever its depth (one exception:
/// a hand-built chain of `Attribute`s whose values are directly `Attribute`s drops
/// recursively; decoders merge consecutive attribute blocks and never build one). `Clone`,
/// `PartialEq` and `Debug` do recurse; they are meant for values of ordinary depth. Doubles
/// compare as floats, so a value holding NaN is not equal to itself.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use resp_proto::{Decoder, Value};
///
/// let mut buf = BytesMut::from(&b"%1\r\n+name\r\n$5\r\nredis\r\n"[..]);
/// let value = Decoder::new().decode(&mut buf)?.expect("a complete reply");
/// let Value::Map(entries) = value else { panic!("not a map") };
/// assert_eq!(entries[0].0, Value::SimpleString(Bytes::from_static(b"name")));
/// assert_eq!(entries[0].1, Value::BulkString(Bytes::from_static(b"redis")));
/// assert!(buf.is_empty());
/// # Ok::<(), resp_proto::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `+OK`: a simple string (no `\r` or `\n` inside).
    SimpleString(Bytes),
    /// `-ERR message`: a simple error, its text without the leading `-`.
    Error(Bytes),
    /// `:42`: a signed 64-bit integer.
    Integer(i64),
    /// `$3 foo`: a binary-safe string; a streamed string (`$?`) decodes to one too.
    BulkString(Bytes),
    /// `$-1`, `*-1` (RESP2) or `_` (RESP3).
    Null,
    /// `*N`: an array.
    Array(List),
    /// `%N`: a map, as its entries in wire order (keys may repeat; nothing is hashed).
    Map(Pairs),
    /// `~N`: a set, as its elements in wire order.
    Set(List),
    /// `,3.14`: a double, including infinities and NaN.
    Double(f64),
    /// `#t` or `#f`.
    Boolean(bool),
    /// `(123...`: an integer of any size, as its decimal digits with an optional `-`.
    BigNumber(Bytes),
    /// `!N message`: an error with a binary-safe message.
    BulkError(Bytes),
    /// `=N xxx:text`: text with a three-byte format hint such as `txt` or `mkd`.
    Verbatim {
        /// The format hint.
        format: [u8; 3],
        /// The text.
        text: Bytes,
    },
    /// `>N`: an out-of-band push message (pub/sub messages, invalidations, MONITOR lines).
    Push(List),
    /// `|N`: attributes describing the value that follows them on the wire.
    ///
    /// The decoder merges consecutive attribute blocks, so `value` is never itself an
    /// `Attribute` when it comes from a decoder.
    Attribute {
        /// The attribute entries.
        attributes: Pairs,
        /// The value they describe.
        value: Box<Value>,
    },
}

impl Value {
    /// The payload of a simple string, bulk string or verbatim string.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::SimpleString(b) | Value::BulkString(b) | Value::Verbatim { text: b, .. } => {
                Some(b)
            }
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The message of a simple or bulk error.
    pub fn as_error(&self) -> Option<&Bytes> {
        match self {
            Value::Error(b) | Value::BulkError(b) => Some(b),
            _ => None,
        }
    }

    /// Whether this value holds other values that themselves hold values: the case where
    /// dropping must not recurse.
    fn has_nested(&self) -> bool {
        match self {
            Value::Array(l) | Value::Set(l) | Value::Push(l) => !l.0.is_empty(),
            Value::Map(p) => !p.0.is_empty(),
            Value::Attribute { .. } => true,
            _ => false,
        }
    }

    /// Moves this value's children onto `pending`, leaving it shallow.
    fn move_children(&mut self, pending: &mut Vec<Value>) {
        match self {
            Value::Array(l) | Value::Set(l) | Value::Push(l) => pending.append(&mut l.0),
            Value::Map(p) => flatten_pairs(&mut p.0, pending),
            Value::Attribute { attributes, value } => {
                flatten_pairs(&mut attributes.0, pending);
                pending.push(mem::replace(&mut **value, Value::Null));
            }
            _ => {}
        }
    }
}

fn flatten_pairs(pairs: &mut Vec<(Value, Value)>, pending: &mut Vec<Value>) {
    pending.reserve(pairs.len() * 2);
    for (k, v) in pairs.drain(..) {
        pending.push(k);
        pending.push(v);
    }
}

/// Drops a tree of values with an explicit work list instead of recursion.
fn dismantle(mut pending: Vec<Value>) {
    while let Some(mut value) = pending.pop() {
        if value.has_nested() {
            value.move_children(&mut pending);
        }
        // `value` is shallow now; dropping it does not recurse.
    }
}

/// The elements of an array, set or push: a `Vec<Value>` that drops without recursion.
///
/// It dereferences to `Vec<Value>`; use [`List::into_vec`] or `into_iter` to take the
/// elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List(Vec<Value>);

impl List {
    /// An empty list.
    pub const fn new() -> Self {
        List(Vec::new())
    }

    /// Takes the elements out.
    pub fn into_vec(mut self) -> Vec<Value> {
        mem::take(&mut self.0)
    }
}

/// How many levels below a list or map an ordinary (recursive) drop may go. Deeper trees are
/// dismantled with a work list; shallow ones, the common case, drop the ordinary way, which is
/// cheaper. Each level of ordinary drop checks its own subtree again, so the recursion depth
/// stays bounded by this number whatever the tree.
const RECURSIVE_DROP_LEVELS: u32 = 3;

/// Whether `value` nests more than `levels` aggregates below it.
fn too_deep(value: &Value, levels: u32) -> bool {
    match value {
        Value::Array(l) | Value::Set(l) | Value::Push(l) => {
            !l.0.is_empty() && (levels == 0 || any_too_deep(&l.0, levels - 1))
        }
        Value::Map(p) => !p.0.is_empty() && (levels == 0 || pairs_too_deep(&p.0, levels - 1)),
        Value::Attribute { .. } => true,
        _ => false,
    }
}

fn any_too_deep(values: &[Value], levels: u32) -> bool {
    values.iter().any(|v| too_deep(v, levels))
}

fn pairs_too_deep(pairs: &[(Value, Value)], levels: u32) -> bool {
    pairs
        .iter()
        .any(|(k, v)| too_deep(k, levels) || too_deep(v, levels))
}

impl Drop for List {
    fn drop(&mut self) {
        if any_too_deep(&self.0, RECURSIVE_DROP_LEVELS) {
            dismantle(mem::take(&mut self.0));
        }
    }
}

impl Deref for List {
    type Target = Vec<Value>;
    fn deref(&self) -> &Vec<Value> {
        &self.0
    }
}

impl DerefMut for List {
    fn deref_mut(&mut self) -> &mut Vec<Value> {
        &mut self.0
    }
}

impl From<Vec<Value>> for List {
    fn from(values: Vec<Value>) -> Self {
        List(values)
    }
}

impl FromIterator<Value> for List {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        List(iter.into_iter().collect())
    }
}

impl IntoIterator for List {
    type Item = Value;
    type IntoIter = alloc::vec::IntoIter<Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a List {
    type Item = &'a Value;
    type IntoIter = core::slice::Iter<'a, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The entries of a map or of an attribute block: a `Vec<(Value, Value)>` that drops without
/// recursion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pairs(Vec<(Value, Value)>);

impl Pairs {
    /// No entries.
    pub const fn new() -> Self {
        Pairs(Vec::new())
    }

    /// Takes the entries out.
    pub fn into_vec(mut self) -> Vec<(Value, Value)> {
        mem::take(&mut self.0)
    }
}

impl Drop for Pairs {
    fn drop(&mut self) {
        if pairs_too_deep(&self.0, RECURSIVE_DROP_LEVELS) {
            let mut pending = Vec::new();
            flatten_pairs(&mut self.0, &mut pending);
            dismantle(pending);
        }
    }
}

impl Deref for Pairs {
    type Target = Vec<(Value, Value)>;
    fn deref(&self) -> &Vec<(Value, Value)> {
        &self.0
    }
}

impl DerefMut for Pairs {
    fn deref_mut(&mut self) -> &mut Vec<(Value, Value)> {
        &mut self.0
    }
}

impl From<Vec<(Value, Value)>> for Pairs {
    fn from(pairs: Vec<(Value, Value)>) -> Self {
        Pairs(pairs)
    }
}

impl FromIterator<(Value, Value)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (Value, Value)>>(iter: I) -> Self {
        Pairs(iter.into_iter().collect())
    }
}

impl IntoIterator for Pairs {
    type Item = (Value, Value);
    type IntoIter = alloc::vec::IntoIter<(Value, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Pairs {
    type Item = &'a (Value, Value);
    type IntoIter = core::slice::Iter<'a, (Value, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
