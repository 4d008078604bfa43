//! The node's side of the proof-engine API (specs/proof-engine.md): which
//! proof types it offers (each zkVM under its own name, or under the
//! zkboost proof type a zkboost / ere-server backend really proves), the
//! bytes a zkVM's proofs take there, and the `Backend` the API calls: an
//! accepted request goes to the node loop over a bounded channel, a
//! verification runs the zkVM's verifier on the stored input.

use std::collections::BTreeMap;
use std::sync::Arc;

use slotproof_proof_engine::{Accepted, Backend, KnownBlock, Offer, ProofForm, ProofTypeInfo};
use slotproof_zkvm::{ProofArtifact, Prover, ProvingInput};
use tokio::sync::mpsc;

/// Requests waiting for the node loop: more are refused (500, as zkboost's enqueue failure).
pub const ENGINE_REQUESTS: usize = 16;

/// One zkVM as the proof engine sees it.
#[derive(Clone, Debug)]
pub struct EngineZkvm {
    pub name: String,
    /// The adapter kind (`stark`, `risc0`, `sim`, `external`, `zkboost`, `ere`): the API's `kind`.
    pub kind: String,
    /// The zkboost proof type it proves (zkboost and ere backends only); else offered under its name.
    pub proof_type: Option<String>,
    pub form: ProofForm,
    pub can_verify: bool,
}

/// Every zkVM offered, under its proof type.
pub fn offers(zkvms: &[EngineZkvm]) -> Vec<Offer> {
    zkvms
        .iter()
        .map(|z| Offer {
            info: ProofTypeInfo {
                proof_type: z.proof_type.clone().unwrap_or_else(|| z.name.clone()),
                kind: z.kind.clone(),
                can_prove: true,
                can_verify: z.can_verify,
            },
            zkvm: z.name.clone(),
        })
        .collect()
}

pub struct NodeBackend {
    pub requests: mpsc::Sender<Accepted>,
    /// The node's verifiers (loading inputs from the store by reference).
    pub verifiers: BTreeMap<String, Arc<dyn Prover>>,
    pub forms: BTreeMap<String, ProofForm>,
}

impl Backend for NodeBackend {
    fn submit(&self, request: Accepted) -> Result<(), String> {
        self.requests.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                format!("{ENGINE_REQUESTS} requests are waiting for the node already")
            }
            mpsc::error::TrySendError::Closed(_) => "the node is stopping".to_string(),
        })
    }

    fn verify(&self, zkvm: &str, block: KnownBlock, proof: &[u8]) -> Result<(), String> {
        let verifier = self.verifiers.get(zkvm).ok_or_else(|| format!("no verifier for {zkvm} here"))?;
        let form = self.forms.get(zkvm).copied().unwrap_or(ProofForm::WithPublicValues);
        let (proof, public_values) = form.decode(proof)?;
        let artifact = ProofArtifact {
            zkvm: zkvm.to_string(),
            proof,
            public_values,
            cycles: None,
            proving_time: std::time::Duration::ZERO,
            simulated: zkvm.starts_with("sim:"),
        };
        let reference = ProvingInput::new(block.number, block.input_digest.as_bytes().to_vec());
        verifier.verify(&artifact, &reference).map_err(|e| e.to_string())
    }
}

/// What the node loop and the recorder need to report to the engine.
#[derive(Clone)]
pub struct EngineLink {
    pub engine: Arc<slotproof_proof_engine::ProofEngine>,
    pub forms: Arc<BTreeMap<String, ProofForm>>,
}

impl EngineLink {
    /// A verified proof of `zkvm`, in its API form. A simulated one is never
    /// served under a zkboost name (that name promises a real EL/zkVM proof).
    pub fn completed(
        &self,
        root: slotproof_primitives::Hash32,
        zkvm: &str,
        proof: &[u8],
        public_values: &[u8],
        simulated: bool,
    ) {
        let zkboost_named = self
            .engine
            .types_of(zkvm)
            .iter()
            .any(|t| slotproof_zkvm::zkboost::ZKBOOST_PROOF_TYPES.contains(&t.as_str()));
        if simulated && zkboost_named {
            let why = "the backend's proof is simulated: not served under a zkboost proof type";
            self.engine.failed(root, zkvm, slotproof_proof_engine::FailureReason::ProvingError, why);
            return;
        }
        let form = self.forms.get(zkvm).copied().unwrap_or(ProofForm::WithPublicValues);
        match form.encode(proof, public_values) {
            Some(bytes) => self.engine.completed(root, zkvm, bytes),
            None => self.engine.failed(
                root,
                zkvm,
                slotproof_proof_engine::FailureReason::ProvingError,
                "the proof is over the proof engine's size bound",
            ),
        }
    }
}
