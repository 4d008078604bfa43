//! The network's messages (specs/p2p.md §2–§3): SSZ containers (Lighthouse's
//! `ethereum_ssz`, `ssz_types`, `tree_hash`), snappy-compressed, with the
//! claimed size checked before anything is decompressed.

use slotproof_primitives::{Hash32, NameError, names};
use ssz::{Decode, Encode};
use ssz_derive::{Decode, Encode};
use ssz_types::typenum::{U4, U16, U64, U1024, U4194304};
use ssz_types::{FixedVector, VariableList};
use tree_hash::{Hash256, TreeHash as _};
use tree_hash_derive::TreeHash;

use crate::topics::MAX_PROOF_MESSAGE_BYTES;

pub use crate::error::WireError;

/// Names and ids on the wire (zkVM names, node ids): at most 64 bytes.
pub type Name = VariableList<u8, U64>;

pub fn name(s: &str) -> Result<Name, WireError> {
    Name::new(s.as_bytes().to_vec()).map_err(|_| WireError::Bound { what: "name" })
}

/// A zkVM name, checked against the names rule (specs/p2p.md §3).
pub fn zkvm_name(s: &str) -> Result<Name, WireError> {
    names::check_zkvm_name(s).map_err(WireError::BadName)?;
    name(s)
}

/// A node id, checked against the names rule (specs/p2p.md §3).
pub fn node_name(s: &str) -> Result<Name, WireError> {
    names::check_node_id(s).map_err(WireError::BadName)?;
    name(s)
}

/// A name from the wire against a names rule; bytes that are not UTF-8 break it too.
fn check_with(n: &Name, what: &'static str, rule: fn(&str) -> Result<(), NameError>) -> Result<(), WireError> {
    let text = std::str::from_utf8(n)
        .map_err(|_| WireError::BadName(NameError::Char { what, name: text(n), c: char::REPLACEMENT_CHARACTER }))?;
    rule(text).map_err(WireError::BadName)
}

fn check_zkvm(n: &Name) -> Result<(), WireError> {
    check_with(n, "zkVM name", names::check_zkvm_name)
}

fn check_node(n: &Name) -> Result<(), WireError> {
    check_with(n, "node id", names::check_node_id)
}

/// Messages whose names are checked on decode: a name outside the rule makes
/// the whole message undecodable (specs/p2p.md §3), so nothing downstream
/// (keys, labels, logs) ever sees one.
pub trait CheckedNames {
    fn check_names(&self) -> Result<(), WireError>;
}

impl CheckedNames for Heartbeat {
    fn check_names(&self) -> Result<(), WireError> {
        check_node(&self.node_id)?;
        self.zkvms.iter().try_for_each(|o| check_zkvm(&o.name))
    }
}

impl CheckedNames for BlockTask {
    fn check_names(&self) -> Result<(), WireError> {
        Ok(())
    }
}

impl CheckedNames for ProofsByRootRequest {
    fn check_names(&self) -> Result<(), WireError> {
        check_zkvm(&self.zkvm)
    }
}

impl CheckedNames for ProofsByRangeRequest {
    fn check_names(&self) -> Result<(), WireError> {
        self.zkvms.iter().try_for_each(check_zkvm)
    }
}

impl CheckedNames for SignedProof {
    fn check_names(&self) -> Result<(), WireError> {
        self.message.check_names()
    }
}

/// `decode`, then the names check.
pub fn decode_checked<T: Decode + CheckedNames>(bytes: &[u8], cap: usize) -> Result<T, WireError> {
    let m: T = decode(bytes, cap)?;
    m.check_names()?;
    Ok(m)
}

/// A name as text (lossy: names on the wire are not trusted to be UTF-8).
pub fn text(n: &Name) -> String {
    String::from_utf8_lossy(n).into_owned()
}

/// A hash on the wire as the node's hash type.
pub fn hash32(h: &Hash256) -> Hash32 {
    Hash32(h.0)
}

