//! Errors of the queue crate. Every variant carries what an operator needs to act.

use std::path::PathBuf;

use crate::task::TaskId;

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

    #[error("storage error on queue database {path}: {message}")]
    Storage { path: PathBuf, message: String },

    #[error("queue is poisoned after a failed write ({0}); reopen the database to recover from disk")]
    Poisoned(String),

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

    #[error("invalid task id {0:?}: expected 64 hex characters")]
    InvalidTaskId(String),
}

pub type Result<T, E = QueueError> = std::result::Result<T, E>;
