//! RocksDB-only behaviour: restarts, recovery and refusing bad databases
//! (specs/queue.md §7, §8).

#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, LEASE, task};
use slotproof_queue::{Enqueued, Queue, QueueConfig, QueueError, StateFilter, TaskState, read_view};

/// §7: pending work survives a restart; acknowledged work never reappears.
#[test]
fn restart_keeps_pending_and_forgets_nothing_done() {
    let mut h = Harness::rocksdb();
    h.q.enqueue((0..10).map(|b| task("q", b, 0)).collect()).unwrap();
    for _ in 0..4 {
        let l = h.must_lease("q");
        h.q.ack(l.id, l.token).unwrap();
    }
    h.reopen();
    let s = h.q.stats().unwrap();
    assert_eq!((s.total.pending, s.total.done), (6, 4));
    let blocks: Vec<u64> = std::iter::from_fn(|| h.lease("q")).map(|l| l.block_number).collect();
    assert_eq!(blocks, vec![4, 5, 6, 7, 8, 9], "order survives the restart");
}

/// §1, §7: dedupe covers done tasks across restarts.
#[test]
fn dedupe_survives_restart() {
    let mut h = Harness::rocksdb();
    let t = task("q", 1, 0);
    h.q.enqueue_one(t.clone()).unwrap();
    let l = h.must_lease("q");
    h.q.ack(l.id, l.token).unwrap();
    h.reopen();
    assert!(matches!(h.q.enqueue_one(t).unwrap(), Enqueued::Duplicate(_)));
    assert!(h.lease("q").is_none());
}

/// §7: a lease held when the process stopped ends at open, attempt counted.
#[test]
fn leases_from_a_previous_run_end_at_open() {
    let mut h = Harness::rocksdb_with(QueueConfig { max_attempts: 2, ..Default::default() });
    h.q.enqueue(vec![task("q", 1, 0), task("q", 2, 0)]).unwrap();
    let a = h.must_lease("q");
    let b = h.must_lease("q");
    h.q.nack(b.id, b.token, "first failure", slotproof_queue::Failure::Transient).unwrap();
    h.clock.advance(1_000);
    let b = h.must_lease("q");
    assert_eq!(b.attempt, 2);
    h.reopen();
    let a_info = h.q.get(a.id).unwrap().unwrap();
    assert_eq!(a_info.attempts, 1);
    assert!(matches!(a_info.state, TaskState::Pending { .. }));
    assert_eq!(a_info.last_error.as_deref(), Some("lease lost: node restarted"));
    let b_info = h.q.get(b.id).unwrap().unwrap();
    assert_eq!(b_info.state, TaskState::Dead, "second lost attempt reaches max_attempts");
    assert!(matches!(h.q.ack(a.id, a.token), Err(QueueError::StaleLease { .. })), "old tokens stay fenced");
    h.clock.advance(1_000);
    let again = h.must_lease("q");
    assert_eq!(again.id, a.id);
    assert_ne!(again.token, a.token, "tokens are unique across opens");
}

/// §6, §7: a hand-off survives a restart whole.
#[test]
fn handoff_survives_restart() {
    let mut h = Harness::rocksdb();
    h.q.enqueue_one(task("in", 1, 0)).unwrap();
    let l = h.must_lease("in");
    h.q.ack_and_enqueue(l.id, l.token, vec![task("out", 1, 0), task("out", 1, 1)]).unwrap();
    h.reopen();
    let s = h.q.stats().unwrap();
    assert_eq!(s.queues["in"].done, 1);
    assert_eq!(s.queues["out"].pending, 2);
}

/// §7: payloads, dead letters and backoffs survive a restart.
#[test]
fn payload_dead_letters_and_backoff_survive_restart() {
    let mut h = Harness::rocksdb();
    h.q.enqueue(vec![task("q", 1, 0), task("q", 2, 0), task("q", 3, 0)]).unwrap();
    let dead = h.must_lease("q");
    h.q.nack(dead.id, dead.token, "permanently bad", slotproof_queue::Failure::Permanent).unwrap();
    let retry = h.must_lease("q");
    h.q.nack(retry.id, retry.token, "flaky", slotproof_queue::Failure::Transient).unwrap();
    h.reopen();
    let now = h.q.now_ms();
    let v = h.q.view().unwrap();
    assert_eq!(v.list(None, StateFilter::Dead, 10, now)[0].last_error.as_deref(), Some("permanently bad"));
    assert_eq!(v.list(None, StateFilter::Delayed, 10, now).len(), 1);
    let l = h.must_lease("q");
    assert_eq!(&*l.payload, b"q/3/0");
}