/// The node's hash type as an SSZ `Bytes32`.
pub fn hash256(h: Hash32) -> Hash256 {
    Hash256::from(h.0)
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

/// The most a name may hold; longer versions are cut at a character boundary.
const NAME_BYTES: usize = 64;

fn truncated(s: &str) -> &str {
    let mut end = s.len().min(NAME_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl ZkvmOffer {
    /// A zkVM this node offers with all its slots free. The version is cut
    /// to the name bound (it is informative); the name must fit.
    pub fn new(name: &str, version: &str, proof_type: u8, slots: u16) -> Result<ZkvmOffer, WireError> {
        Ok(ZkvmOffer {
            name: zkvm_name(name)?,
            version: self::name(truncated(version))?,
            proof_type,
            free_slots: slots,
            total_slots: slots,
        })
    }
}

impl Heartbeat {
    /// At most 16 offers (specs/p2p.md §3).
    pub fn new(
        node_id: &str,
        seq: u64,
        head: (u64, Hash32),
        offers: Vec<ZkvmOffer>,
        load: u8,
    ) -> Result<Heartbeat, WireError> {
        Ok(Heartbeat {
            node_id: node_name(node_id)?,
            seq,
            head_number: head.0,
            head_hash: hash256(head.1),
            zkvms: VariableList::new(offers).map_err(|_| WireError::Bound { what: "zkvm offers" })?,
            load,
        })
    }

    /// The node id the heartbeat names (its claimed author).
    pub fn author(&self) -> String {
        text(&self.node_id)
    }

    pub fn zkvm_names(&self) -> std::collections::BTreeSet<String> {
        self.zkvms.iter().map(|o| text(&o.name)).collect()
    }
}

/// The accessors every message about one (block, zkVM) by one node shares:
/// the block's hash as `Hash32`, the zkVM's name and the author's node id as text.
macro_rules! about_a_block_by_a_node {
    ($($message:ty),+) => {$(
        impl $message {
            pub fn block_hash(&self) -> Hash32 {
                hash32(&self.hash)
            }

            pub fn zkvm_name(&self) -> String {
                text(&self.zkvm)
            }

            pub fn author(&self) -> String {
                text(&self.node_id)
            }
        }

        impl CheckedNames for $message {
            fn check_names(&self) -> Result<(), WireError> {
                check_zkvm(&self.zkvm)?;
                check_node(&self.node_id)
            }
        }
    )+};
}

about_a_block_by_a_node!(Claim, Progress, ProofEnvelope, ProofAnnouncement);

impl BlockTask {
    pub fn new(number: u64, hash: Hash32, parent: Hash32, slot: u64, deadline_ms: u64) -> BlockTask {
        BlockTask { number, hash: hash256(hash), parent_hash: hash256(parent), slot, deadline_ms }
    }

    pub fn block_hash(&self) -> Hash32 {
        hash32(&self.hash)
    }
}

impl Claim {
    pub fn new(number: u64, hash: Hash32, zkvm: &str, node_id: &str, rank: u16) -> Result<Claim, WireError> {
        Ok(Claim { number, hash: hash256(hash), zkvm: zkvm_name(zkvm)?, node_id: node_name(node_id)?, rank })
    }
}

impl Progress {
    pub fn new(number: u64, hash: Hash32, zkvm: &str, node_id: &str, percent: u8) -> Result<Progress, WireError> {
        Ok(Progress { number, hash: hash256(hash), zkvm: zkvm_name(zkvm)?, node_id: node_name(node_id)?, percent })
    }
}

/// What a proof needs besides the prover's node id: the node's own proof,
/// before it is put in an envelope and signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofParts {
    pub number: u64,
    pub hash: Hash32,
    pub zkvm: String,
    pub proving_ms: u64,
    pub proof_type: u8,
    pub proof: Vec<u8>,
    pub public_values: Vec<u8>,
    /// The block's `hash_tree_root(NewPayloadRequest)`; zero when the node has none.
    pub new_payload_request_root: Hash32,
}

impl ProofEnvelope {
    /// An envelope whose public input is the block's `NewPayloadRequest`
    /// root (specs/p2p.md §3; zero when the node could not build it).
    pub fn new(node_id: &str, p: ProofParts) -> Result<ProofEnvelope, WireError> {
        Ok(ProofEnvelope {
            number: p.number,
            hash: hash256(p.hash),
            zkvm: zkvm_name(&p.zkvm)?,
            node_id: node_name(node_id)?,
            proving_ms: p.proving_ms,
            public_values: bytes(p.public_values, "public values")?,
            proof: ExecutionProof {
                proof_data: bytes(p.proof, "proof")?,
                proof_type: p.proof_type,
                public_input: PublicInput { new_payload_request_root: hash256(p.new_payload_request_root) },
            },
        })
    }

    /// `hash_tree_root`: what is signed and what an announcement names.
    pub fn root(&self) -> Hash32 {
        hash32(&self.tree_hash_root())
    }

    /// EIP-8025's public input: the `NewPayloadRequest` root the proof claims.
    pub fn new_payload_request_root(&self) -> Hash32 {
        hash32(&self.proof.public_input.new_payload_request_root)
    }

    pub fn proof_data(&self) -> &[u8] {
        &self.proof.proof_data
    }

    pub fn public_values(&self) -> &[u8] {
        &self.public_values
    }
}

impl SignedProof {
    /// The root of the signed envelope (the signature is not part of it).
    pub fn root(&self) -> Hash32 {
        self.message.root()
    }

    /// A signed proof from request-response, under the proof cap.
    pub fn decode(bytes: &[u8]) -> Result<SignedProof, WireError> {
        decode_checked(bytes, MAX_PROOF_MESSAGE_BYTES)
    }

    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
}

impl ProofAnnouncement {
    /// The announcement of a signed proof: names its block, zkVM, signer and root.
    pub fn of(signed: &SignedProof) -> ProofAnnouncement {
        let m = &signed.message;
        ProofAnnouncement {
            number: m.number,
            hash: m.hash,
            zkvm: m.zkvm.clone(),
            node_id: m.node_id.clone(),
            proof_bytes: m.proof.proof_data.len() as u64,
            proof_root: m.tree_hash_root(),
        }
    }

    pub fn root(&self) -> Hash32 {
        hash32(&self.proof_root)
    }

    /// The request that fetches the announced proof.
    pub fn request(&self) -> ProofsByRootRequest {
        ProofsByRootRequest { hash: self.hash, zkvm: self.zkvm.clone() }
    }
}

impl ProofsByRangeRequest {
    /// Every zkVM's proofs for `count` blocks from `start`.
    pub fn all_zkvms(start: u64, count: u64) -> ProofsByRangeRequest {
        ProofsByRangeRequest { start, count, zkvms: VariableList::default() }
    }
}

/// SSZ, then snappy (raw block format).
pub fn encode<T: Encode>(message: &T) -> Vec<u8> {
    // Compressing bytes that are already in memory cannot fail.
    snap::raw::Encoder::new().compress_vec(&message.as_ssz_bytes()).unwrap_or_default()
}

/// The claimed length is checked against `cap` before decompressing, so a
/// small hostile message cannot make the node allocate a large buffer.
pub fn decode<T: Decode>(bytes: &[u8], cap: usize) -> Result<T, WireError> {
    let claimed = snap::raw::decompress_len(bytes).map_err(WireError::Snappy)?;
    if claimed > cap {
        return Err(WireError::TooLarge { claimed, cap });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(bytes).map_err(WireError::Snappy)?;
    T::from_ssz_bytes(&raw).map_err(WireError::Ssz)
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
            node_id: name("12D3KooWexample").unwrap(),
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
    fn hashes_convert_both_ways() {
        let hex = "0x6987698bd5b5c557891ecd8215df64fdaea8ea1d928646ff56249d608d42f27f";
        let h: Hash32 = hex.parse().unwrap();
        assert_eq!(hash32(&hash256(h)), h);
        assert_eq!(hash32(&hash256(h)).to_string(), hex);
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

    /// specs/p2p.md §3: the largest proof EIP-8025 allows (4 MiB) with full
    /// public values and names at their bounds fits one response chunk (the
    /// old 4 MiB + 1 KiB cap refused it).
    #[test]
    fn the_largest_proof_fits_a_chunk() {
        let mut env = envelope(vec![0xa5; 4 * 1024 * 1024]);
        env.public_values = VariableList::new(vec![1; 1024]).unwrap();
        env.zkvm = name(&"z".repeat(32)).unwrap();
        env.node_id = name(&"n".repeat(64)).unwrap();
        let signed = SignedProof { message: env, signature: FixedVector::new(vec![9; 64]).unwrap() };
        assert!(signed.as_ssz_bytes().len() > 4 * 1024 * 1024 + 1024);
        assert_eq!(SignedProof::decode(&signed.encode()).unwrap(), signed);
    }
}
