//! The durable outbox (specs/submission.md §2): every submission is a task in
//! the node's RocksDB queue, written when the node decides it (a verified
//! proof, a queued block), so a SIGKILL at any point loses none. One sender
//! drains it: proved calls first (priority), in block order, retried with
//! exponential backoff and jitter; 409 means done; 401/403/404 (a bad key, an
//! unknown cluster: configuration) hold the entry and retry it slowly, with one
//! error log per change of state; other 4xx dead-letter with the response
//! body; queued/proving are dropped when the budget is short.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slotproof_queue::{BlobDigest, BlobStore, Failure, Lease, NewTask, Queue, QueueError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::api::{Proved, StatusUpdate, StoredProved};
use crate::client::{Client, StatusCall};
use crate::error::{ErrorChain, SubmitError, what_to_fix};

pub const OUTBOX_QUEUE: &str = "ethproofs";
/// Proved calls lease before status calls of any block.
const PRIORITY_PROVED: u8 = 10;
const PRIORITY_STATUS: u8 = 200;
/// Below this many calls left in the window, queued/proving are not sent.
const STATUS_BUDGET_FLOOR: usize = 10;
/// A network outage must not dead-letter a proof: retry (with capped backoff) this long.
const MAX_ATTEMPTS: u32 = 10_000;
/// An entry refused for configuration (401/403/404) waits this long before
/// its second try, doubling per try up to [`HOLD_MAX`]: an operator's fix is
/// picked up within minutes, and a bad key does not hammer the service.
const HOLD_BASE: Duration = Duration::from_secs(30);
const HOLD_MAX: Duration = Duration::from_secs(600);

/// The service refusing this node's calls for a configuration problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub status: u16,
    /// What to check (never the key).
    pub fix: &'static str,
}

/// The sender's standing with the service, for `/status`: set while the
/// service refuses the calls for configuration, cleared by the next success.
#[derive(Debug, Default)]
pub struct OutboxHealth(Mutex<Option<Refusal>>);

impl OutboxHealth {
    pub fn refusal(&self) -> Option<Refusal> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records the latest answer; true when the state changed (log once per change).
    fn set(&self, now: Option<Refusal>) -> bool {
        let mut cur = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let changed = *cur != now;
        *cur = now;
        changed
    }
}

