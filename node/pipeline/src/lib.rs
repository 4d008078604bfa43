//! slotproof's pipeline engine (specs/pipeline.md): dispatchers and collectors
//! over the durable queue, composed from a TOML definition. Knows nothing of
//! RPC or libp2p.

pub mod config;
pub mod engine;
mod error;
pub mod payload;
mod runtime;

pub use config::{Ordering, PipelineConfig, StageConfig, StageKind, Strategy, parse_duration};
pub use engine::{Collector, Ctx, Dispatcher, Job, Observer, Outcome, StageEvent};
pub use error::{ConfigError, PipelineError, Result};
pub use runtime::{Pipeline, ProverSet, RuntimeOptions};
