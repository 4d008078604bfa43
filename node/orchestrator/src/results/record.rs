//! The records the store keeps: one per (block number, hash), with the
//! node's own proofs by zkVM and the proofs received from the network.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use slotproof_primitives::Hash32;

/// Where one zkVM's own proof of a block stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProofStatus {
    /// Asked for, nothing yet.
    #[default]
    Pending,
    /// A proof arrived (see `verified`).
    Proved,
    /// The prover gave up (its error is recorded), or the proof did not verify.
    Failed,
    /// Nothing by the time the block closed.
    Missed,
}

impl ProofStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProofStatus::Pending => "pending",
            ProofStatus::Proved => "proved",
            ProofStatus::Failed => "failed",
            ProofStatus::Missed => "missed",
        }
    }
}

impl std::fmt::Display for ProofStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProofRecord {
    pub status: ProofStatus,
    pub proving_ms: Option<u64>,
    pub proof_bytes: Option<u64>,
    pub verified: bool,
    pub simulated: bool,
    /// From the block's arrival to the proof being recorded.
    pub latency_ms: Option<u64>,
    pub within_deadline: bool,
    pub error: Option<String>,
}

/// A proof another node made, fetched and checked here (specs/p2p.md §6).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReceivedProof {
    pub zkvm: String,
    /// The prover's node id (its peer id).
    pub node: String,
    pub proving_ms: u64,
    pub proof_bytes: u64,
    pub simulated: bool,
    /// Checked with this node's verifier for the zkVM (false: none here).
    pub verified: bool,
    /// Received before the slot deadline.
    pub within_deadline: bool,
    pub received_ms: u64,
    /// `hash_tree_root` of its envelope.
    #[serde(skip)]
    pub root: Option<[u8; 32]>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub block_number: u64,
    pub block_hash: Hash32,
    pub parent_hash: Hash32,
    pub slot: u64,
    pub arrival_ms: u64,
    pub deadline_ms: u64,
    /// The proving input's digest: its bytes are `<data dir>/inputs/<hex>.json`.
    pub input_digest: Hash32,
    /// The zkVMs asked to prove it.
    pub zkvms: Vec<String>,
    pub proofs: BTreeMap<String, ProofRecord>,
    pub closed: bool,
    pub deadline_met: bool,
    /// Left the canonical chain in a reorg.
    pub orphaned: bool,
    /// Proofs from the network, one per (zkVM, node).
    #[serde(default)]
    pub received: Vec<ReceivedProof>,
    /// Distinct zkVMs wanted when the block was coordinated on a network (0: no network).
    #[serde(default)]
    pub wanted: usize,
    /// EIP-8025's `hash_tree_root(NewPayloadRequest)` of the block; `None`
    /// when it cannot be built (specs/proof-engine.md §1: a pre-merge block,
    /// or an Electra one whose execution requests no beacon node gave).
    #[serde(default)]
    pub new_payload_request_root: Option<Hash32>,
    /// Made for a proof-engine request, and not (yet) shown by the chain the
    /// node follows: its proofs go to the requester only, never to Ethproofs
    /// or the network, and it never moves retention's cut (specs/proof-engine.md §2).
    #[serde(default)]
    pub requested: bool,
}

impl BlockRecord {
    /// A block's record when it is first seen (followed or requested): its
    /// ids, slot and deadline, its stored input; nothing proved yet.
    pub fn first_seen(
        block: (u64, Hash32, Hash32),
        slot: u64,
        arrival_ms: u64,
        deadline_ms: u64,
        input_digest: Hash32,
    ) -> BlockRecord {
        let (block_number, block_hash, parent_hash) = block;
        BlockRecord {
            block_number,
            block_hash,
            parent_hash,
            slot,
            arrival_ms,
            deadline_ms,
            input_digest,
            ..Default::default()
        }
    }

    pub fn all_proved(&self) -> bool {
        self.zkvms.iter().all(|z| self.proofs.get(z).is_some_and(|p| p.status == ProofStatus::Proved))
    }

    /// Distinct zkVMs with a verified proof, own or received; `in_time`: only those before the deadline.
    pub fn verified_zkvms(&self, in_time: bool) -> BTreeSet<String> {
        let own = self.proofs.iter().filter(|(_, p)| p.verified && (!in_time || p.within_deadline)).map(|(z, _)| z);
        let net = self.received.iter().filter(|p| p.verified && (!in_time || p.within_deadline)).map(|p| &p.zkvm);
        own.chain(net).cloned().collect()
    }

    /// Adds a received proof unless (zkVM, node) is already there.
    pub fn receive(&mut self, p: ReceivedProof) -> bool {
        if self.received.iter().any(|r| r.zkvm == p.zkvm && r.node == p.node) {
            return false;
        }
        self.received.push(p);
        true
    }
}
