//! Runs a pipeline on threads: `concurrency` dispatcher workers per dispatcher
//! stage, one thread per collector, and one heartbeat thread that extends
//! leases apart from the provers' work. Workers sleep in the queue until an
//! enqueue notifies them; shutdown wakes them too.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use slotproof_queue::{Enqueued, NewTask, Queue};
use slotproof_zkvm::{Prover, builtin_prover, is_builtin_prover};
use tracing::{error, info};

use crate::config::{PipelineConfig, StageKind};
use crate::engine::{Collector, Ctx, Dispatcher, Observer};
use crate::error::{PipelineError, Result};

/// Provers this node can run, by name. The built-ins (`noop`, `sleep:<ms>`, `exec-noop`) are always known.
#[derive(Default, Clone)]
pub struct ProverSet(HashMap<String, Arc<dyn Prover>>);

impl ProverSet {
    pub fn insert(&mut self, name: impl Into<String>, prover: Arc<dyn Prover>) {
        self.0.insert(name.into(), prover);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Prover>> {
        self.0.get(name).cloned().or_else(|| builtin_prover(name))
    }

    pub fn knows(&self, name: &str) -> bool {
        self.0.contains_key(name) || is_builtin_prover(name)
    }
}

#[derive(Clone)]
pub struct RuntimeOptions {
    /// Lease length; the heartbeat extends running work every quarter of it.
    pub lease_for: Duration,
    pub observer: Option<Arc<dyn Observer>>,
    /// Where dispatchers store proofs by digest; None keeps them inline (tests, benches).
    pub blobs: Option<Arc<slotproof_queue::BlobStore>>,
    /// Whether dispatcher stages run their own prover threads. Off for a node
    /// whose proving is done by remote workers through `Pipeline::dispatchers`.
    pub local_dispatchers: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions { lease_for: Duration::from_secs(20), observer: None, blobs: None, local_dispatchers: true }
    }
}

/// How long a worker sleeps in the queue before rechecking shutdown; enqueues
/// and shutdown wake it earlier, so this bounds nothing on the hot path.
const IDLE_WAIT: Duration = Duration::from_secs(1);

pub struct Pipeline {
    ctx: Arc<Ctx>,
    /// Each dispatcher stage's dispatcher, by prover name: remote workers lease through them.
    dispatchers: HashMap<String, Arc<Dispatcher>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    pub fn start(
        config: PipelineConfig,
        queue: Arc<Queue>,
        provers: &ProverSet,
        opts: RuntimeOptions,
    ) -> Result<Pipeline> {
        let ctx = Ctx::with_blobs(config, queue, opts.lease_for, opts.observer, opts.blobs)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut dispatchers = HashMap::new();
        for stage in ctx.config.stages.clone() {
            match &stage.kind {
                StageKind::Dispatcher { prover } => {
                    let prover_name = prover;
                    let prover = provers.get(prover).ok_or_else(|| PipelineError::MissingProver {
                        stage: stage.name.clone(),
                        prover: prover.clone(),
                    })?;
                    let d = Arc::new(Dispatcher::new(stage.clone(), prover, ctx.clone()));
                    dispatchers.insert(prover_name.clone(), d.clone());
                    let local = if opts.local_dispatchers { stage.concurrency } else { 0 };
                    for i in 0..local {
                        let (d, stop) = (d.clone(), stop.clone());
                        let worker = format!("{}/{}", stage.name, i);
                        threads.push(spawn(&worker.clone(), move || dispatch_loop(&d, &worker, &stop))?);
                    }
                }
                StageKind::Collector { .. } => {
                    let mut c = Collector::new(stage.clone(), ctx.clone());
                    let stop = stop.clone();
                    let worker = format!("{}/0", stage.name);
                    let heartbeat = ctx.lease_for / 4;
                    threads.push(spawn(&worker.clone(), move || collect_loop(&mut c, &worker, heartbeat, &stop))?);
                }
            }
        }
        let (hb_ctx, hb_stop) = (ctx.clone(), stop.clone());
        threads.push(spawn("heartbeat", move || {
            while !hb_stop.load(AtomicOrdering::SeqCst) {
                hb_ctx.heartbeat();
                thread::sleep((hb_ctx.lease_for / 4).min(Duration::from_millis(250)));
            }
        })?);
        info!(target: "slotproof::pipeline", pipeline = %ctx.config.name, stages = ctx.config.stages.len(), threads = threads.len(), "pipeline started");
        Ok(Pipeline { ctx, dispatchers, stop, threads })
    }

    pub fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    /// The dispatcher of the stage proving with `prover`, if there is one.
    pub fn dispatcher(&self, prover: &str) -> Option<Arc<Dispatcher>> {
        self.dispatchers.get(prover).cloned()
    }

    /// Submits tasks into the pipeline's input queues.
    pub fn submit(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        self.ctx.submit(tasks)
    }

    /// Submits work asked for by name: first in line, never stale, the head unmoved.
    pub fn submit_requested(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        self.ctx.submit_requested(tasks)
    }

    pub fn cancel_block(&self, block: u64, reason: &str) -> Result<usize> {
        self.ctx.cancel_block(block, reason)
    }

    /// Stops taking work, lets running provers finish, and joins every thread.
    pub fn shutdown(self) {
        self.stop.store(true, AtomicOrdering::SeqCst);
        for s in &self.ctx.config.stages {
            for q in &s.inputs {
                let _ = self.ctx.queue.wake(q);
            }
        }
        let start = Instant::now();
        for t in self.threads {
            let _ = t.join();
        }
        info!(target: "slotproof::pipeline", pipeline = %self.ctx.config.name, took_ms = start.elapsed().as_millis() as u64, "pipeline stopped");
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|source| PipelineError::Spawn { name: name.to_string(), source })
}

fn dispatch_loop(d: &Dispatcher, worker: &str, stop: &AtomicBool) {
    while !stop.load(AtomicOrdering::SeqCst) {
        let step = d.begin(worker, IDLE_WAIT).and_then(|job| match job {
            Some(job) => {
                let result = d.prove(&job);
                d.complete(job, result).map(|_| ())
            }
            None => Ok(()),
        });
        if let Err(e) = step {
            error!(target: "slotproof::pipeline", stage = %d.stage.name, worker, error = %e, "dispatcher step failed; retrying");
            thread::sleep(Duration::from_millis(100));
        }
    }
}

fn collect_loop(c: &mut Collector, worker: &str, heartbeat: Duration, stop: &AtomicBool) {
    let mut last_beat = Instant::now();
    while !stop.load(AtomicOrdering::SeqCst) {
        let now_ms = c.now_ms();
        let until_deadline = c.next_deadline_ms().map(|d| Duration::from_millis(d.saturating_sub(now_ms).max(1)));
        let wait = until_deadline.map_or(heartbeat, |d| d.min(heartbeat)).min(IDLE_WAIT);
        let mut result = c.step(worker, wait).map(|_| ());
        if result.is_ok() && last_beat.elapsed() >= heartbeat {
            result = c.heartbeat();
            last_beat = Instant::now();
        }
        if let Err(e) = result {
            error!(target: "slotproof::pipeline", stage = %c.stage.name, error = %e, "collector step failed; retrying");
            thread::sleep(Duration::from_millis(100));
        }
    }
}
