//! Proving inputs by reference: a task's payload is the 32-byte digest of the
//! input, whose bytes live once in the data dir, so every zkVM, every retry and
//! a restarted node reuse them without refetching or copying the block per task.

use std::sync::Arc;

use slotproof_primitives::Hash32;
use slotproof_zkvm::{
    CancelToken, ExecutionReport, ProofArtifact, Prover, ProverError, ProvingInput, Resources, ZkvmIdentity,
    block_input,
};

use crate::results::ResultStore;

/// Builds the proving input of a block: the block object, with its receipts
/// under `receipts` and its execution witness under `executionWitness` when
/// the RPC served them; canonical (sorted keys).
pub fn block_proving_input(
    block: &serde_json::Value,
    receipts: Option<&serde_json::Value>,
    witness: Option<&serde_json::Value>,
) -> Result<ProvingInput, InputError> {
    let mut obj = block.clone();
    if let Some(map) = obj.as_object_mut() {
        if let Some(r) = receipts {
            map.insert("receipts".into(), r.clone());
        }
        if let Some(w) = witness {
            map.insert("executionWitness".into(), w.clone());
        }
    }
    let bytes = serde_json::to_vec(&obj).map_err(InputError::Encode)?;
    block_input(&bytes).map(|(input, _)| input).map_err(InputError::Block)
}

/// Why a block cannot be a proving input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("encoding the block as JSON")]
    Encode(#[source] serde_json::Error),
    #[error("the block is not a valid proving input")]
    Block(#[source] slotproof_zkvm::BlockError),
}

type OnStart = Box<dyn Fn(u64) + Send + Sync>;

/// Loads the referenced input, then runs the wrapped prover on it.
pub struct StoredInput {
    inner: Arc<dyn Prover>,
    store: Arc<ResultStore>,
    /// Told the block number when a proof starts.
    on_start: Option<OnStart>,
}

impl StoredInput {
    pub fn new(inner: Arc<dyn Prover>, store: Arc<ResultStore>) -> Self {
        StoredInput { inner, store, on_start: None }
    }

    pub fn on_start(mut self, f: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.on_start = Some(Box::new(f));
        self
    }

    /// The input a reference names.
    pub fn load(store: &ResultStore, reference: &ProvingInput) -> Result<ProvingInput, ProverError> {
        let digest = Hash32::from_slice(&reference.bytes)
            .map_err(|e| ProverError::Permanent(format!("a task's input reference is not a digest: {e}")))?;
        let bytes = store
            .input(&digest)
            .ok_or_else(|| ProverError::Permanent(format!("proving input {digest} is not in the store")))?;
        let (input, _) =
            block_input(&bytes).map_err(|e| ProverError::Permanent(format!("stored input {digest}: {e}")))?;
        if input.digest != digest.0 {
            return Err(ProverError::Permanent(format!("stored input {digest} does not hash to its name")));
        }
        Ok(input)
    }
}

impl Prover for StoredInput {
    fn identity(&self) -> &ZkvmIdentity {
        self.inner.identity()
    }

    fn resources(&self) -> Resources {
        self.inner.resources()
    }

    fn execute(&self, input: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        self.inner.execute(&Self::load(&self.store, input)?)
    }

    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        let loaded = Self::load(&self.store, input)?;
        if let Some(f) = &self.on_start {
            f(input.block_number);
        }
        self.inner.prove(&loaded, cancel)
    }

    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
        self.inner.verify(artifact, &Self::load(&self.store, input)?)
    }

    fn can_verify(&self) -> bool {
        self.inner.can_verify()
    }
}
