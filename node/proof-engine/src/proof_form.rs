//! The bytes a proof has on the API (specs/proof-engine.md §3). A zkVM whose
//! proofs a verifier checks from the block alone (a zkboost or ere-server
//! backend) gives its raw proof, as zkboost does. slotproof's own zkVMs
//! prove a statement whose public values go with the proof (for `stark`:
//! block hash ‖ number), so their API bytes are an SSZ container
//! `EngineProof { public_values: ByteList[1024], proof: ByteList[MAX_PROOF_SIZE] }`,
//! the same two fields as their gossiped envelope.

use ssz::{Decode, Encode};
use ssz_derive::{Decode, Encode};
use ssz_types::VariableList;
use ssz_types::typenum::{U1024, U4194304};

/// EIP-8025's `MAX_PROOF_SIZE`.
pub const MAX_PROOF_SIZE: usize = 4 << 20;

#[derive(Debug, PartialEq, Eq, Encode, Decode)]
struct EngineProof {
    public_values: VariableList<u8, U1024>,
    proof: VariableList<u8, U4194304>,
}

/// Which of the two forms a zkVM's proofs take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofForm {
    /// The zkVM's proof bytes as they are.
    Raw,
    /// `EngineProof`: public values and proof.
    WithPublicValues,
}

impl ProofForm {
    /// API bytes of a proof; `None` when it is over a bound (such a proof is not served).
    pub fn encode(self, proof: &[u8], public_values: &[u8]) -> Option<Vec<u8>> {
        if proof.len() > MAX_PROOF_SIZE {
            return None;
        }
        match self {
            ProofForm::Raw => Some(proof.to_vec()),
            ProofForm::WithPublicValues => Some(
                EngineProof {
                    public_values: VariableList::new(public_values.to_vec()).ok()?,
                    proof: VariableList::new(proof.to_vec()).ok()?,
                }
                .as_ssz_bytes(),
            ),
        }
    }

    /// (proof, public values) from API bytes; raw proofs have none.
    pub fn decode(self, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
        match self {
            ProofForm::Raw if bytes.len() > MAX_PROOF_SIZE => Err(format!("proof over {MAX_PROOF_SIZE} bytes")),
            ProofForm::Raw => Ok((bytes.to_vec(), Vec::new())),
            ProofForm::WithPublicValues => EngineProof::from_ssz_bytes(bytes)
                .map(|p| (p.proof.to_vec(), p.public_values.to_vec()))
                .map_err(|e| format!("not an SSZ EngineProof: {e:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_round_trip_and_garbage_is_refused() {
        let bytes = ProofForm::WithPublicValues.encode(b"proof", &[1; 40]).unwrap();
        assert_eq!(ProofForm::WithPublicValues.decode(&bytes).unwrap(), (b"proof".to_vec(), vec![1; 40]));
        // Cut into the offsets: refused; cut in the proof: another (shorter) proof, which the verifier refuses.
        assert!(ProofForm::WithPublicValues.decode(&bytes[..7]).is_err());
        assert_ne!(ProofForm::WithPublicValues.decode(&bytes[..bytes.len() - 1]).unwrap().0, b"proof".to_vec());
        assert!(ProofForm::WithPublicValues.decode(b"\xff\xff\xff\xff").is_err());
        assert!(ProofForm::WithPublicValues.decode(b"").is_err());
        assert_eq!(ProofForm::Raw.decode(b"abc").unwrap(), (b"abc".to_vec(), vec![]));
        assert_eq!(ProofForm::Raw.encode(b"abc", &[9]), Some(b"abc".to_vec()));
        assert!(ProofForm::WithPublicValues.encode(b"p", &[0; 1025]).is_none());
    }
}
