//! Progress of long work (catching up after downtime, benchmarks) for whoever
//! watches: one line redrawn in place on stderr when stderr is a terminal, a
//! periodic `info!` line (target `slotproof::progress`) when it is a file,
//! journald or a pipe. It never writes to stdout, which carries commands'
//! results (`--json`).
//!
//! Counting is one relaxed atomic add, so a hot loop can report every item;
//! a thread of the reporter's own draws on a timer (at most ten times a
//! second on a terminal, every five seconds in a log). Log lines written
//! through [`log_writer`] first clear a drawn progress line, so the two never
//! share a line. No crate of ours below it: the chain follower and the CLI
//! both use it.

mod line;
mod reporter;
mod schedule;
mod terminal;

pub use line::{Measure, Snapshot};
pub use reporter::{Counter, Output, Progress};
pub use schedule::Schedule;
pub use terminal::{LogWriter, log_writer, stderr_is_terminal};
