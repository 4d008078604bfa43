//! The prover trait (specs/provers.md), shaped like Ere's zkVM interface:
//! identity, execute, prove, verify, and the resources a prover needs.

use std::sync::Arc;
use std::time::Duration;

use crate::cancel::CancelToken;
use crate::error::ProverError;

/// Who a prover is. `proof_type` is the EIP-8025 proof type byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkvmIdentity {
    pub name: String,
    pub version: String,
    pub proof_type: u8,
}

/// What a prover needs to run one proof.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpus: u32,
    pub gpus: u32,
}

/// A proving input, serialized once and content-addressed so retries and
/// other provers reuse it.
#[derive(Clone, Debug)]
pub struct ProvingInput {
    pub block_number: u64,
    /// The block's gas used, when known (simulated provers scale with it).
    pub gas_used: Option<u64>,
    pub bytes: Arc<[u8]>,
    /// blake3 of `bytes`.
    pub digest: [u8; 32],
    /// The block's hash, when the input is a block: what every node agrees
    /// on, whichever parts (receipts, witness) its RPC added to `bytes`.
    pub block_hash: Option<[u8; 32]>,
}

impl ProvingInput {
    pub fn new(block_number: u64, bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = bytes.into();
        let digest = *blake3::hash(&bytes).as_bytes();
        ProvingInput { block_number, gas_used: None, bytes, digest, block_hash: None }
    }

    pub fn with_block_hash(mut self, hash: [u8; 32]) -> Self {
        self.block_hash = Some(hash);
        self
    }

    /// What a statement about this input is bound to: the block hash when
    /// known, else the input's digest.
    pub fn binding(&self) -> [u8; 32] {
        self.block_hash.unwrap_or(self.digest)
    }

    pub fn with_gas(mut self, gas_used: u64) -> Self {
        self.gas_used = Some(gas_used);
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionReport {
    pub cycles: u64,
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofArtifact {
    pub zkvm: String,
    pub proof: Vec<u8>,
    pub public_values: Vec<u8>,
    pub cycles: Option<u64>,
    pub proving_time: Duration,
    /// True for simulated and test provers: never presented as a real proof.
    pub simulated: bool,
}

pub trait Prover: Send + Sync {
    fn identity(&self) -> &ZkvmIdentity;
    fn resources(&self) -> Resources;
    fn execute(&self, input: &ProvingInput) -> Result<ExecutionReport, ProverError>;
    /// Proves `input`; should return `Cancelled` soon after `cancel` fires.
    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError>;
    /// Checks `artifact` against the input it claims to prove. Provers that
    /// need the block itself (`stark`) read `input.bytes`; others its digest.
    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError>;
    /// Whether `verify` can ever accept: false for an external zkVM without a
    /// `verify_command`, whose proofs the node then neither wants from peers
    /// nor counts as verified (specs/p2p.md §5).
    fn can_verify(&self) -> bool {
        true
    }
}
