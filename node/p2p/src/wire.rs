//! The network's messages (specs/p2p.md §2–§3): SSZ containers (Lighthouse's
//! `ethereum_ssz`, `ssz_types`, `tree_hash`), snappy-compressed, with the
//! claimed size checked before anything is decompressed.

use ssz::{Decode, Encode};
use ssz_derive::{Decode, Encode};
use ssz_types::typenum::{U4, U16, U64, U1024, U4194304};
use ssz_types::{FixedVector, VariableList};
use tree_hash::Hash256;
use tree_hash_derive::TreeHash;

/// Names and ids on the wire (zkVM names, node ids): at most 64 bytes.
pub type Name = VariableList<u8, U64>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message claims {claimed} bytes, over the {cap}-byte cap")]
    TooLarge { claimed: usize, cap: usize },
    #[error("not snappy: {0}")]
    Snappy(String),
    #[error("not a valid SSZ message: {0}")]
    Ssz(String),
    #[error("{what} longer than its bound")]
    Bound { what: &'static str },
}

pub fn name(s: &str) -> Result<Name, WireError> {
    Name::new(s.as_bytes().to_vec()).map_err(|_| WireError::Bound { what: "name" })
}

/// A name as text (lossy: names on the wire are not trusted to be UTF-8).
pub fn text(n: &Name) -> String {
    String::from_utf8_lossy(n).into_owned()
}

/// `0x`-prefixed 32-byte hex, as the chain crate writes hashes.
pub fn hash_from_hex(s: &str) -> Option<Hash256> {
    let s = s.strip_prefix("0x")?;
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Hash256::from(out))
}

