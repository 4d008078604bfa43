//! slotproof's prover abstraction: one trait every zkVM plugs into, and its
//! adapters. Knows nothing of queues or the network.

mod cancel;
mod error;
mod prover;
pub mod testing;

pub use cancel::CancelToken;
pub use error::ProverError;
pub use prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};
