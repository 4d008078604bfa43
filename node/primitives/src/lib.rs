//! Types and encodings shared by every slotproof crate. No I/O.

pub mod duration;
pub mod wire;