pub fn hash_hex(h: &Hash256) -> String {
    let mut s = String::with_capacity(66);
    s.push_str("0x");
    for b in h.as_slice() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A byte list bounded by its type, or a `Bound` error naming `what`.
pub fn bytes<N: ssz_types::typenum::Unsigned>(
    v: Vec<u8>,
    what: &'static str,
) -> Result<VariableList<u8, N>, WireError> {
    VariableList::new(v).map_err(|_| WireError::Bound { what })
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ZkvmOffer {
    pub name: Name,
    pub version: Name,
    pub proof_type: u8,
    pub free_slots: u16,
    pub total_slots: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct Heartbeat {
    pub node_id: Name,
    pub seq: u64,
    pub head_number: u64,
    pub head_hash: Hash256,
    pub zkvms: VariableList<ZkvmOffer, U16>,
    /// Busy share of the node's slots, in percent.
    pub load: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct BlockTask {
    pub number: u64,
    pub hash: Hash256,
    pub parent_hash: Hash256,
    pub slot: u64,
    pub deadline_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct Claim {
    pub number: u64,
    pub hash: Hash256,
    pub zkvm: Name,
    pub node_id: Name,
    pub rank: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct Progress {
    pub number: u64,
    pub hash: Hash256,
    pub zkvm: Name,
    pub node_id: Name,
    pub percent: u8,
}

/// Announces a proof; the bytes are fetched over request-response.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ProofAnnouncement {
    pub number: u64,
    pub hash: Hash256,
    pub zkvm: Name,
    pub node_id: Name,
    pub proof_bytes: u64,
    /// `hash_tree_root` of the `ProofEnvelope` being announced.
    pub proof_root: Hash256,
}

/// EIP-8025's `PublicInput`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct PublicInput {
    pub new_payload_request_root: Hash256,
}

/// EIP-8025's `ExecutionProof` (its `ProofData` bounded by `MAX_PROOF_SIZE`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ExecutionProof {
    pub proof_data: VariableList<u8, U4194304>,
    pub proof_type: u8,
    pub public_input: PublicInput,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ProofEnvelope {
    pub number: u64,
    pub hash: Hash256,
    pub zkvm: Name,
    pub node_id: Name,
    pub proving_ms: u64,
    /// The zkVM's public values (for `stark`: block hash ‖ number), which its
    /// verifier checks; outside EIP-8025's container, inside the signature.
    pub public_values: VariableList<u8, U1024>,
    pub proof: ExecutionProof,
}

/// The envelope and the node key's ed25519 signature over its root.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct SignedProof {
    pub message: ProofEnvelope,
    pub signature: FixedVector<u8, U64>,
}

/// `proof_by_root`: the signed proofs a peer holds for one (block, zkVM).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ProofsByRootRequest {
    pub hash: Hash256,
    pub zkvm: Name,
}

/// `proofs_by_range`: signed proofs for `count` blocks from `start`, for the
/// listed zkVMs (all when empty).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ProofsByRangeRequest {
    pub start: u64,
    pub count: u64,
    pub zkvms: VariableList<Name, U4>,
}

/// SSZ, then snappy (raw block format).
pub fn encode<T: Encode>(message: &T) -> Vec<u8> {
    // Compressing bytes that are already in memory cannot fail.
    snap::raw::Encoder::new().compress_vec(&message.as_ssz_bytes()).unwrap_or_default()
}

/// The claimed length is checked against `cap` before decompressing, so a
/// small hostile message cannot make the node allocate a large buffer.
pub fn decode<T: Decode>(bytes: &[u8], cap: usize) -> Result<T, WireError> {
    let claimed = snap::raw::decompress_len(bytes).map_err(|e| WireError::Snappy(e.to_string()))?;
    if claimed > cap {
        return Err(WireError::TooLarge { claimed, cap });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(bytes).map_err(|e| WireError::Snappy(e.to_string()))?;
    T::from_ssz_bytes(&raw).map_err(|e| WireError::Ssz(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use tree_hash::TreeHash;

    use super::*;
    use crate::topics::{MAX_CONTROL_MESSAGE_BYTES, MAX_PROOF_MESSAGE_BYTES};

    fn h(b: u8) -> Hash256 {
        Hash256::repeat_byte(b)
    }

    fn envelope(proof: Vec<u8>) -> ProofEnvelope {
        ProofEnvelope {
            number: 21_230_866,
            hash: h(1),
            zkvm: name("stark").unwrap(),
            node_id: name("12D3KooW-example").unwrap(),
            proving_ms: 780,
            public_values: VariableList::new(vec![1; 40]).unwrap(),
            proof: ExecutionProof {
                proof_data: VariableList::new(proof).unwrap(),
                proof_type: 0x80,
                public_input: PublicInput { new_payload_request_root: h(1) },
            },
        }
    }

    #[test]
    fn hashes_round_trip_through_hex() {
        let hex = "0x6987698bd5b5c557891ecd8215df64fdaea8ea1d928646ff56249d608d42f27f";
        assert_eq!(hash_hex(&hash_from_hex(hex).unwrap()), hex);
        assert!(hash_from_hex("0x12").is_none());
        assert!(hash_from_hex(&hex.replace('6', "g")).is_none());
    }

    #[test]
    fn every_message_round_trips() {
        let hb = Heartbeat {
            node_id: name("a").unwrap(),
            seq: 7,
            head_number: 16_000_005,
            head_hash: h(2),
            zkvms: VariableList::new(vec![ZkvmOffer {
                name: name("stark").unwrap(),
                version: name("v1").unwrap(),
                proof_type: 0x80,
                free_slots: 1,
                total_slots: 2,
            }])
            .unwrap(),
            load: 50,
        };
        assert_eq!(decode::<Heartbeat>(&encode(&hb), MAX_CONTROL_MESSAGE_BYTES).unwrap(), hb);
        let task = BlockTask { number: 1, hash: h(3), parent_hash: h(4), slot: 9, deadline_ms: 12_000 };
        assert_eq!(decode::<BlockTask>(&encode(&task), MAX_CONTROL_MESSAGE_BYTES).unwrap(), task);
        let claim = Claim { number: 1, hash: h(3), zkvm: name("sp1").unwrap(), node_id: name("b").unwrap(), rank: 1 };
        assert_eq!(decode::<Claim>(&encode(&claim), MAX_CONTROL_MESSAGE_BYTES).unwrap(), claim);
        let signed =
            SignedProof { message: envelope(vec![7; 290_000]), signature: FixedVector::new(vec![9; 64]).unwrap() };
        let back = decode::<SignedProof>(&encode(&signed), MAX_PROOF_MESSAGE_BYTES).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.message.tree_hash_root(), signed.message.tree_hash_root());
        assert_ne!(
            envelope(vec![7; 10]).tree_hash_root(),
            envelope(vec![8; 10]).tree_hash_root(),
            "the root binds the proof"
        );
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        // A tiny message claiming 100 MB is refused before decompression.
        let mut claim_huge = Vec::new();
        let mut n: u64 = 100 << 20;
        while n >= 0x80 {
            claim_huge.push((n as u8) | 0x80);
            n >>= 7;
        }
        claim_huge.push(n as u8);
        claim_huge.extend_from_slice(&[0; 8]);
        assert!(matches!(decode::<BlockTask>(&claim_huge, MAX_CONTROL_MESSAGE_BYTES), Err(WireError::TooLarge { .. })));
        // A proof message on a control topic is over its cap too.
        let signed =
            SignedProof { message: envelope(vec![1; 10_000]), signature: FixedVector::new(vec![0; 64]).unwrap() };
        let big = encode(&signed);
        assert!(matches!(decode::<SignedProof>(&big, MAX_CONTROL_MESSAGE_BYTES), Err(WireError::TooLarge { .. })));
        // Garbage, truncation, the wrong type.
        assert!(decode::<BlockTask>(b"\xff\xff\xff\xff\xff\xff", MAX_CONTROL_MESSAGE_BYTES).is_err());
        let task = encode(&BlockTask { number: 1, hash: h(3), parent_hash: h(4), slot: 9, deadline_ms: 1 });
        assert!(decode::<BlockTask>(&task[..task.len() - 3], MAX_CONTROL_MESSAGE_BYTES).is_err());
        assert!(matches!(decode::<Claim>(&task, MAX_CONTROL_MESSAGE_BYTES), Err(WireError::Ssz(_))));
        assert!(name(&"x".repeat(65)).is_err());
        for seed in 0..500u32 {
            let junk: Vec<u8> = blake3::hash(&seed.to_be_bytes()).as_bytes().repeat(1 + (seed % 5) as usize);
            let _ = decode::<Heartbeat>(&junk, MAX_CONTROL_MESSAGE_BYTES);
            let _ = decode::<SignedProof>(&junk, MAX_PROOF_MESSAGE_BYTES);
        }
    }
}
