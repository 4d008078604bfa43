//! Conformance suite for specs/queue.md, run against every backend (NATS
//! against a real `nats-server` the harness starts).
//! Each function is one behaviour; `suite!` instantiates it per backend.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Harness, LEASE, task};
use slotproof_queue::{Enqueued, Failure, NackOutcome, NewTask, QueueConfig, QueueError, StateFilter};

/// §2: priority class, then block, then subtask, then arrival.
fn order_follows_priority_block_subtask_arrival(h: &mut Harness) {
    let tasks = vec![
        task("q", 9, 0).with_priority(200),
        task("q", 5, 1),
        task("q", 7, 0),
        task("q", 5, 0),
        NewTask::new("q", 5, b"later arrival".to_vec()),
        task("q", 100, 0).with_priority(0),
    ];
    h.q.enqueue(tasks).unwrap();
    let got: Vec<(u8, u64, u32)> =
        std::iter::from_fn(|| h.lease("q")).map(|l| (l.priority, l.block_number, l.subtask)).collect();
    assert_eq!(got, vec![(0, 100, 0), (100, 5, 0), (100, 5, 0), (100, 5, 1), (100, 7, 0), (200, 9, 0)]);
}

/// §2: equal keys are served first-in first-out.
fn ties_are_fifo(h: &mut Harness) {
    let ids: Vec<_> = (0..5).map(|i| h.q.enqueue_one(NewTask::new("q", 1, vec![i])).unwrap().id()).collect();
    let got: Vec<_> = std::iter::from_fn(|| h.lease("q")).map(|l| l.id).collect();
    assert_eq!(got, ids);
}

/// §1: the same identity twice is a no-op, also once done.
fn duplicate_enqueue_is_a_noop(h: &mut Harness) {
    let t = task("q", 1, 0);
    let first = h.q.enqueue_one(t.clone()).unwrap();
    assert!(matches!(first, Enqueued::Inserted(_)));
    assert_eq!(h.q.enqueue_one(t.clone().with_priority(1)).unwrap(), Enqueued::Duplicate(first.id()));
    let l = h.must_lease("q");
    assert_eq!(h.q.enqueue_one(t.clone()).unwrap(), Enqueued::Duplicate(first.id()), "while leased");
    h.q.ack(l.id, l.token).unwrap();
    assert_eq!(h.q.enqueue_one(t).unwrap(), Enqueued::Duplicate(first.id()), "once done");
    assert!(h.lease("q").is_none());
    assert_eq!(h.q.stats().unwrap().total.done, 1);
}

/// §5: a stale token cannot ack, nack or extend; a task completes once.
fn stale_tokens_are_fenced(h: &mut Harness) {
    h.q.enqueue_one(task("q", 1, 0)).unwrap();
    let first = h.must_lease("q");
    h.clock.advance(LEASE.as_millis() as u64 + 1);
    assert_eq!(h.q.reap_expired().unwrap(), 1);
    h.clock.advance(h.cfg.backoff_max_ms);
    let second = h.must_lease("q");
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempt, 2);
    for r in [
        h.q.ack(first.id, first.token).map(|_| ()),
        h.q.nack(first.id, first.token, "late", Failure::Transient).map(|_| ()),
        h.q.extend(first.id, first.token, LEASE).map(|_| ()),
    ] {
        assert!(matches!(r, Err(QueueError::StaleLease { .. })), "{r:?}");
    }
    h.q.ack(second.id, second.token).unwrap();
    assert!(matches!(h.q.ack(second.id, second.token), Err(QueueError::StaleLease { .. })));
    assert_eq!(h.q.stats().unwrap().total.done, 1);
}

