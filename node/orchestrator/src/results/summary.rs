//! The summary of one block record: the `--summary-json` contract, and what
//! `/status` and `slotproof results` show per block. Typed, so a field cannot
//! silently change name or type.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;
use slotproof_primitives::Hash32;

use super::record::{BlockRecord, ProofStatus};
use crate::error::NodeError;

/// One zkVM the block asked for, and what its proof did.
#[derive(Clone, Debug, Serialize)]
pub struct ProofSummary {
    pub zkvm: String,
    pub status: ProofStatus,
    pub proving_ms: Option<u64>,
    pub verified: bool,
    pub simulated: bool,
    pub within_deadline: bool,
    pub proof_bytes: Option<u64>,
    pub latency_ms: Option<u64>,
    pub error: Option<String>,
}

/// A proof received from another node.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkProofSummary {
    pub zkvm: String,
    pub node: String,
    pub verified: bool,
    pub within_deadline: bool,
    pub proving_ms: u64,
    pub proof_bytes: u64,
    pub simulated: bool,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BlockSummary {
    pub block_number: u64,
    pub block_hash: Hash32,
    /// `hash_tree_root(NewPayloadRequest)`; null when the node has none for the block.
    pub new_payload_request_root: Option<Hash32>,
    /// A block only a proof-engine request named (the followed chain has not shown it).
    pub requested: bool,
    pub slot: u64,
    pub deadline_met: bool,
    pub arrival_ms: u64,
    pub deadline_ms: u64,
    pub proofs: Vec<ProofSummary>,
    pub network_proofs: Vec<NetworkProofSummary>,
    pub verified_zkvms: BTreeSet<String>,
}

impl From<&BlockRecord> for BlockSummary {
    fn from(r: &BlockRecord) -> Self {
        let proofs = r
            .zkvms
            .iter()
            .map(|z| {
                let p = r.proofs.get(z).cloned().unwrap_or_default();
                ProofSummary {
                    zkvm: z.clone(),
                    status: p.status,
                    proving_ms: p.proving_ms,
                    verified: p.verified,
                    simulated: p.simulated,
                    within_deadline: p.within_deadline,
                    proof_bytes: p.proof_bytes,
                    latency_ms: p.latency_ms,
                    error: p.error,
                }
            })
            .collect();
        let network_proofs = r
            .received
            .iter()
            .map(|p| NetworkProofSummary {
                zkvm: p.zkvm.clone(),
                node: p.node.clone(),
                verified: p.verified,
                within_deadline: p.within_deadline,
                proving_ms: p.proving_ms,
                proof_bytes: p.proof_bytes,
                simulated: p.simulated,
                error: p.error.clone(),
            })
            .collect();
        BlockSummary {
            block_number: r.block_number,
            block_hash: r.block_hash,
            new_payload_request_root: r.new_payload_request_root,
            requested: r.requested,
            slot: r.slot,
            deadline_met: r.deadline_met,
            arrival_ms: r.arrival_ms,
            deadline_ms: r.deadline_ms,
            proofs,
            network_proofs,
            verified_zkvms: r.verified_zkvms(false),
        }
    }
}

/// The summary as a JSON object (callers add fields such as `closed`).
pub fn summary_of(r: &BlockRecord) -> serde_json::Value {
    serde_json::to_value(BlockSummary::from(r)).unwrap_or_default()
}

/// `--summary-json FILE`: a JSON array of block summaries, written atomically.
pub fn write_summary(path: &Path, blocks: &[BlockRecord]) -> Result<(), NodeError> {
    let array: Vec<BlockSummary> = blocks.iter().map(BlockSummary::from).collect();
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(&array).map_err(std::io::Error::other);
    bytes
        .and_then(|b| std::fs::write(&tmp, b))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| NodeError::Summary { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ProofRecord, ReceivedProof};

    /// The `--summary-json` contract's field names and types (specs/chain.md).
    #[test]
    fn the_summary_keeps_its_field_names_and_types() {
        let mut r = BlockRecord {
            block_number: 16000000,
            block_hash: format!("0x{:064x}", 1).parse().unwrap(),
            zkvms: vec!["stark".into(), "sim:pico-prism".into()],
            ..Default::default()
        };
        r.proofs.insert(
            "stark".into(),
            ProofRecord { status: ProofStatus::Proved, verified: true, proving_ms: Some(800), ..Default::default() },
        );
        r.received.push(ReceivedProof {
            zkvm: "sim:zisk-8x5090".into(),
            node: "peer".into(),
            verified: true,
            ..Default::default()
        });
        let v = summary_of(&r);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "block_number",
            "block_hash",
            "new_payload_request_root",
            "requested",
            "slot",
            "deadline_met",
            "arrival_ms",
            "deadline_ms",
            "proofs",
            "network_proofs",
            "verified_zkvms",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        assert_eq!(v["block_hash"], format!("0x{:064x}", 1));
        assert_eq!(v["proofs"][0]["status"], "proved");
        assert_eq!(v["proofs"][1]["status"], "pending", "a zkVM with no proof yet");
        assert_eq!(v["proofs"][1]["proving_ms"], serde_json::Value::Null);
        assert_eq!(v["network_proofs"][0]["node"], "peer");
        assert_eq!(v["verified_zkvms"], serde_json::json!(["sim:zisk-8x5090", "stark"]));
    }
}
