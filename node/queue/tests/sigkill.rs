//! Crash test with real processes (specs/queue.md §7, §11): a worker process
//! works a two-stage RocksDB queue and is killed with SIGKILL at random points,
//! many times. Afterwards every task is Done or Dead exactly once, every done
//! first-stage task handed exactly one task to the second stage, and no task was
//! completed twice.
//!
//! The test also checks that it tested something: each kill timer starts only
//! once the child says it opened the queue, the leases held at each kill are
//! read from the database and must come back as a later attempt (or end dead
//! with the restart's error), and the children, not the final in-process run,
//! must have completed a real share of the work.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use slotproof_queue::{Failure, NewTask, Queue, QueueConfig, StateFilter, TaskId, TaskState, read_view};

const CHILD_DB_ENV: &str = "SLOTPROOF_SIGKILL_CHILD_DB";
const CHILD_RUN_ENV: &str = "SLOTPROOF_SIGKILL_CHILD_RUN";
/// The line a child prints once its queue is open: the kill timer starts then.
const OPENED: &str = "slotproof-sigkill-child: queue opened";
const STAGE1: &str = "stage1";
const STAGE2: &str = "stage2";
const TASKS: u64 = 800;
const MIN_KILLS: usize = 60;
/// Children must have acked at least this many tasks (of about 1,500 acks in
/// all): more than half of the work happens in processes that get killed.
const MIN_CHILD_ACKS: usize = TASKS as usize;
/// The share of all acks the children must have done, checked at the end.
const MIN_CHILD_SHARE_PERCENT: usize = 40;
const MAX_RUNS: usize = 240;
/// The loop stops here whatever it reached; the assertions then say what was missing.
const LOOP_BUDGET: Duration = Duration::from_secs(150);
/// How long one attempt "proves": the sleep bounds a child's rate on any machine,
/// so the work cannot run out before `MIN_KILLS` kills have landed.
const WORK: Duration = Duration::from_millis(2);
/// The final in-process run journals under this run number.
const FINAL_RUN: u32 = u32::MAX;

fn cfg() -> QueueConfig {
    QueueConfig { max_attempts: 4, backoff_base_ms: 1, backoff_max_ms: 20, ..Default::default() }
}

fn journal_path(db: &Path) -> PathBuf {
    db.with_extension("journal")
}

/// Deterministic per (task, attempt) so a retry may take another path.
fn roll(id: &TaskId, attempt: u32) -> u8 {
    blake3::hash(&[&id.0[..], &attempt.to_be_bytes()].concat()).as_bytes()[0]
}

/// Appends one journal line in one write call: `writeln!` may split the line
/// and its newline into two writes, and a kill between them glues the next
/// run's line onto this one.
fn journal_line(journal: &mut std::fs::File, line: String) {
    journal.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// The worker: lease from either stage, "prove" for a moment, then nack or hand off.
/// A lease is journaled (`L run id attempt`) before the work, an ack (`A run id`)
/// after it returns, so a kill can lose a line but never add one for work not done.
fn work(db: &Path, run: u32, idle_exit: Duration) {
    let q = Queue::open_rocksdb(db, cfg()).expect("worker opens the queue");
    println!("{OPENED}");
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
        journal_line(&mut journal, format!("L {run} {} {}", l.id, l.attempt));
        std::thread::sleep(WORK);
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
            journal_line(&mut journal, format!("A {run} {}", l.id));
        }
    }
}

#[test]
#[ignore = "child process of sigkill_loop_loses_nothing_and_completes_nothing_twice"]
fn sigkill_child_worker() {
    let db = std::env::var(CHILD_DB_ENV).expect("run by the parent test with the database path");
    let run = std::env::var(CHILD_RUN_ENV).expect("run number").parse().expect("run number");
    work(Path::new(&db), run, Duration::from_secs(2));
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

/// One journal line.
enum Entry {
    Leased { run: u32, id: TaskId, attempt: u32 },
    Acked { run: u32, id: TaskId },
}

fn read_journal(db: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(journal_path(db)).unwrap_or_default();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["L", run, id, attempt] => Entry::Leased {
                    run: run.parse().unwrap(),
                    id: id.parse().unwrap(),
                    attempt: attempt.parse().unwrap(),
                },
                ["A", run, id] => Entry::Acked { run: run.parse().unwrap(), id: id.parse().unwrap() },
                _ => panic!("malformed journal line {line:?}"),
            }
        })
        .collect()
}

fn child_acks(journal: &[Entry]) -> usize {
    journal.iter().filter(|e| matches!(e, Entry::Acked { run, .. } if *run != FINAL_RUN)).count()
}

/// Starts a worker process and returns once it has opened the queue.
fn spawn_child(exe: &Path, db: &Path, run: u32) -> Child {
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "sigkill_child_worker", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB_ENV, db)
        .env(CHILD_RUN_ENV, run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // The reader keeps draining after the marker so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            // libtest prints "test sigkill_child_worker ... " with no newline first.
            if line.ends_with(OPENED) {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let status = child.wait().unwrap();
        panic!("run {run}: the child did not report an open queue ({status})");
    }
    child
}