/// §4: nack backs off exponentially, then dead-letters at max_attempts.
fn nack_backs_off_then_dead_letters(h: &mut Harness) {
    let id = h.q.enqueue_one(task("q", 1, 0).with_max_attempts(3)).unwrap().id();
    let l = h.must_lease("q");
    let out = h.q.nack(l.id, l.token, "boom 1", Failure::Transient).unwrap();
    assert_eq!(out, NackOutcome::Retrying { attempts: 1, not_before_ms: h.clock_now() + h.cfg.backoff_base_ms });
    assert!(h.lease("q").is_none(), "not leasable while backing off");
    assert_eq!(h.q.stats().unwrap().total.delayed, 1);
    h.clock.advance(h.cfg.backoff_base_ms);
    let l = h.must_lease("q");
    assert_eq!(l.attempt, 2);
    let out = h.q.nack(l.id, l.token, "boom 2", Failure::Transient).unwrap();
    assert_eq!(out, NackOutcome::Retrying { attempts: 2, not_before_ms: h.clock_now() + 2 * h.cfg.backoff_base_ms });
    h.clock.advance(2 * h.cfg.backoff_base_ms);
    let l = h.must_lease("q");
    assert_eq!(h.q.nack(l.id, l.token, "boom 3", Failure::Transient).unwrap(), NackOutcome::Dead { attempts: 3 });
    h.clock.advance(h.cfg.backoff_max_ms);
    assert!(h.lease("q").is_none());
    let dead = h.q.view().unwrap().list(Some("q"), StateFilter::Dead, 10, h.clock_now());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].last_error.as_deref(), Some("boom 3"));
}

/// §4: a held failure waits the longer of its wait and the backoff, and still counts an attempt.
fn held_failure_waits_its_wait(h: &mut Harness) {
    h.q.enqueue_one(task("q", 1, 0)).unwrap();
    let l = h.must_lease("q");
    let out = h.q.nack(l.id, l.token, "refused", Failure::Hold(Duration::from_secs(60))).unwrap();
    assert_eq!(out, NackOutcome::Retrying { attempts: 1, not_before_ms: h.clock_now() + 60_000 });
    h.clock.advance(59_999);
    assert!(h.lease("q").is_none(), "held");
    h.clock.advance(1);
    let l = h.must_lease("q");
    let out = h.q.nack(l.id, l.token, "refused", Failure::Hold(Duration::ZERO)).unwrap();
    assert_eq!(out, NackOutcome::Retrying { attempts: 2, not_before_ms: h.clock_now() + 2 * h.cfg.backoff_base_ms });
}

/// §4: a permanent failure dead-letters at once.
fn permanent_failure_dead_letters_at_once(h: &mut Harness) {
    h.q.enqueue_one(task("q", 1, 0)).unwrap();
    let l = h.must_lease("q");
    assert_eq!(h.q.nack(l.id, l.token, "bad input", Failure::Permanent).unwrap(), NackOutcome::Dead { attempts: 1 });
    assert_eq!(h.q.stats().unwrap().total.dead, 1);
}

/// §5: an expired lease returns the task with the attempt counted.
fn expired_lease_returns_the_task(h: &mut Harness) {
    h.q.enqueue_one(task("q", 1, 0)).unwrap();
    let l = h.must_lease("q");
    h.clock.advance(LEASE.as_millis() as u64 - 1);
    assert_eq!(h.q.reap_expired().unwrap(), 0, "not yet expired");
    h.clock.advance(1);
    assert!(h.lease("q").is_none(), "expired, but backing off");
    let info = h.q.get(l.id).unwrap().unwrap();
    assert_eq!(info.attempts, 1);
    assert!(info.last_error.unwrap().contains("lease expired"));
    h.clock.advance(h.cfg.backoff_base_ms);
    assert_eq!(h.must_lease("q").attempt, 2);
}

/// §5: extend (heartbeat) keeps a lease alive past its first deadline.
fn extend_keeps_the_lease(h: &mut Harness) {
    h.q.enqueue_one(task("q", 1, 0)).unwrap();
    let l = h.must_lease("q");
    for _ in 0..3 {
        h.clock.advance(LEASE.as_millis() as u64 - 1);
        h.q.extend(l.id, l.token, LEASE).unwrap();
    }
    assert_eq!(h.q.reap_expired().unwrap(), 0);
    h.q.ack(l.id, l.token).unwrap();
}

