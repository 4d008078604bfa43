//! Deterministic simulation of a two-stage pipeline (split → prove → fan-in)
//! with a manual clock, slow and failing provers, crashed workers, crashed
//! collectors and (RocksDB) whole-node restarts. After a fault phase and a calm
//! drain it checks push0's four properties (specs/pipeline.md §6):
//! starvation freedom, barrier locality, barrier completion, routing continuity.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use slotproof_pipeline::{Collector, Ctx, Dispatcher, Job, Observer, Outcome, PipelineConfig, StageEvent, StageKind};
use slotproof_queue::{ManualClock, NewTask, Queue, QueueConfig, StateFilter};
use slotproof_zkvm::testing::TestProver;
use slotproof_zkvm::{ProofArtifact, ProverError};

const LEASE: Duration = Duration::from_secs(5);

fn config(k: u32) -> PipelineConfig {
    let toml = format!(
        "stale_after_blocks = 100000\n\
         [[stage]]\nname = \"prove\"\nkind = \"dispatcher\"\ninput = \"parts\"\noutput = \"proofs\"\nprover = \"noop\"\nmax_attempts = 3\n\
         [[stage]]\nname = \"join\"\nkind = \"collector\"\ninput = \"proofs\"\noutput = \"blocks\"\nstrategy = \"fan-in\"\nk = {k}\n"
    );
    PipelineConfig::parse(&toml, &|p| p == "noop").unwrap()
}

#[derive(Default)]
struct Log(Mutex<Vec<StageEvent>>);

