//! The node's retention sweep (specs/chain.md §5, specs/queue.md §13–§14): on
//! a timer, one bounded step each of forgetting expired done ids, pruning
//! block records older than `keep_blocks` (and own proofs kept for download
//! older than `OWN_PROOF_BLOCKS`), and deleting proof blobs nothing
//! refers to. It owns when these run and what counts as a reference; it never
//! deletes what a live task or a kept dead letter refers to.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use slotproof_pipeline::payload::blob_refs;
use slotproof_queue::{BlobDigest, BlobStore, Queue, TaskState};
use slotproof_submit::{OUTBOX_QUEUE, Submission};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::error::NodeError;
use crate::results::ResultStore;

/// How often a step runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// A blob younger than this is never deleted: it is written before the task
/// that refers to it is enqueued.
pub const BLOB_GRACE: Duration = Duration::from_secs(600);
/// Work per step, so a backlog (a first run after an upgrade) drains over
/// several steps instead of stalling the node.
const DONE_PER_STEP: usize = 10_000;
const RECORDS_PER_STEP: usize = 1_000;
/// Records looked at, newest first, for the newest followed one: more than
/// the requested blocks kept (`node_loop::MAX_REQUESTED_BLOCKS`).
const FOLLOWED_SCAN: usize = 4_096;
const BLOBS_PER_STEP: usize = 1_000;

pub struct Retention {
    pub queue: Arc<Queue>,
    pub store: Arc<ResultStore>,
    pub blobs: Arc<BlobStore>,
    /// Blocks kept below the newest record; 0 keeps everything.
    pub keep_blocks: u64,
}

/// What one step removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub done_ids: usize,
    pub records: usize,
    pub blobs: usize,
}

