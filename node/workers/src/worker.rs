//! The worker process (`slotproof worker`, specs/workers.md §5): runs its own
//! zkVMs, with their slots and GPUs, on proving tasks leased from a node over
//! NATS. One loop per slot asks for a task, fetches the input from the object
//! store (checked against its digest), proves, stores the proof there and
//! reports it. A beat every second keeps its jobs; the node's answer names
//! jobs to drop, whose provers are cancelled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::Client;
use async_nats::jetstream::object_store::ObjectStore;
use serde::Serialize;
use slotproof_primitives::hex;
use slotproof_queue::NatsTarget;
use slotproof_zkvm::registry::{self, AdapterState, Machine, ZkvmEntry};
use slotproof_zkvm::slots::SlotPool;
use slotproof_zkvm::{CancelToken, Prover, ProverError, block_input};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::WorkerError;
use crate::objects;
use crate::protocol::{
    self, Beat, BeatReply, Done, Failed, JobOffer, LeaseReply, LeaseRequest, ResultReply, ZkvmSlots,
};

/// How long one lease request waits in the node.
const LEASE_WAIT: Duration = Duration::from_secs(2);
/// Slack over the wait before a request is given up.
const REQUEST_SLACK: Duration = Duration::from_secs(3);
pub const BEAT_EVERY: Duration = Duration::from_secs(1);

pub struct WorkerOptions {
    pub target: NatsTarget,
    pub id: String,
    pub entries: Vec<ZkvmEntry>,
    pub machine: Machine,
}

/// What a worker did, printed by `slotproof worker --json` at exit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkerSummary {
    pub worker: String,
    pub proofs: u64,
    pub failures: u64,
    pub leases_lost: u64,
    pub dropped: u64,
}

struct ZkvmRun {
    name: String,
    simulated: bool,
    pool: Arc<SlotPool>,
}

#[derive(Default)]
struct Counters {
    proofs: AtomicU64,
    failures: AtomicU64,
    lost: AtomicU64,
    dropped: AtomicU64,
}

struct Shared {
    opts: WorkerOptions,
    client: Client,
    objects: ObjectStore,
    zkvms: Vec<ZkvmRun>,
    /// Jobs proving now: their cancel token and zkVM.
    active: Mutex<HashMap<u64, (CancelToken, String)>>,
    counters: Counters,
    host: String,
}

/// Runs until `stop`; returns what was done.
pub async fn run(opts: WorkerOptions, stop: CancellationToken) -> Result<WorkerSummary, WorkerError> {
    if !protocol::valid_name(&opts.id) {
        return Err(WorkerError::BadId(opts.id));
    }
    let mut zkvms = Vec::new();
    for adapter in registry::build(&opts.entries, &opts.machine)? {
        match (adapter.state, adapter.pool) {
            (AdapterState::Ready, Some(pool)) => {
                info!(target: "slotproof::worker", zkvm = %adapter.name, slots = pool.len(), simulated = adapter.simulated, "zkVM ready");
                zkvms.push(ZkvmRun { name: adapter.name, simulated: adapter.simulated, pool });
            }
            (AdapterState::Unavailable(why), _) => {
                warn!(target: "slotproof::worker", zkvm = %adapter.name, reason = %why, "zkVM unavailable; not proving with it")
            }
            (AdapterState::Ready, None) => {}
        }
    }
    if zkvms.is_empty() {
        return Err(WorkerError::NoZkvm);
    }
    let client = slotproof_queue::nats::connect(&opts.target, &format!("slotproof-worker-{}", opts.id)).await?;
    let js = async_nats::jetstream::new(client.clone());
    let objects = objects::bucket(&js, &opts.target).await?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let shared = Arc::new(Shared {
        opts,
        client,
        objects,
        zkvms,
        active: Mutex::new(HashMap::new()),
        counters: Counters::default(),
        host,
    });
    info!(target: "slotproof::worker", worker = %shared.opts.id, queue = %shared.opts.target.shown_url(), prefix = %shared.opts.target.prefix, "worker started");

    // Beat first: the node leases only to workers it has heard from.
    shared.beat().await;
    let mut tasks = tokio::task::JoinSet::new();
    for (z, run) in shared.zkvms.iter().enumerate() {
        for _ in 0..run.pool.len() {
            let (shared, stop) = (shared.clone(), stop.clone());
            tasks.spawn(async move { shared.slot_loop(z, stop).await });
        }
    }
    let beats = {
        let (shared, stop) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BEAT_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => shared.beat().await,
                    _ = stop.cancelled() => break,
                }
            }
        })
    };
    while tasks.join_next().await.is_some() {}
    let _ = beats.await;
    let c = &shared.counters;
    Ok(WorkerSummary {
        worker: shared.opts.id.clone(),
        proofs: c.proofs.load(Ordering::SeqCst),
        failures: c.failures.load(Ordering::SeqCst),
        leases_lost: c.lost.load(Ordering::SeqCst),
        dropped: c.dropped.load(Ordering::SeqCst),
    })
}

