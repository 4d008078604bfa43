//! The built-in STARK prover (`stark`, specs/provers.md §6): a real
//! transparent proof, with Plonky3, that the Keccak-256 sponge over the
//! block header's RLP ends in the block hash. Public values: the hash and the
//! number. Verifiable by anyone holding the header.
//!
//! It is not a zkEVM execution proof: it proves the header hashes to the
//! block hash (which binds the transactions, state and receipts roots), not
//! that executing the transactions gives those roots.

mod air;
mod config;

use std::time::Instant;

use slotproof_primitives::Header;
use slotproof_primitives::keccak::padded_blocks;

use crate::cancel::CancelToken;
use crate::error::ProverError;
use crate::input::BlockError;
use crate::prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};

pub use air::HeaderHashAir;
pub use config::{PARAMS, StarkParams, security_bits};

/// First bytes of every `stark` proof; the version names the statement and
/// the parameters, so a change of either is a new label.
pub const STARK_PROOF_LABEL: &[u8] = b"SLOTPROOF-STARK-KECCAK-HEADER-v1\0";
/// Proof type byte: EIP-8025 leaves values unassigned; 0x80.. is ours.
pub const STARK_PROOF_TYPE: u8 = 0x80;
/// Proofs over this size are refused before parsing (EIP-8025's cap).
pub const MAX_PROOF_BYTES: usize = 4 << 20;

pub struct StarkProver {
    id: ZkvmIdentity,
}

impl Default for StarkProver {
    fn default() -> Self {
        StarkProver {
            id: ZkvmIdentity { name: "stark".into(), version: config::VERSION.into(), proof_type: STARK_PROOF_TYPE },
        }
    }
}

/// What a proof claims: the block hash, then the number big-endian.
pub fn public_values(header: &Header) -> Vec<u8> {
    let mut out = header.hash.as_bytes().to_vec();
    out.extend_from_slice(&header.number.to_be_bytes());
    out
}

pub fn header_of_input(input: &ProvingInput) -> Result<Header, ProverError> {
    block_header(input).map_err(|e| ProverError::Permanent(format!("stark: {e}")))
}

/// The header of a block input, re-encoded and checked against the block's
/// hash (the statement's subject, for every prover of it).
pub fn block_header(input: &ProvingInput) -> Result<Header, String> {
    let value: serde_json::Value =
        serde_json::from_slice(&input.bytes).map_err(|e| format!("input is not block JSON: {e}"))?;
    let obj = value.as_object().ok_or_else(|| BlockError::NotObject.to_string())?;
    Header::from_block_json(obj).map_err(|e| e.to_string())
}

/// Keccak-f permutations of the header's sponge (24 rounds each: the cycles reported).
fn permutations(header: &Header) -> u64 {
    padded_blocks(&header.rlp).len() as u64
}

/// Proves that `header.rlp` hashes to `header.hash`; returns the proof bytes.
pub fn prove_header(header: &Header) -> Result<Vec<u8>, ProverError> {
    let proof = config::prove(&header.rlp, header.hash.as_bytes())?;
    let mut out = STARK_PROOF_LABEL.to_vec();
    out.extend_from_slice(&proof);
    Ok(out)
}

/// Checks `proof` against the header the verifier holds.
pub fn verify_header(header: &Header, proof: &[u8]) -> Result<(), ProverError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProverError::Invalid(format!(
            "stark proof of {} bytes is over the {MAX_PROOF_BYTES} cap",
            proof.len()
        )));
    }
    let body = proof
        .strip_prefix(STARK_PROOF_LABEL)
        .ok_or_else(|| ProverError::Invalid("not a slotproof stark proof (label missing or another version)".into()))?;
    config::verify(&header.rlp, header.hash.as_bytes(), body)
}

impl Prover for StarkProver {
    fn identity(&self) -> &ZkvmIdentity {
        &self.id
    }

    fn resources(&self) -> Resources {
        Resources { cpus: 1, gpus: 0 }
    }

    fn execute(&self, input: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        let started = Instant::now();
        let header = header_of_input(input)?;
        let cycles = permutations(&header) * 24;
        Ok(ExecutionReport { cycles, duration: started.elapsed() })
    }

    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        let started = Instant::now();
        let header = header_of_input(input)?;
        if cancel.is_cancelled() {
            return Err(ProverError::Cancelled);
        }
        let proof = prove_header(&header)?;
        let cycles = permutations(&header) * 24;
        Ok(ProofArtifact {
            zkvm: self.id.name.clone(),
            proof,
            public_values: public_values(&header),
            cycles: Some(cycles),
            proving_time: started.elapsed(),
            simulated: false,
        })
    }

    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
        let header = header_of_input(input).map_err(|e| ProverError::Invalid(e.to_string()))?;
        if artifact.zkvm != self.id.name {
            return Err(ProverError::Invalid(format!("proof is from {}, not stark", artifact.zkvm)));
        }
        if artifact.public_values != public_values(&header) {
            return Err(ProverError::Invalid(format!(
                "public values do not name block {} ({})",
                header.number, header.hash
            )));
        }
        verify_header(&header, &artifact.proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::block_input;

    fn block(number: u64) -> ProvingInput {
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let bytes = std::fs::read(dir.join(format!("../testdata/blocks/{number}.json"))).unwrap();
        block_input(&bytes).unwrap().0
    }

    #[test]
    fn a_real_block_proves_and_verifies_and_nothing_else_does() {
        let p = StarkProver::default();
        let input = block(21_230_866);
        let a = p.prove(&input, &CancelToken::new()).unwrap();
        assert!(!a.simulated);
        assert_eq!(&a.public_values[..32], header_of_input(&input).unwrap().hash.as_bytes());
        assert_eq!(a.public_values[32..], 21_230_866u64.to_be_bytes());
        assert!(a.proof.len() <= 300 * 1024, "{} bytes", a.proof.len());
        p.verify(&a, &input).unwrap();

        // Another block: refused on its public values, and also by the STARK
        // when the public values are rewritten to match it.
        let other = block(21_230_867);
        assert!(matches!(p.verify(&a, &other), Err(ProverError::Invalid(_))));
        let mut relabelled = a.clone();
        relabelled.public_values = public_values(&header_of_input(&other).unwrap());
        let e = p.verify(&relabelled, &other).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");

        // Any flipped byte: label, encoding, commitments, openings, the tail.
        for at in [0, STARK_PROOF_LABEL.len() + 3, a.proof.len() / 3, a.proof.len() / 2, a.proof.len() - 1] {
            let mut bad = a.clone();
            bad.proof[at] ^= 0x01;
            assert!(matches!(p.verify(&bad, &input), Err(ProverError::Invalid(_))), "flip at {at} accepted");
        }
        let mut truncated = a.clone();
        truncated.proof.truncate(a.proof.len() / 2);
        assert!(matches!(p.verify(&truncated, &input), Err(ProverError::Invalid(_))));
    }

    #[test]
    fn bad_inputs_are_permanent_errors() {
        let p = StarkProver::default();
        let e = p.prove(&ProvingInput::new(1, b"not json".to_vec()), &CancelToken::new()).unwrap_err();
        assert!(matches!(e, ProverError::Permanent(_)), "{e}");
        let oversize = ProofArtifact {
            zkvm: "stark".into(),
            proof: vec![0; MAX_PROOF_BYTES + 1],
            public_values: vec![],
            cycles: None,
            proving_time: std::time::Duration::ZERO,
            simulated: false,
        };
        let input = block(16_000_000);
        assert!(matches!(p.verify(&oversize, &input), Err(ProverError::Invalid(_))));
    }
}
