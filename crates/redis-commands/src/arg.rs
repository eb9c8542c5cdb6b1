//! Arguments: how Rust values become the bulk strings of a command.

use bytes::Bytes;

/// A value that is one argument of a command: bytes, strings and numbers.
///
/// `bool` is deliberately not an argument (Redis has no booleans in commands, and `true`
/// could mean `1`, `"true"` or a flag); pass `1`/`0` or the option's token. `u8` is not one
/// either, so that `Vec<u8>` always means bytes.
///
/// ```
/// use redis_commands::cmd;
///
/// let mut c = cmd("SET");
/// c.arg("key").arg(&b"bytes"[..]).arg(7).arg(2.5).arg(String::from("owned"));
/// assert_eq!(c.len(), 6);
/// ```
///
/// ```compile_fail
/// use redis_commands::cmd;
///
/// cmd("SET").arg("key").arg(true); // a bool is not an argument
/// ```
pub trait ToArg {
    /// Appends this value to `out` as one RESP bulk string.
    fn write_arg(&self, out: &mut Vec<u8>);
}

/// Values that are any number of arguments: one [`ToArg`], or a slice, array or `Vec` of them.
pub trait ToArgs {
    /// Appends every argument to `out` as bulk strings and returns how many there were.
    fn write_args(&self, out: &mut Vec<u8>) -> usize;

    /// How many arguments [`write_args`](Self::write_args) writes (for counts such as
    /// `numkeys` that go before the arguments).
    fn arg_count(&self) -> usize;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn write_arg(&self, out: &mut Vec<u8>) {
        (**self).write_arg(out);
    }
}

impl ToArg for [u8] {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk(out, self);
    }
}

impl<const N: usize> ToArg for [u8; N] {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk(out, self);
    }
}

impl ToArg for Vec<u8> {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk(out, self);
    }
}

impl ToArg for Bytes {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk(out, self);
    }
}

impl ToArg for str {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk(out, self.as_bytes());
    }
}

impl ToArg for String {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk(out, self.as_bytes());
    }
}

impl ToArg for i64 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk_integer(out, *self);
    }
}

impl ToArg for u64 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        match i64::try_from(*self) {
            Ok(n) => resp_proto::write_bulk_integer(out, n),
            Err(_) => resp_proto::write_bulk(out, self.to_string().as_bytes()),
        }
    }
}

impl ToArg for usize {
    fn write_arg(&self, out: &mut Vec<u8>) {
        (*self as u64).write_arg(out);
    }
}

impl ToArg for isize {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk_integer(out, *self as i64);
    }
}

impl ToArg for i32 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk_integer(out, i64::from(*self));
    }
}

impl ToArg for u32 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk_integer(out, i64::from(*self));
    }
}

impl ToArg for i16 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk_integer(out, i64::from(*self));
    }
}

impl ToArg for u16 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk_integer(out, i64::from(*self));
    }
}

impl ToArg for i8 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp_proto::write_bulk_integer(out, i64::from(*self));
    }
}

impl ToArg for f64 {
    /// Shortest text that reads back as the same number; infinities as `inf`/`-inf`, which
    /// Redis accepts (sorted-set scores, for example).
    fn write_arg(&self, out: &mut Vec<u8>) {
        let text = if self.is_infinite() {
            if *self > 0.0 {
                "inf".to_owned()
            } else {
                "-inf".to_owned()
            }
        } else {
            format!("{self:?}")
        };
        resp_proto::write_bulk(out, text.as_bytes());
    }
}

impl ToArg for f32 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        f64::from(*self).write_arg(out);
    }
}

impl<T: ToArg> ToArgs for [T] {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        for arg in self {
            arg.write_arg(out);
        }
        self.len()
    }

    fn arg_count(&self) -> usize {
        self.len()
    }
}

impl<T: ToArg, const N: usize> ToArgs for [T; N] {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.as_slice().write_args(out)
    }

    fn arg_count(&self) -> usize {
        N
    }
}

impl<T: ToArg> ToArgs for Vec<T> {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.as_slice().write_args(out)
    }

    fn arg_count(&self) -> usize {
        self.len()
    }
}

impl<T: ToArgs + ?Sized> ToArgs for &T {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        (**self).write_args(out)
    }

    fn arg_count(&self) -> usize {
        (**self).arg_count()
    }
}

impl ToArgs for str {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.write_arg(out);
        1
    }

    fn arg_count(&self) -> usize {
        1
    }
}

impl ToArgs for String {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.write_arg(out);
        1
    }

    fn arg_count(&self) -> usize {
        1
    }
}

impl ToArgs for Bytes {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.write_arg(out);
        1
    }

    fn arg_count(&self) -> usize {
        1
    }
}

impl ToArgs for i64 {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.write_arg(out);
        1
    }

    fn arg_count(&self) -> usize {
        1
    }
}

/// A byte string is one argument (a key or value given as bytes).
impl ToArgs for [u8] {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.write_arg(out);
        1
    }

    fn arg_count(&self) -> usize {
        1
    }
}

/// A byte string is one argument.
impl<const N: usize> ToArgs for [u8; N] {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.write_arg(out);
        1
    }

    fn arg_count(&self) -> usize {
        1
    }
}

/// A byte string is one argument.
impl ToArgs for Vec<u8> {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        self.write_arg(out);
        1
    }

    fn arg_count(&self) -> usize {
        1
    }
}

/// Integers and floats are one argument each.
macro_rules! one_arg {
    ($($t:ty),*) => {$(
        impl ToArgs for $t {
            fn write_args(&self, out: &mut Vec<u8>) -> usize {
                self.write_arg(out);
                1
            }

            fn arg_count(&self) -> usize {
                1
            }
        }
    )*};
}

one_arg!(u64, i32, u32, usize, f64);