impl Shared {
    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (CancelToken, String)>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn request<T: for<'de> serde::Deserialize<'de>>(
        &self,
        tail: &str,
        body: bytes::Bytes,
        timeout: Duration,
    ) -> Result<T, WorkerError> {
        let subject = self.opts.target.subject(tail);
        let reply = tokio::time::timeout(timeout, self.client.request(subject.clone(), body))
            .await
            .map_err(|_| WorkerError::Request { subject: subject.clone(), reason: "timed out".into() })?
            .map_err(|e| WorkerError::Request { subject: subject.clone(), reason: e.to_string() })?;
        protocol::decode(&reply.payload).map_err(|reason| WorkerError::BadReply { subject, reason })
    }

    async fn beat(&self) {
        let (jobs, busy): (Vec<u64>, HashMap<String, u32>) = {
            let active = self.active();
            let mut busy: HashMap<String, u32> = HashMap::new();
            for (_, z) in active.values() {
                *busy.entry(z.clone()).or_default() += 1;
            }
            (active.keys().copied().collect(), busy)
        };
        let beat = Beat {
            worker: self.opts.id.clone(),
            host: self.host.clone(),
            gpus: self.opts.machine.gpus.len() as u32,
            zkvms: self
                .zkvms
                .iter()
                .map(|z| {
                    let slots = z.pool.len() as u32;
                    ZkvmSlots {
                        name: z.name.clone(),
                        slots,
                        free: slots.saturating_sub(busy.get(&z.name).copied().unwrap_or(0)),
                        simulated: z.simulated,
                    }
                })
                .collect(),
            jobs,
        };
        match self.request::<BeatReply>(protocol::BEAT, protocol::encode(&beat), Duration::from_secs(2)).await {
            Ok(reply) => {
                let active = self.active();
                for id in reply.drop {
                    if let Some((cancel, zkvm)) = active.get(&id) {
                        warn!(target: "slotproof::worker", job = id, zkvm = %zkvm, "the node took this job back; cancelling its proof");
                        cancel.cancel();
                    }
                }
            }
            Err(e) => warn!(target: "slotproof::worker", error = %e, "beat not answered; is the node up?"),
        }
    }

    async fn slot_loop(self: Arc<Self>, z: usize, stop: CancellationToken) {
        let zkvm = self.zkvms[z].name.clone();
        let mut last_complaint: Option<Instant> = None;
        while !stop.is_cancelled() {
            let req = LeaseRequest {
                worker: self.opts.id.clone(),
                zkvm: zkvm.clone(),
                wait_ms: LEASE_WAIT.as_millis() as u64,
            };
            let reply = tokio::select! {
                r = self.request::<LeaseReply>(protocol::LEASE, protocol::encode(&req), LEASE_WAIT + REQUEST_SLACK) => r,
                _ = stop.cancelled() => break,
            };
            let pause = match reply {
                Ok(LeaseReply::Job(offer)) => {
                    self.work(z, offer).await;
                    None
                }
                Ok(LeaseReply::Empty) => None,
                Ok(LeaseReply::Refused { reason }) => Some(format!("lease refused: {reason}")),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = pause {
                if last_complaint.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    warn!(target: "slotproof::worker", zkvm = %zkvm, reason = %why, "no task; retrying");
                    last_complaint = Some(Instant::now());
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.cancelled() => break,
                }
            }
        }
    }

