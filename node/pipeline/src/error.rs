//! Errors of the pipeline crate.

use std::fmt;

/// A refused pipeline definition: what is wrong, and on which line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Queue(#[from] slotproof_queue::QueueError),
    #[error("stage {stage}: no prover named {prover:?} is configured on this node")]
    MissingProver { stage: String, prover: String },
    #[error("malformed collected payload: {0}")]
    Payload(String),
    #[error("malformed payload record: {0}")]
    Record(#[from] slotproof_primitives::WireError),
    #[error("a pipeline thread panicked: {0}")]
    Panicked(String),
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