/// A lease the database recorded at the moment of a kill.
struct Interrupted {
    run: u32,
    id: TaskId,
    attempt: u32,
}

/// Leases recorded in the database right after a kill (held by the dead child),
/// and how much work is left.
fn after_kill(db: &Path, run: u32) -> (Vec<Interrupted>, u64) {
    let view = read_view(db).unwrap();
    let now = slotproof_primitives::now_ms();
    let s = view.stats(now).total;
    let held = view
        .list(None, StateFilter::Leased, usize::MAX, now)
        .into_iter()
        .map(|t| Interrupted { run, id: t.id, attempt: t.attempts + 1 })
        .collect();
    (held, s.pending + s.delayed + s.leased)
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
    let mut interrupted = Vec::new();
    let started = Instant::now();
    for run in 0..MAX_RUNS as u32 {
        let enough = kills >= MIN_KILLS && child_acks(&read_journal(&db)) >= MIN_CHILD_ACKS;
        if enough || started.elapsed() > LOOP_BUDGET {
            break;
        }
        let mut child = spawn_child(&exe, &db, run);
        std::thread::sleep(Duration::from_millis(5 + rng.below(60)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
        let (held, left) = after_kill(&db, run);
        interrupted.extend(held);
        if left == 0 {
            break;
        }
    }
    let journal = read_journal(&db);
    let by_children = child_acks(&journal);
    eprintln!("kills={kills} interrupted={} child_acks={by_children} in {:?}", interrupted.len(), started.elapsed());
    assert!(kills >= MIN_KILLS, "only {kills} kills landed; the workload finished too early");
    assert!(by_children >= MIN_CHILD_ACKS, "children acked only {by_children} tasks (want {MIN_CHILD_ACKS})");
    assert!(
        interrupted.len() * 2 >= kills,
        "only {} of {kills} kills caught a lease in flight: the kills did not interrupt work",
        interrupted.len()
    );

    // Finish the remaining work in-process, then check the books.
    work(&db, FINAL_RUN, Duration::from_millis(300));
    let journal = read_journal(&db);
    let q = Queue::open_rocksdb(&db, cfg()).unwrap();
    let stats = q.stats().unwrap();
    let (s1, s2) = (&stats.queues[STAGE1], &stats.queues[STAGE2]);
    assert_eq!(stats.total.pending + stats.total.delayed + stats.total.leased, 0, "all work finished: {stats:?}");
    assert_eq!(s1.done + s1.dead, TASKS, "every first-stage task ended exactly once: {s1:?}");
    assert_eq!(s2.done + s2.dead, s1.done, "each done first-stage task handed off exactly one task: {s2:?}");

    let mut seen = HashSet::new();
    for e in &journal {
        if let Entry::Acked { id, .. } = e {
            assert!(seen.insert(*id), "task {id} was completed twice");
            assert!(q.is_done(*id).unwrap(), "journaled task {id} is not done in the queue");
        }
    }
    let done = s1.done + s2.done;
    assert!(seen.len() as u64 <= done);
    assert!(
        done - seen.len() as u64 <= kills as u64,
        "more unjournaled acks ({}) than kills ({kills})",
        done - seen.len() as u64
    );
    assert!(
        by_children * 100 >= seen.len() * MIN_CHILD_SHARE_PERCENT,
        "children did {by_children} of {} journaled acks: the final in-process run did the work",
        seen.len()
    );
    for t in q.view().unwrap().list(None, StateFilter::Dead, usize::MAX, q.now_ms()) {
        assert!(t.last_error.is_some(), "dead task {} has its error", t.id);
    }
    check_interrupted_leases_came_back(&q, &journal, &interrupted);
    eprintln!("kills={kills} done={done} dead={} journal={}", s1.dead + s2.dead, seen.len());
}

/// §7: a lease held at a kill ends at the next open with its attempt counted, so
/// the task comes back as a later attempt, or ends dead with the restart's error.
fn check_interrupted_leases_came_back(q: &Queue, journal: &[Entry], interrupted: &[Interrupted]) {
    let mut later_leases: HashMap<TaskId, Vec<(u32, u32)>> = HashMap::new();
    for e in journal {
        if let Entry::Leased { run, id, attempt } = e {
            later_leases.entry(*id).or_default().push((*run, *attempt));
        }
    }
    let mut redelivered = 0;
    for i in interrupted {
        let again = later_leases.get(&i.id).is_some_and(|ls| ls.iter().any(|&(r, a)| r > i.run && a > i.attempt));
        if again {
            redelivered += 1;
            continue;
        }
        let info = q.get(i.id).unwrap();
        let dead_by_restart = info.as_ref().is_some_and(|t| {
            t.state == TaskState::Dead && t.last_error.as_deref() == Some("lease lost: node restarted")
        });
        assert!(
            dead_by_restart,
            "task {} was leased (attempt {}) when run {} was killed, and never came back: {info:?}",
            i.id, i.attempt, i.run
        );
    }
    assert!(
        redelivered * 2 >= interrupted.len(),
        "only {redelivered} of {} interrupted leases were redelivered",
        interrupted.len()
    );
}
