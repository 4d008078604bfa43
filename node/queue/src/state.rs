//! The queue's state machine (specs/queue.md §3–§6), shared by both backends.
//!
//! It owns every live task and the in-memory indexes (ready order, backoff,
//! lease deadlines). Each mutation records the store writes it implies in a
//! `Changes`; the RocksDB backend commits them in order, the in-memory backend
//! drops them. It never does I/O itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar};

use crate::codec::{self, LeaseRecord};
use crate::config::QueueConfig;
use crate::done::{DoneMark, DoneSet};
use crate::error::{QueueError, Result};
use crate::id::TaskId;
use crate::task::{Enqueued, Failure, Lease, NackOutcome, NewTask, OrderKey, TaskInfo, TaskState};
use crate::view::{QueueStats, QueueView};

/// Column families of the RocksDB layout (specs/queue.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cf {
    Meta,
    Tasks,
    Payloads,
    Leases,
    Done,
}

impl Cf {
    pub(crate) const ALL: [Cf; 5] = [Cf::Meta, Cf::Tasks, Cf::Payloads, Cf::Leases, Cf::Done];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Tasks => "tasks",
            Cf::Payloads => "payloads",
            Cf::Leases => "leases",
            Cf::Done => "done",
        }
    }
}

pub(crate) const META_SCHEMA: &[u8] = b"schema_version";
pub(crate) const META_EPOCH: &[u8] = b"epoch";

pub(crate) enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
}

/// Store writes implied by one operation.
pub(crate) struct Changes {
    /// False for the in-memory backend: nothing is encoded.
    persist: bool,
    pub(crate) ops: Vec<Op>,
    /// True when the writes move work and must be fsynced in `power` mode.
    pub(crate) must_sync: bool,
}

impl Changes {
    pub(crate) fn new(persist: bool) -> Self {
        Changes { persist, ops: Vec::new(), must_sync: false }
    }

    fn put(&mut self, cf: Cf, key: &[u8], value: impl FnOnce() -> Vec<u8>) {
        if self.persist {
            self.ops.push(Op::Put(cf, key.to_vec(), value()));
        }
    }

    fn delete(&mut self, cf: Cf, key: &[u8]) {
        if self.persist {
            self.ops.push(Op::Delete(cf, key.to_vec()));
        }
    }
}

struct LiveTask {
    info: TaskInfo,
    payload: Arc<[u8]>,
}

/// Wakes threads waiting on several queues at once (`lease_wait_any`).
#[derive(Default)]
pub(crate) struct AnyWake {
    pub(crate) cv: Condvar,
    pub(crate) waiters: AtomicUsize,
}

/// Prefix of the last error of a task dead-lettered by `cancel_block`.
pub const CANCELLED_PREFIX: &str = "cancelled: ";

#[derive(Default)]
struct QueueIndex {
    ready: BTreeMap<OrderKey, TaskId>,
    /// Backing off: (not_before_ms, seq).
    delayed: BTreeMap<(u64, u64), TaskId>,
    /// Held: (deadline_ms, token).
    leases: BTreeMap<(u64, u64), TaskId>,
    done: u64,
    /// Woken on every change that may make a task leasable.
    wake: Arc<Condvar>,
    /// Threads blocked in `lease_wait` on this queue: notify only when some are,
    /// since a notify is a syscall even with nobody waiting.
    waiters: usize,
    any: Arc<AnyWake>,
    /// Dead tasks per block: lets a pipeline ask "did this block fail here?" cheaply.
    dead_by_block: BTreeMap<u64, u32>,
}

impl QueueIndex {
    fn add_dead(&mut self, block: u64) {
        *self.dead_by_block.entry(block).or_default() += 1;
    }

    fn remove_dead(&mut self, block: u64) {
        if let Some(n) = self.dead_by_block.get_mut(&block) {
            *n -= 1;
            if *n == 0 {
                self.dead_by_block.remove(&block);
            }
        }
    }

    fn notify(&self) {
        if self.waiters > 0 {
            self.wake.notify_one();
        }
        if self.any.waiters.load(Ordering::SeqCst) > 0 {
            self.any.cv.notify_all();
        }
    }
}

pub(crate) struct State {
    cfg: QueueConfig,
    tasks: HashMap<TaskId, LiveTask>,
    queues: BTreeMap<String, QueueIndex>,
    done: DoneSet,
    next_seq: u64,
    epoch: u64,
    token_counter: u64,
    any: Arc<AnyWake>,
    /// The largest payload the store can hold in one record.
    max_payload: usize,
}

