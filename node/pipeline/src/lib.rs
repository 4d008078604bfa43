//! slotproof's pipeline engine (specs/pipeline.md): dispatchers and collectors
//! over the durable queue, composed from a typed definition built in code or
//! read from TOML. Knows nothing of RPC or libp2p, and never picks a prover
//! itself: the node hands it a `ProverSet`.

pub mod config;
pub mod engine;
mod error;
pub mod payload;
mod runtime;
mod toml_definition;

pub use config::{DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT, Ordering, PipelineConfig, StageConfig, StageKind, Strategy};
pub use engine::{Collector, Ctx, Dispatcher, Job, Observer, Outcome, StageEvent};
pub use error::{ConfigError, PipelineError, Problem, Result};
pub use runtime::{Pipeline, ProverSet, RuntimeOptions};
