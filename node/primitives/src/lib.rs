//! Types and encodings shared by every slotproof crate: the 32-byte hash
//! type, the one hex encoding, the wall clock in milliseconds, durations as
//! operators write them, our strict binary record format, and the block
//! header's RLP with its Keccak-256 hash. No I/O beyond reading the clock; no
//! crate of ours below it.

pub mod duration;
pub mod error;
pub mod hash;
pub mod header;
pub mod hex;
pub mod keccak;
pub mod names;
pub mod redact;
pub mod time;
pub mod wire;

pub use error::{DurationError, ErrorChain, HeaderError, HexError, NameError, WireError};
pub use hash::Hash32;
pub use header::Header;
pub use keccak::keccak256;
pub use time::now_ms;
