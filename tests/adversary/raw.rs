//! Messages encoded by hand (SSZ, then snappy) so a zkVM name can be what the
//! typed constructors refuse: longer than the 64-byte bound. The layouts
//! follow `slotproof_p2p::wire`'s containers field by field; the tests
//! check them against the typed encoding for names that fit.

/// Fixed part of a `Claim`: number, hash, two offsets, rank.
const CLAIM_FIXED: usize = 8 + 32 + 4 + 4 + 2;
/// Fixed part of a `ProofAnnouncement`: number, hash, two offsets, bytes, root.
const ANNOUNCEMENT_FIXED: usize = 8 + 32 + 4 + 4 + 8 + 32;

/// A 4-byte SSZ offset (these messages are a few hundred bytes).
fn offset(at: usize) -> [u8; 4] {
    u32::try_from(at).unwrap_or(u32::MAX).to_le_bytes()
}

fn snappy(ssz: &[u8]) -> Vec<u8> {
    // Compressing bytes in memory cannot fail.
    snap::raw::Encoder::new().compress_vec(ssz).unwrap_or_default()
}

/// A `Claim` for block (number, hash) with any zkVM and node-id bytes.
pub fn claim(number: u64, hash: [u8; 32], zkvm: &[u8], node_id: &[u8], rank: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(CLAIM_FIXED + zkvm.len() + node_id.len());
    out.extend_from_slice(&number.to_le_bytes());
    out.extend_from_slice(&hash);
    out.extend_from_slice(&offset(CLAIM_FIXED));
    out.extend_from_slice(&offset(CLAIM_FIXED + zkvm.len()));
    out.extend_from_slice(&rank.to_le_bytes());
    out.extend_from_slice(zkvm);
    out.extend_from_slice(node_id);
    snappy(&out)
}

/// What a hand-made announcement says.
pub struct Announced<'a> {
    pub number: u64,
    pub hash: [u8; 32],
    pub zkvm: &'a [u8],
    pub node_id: &'a [u8],
    pub proof_bytes: u64,
    pub root: [u8; 32],
}

/// A `ProofAnnouncement` with any zkVM and node-id bytes.
pub fn announcement(a: &Announced<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(ANNOUNCEMENT_FIXED + a.zkvm.len() + a.node_id.len());
    out.extend_from_slice(&a.number.to_le_bytes());
    out.extend_from_slice(&a.hash);
    out.extend_from_slice(&offset(ANNOUNCEMENT_FIXED));
    out.extend_from_slice(&offset(ANNOUNCEMENT_FIXED + a.zkvm.len()));
    out.extend_from_slice(&a.proof_bytes.to_le_bytes());
    out.extend_from_slice(&a.root);
    out.extend_from_slice(a.zkvm);
    out.extend_from_slice(a.node_id);
    snappy(&out)
}

#[cfg(test)]
mod tests {
    use slotproof_p2p::topics::MAX_CONTROL_MESSAGE_BYTES;
    use slotproof_p2p::wire::{self, Claim, ProofAnnouncement};
    use tree_hash::Hash256;

    use super::*;

    #[test]
    fn a_hand_made_claim_is_the_typed_encoding_when_the_name_fits() {
        let typed = Claim {
            number: 77,
            hash: Hash256::from([3; 32]),
            zkvm: wire::name("stark/0").unwrap(),
            node_id: wire::name("12D3KooWexample").unwrap(),
            rank: 9,
        };
        assert_eq!(claim(77, [3; 32], b"stark/0", b"12D3KooWexample", 9), wire::encode(&typed));
    }

    #[test]
    fn a_hand_made_announcement_is_the_typed_encoding_when_the_name_fits() {
        let typed = ProofAnnouncement {
            number: 5,
            hash: Hash256::from([1; 32]),
            zkvm: wire::Name::new(vec![0xff, 0xfe]).unwrap(),
            node_id: wire::name("me").unwrap(),
            proof_bytes: 4096,
            proof_root: Hash256::from([2; 32]),
        };
        let hand = announcement(&Announced {
            number: 5,
            hash: [1; 32],
            zkvm: &[0xff, 0xfe],
            node_id: b"me",
            proof_bytes: 4096,
            root: [2; 32],
        });
        assert_eq!(hand, wire::encode(&typed));
    }

    /// A 255-byte name is what the typed decoder refuses: the point of encoding by hand.
    #[test]
    fn a_name_over_the_bound_does_not_decode() {
        let long = vec![b'a'; 255];
        let bytes = claim(1, [0; 32], &long, b"me", 0);
        assert!(wire::decode::<Claim>(&bytes, MAX_CONTROL_MESSAGE_BYTES).is_err());
    }
}