const TOKEN_COUNTER_BITS: u32 = 40;
/// Expired done ids forgotten per completion: more than one, so a backlog
/// (after a retention change or a long stop) drains as work goes on.
const PRUNE_PER_WRITE: usize = 8;

impl State {
    pub(crate) fn new(cfg: QueueConfig) -> Self {
        State {
            cfg,
            tasks: HashMap::new(),
            queues: BTreeMap::new(),
            done: DoneSet::default(),
            next_seq: 0,
            epoch: 0,
            token_counter: 0,
            any: Arc::default(),
            max_payload: crate::task::MAX_PAYLOAD_BYTES,
        }
    }

    /// Lowers the payload limit to what the store can write in one record.
    pub(crate) fn limit_payload(&mut self, max_payload: usize) {
        self.max_payload = max_payload.min(crate::task::MAX_PAYLOAD_BYTES);
    }

    pub(crate) fn any_wake(&self) -> Arc<AnyWake> {
        self.any.clone()
    }

    /// The index of `queue`, created on first use.
    fn index(&mut self, queue: &str) -> &mut QueueIndex {
        if !self.queues.contains_key(queue) {
            let q = QueueIndex { any: self.any.clone(), ..QueueIndex::default() };
            self.queues.insert(queue.to_string(), q);
        }
        self.queues.get_mut(queue).expect("inserted above")
    }

    pub(crate) fn config(&self) -> &QueueConfig {
        &self.cfg
    }

    /// Rebuilds the state from stored records (the RocksDB backend at open).
    /// Leases are kept as recorded; `recover_leases` ends them.
    pub(crate) fn restore(
        &mut self,
        epoch: u64,
        tasks: Vec<(TaskInfo, Arc<[u8]>)>,
        done: Vec<(TaskId, DoneMark)>,
        done_counts: BTreeMap<String, u64>,
    ) {
        self.epoch = epoch;
        self.done = DoneSet::from_marks(done);
        for (queue, n) in done_counts {
            self.index(&queue).done = n;
        }
        for (info, payload) in tasks {
            let q = self.index(&info.queue);
            match &info.state {
                TaskState::Pending { not_before_ms } if *not_before_ms > 0 => {
                    q.delayed.insert((*not_before_ms, info.seq), info.id);
                }
                TaskState::Pending { .. } => {
                    q.ready.insert(info.order_key(), info.id);
                }
                TaskState::Leased { token, deadline_ms, .. } => {
                    q.leases.insert((*deadline_ms, *token), info.id);
                }
                TaskState::Dead => q.add_dead(info.block_number),
            }
            // Arrival order only breaks ties among live tasks: continue after the highest.
            self.next_seq = self.next_seq.max(info.seq + 1);
            self.tasks.insert(info.id, LiveTask { info, payload });
        }
    }

    /// Ends every lease recorded by an earlier process (specs/queue.md §7).
    pub(crate) fn recover_leases(&mut self, now_ms: u64, ch: &mut Changes) -> usize {
        let held: Vec<TaskId> =
            self.queues.values_mut().flat_map(|q| std::mem::take(&mut q.leases).into_values()).collect();
        for id in &held {
            self.end_attempt(*id, "lease lost: node restarted".to_string(), Failure::Transient, now_ms, ch);
        }
        held.len()
    }

    /// Registers a waiter on `queue` and returns what to wait on; pair with `unregister_waiter`.
    pub(crate) fn register_waiter(&mut self, queue: &str) -> Arc<Condvar> {
        let q = self.index(queue);
        q.waiters += 1;
        q.wake.clone()
    }

    pub(crate) fn unregister_waiter(&mut self, queue: &str) {
        if let Some(q) = self.queues.get_mut(queue) {
            q.waiters = q.waiters.saturating_sub(1);
        }
    }

    fn next_token(&mut self) -> u64 {
        self.token_counter += 1;
        (self.epoch << TOKEN_COUNTER_BITS) | (self.token_counter & ((1 << TOKEN_COUNTER_BITS) - 1))
    }

    /// Enqueues all tasks or none: every task is validated before any is applied.
    pub(crate) fn enqueue(&mut self, tasks: Vec<NewTask>, now_ms: u64, ch: &mut Changes) -> Result<Vec<Enqueued>> {
        for t in &tasks {
            t.validate_within(self.max_payload)?;
        }
        Ok(tasks.into_iter().map(|t| self.insert(t, now_ms, ch)).collect())
    }

