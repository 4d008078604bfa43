//! The RocksDB backend (specs/queue.md §7, §8): opening and validating the
//! database, rebuilding the in-memory state at open, the ordered group-commit
//! log, and the read-only secondary view used by `slotproof queue ...`.
//! It never deletes or rewrites data it cannot decode: such a database is refused.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, MemtableFactory, Options, WriteBatch, WriteOptions};
use tracing::{info, warn};

use crate::codec;
use crate::config::{Durability, QueueConfig};
use crate::done::DoneMark;
use crate::error::{QueueError, Result};
use crate::id::TaskId;
use crate::state::{Cf, Changes, META_EPOCH, META_SCHEMA, Op, State};
use crate::store::Store;
use crate::task::{TaskInfo, TaskState};
use crate::view::QueueView;

pub const SCHEMA_VERSION: u32 = 1;

fn storage(path: &Path, source: rocksdb::Error) -> QueueError {
    // RocksDB reports a held writer's lock as an I/O error on the LOCK file.
    let msg = source.to_string();
    let hint = if msg.contains("lock") && msg.contains("LOCK") {
        ": another process holds the writer's lock (is a node running on this data dir?)"
    } else {
        ""
    };
    QueueError::Storage { path: path.to_path_buf(), hint, source }
}

pub(crate) fn corrupt(path: &Path, what: impl Into<String>, reason: impl std::fmt::Display) -> QueueError {
    QueueError::Corrupt { path: path.to_path_buf(), what: what.into(), reason: reason.to_string() }
}

fn cf_options(cf: Cf) -> Options {
    let mut o = Options::default();
    if matches!(cf, Cf::Tasks | Cf::Payloads | Cf::Leases) {
        // Every key here is deleted soon after it is written: compact SST files that
        // are mostly tombstones so the scan at open stays proportional to live work.
        o.add_compact_on_deletion_collector_factory(4096, 2048, 0.5);
    }
    if cf != Cf::Meta {
        // Keys are random task ids and the hot path only writes (the live state is in
        // memory): an append-only memtable avoids a cache-missing skip-list descent per
        // key. Reads happen at open and in secondary views, which sort it once.
        o.set_memtable_factory(MemtableFactory::Vector);
    }
    o
}

fn db_options() -> Options {
    let mut o = Options::default();
    // Required by the vector memtable; we have one writer thread at a time anyway.
    o.set_allow_concurrent_memtable_write(false);
    // Bound memtable memory across all column families (the default would allow
    // 64 MiB per family and buffer): a node's queue should stay small beside its provers.
    o.set_db_write_buffer_size(128 << 20);
    o.increase_parallelism(2);
    o.set_max_background_jobs(2);
    o.set_keep_log_file_num(4);
    o
}

/// Why a path cannot be opened as our queue, checked before RocksDB touches it.
/// Returns whether the database must be created.
fn check_path(path: &Path) -> Result<bool> {
    if !path.exists() {
        return Ok(true);
    }
    if !path.is_dir() {
        return Err(QueueError::Foreign { path: path.to_path_buf(), reason: "not a directory".into() });
    }
    let empty =
        std::fs::read_dir(path).map_err(|source| QueueError::Io { path: path.to_path_buf(), source })?.next().is_none();
    if empty {
        return Ok(true);
    }
    if !path.join("CURRENT").is_file() {
        return Err(QueueError::Foreign {
            path: path.to_path_buf(),
            reason: "the directory is not empty and holds no RocksDB database (no CURRENT file)".into(),
        });
    }
    let present = DB::list_cf(&Options::default(), path).map_err(|e| storage(path, e))?;
    let missing: Vec<&str> = Cf::ALL.iter().map(|c| c.name()).filter(|n| !present.iter().any(|p| p == n)).collect();
    if !missing.is_empty() {
        return Err(QueueError::Foreign {
            path: path.to_path_buf(),
            reason: format!("a RocksDB database without the queue's column families ({})", missing.join(", ")),
        });
    }
    Ok(false)
}

fn cf<'a>(db: &'a DB, path: &Path, c: Cf) -> Result<&'a rocksdb::ColumnFamily> {
    db.cf_handle(c.name()).ok_or_else(|| corrupt(path, c.name(), "column family missing after open"))
}

