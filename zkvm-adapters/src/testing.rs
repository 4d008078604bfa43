//! Orchestration-test provers, labelled as such in their output (`simulated: true`):
//! `noop` returns at once, `sleep:<ms>` sleeps. Their "proof" is a keyed digest of
//! the input, so verification still catches a proof paired with the wrong input.
//! They prove nothing about a block.

use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::error::ProverError;
use crate::prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};

/// Proof type byte for test provers: outside any real zkVM's range.
pub const TEST_PROOF_TYPE: u8 = 0xfe;

pub struct TestProver {
    id: ZkvmIdentity,
    delay: Duration,
}

impl TestProver {
    pub fn noop() -> Self {
        Self::sleeping(Duration::ZERO)
    }

    pub fn sleeping(delay: Duration) -> Self {
        let name = if delay.is_zero() { "noop".to_string() } else { format!("sleep:{}", delay.as_millis()) };
        TestProver { id: ZkvmIdentity { name, version: "test".into(), proof_type: TEST_PROOF_TYPE }, delay }
    }

    /// `noop` or `sleep:<ms>`; None for any other name.
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "noop" {
            return Some(Self::noop());
        }
        let ms: u64 = name.strip_prefix("sleep:")?.parse().ok()?;
        Some(Self::sleeping(Duration::from_millis(ms)))
    }

    fn digest(&self, input_digest: &[u8; 32]) -> Vec<u8> {
        let mut h = blake3::Hasher::new_derive_key("slotproof test prover v1");
        h.update(self.id.name.as_bytes());
        h.update(input_digest);
        h.finalize().as_bytes().to_vec()
    }
}

impl Prover for TestProver {
    fn identity(&self) -> &ZkvmIdentity {
        &self.id
    }

    fn resources(&self) -> Resources {
        Resources { cpus: 0, gpus: 0 }
    }

    fn execute(&self, _input: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        Ok(ExecutionReport { cycles: 0, duration: Duration::ZERO })
    }

    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        let start = Instant::now();
        if !self.delay.is_zero() && cancel.sleep(self.delay) {
            return Err(ProverError::Cancelled);
        }
        Ok(ProofArtifact {
            zkvm: self.id.name.clone(),
            proof: self.digest(&input.digest),
            public_values: input.block_number.to_be_bytes().to_vec(),
            cycles: None,
            proving_time: start.elapsed(),
            simulated: true,
        })
    }

    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
        if artifact.proof == self.digest(&input.digest) {
            Ok(())
        } else {
            Err(ProverError::Invalid(format!("{} proof does not match the input digest", self.id.name)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_proofs_bind_to_input() {
        assert!(TestProver::from_name("noop").is_some());
        assert_eq!(TestProver::from_name("sleep:5").map(|p| p.delay), Some(Duration::from_millis(5)));
        assert!(TestProver::from_name("sleep:x").is_none());
        assert!(TestProver::from_name("sp1").is_none());
        let p = TestProver::noop();
        let a = ProvingInput::new(1, b"a".to_vec());
        let b = ProvingInput::new(1, b"b".to_vec());
        let proof = p.prove(&a, &CancelToken::new()).unwrap();
        assert!(proof.simulated);
        assert!(p.verify(&proof, &a).is_ok());
        assert!(p.verify(&proof, &b).is_err());
    }

    #[test]
    fn sleeping_prover_stops_when_cancelled() {
        let p = TestProver::sleeping(Duration::from_secs(30));
        let cancel = CancelToken::new();
        let c2 = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            c2.cancel();
        });
        let start = Instant::now();
        assert_eq!(p.prove(&ProvingInput::new(1, vec![]), &cancel), Err(ProverError::Cancelled));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
