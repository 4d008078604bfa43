//! The proving node (`slotproof node`): follows the chain, queues every
//! block, proves it with its zkVMs (alone: all of them; in a network: the
//! duties assigned to it), verifies and records the results against the slot
//! deadline, and serves its state over HTTP. Survives restarts: the queue, the
//! results and the inputs are on disk. It orchestrates; proving itself is the
//! zkVM adapters' job, wire formats and the swarm are `slotproof-p2p`'s.
//!
//! Dependencies point one way: `run` → `setup`, `node_loop` → `coordination`,
//! `recorder`, `network` → `book`, `results`, `status`, `metrics`, `config`.

pub mod book;
pub mod clock;
pub mod config;
pub mod coordination;
pub mod dashboard;
pub mod engine_link;
pub mod error;
pub mod http;
pub mod inputs;
pub mod metrics;
pub mod network;
pub mod node_loop;
pub mod recorder;
pub mod results;
pub mod retention;
pub mod run;
pub mod setup;
pub mod status;
pub mod submission;

pub use config::{DEFAULT_CONFIG_TOML, NodeConfig};
pub use error::{NodeError, ResultsError};
pub use results::{summary_of, write_summary};
pub use run::{RunReport, run};