fn read_meta_u64(db: &DB, path: &Path, key: &[u8]) -> Result<Option<u64>> {
    let v = db.get_cf(cf(db, path, Cf::Meta)?, key).map_err(|e| storage(path, e))?;
    v.map(|b| codec::decode_u64(&b).map_err(|r| corrupt(path, format!("meta/{}", String::from_utf8_lossy(key)), r)))
        .transpose()
}

fn check_schema(db: &DB, path: &Path) -> Result<()> {
    let v = db.get_cf(cf(db, path, Cf::Meta)?, META_SCHEMA).map_err(|e| storage(path, e))?;
    let Some(v) = v else {
        return Err(QueueError::Foreign { path: path.to_path_buf(), reason: "no schema_version key".into() });
    };
    let found = <[u8; 4]>::try_from(v.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| corrupt(path, "meta/schema_version", format!("{} bytes, expected 4", v.len())))?;
    if found != SCHEMA_VERSION {
        return Err(QueueError::SchemaMismatch { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
    }
    Ok(())
}

pub(crate) type KeyValue = (Box<[u8]>, Box<[u8]>);

/// Everything stored, decoded. Payloads are loaded only for the writer.
pub(crate) struct Loaded {
    pub(crate) epoch: u64,
    pub(crate) tasks: Vec<TaskInfo>,
    pub(crate) payloads: HashMap<TaskId, Arc<[u8]>>,
    pub(crate) leases: Vec<(TaskId, codec::LeaseRecord)>,
    pub(crate) done: Vec<(TaskId, DoneMark)>,
    pub(crate) done_counts: BTreeMap<String, u64>,
}

fn load(db: &DB, path: &Path, with_payloads: bool) -> Result<Loaded> {
    let epoch = read_meta_u64(db, path, META_EPOCH)?.unwrap_or(0);
    let scan = |c: Cf| -> Result<Vec<KeyValue>> {
        db.iterator_cf(cf(db, path, c)?, IteratorMode::Start).map(|r| r.map_err(|e| storage(path, e))).collect()
    };
    decode_stored(path, epoch, &scan, with_payloads)
}

/// Decodes a stored queue from its column families, however a backend keeps them.
pub(crate) fn decode_stored(
    path: &Path,
    epoch: u64,
    scan: &dyn Fn(Cf) -> Result<Vec<KeyValue>>,
    with_payloads: bool,
) -> Result<Loaded> {
    let key_id = |c: Cf, k: &[u8]| codec::decode_id(k).map_err(|r| corrupt(path, format!("{} key", c.name()), r));

    let mut tasks = Vec::new();
    for (k, v) in scan(Cf::Tasks)? {
        let id = key_id(Cf::Tasks, &k)?;
        tasks.push(codec::decode_task(id, &v).map_err(|r| corrupt(path, format!("tasks/{id}"), r))?);
    }
    let mut payloads = HashMap::new();
    if with_payloads {
        for (k, v) in scan(Cf::Payloads)? {
            payloads.insert(key_id(Cf::Payloads, &k)?, Arc::from(v));
        }
    }
    let mut leases = Vec::new();
    for (k, v) in scan(Cf::Leases)? {
        let id = key_id(Cf::Leases, &k)?;
        leases.push((id, codec::decode_lease(&v).map_err(|r| corrupt(path, format!("leases/{id}"), r))?));
    }
    // Done records carry their queue, so per-queue done counts need no counter
    // of their own (markers of emitted groups have no queue and are not counted).
    let mut done = Vec::new();
    let mut done_counts: BTreeMap<String, u64> = BTreeMap::new();
    for (k, v) in scan(Cf::Done)? {
        let id = key_id(Cf::Done, &k)?;
        let (at_ms, queue) = codec::decode_done(&v).map_err(|r| corrupt(path, format!("done/{id}"), r))?;
        if !queue.is_empty() {
            *done_counts.entry(queue.clone()).or_default() += 1;
        }
        done.push((id, DoneMark { at_ms, queue }));
    }
    Ok(Loaded { epoch, tasks, payloads, leases, done, done_counts })
}

/// A loaded queue as a read-only view.
pub(crate) fn view_of(mut loaded: Loaded, path: &Path) -> QueueView {
    attach_leases(&mut loaded.tasks, std::mem::take(&mut loaded.leases), path);
    QueueView { tasks: loaded.tasks, done_counts: loaded.done_counts }
}

/// Rebuilds the writer's state from what was stored and records the recovery
/// writes (leases returned, orphan lease records dropped, the new epoch) that
/// must be written before the queue is handed to anyone.
pub(crate) fn rebuild(path: &Path, cfg: QueueConfig, mut loaded: Loaded, now_ms: u64) -> Result<(State, Changes)> {
    let orphans = attach_leases(&mut loaded.tasks, std::mem::take(&mut loaded.leases), path);
    let mut tasks = Vec::with_capacity(loaded.tasks.len());
    for t in loaded.tasks {
        let payload = loaded
            .payloads
            .remove(&t.id)
            .ok_or_else(|| corrupt(path, format!("payloads/{}", t.id), "task header without its payload"))?;
        tasks.push((t, payload));
    }
    let live = tasks.len();
    let epoch = loaded.epoch + 1;
    let durability = cfg.durability;
    let mut state = State::new(cfg);
    state.restore(epoch, tasks, loaded.done, loaded.done_counts);
    let mut ch = Changes::new(true);
    let recovered = state.recover_leases(now_ms, &mut ch);
    for id in orphans {
        ch.ops.push(Op::Delete(Cf::Leases, id.0.to_vec()));
    }
    ch.ops.push(Op::Put(Cf::Meta, META_EPOCH.to_vec(), epoch.to_be_bytes().to_vec()));
    info!(target: "slotproof::queue", db = %path.display(), live, recovered_leases = recovered, epoch, durability = %durability, "opened queue");
    Ok((state, ch))
}

/// Applies recorded leases to the loaded task headers.
fn attach_leases(tasks: &mut [TaskInfo], leases: Vec<(TaskId, codec::LeaseRecord)>, path: &Path) -> Vec<TaskId> {
    let index: HashMap<TaskId, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let mut orphans = Vec::new();
    for (id, l) in leases {
        match index.get(&id).map(|&i| &mut tasks[i]) {
            Some(t) if t.state != TaskState::Dead => {
                t.state = TaskState::Leased { worker: l.worker, token: l.token, deadline_ms: l.deadline_ms };
            }
            _ => {
                warn!(target: "slotproof::queue", db = %path.display(), task = %id, "lease record without a live task; ignoring it");
                orphans.push(id);
            }
        }
    }
    orphans
}

/// Opens (or creates) the database as its only writer and rebuilds the state.
pub(crate) fn open_writer(path: &Path, cfg: QueueConfig, now_ms: u64) -> Result<(State, RocksStore)> {
    let create = check_path(path)?;
    let mut opts = db_options();
    opts.create_if_missing(create);
    opts.create_missing_column_families(create);
    let cfs = Cf::ALL.iter().map(|c| ColumnFamilyDescriptor::new(c.name(), cf_options(*c)));
    let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| storage(path, e))?;
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    if create {
        db.put_cf_opt(cf(&db, path, Cf::Meta)?, META_SCHEMA, SCHEMA_VERSION.to_be_bytes(), &sync)
            .map_err(|e| storage(path, e))?;
        info!(target: "slotproof::queue", db = %path.display(), "created queue database");
    }
    check_schema(&db, path)?;

    let loaded = load(&db, path, true)?;
    let (state, recovery) = rebuild(path, cfg.clone(), loaded, now_ms)?;
    // Recovery writes go out before the queue is handed to anyone.
    let mut batch = WriteBatch::default();
    for op in recovery.ops {
        add_op(&db, path, &mut batch, op)?;
    }
    db.write_opt(batch, &sync).map_err(|e| storage(path, e))?;

    Ok((state, RocksStore::new(db, path.to_path_buf(), cfg.durability)))
}

fn add_op(db: &DB, path: &Path, batch: &mut WriteBatch, op: Op) -> Result<()> {
    match op {
        Op::Put(c, k, v) => batch.put_cf(cf(db, path, c)?, k, v),
        Op::Delete(c, k) => batch.delete_cf(cf(db, path, c)?, k),
    }
    Ok(())
}

/// The ordered commit log with group commit: operations submit their changes
/// under the queue lock; whichever waiter finds no write in progress becomes the
/// leader and writes everything submitted so far in one batch.
pub(crate) struct RocksStore {
    db: DB,
    path: PathBuf,
    durability: Durability,
    log: Mutex<Log>,
    written_cv: Condvar,
    batches_written: AtomicU64,
}

#[derive(Default)]
struct Log {
    pending: Vec<Op>,
    pending_sync: bool,
    submitted: u64,
    written: u64,
    writing: bool,
    /// Threads blocked waiting for a leader's write.
    waiters: usize,
    /// The write that failed: every later call returns it as the cause.
    failed: Option<Arc<QueueError>>,
}

impl RocksStore {
    fn new(db: DB, path: PathBuf, durability: Durability) -> Self {
        RocksStore {
            db,
            path,
            durability,
            log: Mutex::new(Log::default()),
            written_cv: Condvar::new(),
            batches_written: AtomicU64::new(0),
        }
    }

    fn log(&self) -> Result<std::sync::MutexGuard<'_, Log>> {
        self.log.lock().map_err(|_| QueueError::LockPoisoned("commit log"))
    }

    fn write(&self, ops: Vec<Op>, sync: bool) -> Result<()> {
        let mut batch = WriteBatch::default();
        for op in ops {
            add_op(&self.db, &self.path, &mut batch, op)?;
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo).map_err(|e| storage(&self.path, e))?;
        self.batches_written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Store for RocksStore {
    fn backend(&self) -> &'static str {
        "rocksdb"
    }

    fn persists(&self) -> bool {
        true
    }

    fn healthy(&self) -> Result<()> {
        match &self.log()?.failed {
            Some(e) => Err(QueueError::WriteFailed(e.clone())),
            None => Ok(()),
        }
    }

    fn submit(&self, changes: Changes) -> Option<u64> {
        let mut log = self.log.lock().ok()?;
        let power = self.durability == Durability::Power;
        log.pending.extend(changes.ops);
        log.pending_sync |= changes.must_sync && power;
        log.submitted += 1;
        // In power mode a write that needs no fsync (a lease record) is not waited
        // for while a group commit is under way: that leader writes it next, since
        // nobody else is waiting for it (specs/queue.md §7).
        if power && !changes.must_sync && log.writing {
            return None;
        }
        Some(log.submitted)
    }

    fn wait(&self, ticket: u64) -> Result<()> {
        let mut log = self.log()?;
        loop {
            if let Some(e) = &log.failed {
                return Err(QueueError::WriteFailed(e.clone()));
            }
            if log.written >= ticket {
                return Ok(());
            }
            if log.writing {
                log.waiters += 1;
                let waited = self.written_cv.wait(log);
                log = waited.map_err(|_| QueueError::LockPoisoned("commit log"))?;
                log.waiters -= 1;
                continue;
            }
            log.writing = true;
            // Lead: write everything submitted so far; keep going while writes that
            // nobody waits for are left, so they always reach the disk.
            loop {
                let ops = std::mem::take(&mut log.pending);
                let sync = std::mem::take(&mut log.pending_sync);
                let upto = log.submitted;
                drop(log);
                let result = self.write(ops, sync);
                log = self.log()?;
                match result {
                    Ok(()) => log.written = upto,
                    Err(e) => log.failed = Some(Arc::new(e)),
                }
                if log.failed.is_some() || log.pending.is_empty() || log.waiters > 0 {
                    break;
                }
            }
            log.writing = false;
            self.written_cv.notify_all();
        }
    }
}

/// Reads a queue database without taking the writer's lock: a RocksDB secondary
/// instance in a scratch directory, so a running node's queue can be inspected.
pub fn read_view(path: &Path) -> Result<QueueView> {
    if !path.exists() {
        return Err(QueueError::NotFound { path: path.to_path_buf() });
    }
    if check_path(path)? {
        // An empty directory: nothing was ever created there.
        return Err(QueueError::NotFound { path: path.to_path_buf() });
    }
    let scratch = std::env::temp_dir().join(format!(
        "slotproof-secondary-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    let mut opts = Options::default();
    opts.set_max_open_files(-1);
    let names: Vec<&str> = std::iter::once("default").chain(Cf::ALL.iter().map(|c| c.name())).collect();
    let result = (|| {
        let db = DB::open_cf_as_secondary(&opts, path, scratch.as_path(), names).map_err(|e| storage(path, e))?;
        db.try_catch_up_with_primary().map_err(|e| storage(path, e))?;
        check_schema(&db, path)?;
        Ok(view_of(load(&db, path, false)?, path))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
