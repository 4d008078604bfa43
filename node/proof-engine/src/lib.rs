//! The EIP-8025 proof engine a consensus client talks to (specs/proof-engine.md
//! §2), zkboost-compatible: it takes SSZ `NewPayloadRequest`s, hands them to
//! the node through a `Backend`, announces completed and failed proofs on an
//! SSE stream, serves the proofs and verifies proofs it is given. It owns the
//! API's state (offers, pending pairs, held proofs, known roots), each table
//! bounded; it never proves, never queues and never touches storage itself.

pub mod api;
pub mod engine;
mod error;
pub mod proof_form;
pub mod types;

pub use engine::{Accepted, Backend, EngineMetrics, KnownBlock, Limits, Offer, ProofEngine};
pub use error::ApiError;
pub use proof_form::ProofForm;
pub use types::{EngineEvent, FailureReason, ProofStatus, ProofTypeInfo, hash256, parse_hash256};
