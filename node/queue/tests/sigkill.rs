//! Crash test with real processes (specs/queue.md §7, §11): a worker process
//! works a two-stage RocksDB queue and is killed with SIGKILL at random points,
//! many times. Afterwards every task is Done or Dead exactly once, every done
//! first-stage task handed exactly one task to the second stage, and no task was
//! completed twice.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slotproof_queue::{Failure, NewTask, Queue, QueueConfig, StateFilter};

const CHILD_ENV: &str = "SLOTPROOF_SIGKILL_CHILD_DB";
const STAGE1: &str = "stage1";
const STAGE2: &str = "stage2";
const TASKS: u64 = 800;
const MIN_KILLS: usize = 60;

fn cfg() -> QueueConfig {
    QueueConfig { max_attempts: 4, backoff_base_ms: 1, backoff_max_ms: 20, ..Default::default() }
}

fn journal_path(db: &Path) -> PathBuf {
    db.with_extension("journal")
}

/// Deterministic per (task, attempt) so a retry may take another path.
fn roll(id: &slotproof_queue::TaskId, attempt: u32) -> u8 {
    blake3::hash(&[&id.0[..], &attempt.to_be_bytes()].concat()).as_bytes()[0]
}

/// The worker: lease from either stage, "prove" for a moment, then nack or hand off.
/// Each successful ack is appended to the journal after it returns, so a kill can
/// lose at most one journal line but never add one for work not acked.
fn work(db: &Path, idle_exit: Duration) {
    let q = Queue::open_rocksdb(db, cfg()).expect("worker opens the queue");
    let mut journal = std::fs::OpenOptions::new().create(true).append(true).open(journal_path(db)).expect("journal");
    let mut idle_since = Instant::now();
    loop {
        let lease = [STAGE1, STAGE2]
            .iter()
            .find_map(|s| q.lease_wait(s, "crash-worker", Duration::from_secs(5), Duration::from_millis(2)).unwrap());
        let Some(l) = lease else {
            if idle_since.elapsed() > idle_exit {
                return;
            }
            continue;
        };
        idle_since = Instant::now();
        std::thread::sleep(Duration::from_micros(500));
        let r = roll(&l.id, l.attempt);
        if r < 20 {
            q.nack(l.id, l.token, "simulated transient failure", Failure::Transient).unwrap();
        } else if r < 26 {
            q.nack(l.id, l.token, "simulated permanent failure", Failure::Permanent).unwrap();
        } else {
            let next = if l.queue == STAGE1 {
                vec![NewTask::new(STAGE2, l.block_number, format!("after {}", l.id).into_bytes())]
            } else {
                vec![]
            };
            q.ack_and_enqueue(l.id, l.token, next).unwrap();
            // One write call per line: `writeln!` may split the id and its newline
            // into two, and a kill between them glues the next run's line onto this one.
            journal.write_all(format!("{}\n", l.id).as_bytes()).unwrap();
        }
    }
}

#[test]
#[ignore = "child process of sigkill_loop_loses_nothing_and_completes_nothing_twice"]
fn sigkill_child_worker() {
    let db = std::env::var(CHILD_ENV).expect("run by the parent test with the database path");
    work(Path::new(&db), Duration::from_secs(2));
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        // xorshift64*: enough to spread kill points.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[test]
fn sigkill_loop_loses_nothing_and_completes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queue");
    {
        let q = Queue::open_rocksdb(&db, cfg()).unwrap();
        let tasks = (0..TASKS).map(|b| NewTask::new(STAGE1, b, b.to_be_bytes().to_vec())).collect();
        q.enqueue(tasks).unwrap();
    }

    let exe = std::env::current_exe().unwrap();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("sigkill loop seed {seed}");
    let mut rng = Rng(seed);
    let mut kills = 0;
    for _ in 0..MIN_KILLS * 3 {
        if kills >= MIN_KILLS {
            break;
        }
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "sigkill_child_worker", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + rng.below(60)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= MIN_KILLS, "only {kills} kills landed; the workload finished too early");

    // Finish the remaining work in-process, then check the books.
    work(&db, Duration::from_millis(300));
    let q = Queue::open_rocksdb(&db, cfg()).unwrap();
    let stats = q.stats().unwrap();
    let (s1, s2) = (&stats.queues[STAGE1], &stats.queues[STAGE2]);
    assert_eq!(stats.total.pending + stats.total.delayed + stats.total.leased, 0, "all work finished: {stats:?}");
    assert_eq!(s1.done + s1.dead, TASKS, "every first-stage task ended exactly once: {s1:?}");
    assert_eq!(s2.done + s2.dead, s1.done, "each done first-stage task handed off exactly one task: {s2:?}");

    let journal = std::fs::read_to_string(journal_path(&db)).unwrap();
    let mut seen = HashSet::new();
    for line in journal.lines() {
        let id: slotproof_queue::TaskId = line.parse().unwrap();
        assert!(seen.insert(id), "task {id} was completed twice");
        assert!(q.is_done(id).unwrap(), "journaled task {id} is not done in the queue");
    }
    let done = s1.done + s2.done;
    assert!(seen.len() as u64 <= done);
    assert!(
        done - seen.len() as u64 <= kills as u64,
        "more unjournaled acks ({}) than kills ({kills})",
        done - seen.len() as u64
    );
    for t in q.view().unwrap().list(None, StateFilter::Dead, usize::MAX, q.now_ms()) {
        assert!(t.last_error.is_some(), "dead task {} has its error", t.id);
    }
    eprintln!("kills={kills} done={done} dead={} journal={}", s1.dead + s2.dead, seen.len());
}
