//! Types and encodings shared by every slotproof crate: the 32-byte hash
//! type, the one hex encoding, the wall clock in milliseconds, durations as
//! operators write them, and our strict binary record format. No I/O beyond
//! reading the clock; no crate of ours below it.

pub mod duration;
pub mod error;
pub mod hash;
pub mod hex;
pub mod time;
pub mod wire;

pub use error::HexError;
pub use hash::Hash32;
pub use time::now_ms;
