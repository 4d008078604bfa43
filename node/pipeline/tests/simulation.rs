//! Deterministic simulation of a two-stage pipeline (split → prove → fan-in)
//! with a manual clock, slow and failing provers, crashed workers, crashed
//! collectors and (RocksDB) whole-node restarts. After a fault phase and a calm
//! drain it checks push0's four properties (specs/pipeline.md §6):
//! starvation freedom, barrier locality, barrier completion, routing continuity.
//! Two further oracles run while faults or arrivals go on (§6.5, §6.6):
//! barrier locality under faults of other blocks, and starvation freedom with
//! continuous arrivals at mixed priorities.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use slotproof_pipeline::{
    Collector, Ctx, Dispatcher, Job, Observer, Ordering, Outcome, PipelineConfig, StageConfig, StageEvent, StageKind,
    Strategy as Collect,
};
use slotproof_queue::{ManualClock, NewTask, Queue, QueueConfig, StateFilter};
use slotproof_zkvm::testing::TestProver;
use slotproof_zkvm::{ProofArtifact, ProverError};

const LEASE: Duration = Duration::from_secs(5);

/// parts → prove (dispatcher) → proofs → join (fan-in k) → blocks, built as
/// the node builds its pipeline: typed, checked by `from_stages`.
fn config(k: u32) -> PipelineConfig {
    PipelineConfig::from_stages(
        "default",
        Ordering::Realtime { stale_after_blocks: 100_000 },
        vec![
            StageConfig::dispatcher("prove", "parts", "proofs", "noop").max_attempts(3),
            StageConfig::collector("join", ["proofs"], "blocks", Collect::FanIn { k }),
        ],
        &|p| p == "noop",
    )
    .unwrap()
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

/// A dispatcher job in flight in the simulation: when it finishes and how.
struct Running {
    job: Job,
    finish_at: u64,
    verdict: Verdict,
}

/// Commits a finished job the way its verdict says.
fn finish(n: &Node, r: Running) -> Outcome {
    let result = match r.verdict {
        Verdict::Ok => n.dispatcher.prove(&r.job),
        Verdict::Transient => Err(ProverError::Transient("injected".into())),
        Verdict::Permanent => Err(ProverError::Permanent("injected".into())),
    };
    n.dispatcher.complete(r.job, result).unwrap()
}

fn count(log: &Log, stage: &str, block: u64, outcome: &Outcome) -> usize {
    log.0.lock().unwrap().iter().filter(|e| e.stage == stage && e.block == block && e.outcome == *outcome).count()
}

/// Collector steps within which a complete group must emit (§3 barrier
/// locality): the first step after its last member is committed leases every
/// ready member (fewer than `COLLECT_BATCH` here) and emits the group.
const CALM_STEPS: usize = 1;

/// What one locality run saw, so the suite can check the faults really happened.
#[derive(Default, Debug)]
struct LocalitySeen {
    /// Runs where another block's group was open (proven parts, not emitted,
    /// not failed) when the watched group became complete.
    contended: usize,
    abandoned: usize,
    heartbeat_stalls: usize,
    lease_lost: usize,
    retried: usize,
    dead: usize,
}

/// One run: `watched` is a block whose parts never fail; every other block's
/// parts fail transiently or permanently, crash (abandoned jobs), run long and
/// lose their lease while the heartbeat stalls. Asserts that the watched
/// group emits within `CALM_STEPS` collector steps of its last member, and
/// exactly once.
fn locality_under_faults(seed: u64, seen: &mut LocalitySeen) {
    let mut rng = Rng(seed | 1);
    let (blocks, k, workers) = (2 + rng.below(9), 1 + rng.below(4) as u32, 1 + rng.below(5) as usize);
    let (fail_percent, crash_percent, stall_percent) = (10 + rng.below(30), 1 + rng.below(6), rng.below(3));
    let watched = rng.below(blocks);
    let clock = ManualClock::new(1_700_000_000_000);
    let qcfg = QueueConfig { backoff_base_ms: 50, backoff_max_ms: 1_000, ..Default::default() };
    let log = Arc::new(Log::default());
    let mut n = node(Arc::new(Queue::memory_with_clock(qcfg, Arc::new(clock.clone()))), k, &log);
    let tasks = (0..blocks)
        .flat_map(|b| (0..k).map(move |s| NewTask::new("parts", b, format!("{b}/{s}").into_bytes()).with_subtask(s)));
    n.ctx.submit(tasks.collect()).unwrap();

    let mut slots: Vec<Option<Running>> = (0..workers).map(|_| None).collect();
    let (mut collector_steps, mut complete_at, mut stalled_until) = (0usize, None, 0u64);
    for _ in 0..20_000 {
        clock.advance(1 + rng.below(150));
        let now = clock.now_ms_for_test();
        // A stalled heartbeat leaves long runs to lose their lease: the task is
        // retried elsewhere and the first result is refused as `LeaseLost`.
        if now >= stalled_until {
            if rng.chance(stall_percent) {
                stalled_until = now + LEASE.as_millis() as u64 + 1_000;
                seen.heartbeat_stalls += 1;
            } else {
                n.ctx.heartbeat();
            }
        }
        for (i, slot) in slots.iter_mut().enumerate() {
            match slot.take() {
                Some(r) if now >= r.finish_at => {
                    finish(&n, r);
                }
                Some(r) if r.job.lease.block_number != watched && rng.chance(crash_percent) => {
                    n.dispatcher.abandon(r.job);
                    seen.abandoned += 1;
                }
                Some(r) => *slot = Some(r),
                None => {
                    let Some(job) = n.dispatcher.begin(&format!("w{i}"), Duration::ZERO).unwrap() else { continue };
                    // The watched block's parts finish well within a lease, stall or not.
                    let (verdict, took) = if job.lease.block_number == watched {
                        (Verdict::Ok, rng.below(1_000))
                    } else {
                        let verdict = match rng.below(100) {
                            x if x < fail_percent => Verdict::Transient,
                            x if x < fail_percent + fail_percent / 3 => Verdict::Permanent,
                            _ => Verdict::Ok,
                        };
                        (verdict, rng.below(8_000))
                    };
                    *slot = Some(Running { job, finish_at: now + took, verdict });
                }
            }
        }
        if complete_at.is_none() && count(&log, "prove", watched, &Outcome::Done) == k as usize {
            complete_at = Some(collector_steps);
            if others_open(&log, watched) {
                seen.contended += 1;
            }
        }
        n.collector.step("collector", Duration::ZERO).unwrap();
        n.collector.heartbeat().unwrap();
        collector_steps += 1;
        if let Some(at) = complete_at {
            let emitted = count(&log, "join", watched, &Outcome::Done);
            assert!(
                emitted == 1 || collector_steps - at < CALM_STEPS,
                "seed {seed}: block {watched}'s group was complete {} collector steps ago and has not emitted \
                 (blocks {blocks}, k {k}, workers {workers})",
                collector_steps - at
            );
        }
        if quiet(&n) && slots.iter().all(Option::is_none) {
            break;
        }
    }
    assert_eq!(count(&log, "join", watched, &Outcome::Done), 1, "seed {seed}: the watched block emits exactly once");
    let events = log.0.lock().unwrap();
    seen.lease_lost += events.iter().filter(|e| e.outcome == Outcome::LeaseLost).count();
    seen.retried += events.iter().filter(|e| e.outcome == Outcome::Retrying).count();
    seen.dead += events.iter().filter(|e| matches!(e.outcome, Outcome::Dead(_))).count();
}

/// Whether a block other than `watched` has a proven part but no emission and
/// no failure yet: its group is open in the collector (or on its way there).
fn others_open(log: &Log, watched: u64) -> bool {
    let events = log.0.lock().unwrap();
    let blocks_with = |stage: &str, pred: &dyn Fn(&Outcome) -> bool| -> BTreeSet<u64> {
        events.iter().filter(|e| e.stage == stage && pred(&e.outcome)).map(|e| e.block).collect()
    };
    let proven = blocks_with("prove", &|o| *o == Outcome::Done);
    let emitted = blocks_with("join", &|o| *o == Outcome::Done);
    let failed = blocks_with("prove", &|o| matches!(o, Outcome::Dead(_)));
    proven.iter().any(|b| *b != watched && !emitted.contains(b) && !failed.contains(b))
}

/// §3 barrier locality under faults (push0's oracle, §6.5): a complete group
/// emits within `CALM_STEPS` collector steps whatever other blocks do: their
/// provers fail, their workers crash, their leases are lost.
#[test]
fn barrier_locality_holds_under_faults_of_other_blocks() {
    let mut seen = LocalitySeen::default();
    for seed in 0..96u64 {
        locality_under_faults(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), &mut seen);
    }
    // The oracle is only worth something if the runs hit what it is about.
    assert!(seen.contended >= 24, "another group was open in too few runs: {seen:?}");
    assert!(seen.abandoned > 0 && seen.heartbeat_stalls > 0, "{seen:?}");
    assert!(seen.lease_lost > 0 && seen.retried > 0 && seen.dead > 0, "{seen:?}");
}

