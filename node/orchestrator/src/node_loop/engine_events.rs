//! The loop's handlers for the proof-engine API (specs/proof-engine.md §2): a
//! request enters like a followed block (recorded, its input stored, its
//! zkVMs queued, ahead of normal work and never stale), or joins the record
//! of the same block when the node has one; a proof given up on fails the
//! pending requests for it.

use std::time::Instant;

use slotproof_chain::FetchedBlock;
use slotproof_primitives::{Hash32, now_ms};
use slotproof_proof_engine::{Accepted, FailureReason, KnownBlock};
use slotproof_queue::Enqueued;
use tracing::{info, warn};

use super::{NodeLoop, tasks_for};
use crate::error::NodeError;
use crate::inputs::block_proving_input;
use crate::results::{BlockRecord, ProofStatus};

impl NodeLoop {
    pub(super) async fn on_engine_request(&mut self, a: Accepted) -> Result<(), NodeError> {
        let Some(link) = self.engine.clone() else { return Ok(()) };
        let fail = |zkvms: &[String], reason: FailureReason, why: &str| {
            for z in zkvms {
                link.engine.failed(a.root, z, reason, why);
            }
        };
        let block = match FetchedBlock::from_json((*a.block).clone(), "a proof-engine request") {
            Ok(b) => b,
            Err(e) => {
                fail(&a.zkvms, FailureReason::InternalError, &e.to_string());
                return Ok(());
            }
        };
        let record = match self.book.store().get(block.number, &block.hash)? {
            Some(r) => r,
            None => match self.record_requested(&block).await {
                Ok(r) => r,
                Err(why) => {
                    fail(&a.zkvms, FailureReason::InternalError, &why);
                    return Ok(());
                }
            },
        };
        let known = KnownBlock { number: block.number, input_digest: record.input_digest };
        if record.requested {
            link.engine.know_requested(a.root, known);
        } else {
            link.engine.know_followed(a.root, known);
        }
        // A zkVM the block already waits on delivers through the normal path; one it
        // settled before (its proof no longer held here) or never had is queued now.
        let settled: Vec<String> = a
            .zkvms
            .iter()
            .filter(|z| record.proofs.get(*z).is_some_and(|p| p.status != ProofStatus::Pending))
            .cloned()
            .collect();
        let queue: Vec<String> =
            a.zkvms.iter().filter(|z| !record.zkvms.contains(z) || settled.contains(z)).cloned().collect();
        // A settled zkVM keeps its record until a new proof replaces it.
        let record = self
            .book
            .update(block.number, &block.hash, |r| {
                r.new_payload_request_root.get_or_insert(a.root);
                for z in &queue {
                    if !r.zkvms.contains(z) {
                        r.zkvms.push(z.clone());
                    }
                }
            })?
            .unwrap_or(record);
        let queued = self.pipeline.submit_requested(tasks_for(&record, &queue))?;
        // The queue remembers a task it finished (its dedupe window): that proof is not held any more.
        for (z, q) in queue.iter().zip(&queued) {
            let earlier = record.proofs.get(z).map(|p| p.status);
            if matches!(q, Enqueued::Duplicate(_)) && settled.contains(z) {
                let why = match earlier {
                    Some(ProofStatus::Proved) => {
                        "was proved by {z} before this request and its proof is no longer held"
                    }
                    _ => "was given up on by {z} before this request (the queue remembers the task)",
                };
                let why = why.replace("{z}", z);
                link.engine.failed(a.root, z, FailureReason::InternalError, &format!("block {} {why}", block.number));
            }
        }
        self.queued_at.entry(block.number).or_insert_with(Instant::now);
        // A closed block stays closed (its verdict and its place in this run's summary are taken).
        if !record.closed {
            self.open.insert((block.number, block.hash));
        }
        info!(target: "slotproof::proof_engine", block = block.number, root = %a.root, zkvms = %a.zkvms.join(","), queued = queue.len(), "proof request queued");
        Ok(())
    }

    /// A record for a block the chain has not shown: input stored, deadline from its slot.
    async fn record_requested(&mut self, block: &FetchedBlock) -> Result<BlockRecord, String> {
        let arrival = now_ms();
        let timing = self.slots.timing(block, arrival).await;
        let input = block_proving_input(&block.json, None, None).map_err(|e| e.to_string())?;
        let digest = Hash32(input.digest);
        self.book.store().put_input(&digest, &input.bytes).map_err(|e| e.to_string())?;
        let ids = (block.number, block.hash, block.parent_hash);
        let record = BlockRecord {
            requested: true,
            ..BlockRecord::first_seen(ids, timing.slot, arrival, timing.deadline_ms, digest)
        };
        self.book.insert_new(&record).map_err(|e| e.to_string())?;
        self.keep_requested(block.number, block.hash);
        Ok(record)
    }

    /// Remembers a requested block; beyond `MAX_REQUESTED_BLOCKS` the oldest
    /// one the chain never showed is deleted with its input (a client naming
    /// blocks cannot fill the disk).
    fn keep_requested(&mut self, number: u64, hash: Hash32) {
        self.requested.push_back((number, hash));
        while self.requested.len() > super::MAX_REQUESTED_BLOCKS {
            let Some((n, h)) = self.requested.pop_front() else { break };
            let still_requested = self.book.store().get(n, &h).ok().flatten().is_some_and(|r| r.requested);
            if still_requested {
                self.open.remove(&(n, h));
                if let Err(e) = self.book.store().delete(n, &h) {
                    warn!(target: "slotproof::proof_engine", block = n, error = %e, "an old requested block could not be deleted");
                }
            }
        }
    }

    /// A proving task was dead-lettered: pending requests for it fail.
    pub(super) fn engine_gave_up(&self, number: u64, zkvm: &str, error: &str) {
        let Some(link) = &self.engine else { return };
        let reason =
            if error.contains("timed out") { FailureReason::ProvingTimeout } else { FailureReason::ProvingError };
        let records = match self.book.store().at_height(number) {
            Ok(r) => r,
            Err(e) => {
                warn!(target: "slotproof::proof_engine", block = number, error = %e, "records unreadable: a failure is not reported");
                return;
            }
        };
        // Only records still waiting on that zkVM: another block at the height keeps its requests.
        let waiting = records.iter().filter(|r| {
            r.zkvms.iter().any(|z| z == zkvm) && r.proofs.get(zkvm).is_none_or(|p| p.status != ProofStatus::Proved)
        });
        for root in waiting.filter_map(|r| r.new_payload_request_root) {
            link.engine.failed(root, zkvm, reason, error);
        }
    }
}
