//! What the adversary serves over request-response: the junk proofs it
//! announced (bad signatures, garbage, unverifiable zkVMs, injected names),
//! for the last few blocks only, so its own memory stays bounded.

use std::collections::VecDeque;
use std::sync::Mutex;

use slotproof_p2p::ProofSource;

/// Blocks whose junk is kept; older junk is dropped.
const KEPT_BLOCKS: usize = 8;

/// One encoded `SignedProof` served for (block, zkVM).
struct Junk {
    number: u64,
    hash: [u8; 32],
    zkvm: String,
    encoded: Vec<u8>,
}

#[derive(Default)]
pub struct JunkStore {
    /// Oldest block first.
    blocks: Mutex<VecDeque<(u64, Vec<Junk>)>>,
}

impl JunkStore {
    /// Serves `encoded` for (number, hash, zkVM) from now on.
    pub fn serve(&self, number: u64, hash: [u8; 32], zkvm: &str, encoded: Vec<u8>) {
        let junk = Junk { number, hash, zkvm: zkvm.to_string(), encoded };
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        match blocks.iter_mut().find(|(n, _)| *n == number) {
            Some((_, list)) => list.push(junk),
            None => blocks.push_back((number, vec![junk])),
        }
        while blocks.len() > KEPT_BLOCKS {
            blocks.pop_front();
        }
    }

    fn collect(&self, keep: impl Fn(&Junk) -> bool) -> Vec<Vec<u8>> {
        let blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        blocks.iter().flat_map(|(_, list)| list.iter()).filter(|j| keep(j)).map(|j| j.encoded.clone()).collect()
    }
}

impl ProofSource for JunkStore {
    fn by_root(&self, hash: &[u8; 32], zkvm: &str, _max_bytes: usize) -> Vec<Vec<u8>> {
        self.collect(|j| &j.hash == hash && j.zkvm == zkvm)
    }

    /// Everything in the range, whatever zkVMs were asked for: a client must cope.
    fn by_range(&self, start: u64, count: u64, _zkvms: &[String], _max_bytes: usize) -> Vec<Vec<u8>> {
        let end = start.saturating_add(count);
        self.collect(|j| (start..end).contains(&j.number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_blocks_are_kept() {
        let store = JunkStore::default();
        for n in 0..20u64 {
            store.serve(n, [n as u8; 32], "stark", vec![n as u8]);
        }
        assert_eq!(store.by_range(0, 100, &[], usize::MAX).len(), KEPT_BLOCKS);
        assert_eq!(store.by_root(&[19; 32], "stark", usize::MAX), vec![vec![19u8]]);
        assert!(store.by_root(&[0; 32], "stark", usize::MAX).is_empty(), "dropped");
        assert!(store.by_root(&[19; 32], "sim:zisk-8x5090", usize::MAX).is_empty());
    }
}