impl Observer for Log {
    fn on_stage(&self, e: &StageEvent) {
        self.0.lock().unwrap().push(e.clone());
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

enum Verdict {
    Ok,
    Transient,
    Permanent,
}

struct Node {
    queue: Arc<Queue>,
    ctx: Arc<Ctx>,
    dispatcher: Dispatcher,
    collector: Collector,
}

fn node(queue: Arc<Queue>, k: u32, log: &Arc<Log>) -> Node {
    let cfg = config(k);
    let ctx = Ctx::new(cfg.clone(), queue.clone(), LEASE, Some(log.clone() as Arc<dyn Observer>)).unwrap();
    let prove = cfg.stages.iter().find(|s| matches!(s.kind, StageKind::Dispatcher { .. })).unwrap().clone();
    let join = cfg.stages.iter().find(|s| matches!(s.kind, StageKind::Collector { .. })).unwrap().clone();
    Node {
        dispatcher: Dispatcher::new(prove, Arc::new(TestProver::noop()), ctx.clone()),
        collector: Collector::new(join, ctx.clone()),
        queue,
        ctx,
    }
}

#[derive(Debug)]
struct Params {
    seed: u64,
    blocks: u64,
    k: u32,
    workers: usize,
    fail_percent: u64,
    crash_percent: u64,
}

fn simulate(p: Params, rocks: Option<&std::path::Path>) {
    let clock = ManualClock::new(1_700_000_000_000);
    let qcfg = QueueConfig { backoff_base_ms: 50, backoff_max_ms: 1_000, ..Default::default() };
    let open = |clock: &ManualClock| -> Arc<Queue> {
        Arc::new(match rocks {
            Some(path) => Queue::open_rocksdb_with_clock(path, qcfg.clone(), Arc::new(clock.clone())).unwrap(),
            None => Queue::memory_with_clock(qcfg.clone(), Arc::new(clock.clone())),
        })
    };
    let log = Arc::new(Log::default());
    let mut n = node(open(&clock), p.k, &log);
    let mut rng = Rng(p.seed | 1);
    let tasks: Vec<NewTask> = (0..p.blocks)
        .flat_map(|b| (0..p.k).map(move |s| NewTask::new("parts", b, format!("{b}/{s}").into_bytes()).with_subtask(s)))
        .collect();
    n.ctx.submit(tasks).unwrap();

    let mut slots: Vec<Option<(Job, u64, Verdict)>> = (0..p.workers).map(|_| None).collect();
    let fault_steps = 400;
    for step in 0..8_000 {
        let faults = step < fault_steps;
        clock.advance(1 + rng.below(150));
        let now = clock.now_ms_for_test();
        n.ctx.heartbeat();
        for (i, slot) in slots.iter_mut().enumerate() {
            match slot.take() {
                Some((job, finish_at, verdict)) if now >= finish_at => {
                    let result = match verdict {
                        Verdict::Ok => n.dispatcher.prove(&job),
                        Verdict::Transient => Err(ProverError::Transient("injected".into())),
                        Verdict::Permanent => Err(ProverError::Permanent("injected".into())),
                    };
                    n.dispatcher.complete(job, result.map(|a: ProofArtifact| a)).unwrap();
                }
                Some(job) if faults && rng.chance(p.crash_percent) => n.dispatcher.abandon(job.0),
                Some(job) => *slot = Some(job),
                None => {
                    if let Some(job) = n.dispatcher.begin(&format!("w{i}"), Duration::ZERO).unwrap() {
                        let verdict = match rng.below(100) {
                            x if faults && x < p.fail_percent => Verdict::Transient,
                            x if faults && x < p.fail_percent + p.fail_percent / 3 => Verdict::Permanent,
                            _ => Verdict::Ok,
                        };
                        *slot = Some((job, now + rng.below(2_000), verdict));
                    }
                }
            }
        }
        if rng.chance(60) {
            n.collector.step("collector", Duration::ZERO).unwrap();
        }
        n.collector.heartbeat().unwrap();
        if faults && rng.chance(p.crash_percent) {
            // The collector dies: its groups are gone, its members' leases expire.
            n.collector = Collector::new(n.collector.stage.clone(), n.ctx.clone());
        }
        if faults && rocks.is_some() && rng.chance(p.crash_percent / 2) {
            // The whole node restarts on the same database.
            for s in slots.iter_mut() {
                *s = None;
            }
            let queue = std::mem::replace(&mut n.queue, Arc::new(Queue::memory(QueueConfig::default())));
            drop(n);
            drop(queue);
            n = node(open(&clock), p.k, &log);
        }
        if !faults && quiet(&n) && slots.iter().all(Option::is_none) {
            break;
        }
    }
    check(&n, &p, &log);
}

/// Nothing left to do outside the sink.
fn quiet(n: &Node) -> bool {
    let s = n.queue.stats().unwrap();
    ["parts", "proofs"].iter().all(|q| s.queues.get(*q).is_none_or(|c| c.pending + c.delayed + c.leased == 0))
}

fn check(n: &Node, p: &Params, log: &Log) {
    let q = &n.queue;
    let stats = q.stats().unwrap();
    let c = |name: &str| stats.queues.get(name).cloned().unwrap_or_default();
    let (parts, proofs, blocks) = (c("parts"), c("proofs"), c("blocks"));

    // Starvation freedom: every task left Pending (to Done or Dead).
    assert!(quiet(n), "work left behind: {stats:?}");
    assert_eq!(parts.done + parts.dead, p.blocks * p.k as u64, "every part ended: {parts:?}");

    // Routing continuity: every done part handed exactly one proof to the next queue.
    assert_eq!(proofs.live() + proofs.done, parts.done, "proofs {proofs:?} vs done parts {parts:?}");

    // Barrier completion: a block all of whose parts were proven emits exactly once;
    // a block with a dead part never emits.
    let now = q.now_ms();
    let view = q.view().unwrap();
    let mut dead_parts: BTreeMap<u64, u32> = BTreeMap::new();
    for t in view.list(Some("parts"), StateFilter::Dead, usize::MAX, now) {
        *dead_parts.entry(t.block_number).or_default() += 1;
    }
    let mut emitted: BTreeMap<u64, u32> = BTreeMap::new();
    for t in view.list(Some("blocks"), StateFilter::All, usize::MAX, now) {
        *emitted.entry(t.block_number).or_default() += 1;
    }
    for b in 0..p.blocks {
        let expected = u32::from(!dead_parts.contains_key(&b));
        assert_eq!(emitted.get(&b).copied().unwrap_or(0), expected, "block {b}: dead parts {:?}", dead_parts.get(&b));
    }
    assert_eq!(blocks.live(), emitted.values().map(|&v| v as u64).sum::<u64>());
    let events = log.0.lock().unwrap();
    let emits: Vec<u64> =
        events.iter().filter(|e| e.stage == "join" && e.outcome == Outcome::Done).map(|e| e.block).collect();
    let mut unique = emits.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(emits.len(), unique.len(), "a group emitted twice");
}

trait ClockExt {
    fn now_ms_for_test(&self) -> u64;
}

impl ClockExt for ManualClock {
    fn now_ms_for_test(&self) -> u64 {
        slotproof_queue::Clock::now_ms(self)
    }
}

fn params() -> impl Strategy<Value = Params> {
    (any::<u64>(), 1..12u64, 1..5u32, 1..6usize, 0..30u64, 0..8u64).prop_map(
        |(seed, blocks, k, workers, fail_percent, crash_percent)| Params {
            seed,
            blocks,
            k,
            workers,
            fail_percent,
            crash_percent,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn memory_pipeline_keeps_the_four_properties(p in params()) {
        simulate(p, None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn rocksdb_pipeline_keeps_the_four_properties_across_restarts(p in params()) {
        let dir = tempfile::tempdir().unwrap();
        simulate(p, Some(&dir.path().join("queue")));
    }
}

/// Barrier locality: a group waits only on its own members. Block 1 is missing
/// a part; block 2 is complete and emits at once.
#[test]
fn barrier_locality_a_group_waits_only_on_its_own_members() {
    let clock = ManualClock::new(1_700_000_000_000);
    let queue = Arc::new(Queue::memory_with_clock(QueueConfig::default(), Arc::new(clock.clone())));
    let log = Arc::new(Log::default());
    let mut n = node(queue, 2, &log);
    n.ctx
        .submit(vec![
            NewTask::new("parts", 1, b"1/0".to_vec()).with_subtask(0),
            NewTask::new("parts", 1, b"1/1".to_vec()).with_subtask(1),
            NewTask::new("parts", 2, b"2/0".to_vec()).with_subtask(0),
            NewTask::new("parts", 2, b"2/1".to_vec()).with_subtask(1),
        ])
        .unwrap();
    let slow = n.dispatcher.begin("w0", Duration::ZERO).unwrap().unwrap();
    assert_eq!((slow.lease.block_number, slow.lease.subtask), (1, 0));
    for _ in 0..3 {
        let job = n.dispatcher.begin("w1", Duration::ZERO).unwrap().unwrap();
        let r = n.dispatcher.prove(&job);
        n.dispatcher.complete(job, r).unwrap();
    }
    assert_eq!(n.collector.step("c", Duration::ZERO).unwrap(), 1, "block 2 emits while block 1 waits");
    let emitted: Vec<u64> = n
        .queue
        .view()
        .unwrap()
        .list(Some("blocks"), StateFilter::All, 10, clock.now_ms_for_test())
        .iter()
        .map(|t| t.block_number)
        .collect();
    assert_eq!(emitted, vec![2]);
    assert_eq!(n.collector.held(), 1, "block 1's first member is held, not emitted");
    let r = n.dispatcher.prove(&slow);
    n.dispatcher.complete(slow, r).unwrap();
    assert_eq!(n.collector.step("c", Duration::ZERO).unwrap(), 1);
    assert_eq!(n.collector.held(), 0);
}
