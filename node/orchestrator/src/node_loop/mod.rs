//! The node loop: one task that owns the node's moving state (open blocks,
//! what the chain delivered, what the provers reported) and reacts to one
//! event at a time through a small handler per kind of event. Blocks flow
//! follower → queue → pipeline → recorder → results; this loop only decides
//! and records, it never proves and never blocks on a proof.

mod chain_events;
mod engine_events;
mod net_events;
mod tick;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use slotproof_chain::ChainEvent;
use slotproof_p2p::NetEvent;
use slotproof_pipeline::{Outcome, Pipeline, StageEvent};
use slotproof_primitives::Hash32;
use slotproof_proof_engine::Accepted;
use slotproof_queue::{NewTask, Queue};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::book::RecordBook;
use crate::clock::SlotSource;
use crate::coordination::Coordination;
use crate::engine_link::EngineLink;
use crate::error::NodeError;
use crate::metrics::{Metrics, ProofOutcome};
use crate::network::{Checked, OwnProof};
use crate::results::BlockRecord;
use crate::setup::prove_queue;
use crate::status::SharedStatus;
use crate::submission::Submitting;

/// Everything the loop listens to. The network's channels are absent when the node proves alone.
pub struct Inbox {
    pub chain: mpsc::Receiver<ChainEvent>,
    pub stages: mpsc::UnboundedReceiver<StageEvent>,
    pub net: Option<NetInbox>,
    /// Requests accepted by the proof-engine API.
    pub engine: Option<mpsc::Receiver<Accepted>>,
}

pub struct NetInbox {
    pub events: mpsc::Receiver<NetEvent>,
    pub checked: mpsc::UnboundedReceiver<Checked>,
    pub own: mpsc::UnboundedReceiver<OwnProof>,
}

/// What the loop was built with.
pub struct LoopParts {
    pub book: Arc<RecordBook>,
    pub queue: Arc<Queue>,
    pub metrics: Arc<Metrics>,
    pub pipeline: Pipeline,
    pub coordination: Coordination,
    pub submitting: Option<Arc<Submitting>>,
    pub zkvms: Vec<String>,
    pub slots: SlotSource,
    pub status: SharedStatus,
    /// Blocks left open by the last run.
    pub open: BTreeSet<(u64, Hash32)>,
    /// Cancelled to stop following the chain (`--exit-after-blocks`).
    pub stop_chain: CancellationToken,
    pub exit_after_blocks: Option<u64>,
    pub engine: Option<EngineLink>,
    /// Blocks only a proof-engine request named, kept from the last run, oldest first.
    pub requested: Vec<(u64, Hash32)>,
}

pub struct NodeLoop {
    book: Arc<RecordBook>,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    pipeline: Pipeline,
    coordination: Coordination,
    submitting: Option<Arc<Submitting>>,
    zkvms: Vec<String>,
    slots: SlotSource,
    status: SharedStatus,
    /// Open blocks: not closed yet. Each leaves when it closes or is orphaned.
    open: BTreeSet<(u64, Hash32)>,
    /// When each open block's tasks were queued (orchestration overhead); pruned at close.
    queued_at: BTreeMap<u64, Instant>,
    /// Proving tasks that were dead-lettered, with their error; pruned at close.
    dead: BTreeMap<(u64, String), String>,
    closed_this_run: Vec<(u64, Hash32)>,
    following: bool,
    stop_chain: CancellationToken,
    exit_after_blocks: Option<u64>,
    last_peer_poll: Instant,
    engine: Option<EngineLink>,
    /// Blocks only a proof-engine request named, oldest first: at most
    /// `MAX_REQUESTED_BLOCKS`, the oldest deleted beyond it.
    requested: std::collections::VecDeque<(u64, Hash32)>,
}

/// Requested blocks the chain has not shown, kept at most (their records and inputs).
pub const MAX_REQUESTED_BLOCKS: usize = 256;

/// Whether the loop goes on after a tick.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Done,
}