impl Retention {
    /// Runs a step every [`SWEEP_EVERY`] (the first at once) until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let this = Arc::new(self);
        loop {
            let step = this.clone();
            match tokio::task::spawn_blocking(move || step.step()).await {
                Ok(Ok(swept)) => debug!(target: "slotproof::node", ?swept, "retention step"),
                Ok(Err(e)) => {
                    warn!(target: "slotproof::node", error = %slotproof_primitives::ErrorChain(&e), "retention step failed; retried at the next")
                }
                Err(e) => warn!(target: "slotproof::node", error = %e, "retention step panicked"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// One bounded step of each kind.
    pub fn step(&self) -> Result<Swept, NodeError> {
        let done_ids = self.queue.prune_done(DONE_PER_STEP)?;
        let cut = self.cut()?;
        let records = match cut {
            Some(below) => self.store.prune_below(below, RECORDS_PER_STEP)?,
            None => 0,
        };
        // Own proofs kept for download: the newest OWN_PROOF_BLOCKS heights
        // (by number: a replay's jump only drops them sooner), whatever keep_blocks says.
        if let Some(newest) = self.store.newest_followed(FOLLOWED_SCAN)? {
            let below = newest.saturating_sub(crate::results::OWN_PROOF_BLOCKS - 1);
            let below = cut.map_or(below, |c| below.max(c));
            self.store.prune_own_proofs_below(below)?;
        }
        let live = self.live_blobs(cut)?;
        let blobs = self.blobs.sweep(&live, BLOB_GRACE, BLOBS_PER_STEP)?;
        Ok(Swept { done_ids, records, blobs })
    }

    /// Blocks below this number are dropped; None while everything is kept.
    fn cut(&self) -> Result<Option<u64>, NodeError> {
        if self.keep_blocks == 0 {
            return Ok(None);
        }
        // Requested blocks (any number a client names) never move the cut.
        let Some(newest) = self.store.newest_followed(FOLLOWED_SCAN)? else { return Ok(None) };
        // The newest keep_blocks + 1 heights stay: on a contiguous chain the
        // blocks at most keep_blocks below the newest, and a replay with gaps
        // (the dev chain jumps 16000005 → 17000000) keeps as many heights.
        Ok(self.store.nth_height_below(newest, self.keep_blocks.saturating_add(1))?)
    }

    /// Every blob a pending, delayed or leased task refers to, and those of
    /// dead letters whose block the records still keep (an operator may
    /// requeue them); a dead letter older than the cut keeps nothing.
    fn live_blobs(&self, cut: Option<u64>) -> Result<HashSet<BlobDigest>, NodeError> {
        let mut live = HashSet::new();
        for (info, payload) in self.queue.live_payloads()? {
            if info.state == TaskState::Dead && cut.is_some_and(|c| info.block_number < c) {
                continue;
            }
            if info.queue == OUTBOX_QUEUE {
                live.extend(Submission::blob_ref(&payload));
            } else {
                live.extend(blob_refs(&payload));
            }
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::BlockRecord;
    use slotproof_primitives::Hash32;
    use slotproof_queue::{Failure, NewTask, QueueConfig};

    fn stored_outbox_entry(blobs: &BlobStore, block: u64, proof: &[u8]) -> NewTask {
        let digest = blobs.put(proof).unwrap();
        let p = slotproof_submit::api::StoredProved {
            block_number: block,
            cluster_id: 1,
            proving_time: 1,
            proving_cycles: None,
            proof_digest: digest.to_string(),
            verifier_id: None,
        };
        Submission::ProvedStored(p).task("stark")
    }

    /// specs/queue.md §14: a proof blob stays while an outbox entry (live, or
    /// dead within the kept blocks) refers to it, and goes once the entry is
    /// sent, or once its dead letter's block falls below the record retention.
    #[test]
    fn blobs_go_when_nothing_refers_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ResultStore::open(dir.path()).unwrap());
        let blobs = Arc::new(BlobStore::open(&dir.path().join("proofs")).unwrap());
        let queue = Arc::new(Queue::memory(QueueConfig::default()));
        let r = Retention { queue: queue.clone(), store: store.clone(), blobs: blobs.clone(), keep_blocks: 10 };
        let put = |n: u64| {
            store
                .put(&BlockRecord { block_number: n, block_hash: Hash32([n as u8; 32]), ..Default::default() })
                .unwrap()
        };
        put(5);
        queue.enqueue_one(stored_outbox_entry(&blobs, 5, b"sent")).unwrap();
        queue.enqueue_one(stored_outbox_entry(&blobs, 5, b"dead")).unwrap();
        blobs.put(b"orphan").unwrap();
        let sweep = |r: &Retention| {
            let live = r.live_blobs(r.cut().unwrap()).unwrap();
            r.blobs.sweep(&live, Duration::ZERO, 100).unwrap()
        };
        assert_eq!(sweep(&r), 1, "only the orphan");
        let l = queue.lease(OUTBOX_QUEUE, "w", Duration::from_secs(5)).unwrap().unwrap();
        queue.ack(l.id, l.token).unwrap();
        let l = queue.lease(OUTBOX_QUEUE, "w", Duration::from_secs(5)).unwrap().unwrap();
        queue.nack(l.id, l.token, "HTTP 400", Failure::Permanent).unwrap();
        assert_eq!(sweep(&r), 1, "the sent one; the dead letter keeps its proof");
        assert_eq!(blobs.len().unwrap(), 1);
        for n in 90..=100 {
            put(n);
        }
        assert_eq!(r.step().unwrap().records, 1, "block 5 is below the newest 11 heights (90..=100)");
        assert_eq!(sweep(&r), 1, "a dead letter below the cut keeps nothing");
        assert!(blobs.is_empty().unwrap());
    }
}

#[cfg(test)]
mod cut_tests {
    use super::*;
    use crate::results::BlockRecord;
    use slotproof_primitives::Hash32;
    use slotproof_queue::QueueConfig;

    /// A retention over a fresh store (kept alive by the returned dir) and an in-memory queue.
    fn retention(keep_blocks: u64) -> (tempfile::TempDir, Arc<ResultStore>, Retention) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ResultStore::open(dir.path()).unwrap());
        let blobs = Arc::new(BlobStore::open(&dir.path().join("proofs")).unwrap());
        let queue = Arc::new(Queue::memory(QueueConfig::default()));
        (dir, store.clone(), Retention { queue, store, blobs, keep_blocks })
    }

    /// specs/proof-engine.md §2: a block a request named (any number a client
    /// likes) never moves the cut; followed records below it stay.
    #[test]
    fn a_requested_block_far_ahead_does_not_move_the_cut() {
        let (_dir, store, r) = retention(10);
        for n in 94..105u64 {
            store
                .put(&BlockRecord { block_number: n, block_hash: Hash32([n as u8; 32]), ..Default::default() })
                .unwrap();
        }
        let fake =
            BlockRecord { block_number: u64::MAX, block_hash: Hash32([9; 32]), requested: true, ..Default::default() };
        store.put(&fake).unwrap();
        assert_eq!(r.cut().unwrap(), Some(94), "the cut follows the newest followed block, 104");
        assert_eq!(r.step().unwrap().records, 0);
        assert_eq!(store.all().unwrap().len(), 12);
        // Deleting a requested block removes it and nothing else.
        store.delete(u64::MAX, &Hash32([9; 32])).unwrap();
        assert_eq!(store.all().unwrap().len(), 11);
    }

    /// specs/chain.md §5: the newest keep_blocks + 1 heights stay; a replay
    /// that jumps (the dev chain: 16000005 → 17000000) keeps its earlier blocks.
    #[test]
    fn a_jump_in_block_numbers_keeps_the_newest_heights() {
        let (_dir, store, r) = retention(3);
        for (i, n) in [16_000_000u64, 16_000_001, 16_000_003, 17_000_000, 17_000_001].into_iter().enumerate() {
            store
                .put(&BlockRecord { block_number: n, block_hash: Hash32([i as u8; 32]), ..Default::default() })
                .unwrap();
        }
        // A second block at one height (a reorg) is one height, not two.
        store
            .put(&BlockRecord { block_number: 17_000_000, block_hash: Hash32([9; 32]), ..Default::default() })
            .unwrap();
        assert_eq!(r.cut().unwrap(), Some(16_000_001), "four heights stay: 16000001, 16000003, 17000000, 17000001");
        assert_eq!(r.step().unwrap().records, 1);
        let left: Vec<u64> = store.all().unwrap().iter().map(|r| r.block_number).collect();
        assert_eq!(left, [16_000_001, 16_000_003, 17_000_000, 17_000_000, 17_000_001]);
    }
}
