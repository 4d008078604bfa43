//! Property tests on random operation sequences (specs/queue.md §11), on both
//! backends: order, dedupe, fencing, no loss, no duplicate completion, and
//! starvation freedom.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};

use common::{Harness, LEASE};
use proptest::prelude::*;
use slotproof_queue::{Enqueued, Failure, Lease, NewTask, QueueConfig, TaskId, TaskState};

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
    Ack {
        pick: usize,
    },
    Nack {
        pick: usize,
        permanent: bool,
    },
    /// Replays an old token: must always be refused.
    AckStale {
        pick: usize,
    },
    Extend {
        pick: usize,
    },
    Advance {
        ms: u16,
    },
    Reap,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2u8, 0..8u8, 0..3u8, 0..3u8, 0..3u8).prop_map(|(queue, block, subtask, priority, payload)| Op::Enqueue { queue, block, subtask, priority, payload }),
        4 => (0..2u8).prop_map(|queue| Op::Lease { queue }),
        3 => any::<usize>().prop_map(|pick| Op::Ack { pick }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, permanent)| Op::Nack { pick, permanent }),
        1 => any::<usize>().prop_map(|pick| Op::AckStale { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Extend { pick }),
        2 => (0..15_000u16).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Reap),
    ]
}

const QUEUES: [&str; 2] = ["q0", "q1"];

fn new_task(queue: u8, block: u8, subtask: u8, priority: u8, payload: u8) -> NewTask {
    NewTask::new(QUEUES[queue as usize], block as u64, vec![payload])
        .with_subtask(subtask as u32)
        .with_priority(priority)
        .with_max_attempts(3)
}

#[derive(Default)]
struct Model {
    /// Tasks done before this run started (a restart test reuses a database).
    done_before: u64,
    inserted: HashSet<TaskId>,
    held: Vec<Lease>,
    /// Leases that ended (acked, nacked or superseded): their tokens are stale.
    stale: Vec<Lease>,
    acked: HashMap<TaskId, u32>,
}

impl Model {
    fn take(&mut self, pick: usize) -> Option<Lease> {
        if self.held.is_empty() { None } else { Some(self.held.swap_remove(pick % self.held.len())) }
    }
}

/// The smallest order key among tasks of `queue` that are ready at `now`.
fn expected_next(h: &Harness, queue: &str) -> Option<TaskId> {
    let now = h.q.now_ms();
    let view = h.q.view().unwrap();
    view.tasks
        .iter()
        .filter(|t| t.queue == queue && matches!(t.state, TaskState::Pending { not_before_ms } if not_before_ms <= now))
        .min_by_key(|t| t.order_key())
        .map(|t| t.id)
}

fn check_accounting(h: &Harness, m: &Model) {
    let stats = h.q.stats().unwrap();
    // No loss: every inserted task is live or done, exactly once.
    assert_eq!(stats.total.live() + stats.total.done, m.inserted.len() as u64 + m.done_before);
    assert_eq!(stats.total.done, m.acked.len() as u64 + m.done_before);
    // No duplicate completion.
    assert!(m.acked.values().all(|&n| n == 1));
    for id in m.acked.keys() {
        assert!(h.q.is_done(*id).unwrap());
        assert!(h.q.get(*id).unwrap().is_none());
    }
}