/// §6: ack and the next stage's tasks are one step.
fn ack_and_enqueue_hands_off(h: &mut Harness) {
    h.q.enqueue_one(task("in", 1, 0)).unwrap();
    let l = h.must_lease("in");
    let next = vec![task("out", 1, 0), task("out", 1, 1)];
    let out = h.q.ack_and_enqueue(l.id, l.token, next).unwrap();
    assert!(out.iter().all(|e| matches!(e, Enqueued::Inserted(_))));
    let s = h.q.stats().unwrap();
    assert_eq!(s.queues["in"].done, 1);
    assert_eq!(s.queues["out"].pending, 2);
}

/// §6, §9: a hand-off with an invalid next task changes nothing.
fn invalid_handoff_changes_nothing(h: &mut Harness) {
    h.q.enqueue_one(task("in", 1, 0)).unwrap();
    let l = h.must_lease("in");
    let bad = vec![task("out", 1, 0), NewTask::new("bad name", 1, vec![])];
    assert!(matches!(h.q.ack_and_enqueue(l.id, l.token, bad), Err(QueueError::InvalidQueueName(_))));
    let s = h.q.stats().unwrap();
    assert_eq!(s.total.leased, 1);
    assert_eq!(s.total.done, 0);
    assert!(!s.queues.contains_key("out"));
    h.q.ack(l.id, l.token).unwrap();
}

/// §9: bad input is refused whole, with a typed error.
fn bad_input_is_refused(h: &mut Harness) {
    let big = NewTask::new("q", 1, vec![0; slotproof_queue::MAX_PAYLOAD_BYTES + 1]);
    assert!(matches!(h.q.enqueue(vec![task("q", 1, 0), big]), Err(QueueError::PayloadTooLarge { .. })));
    assert_eq!(h.q.stats().unwrap().total.live(), 0, "nothing of a refused batch is applied");
    let unknown = task("q", 2, 0).id();
    assert!(matches!(h.q.ack(unknown, 1), Err(QueueError::UnknownTask(_))));
    assert!(matches!(h.q.requeue(unknown), Err(QueueError::UnknownTask(_))));
}

/// §3: a dead task can be requeued, with attempts reset.
fn requeue_revives_dead_tasks(h: &mut Harness) {
    h.q.enqueue(vec![task("q", 1, 0), task("q", 2, 0)]).unwrap();
    for _ in 0..2 {
        let l = h.must_lease("q");
        h.q.nack(l.id, l.token, "bad", Failure::Permanent).unwrap();
    }
    let first_dead = h.q.view().unwrap().list(Some("q"), StateFilter::Dead, 1, h.clock_now())[0].id;
    h.q.requeue(first_dead).unwrap();
    assert!(matches!(h.q.requeue(first_dead), Err(QueueError::NotDead(_))));
    assert_eq!(h.q.requeue_dead(None).unwrap(), 1);
    let l = h.must_lease("q");
    assert_eq!(l.attempt, 1);
    assert_eq!(h.q.stats().unwrap().total.pending, 1);
}

/// §10: stats count each state per queue.
fn stats_count_each_state(h: &mut Harness) {
    h.q.enqueue((0..6).map(|b| task("a", b, 0)).collect()).unwrap();
    h.q.enqueue_one(task("b", 0, 0)).unwrap();
    let done = h.must_lease("a");
    h.q.ack(done.id, done.token).unwrap();
    let _leased = h.must_lease("a");
    let failing = h.must_lease("a");
    h.q.nack(failing.id, failing.token, "x", Failure::Transient).unwrap();
    let dying = h.must_lease("a");
    h.q.nack(dying.id, dying.token, "x", Failure::Permanent).unwrap();
    h.clock.advance(5);
    let s = h.q.stats().unwrap();
    let a = &s.queues["a"];
    assert_eq!((a.pending, a.delayed, a.leased, a.dead, a.done), (2, 1, 1, 1, 1));
    assert_eq!(a.oldest_pending_age_ms, Some(5));
    assert_eq!(s.queues["b"].pending, 1);
    assert_eq!(s.total.live(), 6);
}