/// A receiver that may be absent: absent never yields.
async fn recv_opt<T>(rx: Option<&mut mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_opt_unbounded<T>(rx: Option<&mut mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl NodeLoop {
    pub fn new(p: LoopParts) -> NodeLoop {
        NodeLoop {
            book: p.book,
            queue: p.queue,
            metrics: p.metrics,
            pipeline: p.pipeline,
            coordination: p.coordination,
            submitting: p.submitting,
            zkvms: p.zkvms,
            slots: p.slots,
            status: p.status,
            open: p.open,
            queued_at: BTreeMap::new(),
            dead: BTreeMap::new(),
            closed_this_run: Vec::new(),
            following: true,
            stop_chain: p.stop_chain,
            exit_after_blocks: p.exit_after_blocks,
            last_peer_poll: Instant::now(),
            engine: p.engine,
            requested: p.requested.into_iter().collect(),
        }
    }

    /// Reacts to events until `shutdown` is cancelled or `--exit-after-blocks` is done and drained.
    pub async fn run(&mut self, inbox: &mut Inbox, shutdown: &CancellationToken) -> Result<(), NodeError> {
        let mut tick = tokio::time::interval(tick::TICK);
        loop {
            let net = inbox.net.as_mut();
            let (events, checked, own) = match net {
                Some(n) => (Some(&mut n.events), Some(&mut n.checked), Some(&mut n.own)),
                None => (None, None, None),
            };
            tokio::select! {
                event = inbox.chain.recv(), if self.following => match event {
                    Some(e) => self.on_chain_event(e).await?,
                    None => self.following = false,
                },
                Some(e) = inbox.stages.recv() => self.on_stage_event(&e),
                Some(e) = recv_opt(events) => self.on_net_event(e).await?,
                Some(c) = recv_opt_unbounded(checked) => self.on_checked(c).await?,
                Some(p) = recv_opt_unbounded(own) => self.on_own_proof(p).await,
                Some(r) = recv_opt(inbox.engine.as_mut()) => self.on_engine_request(r).await?,
                _ = tick.tick() => if self.on_tick().await? == Flow::Done { return Ok(()) },
                _ = shutdown.cancelled() => {
                    info!(target: "slotproof::node", "shutting down: no new work; waiting for running proofs");
                    return Ok(());
                }
            }
        }
    }

    /// A dispatcher finished, retried or gave up on a task.
    fn on_stage_event(&mut self, e: &StageEvent) {
        let Some(zkvm) = e.prover.clone() else { return };
        match &e.outcome {
            Outcome::Dead(err) => {
                self.metrics.proof(&zkvm, ProofOutcome::Failed);
                self.coordination.given_up(e.block, &zkvm);
                self.engine_gave_up(e.block, &zkvm, err);
                self.dead.insert((e.block, zkvm), err.clone());
            }
            Outcome::Done => {
                if let (Some(start), Some(end), Some(queued)) =
                    (e.prover_start, e.prover_end, self.queued_at.get(&e.block))
                {
                    let overhead =
                        start.saturating_duration_since(*queued) + e.committed.saturating_duration_since(end);
                    self.metrics.overhead_seconds.observe(overhead.as_secs_f64());
                }
            }
            _ => {}
        }
    }

    /// Queues proving tasks for those of `zkvms` the record asks for.
    fn queue_tasks(&self, r: &BlockRecord, zkvms: &[String]) -> Result<(), NodeError> {
        self.pipeline.submit(tasks_for(r, zkvms))?;
        Ok(())
    }

    /// What the loop hands back for shutdown.
    pub fn finish(self) -> Finished {
        Finished {
            pipeline: self.pipeline,
            coordination: self.coordination,
            closed_this_run: self.closed_this_run,
            stop_chain: self.stop_chain,
        }
    }
}

/// The loop's state that shutdown still needs.
pub struct Finished {
    pub pipeline: Pipeline,
    pub coordination: Coordination,
    pub closed_this_run: Vec<(u64, Hash32)>,
    pub stop_chain: CancellationToken,
}

/// Resubmits the tasks of blocks a previous run left open (the queue drops what it already holds).
pub fn resume(pipeline: &Pipeline, open: &[BlockRecord], zkvms: &[String]) -> Result<(), NodeError> {
    for r in open {
        pipeline.submit(tasks_for(r, zkvms))?;
    }
    Ok(())
}

/// Proving tasks for those of `zkvms` the record asks for; the payload is the input's digest.
fn tasks_for(r: &BlockRecord, zkvms: &[String]) -> Vec<NewTask> {
    let reference = r.input_digest.as_bytes().to_vec();
    zkvms
        .iter()
        .filter(|z| r.zkvms.contains(z))
        .map(|z| NewTask::new(prove_queue(z), r.block_number, reference.clone()).with_target(z.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
