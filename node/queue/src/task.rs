//! Task identity, submission and the order key (specs/queue.md §1, §2).

use std::sync::Arc;

use crate::error::{QueueError, Result};
use crate::id::TaskId;

/// Default priority class; lower classes lease first.
pub const PRIORITY_NORMAL: u8 = 100;
/// Work someone asked for by name (a proof-engine request): leased before
/// normal work, never stale (specs/queue.md §2, specs/proof-engine.md §2).
pub const PRIORITY_REQUESTED: u8 = 50;
/// Largest payload a task may carry (specs/queue.md §9): a 4 MiB proof and its envelope.
pub const MAX_PAYLOAD_BYTES: usize = 5 * 1024 * 1024;
const MAX_QUEUE_NAME: usize = 64;
const ID_DOMAIN: &[u8] = b"slotproof/task/v1";

/// A task as a producer submits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    pub queue: String,
    pub pipeline: String,
    pub stage: String,
    pub block_number: u64,
    pub subtask: u32,
    pub target: String,
    pub priority: u8,
    pub payload: Vec<u8>,
    /// Overrides the queue's default `max_attempts` when set.
    pub max_attempts: Option<u32>,
}

impl NewTask {
    /// A task with normal priority, no subtask split and no target.
    pub fn new(queue: impl Into<String>, block_number: u64, payload: Vec<u8>) -> Self {
        NewTask {
            queue: queue.into(),
            pipeline: String::new(),
            stage: String::new(),
            block_number,
            subtask: 0,
            target: String::new(),
            priority: PRIORITY_NORMAL,
            payload,
            max_attempts: None,
        }
    }

    pub fn with_pipeline(mut self, pipeline: impl Into<String>, stage: impl Into<String>) -> Self {
        self.pipeline = pipeline.into();
        self.stage = stage.into();
        self
    }

    pub fn with_subtask(mut self, subtask: u32) -> Self {
        self.subtask = subtask;
        self
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// The stable id of this task (specs/queue.md §1).
    pub fn id(&self) -> TaskId {
        let mut h = blake3::Hasher::new();
        h.update(ID_DOMAIN);
        for field in [&self.queue, &self.pipeline, &self.stage] {
            hash_str(&mut h, field);
        }
        h.update(&self.block_number.to_be_bytes());
        h.update(&self.subtask.to_be_bytes());
        hash_str(&mut h, &self.target);
        h.update(blake3::hash(&self.payload).as_bytes());
        TaskId(*h.finalize().as_bytes())
    }

    /// Validates with a payload limit below `MAX_PAYLOAD_BYTES` where the
    /// store needs one (a NATS server's message size, specs/queue.md §15).
    pub(crate) fn validate_within(&self, max_payload: usize) -> Result<()> {
        validate_queue_name(&self.queue)?;
        let limit = max_payload.min(MAX_PAYLOAD_BYTES);
        if self.payload.len() > limit {
            return Err(QueueError::PayloadTooLarge { size: self.payload.len(), limit });
        }
        Ok(())
    }
}

fn hash_str(h: &mut blake3::Hasher, s: &str) {
    // Length prefix so ("ab","c") and ("a","bc") differ.
    h.update(&(s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

pub fn validate_queue_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_QUEUE_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok { Ok(()) } else { Err(QueueError::InvalidQueueName(name.to_string())) }
}

/// Lease order within a queue (specs/queue.md §2). Field order is the sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    pub priority: u8,
    pub block_number: u64,
    pub subtask: u32,
    pub seq: u64,
}

impl OrderKey {
    /// Big-endian bytes: their lexicographic order equals the tuple order.
    pub fn to_bytes(&self) -> [u8; 21] {
        let mut out = [0u8; 21];
        out[0] = self.priority;
        out[1..9].copy_from_slice(&self.block_number.to_be_bytes());
        out[9..13].copy_from_slice(&self.subtask.to_be_bytes());
        out[13..21].copy_from_slice(&self.seq.to_be_bytes());
        out
    }
}

/// Where a task stands (specs/queue.md §3). Done tasks are reported by counts only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Ready to lease, or backing off until `not_before_ms` when that is in the future.
    Pending {
        not_before_ms: u64,
    },
    Leased {
        worker: String,
        token: u64,
        deadline_ms: u64,
    },
    Dead,
}

impl TaskState {
    pub fn label(&self, now_ms: u64) -> &'static str {
        match self {
            TaskState::Pending { not_before_ms } if *not_before_ms > now_ms => "delayed",
            TaskState::Pending { .. } => "pending",
            TaskState::Leased { .. } => "leased",
            TaskState::Dead => "dead",
        }
    }
}

