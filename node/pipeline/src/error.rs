//! Errors of the pipeline crate: a refused definition (`ConfigError`, the
//! problem and, for TOML, its line) and what can go wrong while running.

use std::fmt;

use slotproof_queue::QueueError;

/// A refused pipeline definition: what is wrong, and on which line when it was
/// read from TOML. A definition built in code has no line; the problem names
/// the stage instead.
#[derive(Debug)]
pub struct ConfigError {
    pub line: Option<usize>,
    pub problem: Problem,
}

impl ConfigError {
    /// A problem of a definition built in code: no line to point at.
    pub(crate) fn new(problem: Problem) -> Self {
        ConfigError { line: None, problem }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

impl std::error::Error for ConfigError {
    // The line is only a location: the cause is the problem's own cause, so a
    // chain printer does not repeat the problem's message.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.problem)
    }
}

/// What is wrong with a pipeline definition (specs/pipeline.md §2). The
/// messages name the stage; `ConfigError` adds the TOML line when there is one.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    // Checks of every definition, typed or TOML (`PipelineConfig::from_stages`).
    #[error("no stage defined")]
    NoStages,
    #[error("stage name is empty")]
    EmptyName,
    #[error("stage name {0:?} is used twice")]
    DuplicateStage(String),
    #[error("stage {stage:?} has an empty input list")]
    EmptyInputList { stage: String },
    #[error("stage {stage:?} names an invalid queue")]
    StageQueueName {
        stage: String,
        #[source]
        source: QueueError,
    },
    #[error("the declared `inputs` name an invalid queue")]
    DeclaredQueueName(#[source] QueueError),
    #[error("dispatcher stage {stage:?} reads exactly one queue")]
    DispatcherInputs { stage: String },
    #[error("stage {stage:?}: unknown prover {prover:?}")]
    UnknownProver { stage: String, prover: String },
    #[error("stage {stage:?}: match joins two or more input queues")]
    MatchInputs { stage: String },
    #[error("stage {stage:?}: k must be at least 1")]
    ZeroK { stage: String },
    #[error("stage {stage:?}: concurrency must be at least 1")]
    ZeroConcurrency { stage: String },
    #[error("stage {stage:?}: max_attempts must be at least 1")]
    ZeroMaxAttempts { stage: String },
    #[error("stage {stage:?}: timeout must be longer than zero")]
    ZeroTimeout { stage: String },
    #[error("stage {stage:?} reads unknown queue {queue:?}: no stage writes it and it is not in `inputs`")]
    UnknownQueue { stage: String, queue: String },
    #[error("no input queue: every queue read is written by a stage, so no work can enter")]
    NoInputQueue,
    #[error("cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),

    // Problems only TOML text can have: a typed definition cannot express them.
    #[error("not a valid pipeline definition")]
    Toml(#[source] toml::de::Error),
    #[error("unknown ordering {0:?}: expected sequential or realtime")]
    UnknownOrdering(String),
    #[error("stage {stage:?}: unknown kind {kind:?}: expected dispatcher or collector")]
    UnknownKind { stage: String, kind: String },
    #[error("stage {stage:?}: unknown strategy {strategy:?}: expected fan-in, match or first-k-distinct")]
    UnknownStrategy { stage: String, strategy: String },
    #[error("stage {stage:?} has no {key}")]
    MissingKey { stage: String, key: &'static str },
    #[error("dispatcher stage {stage:?} has no prover")]
    NoProver { stage: String },
    #[error("collector stage {stage:?} has no strategy")]
    NoStrategy { stage: String },
    #[error("dispatcher stage {stage:?} takes a prover, not a strategy")]
    StrategyOnDispatcher { stage: String },
    #[error("collector stage {stage:?} takes a strategy, not a prover")]
    ProverOnCollector { stage: String },
    #[error("stage {stage:?}: strategy {strategy} needs k")]
    NeedsK { stage: String, strategy: &'static str },
    /// The duration parser's message says what is wrong with the text.
    #[error("stage {stage:?}: {key}: {message}")]
    BadDuration { stage: String, key: &'static str, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("stage {stage}: no prover named {prover:?} is configured on this node")]
    MissingProver { stage: String, prover: String },
    #[error("malformed collected payload: {0}")]
    Payload(String),
    #[error("malformed payload record: {0}")]
    Record(#[from] slotproof_primitives::WireError),
    /// A proof stored by digest could not be written or read back.
    #[error("proof blob")]
    Blob(#[source] slotproof_queue::BlobError),
    #[error("could not start the pipeline thread {name}")]
    Spawn {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
