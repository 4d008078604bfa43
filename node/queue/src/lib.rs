//! slotproof's durable ordered task queue (specs/queue.md).
//!
//! Owns task states, leases, retries, dead-lettering and the atomic hand-off
//! between stages. Knows nothing of provers or the network.
//!
//! ```
//! use std::time::Duration;
//! use slotproof_queue::{NewTask, Queue, QueueConfig};
//!
//! let q = Queue::memory(QueueConfig::default());
//! q.enqueue(vec![NewTask::new("blocks", 21_230_866, b"input-digest".to_vec())]).unwrap();
//! let lease = q.lease("blocks", "worker-1", Duration::from_secs(30)).unwrap().unwrap();
//! q.ack(lease.id, lease.token).unwrap();
//! assert_eq!(q.stats().unwrap().total.done, 1);
//! ```

pub mod blobs;
mod clock;
mod codec;
mod config;
mod done;
mod error;
mod id;
pub mod nats;
pub mod nats_server;
mod queue;
mod rocks;
mod state;
mod store;
mod task;
mod view;

pub use blobs::{BlobDigest, BlobStore, MAX_BLOB_BYTES};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{DEFAULT_DONE_RETENTION_MS, Durability, QueueConfig};
pub use error::{BlobError, QueueError, Result};
pub use id::{InvalidTaskId, TaskId};
pub use nats::{AuthSources, NatsAuth, NatsTarget};
pub use queue::{Queue, Written};
pub use rocks::{SCHEMA_VERSION, read_view};
pub use state::CANCELLED_PREFIX;
pub use task::{
    Enqueued, Failure, Lease, MAX_PAYLOAD_BYTES, NackOutcome, NewTask, OrderKey, PRIORITY_NORMAL, PRIORITY_REQUESTED,
    TaskInfo, TaskState, validate_queue_name,
};
pub use view::{QueueCounts, QueueStats, QueueView, StateFilter};
