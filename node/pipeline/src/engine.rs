//! The building blocks a pipeline runs (specs/pipeline.md §3–§5): the shared
//! context, the dispatcher and the collector. Each is driven step by step: the
//! threaded runtime (`runtime.rs`) loops over them, and the deterministic
//! simulation in the tests drives them with a manual clock and injected crashes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slotproof_queue::{
    BlobStore, Enqueued, Failure, Lease, NackOutcome, NewTask, PRIORITY_REQUESTED, Queue, QueueError, TaskId,
};
use slotproof_zkvm::{CancelToken, ProofArtifact, Prover, ProverError, ProvingInput};
use tracing::{debug, warn};

use crate::config::{Ordering, PipelineConfig, StageConfig, StageKind, Strategy};
use crate::error::Result;
use crate::payload::{Collected, Member, ProofPayload};

/// Attempts for tasks that feed a collector: a collector holds its members'
/// leases while a group fills, and a crash costs each one an attempt.
pub const COLLECTOR_INPUT_ATTEMPTS: u32 = 1000;
/// Queue (namespace) of the done-markers that record an emitted group.
const EMITTED_MARKERS: &str = "emitted";

/// What happened at a stage, for metrics and the overhead benchmark.
#[derive(Clone, Debug)]
pub struct StageEvent {
    pub stage: String,
    /// The prover a dispatcher stage runs (its name in the node's `ProverSet`,
    /// the zkVM for a proving stage); None for a collector.
    pub prover: Option<String>,
    pub block: u64,
    pub inputs: Vec<TaskId>,
    pub outputs: Vec<TaskId>,
    pub prover_start: Option<Instant>,
    pub prover_end: Option<Instant>,
    /// When the output (or the nack) was committed.
    pub committed: Instant,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Partial,
    Retrying,
    Dead(String),
    Stale,
    Cancelled,
    /// The lease ended before the result was committed (expired and taken by another worker).
    LeaseLost,
    Late,
}

pub trait Observer: Send + Sync {
    fn on_stage(&self, event: &StageEvent);
}

/// A prover run in flight, watched by the heartbeat.
struct InFlight {
    token: u64,
    cancel: CancelToken,
    started: Instant,
    timeout: Duration,
    timed_out: Arc<AtomicBool>,
}

/// State shared by every stage of one pipeline.
pub struct Ctx {
    pub config: PipelineConfig,
    pub queue: Arc<Queue>,
    pub lease_for: Duration,
    observer: Option<Arc<dyn Observer>>,
    /// The newest block submitted: the realtime policy's notion of the head.
    head: AtomicU64,
    /// Blocks submitted and not finished: a sequential pipeline emits the lowest first.
    open_blocks: Mutex<BTreeSet<u64>>,
    inflight: Mutex<HashMap<TaskId, InFlight>>,
    stage_inputs: Vec<String>,
    /// Where proofs go, by digest, so no payload cap limits one; None: inline.
    blobs: Option<Arc<BlobStore>>,
}

