//! GEOSEARCH, GEORADIUS and GEORADIUSBYMEMBER results.

use bytes::Bytes;
use resp_proto::Value;

use super::util::{convert, items};
use crate::reply::{ConversionError, FromReply, plain};

/// One result of `GEOSEARCH`, `GEORADIUS` or `GEORADIUSBYMEMBER`.
///
/// Without `WITHDIST`, `WITHHASH` or `WITHCOORD` the server sends the bare member; with any
/// of them, an array `[member, distance?, hash?, [longitude, latitude]?]`, which this reads
/// by element type: the distance is a string (or a RESP3 double), the hash an integer, the
/// position an array. What was not asked for is `None`.
///
/// `GEOPOS` needs no type of its own: ask for `Vec<Option<(f64, f64)>>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct GeoMember {
    /// The member name.
    pub member: Bytes,
    /// The distance from the search centre, in the unit of the query (`WITHDIST`).
    pub distance: Option<f64>,
    /// The raw 52-bit geohash score (`WITHHASH`).
    pub hash: Option<i64>,
    /// The position as `(longitude, latitude)` (`WITHCOORD`).
    pub position: Option<(f64, f64)>,
}

impl GeoMember {
    /// The member name as UTF-8 text.
    pub fn member_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.member).ok()
    }
}

impl FromReply for GeoMember {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let parts = match plain(value) {
            v @ (Value::Array(_) | Value::Set(_)) => items(v, "GeoMember")?,
            v => {
                return Ok(GeoMember {
                    member: convert(v, "GeoMember")?,
                    ..GeoMember::default()
                });
            }
        };
        let mut parts = parts.into_iter();
        let member = match parts.next() {
            Some(m) => convert(m, "geo member")?,
            None => {
                return Err(ConversionError::malformed(
                    "GeoMember",
                    "an empty array",
                    "no member",
                ));
            }
        };
        let mut result = GeoMember {
            member,
            ..GeoMember::default()
        };
        for part in parts {
            match plain(part) {
                Value::Integer(h) => result.hash = Some(h),
                v @ (Value::Array(_) | Value::Set(_)) => {
                    result.position = Some(convert(v, "geo position")?);
                }
                v => result.distance = Some(convert(v, "geo distance")?),
            }
        }
        Ok(result)
    }
}
