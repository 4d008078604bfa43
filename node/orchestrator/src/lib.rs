//! The proving node (`slotproof node`): follows the chain, queues every
//! block, proves it with every configured zkVM in parallel, verifies and
//! records the results against the slot deadline, and serves its state over
//! HTTP. Survives restarts: the queue, the results and the inputs are on disk.

pub mod config;
pub mod http;
pub mod inputs;
pub mod metrics;
pub mod network;
pub mod node;
pub mod results;
pub mod submission;

pub use config::{DEFAULT_CONFIG_TOML, NodeConfig};
pub use node::{RunReport, run, summary_of, write_summary};