/// §5: one block's live tasks of one queue come in lease order, bounded;
/// the counts taken under the lock are the view's.
fn block_tasks_and_stats_agree_with_the_view(h: &mut Harness) {
    h.q.enqueue(vec![task("a", 7, 1), task("a", 7, 0), task("a", 8, 0), task("b", 7, 0)]).unwrap();
    let first = h.must_lease("a");
    assert_eq!((first.block_number, first.subtask), (7, 0));
    h.q.nack(first.id, first.token, "x", Failure::Permanent).unwrap();
    let now = h.clock_now();
    let of_7: Vec<(u32, &str)> =
        h.q.block_tasks("a", 7, 64).unwrap().iter().map(|t| (t.subtask, t.state.label(now))).collect();
    assert_eq!(of_7, [(0, "dead"), (1, "pending")]);
    assert_eq!(h.q.block_tasks("a", 7, 1).unwrap().len(), 1, "bounded by the limit");
    assert!(h.q.block_tasks("a", 9, 64).unwrap().is_empty());
    assert_eq!(h.q.block_tasks("b", 7, 64).unwrap().len(), 1, "per queue");
    assert_eq!(h.q.stats().unwrap(), h.q.view().unwrap().stats(now));
}

/// §5: queues are independent.
fn queues_are_independent(h: &mut Harness) {
    h.q.enqueue(vec![task("a", 1, 0), task("b", 1, 0)]).unwrap();
    assert_eq!(h.must_lease("a").queue, "a");
    assert!(h.lease("a").is_none());
    assert_eq!(h.must_lease("b").queue, "b");
    assert!(h.lease("nothing-here").is_none());
}

