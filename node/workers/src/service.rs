//! The node's work service (specs/workers.md §3): answers workers' requests
//! on `<prefix>.work.*`. A lease goes through the zkVM's own pipeline
//! dispatcher, exactly as a local prover's would (stale checks, timeouts,
//! hand-off to the proofs queue), so the node's recorder verifies a worker's
//! proof like any other. While a worker beats, the pipeline's heartbeat keeps
//! the queue lease alive; a worker silent for `silence` loses the job, which
//! is retried elsewhere, and its late result is refused.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::object_store::ObjectStore;
use async_nats::{Client, Message};
use futures_util::StreamExt;
use slotproof_pipeline::{Dispatcher, Job, Outcome};
use slotproof_primitives::hex;
use slotproof_queue::NatsTarget;
use slotproof_zkvm::{ProofArtifact, ProverError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::error::WorkerError;
use crate::objects;
use crate::protocol::{self, Beat, BeatReply, Done, Failed, JobOffer, LeaseReply, LeaseRequest, ResultReply};
use crate::roster::{JobEnd, Roster};

/// Jobs held by workers at once, over all of them.
pub const MAX_JOBS: usize = 1024;
/// Lease requests waiting in the node at once; more are refused as busy.
pub const MAX_LEASE_WAITS: usize = 64;
/// Result and beat handlers running at once.
pub const MAX_HANDLERS: usize = 64;
/// Input digests remembered as already in the object store.
const UPLOADED_MEMORY: usize = 1024;

type InputSource = Arc<dyn Fn(&[u8; 32]) -> Option<Vec<u8>> + Send + Sync>;

pub struct ServiceOptions {
    pub target: NatsTarget,
    /// zkVM name -> its pipeline dispatcher, and whether the node's own entry
    /// for it is simulated (a worker's word on that is not taken).
    pub dispatchers: BTreeMap<String, (Arc<Dispatcher>, bool)>,
    /// A proving input's bytes by digest (the node's input store).
    pub input: InputSource,
    /// How often workers are told to beat.
    pub beat_every: Duration,
    /// A worker silent this long loses its jobs.
    pub silence: Duration,
}

struct Held {
    worker: String,
    zkvm: String,
    job: Job,
    last_beat: Instant,
}

struct Inner {
    opts: ServiceOptions,
    client: Client,
    objects: ObjectStore,
    roster: Arc<Roster>,
    jobs: Mutex<HashMap<u64, Held>>,
    next_job: AtomicU64,
    lease_waits: Arc<Semaphore>,
    handlers: Arc<Semaphore>,
    uploaded: Mutex<(HashSet<String>, VecDeque<String>)>,
}

pub struct WorkService;

impl WorkService {
    /// Subscribes to the work subjects and starts the sweeper; everything stops with `stop`.
    pub async fn start(
        opts: ServiceOptions,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Arc<Roster>, WorkerError> {
        let client = slotproof_queue::nats::connect(&opts.target, "slotproof-work-service").await?;
        let js = async_nats::jetstream::new(client.clone());
        let objects = objects::bucket(&js, &opts.target).await?;
        let roster = Arc::new(Roster::default());
        // Job numbers start from the clock so a restarted node never reuses one a worker still holds.
        let first =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_micros() as u64);
        let inner = Arc::new(Inner {
            opts,
            client: client.clone(),
            objects,
            roster: roster.clone(),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU64::new(first),
            lease_waits: Arc::new(Semaphore::new(MAX_LEASE_WAITS)),
            handlers: Arc::new(Semaphore::new(MAX_HANDLERS)),
            uploaded: Mutex::new((HashSet::new(), VecDeque::new())),
        });
        for tail in [protocol::LEASE, protocol::BEAT, protocol::DONE, protocol::FAILED, protocol::PING] {
            let subject = inner.opts.target.subject(tail);
            let mut sub = client
                .subscribe(subject.clone())
                .await
                .map_err(|e| WorkerError::Request { subject: subject.clone(), reason: e.to_string() })?;
            let (inner, stop) = (inner.clone(), stop.clone());
            let spawner = tracker.clone();
            tracker.spawn(async move {
                loop {
                    let msg = tokio::select! {
                        m = sub.next() => m,
                        _ = stop.cancelled() => None,
                    };
                    let Some(msg) = msg else { break };
                    inner.clone().dispatch(tail, msg, &spawner);
                }
            });
        }
        let (sweeper, sweep_stop) = (inner.clone(), stop.clone());
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = tick.tick() => sweeper.sweep(),
                    _ = sweep_stop.cancelled() => break,
                }
            }
            // Jobs still held at shutdown go back to the queue now, not at lease expiry.
            sweeper.release_all("the node is shutting down");
        });
        info!(target: "slotproof::workers", prefix = %inner.opts.target.prefix, zkvms = ?inner.opts.dispatchers.keys().collect::<Vec<_>>(), "work service listening for remote workers");
        Ok(roster)
    }
}

