//! slotproof's prover abstraction: one trait every zkVM plugs into, and its
//! adapters. Knows nothing of queues or the network.

mod cancel;
pub mod devices;
pub mod ere;
mod error;
pub mod external;
mod input;
mod prover;
pub mod registry;
mod remote;
pub mod risc0;
pub mod sim;
pub mod slots;
pub mod stark;
pub mod testing;
pub mod zkboost;

pub use cancel::CancelToken;
pub use error::{DevicesError, ProverError, RegistryError};
pub use external::{ExternalConfig, ExternalProver};
pub use input::{BlockError, BlockMeta, InputEncoding, block_input};
pub use prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};

use std::sync::Arc;
use std::time::Duration;

/// Provers every node has without configuration: `stark` (the built-in
/// STARK over the header's Keccak sponge), `noop`, `sleep:<ms>` (both
/// labelled simulated), `sim:<profile>` (calibrated simulated zkVMs, full-scale
/// timings, seed 0) and `exec-noop` (the external adapter running a shell that
/// writes an empty proof: measures process start and the file contract).
pub fn builtin_prover(name: &str) -> Option<Arc<dyn Prover>> {
    if name == "stark" {
        return Some(Arc::new(stark::StarkProver::default()));
    }
    if let Some(p) = testing::TestProver::from_name(name) {
        return Some(Arc::new(p));
    }
    if let Some(p) = sim::SimProver::from_name(name, sim::SimOptions::default()) {
        return Some(Arc::new(p));
    }
    if name == "exec-noop" {
        let cfg = ExternalConfig {
            identity: ZkvmIdentity {
                name: "exec-noop".into(),
                version: "sh".into(),
                proof_type: testing::TEST_PROOF_TYPE,
            },
            command: external::exec_noop_command(),
            verify_command: None,
            timeout: Duration::from_secs(30),
            verify_timeout: None,
            work_dir: std::env::temp_dir().join(format!("slotproof-exec-noop-{}", std::process::id())),
            gpu: None,
            env: vec![],
        };
        return ExternalProver::new(cfg).ok().map(|p| Arc::new(p) as Arc<dyn Prover>);
    }
    None
}

/// Whether `builtin_prover` knows `name` (without creating anything).
pub fn is_builtin_prover(name: &str) -> bool {
    name == "exec-noop"
        || name == "stark"
        || testing::TestProver::from_name(name).is_some()
        || name.strip_prefix("sim:").is_some_and(|p| sim::SimProfile::by_name(p).is_some())
}
