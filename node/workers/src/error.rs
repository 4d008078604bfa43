//! Errors of the worker side and the node's work service.

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Queue(#[from] slotproof_queue::QueueError),

    #[error("NATS request {subject}: {reason}")]
    Request { subject: String, reason: String },

    #[error("the node answered {subject} with something unreadable: {reason}")]
    BadReply { subject: String, reason: String },

    #[error("object store {bucket}: {reason}")]
    Objects { bucket: String, reason: String },

    #[error("object {name} does not hash to its name")]
    ObjectMismatch { name: String },

    #[error("object {name} is {size} bytes, over the {limit}-byte limit")]
    ObjectTooLarge { name: String, size: u64, limit: u64 },

    #[error("no zkVM of this worker is ready")]
    NoZkvm,

    #[error("zkVM registry")]
    Registry(#[from] slotproof_zkvm::registry::RegistryError),

    #[error("worker id {0:?}: use 1-64 characters of [A-Za-z0-9_.:-]")]
    BadId(String),
}