fn run(h: &mut Harness, ops: Vec<Op>, drain_choices: Vec<bool>) {
    let view = h.q.view().unwrap();
    let mut m = Model {
        done_before: view.done_counts.values().sum(),
        inserted: view.tasks.iter().map(|t| t.id).collect(),
        ..Model::default()
    };
    for op in ops {
        match op {
            Op::Enqueue { queue, block, subtask, priority, payload } => {
                let t = new_task(queue, block, subtask, priority, payload);
                let known = m.inserted.contains(&t.id()) || h.q.is_done(t.id()).unwrap();
                match h.q.enqueue_one(t).unwrap() {
                    Enqueued::Inserted(id) => assert!(m.inserted.insert(id) && !known),
                    Enqueued::Duplicate(id) => assert!(known, "duplicate of an unknown id {id}"),
                }
            }
            Op::Lease { queue } => {
                // Expiry and backoff promotion happen inside lease; reap first so the
                // expectation is computed on the same state the lease will see.
                h.q.reap_expired().unwrap();
                let expected = expected_next(h, QUEUES[queue as usize]);
                let got = h.lease(QUEUES[queue as usize]);
                assert_eq!(got.as_ref().map(|l| l.id), expected, "lease returns the first ready task");
                if let Some(l) = got {
                    // Any earlier lease of this task is now stale.
                    let (old, keep): (Vec<Lease>, Vec<Lease>) = m.held.drain(..).partition(|x| x.id == l.id);
                    m.held = keep;
                    m.stale.extend(old);
                    m.held.push(l);
                }
            }
            Op::Ack { pick } => {
                if let Some(l) = m.take(pick) {
                    match h.q.ack(l.id, l.token) {
                        Ok(()) => *m.acked.entry(l.id).or_default() += 1,
                        // The lease may have expired and been reaped.
                        Err(e) => assert!(matches!(e, slotproof_queue::QueueError::StaleLease { .. }), "{e}"),
                    }
                    m.stale.push(l);
                }
            }
            Op::Nack { pick, permanent } => {
                if let Some(l) = m.take(pick) {
                    let f = if permanent { Failure::Permanent } else { Failure::Transient };
                    let _ = h.q.nack(l.id, l.token, "prop", f);
                    m.stale.push(l);
                }
            }
            Op::AckStale { pick } => {
                if !m.stale.is_empty() {
                    let l = &m.stale[pick % m.stale.len()];
                    assert!(h.q.ack(l.id, l.token).is_err(), "a stale token acked");
                }
            }
            Op::Extend { pick } => {
                if !m.held.is_empty() {
                    let l = &m.held[pick % m.held.len()];
                    let _ = h.q.extend(l.id, l.token, LEASE);
                }
            }
            Op::Advance { ms } => h.clock.advance(ms as u64),
            Op::Reap => {
                h.q.reap_expired().unwrap();
            }
        }
        check_accounting(h, &m);
    }

    // Starvation freedom: keep leasing with a finite arrival set and bounded
    // attempts; every task must leave Pending (to Done or Dead).
    let bound = m.inserted.len() * 4 + 10;
    let mut choice = drain_choices.into_iter().cycle();
    for _ in 0..bound {
        h.clock.advance(h.cfg.backoff_max_ms + LEASE.as_millis() as u64);
        for q in QUEUES {
            while let Some(l) = h.lease(q) {
                if choice.next().unwrap_or(true) {
                    h.q.ack(l.id, l.token).unwrap();
                    *m.acked.entry(l.id).or_default() += 1;
                } else {
                    h.q.nack(l.id, l.token, "drain", Failure::Transient).unwrap();
                }
            }
        }
        let s = h.q.stats().unwrap().total;
        if s.pending + s.delayed + s.leased == 0 {
            check_accounting(h, &m);
            return;
        }
    }
    panic!("tasks still pending after {bound} rounds: {:?}", h.q.stats().unwrap().total);
}

fn cfg() -> QueueConfig {
    QueueConfig { backoff_base_ms: 50, backoff_max_ms: 400, ..Default::default() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn memory_backend_holds_the_invariants(
        ops in proptest::collection::vec(op(), 1..120),
        drain in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        run(&mut Harness::memory_with(cfg()), ops, drain);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn rocksdb_backend_holds_the_invariants(
        ops in proptest::collection::vec(op(), 1..120),
        drain in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        run(&mut Harness::rocksdb_with(cfg()), ops, drain);
    }

    /// The same, with a restart in the middle: recovery keeps every invariant.
    #[test]
    fn rocksdb_restart_keeps_the_invariants(
        before in proptest::collection::vec(op(), 1..60),
        after in proptest::collection::vec(op(), 1..60),
    ) {
        let mut h = Harness::rocksdb_with(cfg());
        // Leases end at reopen, so run the two halves as independent models over
        // one database: the drain of the second half must still finish everything.
        run_no_drain(&mut h, before);
        h.reopen();
        let s = h.q.stats().unwrap().total;
        prop_assert_eq!(s.leased, 0, "no lease survives a restart");
        run(&mut h, after, vec![true, false]);
    }
}

fn run_no_drain(h: &mut Harness, ops: Vec<Op>) {
    for op in ops {
        match op {
            Op::Enqueue { queue, block, subtask, priority, payload } => {
                h.q.enqueue_one(new_task(queue, block, subtask, priority, payload)).unwrap();
            }
            Op::Lease { queue } => {
                h.lease(QUEUES[queue as usize]);
            }
            Op::Advance { ms } => h.clock.advance(ms as u64),
            _ => {}
        }
    }
}