/// §5: lease_wait is woken by an enqueue from another thread.
fn lease_wait_is_woken_by_enqueue(h: &mut Harness) {
    let q = Arc::new(std::mem::replace(&mut h.q, slotproof_queue::Queue::memory(QueueConfig::default())));
    let waiter = {
        let q = q.clone();
        thread::spawn(move || {
            let start = Instant::now();
            let l = q.lease_wait("q", "w", LEASE, Duration::from_secs(20)).unwrap();
            (l.map(|l| l.block_number), start.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(50));
    q.enqueue_one(task("q", 42, 0)).unwrap();
    let (got, waited) = waiter.join().unwrap();
    assert_eq!(got, Some(42));
    assert!(waited < Duration::from_secs(10), "woken by the enqueue, not the timeout");
    assert!(q.lease_wait("q", "w", LEASE, Duration::from_millis(20)).unwrap().is_none());
}

/// §6: several leases and the next tasks in one step; one stale lease refuses all.
fn ack_all_is_all_or_nothing(h: &mut Harness) {
    h.q.enqueue((0..3).map(|s| task("parts", 7, s)).collect()).unwrap();
    let leases: Vec<_> = (0..3).map(|_| h.must_lease("parts")).collect();
    let mut pairs: Vec<_> = leases.iter().map(|l| (l.id, l.token)).collect();
    pairs.push((leases[0].id, leases[0].token + 1));
    assert!(matches!(h.q.ack_all_and_enqueue(&pairs, vec![task("whole", 7, 0)]), Err(QueueError::StaleLease { .. })));
    assert_eq!(h.q.stats().unwrap().total.leased, 3, "nothing acked");
    pairs.pop();
    h.q.ack_all_and_enqueue(&pairs, vec![task("whole", 7, 0)]).unwrap();
    let s = h.q.stats().unwrap();
    assert_eq!((s.queues["parts"].done, s.queues["whole"].pending), (3, 1));
}

/// §12: cancelling a block dead-letters its tasks everywhere; a holder learns it.
fn cancel_block_reaches_pending_and_leased(h: &mut Harness) {
    h.q.enqueue(vec![task("a", 5, 0), task("a", 5, 1), task("b", 5, 0), task("a", 6, 0)]).unwrap();
    let held = h.must_lease("a");
    assert_eq!(held.block_number, 5);
    let failing = h.must_lease("b");
    h.q.nack(failing.id, failing.token, "x", Failure::Transient).unwrap();
    assert_eq!(h.q.cancel_block(&[], 5, "reorged out").unwrap(), 3);
    assert!(matches!(h.q.extend(held.id, held.token, LEASE), Err(QueueError::Cancelled { .. })));
    assert!(matches!(h.q.ack(held.id, held.token), Err(QueueError::Cancelled { .. })));
    h.clock.advance(h.cfg.backoff_max_ms);
    assert_eq!(h.must_lease("a").block_number, 6, "other blocks untouched");
    assert!(h.lease("b").is_none());
    let dead = h.q.view().unwrap().list(None, StateFilter::Dead, 10, h.clock_now());
    assert_eq!(dead.len(), 3);
    assert!(dead.iter().all(|t| t.last_error.as_deref() == Some("cancelled: reorged out")));
}

/// §5: a waiter on several queues is woken by any of them.
fn lease_wait_any_is_woken_by_any_queue(h: &mut Harness) {
    let q = Arc::new(std::mem::replace(&mut h.q, slotproof_queue::Queue::memory(QueueConfig::default())));
    let waiter = {
        let q = q.clone();
        thread::spawn(move || {
            let names = vec!["x".to_string(), "y".to_string()];
            let start = Instant::now();
            let l = q.lease_wait_any(&names, "w", LEASE, Duration::from_secs(20)).unwrap();
            (l.map(|l| l.queue), start.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(50));
    q.enqueue_one(task("y", 1, 0)).unwrap();
    let (got, waited) = waiter.join().unwrap();
    assert_eq!(got.as_deref(), Some("y"));
    assert!(waited < Duration::from_secs(10));
}

impl Harness {
    fn clock_now(&self) -> u64 {
        self.q.now_ms()
    }
}

/// §13: a done id is the dedupe window's: within the retention a second
/// enqueue is a no-op; past it the id is forgotten (completions prune a few
/// each), its done count goes, and the same task may be enqueued again.
fn done_ids_are_forgotten_after_the_retention(h: &mut Harness) {
    let retention = h.cfg.done_retention_ms;
    let old = h.q.enqueue_one(task("q", 1, 0)).unwrap().id();
    let l = h.must_lease("q");
    h.q.ack(l.id, l.token).unwrap();
    h.clock.advance(retention - 1);
    assert!(matches!(h.q.enqueue_one(task("q", 1, 0)).unwrap(), Enqueued::Duplicate(_)), "within the window");
    h.clock.advance(2);
    // Another completion prunes on write: the expired id goes with no timer.
    h.q.enqueue_one(task("q", 2, 0)).unwrap();
    let l = h.must_lease("q");
    h.q.ack(l.id, l.token).unwrap();
    assert!(!h.q.is_done(old).unwrap(), "forgotten past the window");
    assert_eq!(h.q.stats().unwrap().total.done, 1, "the done count follows");
    assert_eq!(h.q.done_len().unwrap(), 1);
    assert!(matches!(h.q.enqueue_one(task("q", 1, 0)).unwrap(), Enqueued::Inserted(_)), "may run again");
}

/// §13: pruning is bounded per step, oldest first, and (on RocksDB) what was
/// pruned stays pruned across a restart while what was not stays done.
fn done_pruning_is_bounded_and_survives_a_restart(h: &mut Harness) {
    let mut ids = Vec::new();
    for b in 0..5 {
        ids.push(h.q.enqueue_one(task("q", b, 0)).unwrap().id());
        let l = h.must_lease("q");
        h.q.ack(l.id, l.token).unwrap();
        h.clock.advance(1);
    }
    // Ids done at T0..T0+4; the cutoff falls between the third and the fourth.
    h.clock.advance(h.cfg.done_retention_ms - 2);
    assert_eq!(h.q.prune_done(2).unwrap(), 2, "at most two per step");
    assert_eq!(h.q.prune_done(100).unwrap(), 1, "only the expired ones");
    assert_eq!(h.q.prune_done(100).unwrap(), 0);
    if h.persistent() {
        h.reopen();
    }
    let done: Vec<bool> = ids.iter().map(|id| h.q.is_done(*id).unwrap()).collect();
    assert_eq!(done, [false, false, false, true, true]);
    assert_eq!(h.q.stats().unwrap().total.done, 2);
    assert!(matches!(h.q.enqueue_one(task("q", 4, 0)).unwrap(), Enqueued::Duplicate(_)));
    assert!(matches!(h.q.enqueue_one(task("q", 0, 0)).unwrap(), Enqueued::Inserted(_)));
}

/// §15: enqueues kept in flight are leasable at once, reach the store in
/// call order, and are all there after a reopen once waited for.
fn unwaited_enqueues_are_leasable_and_durable_once_waited(h: &mut Harness) {
    let mut pending = Vec::new();
    for b in 0..40u64 {
        let (out, written) = h.q.enqueue_unwaited(vec![task("q", b, 0)]).unwrap();
        assert!(matches!(out[..], [Enqueued::Inserted(_)]));
        pending.push(written);
    }
    let (dup, written) = h.q.enqueue_unwaited(vec![task("q", 3, 0)]).unwrap();
    assert!(matches!(dup[..], [Enqueued::Duplicate(_)]));
    pending.push(written);
    let first = h.must_lease("q");
    assert_eq!(first.block_number, 0);
    h.q.ack(first.id, first.token).unwrap();
    for w in pending {
        w.wait().unwrap();
    }
    if h.persistent() {
        h.reopen();
    }
    let stats = h.q.stats().unwrap();
    assert_eq!((stats.total.pending, stats.total.done), (39, 1));
    assert_eq!(h.must_lease("q").block_number, 1);
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $name() { super::$name(&mut super::Harness::memory()) } )*
        }
        mod rocksdb {
            $( #[test] fn $name() { super::$name(&mut super::Harness::rocksdb()) } )*
        }
        mod nats {
            $( #[test] fn $name() { super::$name(&mut super::Harness::nats()) } )*
        }
        mod rocksdb_power {
            $( #[test] fn $name() {
                let cfg = slotproof_queue::QueueConfig { durability: slotproof_queue::Durability::Power, ..Default::default() };
                super::$name(&mut super::Harness::rocksdb_with(cfg))
            } )*
        }
    };
}

suite!(
    unwaited_enqueues_are_leasable_and_durable_once_waited,
    order_follows_priority_block_subtask_arrival,
    ties_are_fifo,
    duplicate_enqueue_is_a_noop,
    stale_tokens_are_fenced,
    nack_backs_off_then_dead_letters,
    permanent_failure_dead_letters_at_once,
    expired_lease_returns_the_task,
    extend_keeps_the_lease,
    ack_and_enqueue_hands_off,
    invalid_handoff_changes_nothing,
    bad_input_is_refused,
    requeue_revives_dead_tasks,
    stats_count_each_state,
    block_tasks_and_stats_agree_with_the_view,
    queues_are_independent,
    lease_wait_is_woken_by_enqueue,
    ack_all_is_all_or_nothing,
    cancel_block_reaches_pending_and_leased,
    lease_wait_any_is_woken_by_any_queue,
    held_failure_waits_its_wait,
    done_ids_are_forgotten_after_the_retention,
    done_pruning_is_bounded_and_survives_a_restart,
);
