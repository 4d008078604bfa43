//! The durable outbox (specs/submission.md §2): every submission is a task in
//! the node's RocksDB queue, written when the node decides it (a verified
//! proof, a queued block), so a SIGKILL at any point loses none. One sender
//! drains it: proved calls first (priority), in block order, retried with
//! exponential backoff and jitter; 409 means done; other 4xx dead-letter with
//! the response body; queued/proving are dropped when the budget is short.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slotproof_queue::{Failure, Lease, NewTask, Queue, QueueError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::api::{Proved, StatusUpdate};
use crate::client::{Client, StatusCall};
use crate::error::{ErrorChain, SubmitError};

pub const OUTBOX_QUEUE: &str = "ethproofs";
/// Proved calls lease before status calls of any block.
const PRIORITY_PROVED: u8 = 10;
const PRIORITY_STATUS: u8 = 200;
/// Below this many calls left in the window, queued/proving are not sent.
const STATUS_BUDGET_FLOOR: usize = 10;
/// A network outage must not dead-letter a proof: retry (with capped backoff) this long.
const MAX_ATTEMPTS: u32 = 10_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Submission {
    Queued(StatusUpdate),
    Proving(StatusUpdate),
    Proved(Proved),
}

impl Submission {
    fn name(&self) -> &'static str {
        match self {
            Submission::Queued(_) => "queued",
            Submission::Proving(_) => "proving",
            Submission::Proved(_) => "proved",
        }
    }

    fn block(&self) -> u64 {
        match self {
            Submission::Queued(s) | Submission::Proving(s) => s.block_number,
            Submission::Proved(p) => p.block_number,
        }
    }

    /// The outbox task: the same submission is the same task (the queue drops
    /// a second enqueue), so a node that re-decides after a crash adds nothing.
    pub fn task(&self, zkvm: &str) -> NewTask {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        let priority = if matches!(self, Submission::Proved(_)) { PRIORITY_PROVED } else { PRIORITY_STATUS };
        let mut t = NewTask::new(OUTBOX_QUEUE, self.block(), payload).with_target(zkvm).with_priority(priority);
        t.max_attempts = Some(MAX_ATTEMPTS);
        t
    }
}

/// A pseudo-random share of `max`, fixed per task attempt (spreads retries).
fn jitter(id: &[u8], attempt: u32, max: Duration) -> Duration {
    let h = blake3::hash(&[id, &attempt.to_be_bytes()].concat());
    let r = u64::from_be_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]));
    Duration::from_millis(r % (max.as_millis() as u64).max(1))
}

/// Nothing pending, delayed or leased in the outbox (dead letters stay for an operator).
fn outbox_empty(queue: &Queue) -> bool {
    let Ok(stats) = queue.stats() else { return false };
    stats.queues.get(OUTBOX_QUEUE).is_none_or(|c| c.pending + c.delayed + c.leased == 0)
}

/// Sends the outbox's entries as they come. Once `drain` is cancelled it
/// returns as soon as the outbox is empty; once `stop` is cancelled it returns
/// at once (an entry being retried is handed back to the queue first).
pub async fn run_sender(queue: Arc<Queue>, client: Client, drain: CancellationToken, stop: CancellationToken) {
    info!(target: "slotproof::submit", "ethproofs sender running");
    while !stop.is_cancelled() {
        let Some(lease) = next_lease(&queue).await else {
            if drain.is_cancelled() && outbox_empty(&queue) {
                return;
            }
            continue;
        };
        let submission: Submission = match serde_json::from_slice(&lease.payload) {
            Ok(s) => s,
            Err(e) => {
                let _ =
                    queue.nack(lease.id, lease.token, &format!("undecodable outbox entry: {e}"), Failure::Permanent);
                continue;
            }
        };
        let (zkvm, block) = (lease.target.clone(), submission.block());
        if !matches!(submission, Submission::Proved(_)) && client.limiter().remaining().await < STATUS_BUDGET_FLOOR {
            debug!(target: "slotproof::submit", block, %zkvm, call = submission.name(), "budget short: best-effort call dropped");
            let _ = queue.ack(lease.id, lease.token);
            continue;
        }
        let result = match &submission {
            Submission::Queued(u) => client.status(StatusCall::Queued, u).await,
            Submission::Proving(u) => client.status(StatusCall::Proving, u).await,
            Submission::Proved(p) => client.proved(p).await,
        };
        if let Err(e) = settle(&queue, &lease, &submission, result, &stop).await {
            warn!(target: "slotproof::submit", error = %e, "outbox: could not settle an entry; it will be sent again");
        }
    }
}

/// The next outbox entry, waiting a little for one; `None` when there is none yet
/// (or the queue failed, which is logged and paused on).
async fn next_lease(queue: &Arc<Queue>) -> Option<Lease> {
    let q = queue.clone();
    let lease = tokio::task::spawn_blocking(move || {
        q.lease_wait(OUTBOX_QUEUE, "ethproofs-sender", Duration::from_secs(120), Duration::from_millis(300))
    })
    .await;
    match lease {
        Ok(Ok(lease)) => lease,
        Ok(Err(e)) => {
            warn!(target: "slotproof::submit", error = %e, "outbox: queue error");
            tokio::time::sleep(Duration::from_millis(500)).await;
            None
        }
        Err(e) => {
            warn!(target: "slotproof::submit", error = %e, "outbox: lease task failed");
            None
        }
    }
}

/// Acks, dead-letters or retries one sent entry by what the service answered.
async fn settle(
    queue: &Queue,
    lease: &Lease,
    submission: &Submission,
    result: Result<u64, SubmitError>,
    stop: &CancellationToken,
) -> Result<(), QueueError> {
    let (zkvm, block, call) = (&lease.target, submission.block(), submission.name());
    match result {
        Ok(proof_id) => {
            info!(target: "slotproof::submit", block, %zkvm, call, proof_id, "submitted to ethproofs");
            queue.ack(lease.id, lease.token)
        }
        Err(SubmitError::AlreadyProved) => {
            info!(target: "slotproof::submit", block, %zkvm, call, "ethproofs already has this block proved (409): done");
            queue.ack(lease.id, lease.token)
        }
        Err(SubmitError::Rejected { status, body }) => {
            warn!(target: "slotproof::submit", block, %zkvm, call, status, %body, "ethproofs refused the request: dead-lettered");
            queue.nack(lease.id, lease.token, &format!("HTTP {status}: {body}"), Failure::Permanent).map(|_| ())
        }
        Err(e @ (SubmitError::Unexpected { .. } | SubmitError::HttpClient(_))) => {
            let why = ErrorChain(&e).to_string();
            warn!(target: "slotproof::submit", block, %zkvm, call, error = %why, "ethproofs answer unusable: dead-lettered");
            queue.nack(lease.id, lease.token, &why, Failure::Permanent).map(|_| ())
        }
        Err(SubmitError::RateLimited(wait)) => {
            queue.nack(lease.id, lease.token, &format!("rate limited for {wait:?}"), Failure::Transient).map(|_| ())
        }
        Err(SubmitError::Retry(e)) => {
            let why = ErrorChain(&e).to_string();
            let cap = Duration::from_millis(250u64.saturating_mul(1 << lease.attempt.min(7)));
            let pause = jitter(lease.id.as_bytes(), lease.attempt, cap);
            warn!(target: "slotproof::submit", block, %zkvm, call, error = %why, attempt = lease.attempt, "ethproofs call failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.cancelled() => {}
            }
            queue.nack(lease.id, lease.token, &why, Failure::Transient).map(|_| ())
        }
    }
}