    pub(crate) fn enqueue_one(&mut self, task: NewTask, now_ms: u64, ch: &mut Changes) -> Result<Enqueued> {
        task.validate_within(self.max_payload)?;
        Ok(self.insert(task, now_ms, ch))
    }

    /// Inserts one validated task, or reports it a duplicate (specs/queue.md §1).
    fn insert(&mut self, t: NewTask, now_ms: u64, ch: &mut Changes) -> Enqueued {
        let id = t.id();
        if self.tasks.contains_key(&id) || self.done.contains(&id) {
            return Enqueued::Duplicate(id);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let info = TaskInfo {
            id,
            queue: t.queue,
            pipeline: t.pipeline,
            stage: t.stage,
            block_number: t.block_number,
            subtask: t.subtask,
            target: t.target,
            priority: t.priority,
            seq,
            attempts: 0,
            max_attempts: t.max_attempts.unwrap_or(self.cfg.max_attempts).max(1),
            enqueued_at_ms: now_ms,
            payload_len: t.payload.len() as u32,
            state: TaskState::Pending { not_before_ms: 0 },
            last_error: None,
        };
        ch.put(Cf::Tasks, &id.0, || codec::encode_task(&info));
        ch.put(Cf::Payloads, &id.0, || t.payload.clone());
        ch.must_sync = true;
        let q = self.index(&info.queue);
        q.ready.insert(info.order_key(), id);
        q.notify();
        self.tasks.insert(id, LiveTask { info, payload: t.payload.into() });
        Enqueued::Inserted(id)
    }

    /// Moves due backoffs to ready and ends expired leases of one queue.
    fn tick(&mut self, queue: &str, now_ms: u64, ch: &mut Changes) {
        let Some(q) = self.queues.get_mut(queue) else { return };
        let mut expired = Vec::new();
        while let Some(entry) = q.leases.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            expired.push(entry.remove());
        }
        while let Some(entry) = q.delayed.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let id = entry.remove();
            if let Some(t) = self.tasks.get_mut(&id) {
                t.info.state = TaskState::Pending { not_before_ms: 0 };
                q.ready.insert(t.info.order_key(), id);
            }
        }
        for id in expired {
            let worker = match self.tasks.get(&id).map(|t| &t.info.state) {
                Some(TaskState::Leased { worker, .. }) => worker.clone(),
                _ => continue,
            };
            let msg = format!("lease expired: worker {worker} did not ack or extend in time");
            self.end_attempt(id, msg, Failure::Transient, now_ms, ch);
        }
    }

    pub(crate) fn reap_expired(&mut self, now_ms: u64, ch: &mut Changes) -> usize {
        let names: Vec<String> = self.queues.keys().cloned().collect();
        let leased_before = self.leased_count();
        for name in names {
            self.tick(&name, now_ms, ch);
        }
        leased_before - self.leased_count()
    }

    fn leased_count(&self) -> usize {
        self.queues.values().map(|q| q.leases.len()).sum()
    }

    pub(crate) fn lease(
        &mut self,
        queue: &str,
        worker: &str,
        lease_ms: u64,
        now_ms: u64,
        ch: &mut Changes,
    ) -> Option<Lease> {
        self.lease_upto(queue, worker, lease_ms, None, now_ms, ch)
    }

    /// Leases the first ready task, if its block is at most `max_block`.
    pub(crate) fn lease_upto(
        &mut self,
        queue: &str,
        worker: &str,
        lease_ms: u64,
        max_block: Option<u64>,
        now_ms: u64,
        ch: &mut Changes,
    ) -> Option<Lease> {
        self.tick(queue, now_ms, ch);
        let q = self.queues.get_mut(queue)?;
        if let (Some(max), Some((key, _))) = (max_block, q.ready.first_key_value())
            && key.block_number > max
        {
            return None;
        }
        let token = self.next_token();
        let q = self.queues.get_mut(queue)?;
        let (_, id) = q.ready.pop_first()?;
        let deadline_ms = now_ms.saturating_add(lease_ms);
        q.leases.insert((deadline_ms, token), id);
        if !q.ready.is_empty() {
            // Pass the wake-up on, in case ours consumed a notification meant for another waiter.
            q.notify();
        }
        let t = self.tasks.get_mut(&id)?;
        t.info.state = TaskState::Leased { worker: worker.to_string(), token, deadline_ms };
        ch.put(Cf::Leases, &id.0, || {
            codec::encode_lease(&LeaseRecord { token, deadline_ms, worker: worker.to_string() })
        });
        let i = &t.info;
        Some(Lease {
            id,
            token,
            queue: i.queue.clone(),
            pipeline: i.pipeline.clone(),
            stage: i.stage.clone(),
            block_number: i.block_number,
            subtask: i.subtask,
            target: i.target.clone(),
            priority: i.priority,
            payload: t.payload.clone(),
            attempt: i.attempts + 1,
            max_attempts: i.max_attempts,
            enqueued_at_ms: i.enqueued_at_ms,
            deadline_ms,
        })
    }

    /// Wakes every thread waiting on `queue`, e.g. when a condition outside the
    /// queue (a block finishing, shutdown) changes what they may lease.
    pub(crate) fn wake(&self, queue: &str) {
        if let Some(q) = self.queues.get(queue) {
            q.wake.notify_all();
        }
        self.any.cv.notify_all();
    }

    /// Whether any of `queues` holds a dead task of `block`.
    pub(crate) fn has_dead(&self, queues: &[String], block: u64) -> bool {
        queues.iter().any(|q| self.queues.get(q).is_some_and(|i| i.dead_by_block.contains_key(&block)))
    }

    pub(crate) fn has_ready(&self, queue: &str) -> bool {
        self.queues.get(queue).is_some_and(|q| !q.ready.is_empty())
    }

    /// When the next backoff or lease deadline of `queue` falls due.
    pub(crate) fn next_due_ms(&self, queue: &str) -> Option<u64> {
        let q = self.queues.get(queue)?;
        let a = q.delayed.first_key_value().map(|(k, _)| k.0);
        let b = q.leases.first_key_value().map(|(k, _)| k.0);
        a.into_iter().chain(b).min()
    }

    /// Checks that `token` is the task's current lease; returns its deadline.
    fn current_lease(&self, id: TaskId, token: u64) -> Result<u64> {
        let Some(t) = self.tasks.get(&id) else {
            return Err(if self.done.contains(&id) {
                QueueError::StaleLease { id, token }
            } else {
                QueueError::UnknownTask(id)
            });
        };
        match &t.info.state {
            TaskState::Leased { token: current, deadline_ms, .. } if *current == token => Ok(*deadline_ms),
            TaskState::Dead => match t.info.last_error.as_deref().and_then(|e| e.strip_prefix(CANCELLED_PREFIX)) {
                Some(reason) => Err(QueueError::Cancelled { id, reason: reason.to_string() }),
                None => Err(QueueError::StaleLease { id, token }),
            },
            _ => Err(QueueError::StaleLease { id, token }),
        }
    }

    pub(crate) fn extend(
        &mut self,
        id: TaskId,
        token: u64,
        lease_ms: u64,
        now_ms: u64,
        ch: &mut Changes,
    ) -> Result<u64> {
        let old_deadline = self.current_lease(id, token)?;
        let deadline_ms = now_ms.saturating_add(lease_ms);
        let Some(t) = self.tasks.get_mut(&id) else { return Err(QueueError::UnknownTask(id)) };
        let q = self.queues.get_mut(&t.info.queue).ok_or(QueueError::UnknownTask(id))?;
        q.leases.remove(&(old_deadline, token));
        q.leases.insert((deadline_ms, token), id);
        if let TaskState::Leased { deadline_ms: d, worker, .. } = &mut t.info.state {
            *d = deadline_ms;
            let worker = worker.clone();
            ch.put(Cf::Leases, &id.0, || codec::encode_lease(&LeaseRecord { token, deadline_ms, worker }));
        }
        Ok(deadline_ms)
    }

    /// Acks leased tasks and enqueues `next` in the same change set (specs/queue.md §6).
    /// Every lease and every next task is checked before anything changes.
    pub(crate) fn ack(
        &mut self,
        leases: &[(TaskId, u64)],
        next: Vec<NewTask>,
        markers: &[TaskId],
        now_ms: u64,
        ch: &mut Changes,
    ) -> Result<Vec<Enqueued>> {
        let mut deadlines = Vec::with_capacity(leases.len());
        for (i, &(id, token)) in leases.iter().enumerate() {
            if leases[..i].iter().any(|(other, _)| *other == id) {
                return Err(QueueError::StaleLease { id, token });
            }
            deadlines.push(self.current_lease(id, token)?);
        }
        for t in &next {
            t.validate_within(self.max_payload)?;
        }
        for (&(id, token), deadline) in leases.iter().zip(deadlines) {
            self.complete(id, token, deadline, now_ms, ch);
        }
        for m in markers {
            if self.done.insert(*m, DoneMark { at_ms: now_ms, queue: String::new() }) {
                ch.put(Cf::Done, &m.0, || codec::encode_done(now_ms, ""));
                ch.must_sync = true;
            }
        }
        self.enqueue(next, now_ms, ch)
    }

    fn complete(&mut self, id: TaskId, token: u64, deadline: u64, now_ms: u64, ch: &mut Changes) {
        let Some(t) = self.tasks.remove(&id) else { return };
        let queue = t.info.queue;
        let q = self.index(&queue);
        q.leases.remove(&(deadline, token));
        q.done += 1;
        ch.delete(Cf::Tasks, &id.0);
        ch.delete(Cf::Payloads, &id.0);
        ch.delete(Cf::Leases, &id.0);
        ch.put(Cf::Done, &id.0, || codec::encode_done(now_ms, &queue));
        ch.must_sync = true;
        self.done.insert(id, DoneMark { at_ms: now_ms, queue });
        // Pruning on write: each completion forgets a few expired ids, more
        // than it adds, so the set shrinks to the window without a timer.
        self.prune_done(now_ms, PRUNE_PER_WRITE, ch);
    }

    /// Forgets at most `max` done ids older than the retention (specs/queue.md
    /// §13): their done records go, the per-queue done counts follow, and the
    /// same id may be enqueued again. Returns how many were forgotten.
    pub(crate) fn prune_done(&mut self, now_ms: u64, max: usize, ch: &mut Changes) -> usize {
        let cutoff = now_ms.saturating_sub(self.cfg.done_retention_ms);
        let pruned = self.done.prune(cutoff, max);
        for (id, mark) in &pruned {
            if let Some(q) = self.queues.get_mut(&mark.queue) {
                q.done = q.done.saturating_sub(1);
            }
            ch.delete(Cf::Done, &id.0);
        }
        pruned.len()
    }

    pub(crate) fn done_len(&self) -> usize {
        self.done.len()
    }

    /// Dead-letters every pending, delayed or leased task of `block` in `queues`
    /// (all queues when empty). A holder of a cancelled lease gets `Cancelled` on
    /// its next extend, ack or nack. Returns how many tasks were cancelled.
    pub(crate) fn cancel_block(&mut self, queues: &[String], block: u64, reason: &str, ch: &mut Changes) -> usize {
        let ids: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.info.block_number == block && t.info.state != TaskState::Dead)
            .filter(|t| queues.is_empty() || queues.contains(&t.info.queue))
            .map(|t| t.info.id)
            .collect();
        for id in &ids {
            let Some(t) = self.tasks.get_mut(id) else { continue };
            let Some(q) = self.queues.get_mut(&t.info.queue) else { continue };
            match &t.info.state {
                TaskState::Pending { not_before_ms } if *not_before_ms > 0 => {
                    q.delayed.remove(&(*not_before_ms, t.info.seq));
                }
                TaskState::Pending { .. } => {
                    q.ready.remove(&t.info.order_key());
                }
                TaskState::Leased { token, deadline_ms, .. } => {
                    q.leases.remove(&(*deadline_ms, *token));
                }
                TaskState::Dead => continue,
            }
            q.add_dead(t.info.block_number);
            t.info.state = TaskState::Dead;
            t.info.last_error = Some(format!("{CANCELLED_PREFIX}{reason}"));
            let info = &t.info;
            ch.put(Cf::Tasks, &id.0, || codec::encode_task(info));
            ch.delete(Cf::Leases, &id.0);
            ch.must_sync = true;
        }
        ids.len()
    }

    pub(crate) fn nack(
        &mut self,
        id: TaskId,
        token: u64,
        error: &str,
        failure: Failure,
        now_ms: u64,
        ch: &mut Changes,
    ) -> Result<NackOutcome> {
        let deadline = self.current_lease(id, token)?;
        if let Some(q) = self.tasks.get(&id).and_then(|t| self.queues.get_mut(&t.info.queue)) {
            q.leases.remove(&(deadline, token));
        }
        self.end_attempt(id, error.to_string(), failure, now_ms, ch).ok_or(QueueError::UnknownTask(id))
    }

    /// Ends the current attempt of a task whose lease index entry is already gone.
    fn end_attempt(
        &mut self,
        id: TaskId,
        error: String,
        failure: Failure,
        now_ms: u64,
        ch: &mut Changes,
    ) -> Option<NackOutcome> {
        let t = self.tasks.get_mut(&id)?;
        let q = self.queues.get_mut(&t.info.queue)?;
        let info = &mut t.info;
        info.attempts += 1;
        info.last_error = Some(error);
        let outcome = if failure == Failure::Permanent || info.attempts >= info.max_attempts {
            info.state = TaskState::Dead;
            q.add_dead(info.block_number);
            NackOutcome::Dead { attempts: info.attempts }
        } else {
            let hold_ms = match failure {
                Failure::Hold(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                _ => 0,
            };
            let not_before_ms = now_ms.saturating_add(self.cfg.backoff_ms(info.attempts).max(hold_ms));
            info.state = TaskState::Pending { not_before_ms };
            q.delayed.insert((not_before_ms, info.seq), id);
            // A waiter must recompute its sleep to wake at the new due time.
            q.notify();
            NackOutcome::Retrying { attempts: info.attempts, not_before_ms }
        };
        ch.put(Cf::Tasks, &id.0, || codec::encode_task(info));
        ch.delete(Cf::Leases, &id.0);
        ch.must_sync = true;
        Some(outcome)
    }

    /// Moves a dead task back to Pending with its attempts reset.
    pub(crate) fn requeue(&mut self, id: TaskId, ch: &mut Changes) -> Result<()> {
        let t = self.tasks.get_mut(&id).ok_or(QueueError::UnknownTask(id))?;
        if t.info.state != TaskState::Dead {
            return Err(QueueError::NotDead(id));
        }
        if let Some(q) = self.queues.get_mut(&t.info.queue) {
            q.remove_dead(t.info.block_number);
        }
        t.info.state = TaskState::Pending { not_before_ms: 0 };
        t.info.attempts = 0;
        let q = self.queues.get_mut(&t.info.queue).ok_or(QueueError::UnknownTask(id))?;
        q.ready.insert(t.info.order_key(), id);
        q.notify();
        let info = &t.info;
        ch.put(Cf::Tasks, &id.0, || codec::encode_task(info));
        ch.must_sync = true;
        Ok(())
    }

    pub(crate) fn dead_ids(&self, queue: Option<&str>) -> Vec<TaskId> {
        let mut dead: Vec<&TaskInfo> = self
            .tasks
            .values()
            .map(|t| &t.info)
            .filter(|i| i.state == TaskState::Dead && queue.is_none_or(|q| q == i.queue))
            .collect();
        dead.sort_by_key(|i| (i.queue.clone(), i.order_key()));
        dead.into_iter().map(|i| i.id).collect()
    }

    pub(crate) fn view(&self) -> QueueView {
        QueueView {
            tasks: self.tasks.values().map(|t| t.info.clone()).collect(),
            done_counts: self.queues.iter().map(|(name, q)| (name.clone(), q.done)).collect(),
        }
    }

    /// The counts `view().stats()` gives, without copying a task.
    pub(crate) fn stats(&self, now_ms: u64) -> QueueStats {
        QueueStats::of(self.tasks.values().map(|t| &t.info), self.queues.iter().map(|(n, q)| (n, q.done)), now_ms)
    }

    /// Live tasks of one block in one queue, in lease order, at most `limit`.
    pub(crate) fn block_tasks(&self, queue: &str, block: u64, limit: usize) -> Vec<TaskInfo> {
        let mut out: Vec<&TaskInfo> =
            self.tasks.values().map(|t| &t.info).filter(|i| i.queue == queue && i.block_number == block).collect();
        out.sort_by_key(|i| i.order_key());
        out.into_iter().take(limit).cloned().collect()
    }

    pub(crate) fn live_payloads(&self) -> Vec<(TaskInfo, Arc<[u8]>)> {
        self.tasks.values().map(|t| (t.info.clone(), t.payload.clone())).collect()
    }

    pub(crate) fn is_done(&self, id: TaskId) -> bool {
        self.done.contains(&id)
    }

    pub(crate) fn get(&self, id: TaskId) -> Option<TaskInfo> {
        self.tasks.get(&id).map(|t| t.info.clone())
    }
}
