//! The task id type: 32 bytes, shown as 64 hex characters (specs/queue.md §1).
//!
//! A leaf module: it imports nothing of the crate, so the error type can name
//! task ids and the task module can use both without a cycle.

use std::fmt;
use std::str::FromStr;

use slotproof_primitives::{HexError, hex};

/// Stable task id: blake3 over the task's identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub [u8; 32]);

impl TaskId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short form keeps logs readable; the full id is in Display.
        write!(f, "TaskId({})", &self.to_hex()[..12])
    }
}

/// A string that is not a task id, with what was wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid task id {input:?}: expected 64 hex characters")]
pub struct InvalidTaskId {
    pub input: String,
    #[source]
    pub source: HexError,
}

impl FromStr for TaskId {
    type Err = InvalidTaskId;

    fn from_str(s: &str) -> Result<Self, InvalidTaskId> {
        hex::decode_array::<32>(s).map(TaskId).map_err(|source| InvalidTaskId { input: s.to_string(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_hex_round_trips_and_rejects_garbage() {
        let id = TaskId([0xab; 32]);
        assert_eq!(id.to_hex().parse::<TaskId>(), Ok(id));
        assert_eq!(id.to_hex().to_uppercase().parse::<TaskId>(), Ok(id));
        assert_eq!(format!("0x{id}").parse::<TaskId>(), Ok(id));
        assert!("xyz".parse::<TaskId>().is_err());
        assert!("zz".repeat(32).parse::<TaskId>().is_err());
        assert!("é".repeat(32).parse::<TaskId>().is_err());
        assert!("ab".repeat(31).parse::<TaskId>().is_err(), "31 bytes");
    }
}
