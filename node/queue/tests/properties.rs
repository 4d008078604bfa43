//! Property tests on random operation sequences (specs/queue.md §11), on every
//! backend the conformance suite covers. A model written from the spec
//! predicts every answer and the whole state after every operation: lease
//! order (§2), attempts and backoff (§4), fencing of ack, nack and extend (§5),
//! dedupe (§1), no loss, no duplicate completion, recovery of a restart, clean
//! or crashed (§7), and starvation freedom.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use common::{Harness, LEASE};
use proptest::prelude::*;
use slotproof_queue::{
    Durability, Enqueued, Failure, Lease, NackOutcome, NewTask, QueueConfig, QueueError, TaskId, TaskState,
};

#[derive(Clone, Debug)]
enum Op {
    Enqueue {
        queue: u8,
        block: u8,
        subtask: u8,
        priority: u8,
        payload: u8,
    },
    Lease {
        queue: u8,
    },
    /// Acks a live lease, or (`live: false`) replays an ended one's token.
    Ack {
        pick: usize,
        live: bool,
    },
    Nack {
        pick: usize,
        live: bool,
        permanent: bool,
    },
    Extend {
        pick: usize,
        live: bool,
    },
    Requeue {
        pick: usize,
    },
    Advance {
        ms: u16,
    },
    Reap,
    /// Reopens the database (RocksDB only): cleanly, or as after SIGKILL.
    Restart {
        crash: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2u8, 0..8u8, 0..3u8, 0..3u8, 0..3u8).prop_map(|(queue, block, subtask, priority, payload)| Op::Enqueue { queue, block, subtask, priority, payload }),
        4 => (0..2u8).prop_map(|queue| Op::Lease { queue }),
        3 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, live)| Op::Ack { pick, live }),
        2 => (any::<usize>(), prop::bool::weighted(0.8), any::<bool>()).prop_map(|(pick, live, permanent)| Op::Nack { pick, live, permanent }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, live)| Op::Extend { pick, live }),
        1 => any::<usize>().prop_map(|pick| Op::Requeue { pick }),
        2 => (0..15_000u16).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Reap),
        1 => any::<bool>().prop_map(|crash| Op::Restart { crash }),
    ]
}

const QUEUES: [&str; 2] = ["q0", "q1"];
const MAX_ATTEMPTS: u32 = 3;
const LEASE_MS: u64 = LEASE.as_millis() as u64;
const RESTART_ERROR: &str = "lease lost: node restarted";
const EXPIRY_ERROR: &str = "lease expired";

