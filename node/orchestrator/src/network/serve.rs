//! Serving proofs to peers (specs/p2p.md §3, §6): the store's signed proofs,
//! by root and by range, as the swarm's `ProofSource`, each reply within
//! `MAX_SERVED_BYTES`. Reads only (the swarm calls it off its own task).

use std::sync::Arc;

use slotproof_p2p::ProofSource;
use slotproof_p2p::codec::{MAX_RANGE_COUNT, MAX_SERVED_BYTES};
use slotproof_primitives::Hash32;
use tracing::warn;

use crate::results::ResultStore;

pub struct StoreSource(pub Arc<ResultStore>);

impl ProofSource for StoreSource {
    fn by_root(&self, hash: &[u8; 32], zkvm: &str, max_bytes: usize) -> Vec<Vec<u8>> {
        let hash = Hash32(*hash);
        self.0.signed_by_root(&hash, zkvm, max_bytes.min(MAX_SERVED_BYTES)).unwrap_or_else(|e| {
            warn!(target: "slotproof::p2p", %hash, zkvm, error = %e, "proofs by root: store read failed");
            vec![]
        })
    }

    fn by_range(&self, start: u64, count: u64, zkvms: &[String], max_bytes: usize) -> Vec<Vec<u8>> {
        self.0
            .signed_by_range(start, count.min(MAX_RANGE_COUNT), zkvms, max_bytes.min(MAX_SERVED_BYTES))
            .unwrap_or_else(|e| {
                warn!(target: "slotproof::p2p", start, count, error = %e, "proofs by range: store read failed");
                vec![]
            })
    }
}
