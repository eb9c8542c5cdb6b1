//! Locks: see redis_ext::Lock.
