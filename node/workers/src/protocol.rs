//! The node<->worker messages (specs/workers.md §2): JSON over NATS request
//! and reply, on subjects under the queue's prefix. Every message is bounded
//! and checked on arrival; a bad one gets an error reply, never a panic.

use serde::{Deserialize, Serialize};

/// No request or reply is larger: proofs and inputs go through the object store.
pub const MAX_MESSAGE_BYTES: usize = 64 << 10;
/// Public values travel inline (hex) up to this size.
pub const MAX_PUBLIC_VALUES: usize = 16 << 10;
/// The longest a lease request may wait in the node for a task.
pub const MAX_LEASE_WAIT_MS: u64 = 5_000;
/// Error texts a worker reports are cut to this length.
pub const MAX_ERROR_CHARS: usize = 1_024;

/// The subjects, under `<prefix>.work.`.
pub const LEASE: &str = "work.lease";
pub const BEAT: &str = "work.beat";
pub const DONE: &str = "work.done";
pub const FAILED: &str = "work.failed";
/// Answered by a node serving the queue: how tools tell whether one is running.
pub const PING: &str = "work.ping";

/// A node's answer on `PING`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pong {
    /// Remote workers the node currently tracks.
    pub workers: usize,
}

/// A worker asks for one task of one zkVM, waiting up to `wait_ms` for one.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    pub worker: String,
    pub zkvm: String,
    pub wait_ms: u64,
}

/// A task handed to a worker. `job` names it in every later message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JobOffer {
    pub job: u64,
    pub task: String,
    pub zkvm: String,
    pub block: u64,
    pub attempt: u32,
    /// The proving input's blake3 digest (hex): its object's name.
    pub input: String,
    /// Beat at least this often while proving, or the job is taken back.
    pub beat_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "reply")]
pub enum LeaseReply {
    Job(JobOffer),
    /// Nothing to do within the wait.
    Empty,
    /// The node will not lease to this request (unknown zkVM, too busy, bad request).
    Refused {
        reason: String,
    },
}

/// One zkVM of a worker: its slots and how many are free now.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ZkvmSlots {
    pub name: String,
    pub slots: u32,
    pub free: u32,
    pub simulated: bool,
}

/// A worker's heartbeat: who it is, what it has, and the jobs it is proving.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Beat {
    pub worker: String,
    pub host: String,
    pub gpus: u32,
    pub zkvms: Vec<ZkvmSlots>,
    pub jobs: Vec<u64>,
}

/// The node's answer to a beat: jobs the worker must stop (taken back,
/// timed out, cancelled, or unknown to the node).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BeatReply {
    pub drop: Vec<u64>,
}

/// A proof made: its bytes are in the object store under `proof` (blake3 hex).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Done {
    pub worker: String,
    pub job: u64,
    pub proof: String,
    pub public_values: String,
    pub proving_us: u64,
    pub cycles: Option<u64>,
}

/// A proof not made; `transient` failures are retried (by anyone).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failed {
    pub worker: String,
    pub job: u64,
    pub error: String,
    pub transient: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "reply")]
pub enum ResultReply {
    /// Handed on to the node's recorder, which verifies it.
    Accepted,
    /// The job is no longer this worker's: its lease was taken back.
    LeaseLost,
    Rejected {
        reason: String,
    },
}

/// A worker or zkVM name: 1-64 characters of `[A-Za-z0-9_.:-]`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Decodes a message, refusing oversized ones before parsing.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(format!("message of {} bytes, over the {MAX_MESSAGE_BYTES}-byte limit", bytes.len()));
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

pub fn encode<T: Serialize>(value: &T) -> bytes::Bytes {
    // Our own types always serialize.
    serde_json::to_vec(value).unwrap_or_default().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_tagged_and_unknown_fields_refused() {
        let text = String::from_utf8(encode(&LeaseReply::Empty).to_vec()).unwrap_or_default();
        assert_eq!(text, r#"{"reply":"empty"}"#);
        assert!(decode::<LeaseRequest>(br#"{"worker":"w","zkvm":"z","wait_ms":1,"extra":1}"#).is_err());
        assert!(decode::<LeaseRequest>(&vec![b' '; MAX_MESSAGE_BYTES + 1]).is_err());
        assert!(valid_name("gpu-box-1") && !valid_name("") && !valid_name("a b") && !valid_name(&"x".repeat(65)));
    }
}