/// Simulated time per step of the arrivals run.
const STEP_MS: u64 = 20;
/// Longest prover run of the arrivals run.
const PROVE_MAX_MS: u64 = 400;
/// A part's longest run plus two steps of hand-over (the worker is free the
/// step after it finishes, and leases the step after that at the latest).
const PART_MS: u64 = PROVE_MAX_MS + 2 * STEP_MS;
/// Most blocks that may arrive at once.
const BURST: u64 = 4;
/// Priority classes blocks arrive with (lower leases first, queue.md §2).
const PRIORITIES: [u8; 3] = [10, slotproof_queue::PRIORITY_NORMAL, 200];

/// Time one block's admission takes from the arrival budget, so that arrivals
/// offer at most half the workers' capacity over time.
fn arrival_gap_ms(k: u64, workers: u64) -> u64 {
    2 * k * PART_MS / workers
}

/// How long any block may take from arrival to emission in the arrivals run.
///
/// Arrivals draw on a budget (a token bucket of `BURST` blocks refilled one
/// block per `arrival_gap_ms`), so the work arriving in any window of length x
/// is at most x·W/2 + BURST·k·d (d = `PART_MS`, W workers). Take block B
/// arriving at t, and τ the last moment one of its parts is still pending.
/// Through [t, τ] every worker is busy (an idle one would lease B's part), so
/// W·(τ−t) ≤ backlog(t) + W·(τ−t)/2 + BURST·k·d. The backlog at any time is at
/// most what a busy period piles up over the work running when it began:
/// W·d + BURST·k·d. So τ − t ≤ 2·(W·d + 2·BURST·k·d)/W, and B's last part is
/// proven at most d later, its group emitted the same step. Priority decides
/// who goes first inside this bound; it cannot starve a class while the load
/// stays under capacity.
fn latency_bound_ms(k: u64, workers: u64) -> u64 {
    2 * (workers * PART_MS + 2 * BURST * k * PART_MS) / workers + PART_MS + STEP_MS
}

