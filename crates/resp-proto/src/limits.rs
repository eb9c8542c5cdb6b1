//! Input-safety limits.

/// Bounds on what a decoder accepts, so a hostile or broken peer cannot make it use unbounded
/// memory or time.
///
/// The defaults are safe for a client talking to a Redis server with its default configuration.
/// Nothing is ever allocated from a declared length before the bytes it announces have arrived,
/// so the limits bound what a *complete* reply may contain, not what a header may claim.
///
/// ```
/// use resp_proto::Limits;
///
/// let limits = Limits::default().max_depth(8_000).max_bulk_len(1 << 30);
/// assert_eq!(limits.depth(), 8_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_depth: usize,
    max_bulk_len: usize,
    max_aggregate_len: usize,
}

impl Limits {
    /// Default nesting limit: 1024 levels of aggregates (hiredis uses the same order of magnitude).
    pub const DEFAULT_MAX_DEPTH: usize = 1024;
    /// Default bulk limit: 512 MiB, the server's own `proto-max-bulk-len` default.
    pub const DEFAULT_MAX_BULK_LEN: usize = 512 * 1024 * 1024;
    /// Default aggregate limit: 2^28 - 1 elements (entries, for maps and attributes), about 268
    /// million: far above any real reply (a 5-million-element LRANGE is fine), while a header
    /// announcing 2^32 elements is refused as soon as it is read.
    pub const DEFAULT_MAX_AGGREGATE_LEN: usize = (1 << 28) - 1;

    /// Limits with the defaults.
    pub const fn new() -> Self {
        Limits {
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_bulk_len: Self::DEFAULT_MAX_BULK_LEN,
            max_aggregate_len: Self::DEFAULT_MAX_AGGREGATE_LEN,
        }
    }

    /// Sets how many aggregates (arrays, maps, sets, pushes, attributes) may be nested.
    ///
    /// A scalar at the top level has depth 0; the elements of a top-level array have depth 1.
    /// Decoding and dropping are iterative, so large limits are safe for the stack.
    pub const fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets the longest bulk string, bulk error, verbatim string or simple line accepted, in bytes.
    pub const fn max_bulk_len(mut self, len: usize) -> Self {
        self.max_bulk_len = len;
        self
    }

    /// Sets how many elements an aggregate may declare (entries, for maps and attributes).
    pub const fn max_aggregate_len(mut self, len: usize) -> Self {
        self.max_aggregate_len = len;
        self
    }

    /// The nesting limit.
    pub const fn depth(&self) -> usize {
        self.max_depth
    }

    /// The bulk length limit, in bytes.
    pub const fn bulk_len(&self) -> usize {
        self.max_bulk_len
    }

    /// The aggregate length limit.
    pub const fn aggregate_len(&self) -> usize {
        self.max_aggregate_len
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}
