//! Prometheus metrics (`/metrics`, text format), names in one place.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProofLabels {
    pub zkvm: String,
    /// proved, failed, late, rejected (did not verify).
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ZkvmLabel {
    pub zkvm: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub queue: String,
}

/// A queue and one of its task states (pending, delayed, leased, dead, done).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueStateLabel {
    pub queue: String,
    pub state: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn proving_buckets() -> Histogram {
    // 50 ms .. ~100 s
    Histogram::new(exponential_buckets(0.05, 2.0, 12))
}

fn overhead_buckets() -> Histogram {
    // 0.1 ms .. ~400 ms
    Histogram::new(exponential_buckets(0.0001, 2.0, 13))
}

/// The `outcome` label of `slotproof_proofs_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofOutcome {
    /// Own proof, verified, inside the slot.
    Proved,
    /// Own proof, verified, after the deadline.
    Late,
    /// Own proof that did not verify.
    Rejected,
    /// The prover gave up (dead-lettered).
    Failed,
    /// From the network, verified here.
    Received,
    /// From the network, no verifier here.
    ReceivedUnverified,
}

impl ProofOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ProofOutcome::Proved => "proved",
            ProofOutcome::Late => "late",
            ProofOutcome::Rejected => "rejected",
            ProofOutcome::Failed => "failed",
            ProofOutcome::Received => "received",
            ProofOutcome::ReceivedUnverified => "received_unverified",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub blocks_seen: Counter,
    pub blocks_closed: Counter,
    pub deadline_misses: Counter,
    pub reorgs: Counter,
    pub gaps: Counter,
    pub proofs: Family<ProofLabels, Counter>,
    pub proving_seconds: HistogramFamily<ZkvmLabel>,
    pub overhead_seconds: Histogram,
    pub queue_depth: Family<QueueLabel, Gauge>,
    pub queue_tasks: Family<QueueStateLabel, Gauge>,
    pub head: Gauge,
    /// Unix time (seconds) the newest head arrived: "no new head for N slots" alerts on it.
    pub head_seen_seconds: Gauge<f64, AtomicU64>,
    /// The configured slot length, so alerts and panels scale with it.
    pub slot_seconds: Gauge<f64, AtomicU64>,
    pub peers: Gauge,
    /// The fewest peers the operator wants (`[p2p] min_peers`; 0 when proving alone).
    pub peers_wanted: Gauge,
    /// 1 for a configured zkVM that is ready, 0 for one that is unavailable here.
    pub zkvm_up: Family<ZkvmLabel, Gauge>,
    /// Remote workers that beat within the last few seconds (NATS backend).
    pub workers_alive: Gauge,
    pub worker_free_slots: Family<WorkerLabel, Gauge>,
    pub worker_proofs: Family<WorkerLabel, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabel {
    pub worker: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("slotproof");
        let m = Metrics {
            blocks_seen: Counter::default(),
            blocks_closed: Counter::default(),
            deadline_misses: Counter::default(),
            reorgs: Counter::default(),
            gaps: Counter::default(),
            proofs: Family::default(),
            proving_seconds: Family::new_with_constructor(proving_buckets as fn() -> Histogram),
            overhead_seconds: overhead_buckets(),
            queue_depth: Family::default(),
            queue_tasks: Family::default(),
            head: Gauge::default(),
            head_seen_seconds: Gauge::default(),
            slot_seconds: Gauge::default(),
            peers: Gauge::default(),
            peers_wanted: Gauge::default(),
            zkvm_up: Family::default(),
            workers_alive: Gauge::default(),
            worker_free_slots: Family::default(),
            worker_proofs: Family::default(),
            registry: Registry::default(),
        };
        registry.register("blocks_seen", "Blocks the follower handed to the node", m.blocks_seen.clone());
        registry.register(
            "blocks_closed",
            "Blocks closed (all zkVMs proved, or the deadline passed)",
            m.blocks_closed.clone(),
        );
        registry.register(
            "deadline_misses",
            "Blocks closed without every zkVM's proof inside the slot",
            m.deadline_misses.clone(),
        );
        registry.register("reorgs", "Reorgs seen", m.reorgs.clone());
        registry.register("gaps", "Gaps: blocks the RPC could not return, or past the catch-up bound", m.gaps.clone());
        registry.register("proofs", "Proofs by zkVM and outcome", m.proofs.clone());
        registry.register("proving_seconds", "Proving time by zkVM", m.proving_seconds.clone());
        registry.register(
            "orchestration_overhead_seconds",
            "Time a proof spent in the node outside the prover (queueing excluded): dispatch plus commit",
            m.overhead_seconds.clone(),
        );
        registry.register("queue_depth", "Tasks pending or leased, by queue", m.queue_depth.clone());
        registry.register(
            "queue_tasks",
            "Tasks by queue and state (the outbox is queue=\"ethproofs\")",
            m.queue_tasks.clone(),
        );
        registry.register("head_block", "Newest block number seen", m.head.clone());
        registry.register(
            "head_seen_timestamp_seconds",
            "Unix time the newest head arrived",
            m.head_seen_seconds.clone(),
        );
        registry.register("slot_seconds", "The configured slot length", m.slot_seconds.clone());
        registry.register("p2p_peers", "Connected peers on the proving network", m.peers.clone());
        registry.register(
            "p2p_peers_wanted",
            "The fewest peers wanted ([p2p] min_peers; 0 when proving alone)",
            m.peers_wanted.clone(),
        );
        registry.register("zkvm_up", "1 for a configured zkVM ready here, 0 for one unavailable", m.zkvm_up.clone());
        registry.register("workers_alive", "Remote workers heard from within 5 s", m.workers_alive.clone());
        registry.register("worker_free_slots", "Free proving slots by remote worker", m.worker_free_slots.clone());
        registry.register(
            "worker_proofs",
            "Proofs handed in by remote worker since the node started",
            m.worker_proofs.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Sets the worker gauges from the roster (at most its 256 workers; forgotten ones go).
    pub fn set_workers(&self, workers: &[slotproof_workers::WorkerStatus]) {
        self.worker_free_slots.clear();
        self.worker_proofs.clear();
        self.workers_alive.set(workers.iter().filter(|w| w.alive).count() as i64);
        for w in workers {
            let label = WorkerLabel { worker: w.id.clone() };
            self.worker_free_slots.get_or_create(&label).set(i64::from(w.free_slots));
            self.worker_proofs.get_or_create(&label).set(w.proofs as i64);
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// A configured zkVM: whether it is ready, and its own-proof series at 0,
    /// so a rate or an alert over them has a series before the first proof.
    pub fn zkvm(&self, zkvm: &str, ready: bool) {
        self.zkvm_up.get_or_create(&ZkvmLabel { zkvm: zkvm.into() }).set(i64::from(ready));
        if ready {
            for outcome in [ProofOutcome::Proved, ProofOutcome::Late, ProofOutcome::Rejected, ProofOutcome::Failed] {
                let _ = self.proofs.get_or_create(&ProofLabels { zkvm: zkvm.into(), outcome: outcome.as_str().into() });
            }
            let _ = self.proving_seconds.get_or_create(&ZkvmLabel { zkvm: zkvm.into() });
        }
    }

    /// Task counts by queue and state, from the queue's stats.
    pub fn set_queue_tasks(&self, stats: &slotproof_queue::QueueStats) {
        for (q, c) in &stats.queues {
            self.queue_depth
                .get_or_create(&QueueLabel { queue: q.clone() })
                .set((c.pending + c.delayed + c.leased) as i64);
            for (state, n) in [
                ("pending", c.pending),
                ("delayed", c.delayed),
                ("leased", c.leased),
                ("dead", c.dead),
                ("done", c.done),
            ] {
                self.queue_tasks
                    .get_or_create(&QueueStateLabel { queue: q.clone(), state: state.into() })
                    .set(n as i64);
            }
        }
    }

    pub fn proof(&self, zkvm: &str, outcome: ProofOutcome) {
        self.proofs.get_or_create(&ProofLabels { zkvm: zkvm.into(), outcome: outcome.as_str().into() }).inc();
    }
}
