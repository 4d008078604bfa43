//! Remote prover workers (specs/workers.md): proving machines that pull a
//! node's proving tasks over NATS.
//!
//! Owns the node<->worker protocol, the node's work service (leases tasks to
//! workers through the pipeline's own dispatchers, keeps their leases alive
//! while they beat, takes results back), the roster of workers it heard from,
//! and the worker process's loop. Proof bytes and proving inputs travel
//! through a JetStream object store by content digest. It never verifies or
//! records proofs: the node's recorder does, as for its own provers.

mod error;
pub mod objects;
pub mod protocol;
pub mod roster;
pub mod service;
pub mod worker;

pub use error::WorkerError;
pub use roster::{Roster, WorkerStatus};
pub use service::{ServiceOptions, WorkService};
pub use worker::{WorkerOptions, WorkerSummary};
