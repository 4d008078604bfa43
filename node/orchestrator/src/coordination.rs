//! How a block's zkVMs are decided, one type with two cases: a node alone
//! proves every block with all its zkVMs; a node in a network proves the
//! duties the network's assignment gives it, and counts proofs from anyone.
//! This module owns "which zkVMs does this block want, is it covered, was its
//! deadline met"; it never touches the queue or the store.

use slotproof_primitives::Hash32;

use crate::network::Net;
use crate::results::{BlockRecord, ProofStatus};

pub enum Coordination {
    /// Every block gets every zkVM the node runs.
    Alone { zkvms: Vec<String> },
    /// Duties come from the network (specs/p2p.md §4).
    Network(Box<Net>),
}

/// A duty that fell due: prove `zkvm` for this block now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duty {
    pub number: u64,
    pub hash: Hash32,
    pub zkvm: String,
}

/// A new block as the coordination sees it.
pub struct NewBlock {
    pub number: u64,
    pub hash: Hash32,
    pub parent: Hash32,
    pub slot: u64,
    pub deadline_ms: u64,
}

impl Coordination {
    pub fn net(&mut self) -> Option<&mut Net> {
        match self {
            Coordination::Alone { .. } => None,
            Coordination::Network(n) => Some(n),
        }
    }

    pub fn is_networked(&self) -> bool {
        matches!(self, Coordination::Network(_))
    }

    /// The zkVMs a new block's record starts with (on a network they are added as duties fall due).
    pub fn initial_zkvms(&self) -> Vec<String> {
        match self {
            Coordination::Alone { zkvms } => zkvms.clone(),
            Coordination::Network(_) => vec![],
        }
    }

    /// Distinct zkVMs a block wants (0: no network, meaning "all of its own").
    pub fn wanted(&self) -> usize {
        match self {
            Coordination::Alone { .. } => 0,
            Coordination::Network(n) => n.wanted(),
        }
    }

    /// A new block: the zkVMs to queue for it now.
    pub async fn on_block(&mut self, b: &NewBlock) -> Vec<String> {
        match self {
            Coordination::Alone { zkvms } => zkvms.clone(),
            Coordination::Network(n) => {
                n.on_block(b.number, b.hash, b.parent, b.slot, b.deadline_ms).await;
                vec![]
            }
        }
    }

    /// A block left the canonical chain.
    pub fn forget(&mut self, hash: &Hash32) {
        if let Some(n) = self.net() {
            n.forget(*hash);
        }
    }

    /// A proof this node started and gave up on: others may take it over.
    pub fn given_up(&mut self, number: u64, zkvm: &str) {
        if let Some(n) = self.net() {
            n.given_up(number, zkvm);
        }
    }

    /// Duties that fell due (none when alone: everything was queued with the block).
    pub async fn due(&mut self, now_ms: u64) -> Vec<Duty> {
        match self {
            Coordination::Alone { .. } => vec![],
            Coordination::Network(n) => {
                n.due(now_ms).await.into_iter().map(|(number, hash, zkvm)| Duty { number, hash, zkvm }).collect()
            }
        }
    }

    /// Whether an open block can be closed now: its zkVMs all answered (and on a
    /// network, enough distinct zkVMs are verified by anyone), or its deadline passed.
    pub fn ready_to_close(&self, r: &BlockRecord, now_ms: u64) -> bool {
        let covered = match self {
            Coordination::Alone { .. } => true,
            Coordination::Network(_) => r.verified_zkvms(false).len() >= r.wanted.max(1),
        };
        (r.all_proved() && covered) || now_ms > r.deadline_ms
    }

    /// Whether a closing block met its deadline: alone, every zkVM proved in time;
    /// on a network, the wanted number of distinct zkVMs verified in time, by anyone.
    pub fn deadline_met(&self, r: &BlockRecord) -> bool {
        match self {
            Coordination::Alone { .. } => {
                r.all_proved()
                    && r.zkvms
                        .iter()
                        .all(|z| r.proofs.get(z).is_some_and(|p| p.status == ProofStatus::Proved && p.within_deadline))
            }
            Coordination::Network(_) => r.verified_zkvms(true).len() >= r.wanted.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ProofRecord;

    fn record(zkvms: &[&str], deadline_ms: u64) -> BlockRecord {
        BlockRecord { zkvms: zkvms.iter().map(|z| z.to_string()).collect(), deadline_ms, ..Default::default() }
    }

    fn proved(r: &mut BlockRecord, zkvm: &str, within: bool) {
        let p =
            ProofRecord { status: ProofStatus::Proved, verified: true, within_deadline: within, ..Default::default() };
        r.proofs.insert(zkvm.into(), p);
    }

    #[test]
    fn alone_a_block_closes_when_every_zkvm_answered_or_at_its_deadline() {
        let c = Coordination::Alone { zkvms: vec!["stark".into(), "sim:pico-prism".into()] };
        assert_eq!(c.initial_zkvms().len(), 2);
        assert_eq!(c.wanted(), 0);
        let mut r = record(&["stark", "sim:pico-prism"], 1_000);
        proved(&mut r, "stark", true);
        assert!(!c.ready_to_close(&r, 999), "one zkVM still out, before the deadline");
        assert!(c.ready_to_close(&r, 1_001), "past the deadline");
        assert!(!c.deadline_met(&r));
        proved(&mut r, "sim:pico-prism", true);
        assert!(c.ready_to_close(&r, 0));
        assert!(c.deadline_met(&r));
        proved(&mut r, "sim:pico-prism", false);
        assert!(!c.deadline_met(&r), "a late proof misses the deadline");
    }

    #[test]
    fn alone_a_failed_proof_misses_the_deadline() {
        let c = Coordination::Alone { zkvms: vec!["stark".into()] };
        let mut r = record(&["stark"], 1_000);
        r.proofs.insert("stark".into(), ProofRecord { status: ProofStatus::Failed, ..Default::default() });
        assert!(!c.ready_to_close(&r, 10), "failed is not proved: waits for the deadline");
        assert!(!c.deadline_met(&r));
    }
}