/// One run with blocks arriving until `arrivals` were admitted, each at a
/// random priority class. Asserts every block emitted within
/// `latency_bound_ms`; returns how often a later block of a higher class was
/// emitted before an earlier one (priority at work, so blocks competed).
fn continuous_arrivals(seed: u64, arrivals: u64) -> usize {
    let mut rng = Rng(seed | 1);
    let (k, workers) = (1 + rng.below(4), 1 + rng.below(5));
    let gap = arrival_gap_ms(k, workers);
    let bound = latency_bound_ms(k, workers);
    let clock = ManualClock::new(1_700_000_000_000);
    let log = Arc::new(Log::default());
    let mut n =
        node(Arc::new(Queue::memory_with_clock(QueueConfig::default(), Arc::new(clock.clone()))), k as u32, &log);
    let mut slots: Vec<Option<Running>> = (0..workers).map(|_| None).collect();
    let (mut admitted, mut budget) = (BTreeMap::new(), BURST * gap);
    let (mut emitted, mut seen_events, mut class) = (BTreeMap::new(), 0usize, BTreeMap::new());
    while emitted.len() < arrivals as usize {
        clock.advance(STEP_MS);
        let now = clock.now_ms_for_test();
        budget = (budget + STEP_MS).min(BURST * gap);
        let mut burst = if rng.chance(10) { 1 + rng.below(BURST) } else { 0 };
        while burst > 0 && budget >= gap && admitted.len() < arrivals as usize {
            let (b, priority) = (admitted.len() as u64, PRIORITIES[rng.below(3) as usize]);
            let parts = (0..k as u32).map(|s| {
                NewTask::new("parts", b, format!("{b}/{s}").into_bytes()).with_subtask(s).with_priority(priority)
            });
            n.ctx.submit(parts.collect()).unwrap();
            admitted.insert(b, now);
            class.insert(b, priority);
            (budget, burst) = (budget - gap, burst - 1);
        }
        n.ctx.heartbeat();
        for (i, slot) in slots.iter_mut().enumerate() {
            match slot.take() {
                Some(r) if now >= r.finish_at => assert_eq!(finish(&n, r), Outcome::Done),
                Some(r) => *slot = Some(r),
                None => {
                    if let Some(job) = n.dispatcher.begin(&format!("w{i}"), Duration::ZERO).unwrap() {
                        let took = PROVE_MAX_MS / 2 + rng.below(PROVE_MAX_MS / 2 + 1);
                        *slot = Some(Running { job, finish_at: now + took, verdict: Verdict::Ok });
                    }
                }
            }
        }
        n.collector.step("collector", Duration::ZERO).unwrap();
        n.collector.heartbeat().unwrap();
        let events = log.0.lock().unwrap();
        for e in events[seen_events..].iter().filter(|e| e.stage == "join" && e.outcome == Outcome::Done) {
            assert!(emitted.insert(e.block, now).is_none(), "seed {seed}: block {} emitted twice", e.block);
        }
        seen_events = events.len();
        drop(events);
        for (b, at) in &admitted {
            let waited = emitted.get(b).copied().unwrap_or(now) - at;
            assert!(
                waited <= bound,
                "seed {seed}: block {b} waited {waited} ms (bound {bound} ms; k {k}, workers {workers}, {} admitted)",
                admitted.len()
            );
        }
    }
    let overtaken = |(b, at): (&u64, &u64)| {
        emitted.iter().any(|(later, later_at)| later > b && later_at < at && class[later] < class[b])
    };
    emitted.iter().filter(|e| overtaken(*e)).count()
}

/// §6.6 starvation freedom with continuous arrivals at mixed priorities
/// (push0's oracle): blocks keep arriving, each in one of three priority
/// classes, and every admitted block is emitted within `latency_bound_ms`
/// of its arrival, low-priority blocks included.
#[test]
fn every_block_completes_within_a_bound_while_blocks_keep_arriving() {
    let mut overtaken = 0;
    for seed in 0..16u64 {
        overtaken += continuous_arrivals(seed.wrapping_mul(0x2545_f491_4f6c_dd1d), 120);
    }
    // The oracle is only worth something if blocks competed: later blocks of a
    // higher class went first, and the earlier ones still met the bound.
    assert!(overtaken >= 16, "priority classes never competed: {overtaken} overtakes");
}