impl Inner {
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Held>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dispatch(self: Arc<Self>, tail: &'static str, msg: Message, tracker: &TaskTracker) {
        let Some(reply_to) = msg.reply.clone() else { return };
        let permits = if tail == protocol::LEASE { &self.lease_waits } else { &self.handlers };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let busy = protocol::encode(&LeaseReply::Refused { reason: "the node is busy; retry".into() });
            let client = self.client.clone();
            tracker.spawn(async move { client.publish(reply_to, busy).await });
            return;
        };
        tracker.spawn(async move {
            let reply = match tail {
                protocol::LEASE => self.on_lease(&msg.payload).await,
                protocol::BEAT => self.on_beat(&msg.payload),
                protocol::DONE => self.on_done(&msg.payload).await,
                protocol::PING => protocol::encode(&protocol::Pong { workers: self.roster.snapshot().len() }),
                _ => self.on_failed(&msg.payload).await,
            };
            if let Err(e) = self.client.publish(reply_to, reply).await {
                debug!(target: "slotproof::workers", error = %e, "reply not sent");
            }
            drop(permit);
        });
    }

    async fn on_lease(self: &Arc<Self>, payload: &[u8]) -> bytes::Bytes {
        let refuse = |reason: String| protocol::encode(&LeaseReply::Refused { reason });
        let req: LeaseRequest = match protocol::decode(payload) {
            Ok(r) => r,
            Err(e) => return refuse(format!("bad lease request: {e}")),
        };
        if !protocol::valid_name(&req.worker) {
            return refuse("bad worker id".into());
        }
        if !self.roster.knows(&req.worker) {
            return refuse("unknown worker: beat first".into());
        }
        let Some((dispatcher, _)) = self.opts.dispatchers.get(&req.zkvm).cloned() else {
            return refuse(format!("this node does not prove {:?}", req.zkvm));
        };
        if self.jobs().len() >= MAX_JOBS {
            return refuse("the node holds its most jobs; retry".into());
        }
        let wait = Duration::from_millis(req.wait_ms.min(protocol::MAX_LEASE_WAIT_MS));
        let label = format!("remote:{}", req.worker);
        let begun = tokio::task::spawn_blocking(move || dispatcher.begin(&label, wait)).await;
        let job = match begun {
            Ok(Ok(Some(job))) => job,
            Ok(Ok(None)) => return protocol::encode(&LeaseReply::Empty),
            Ok(Err(e)) => return refuse(format!("the node's queue: {e}")),
            Err(e) => return refuse(format!("lease task: {e}")),
        };
        let Ok(digest) = <[u8; 32]>::try_from(&job.lease.payload[..]) else {
            self.finish(job, &req.zkvm, Err(ProverError::Permanent("a task's input reference is not a digest".into())))
                .await;
            return protocol::encode(&LeaseReply::Empty);
        };
        if let Err(e) = self.upload_input(&digest).await {
            warn!(target: "slotproof::workers", block = job.lease.block_number, error = %e, "proving input not uploaded for a worker; the task is retried");
            self.finish(job, &req.zkvm, Err(ProverError::Transient(format!("input upload: {e}")))).await;
            return protocol::encode(&LeaseReply::Empty);
        }
        let id = self.next_job.fetch_add(1, Ordering::SeqCst);
        let offer = JobOffer {
            job: id,
            task: job.lease.id.to_hex(),
            zkvm: req.zkvm.clone(),
            block: job.lease.block_number,
            attempt: job.lease.attempt,
            input: hex::encode(&digest),
            beat_ms: self.opts.beat_every.as_millis() as u64,
        };
        info!(target: "slotproof::workers", worker = %req.worker, zkvm = %req.zkvm, block = offer.block, attempt = offer.attempt, job = id, "task leased to a remote worker");
        self.jobs().insert(id, Held { worker: req.worker, zkvm: req.zkvm, job, last_beat: Instant::now() });
        protocol::encode(&LeaseReply::Job(offer))
    }

    async fn upload_input(&self, digest: &[u8; 32]) -> Result<(), WorkerError> {
        let name = hex::encode(digest);
        if self.uploaded.lock().unwrap_or_else(|e| e.into_inner()).0.contains(&name) {
            return Ok(());
        }
        let bytes = (self.opts.input)(digest).ok_or_else(|| WorkerError::Objects {
            bucket: "inputs".into(),
            reason: format!("input {name} not in the node's store"),
        })?;
        let stored = objects::put(&self.objects, &bytes).await?;
        if stored != name {
            return Err(WorkerError::ObjectMismatch { name });
        }
        let mut up = self.uploaded.lock().unwrap_or_else(|e| e.into_inner());
        if up.0.insert(name.clone()) {
            up.1.push_back(name);
            while up.1.len() > UPLOADED_MEMORY {
                if let Some(old) = up.1.pop_front() {
                    up.0.remove(&old);
                }
            }
        }
        Ok(())
    }

    fn on_beat(&self, payload: &[u8]) -> bytes::Bytes {
        let beat = match protocol::decode::<Beat>(payload) {
            Ok(b) if protocol::valid_name(&b.worker) && b.zkvms.len() <= 16 && b.jobs.len() <= MAX_JOBS => b,
            _ => return protocol::encode(&BeatReply::default()),
        };
        let mut drop = Vec::new();
        let held = {
            let mut jobs = self.jobs();
            for id in &beat.jobs {
                match jobs.get_mut(id) {
                    Some(h) if h.worker == beat.worker && !h.job.cancel.is_cancelled() => h.last_beat = Instant::now(),
                    _ => drop.push(*id),
                }
            }
            jobs.values().filter(|h| h.worker == beat.worker).count()
        };
        if !self.roster.beat(&beat, held) {
            warn!(target: "slotproof::workers", worker = %beat.worker, "roster full; worker not tracked");
        }
        protocol::encode(&BeatReply { drop })
    }

    async fn on_done(self: &Arc<Self>, payload: &[u8]) -> bytes::Bytes {
        let reject = |reason: String| protocol::encode(&ResultReply::Rejected { reason });
        let done: Done = match protocol::decode(payload) {
            Ok(d) => d,
            Err(e) => return reject(format!("bad result: {e}")),
        };
        let Some(held) = self.take(done.job, &done.worker) else {
            self.roster.ended(&done.worker, JobEnd::Lost);
            return protocol::encode(&ResultReply::LeaseLost);
        };
        let public_values: Vec<u8> = match hex::decode(&done.public_values) {
            Ok(v) if v.len() <= protocol::MAX_PUBLIC_VALUES => v,
            _ => {
                self.finish(held.job, &held.zkvm, Err(ProverError::Transient("unreadable public values".into()))).await;
                return reject("public values must be hex, at most 16 KiB".into());
            }
        };
        let proof = match objects::get(&self.objects, &done.proof).await {
            Ok(p) => p,
            Err(e) => {
                self.finish(held.job, &held.zkvm, Err(ProverError::Transient(format!("proof object: {e}")))).await;
                self.roster.ended(&done.worker, JobEnd::Failed);
                return reject(format!("proof object: {e}"));
            }
        };
        let simulated = self.opts.dispatchers.get(&held.zkvm).is_some_and(|(_, s)| *s);
        let artifact = ProofArtifact {
            zkvm: held.zkvm.clone(),
            proof,
            public_values,
            cycles: done.cycles,
            proving_time: Duration::from_micros(done.proving_us),
            simulated,
        };
        let block = held.job.lease.block_number;
        match self.finish(held.job, &held.zkvm, Ok(artifact)).await {
            Some(Outcome::Done) => {
                info!(target: "slotproof::workers", worker = %done.worker, zkvm = %held.zkvm, block, "remote proof handed to the recorder");
                self.roster.ended(&done.worker, JobEnd::Proved);
                protocol::encode(&ResultReply::Accepted)
            }
            Some(Outcome::LeaseLost) => {
                self.roster.ended(&done.worker, JobEnd::Lost);
                protocol::encode(&ResultReply::LeaseLost)
            }
            other => reject(format!("not committed: {other:?}")),
        }
    }

    async fn on_failed(self: &Arc<Self>, payload: &[u8]) -> bytes::Bytes {
        let failed: Failed = match protocol::decode(payload) {
            Ok(f) => f,
            Err(e) => return protocol::encode(&ResultReply::Rejected { reason: format!("bad report: {e}") }),
        };
        let Some(held) = self.take(failed.job, &failed.worker) else {
            return protocol::encode(&ResultReply::LeaseLost);
        };
        let why: String = failed.error.chars().take(protocol::MAX_ERROR_CHARS).collect();
        let why = format!("worker {}: {why}", failed.worker);
        let error = if failed.transient { ProverError::Transient(why) } else { ProverError::Permanent(why) };
        self.roster.ended(&failed.worker, JobEnd::Failed);
        self.finish(held.job, &held.zkvm, Err(error)).await;
        protocol::encode(&ResultReply::Accepted)
    }

    /// Removes a job if `worker` holds it.
    fn take(&self, job: u64, worker: &str) -> Option<Held> {
        let mut jobs = self.jobs();
        match jobs.get(&job) {
            Some(h) if h.worker == worker => jobs.remove(&job),
            _ => None,
        }
    }

    /// Commits a job's result through its dispatcher (off the async threads: it writes the queue).
    async fn finish(&self, job: Job, zkvm: &str, result: Result<ProofArtifact, ProverError>) -> Option<Outcome> {
        let (dispatcher, _) = self.opts.dispatchers.get(zkvm).cloned()?;
        match tokio::task::spawn_blocking(move || dispatcher.complete(job, result)).await {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(e)) => {
                warn!(target: "slotproof::workers", zkvm, error = %e, "committing a remote result failed");
                None
            }
            Err(e) => {
                warn!(target: "slotproof::workers", zkvm, error = %e, "commit task failed");
                None
            }
        }
    }

    /// Takes back jobs whose worker went silent, and ends jobs the pipeline
    /// cancelled (timed out, block cancelled, lease lost).
    fn sweep(self: &Arc<Self>) {
        let silence = self.opts.silence;
        let ended: Vec<(u64, Held)> = {
            let mut jobs = self.jobs();
            let ids: Vec<u64> = jobs
                .iter()
                .filter(|(_, h)| h.last_beat.elapsed() > silence || h.job.cancel.is_cancelled())
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter().filter_map(|id| jobs.remove(&id).map(|h| (id, h))).collect()
        };
        for (id, held) in ended {
            let this = self.clone();
            tokio::spawn(async move {
                let block = held.job.lease.block_number;
                let result = if held.job.cancel.is_cancelled() {
                    Err(ProverError::Cancelled)
                } else {
                    warn!(target: "slotproof::workers", worker = %held.worker, zkvm = %held.zkvm, block, job = id, silent_ms = held.last_beat.elapsed().as_millis() as u64, "worker went silent; its task is taken back and retried");
                    this.roster.ended(&held.worker, JobEnd::Lost);
                    Err(ProverError::Transient(format!("worker {} went silent", held.worker)))
                };
                this.finish(held.job, &held.zkvm, result).await;
            });
        }
    }

    fn release_all(&self, why: &str) {
        let held: Vec<Held> = self.jobs().drain().map(|(_, h)| h).collect();
        for h in held {
            if let Some((d, _)) = self.opts.dispatchers.get(&h.zkvm) {
                let _ = d.complete(h.job, Err(ProverError::Transient(why.to_string())));
            }
        }
    }
}

/// Whether a node serves the queue at `target` now: it answers on the ping
/// subject. No responders means none; a timeout is taken as a busy node.
pub async fn node_serving(target: &NatsTarget) -> Result<bool, WorkerError> {
    let client = slotproof_queue::nats::connect(target, "slotproof-probe").await?;
    let subject = target.subject(protocol::PING);
    let asked =
        tokio::time::timeout(Duration::from_secs(2), client.request(subject.clone(), bytes::Bytes::new())).await;
    match asked {
        Err(_) => Ok(true),
        Ok(Ok(_)) => Ok(true),
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(false),
        Ok(Err(e)) => Err(WorkerError::Request { subject, reason: e.to_string() }),
    }
}
