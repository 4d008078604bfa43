//! Errors of the prover crate: a prover's failure (the dispatcher decides
//! retry vs dead-letter from the variant), a refused zkVM configuration, and
//! unreadable GPU inventory.

use std::path::PathBuf;
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

/// A `[[zkvm]]` configuration that cannot be used (specs/provers.md §7).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("reading zkVM config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or `[[zkvm]]` tables with unknown or mistyped fields; `path`
    /// is `None` for text that came from elsewhere (a flag).
    #[error("zkVM config{}: {}", at(path), one_line(source))]
    Parse {
        path: Option<PathBuf>,
        #[source]
        source: toml::de::Error,
    },
    #[error("zkVM {name:?}: {message}")]
    Entry { name: String, message: String },
    #[error("zkVM {name:?}: timeout: {source}")]
    Timeout {
        name: String,
        #[source]
        source: slotproof_primitives::DurationError,
    },
}

fn at(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default()
}

/// toml's messages quote the offending line over several lines; one line reads
/// better in a log and an error chain.
fn one_line(e: &toml::de::Error) -> String {
    e.to_string().trim().replace('\n', " ")
}

/// `nvidia-smi` output that is not the table asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DevicesError {
    #[error("unexpected nvidia-smi line {line:?}: expected index, name, memory.total, memory.used, utilization.gpu")]
    Line { line: String },
    #[error("unexpected GPU index in nvidia-smi line {line:?}: {source}")]
    Index {
        line: String,
        #[source]
        source: std::num::ParseIntError,
    },
}