/// The wait before retrying an entry refused for configuration, after `attempt` tries.
fn hold_for(attempt: u32) -> Duration {
    HOLD_BASE.saturating_mul(1 << attempt.saturating_sub(1).min(8)).min(HOLD_MAX)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Submission {
    Queued(StatusUpdate),
    Proving(StatusUpdate),
    /// The proof inline, base64: what an older node wrote; still sent.
    Proved(Proved),
    /// The proof by digest in the node's blob store (specs/submission.md §2).
    ProvedStored(StoredProved),
}

impl Submission {
    fn name(&self) -> &'static str {
        match self {
            Submission::Queued(_) => "queued",
            Submission::Proving(_) => "proving",
            Submission::Proved(_) | Submission::ProvedStored(_) => "proved",
        }
    }

    fn block(&self) -> u64 {
        match self {
            Submission::Queued(s) | Submission::Proving(s) => s.block_number,
            Submission::Proved(p) => p.block_number,
            Submission::ProvedStored(p) => p.block_number,
        }
    }

    /// Sends the entry to `cluster` instead of the one it was written with.
    fn retarget(&mut self, cluster: u64) {
        match self {
            Submission::Queued(s) | Submission::Proving(s) => s.cluster_id = cluster,
            Submission::Proved(p) => p.cluster_id = cluster,
            Submission::ProvedStored(p) => p.cluster_id = cluster,
        }
    }

    fn is_proved(&self) -> bool {
        matches!(self, Submission::Proved(_) | Submission::ProvedStored(_))
    }

    /// The blob an outbox entry's payload refers to, if any (for the node's sweep).
    pub fn blob_ref(payload: &[u8]) -> Option<BlobDigest> {
        match serde_json::from_slice(payload).ok()? {
            Submission::ProvedStored(p) => p.proof_digest.parse().ok(),
            _ => None,
        }
    }

    /// The outbox task: the same submission is the same task (the queue drops
    /// a second enqueue), so a node that re-decides after a crash adds nothing.
    pub fn task(&self, zkvm: &str) -> NewTask {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        let priority = if self.is_proved() { PRIORITY_PROVED } else { PRIORITY_STATUS };
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

/// Nothing left to send now (dead letters stay for an operator). Entries held
/// for a configuration problem do not count while the service refuses: they
/// stay in the queue for the next start rather than hold up a shutdown.
pub fn outbox_drained(queue: &Queue, health: &OutboxHealth) -> bool {
    let Ok(stats) = queue.stats() else { return false };
    let held_ok = health.refusal().is_some();
    stats.queues.get(OUTBOX_QUEUE).is_none_or(|c| c.pending + c.leased == 0 && (c.delayed == 0 || held_ok))
}

/// Sends the outbox's entries as they come. Once `drain` is cancelled it
/// returns as soon as the outbox is drained; once `stop` is cancelled it returns
/// at once (an entry being retried is handed back to the queue first).
pub async fn run_sender(queue: Arc<Queue>, client: Client, drain: CancellationToken, stop: CancellationToken) {
    let sender = Sender { queue, client, health: Arc::default(), blobs: None, clusters: BTreeMap::new() };
    sender.run(drain, stop).await
}

/// Sends one entry; a stored proof is read (and its digest checked) first.
async fn send(client: &Client, blobs: Option<&BlobStore>, submission: &Submission) -> Result<u64, SubmitError> {
    match submission {
        Submission::Queued(u) => client.status(StatusCall::Queued, u).await,
        Submission::Proving(u) => client.status(StatusCall::Proving, u).await,
        Submission::Proved(p) => client.proved(p).await,
        Submission::ProvedStored(s) => {
            let digest: BlobDigest = s.proof_digest.parse().map_err(SubmitError::ProofUnreadable)?;
            let Some(blobs) = blobs else {
                return Err(SubmitError::ProofUnreadable(slotproof_queue::BlobError::BadDigest(
                    "this sender has no blob store".into(),
                )));
            };
            let proof = blobs.get(&digest).map_err(SubmitError::ProofUnreadable)?;
            client.proved(&s.with_proof(&proof)).await
        }
    }
}

/// What the sender works with.
pub struct Sender {
    pub queue: Arc<Queue>,
    pub client: Client,
    /// Its standing with the service, for `/status`.
    pub health: Arc<OutboxHealth>,
    /// Where `proved_stored` entries' proofs are.
    pub blobs: Option<Arc<BlobStore>>,
    /// zkVM → the cluster configured now. An entry of one of these zkVMs is
    /// sent to this cluster, whatever cluster it was written with, so an
    /// operator's fix of a 404 (`[ethproofs] clusters`) reaches held entries.
    pub clusters: BTreeMap<String, u64>,
}

impl Sender {
    /// Sends the outbox's entries as they come (see [`run_sender`]).
    pub async fn run(self, drain: CancellationToken, stop: CancellationToken) {
        info!(target: "slotproof::submit", "ethproofs sender running");
        while !stop.is_cancelled() {
            let Some(lease) = next_lease(&self.queue).await else {
                if drain.is_cancelled() && outbox_drained(&self.queue, &self.health) {
                    if self.health.refusal().is_some() {
                        warn!(target: "slotproof::submit", "outbox: entries refused for configuration stay queued for the next start");
                    }
                    return;
                }
                continue;
            };
            self.handle(lease, &stop).await;
        }
    }

    /// Sends one leased entry and settles it by the answer.
    async fn handle(&self, lease: Lease, stop: &CancellationToken) {
        let queue = &self.queue;
        let mut submission: Submission = match serde_json::from_slice(&lease.payload) {
            Ok(s) => s,
            Err(e) => {
                let _ =
                    queue.nack(lease.id, lease.token, &format!("undecodable outbox entry: {e}"), Failure::Permanent);
                return;
            }
        };
        if let Some(cluster) = self.clusters.get(&lease.target) {
            submission.retarget(*cluster);
        }
        let (zkvm, block) = (lease.target.clone(), submission.block());
        if !submission.is_proved() && self.client.limiter().remaining().await < STATUS_BUDGET_FLOOR {
            debug!(target: "slotproof::submit", block, %zkvm, call = submission.name(), "budget short: best-effort call dropped");
            let _ = queue.ack(lease.id, lease.token);
            return;
        }
        let result = send(&self.client, self.blobs.as_deref(), &submission).await;
        note_standing(&self.health, &result);
        if let Err(e) = settle(queue, &lease, &submission, result, stop).await {
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

/// Logs once per change whether the service refuses this node for configuration.
fn note_standing(health: &OutboxHealth, result: &Result<u64, SubmitError>) {
    let now = match result {
        Ok(_) | Err(SubmitError::AlreadyProved) => None,
        Err(SubmitError::Misconfigured { status, .. }) => Some(Refusal { status: *status, fix: what_to_fix(*status) }),
        // Other failures say nothing about the configuration: keep the state.
        Err(_) => return,
    };
    if !health.set(now.clone()) {
        return;
    }
    match (now, result) {
        (Some(r), Err(SubmitError::Misconfigured { body, .. })) => {
            error!(target: "slotproof::submit", status = r.status, %body, fix = r.fix, "ethproofs refuses this node's calls; entries are kept and retried every few minutes until fixed");
        }
        _ => info!(target: "slotproof::submit", "ethproofs accepts this node's calls again"),
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
        Err(SubmitError::Misconfigured { status, body }) => {
            let hold = hold_for(lease.attempt);
            debug!(target: "slotproof::submit", block, %zkvm, call, status, ?hold, "refused for configuration: held");
            let why = format!("HTTP {status}: {body} ({}); held {hold:?}", what_to_fix(status));
            queue.nack(lease.id, lease.token, &why, Failure::Hold(hold)).map(|_| ())
        }
        Err(SubmitError::ProofUnreadable(e)) => {
            let why = format!("reading the proof to submit: {}", ErrorChain(&e));
            let failure = if e.is_transient() { Failure::Transient } else { Failure::Permanent };
            warn!(target: "slotproof::submit", block, %zkvm, call, error = %why, ?failure, "outbox: proof unreadable");
            queue.nack(lease.id, lease.token, &why, failure).map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Limiter;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP server answering every request with `status` and `body`; counts requests and keeps the last one.
    async fn answering(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>, Arc<Mutex<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v0", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        let last = Arc::new(Mutex::new(String::new()));
        let keep = last.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head and the whole body before answering.
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_lowercase();
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break;
                    }
                }
                *keep.lock().unwrap() = String::from_utf8_lossy(&req).into_owned();
                count.fetch_add(1, Ordering::SeqCst);
                let head =
                    format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = s.write_all(head.as_bytes()).await;
            }
        });
        (url, seen, last)
    }

    fn proved_entry() -> NewTask {
        let p = Proved {
            block_number: 7,
            cluster_id: 999,
            proving_time: 5,
            proving_cycles: None,
            proof: "AAEC".into(),
            verifier_id: None,
        };
        Submission::Proved(p).task("stark")
    }

    /// Sends one `proved` entry to a service answering `status`; the outbox's counts after the first answer.
    async fn after_answer(status: u16, body: &'static str) -> slotproof_queue::QueueCounts {
        let (url, seen, _) = answering(status, body).await;
        let queue = Arc::new(Queue::memory(slotproof_queue::QueueConfig::default()));
        queue.enqueue_one(proved_entry()).unwrap();
        let client = Client::new(&url, "team-key", Arc::new(Limiter::ethproofs())).unwrap();
        let (drain, stop) = (CancellationToken::new(), CancellationToken::new());
        let sender = tokio::spawn(run_sender(queue.clone(), client, drain, stop.clone()));
        for _ in 0..200 {
            let c = queue.stats().unwrap().queues.get(OUTBOX_QUEUE).cloned().unwrap_or_default();
            if seen.load(Ordering::SeqCst) >= 1 && c.leased == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        sender.await.unwrap();
        queue.stats().unwrap().queues.get(OUTBOX_QUEUE).cloned().unwrap_or_default()
    }

    /// specs/submission.md §2: 401/403 (the key) and 404 (e.g. an unknown
    /// cluster) are configuration problems: the proof is kept, held for a
    /// long wait, never dead-lettered.
    #[tokio::test]
    async fn refusals_for_configuration_keep_the_proof() {
        for (status, body) in [(401, "Invalid API key"), (403, "Forbidden"), (404, "Cluster not found")] {
            let c = after_answer(status, body).await;
            assert_eq!((c.dead, c.pending + c.delayed), (0, 1), "HTTP {status}: kept, not dead: {c:?}");
            assert_eq!(c.delayed, 1, "HTTP {status}: held, not retried at once");
        }
    }

    /// specs/submission.md §2: 408 is transient, retried like a 5xx.
    #[tokio::test]
    async fn a_request_timeout_is_retried() {
        let c = after_answer(408, "Request Timeout").await;
        assert_eq!((c.dead, c.pending + c.delayed), (0, 1), "{c:?}");
    }

    /// Other 4xx still dead-letter: retrying an invalid request cannot help.
    #[tokio::test]
    async fn an_invalid_request_is_dead_lettered() {
        let c = after_answer(400, "Invalid request: proof").await;
        assert_eq!((c.dead, c.pending + c.delayed), (1, 0), "{c:?}");
    }

    /// specs/submission.md §2: a `proved` entry carries the proof's digest; the
    /// sender reads the file (its digest checked) and sends the bytes; a file
    /// that is gone dead-letters the entry with that reason.
    #[tokio::test]
    async fn a_stored_proof_is_read_when_sent_and_a_missing_one_is_dead_lettered() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(BlobStore::open(dir.path()).unwrap());
        let digest = blobs.put(&[1, 2, 3]).unwrap();
        let entry = |d: &BlobDigest| {
            let p = StoredProved {
                block_number: 7,
                cluster_id: 1,
                proving_time: 5,
                proving_cycles: None,
                proof_digest: d.to_string(),
                verifier_id: None,
            };
            Submission::ProvedStored(p).task("stark")
        };
        let (url, seen, _) = answering(200, r#"{"proof_id": 1}"#).await;
        let queue = Arc::new(Queue::memory(slotproof_queue::QueueConfig::default()));
        queue.enqueue_one(entry(&digest)).unwrap();
        queue.enqueue_one(entry(&BlobDigest([9; 32]))).unwrap();
        let client = Client::new(&url, "team-key", Arc::new(Limiter::ethproofs())).unwrap();
        let (drain, stop) = (CancellationToken::new(), CancellationToken::new());
        drain.cancel();
        let sender = Sender {
            queue: queue.clone(),
            client,
            health: Arc::default(),
            blobs: Some(blobs),
            clusters: BTreeMap::new(),
        };
        sender.run(drain, stop).await;
        let c = queue.stats().unwrap().queues.get(OUTBOX_QUEUE).cloned().unwrap_or_default();
        assert_eq!((c.done, c.dead, seen.load(Ordering::SeqCst)), (1, 1, 1), "{c:?}");
        let view = queue.view().unwrap();
        let dead = view.list(Some(OUTBOX_QUEUE), slotproof_queue::StateFilter::Dead, 10, queue.now_ms());
        assert!(dead[0].last_error.as_deref().is_some_and(|e| e.contains("no blob")), "{dead:?}");
    }

    /// specs/submission.md §2: an entry held for an unknown cluster goes to the
    /// cluster configured now, so the operator's fix reaches it.
    #[tokio::test]
    async fn a_held_entry_goes_to_the_cluster_configured_now() {
        let (url, _, last) = answering(200, r#"{"proof_id": 1}"#).await;
        let queue = Arc::new(Queue::memory(slotproof_queue::QueueConfig::default()));
        queue.enqueue_one(proved_entry()).unwrap();
        let client = Client::new(&url, "team-key", Arc::new(Limiter::ethproofs())).unwrap();
        let (drain, stop) = (CancellationToken::new(), CancellationToken::new());
        drain.cancel();
        let clusters = BTreeMap::from([("stark".to_string(), 5)]);
        let sender = Sender { queue: queue.clone(), client, health: Arc::default(), blobs: None, clusters };
        sender.run(drain, stop).await;
        let body = last.lock().unwrap().clone();
        assert!(body.contains("\"cluster_id\":5") && !body.contains("999"), "{body}");
        assert_eq!(queue.stats().unwrap().total.done, 1);
    }

    #[test]
    fn holds_grow_to_their_cap() {
        assert_eq!(hold_for(1), HOLD_BASE);
        assert_eq!(hold_for(2), HOLD_BASE * 2);
        assert_eq!(hold_for(50), HOLD_MAX);
    }
}
