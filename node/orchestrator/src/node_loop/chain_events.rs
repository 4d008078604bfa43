//! The loop's handlers for what the follower reports: a new block (recorded,
//! its input stored, its zkVMs queued or left to the network), a reorg, a
//! gap, the RPC going away or coming back.

use std::time::Instant;

use serde_json::Value;
use slotproof_chain::{ChainEvent, FetchedBlock};
use slotproof_primitives::{Hash32, now_ms};
use slotproof_queue::NewTask;
use tracing::{info, warn};

use super::NodeLoop;
use crate::coordination::NewBlock;
use crate::error::NodeError;
use crate::inputs::block_proving_input;
use crate::results::BlockRecord;
use crate::status::{Gap, Head};

impl NodeLoop {
    pub(super) async fn on_chain_event(&mut self, event: ChainEvent) -> Result<(), NodeError> {
        match event {
            ChainEvent::Block { block, receipts, witness } => self.on_block(block, receipts, witness).await?,
            ChainEvent::Reorg { orphaned } => self.on_reorg(orphaned)?,
            ChainEvent::Gap { before, reason } => {
                self.metrics.gaps.inc();
                info!(target: "slotproof::node", before, %reason, "gap: earlier blocks are not proven");
                self.status.add_gap(Gap { before, reason });
            }
            ChainEvent::Connection { up, detail } => {
                self.status.update(|s| s.rpc_up = up);
                if up {
                    info!(target: "slotproof::node", %detail, "RPC connected")
                } else {
                    warn!(target: "slotproof::node", %detail, "RPC down")
                }
            }
        }
        Ok(())
    }

    async fn on_block(
        &mut self,
        block: FetchedBlock,
        receipts: Option<Value>,
        witness: Option<Value>,
    ) -> Result<(), NodeError> {
        let arrival = now_ms();
        self.metrics.blocks_seen.inc();
        self.metrics.head.set(block.number as i64);
        self.metrics.head_seen_seconds.set(arrival as f64 / 1000.0);
        let timing = self.slots.timing(&block, arrival).await;
        let input = match block_proving_input(&block.json, receipts.as_ref(), witness.as_ref()) {
            Ok(i) => i,
            Err(e) => {
                warn!(target: "slotproof::node", block = block.number, error = %e, "block refused as a proving input");
                return Ok(());
            }
        };
        let new_payload_request_root = payload_request_root(&block.json, block.number);
        let record = match self.book.store().get(block.number, &block.hash)? {
            // Delivered again after a restart, or named first by a proof-engine request.
            Some(r) => self.adopt(r, timing.slot, timing.deadline_ms)?,
            None => {
                let digest = Hash32(input.digest);
                self.book.store().put_input(&digest, &input.bytes)?;
                let ids = (block.number, block.hash, block.parent_hash);
                let record = BlockRecord {
                    zkvms: self.coordination.initial_zkvms(),
                    wanted: self.coordination.wanted(),
                    new_payload_request_root,
                    ..BlockRecord::first_seen(ids, timing.slot, arrival, timing.deadline_ms, digest)
                };
                self.book.insert_new(&record)?;
                record
            }
        };
        let digest = record.input_digest;
        if let (Some(link), Some(root)) = (&self.engine, new_payload_request_root) {
            link.engine
                .know_followed(root, slotproof_proof_engine::KnownBlock { number: block.number, input_digest: digest });
        }
        let new = NewBlock {
            number: block.number,
            hash: block.hash,
            parent: block.parent_hash,
            slot: timing.slot,
            deadline_ms: timing.deadline_ms,
        };
        let now = self.coordination.on_block(&new).await;
        self.queue_tasks(&record, &now)?;
        if let Some(s) = &self.submitting {
            let entries: Vec<NewTask> = self.zkvms.iter().filter_map(|z| s.queued(block.number, z)).collect();
            self.queue.enqueue(entries)?;
        }
        self.queued_at.insert(block.number, Instant::now());
        self.open.insert((block.number, block.hash));
        self.status.update(|s| {
            s.head = Some(Head { number: block.number, hash: block.hash });
            s.rpc_up = true;
        });
        let (receipts, witness) = (receipts.is_some(), witness.is_some());
        if self.coordination.is_networked() {
            info!(target: "slotproof::node", block = block.number, hash = %block.hash, slot = timing.slot, receipts, witness, "block queued; the network assigns its zkVMs");
        } else {
            info!(target: "slotproof::node", block = block.number, hash = %block.hash, slot = timing.slot, receipts, witness, "block queued for {} zkVMs", self.zkvms.len());
        }
        Ok(())
    }

    /// A block already recorded: it keeps its record and input (proofs on the
    /// way name that input); a requested one becomes followed, with the
    /// chain's slot and deadline and this node's zkVMs added.
    fn adopt(&mut self, r: BlockRecord, slot: u64, deadline_ms: u64) -> Result<BlockRecord, NodeError> {
        if !r.requested {
            return Ok(r);
        }
        let (wanted, zkvms) = (self.coordination.wanted(), self.coordination.initial_zkvms());
        // Through the book: the recorder may be writing a proof into this record now.
        let adopted = self.book.update(r.block_number, &r.block_hash, |r| {
            r.requested = false;
            r.slot = slot;
            r.deadline_ms = deadline_ms;
            r.wanted = wanted;
            for z in zkvms {
                if !r.zkvms.contains(&z) {
                    r.zkvms.push(z);
                }
            }
        })?;
        Ok(adopted.unwrap_or(r))
    }

    fn on_reorg(&mut self, orphaned: Vec<(u64, Hash32)>) -> Result<(), NodeError> {
        self.metrics.reorgs.inc();
        for (n, h) in orphaned {
            let cancelled = self.pipeline.cancel_block(n, "reorged out").unwrap_or(0);
            self.book.update(n, &h, |r| r.orphaned = true)?;
            self.coordination.forget(&h);
            self.open.remove(&(n, h));
            warn!(target: "slotproof::node", block = n, hash = %h, cancelled, "block orphaned by a reorg; its tasks are cancelled");
        }
        Ok(())
    }
}

/// The block's EIP-8025 `NewPayloadRequest` root (specs/proof-engine.md §1),
/// or why it has none, said once per block.
pub(crate) fn payload_request_root(block: &Value, number: u64) -> Option<Hash32> {
    match slotproof_payload::from_block_json(block).and_then(|r| r.root()) {
        Ok(root) => Some(root),
        Err(e) => {
            warn!(target: "slotproof::node", block = number, error = %e, "block has no NewPayloadRequest root: its proofs carry a zero root");
            None
        }
    }
}