/// §8: a directory with other files is not taken over.
#[test]
fn foreign_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Queue::open_rocksdb(dir.path(), QueueConfig::default()).err().unwrap();
    assert!(matches!(err, QueueError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
    assert!(dir.path().join("notes.txt").exists(), "nothing was wiped");
}

/// §8: a file is not a database.
#[test]
fn garbage_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("garbage");
    std::fs::write(&file, [0xde, 0xad, 0xbe, 0xef]).unwrap();
    assert!(matches!(Queue::open_rocksdb(&file, QueueConfig::default()), Err(QueueError::Foreign { .. })));
    assert!(matches!(read_view(&file), Err(QueueError::Foreign { .. })));
    assert!(matches!(read_view(&dir.path().join("absent")), Err(QueueError::NotFound { .. })));
}

/// §8: another application's RocksDB is refused.
#[test]
fn other_rocksdb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = rocksdb::DB::open_default(dir.path()).unwrap();
        db.put(b"k", b"v").unwrap();
    }
    let err = Queue::open_rocksdb(dir.path(), QueueConfig::default()).err().unwrap();
    assert!(matches!(err, QueueError::Foreign { .. }), "{err}");
    let db = rocksdb::DB::open_default(dir.path()).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]), "their data is untouched");
}

fn raw_db(path: &std::path::Path) -> rocksdb::DB {
    let names = ["default", "meta", "tasks", "payloads", "leases", "done"];
    rocksdb::DB::open_cf(&rocksdb::Options::default(), path, names).unwrap()
}

/// §8: a newer schema version is refused, not migrated blindly.
#[test]
fn wrong_schema_version_is_refused() {
    let h = Harness::rocksdb();
    let path = h.db_path();
    drop(h.q);
    {
        let db = raw_db(&path);
        db.put_cf(db.cf_handle("meta").unwrap(), b"schema_version", 2u32.to_be_bytes()).unwrap();
    }
    let err = Queue::open_rocksdb(&path, QueueConfig::default()).err().unwrap();
    assert!(matches!(err, QueueError::SchemaMismatch { found: 2, supported: 1, .. }), "{err}");
}

/// §8: a corrupt record stops the open with the key named; nothing is deleted.
#[test]
fn corrupt_record_is_reported_not_repaired() {
    let h = Harness::rocksdb();
    let path = h.db_path();
    let id = h.q.enqueue_one(task("q", 1, 0)).unwrap().id();
    drop(h.q);
    {
        let db = raw_db(&path);
        db.put_cf(db.cf_handle("tasks").unwrap(), id.0, b"\x01garbage").unwrap();
    }
    let err = Queue::open_rocksdb(&path, QueueConfig::default()).err().unwrap();
    assert!(matches!(err, QueueError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&id.to_hex()), "{err}");
    let db = raw_db(&path);
    assert!(db.get_cf(db.cf_handle("tasks").unwrap(), id.0).unwrap().is_some(), "record kept for forensics");
}

/// §8: a second writer is refused with a hint; a secondary reader works beside it.
#[test]
fn second_writer_refused_secondary_reader_works() {
    let h = Harness::rocksdb();
    h.q.enqueue(vec![task("q", 1, 0), task("q", 2, 0)]).unwrap();
    let l = h.must_lease("q");
    h.q.ack(l.id, l.token).unwrap();
    let _held = h.must_lease("q");
    let err = Queue::open_rocksdb(&h.db_path(), QueueConfig::default()).err().unwrap();
    assert!(err.to_string().contains("lock"), "{err}");
    let view = read_view(&h.db_path()).unwrap();
    let s = view.stats(h.q.now_ms());
    assert_eq!((s.total.leased, s.total.done), (1, 1));
    let leased = view.list(None, StateFilter::Leased, 10, h.q.now_ms());
    assert!(matches!(&leased[0].state, TaskState::Leased { worker, .. } if worker == "w"));
    let _ = LEASE;
}
