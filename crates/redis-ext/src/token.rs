//! [`Token`]: the value a lock holder stores under the lock's key.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The value that identifies one acquisition of a [`Lock`](crate::Lock): the lock's key holds
/// it while the acquisition lasts, and release, extend and reacquire only act when the key
/// still holds it.
///
/// [`Token::generate`] makes a fresh 128-bit token, written as 32 lower-case hex characters,
/// without any dependency beyond `std`:
///
/// * **Unique.** Each token hashes a process-wide counter that never repeats (a 64-bit
///   atomic), the process id, the thread id and the wall-clock and monotonic time, twice with
///   different domain separators, into two 64-bit halves. Within a process no two inputs are
///   equal, so two tokens are equal only if SipHash collides on all 128 bits: about
///   n²/2¹²⁹ for n tokens, the same order as for random (v4) UUIDs. Across processes
///   and machines the keys differ too (below), so the outputs are independent.
/// * **Unpredictable.** The hasher is std's [`RandomState`] (SipHash-1-3), keyed once per
///   process with 128 bits from the operating system's random source. Without the key,
///   another client cannot compute this process's tokens from the counter, pid or time, so
///   it cannot forge a holder's token by guessing. Tokens are not meant as secrets against
///   someone who can read the key from Redis; they only keep holders apart.
///
/// A token can also be given ([`Token::new`]), as redis-py's `acquire(token=...)` allows: a
/// caller that keeps the token can retry an acquisition whose reply was lost, and the retry
/// recognizes the earlier success.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(String);

impl Token {
    /// A fresh, unique 128-bit token (32 lower-case hex characters).
    pub fn generate() -> Token {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        static KEYS: OnceLock<RandomState> = OnceLock::new();
        let keys = KEYS.get_or_init(RandomState::new);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let half = |domain: u8| {
            let mut h = keys.build_hasher();
            h.write_u8(domain);
            h.write_u64(count);
            h.write_u32(std::process::id());
            std::thread::current().id().hash(&mut h);
            Instant::now().hash(&mut h);
            if let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) {
                h.write_u128(since.as_nanos());
            }
            h.finish()
        };
        Token(format!("{:016x}{:016x}", half(0), half(1)))
    }

    /// A token chosen by the caller (redis-py's `acquire(token=...)`).
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The token's text, as stored under the lock's key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Token").field(&self.0).finish()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Token {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Token {
    fn from(token: String) -> Token {
        Token(token)
    }
}

impl From<&str> for Token {
    fn from(token: &str) -> Token {
        Token(token.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::Token;

    #[test]
    fn generated_tokens_are_32_hex_chars_and_distinct() {
        let tokens: HashSet<Token> = (0..10_000).map(|_| Token::generate()).collect();
        assert_eq!(tokens.len(), 10_000);
        for t in &tokens {
            assert_eq!(t.as_str().len(), 32);
            assert!(
                t.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
    }

    #[test]
    fn tokens_from_many_threads_are_distinct() {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| (0..1000).map(|_| Token::generate()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for t in h.join().unwrap() {
                assert!(all.insert(t));
            }
        }
        assert_eq!(all.len(), 8000);
    }
}
