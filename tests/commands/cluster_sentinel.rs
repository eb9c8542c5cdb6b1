//! Typed commands against a real server.
