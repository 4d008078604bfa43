//! Signing and checking proof envelopes (specs/p2p.md §3): ed25519 by the
//! node key over a domain tag and `hash_tree_root(ProofEnvelope)`; the signer
//! is the envelope's `node_id`, whose peer id carries the public key.

use libp2p::PeerId;
use libp2p::identity::Keypair;
use ssz_types::FixedVector;
use tree_hash::TreeHash;

use crate::error::SignError;
use crate::key::public_key_of;
use crate::wire::{ProofEnvelope, SignedProof};

const DOMAIN: &[u8] = b"slotproof-proof-v1";

fn signing_bytes(envelope: &ProofEnvelope) -> Vec<u8> {
    let mut msg = DOMAIN.to_vec();
    msg.extend_from_slice(envelope.tree_hash_root().as_slice());
    msg
}

pub fn sign(key: &Keypair, envelope: ProofEnvelope) -> Result<SignedProof, SignError> {
    let signature = key.sign(&signing_bytes(&envelope)).map_err(SignError::Key)?;
    let len = signature.len();
    let signature = FixedVector::new(signature).map_err(|_| SignError::Length(len))?;
    Ok(SignedProof { message: envelope, signature })
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("node id is not a peer id")]
    NodeId,
    #[error("node id carries no ed25519 key")]
    NoKey,
    #[error("signature does not verify")]
    Bad,
}

/// The signer, when the signature is the node id's.
pub fn check(signed: &SignedProof) -> Result<PeerId, SignatureError> {
    let id = std::str::from_utf8(&signed.message.node_id).map_err(|_| SignatureError::NodeId)?;
    let peer: PeerId = id.parse().map_err(|_| SignatureError::NodeId)?;
    let key = public_key_of(&peer).ok_or(SignatureError::NoKey)?;
    if key.verify(&signing_bytes(&signed.message), &signed.signature) { Ok(peer) } else { Err(SignatureError::Bad) }
}

#[cfg(test)]
mod tests {
    use ssz_types::VariableList;
    use tree_hash::Hash256;

    use super::*;
    use crate::wire::{ExecutionProof, PublicInput, name};

    fn envelope(node: &PeerId) -> ProofEnvelope {
        ProofEnvelope {
            number: 1,
            hash: Hash256::repeat_byte(1),
            zkvm: name("stark").unwrap(),
            node_id: name(&node.to_string()).unwrap(),
            proving_ms: 800,
            public_values: VariableList::new(vec![1, 2]).unwrap(),
            proof: ExecutionProof {
                proof_data: VariableList::new(vec![5; 100]).unwrap(),
                proof_type: 0x80,
                public_input: PublicInput { new_payload_request_root: Hash256::repeat_byte(1) },
            },
        }
    }

    #[test]
    fn a_signature_binds_the_signer_and_every_field() {
        let key = Keypair::generate_ed25519();
        let me = key.public().to_peer_id();
        let signed = sign(&key, envelope(&me)).unwrap();
        assert_eq!(check(&signed), Ok(me));
        let mut changed = signed.clone();
        changed.message.proving_ms = 1;
        assert_eq!(check(&changed), Err(SignatureError::Bad));
        // Signed by another key in my name.
        let other = Keypair::generate_ed25519();
        let forged = sign(&other, envelope(&me)).unwrap();
        assert_eq!(check(&forged), Err(SignatureError::Bad));
        let mut garbage = signed;
        garbage.message.node_id = name("not-a-peer").unwrap();
        assert_eq!(check(&garbage), Err(SignatureError::NodeId));
    }
}
