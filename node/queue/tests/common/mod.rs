//! Shared test harness: a queue on either backend with a manual clock.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use slotproof_queue::nats_server::LocalServer;
use slotproof_queue::{Lease, ManualClock, NatsTarget, NewTask, Queue, QueueConfig};

pub const T0: u64 = 1_700_000_000_000;
pub const LEASE: Duration = Duration::from_secs(10);

pub struct Harness {
    pub q: Queue,
    pub clock: ManualClock,
    pub cfg: QueueConfig,
    pub dir: Option<tempfile::TempDir>,
    /// The NATS backend's stream, when this harness runs on it.
    pub nats: Option<NatsTarget>,
}

/// One server per test process, shared by every NATS harness (each on its own prefix).
static SERVER: OnceLock<Mutex<(LocalServer, tempfile::TempDir)>> = OnceLock::new();
static PREFIXES: AtomicU32 = AtomicU32::new(0);

pub fn nats_url() -> String {
    let server = SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = LocalServer::start(&dir.path().join("js")).unwrap_or_else(|e| panic!("{e}"));
        Mutex::new((server, dir))
    });
    server.lock().unwrap_or_else(|e| e.into_inner()).0.url()
}

/// A fresh stream prefix on the shared server.
pub fn nats_target() -> NatsTarget {
    let n = PREFIXES.fetch_add(1, Ordering::SeqCst);
    NatsTarget::new(nats_url()).with_prefix(format!("t{}-{n}", std::process::id()))
}

impl Harness {
    pub fn memory() -> Self {
        Self::memory_with(QueueConfig::default())
    }

    pub fn memory_with(cfg: QueueConfig) -> Self {
        let clock = ManualClock::new(T0);
        let q = Queue::memory_with_clock(cfg.clone(), Arc::new(clock.clone()));
        Harness { q, clock, cfg, dir: None, nats: None }
    }

    pub fn nats() -> Self {
        Self::nats_with(QueueConfig::default())
    }

    pub fn nats_with(cfg: QueueConfig) -> Self {
        let target = nats_target();
        let clock = ManualClock::new(T0);
        let q = Queue::open_nats_with_clock(&target, cfg.clone(), Arc::new(clock.clone())).expect("open nats queue");
        Harness { q, clock, cfg, dir: None, nats: Some(target) }
    }

    /// Whether the queue survives a reopen (not the memory backend).
    pub fn persistent(&self) -> bool {
        self.dir.is_some() || self.nats.is_some()
    }

    pub fn rocksdb() -> Self {
        Self::rocksdb_with(QueueConfig::default())
    }

    pub fn rocksdb_with(cfg: QueueConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(T0);
        let q = Queue::open_rocksdb_with_clock(&dir.path().join("queue"), cfg.clone(), Arc::new(clock.clone()))
            .expect("open rocksdb queue");
        Harness { q, clock, cfg, dir: Some(dir), nats: None }
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.as_ref().expect("rocksdb harness").path().join("queue")
    }

    /// Closes and reopens the RocksDB queue, as a restarted node would.
    pub fn reopen(&mut self) {
        if let Some(target) = &self.nats {
            self.q = Queue::memory(QueueConfig::default());
            self.q =
                Queue::open_nats_with_clock(target, self.cfg.clone(), Arc::new(self.clock.clone())).expect("reopen");
            return;
        }
        let path = self.db_path();
        // Drop the old handle first: RocksDB allows one writer.
        self.q = Queue::memory(QueueConfig::default());
        self.q = Queue::open_rocksdb_with_clock(&path, self.cfg.clone(), Arc::new(self.clock.clone())).expect("reopen");
    }

    /// Reopens the RocksDB queue as a process killed with SIGKILL would find it:
    /// the files as they are on disk now (every returned write has reached the
    /// OS in both durability modes), copied before the handle is closed, so
    /// nothing a clean close does (flushing memtables) helps the reopened queue.
    /// On NATS, a crash is a second process opening the queue while the first
    /// still holds it: the new writer fences the old one, which then goes.
    pub fn crash_reopen(&mut self) {
        if let Some(target) = &self.nats {
            let q = Queue::open_nats_with_clock(target, self.cfg.clone(), Arc::new(self.clock.clone()))
                .expect("reopen after a crash");
            self.q = q;
            return;
        }
        let old = self.db_path();
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&old, &dir.path().join("queue"));
        let old_dir = self.dir.replace(dir);
        self.q = Queue::open_rocksdb_with_clock(&self.db_path(), self.cfg.clone(), Arc::new(self.clock.clone()))
            .expect("reopen after a crash");
        // The old handle is gone with the assignment above; only now may its files go.
        drop(old_dir);
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

/// Copies a RocksDB directory as it is at one instant. RocksDB may still be
/// flushing, compacting or deleting obsolete files in the background, so the
/// copy is retried until the files (names and sizes) did not change while it ran:
/// a copy taken across a change could hold a MANIFEST naming a file it lacks,
/// which no crash can produce.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for _ in 0..200 {
        let before = listing(from);
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to).expect("create copy");
        let copied = before.keys().all(|name| match std::fs::copy(from.join(name), to.join(name)) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => panic!("copy {}: {e}", from.join(name).display()),
        });
        if copied && listing(from) == before {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("{} kept changing: no consistent copy", from.display());
}

/// The files of a RocksDB directory and their sizes, but its lock file: the old
/// handle holds that one, and the copy gets its own at open.
fn listing(dir: &std::path::Path) -> std::collections::BTreeMap<std::ffi::OsString, u64> {
    std::fs::read_dir(dir)
        .expect("read db dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "LOCK")
        .filter_map(|e| Some((e.file_name(), e.metadata().ok()?.len())))
        .collect()
}