fn new_task(queue: u8, block: u8, subtask: u8, priority: u8, payload: u8) -> NewTask {
    NewTask::new(QUEUES[queue as usize], block as u64, vec![payload])
        .with_subtask(subtask as u32)
        .with_priority(priority)
        .with_max_attempts(MAX_ATTEMPTS)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum MState {
    Pending { not_before: u64 },
    Leased { token: u64, deadline: u64 },
    Dead,
}

#[derive(Clone, Debug)]
struct MTask {
    queue: &'static str,
    /// The lease order of §2, computed here: (priority, block, subtask, arrival).
    key: (u8, u64, u32, u64),
    payload: u8,
    attempts: u32,
    state: MState,
    /// What the last error starts with.
    error: Option<String>,
}

/// The queue as specs/queue.md describes it.
struct Model {
    cfg: QueueConfig,
    live: HashMap<TaskId, MTask>,
    done: HashSet<TaskId>,
    done_per_queue: BTreeMap<&'static str, u64>,
    arrivals: u64,
    /// Every token ever handed out, with its task: all but the current ones are stale.
    issued: Vec<(TaskId, u64)>,
}

impl Model {
    fn new(cfg: QueueConfig) -> Self {
        Model {
            cfg,
            live: HashMap::new(),
            done: HashSet::new(),
            done_per_queue: BTreeMap::new(),
            arrivals: 0,
            issued: Vec::new(),
        }
    }

    fn is_current(&self, id: TaskId, token: u64) -> bool {
        matches!(self.live.get(&id), Some(MTask { state: MState::Leased { token: t, .. }, .. }) if *t == token)
    }

    fn pick_token(&self, pick: usize, live: bool) -> Option<(TaskId, u64)> {
        let set: Vec<(TaskId, u64)> =
            self.issued.iter().copied().filter(|&(id, tok)| self.is_current(id, tok) == live).collect();
        if set.is_empty() { None } else { Some(set[pick % set.len()]) }
    }

    /// §4, written independently of `QueueConfig::backoff_ms`.
    fn backoff(&self, attempts: u32) -> u64 {
        let mut delay = self.cfg.backoff_base_ms;
        for _ in 1..attempts {
            delay = delay.saturating_mul(2);
        }
        delay.min(self.cfg.backoff_max_ms)
    }

    /// An attempt ends without an ack (§4).
    fn end_attempt(&mut self, id: TaskId, error: &str, permanent: bool, now: u64) -> NackOutcome {
        let t = self.live.get_mut(&id).unwrap();
        t.attempts += 1;
        t.error = Some(error.to_string());
        let attempts = t.attempts;
        let delay = self.backoff(attempts);
        let t = self.live.get_mut(&id).unwrap();
        if permanent || attempts >= MAX_ATTEMPTS {
            t.state = MState::Dead;
            NackOutcome::Dead { attempts }
        } else {
            t.state = MState::Pending { not_before: now + delay };
            NackOutcome::Retrying { attempts, not_before_ms: now + delay }
        }
    }

    /// Ends the leases of `queue` (all when `None`) whose deadline has passed.
    fn expire(&mut self, queue: Option<&str>, now: u64) -> usize {
        let expired: Vec<TaskId> = self
            .live
            .iter()
            .filter(|(_, t)| queue.is_none_or(|q| q == t.queue))
            .filter(|(_, t)| matches!(t.state, MState::Leased { deadline, .. } if deadline <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.end_attempt(*id, EXPIRY_ERROR, false, now);
        }
        expired.len()
    }

    /// §2: the ready task of `queue` with the smallest key.
    fn next_ready(&self, queue: &str, now: u64) -> Option<TaskId> {
        self.live
            .iter()
            .filter(|(_, t)| t.queue == queue && matches!(t.state, MState::Pending { not_before } if not_before <= now))
            .min_by_key(|(_, t)| t.key)
            .map(|(id, _)| *id)
    }

    /// §7: a restart ends every lease, attempt counted.
    fn restart(&mut self, now: u64) {
        let held: Vec<TaskId> =
            self.live.iter().filter(|(_, t)| matches!(t.state, MState::Leased { .. })).map(|(id, _)| *id).collect();
        for id in held {
            self.end_attempt(id, RESTART_ERROR, false, now);
        }
    }

    fn has_work(&self) -> bool {
        self.live.values().any(|t| t.state != MState::Dead)
    }
}

fn stale(id: TaskId, token: u64) -> impl Fn(&QueueError) -> bool {
    move |e| matches!(e, QueueError::StaleLease { id: i, token: t } if *i == id && *t == token)
}

/// Applies one operation to the queue and to the model, and checks the answer.
fn apply(h: &mut Harness, m: &mut Model, op: Op) {
    let now = h.q.now_ms();
    match op {
        Op::Enqueue { queue, block, subtask, priority, payload } => {
            let t = new_task(queue, block, subtask, priority, payload);
            let id = t.id();
            let known = m.live.contains_key(&id) || m.done.contains(&id);
            let got = h.q.enqueue_one(t).unwrap();
            if known {
                assert_eq!(got, Enqueued::Duplicate(id), "§1: a known id is a duplicate");
            } else {
                assert_eq!(got, Enqueued::Inserted(id), "§1: a new id is inserted");
                let key = (priority, block as u64, subtask as u32, m.arrivals);
                m.arrivals += 1;
                let queue = QUEUES[queue as usize];
                let state = MState::Pending { not_before: 0 };
                m.live.insert(id, MTask { queue, key, payload, attempts: 0, state, error: None });
            }
        }
        Op::Lease { queue } => {
            lease(h, m, QUEUES[queue as usize]);
        }
        Op::Ack { pick, live } => {
            let Some((id, token)) = m.pick_token(pick, live) else { return };
            match h.q.ack(id, token) {
                Ok(()) => {
                    assert!(live, "§5: a stale token acked task {id}");
                    let t = m.live.remove(&id).unwrap();
                    assert!(m.done.insert(id), "task {id} completed twice");
                    *m.done_per_queue.entry(t.queue).or_default() += 1;
                }
                Err(e) => assert!(!live && stale(id, token)(&e), "§5: ack with live={live}: {e}"),
            }
        }
        Op::Nack { pick, live, permanent } => {
            let Some((id, token)) = m.pick_token(pick, live) else { return };
            let failure = if permanent { Failure::Permanent } else { Failure::Transient };
            match h.q.nack(id, token, "prop", failure) {
                Ok(got) => {
                    assert!(live, "§5: a stale token nacked task {id}");
                    assert_eq!(got, m.end_attempt(id, "prop", permanent, now), "§4: nack outcome");
                }
                Err(e) => assert!(!live && stale(id, token)(&e), "§5: nack with live={live}: {e}"),
            }
        }
        Op::Extend { pick, live } => {
            let Some((id, token)) = m.pick_token(pick, live) else { return };
            match h.q.extend(id, token, LEASE) {
                Ok(deadline) => {
                    assert!(live, "§5: a stale token extended task {id}");
                    assert_eq!(deadline, now + LEASE_MS, "§5: extend moves the deadline to now + duration");
                    m.live.get_mut(&id).unwrap().state = MState::Leased { token, deadline };
                }
                Err(e) => assert!(!live && stale(id, token)(&e), "§5: extend with live={live}: {e}"),
            }
        }
        Op::Requeue { pick } => {
            let mut ids: Vec<TaskId> = m.live.keys().copied().collect();
            ids.sort();
            let Some(&id) = ids.get(pick % ids.len().max(1)) else { return };
            let t = m.live.get_mut(&id).unwrap();
            match (h.q.requeue(id), t.state.clone()) {
                (Ok(()), MState::Dead) => {
                    t.state = MState::Pending { not_before: 0 };
                    t.attempts = 0;
                }
                (Err(QueueError::NotDead(i)), s) if i == id && s != MState::Dead => {}
                (got, s) => panic!("§3: requeue of a {s:?} task returned {got:?}"),
            }
        }
        Op::Advance { ms } => h.clock.advance(ms as u64),
        Op::Reap => {
            let expected = m.expire(None, now);
            assert_eq!(h.q.reap_expired().unwrap(), expected, "§5: reap ends every expired lease");
        }
        Op::Restart { crash } => {
            if !h.persistent() {
                return; // the memory backend has nothing to reopen
            }
            if crash {
                h.crash_reopen()
            } else {
                h.reopen()
            }
            m.restart(h.q.now_ms());
        }
    }
}

/// Leases from `queue` and checks the task and its lease against the model.
fn lease(h: &mut Harness, m: &mut Model, queue: &str) -> Option<Lease> {
    let now = h.q.now_ms();
    // A lease call first ends the expired leases of its queue (§5).
    m.expire(Some(queue), now);
    let expected = m.next_ready(queue, now);
    let got = h.lease(queue);
    assert_eq!(got.as_ref().map(|l| l.id), expected, "§2: lease returns the first ready task");
    let l = got?;
    assert!(!m.issued.iter().any(|&(_, tok)| tok == l.token), "§5: token {:#x} handed out twice", l.token);
    let t = m.live.get_mut(&l.id).unwrap();
    assert_eq!(l.attempt, t.attempts + 1, "§4: a lease hands out attempt attempts + 1");
    assert_eq!((l.priority, l.block_number, l.subtask), (t.key.0, t.key.1, t.key.2));
    assert_eq!(&*l.payload, &[t.payload]);
    assert_eq!(l.deadline_ms, now + LEASE_MS);
    t.state = MState::Leased { token: l.token, deadline: l.deadline_ms };
    m.issued.push((l.id, l.token));
    Some(l)
}

/// The queue's whole state equals the model's.
fn check_state(h: &Harness, m: &Model) {
    let now = h.q.now_ms();
    let view = h.q.view().unwrap();
    let ids: HashSet<TaskId> = view.tasks.iter().map(|t| t.id).collect();
    assert_eq!(ids, m.live.keys().copied().collect::<HashSet<_>>(), "no loss: the live tasks are the model's");
    for info in &view.tasks {
        let t = &m.live[&info.id];
        assert_eq!(info.attempts, t.attempts, "attempts of {}", info.id);
        let same = match (&info.state, &t.state) {
            // A due backoff is promoted to ready with `not_before` cleared, whenever the queue looks.
            (TaskState::Pending { not_before_ms: got }, MState::Pending { not_before }) => {
                got == not_before || (*got == 0 && *not_before <= now)
            }
            (TaskState::Leased { token, deadline_ms, .. }, MState::Leased { token: t2, deadline }) => {
                token == t2 && deadline_ms == deadline
            }
            (TaskState::Dead, MState::Dead) => true,
            _ => false,
        };
        assert!(same, "task {}: queue says {:?}, model says {:?}", info.id, info.state, t.state);
        match &t.error {
            Some(prefix) => assert!(
                info.last_error.as_deref().is_some_and(|e| e.starts_with(prefix.as_str())),
                "task {}: last error {:?}, expected {prefix:?}",
                info.id,
                info.last_error
            ),
            None => assert_eq!(info.last_error, None),
        }
    }
    for id in &m.done {
        assert!(h.q.is_done(*id).unwrap(), "done task {id} is remembered");
    }
    let done: BTreeMap<&str, u64> =
        view.done_counts.iter().filter(|(_, n)| **n > 0).map(|(q, n)| (q.as_str(), *n)).collect();
    let expected: BTreeMap<&str, u64> = m.done_per_queue.iter().map(|(q, n)| (*q, *n)).collect();
    assert_eq!(done, expected, "done counts per queue");
}

fn run(h: &mut Harness, ops: Vec<Op>, drain_choices: Vec<bool>) {
    let mut m = Model::new(h.cfg.clone());
    for op in ops {
        apply(h, &mut m, op);
        check_state(h, &m);
    }
    drain(h, &mut m, drain_choices);
}

/// Starvation freedom: with finitely many arrivals and bounded attempts, a
/// worker that keeps leasing takes every task out of Pending (to Done or Dead).
fn drain(h: &mut Harness, m: &mut Model, choices: Vec<bool>) {
    let bound = m.live.len() * 4 + 10;
    let mut choice = choices.into_iter().cycle();
    for _ in 0..bound {
        h.clock.advance(h.cfg.backoff_max_ms + LEASE_MS);
        for q in QUEUES {
            while let Some(l) = lease(h, m, q) {
                if choice.next().unwrap_or(true) {
                    h.q.ack(l.id, l.token).unwrap();
                    m.live.remove(&l.id);
                    m.done.insert(l.id);
                    *m.done_per_queue.entry(q).or_default() += 1;
                } else {
                    let got = h.q.nack(l.id, l.token, "drain", Failure::Transient).unwrap();
                    assert_eq!(got, m.end_attempt(l.id, "drain", false, h.q.now_ms()));
                }
            }
        }
        check_state(h, m);
        if !m.has_work() {
            return;
        }
    }
    panic!("tasks still pending after {bound} rounds: {:?}", h.q.stats().unwrap().total);
}

fn cfg() -> QueueConfig {
    QueueConfig { backoff_base_ms: 50, backoff_max_ms: 400, ..Default::default() }
}

fn power() -> QueueConfig {
    QueueConfig { durability: Durability::Power, ..cfg() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn memory_backend_matches_the_model(
        ops in proptest::collection::vec(op(), 1..120),
        drain in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        run(&mut Harness::memory_with(cfg()), ops, drain);
    }
}

/// `before`, one restart (crashed or clean), `after`, each step checked
/// against the model; then the queue drained.
fn crash_restart(mut h: Harness, before: Vec<Op>, after: Vec<Op>, crash: bool) -> Result<(), TestCaseError> {
    let mut m = Model::new(h.cfg.clone());
    for op in before.into_iter().chain([Op::Restart { crash }]).chain(after) {
        apply(&mut h, &mut m, op);
        check_state(&h, &m);
    }
    prop_assert_eq!(h.q.stats().unwrap().total.done, m.done.len() as u64);
    drain(&mut h, &mut m, vec![true, false]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Restarts, clean and crashed, come at random points of the sequence.
    #[test]
    fn rocksdb_backend_matches_the_model(
        ops in proptest::collection::vec(op(), 1..120),
        drain in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        run(&mut Harness::rocksdb_with(cfg()), ops, drain);
    }

    #[test]
    fn rocksdb_power_backend_matches_the_model(
        ops in proptest::collection::vec(op(), 1..120),
        drain in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        run(&mut Harness::rocksdb_with(power()), ops, drain);
    }

    /// §7: acks, nacks, dead letters and live leases, then a crash: the reopened
    /// queue is the model's, with every lease ended, and keeps matching it.
    #[test]
    fn rocksdb_crash_restart_matches_the_model(
        before in proptest::collection::vec(op(), 10..80),
        after in proptest::collection::vec(op(), 1..60),
        durability in prop_oneof![Just(Durability::Process), Just(Durability::Power)],
        crash in prop::bool::weighted(0.75),
    ) {
        crash_restart(Harness::rocksdb_with(QueueConfig { durability, ..cfg() }), before, after, crash)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The NATS backend against the same model, restarts and takeovers
    /// (a second writer fencing the first) at random points.
    #[test]
    fn nats_backend_matches_the_model(
        ops in proptest::collection::vec(op(), 1..120),
        drain in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        run(&mut Harness::nats_with(cfg()), ops, drain);
    }

    /// §7, §15: as the RocksDB crash test, the crash being a takeover.
    #[test]
    fn nats_crash_restart_matches_the_model(
        before in proptest::collection::vec(op(), 10..80),
        after in proptest::collection::vec(op(), 1..60),
        crash in prop::bool::weighted(0.75),
    ) {
        crash_restart(Harness::nats_with(cfg()), before, after, crash)?;
    }
}
