//! Shared test harness: a queue on either backend with a manual clock.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use slotproof_queue::{Lease, ManualClock, NewTask, Queue, QueueConfig};

pub const T0: u64 = 1_700_000_000_000;
pub const LEASE: Duration = Duration::from_secs(10);

pub struct Harness {
    pub q: Queue,
    pub clock: ManualClock,
    pub cfg: QueueConfig,
    pub dir: Option<tempfile::TempDir>,
}

impl Harness {
    pub fn memory() -> Self {
        Self::memory_with(QueueConfig::default())
    }

    pub fn memory_with(cfg: QueueConfig) -> Self {
        let clock = ManualClock::new(T0);
        let q = Queue::memory_with_clock(cfg.clone(), Arc::new(clock.clone()));
        Harness { q, clock, cfg, dir: None }
    }

    pub fn rocksdb() -> Self {
        Self::rocksdb_with(QueueConfig::default())
    }

    pub fn rocksdb_with(cfg: QueueConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(T0);
        let q = Queue::open_rocksdb_with_clock(&dir.path().join("queue"), cfg.clone(), Arc::new(clock.clone()))
            .expect("open rocksdb queue");
        Harness { q, clock, cfg, dir: Some(dir) }
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.as_ref().expect("rocksdb harness").path().join("queue")
    }

    /// Closes and reopens the RocksDB queue, as a restarted node would.
    pub fn reopen(&mut self) {
        let path = self.db_path();
        // Drop the old handle first: RocksDB allows one writer.
        self.q = Queue::memory(QueueConfig::default());
        self.q = Queue::open_rocksdb_with_clock(&path, self.cfg.clone(), Arc::new(self.clock.clone())).expect("reopen");
    }

    pub fn lease(&self, queue: &str) -> Option<Lease> {
        self.q.lease(queue, "w", LEASE).expect("lease")
    }

    pub fn must_lease(&self, queue: &str) -> Lease {
        self.lease(queue).expect("a task is ready")
    }
}

pub fn task(queue: &str, block: u64, subtask: u32) -> NewTask {
    NewTask::new(queue, block, format!("{queue}/{block}/{subtask}").into_bytes()).with_subtask(subtask)
}
