//! Helpers shared by the integration tests of `resp-proto`: the checks also used by the fuzz
//! targets ([`check`]), the vector table ([`vectors`]) and the tester that runs a vector
//! through every decode entry point ([`tester`]), and proptest strategies ([`strategy`]).

#![allow(dead_code)] // Each test binary uses a different subset.

pub(crate) mod check;
pub(crate) mod strategy;
pub(crate) mod tester;
pub(crate) mod vectors;
