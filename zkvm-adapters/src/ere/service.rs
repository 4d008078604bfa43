//! `api.ZkvmService` answered with one of slotproof's zkVMs (the logic of
//! `slotproof ere-server`; the HTTP side is the binary's). The guest reads
//! the node's proving input (`block-json`). Ere's `Verify` gets the proof
//! alone, and slotproof's verifiers check a proof against its block, so the
//! proof bytes served are self-contained: `ServedProof { input, public_values,
//! proof }` (postcard), the verifier re-reading the block from `input`.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::proto::{self, report};
use crate::cancel::CancelToken;
use crate::input::block_input;
use crate::prover::{ProofArtifact, Prover};

/// Largest proving input taken (a block with receipts and witness).
pub const MAX_INPUT_BYTES: usize = 32 << 20;

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedProof {
    pub input: Vec<u8>,
    pub public_values: Vec<u8>,
    pub proof: Vec<u8>,
}

pub struct Service {
    prover: Arc<dyn Prover>,
}

impl Service {
    pub fn new(prover: Arc<dyn Prover>) -> Service {
        Service { prover }
    }

    pub fn name(&self) -> &str {
        &self.prover.identity().name
    }

    /// `ProgramVk`: what identifies the served program, `slotproof-<zkVM>/<version>`.
    pub fn program_vk(&self) -> proto::ProgramVkResponse {
        let id = self.prover.identity();
        let vk = format!("slotproof-{}/{}", id.name, id.version).into_bytes();
        proto::ProgramVkResponse {
            result: Some(proto::program_vk_response::Result::Ok(proto::ProgramVkOk { program_vk: vk })),
        }
    }

    pub fn execute(&self, request: &proto::ExecuteRequest) -> proto::ExecuteResponse {
        use proto::execute_response::Result;
        let result = match self.input(&request.input_stdin).and_then(|input| {
            let r = self.prover.execute(&input).map_err(|e| e.to_string())?;
            Ok(report::execution(r.cycles, r.duration))
        }) {
            // Execution gives cycles; the public values come with a proof.
            Ok(report) => Result::Ok(proto::ExecuteOk { public_values: vec![], report }),
            Err(e) => Result::Err(e),
        };
        proto::ExecuteResponse { result: Some(result) }
    }

    pub fn prove(&self, request: &proto::ProveRequest) -> proto::ProveResponse {
        use proto::prove_response::Result;
        let started = Instant::now();
        let result = match self.input(&request.input_stdin).and_then(|input| {
            let a = self.prover.prove(&input, &CancelToken::new()).map_err(|e| e.to_string())?;
            let served = ServedProof {
                input: request.input_stdin.clone(),
                public_values: a.public_values.clone(),
                proof: a.proof,
            };
            let proof = postcard::to_stdvec(&served).map_err(|e| e.to_string())?;
            Ok(proto::ProveOk {
                public_values: a.public_values,
                proof,
                report: report::proving(started.elapsed(), a.cycles),
            })
        }) {
            Ok(ok) => Result::Ok(ok),
            Err(e) => Result::Err(e),
        };
        proto::ProveResponse { result: Some(result) }
    }

    pub fn verify(&self, request: &proto::VerifyRequest) -> proto::VerifyResponse {
        use proto::verify_response::Result;
        let result = match self.check(&request.proof) {
            Ok(public_values) => Result::Ok(proto::VerifyOk { public_values }),
            Err(e) => Result::Err(e),
        };
        proto::VerifyResponse { result: Some(result) }
    }

    fn check(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        if bytes.len() > MAX_INPUT_BYTES * 2 {
            return Err("proof over the size bound".into());
        }
        let served: ServedProof = postcard::from_bytes(bytes).map_err(|e| format!("not a slotproof proof: {e}"))?;
        let input = self.input(&served.input)?;
        let artifact = ProofArtifact {
            zkvm: self.prover.identity().name.clone(),
            proof: served.proof,
            public_values: served.public_values.clone(),
            cycles: None,
            proving_time: std::time::Duration::ZERO,
            simulated: false,
        };
        self.prover.verify(&artifact, &input).map_err(|e| e.to_string())?;
        Ok(served.public_values)
    }

    fn input(&self, stdin: &[u8]) -> Result<crate::prover::ProvingInput, String> {
        if stdin.len() > MAX_INPUT_BYTES {
            return Err(format!("input over {MAX_INPUT_BYTES} bytes"));
        }
        block_input(stdin).map(|(input, _)| input).map_err(|e| format!("input is not a block (block-json): {e}"))
    }
}