    async fn work(&self, z: usize, offer: JobOffer) {
        let run = &self.zkvms[z];
        let cancel = CancelToken::new();
        self.active().insert(offer.job, (cancel.clone(), run.name.clone()));
        info!(target: "slotproof::worker", job = offer.job, zkvm = %run.name, block = offer.block, attempt = offer.attempt, "proving");
        let result = self.prove(run, &offer, cancel).await;
        self.active().remove(&offer.job);
        let reply = match result {
            Ok((proof, public_values, proving_us, cycles)) => {
                let done = match objects::put(&self.objects, &proof).await {
                    Ok(name) => Done {
                        worker: self.opts.id.clone(),
                        job: offer.job,
                        proof: name,
                        public_values: hex::encode(&public_values),
                        proving_us,
                        cycles,
                    },
                    Err(e) => {
                        self.report_failure(&offer, &format!("storing the proof: {e}"), true).await;
                        return;
                    }
                };
                self.request::<ResultReply>(protocol::DONE, protocol::encode(&done), Duration::from_secs(30)).await
            }
            Err(ProverError::Cancelled) => {
                self.counters.dropped.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                self.report_failure(&offer, &e.to_string(), e.is_transient()).await;
                return;
            }
        };
        match reply {
            Ok(ResultReply::Accepted) => {
                self.counters.proofs.fetch_add(1, Ordering::SeqCst);
                info!(target: "slotproof::worker", job = offer.job, zkvm = %run.name, block = offer.block, "proof accepted by the node");
            }
            Ok(ResultReply::LeaseLost) => {
                self.counters.lost.fetch_add(1, Ordering::SeqCst);
                warn!(target: "slotproof::worker", job = offer.job, block = offer.block, "proof refused: the lease was taken back (proved elsewhere)");
            }
            Ok(ResultReply::Rejected { reason }) => {
                self.counters.failures.fetch_add(1, Ordering::SeqCst);
                warn!(target: "slotproof::worker", job = offer.job, block = offer.block, reason = %reason, "proof rejected by the node");
            }
            Err(e) => {
                self.counters.failures.fetch_add(1, Ordering::SeqCst);
                warn!(target: "slotproof::worker", job = offer.job, block = offer.block, error = %e, "proof not reported; the node takes the job back");
            }
        }
    }

    /// Fetches the input, checks it, and runs the prover off the async threads.
    async fn prove(
        &self,
        run: &ZkvmRun,
        offer: &JobOffer,
        cancel: CancelToken,
    ) -> Result<(Vec<u8>, Vec<u8>, u64, Option<u64>), ProverError> {
        let bytes = objects::get(&self.objects, &offer.input)
            .await
            .map_err(|e| ProverError::Transient(format!("fetching the input: {e}")))?;
        let (input, _) =
            block_input(&bytes).map_err(|e| ProverError::Permanent(format!("input {}: {e}", offer.input)))?;
        if hex::encode(&input.digest) != offer.input {
            return Err(ProverError::Permanent(format!("input {} does not hash to its name", offer.input)));
        }
        let pool = run.pool.clone();
        let artifact = tokio::task::spawn_blocking(move || pool.prove(&input, &cancel))
            .await
            .map_err(|e| ProverError::Transient(format!("prover task: {e}")))??;
        Ok((artifact.proof, artifact.public_values, artifact.proving_time.as_micros() as u64, artifact.cycles))
    }

    async fn report_failure(&self, offer: &JobOffer, error: &str, transient: bool) {
        self.counters.failures.fetch_add(1, Ordering::SeqCst);
        warn!(target: "slotproof::worker", job = offer.job, block = offer.block, error, transient, "proof failed");
        let failed = Failed { worker: self.opts.id.clone(), job: offer.job, error: error.to_string(), transient };
        if let Err(e) =
            self.request::<ResultReply>(protocol::FAILED, protocol::encode(&failed), Duration::from_secs(10)).await
        {
            warn!(target: "slotproof::worker", job = offer.job, error = %e, "failure not reported; the node takes the job back");
        }
    }
}
