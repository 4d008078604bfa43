//! `Queue`: the handle every stage uses, over either backend (specs/queue.md).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::config::QueueConfig;
use crate::error::{QueueError, Result};
use crate::id::TaskId;
use crate::rocks;
use crate::state::{Changes, State};
use crate::store::{MemoryStore, Store};
use crate::task::{Enqueued, Failure, Lease, NackOutcome, NewTask, TaskInfo};
use crate::view::{QueueStats, QueueView};

/// A durable ordered task queue. Cheap to share: all methods take `&self`.
pub struct Queue {
    state: Mutex<State>,
    store: Box<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Queue {
    /// The in-memory backend: fast, nothing survives the process.
    pub fn memory(cfg: QueueConfig) -> Queue {
        Self::memory_with_clock(cfg, Arc::new(SystemClock))
    }

    pub fn memory_with_clock(cfg: QueueConfig, clock: Arc<dyn Clock>) -> Queue {
        Queue { state: Mutex::new(State::new(cfg)), store: Box::new(MemoryStore), clock }
    }

    /// The RocksDB backend at `path`, created if missing (specs/queue.md §7, §8).
    pub fn open_rocksdb(path: &Path, cfg: QueueConfig) -> Result<Queue> {
        Self::open_rocksdb_with_clock(path, cfg, Arc::new(SystemClock))
    }

    pub fn open_rocksdb_with_clock(path: &Path, cfg: QueueConfig, clock: Arc<dyn Clock>) -> Result<Queue> {
        let now = clock.now_ms();
        let (state, store) = rocks::open_writer(path, cfg, now)?;
        Ok(Queue { state: Mutex::new(state), store: Box::new(store), clock })
    }

    /// The NATS JetStream backend (specs/queue.md §15): the queue's log lives in
    /// a stream on the server; this process is its one writer until another opens it.
    pub fn open_nats(target: &crate::nats::NatsTarget, cfg: QueueConfig) -> Result<Queue> {
        Self::open_nats_with_clock(target, cfg, Arc::new(SystemClock))
    }

    pub fn open_nats_with_clock(
        target: &crate::nats::NatsTarget,
        cfg: QueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Queue> {
        let now = clock.now_ms();
        let (state, store) = crate::nats::open_writer(target, cfg, now)?;
        Ok(Queue { state: Mutex::new(state), store: Box::new(store), clock })
    }

    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    pub fn config(&self) -> Result<QueueConfig> {
        Ok(self.lock()?.config().clone())
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| QueueError::LockPoisoned("queue lock"))
    }

    /// Runs one mutation under the lock, then waits for its writes outside it.
    fn mutate<R>(&self, f: impl FnOnce(&mut State, u64, &mut Changes) -> R) -> Result<R> {
        let (out, written) = self.mutate_unwaited(f)?;
        written.wait()?;
        Ok(out)
    }

    /// Runs one mutation under the lock and hands its writes to the store
    /// without waiting for them.
    fn mutate_unwaited<R>(&self, f: impl FnOnce(&mut State, u64, &mut Changes) -> R) -> Result<(R, Written<'_>)> {
        let mut state = self.lock()?;
        self.store.healthy()?;
        let mut changes = Changes::new(self.store.persists());
        let out = f(&mut state, self.clock.now_ms(), &mut changes);
        let ticket = if changes.ops.is_empty() { None } else { self.store.submit(changes) };
        drop(state);
        Ok((out, Written { queue: self, ticket }))
    }

    /// Enqueues tasks; all are validated first, so either all are applied or none.
    pub fn enqueue(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        self.mutate(|s, now, ch| s.enqueue(tasks, now, ch))?
    }

    /// `enqueue` without waiting for the write: the tasks are in the queue
    /// (leasable) at once, and durable once `Written::wait` returns. For a
    /// producer that keeps several enqueues in flight instead of waiting a
    /// round trip for each (the NATS backend, specs/queue.md §15). Writes
    /// reach the store in call order either way.
    pub fn enqueue_unwaited(&self, tasks: Vec<NewTask>) -> Result<(Vec<Enqueued>, Written<'_>)> {
        let (out, written) = self.mutate_unwaited(|s, now, ch| s.enqueue(tasks, now, ch))?;
        Ok((out?, written))
    }

    pub fn enqueue_one(&self, task: NewTask) -> Result<Enqueued> {
        self.mutate(|s, now, ch| s.enqueue_one(task, now, ch))?
    }

    /// Leases the first ready task of `queue`, if any (specs/queue.md §5).
    pub fn lease(&self, queue: &str, worker: &str, lease_for: Duration) -> Result<Option<Lease>> {
        self.mutate(|s, now, ch| s.lease(queue, worker, lease_for.as_millis() as u64, now, ch))
    }

    /// Like `lease`, but waits up to `wait` for a task to become ready. Woken by
    /// enqueue, nack and requeue notifications; sleeps until the next backoff or
    /// lease deadline otherwise.
    pub fn lease_wait(&self, queue: &str, worker: &str, lease_for: Duration, wait: Duration) -> Result<Option<Lease>> {
        self.lease_wait_upto(queue, worker, lease_for, wait, &|| None)
    }

    /// Like `lease_wait`, but only leases a task whose block is at most
    /// `max_block()`, evaluated on every try (a sequential pipeline's sink stage
    /// waits for the lowest open block). Pair with `wake` when the bound moves.
    pub fn lease_wait_upto(
        &self,
        queue: &str,
        worker: &str,
        lease_for: Duration,
        wait: Duration,
        max_block: &dyn Fn() -> Option<u64>,
    ) -> Result<Option<Lease>> {
        let give_up = Instant::now() + wait;
        let mut state = self.lock()?;
        loop {
            self.store.healthy()?;
            let mut changes = Changes::new(self.store.persists());
            let now = self.clock.now_ms();
            let bound = max_block();
            let leased = state.lease_upto(queue, worker, lease_for.as_millis() as u64, bound, now, &mut changes);
            if leased.is_some() || !changes.ops.is_empty() {
                let ticket = if changes.ops.is_empty() { None } else { self.store.submit(changes) };
                drop(state);
                if let Some(ticket) = ticket {
                    self.store.wait(ticket)?;
                }
                if leased.is_some() {
                    return Ok(leased);
                }
                state = self.lock()?;
                continue;
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let until_due = state.next_due_ms(queue).map(|due| Duration::from_millis(due.saturating_sub(now).max(1)));
            let sleep = until_due.map_or(left, |d| d.min(left));
            let wake = state.register_waiter(queue);
            state = wake.wait_timeout(state, sleep).map_err(|_| QueueError::LockPoisoned("queue lock"))?.0;
            state.unregister_waiter(queue);
        }
    }

    /// Heartbeat: moves the lease deadline to now + `lease_for`. Returns the new deadline.
    pub fn extend(&self, id: TaskId, token: u64, lease_for: Duration) -> Result<u64> {
        self.mutate(|s, now, ch| s.extend(id, token, lease_for.as_millis() as u64, now, ch))?
    }

    pub fn ack(&self, id: TaskId, token: u64) -> Result<()> {
        self.ack_and_enqueue(id, token, Vec::new()).map(|_| ())
    }

    /// Acks and enqueues the next stage's tasks in one atomic write (specs/queue.md §6).
    pub fn ack_and_enqueue(&self, id: TaskId, token: u64, next: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        self.ack_all_and_enqueue(&[(id, token)], next)
    }

    /// Acks several leases and enqueues `next` in one atomic write: how a
    /// collector closes a group (specs/queue.md §6). All or nothing.
    pub fn ack_all_and_enqueue(&self, leases: &[(TaskId, u64)], next: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        self.ack_all_enqueue_and_mark(leases, next, &[])
    }

    /// As `ack_all_and_enqueue`, and records `markers` as done ids in the same
    /// write: a collector marks a group emitted so that it never emits it twice,
    /// even across a crash (`is_done(marker)` answers "already emitted?").
    pub fn ack_all_enqueue_and_mark(
        &self,
        leases: &[(TaskId, u64)],
        next: Vec<NewTask>,
        markers: &[TaskId],
    ) -> Result<Vec<Enqueued>> {
        self.mutate(|s, now, ch| s.ack(leases, next, markers, now, ch))?
    }

    /// Wakes every thread waiting on `queue` (also `lease_wait_any` waiters).
    pub fn wake(&self, queue: &str) -> Result<()> {
        self.lock()?.wake(queue);
        Ok(())
    }

    /// Dead-letters every unfinished task of `block` in `queues` (all when empty),
    /// with the error `cancelled: <reason>`. Returns how many were cancelled.
    pub fn cancel_block(&self, queues: &[String], block: u64, reason: &str) -> Result<usize> {
        self.mutate(|s, _, ch| s.cancel_block(queues, block, reason, ch))
    }

    /// Leases from the first of `queues` (in the order given) that has a ready
    /// task, waiting up to `wait` for one: for stages that read several queues.
    pub fn lease_wait_any(
        &self,
        queues: &[String],
        worker: &str,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<Lease>> {
        let give_up = Instant::now() + wait;
        loop {
            for q in queues {
                if let Some(l) = self.lease(q, worker, lease_for)? {
                    return Ok(Some(l));
                }
            }
            let state = self.lock()?;
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let now = self.clock.now_ms();
            let due = queues.iter().filter_map(|q| state.next_due_ms(q)).min();
            let sleep = due.map_or(left, |d| Duration::from_millis(d.saturating_sub(now).max(1)).min(left));
            let any = state.any_wake();
            any.waiters.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // A task that arrived between our leases and here was notified before we
            // registered: recheck readiness under the lock before sleeping.
            let ready_now = queues.iter().any(|q| state.has_ready(q));
            let result = if ready_now { Ok(state) } else { any.cv.wait_timeout(state, sleep).map(|(g, _)| g) };
            any.waiters.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            drop(result.map_err(|_| QueueError::LockPoisoned("queue lock"))?);
        }
    }

    pub fn nack(&self, id: TaskId, token: u64, error: &str, failure: Failure) -> Result<NackOutcome> {
        self.mutate(|s, now, ch| s.nack(id, token, error, failure, now, ch))?
    }

    /// Returns every expired lease to Pending (or Dead); returns how many ended.
    pub fn reap_expired(&self) -> Result<usize> {
        self.mutate(|s, now, ch| s.reap_expired(now, ch))
    }

    pub fn requeue(&self, id: TaskId) -> Result<()> {
        self.mutate(|s, _, ch| s.requeue(id, ch))?
    }

    /// Requeues every dead task (of one queue, or all); returns how many.
    pub fn requeue_dead(&self, queue: Option<&str>) -> Result<usize> {
        self.mutate(|s, _, ch| {
            let ids = s.dead_ids(queue);
            for id in &ids {
                s.requeue(*id, ch)?;
            }
            Ok(ids.len())
        })?
    }

    pub fn get(&self, id: TaskId) -> Result<Option<TaskInfo>> {
        Ok(self.lock()?.get(id))
    }

    /// Whether any of `queues` holds a dead-lettered task of `block`.
    pub fn has_dead(&self, queues: &[String], block: u64) -> Result<bool> {
        Ok(self.lock()?.has_dead(queues, block))
    }

    /// Forgets at most `max` done ids older than the retention, oldest first
    /// (specs/queue.md §13); returns how many. Completions already prune a few
    /// each; this is for a timer, or to drain a backlog after a restart.
    pub fn prune_done(&self, max: usize) -> Result<usize> {
        self.mutate(|s, now, ch| s.prune_done(now, max, ch))
    }

    /// Every live (not done) task with its payload: for a caller marking the
    /// blobs that payloads refer to (specs/queue.md §14).
    pub fn live_payloads(&self) -> Result<Vec<(TaskInfo, Arc<[u8]>)>> {
        Ok(self.lock()?.live_payloads())
    }

    /// How many done ids the queue remembers now (the dedupe window's size).
    pub fn done_len(&self) -> Result<usize> {
        Ok(self.lock()?.done_len())
    }

    pub fn is_done(&self, id: TaskId) -> Result<bool> {
        Ok(self.lock()?.is_done(id))
    }

    /// A snapshot of every live task and the done counts.
    pub fn view(&self) -> Result<QueueView> {
        Ok(self.lock()?.view())
    }

    /// Counts by queue and state, taken under the lock without copying the tasks.
    pub fn stats(&self) -> Result<QueueStats> {
        let now = self.clock.now_ms();
        Ok(self.lock()?.stats(now))
    }

    /// The live tasks of block `block` in `queue`, in lease order, at most `limit`.
    pub fn block_tasks(&self, queue: &str, block: u64, limit: usize) -> Result<Vec<TaskInfo>> {
        Ok(self.lock()?.block_tasks(queue, block, limit))
    }
}

/// Writes handed to the store and not yet waited for (`Queue::enqueue_unwaited`).
#[must_use = "the write is durable only once waited for"]
pub struct Written<'a> {
    queue: &'a Queue,
    ticket: Option<u64>,
}

impl Written<'_> {
    /// Returns once the writes are as durable as a plain call's (specs/queue.md §7).
    pub fn wait(self) -> Result<()> {
        match self.ticket {
            Some(ticket) => self.queue.store.wait(ticket),
            None => Ok(()),
        }
    }
}
