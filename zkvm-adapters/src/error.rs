//! Prover errors: the dispatcher decides retry vs dead-letter from the variant.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProverError {
    /// Worth retrying (a crashed worker, a busy GPU, a flaky RPC).
    #[error("transient prover failure: {0}")]
    Transient(String),
    /// Retrying cannot help (bad input, unsupported block): dead-letter.
    #[error("permanent prover failure: {0}")]
    Permanent(String),
    #[error("prover timed out after {0:?}")]
    Timeout(Duration),
    /// The task was cancelled (its block is no longer wanted).
    #[error("proving cancelled")]
    Cancelled,
    /// Verification ran and rejected the proof.
    #[error("proof rejected: {0}")]
    Invalid(String),
}

impl ProverError {
    /// Whether a retry of the same task may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProverError::Transient(_) | ProverError::Timeout(_))
    }
}
