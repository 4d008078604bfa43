//! Errors of the queue crate. Every variant carries what an operator needs to
//! act, and the error it comes from stays reachable through `source()`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::id::{InvalidTaskId, TaskId};

/// Why a blob (a payload stored by digest beside the queue) could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no blob {digest} at {path}: it was deleted, or never written")]
    Missing { digest: String, path: PathBuf },
    #[error("blob {path} does not hash to its name {digest}: the file was changed or damaged")]
    Mismatch { digest: String, path: PathBuf },
    #[error("blob of {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: u64, limit: u64 },
    #[error("{0:?} is not a blob digest (64 hex digits)")]
    BadDigest(String),
}

impl BlobError {
    /// Whether a later attempt may succeed (an I/O error) or never can.
    pub fn is_transient(&self) -> bool {
        matches!(self, BlobError::Io { .. })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no slotproof queue database at {path}")]
    NotFound { path: PathBuf },

    #[error("{path} is not a slotproof queue database: {reason}")]
    Foreign { path: PathBuf, reason: String },

    #[error("queue database {path} has schema version {found}, this build supports {supported}")]
    SchemaMismatch { path: PathBuf, found: u32, supported: u32 },

    #[error("corrupt record in queue database {path} ({what}): {reason}")]
    Corrupt { path: PathBuf, what: String, reason: String },

    /// RocksDB refused an operation; `hint` says what to check when we can tell.
    #[error("storage error on queue database {path}{hint}")]
    Storage {
        path: PathBuf,
        hint: &'static str,
        #[source]
        source: rocksdb::Error,
    },

    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An earlier write of this handle failed: memory and disk may disagree
    /// (specs/queue.md §9). The failed write is the source.
    #[error("queue is poisoned after a failed write; reopen the database to recover from disk")]
    WriteFailed(#[source] Arc<QueueError>),

    /// A thread panicked while holding one of the queue's locks.
    #[error("queue is poisoned: a thread panicked while holding the {0}")]
    LockPoisoned(&'static str),

    #[error("invalid queue name {0:?}: use 1-64 characters of [A-Za-z0-9_.:-]")]
    InvalidQueueName(String),

    #[error(
        "payload of {size} bytes exceeds the {limit}-byte limit; store large inputs content-addressed and reference them"
    )]
    PayloadTooLarge { size: usize, limit: usize },

    #[error("unknown task {0}")]
    UnknownTask(TaskId),

    #[error("stale lease on task {id}: token {token:#x} is not the current lease")]
    StaleLease { id: TaskId, token: u64 },

    #[error("task {id} was cancelled: {reason}")]
    Cancelled { id: TaskId, reason: String },

    #[error("task {0} is not dead-lettered")]
    NotDead(TaskId),

    #[error(transparent)]
    InvalidTaskId(#[from] InvalidTaskId),

    #[error("unknown state {0:?}: expected all, pending, delayed, leased or dead")]
    UnknownStateFilter(String),

    #[error("NATS queue settings: {0}")]
    NatsConfig(String),

    #[error("cannot reach the NATS server at {url}: {reason}")]
    NatsUnreachable { url: String, reason: String },

    #[error("JetStream at {url}{hint}: {reason}")]
    NatsJetStream { url: String, hint: &'static str, reason: String },

    /// Another process appended to the queue's log after our last entry: it
    /// opened the same queue and now owns it (specs/queue.md §15).
    #[error(
        "queue {queue} was taken over by another process (the log moved past sequence {expected}); this handle may not write"
    )]
    NatsFenced { queue: PathBuf, expected: u64 },

    #[error("unknown durability {0:?}: expected process or power")]
    UnknownDurability(String),
}

pub type Result<T, E = QueueError> = std::result::Result<T, E>;