/// A read-only description of a live (not done) task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    pub id: TaskId,
    pub queue: String,
    pub pipeline: String,
    pub stage: String,
    pub block_number: u64,
    pub subtask: u32,
    pub target: String,
    pub priority: u8,
    pub seq: u64,
    pub attempts: u32,
    pub max_attempts: u32,
    pub enqueued_at_ms: u64,
    pub payload_len: u32,
    pub state: TaskState,
    pub last_error: Option<String>,
}

impl TaskInfo {
    pub fn order_key(&self) -> OrderKey {
        OrderKey { priority: self.priority, block_number: self.block_number, subtask: self.subtask, seq: self.seq }
    }
}

/// A task held under a lease. `token` must accompany ack, nack and extend.
#[derive(Clone, Debug)]
pub struct Lease {
    pub id: TaskId,
    pub token: u64,
    pub queue: String,
    pub pipeline: String,
    pub stage: String,
    pub block_number: u64,
    pub subtask: u32,
    pub target: String,
    pub priority: u8,
    pub payload: Arc<[u8]>,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub max_attempts: u32,
    pub enqueued_at_ms: u64,
    pub deadline_ms: u64,
}

/// What an enqueue did with one task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Inserted(TaskId),
    /// The id was already known (live, dead or done): nothing changed.
    Duplicate(TaskId),
}

impl Enqueued {
    pub fn id(&self) -> TaskId {
        match self {
            Enqueued::Inserted(id) | Enqueued::Duplicate(id) => *id,
        }
    }
}

/// How a failed attempt should be treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Retry with backoff until `max_attempts`.
    Transient,
    /// Dead-letter at once.
    Permanent,
    /// Retry, but not before this long (or the backoff, if longer), until
    /// `max_attempts`: for a failure that waits on something slow to change,
    /// such as an operator fixing a credential.
    Hold(std::time::Duration),
}

/// What a nack (or an expired lease) did with the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NackOutcome {
    Retrying { attempts: u32, not_before_ms: u64 },
    Dead { attempts: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_stable_and_covers_identity_fields() {
        let a = NewTask::new("q", 7, b"x".to_vec()).with_target("stark");
        assert_eq!(a.id(), a.clone().id());
        assert_eq!(a.id(), a.clone().with_priority(3).id(), "priority is not identity");
        assert_ne!(a.id(), a.clone().with_subtask(1).id());
        assert_ne!(a.id(), a.clone().with_target("sim").id());
        assert_ne!(a.id(), NewTask::new("q", 8, b"x".to_vec()).with_target("stark").id());
        assert_ne!(a.id(), NewTask::new("q", 7, b"y".to_vec()).with_target("stark").id());
        let p1 = NewTask::new("q", 1, vec![]).with_pipeline("ab", "c");
        let p2 = NewTask::new("q", 1, vec![]).with_pipeline("a", "bc");
        assert_ne!(p1.id(), p2.id(), "fields are length-prefixed");
    }

    #[test]
    fn order_key_bytes_sort_like_the_tuple() {
        let keys = [
            OrderKey { priority: 0, block_number: 9, subtask: 9, seq: 9 },
            OrderKey { priority: 1, block_number: 0, subtask: 0, seq: 0 },
            OrderKey { priority: 1, block_number: 0, subtask: 1, seq: 0 },
            OrderKey { priority: 1, block_number: 1 << 40, subtask: 0, seq: 0 },
            OrderKey { priority: 1, block_number: 1 << 40, subtask: 0, seq: 1 },
        ];
        for w in keys.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_bytes() < w[1].to_bytes());
        }
    }

    #[test]
    fn validation_rejects_bad_names_and_big_payloads() {
        assert!(NewTask::new("", 1, vec![]).validate_within(MAX_PAYLOAD_BYTES).is_err());
        assert!(NewTask::new("a b", 1, vec![]).validate_within(MAX_PAYLOAD_BYTES).is_err());
        assert!(NewTask::new("q", 1, vec![0; MAX_PAYLOAD_BYTES + 1]).validate_within(MAX_PAYLOAD_BYTES).is_err());
        assert!(
            NewTask::new("proofs:stark-1", 1, vec![0; MAX_PAYLOAD_BYTES]).validate_within(MAX_PAYLOAD_BYTES).is_ok()
        );
    }
}