impl Ctx {
    pub fn new(
        config: PipelineConfig,
        queue: Arc<Queue>,
        lease_for: Duration,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<Arc<Ctx>> {
        Self::with_blobs(config, queue, lease_for, observer, None)
    }

    /// As [`Ctx::new`], dispatchers writing their proofs to `blobs` (specs/pipeline.md §4).
    pub fn with_blobs(
        config: PipelineConfig,
        queue: Arc<Queue>,
        lease_for: Duration,
        observer: Option<Arc<dyn Observer>>,
        blobs: Option<Arc<BlobStore>>,
    ) -> Result<Arc<Ctx>> {
        let stage_inputs =
            config.stages.iter().flat_map(|s| s.inputs.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let ctx = Ctx {
            stage_inputs,
            config,
            queue,
            lease_for,
            observer,
            head: AtomicU64::new(0),
            open_blocks: Mutex::new(BTreeSet::new()),
            inflight: Mutex::new(HashMap::new()),
            blobs,
        };
        ctx.recover_open_blocks()?;
        Ok(Arc::new(ctx))
    }

    /// After a restart: every block with unfinished work in our queues is open.
    fn recover_open_blocks(&self) -> Result<()> {
        let queues: BTreeSet<&str> =
            self.config.stages.iter().flat_map(|s| s.inputs.iter().map(String::as_str)).collect();
        let view = self.queue.view()?;
        let mut open = lock(&self.open_blocks);
        for t in view
            .tasks
            .iter()
            .filter(|t| queues.contains(t.queue.as_str()) && t.state != slotproof_queue::TaskState::Dead)
        {
            open.insert(t.block_number);
            self.head.fetch_max(t.block_number, AtomicOrdering::SeqCst);
        }
        Ok(())
    }

    /// Tasks named for this pipeline, with their stage's attempts.
    fn own(&self, tasks: Vec<NewTask>) -> Vec<NewTask> {
        tasks
            .into_iter()
            .map(|t| {
                let stage = t.stage.clone();
                let attempts = self.attempts_for(&t.queue, t.max_attempts);
                let mut t = t.with_pipeline(self.config.name.clone(), stage);
                t.max_attempts = attempts;
                t
            })
            .collect()
    }

    /// Submits work into one of the pipeline's input queues.
    pub fn submit(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        let tasks = self.own(tasks);
        let blocks: Vec<u64> = tasks.iter().map(|t| t.block_number).collect();
        {
            let mut open = lock(&self.open_blocks);
            open.extend(blocks.iter().copied());
        }
        for b in &blocks {
            self.head.fetch_max(*b, AtomicOrdering::SeqCst);
        }
        Ok(self.queue.enqueue(tasks)?)
    }

    /// Submits work asked for by name (a proof-engine request): leased first
    /// (`PRIORITY_REQUESTED`), never dead-lettered as stale, and without moving
    /// the head, so a request for an old or a future block leaves the followed
    /// chain's staleness alone.
    pub fn submit_requested(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        let mut tasks = self.own(tasks);
        for t in &mut tasks {
            t.priority = PRIORITY_REQUESTED;
        }
        lock(&self.open_blocks).extend(tasks.iter().map(|t| t.block_number));
        Ok(self.queue.enqueue(tasks)?)
    }

    pub fn head(&self) -> u64 {
        self.head.load(AtomicOrdering::SeqCst)
    }

    /// Whether a task of `block` is dead-lettered in any of this pipeline's queues
    /// (by a stage, as stale or cancelled, or by the queue after too many lost
    /// leases): strict barriers (fan-in, match) then release their members instead
    /// of waiting for ever. Derived from the queue, so a `requeue` revives the block.
    pub fn block_failed(&self, block: u64) -> bool {
        self.queue.has_dead(&self.stage_inputs, block).unwrap_or(false)
    }

    pub fn lowest_open_block(&self) -> Option<u64> {
        lock(&self.open_blocks).first().copied()
    }

    /// A block's work ended (its final output committed, or a task of it died).
    fn finish_block(&self, block: u64) {
        let removed = lock(&self.open_blocks).remove(&block);
        if removed && self.config.ordering == Ordering::Sequential {
            for s in self.config.stages.iter().filter(|s| self.is_sink(&s.output)) {
                for q in &s.inputs {
                    let _ = self.queue.wake(q);
                }
            }
        }
    }

    fn is_sink(&self, queue: &str) -> bool {
        self.config.sinks.iter().any(|s| s == queue)
    }

    /// Attempts for a task entering `queue`: collectors' inputs get many (see above).
    fn attempts_for(&self, queue: &str, requested: Option<u32>) -> Option<u32> {
        let mut readers = self.config.readers(queue);
        match readers.next() {
            Some(s) if matches!(s.kind, StageKind::Collector { .. }) => Some(COLLECTOR_INPUT_ATTEMPTS),
            Some(s) => Some(requested.unwrap_or(s.max_attempts)),
            None => requested,
        }
    }

    fn emit(&self, event: StageEvent) {
        if let Some(o) = &self.observer {
            o.on_stage(&event);
        }
    }

    /// Ends a block on any outcome that stops its flow, or its final output.
    fn settle(&self, stage: &StageConfig, block: u64, outcome: &Outcome) {
        let ends = match outcome {
            Outcome::Done | Outcome::Partial => self.is_sink(&stage.output),
            Outcome::Dead(_) | Outcome::Stale | Outcome::Cancelled => true,
            Outcome::Retrying | Outcome::LeaseLost | Outcome::Late => false,
        };
        if ends {
            self.finish_block(block);
        }
    }

    /// Cancels a block everywhere: queued tasks are dead-lettered and running
    /// provers are told to stop.
    pub fn cancel_block(&self, block: u64, reason: &str) -> Result<usize> {
        let queues: Vec<String> = self.config.stages.iter().flat_map(|s| s.inputs.clone()).collect();
        let n = self.queue.cancel_block(&queues, block, reason)?;
        self.heartbeat();
        self.finish_block(block);
        Ok(n)
    }

    /// Extends the leases of running provers; stops those past their timeout or
    /// whose task was cancelled or taken over. Runs apart from the provers.
    pub fn heartbeat(&self) {
        let inflight = lock(&self.inflight);
        for (id, f) in inflight.iter() {
            if f.started.elapsed() > f.timeout {
                f.timed_out.store(true, AtomicOrdering::SeqCst);
                f.cancel.cancel();
                continue;
            }
            match self.queue.extend(*id, f.token, self.lease_for) {
                Ok(_) => {}
                Err(QueueError::Cancelled { .. })
                | Err(QueueError::StaleLease { .. })
                | Err(QueueError::UnknownTask(_)) => {
                    f.cancel.cancel();
                }
                Err(e) => warn!(target: "slotproof::pipeline", task = %id, error = %e, "lease heartbeat failed"),
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not stop the pipeline's bookkeeping.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One dispatcher stage: lease, prove, hand off (or nack).
pub struct Dispatcher {
    pub stage: StageConfig,
    prover: Arc<dyn Prover>,
    ctx: Arc<Ctx>,
    sequential_sink: bool,
}

/// A leased task whose prover is running.
pub struct Job {
    pub lease: Lease,
    pub cancel: CancelToken,
    pub input: ProvingInput,
    pub prover_start: Instant,
    timed_out: Arc<AtomicBool>,
}

impl Dispatcher {
    pub fn new(stage: StageConfig, prover: Arc<dyn Prover>, ctx: Arc<Ctx>) -> Self {
        let sequential_sink = ctx.config.ordering == Ordering::Sequential && ctx.is_sink(&stage.output);
        Dispatcher { stage, prover, ctx, sequential_sink }
    }

    fn input(&self) -> &str {
        &self.stage.inputs[0]
    }

    /// Waits up to `wait` for a task and starts it. Stale tasks are dead-lettered here.
    pub fn begin(&self, worker: &str, wait: Duration) -> Result<Option<Job>> {
        let ctx = &self.ctx;
        let lease = if self.sequential_sink {
            ctx.queue.lease_wait_upto(self.input(), worker, ctx.lease_for, wait, &|| ctx.lowest_open_block())?
        } else {
            ctx.queue.lease_wait(self.input(), worker, ctx.lease_for, wait)?
        };
        let Some(lease) = lease else { return Ok(None) };
        if let Ordering::Realtime { stale_after_blocks } = ctx.config.ordering
            && lease.priority != PRIORITY_REQUESTED
        {
            let head = ctx.head();
            if head > lease.block_number.saturating_add(stale_after_blocks) {
                let why = format!(
                    "stale: block {} is more than {stale_after_blocks} blocks behind head {head}",
                    lease.block_number
                );
                self.record_nack(&lease, &why, Failure::Permanent, None, None)?;
                return Ok(None);
            }
        }
        let input = ProvingInput::new(lease.block_number, lease.payload.clone());
        let cancel = CancelToken::new();
        let timed_out = Arc::new(AtomicBool::new(false));
        lock(&ctx.inflight).insert(
            lease.id,
            InFlight {
                token: lease.token,
                cancel: cancel.clone(),
                started: Instant::now(),
                timeout: self.stage.timeout,
                timed_out: timed_out.clone(),
            },
        );
        Ok(Some(Job { lease, cancel, input, prover_start: Instant::now(), timed_out }))
    }

    /// Drops a job without committing anything, as a worker that died would:
    /// its lease is no longer extended and expires.
    pub fn abandon(&self, job: Job) {
        lock(&self.ctx.inflight).remove(&job.lease.id);
    }

    /// Runs the prover for a job (the runtime's path; the simulation may skip it).
    pub fn prove(&self, job: &Job) -> std::result::Result<ProofArtifact, ProverError> {
        self.prover.prove(&job.input, &job.cancel)
    }

    /// Commits a job's result: hand-off on success, nack on failure.
    pub fn complete(&self, job: Job, result: std::result::Result<ProofArtifact, ProverError>) -> Result<Outcome> {
        let prover_end = Instant::now();
        lock(&self.ctx.inflight).remove(&job.lease.id);
        let lease = &job.lease;
        let result = match result {
            Err(ProverError::Cancelled) if job.timed_out.load(AtomicOrdering::SeqCst) => {
                Err(ProverError::Timeout(self.stage.timeout))
            }
            other => other,
        };
        let artifact = match result {
            Ok(a) => a,
            Err(ProverError::Cancelled) => {
                let outcome = Outcome::Cancelled;
                self.observe(lease, vec![], Some(job.prover_start), Some(prover_end), outcome.clone());
                return Ok(outcome);
            }
            Err(e) => {
                let failure = if e.is_transient() { Failure::Transient } else { Failure::Permanent };
                return self.record_nack(lease, &e.to_string(), failure, Some(job.prover_start), Some(prover_end));
            }
        };
        let payload = ProofPayload {
            zkvm: artifact.zkvm.clone(),
            simulated: artifact.simulated,
            proving_us: artifact.proving_time.as_micros() as u64,
            input_digest: job.input.digest,
            proof: artifact.proof,
            public_values: artifact.public_values,
            cycles: artifact.cycles,
        };
        let encoded = match &self.ctx.blobs {
            Some(blobs) => match payload.encode_stored(blobs) {
                Ok(bytes) => bytes,
                // The disk refused the proof: retry the task rather than lose or inline it.
                Err(e) => {
                    let why = format!("storing the proof: {}", slotproof_primitives::ErrorChain(&e));
                    return self.record_nack(lease, &why, Failure::Transient, Some(job.prover_start), Some(prover_end));
                }
            },
            None => payload.encode(),
        };
        let mut next = NewTask::new(self.stage.output.clone(), lease.block_number, encoded)
            .with_pipeline(self.ctx.config.name.clone(), self.stage.name.clone())
            .with_subtask(lease.subtask)
            .with_target(artifact.zkvm)
            .with_priority(lease.priority);
        next.max_attempts = self.ctx.attempts_for(&self.stage.output, None);
        let outcome = match self.ctx.queue.ack_and_enqueue(lease.id, lease.token, vec![next]) {
            Ok(out) => {
                let ids = out.iter().map(Enqueued::id).collect();
                self.observe(lease, ids, Some(job.prover_start), Some(prover_end), Outcome::Done);
                Outcome::Done
            }
            Err(e) => self.commit_failed(lease, e, job.prover_start, prover_end)?,
        };
        self.ctx.settle(&self.stage, lease.block_number, &outcome);
        Ok(outcome)
    }

    fn commit_failed(&self, lease: &Lease, e: QueueError, start: Instant, end: Instant) -> Result<Outcome> {
        let outcome = match e {
            QueueError::Cancelled { .. } => Outcome::Cancelled,
            QueueError::StaleLease { .. } => {
                warn!(target: "slotproof::pipeline", stage = %self.stage.name, task = %lease.id, block = lease.block_number, "lease lost before the result was committed; the task was retried elsewhere");
                Outcome::LeaseLost
            }
            other => return Err(other.into()),
        };
        self.observe(lease, vec![], Some(start), Some(end), outcome.clone());
        Ok(outcome)
    }

    fn record_nack(
        &self,
        lease: &Lease,
        why: &str,
        failure: Failure,
        start: Option<Instant>,
        end: Option<Instant>,
    ) -> Result<Outcome> {
        let outcome = match self.ctx.queue.nack(lease.id, lease.token, why, failure) {
            Ok(NackOutcome::Retrying { .. }) => Outcome::Retrying,
            Ok(NackOutcome::Dead { .. }) if why.starts_with("stale:") => Outcome::Stale,
            Ok(NackOutcome::Dead { .. }) => Outcome::Dead(why.to_string()),
            Err(e) => {
                return self.commit_failed(
                    lease,
                    e,
                    start.unwrap_or_else(Instant::now),
                    end.unwrap_or_else(Instant::now),
                );
            }
        };
        debug!(target: "slotproof::pipeline", stage = %self.stage.name, block = lease.block_number, attempt = lease.attempt, outcome = ?outcome, error = why, "task failed");
        self.observe(lease, vec![], start, end, outcome.clone());
        self.ctx.settle(&self.stage, lease.block_number, &outcome);
        Ok(outcome)
    }

    fn observe(
        &self,
        lease: &Lease,
        outputs: Vec<TaskId>,
        start: Option<Instant>,
        end: Option<Instant>,
        outcome: Outcome,
    ) {
        self.ctx.emit(StageEvent {
            stage: self.stage.name.clone(),
            prover: self.stage.prover().map(str::to_string),
            block: lease.block_number,
            inputs: vec![lease.id],
            outputs,
            prover_start: start,
            prover_end: end,
            committed: Instant::now(),
            outcome,
        });
    }
}

/// Group identity: fan-in and first-k-distinct group by block, match by (block, subtask).
type GroupKey = (u64, u32);

struct Held {
    lease: Lease,
    input_index: usize,
}

#[derive(Default)]
struct Group {
    members: Vec<Held>,
    first_enqueued_ms: u64,
}

/// One collector stage. Members stay leased (and heartbeated) while their group
/// fills; emission acks them all, enqueues the output and marks the group emitted
/// in one atomic write, so a crash loses nothing and never emits twice.
pub struct Collector {
    pub stage: StageConfig,
    strategy: Strategy,
    ctx: Arc<Ctx>,
    groups: BTreeMap<GroupKey, Group>,
    sequential_sink: bool,
}

/// Most tasks a collector takes in one step before it looks at its groups.
const COLLECT_BATCH: usize = 1024;

impl Collector {
    pub fn new(stage: StageConfig, ctx: Arc<Ctx>) -> Self {
        let StageKind::Collector { strategy } = stage.kind else {
            unreachable!("Collector::new is only called for collector stages")
        };
        let sequential_sink = ctx.config.ordering == Ordering::Sequential && ctx.is_sink(&stage.output);
        Collector { stage, strategy, ctx, groups: BTreeMap::new(), sequential_sink }
    }

    fn key(&self, l: &Lease) -> GroupKey {
        match self.strategy {
            Strategy::Match => (l.block_number, l.subtask),
            _ => (l.block_number, 0),
        }
    }

    fn marker(&self, key: GroupKey) -> TaskId {
        NewTask::new(EMITTED_MARKERS, key.0, key.1.to_be_bytes().to_vec())
            .with_pipeline(self.ctx.config.name.clone(), self.stage.name.clone())
            .id()
    }

    pub fn now_ms(&self) -> u64 {
        self.ctx.queue.now_ms()
    }

    /// Leases held in groups that have not emitted yet.
    pub fn held(&self) -> usize {
        self.groups.values().map(|g| g.members.len()).sum()
    }

    /// When the next first-k-distinct deadline falls due (queue clock, ms).
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let Strategy::FirstKDistinct { deadline, .. } = self.strategy else { return None };
        self.groups.values().map(|g| g.first_enqueued_ms + deadline.as_millis() as u64).min()
    }

    /// Takes what is ready (waiting up to `wait` for the first), then emits every
    /// group that is complete or past its deadline. Returns how many groups emitted.
    pub fn step(&mut self, worker: &str, wait: Duration) -> Result<usize> {
        let mut wait = wait;
        for _ in 0..COLLECT_BATCH {
            let Some(lease) = self.ctx.queue.lease_wait_any(&self.stage.inputs, worker, self.ctx.lease_for, wait)?
            else {
                break;
            };
            wait = Duration::ZERO;
            self.accept(lease)?;
        }
        self.emit_ready()
    }

    fn strict(&self) -> bool {
        !matches!(self.strategy, Strategy::FirstKDistinct { .. })
    }

    fn accept(&mut self, lease: Lease) -> Result<()> {
        let key = self.key(&lease);
        if self.strict() && self.ctx.block_failed(key.0) {
            let why = format!("block {} failed upstream: its group can never complete", key.0);
            match self.ctx.queue.nack(lease.id, lease.token, &why, Failure::Permanent) {
                Ok(_) | Err(QueueError::StaleLease { .. }) | Err(QueueError::Cancelled { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        if self.ctx.queue.is_done(self.marker(key))? {
            // The group already emitted (at its deadline, or this is a surplus member).
            let id = lease.id;
            match self.ctx.queue.ack(lease.id, lease.token) {
                Ok(()) | Err(QueueError::StaleLease { .. }) | Err(QueueError::Cancelled { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.ctx.emit(StageEvent {
                stage: self.stage.name.clone(),
                prover: None,
                block: key.0,
                inputs: vec![id],
                outputs: vec![],
                prover_start: None,
                prover_end: None,
                committed: Instant::now(),
                outcome: Outcome::Late,
            });
            return Ok(());
        }
        let input_index = self.stage.inputs.iter().position(|q| *q == lease.queue).unwrap_or(0);
        let group = self.groups.entry(key).or_default();
        if group.members.is_empty() || lease.enqueued_at_ms < group.first_enqueued_ms {
            group.first_enqueued_ms = lease.enqueued_at_ms;
        }
        group.members.push(Held { lease, input_index });
        Ok(())
    }

    /// Members chosen to emit, or None while the group is incomplete.
    fn chosen(&self, g: &Group) -> Option<Vec<usize>> {
        let mut order: Vec<usize> = (0..g.members.len()).collect();
        order.sort_by_key(|&i| {
            let l = &g.members[i].lease;
            (l.subtask, l.target.clone(), l.id)
        });
        match self.strategy {
            Strategy::FanIn { k } => {
                let mut seen = BTreeSet::new();
                let picked: Vec<usize> =
                    order.into_iter().filter(|&i| seen.insert(g.members[i].lease.subtask)).collect();
                (picked.len() >= k as usize).then(|| picked.into_iter().take(k as usize).collect())
            }
            Strategy::Match => {
                let mut per_input = BTreeMap::new();
                for i in order {
                    per_input.entry(g.members[i].input_index).or_insert(i);
                }
                (per_input.len() == self.stage.inputs.len()).then(|| per_input.into_values().collect())
            }
            Strategy::FirstKDistinct { k, .. } => {
                let picked = self.distinct(g, order);
                (picked.len() >= k as usize).then(|| picked.into_iter().take(k as usize).collect())
            }
        }
    }

    fn distinct(&self, g: &Group, order: Vec<usize>) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        order.into_iter().filter(|&i| seen.insert(g.members[i].lease.target.clone())).collect()
    }

    /// Releases the members of groups whose block failed elsewhere (strict barriers).
    fn release_failed(&mut self) -> Result<()> {
        if !self.strict() {
            return Ok(());
        }
        let failed: Vec<GroupKey> = self.groups.keys().filter(|k| self.ctx.block_failed(k.0)).copied().collect();
        for key in failed {
            let Some(group) = self.groups.remove(&key) else { continue };
            let why = format!("block {} failed upstream: its group can never complete", key.0);
            for m in group.members {
                match self.ctx.queue.nack(m.lease.id, m.lease.token, &why, Failure::Permanent) {
                    Ok(_) | Err(QueueError::StaleLease { .. }) | Err(QueueError::Cancelled { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn emit_ready(&mut self) -> Result<usize> {
        self.release_failed()?;
        let now = self.ctx.queue.now_ms();
        let lowest = if self.sequential_sink { self.ctx.lowest_open_block() } else { None };
        let mut ready = Vec::new();
        for (key, g) in &self.groups {
            if self.sequential_sink && lowest.is_some_and(|b| key.0 > b) {
                continue;
            }
            if let Some(picked) = self.chosen(g) {
                ready.push((*key, picked, false));
            } else if let Strategy::FirstKDistinct { deadline, .. } = self.strategy
                && now >= g.first_enqueued_ms + deadline.as_millis() as u64
            {
                let order = (0..g.members.len()).collect();
                ready.push((*key, self.distinct(g, order), true));
            }
        }
        let mut emitted = 0;
        for (key, picked, partial) in ready {
            if self.emit(key, picked, partial)? {
                emitted += 1;
            }
        }
        Ok(emitted)
    }

    fn emit(&mut self, key: GroupKey, picked: Vec<usize>, partial: bool) -> Result<bool> {
        let Some(group) = self.groups.remove(&key) else { return Ok(false) };
        let members = picked
            .iter()
            .map(|&i| {
                let l = &group.members[i].lease;
                Member {
                    queue: l.queue.clone(),
                    target: l.target.clone(),
                    subtask: l.subtask,
                    payload: l.payload.to_vec(),
                }
            })
            .collect();
        let priority = group.members.iter().map(|m| m.lease.priority).min().unwrap_or(slotproof_queue::PRIORITY_NORMAL);
        let mut next = NewTask::new(self.stage.output.clone(), key.0, Collected { partial, members }.encode())
            .with_pipeline(self.ctx.config.name.clone(), self.stage.name.clone())
            .with_subtask(key.1)
            .with_priority(priority);
        next.max_attempts = self.ctx.attempts_for(&self.stage.output, None);
        // Surplus members are acked too: the group is closed.
        let leases: Vec<(TaskId, u64)> = group.members.iter().map(|m| (m.lease.id, m.lease.token)).collect();
        let inputs = leases.iter().map(|(id, _)| *id).collect();
        let outcome = match self.ctx.queue.ack_all_enqueue_and_mark(&leases, vec![next], &[self.marker(key)]) {
            Ok(out) => {
                let outcome = if partial { Outcome::Partial } else { Outcome::Done };
                self.ctx.emit(StageEvent {
                    stage: self.stage.name.clone(),
                    prover: None,
                    block: key.0,
                    inputs,
                    outputs: out.iter().map(Enqueued::id).collect(),
                    prover_start: None,
                    prover_end: None,
                    committed: Instant::now(),
                    outcome: outcome.clone(),
                });
                outcome
            }
            // A member's lease was lost (it expired and went back to its queue):
            // keep the members still held, and wait for the lost one to return.
            Err(QueueError::StaleLease { .. }) => {
                let kept = self.keep_valid(group.members)?;
                if !kept.is_empty() {
                    let first_enqueued_ms = kept.iter().map(|m| m.lease.enqueued_at_ms).min().unwrap_or(0);
                    self.groups.insert(key, Group { members: kept, first_enqueued_ms });
                }
                Outcome::LeaseLost
            }
            Err(QueueError::Cancelled { .. }) => Outcome::Cancelled,
            Err(e) => return Err(e.into()),
        };
        self.ctx.settle(&self.stage, key.0, &outcome);
        Ok(matches!(outcome, Outcome::Done | Outcome::Partial))
    }

    /// Extends `members`' leases; returns those still held.
    fn keep_valid(&self, members: Vec<Held>) -> Result<Vec<Held>> {
        let mut kept = Vec::with_capacity(members.len());
        for m in members {
            match self.ctx.queue.extend(m.lease.id, m.lease.token, self.ctx.lease_for) {
                Ok(_) => kept.push(m),
                Err(QueueError::StaleLease { .. })
                | Err(QueueError::Cancelled { .. })
                | Err(QueueError::UnknownTask(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(kept)
    }

    /// Extends the leases of every held member, dropping those no longer held.
    pub fn heartbeat(&mut self) -> Result<()> {
        for key in self.groups.keys().copied().collect::<Vec<_>>() {
            let Some(group) = self.groups.remove(&key) else { continue };
            let first_enqueued_ms = group.first_enqueued_ms;
            let kept = self.keep_valid(group.members)?;
            if !kept.is_empty() {
                self.groups.insert(key, Group { members: kept, first_enqueued_ms });
            }
        }
        Ok(())
    }
}
