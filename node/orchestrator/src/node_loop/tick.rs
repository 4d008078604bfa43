//! The loop's periodic work, split by job: starting the duties the network
//! assigned, closing blocks that are done or past their deadline, sampling
//! queue metrics, and deciding when `--exit-after-blocks` has finished.

use std::time::Duration;

use slotproof_primitives::{Hash32, now_ms};
use slotproof_queue::Queue;
use tracing::info;

use super::{Flow, NodeLoop};
use crate::error::NodeError;
use crate::recorder::PROOFS_QUEUE;
use crate::results::{BlockRecord, ProofRecord, ProofStatus};
use crate::setup::prove_queue;

/// How often the loop ticks: the resolution of deadlines and duty starts.
pub(super) const TICK: Duration = Duration::from_millis(100);

impl NodeLoop {
    pub(super) async fn on_tick(&mut self) -> Result<Flow, NodeError> {
        let now = now_ms();
        self.start_duties(now).await?;
        self.tick_network(now).await;
        self.close_ready_blocks(now)?;
        self.sample_queue_depths();
        if let Some(link) = &self.engine {
            link.engine.expire_pending();
        }
        Ok(self.exit_check())
    }

    /// Duties the network assigned this node that fell due: recorded on the block, then queued.
    async fn start_duties(&mut self, now: u64) -> Result<(), NodeError> {
        for d in self.coordination.due(now).await {
            let zkvm = d.zkvm.clone();
            let updated = self.book.update(d.number, &d.hash, |r| {
                if !r.zkvms.contains(&zkvm) {
                    r.zkvms.push(zkvm.clone());
                }
            })?;
            if let Some(r) = updated {
                self.queue_tasks(&r, std::slice::from_ref(&d.zkvm))?;
            }
        }
        Ok(())
    }

    pub(super) fn close_ready_blocks(&mut self, now: u64) -> Result<(), NodeError> {
        for (n, h) in self.open.clone() {
            let Some(r) = self.book.store().get(n, &h)? else {
                self.open.remove(&(n, h));
                continue;
            };
            if self.coordination.ready_to_close(&r, now) {
                self.close_block(n, h)?;
            }
        }
        Ok(())
    }

    /// Marks the block closed with its deadline verdict; zkVMs that never answered become failed or missed.
    fn close_block(&mut self, n: u64, h: Hash32) -> Result<(), NodeError> {
        let (coordination, dead) = (&self.coordination, &self.dead);
        let closed = self.book.update(n, &h, |r| {
            r.closed = true;
            r.deadline_met = coordination.deadline_met(r);
            for z in r.zkvms.clone() {
                r.proofs.entry(z.clone()).or_insert_with(|| match dead.get(&(n, z)) {
                    Some(err) => {
                        ProofRecord { status: ProofStatus::Failed, error: Some(err.clone()), ..Default::default() }
                    }
                    None => ProofRecord { status: ProofStatus::Missed, ..Default::default() },
                });
            }
        })?;
        self.open.remove(&(n, h));
        if !self.open.iter().any(|(m, _)| *m == n) {
            self.queued_at.remove(&n);
            self.dead.retain(|(m, _), _| *m != n);
        }
        if let Some(r) = closed.filter(|r| !r.requested) {
            self.metrics.blocks_closed.inc();
            if !r.deadline_met {
                self.metrics.deadline_misses.inc();
            }
            log_closed(&r);
            self.closed_this_run.push((n, h));
        }
        Ok(())
    }

    fn sample_queue_depths(&self) {
        if let Ok(stats) = self.queue.stats() {
            self.metrics.set_queue_tasks(&stats);
        }
    }

    /// With `--exit-after-blocks`: stop following once enough blocks closed, end once all work drained.
    pub(super) fn exit_check(&mut self) -> Flow {
        let Some(limit) = self.exit_after_blocks else { return Flow::Continue };
        if self.following && self.closed_this_run.len() as u64 >= limit {
            info!(target: "slotproof::node", blocks = self.closed_this_run.len(), "--exit-after-blocks reached: no new blocks; draining");
            self.following = false;
            self.stop_chain.cancel();
        }
        let drained = self.open.is_empty()
            && proving_drained(&self.queue, &self.zkvms)
            && self.submitting.as_ref().is_none_or(|s| slotproof_submit::outbox_drained(&self.queue, &s.health));
        if !self.following && drained { Flow::Done } else { Flow::Continue }
    }
}

/// Nothing pending, delayed or leased in these queues.
fn queues_drained(queue: &Queue, queues: &[String]) -> bool {
    let Ok(stats) = queue.stats() else { return false };
    queues.iter().all(|q| stats.queues.get(q).is_none_or(|c| c.pending + c.delayed + c.leased == 0))
}

/// The proving queues and the proofs queue are empty.
fn proving_drained(queue: &Queue, zkvms: &[String]) -> bool {
    let mut queues: Vec<String> = zkvms.iter().map(|z| prove_queue(z)).collect();
    queues.push(PROOFS_QUEUE.into());
    queues_drained(queue, &queues)
}

/// One readable line per closed block.
fn log_closed(r: &BlockRecord) {
    let parts: Vec<String> = r
        .zkvms
        .iter()
        .map(|z| match r.proofs.get(z) {
            Some(p) if p.status == ProofStatus::Proved => {
                let late = if p.within_deadline { "" } else { " late" };
                let ok = if p.verified { " ok" } else { "" };
                format!("{z} {:.2}s{ok}{late}", p.proving_ms.unwrap_or(0) as f64 / 1e3)
            }
            Some(p) => format!("{z} {}", p.status),
            None => format!("{z} missed"),
        })
        .collect();
    let verdict = if r.deadline_met { "deadline met" } else { "deadline MISSED" };
    info!(
        target: "slotproof::node",
        "block {} {}… slot {}: {} — {verdict}",
        r.block_number,
        r.block_hash.short(),
        r.slot,
        parts.join(", "),
    );
}
