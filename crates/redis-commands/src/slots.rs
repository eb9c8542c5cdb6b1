//! [`Slots`]: the storage of the generated option structs.

use std::fmt;

use crate::Cmd;

/// The optional parts of a command, one slot per optional argument in wire order; each slot
/// holds the arguments it adds, or nothing.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Slots<const N: usize>([Option<Cmd>; N]);

impl<const N: usize> Default for Slots<N> {
    fn default() -> Self {
        Slots(std::array::from_fn(|_| None))
    }
}

impl<const N: usize> Slots<N> {
    /// Replaces slot `index` with what `fill` writes.
    pub(crate) fn set(&mut self, index: usize, fill: impl FnOnce(&mut Cmd)) {
        let mut part = Cmd::new();
        fill(&mut part);
        self.0[index] = Some(part);
    }

    /// Adds what `fill` writes to slot `index` (repeatable options).
    pub(crate) fn append(&mut self, index: usize, fill: impl FnOnce(&mut Cmd)) {
        fill(self.0[index].get_or_insert_with(Cmd::new));
    }

    /// Marks `cmd` invalid when slot `index` is set but slot `parent`, which it needs, is not
    /// (`ANY` without `COUNT`): the server would reject it.
    pub(crate) fn require(
        &self,
        index: usize,
        parent: usize,
        what: &'static str,
        needs: &'static str,
        cmd: &mut Cmd,
    ) {
        if self.0[index].is_some() && self.0[parent].is_none() {
            cmd.reject_missing(what, needs);
        }
    }

    /// Appends slot `index`, if set, to a command.
    pub(crate) fn write(&self, index: usize, cmd: &mut Cmd) {
        if let Some(part) = &self.0[index] {
            cmd.append(part);
        }
    }
}

/// The options that are set, as the arguments they add.
impl<const N: usize> fmt::Debug for Slots<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for part in self.0.iter().flatten() {
            for arg in part.arg_bytes() {
                list.entry(&String::from_utf8_lossy(arg));
            }
        }
        list.finish()
    }
}
