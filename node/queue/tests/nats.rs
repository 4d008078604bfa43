//! The NATS JetStream backend's own behaviour (specs/queue.md §15), against a
//! real `nats-server`: takeover fences the old writer, snapshots compact the
//! log without losing anything, a read-only view sees a running queue, and a
//! server killed with SIGKILL mid-run and restarted on the same store loses no
//! task and completes none twice.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{nats_target, task};
use slotproof_queue::nats::read_view;
use slotproof_queue::nats_server::LocalServer;
use slotproof_queue::{NatsTarget, NewTask, Queue, QueueConfig, QueueError, StateFilter};

const LEASE: Duration = Duration::from_secs(10);

#[test]
fn a_second_writer_fences_the_first() {
    let target = nats_target();
    let first = Queue::open_nats(&target, QueueConfig::default()).unwrap();
    first.enqueue_one(task("q", 1, 0)).unwrap();
    let lease = first.lease("q", "w", LEASE).unwrap().unwrap();

    let second = Queue::open_nats(&target, QueueConfig::default()).unwrap();
    // The old handle may not write any more: its ack is refused, not interleaved.
    let err = first.ack(lease.id, lease.token).unwrap_err();
    let fenced = matches!(&err, QueueError::WriteFailed(e) if matches!(**e, QueueError::NatsFenced { .. }));
    assert!(fenced, "{err:?}");
    assert!(first.enqueue_one(task("q", 2, 0)).is_err(), "poisoned after the fence");
    // The new owner ended the old lease at open (§7) and has the task back
    // after the attempt's backoff.
    let again = second.lease_wait("q", "w2", LEASE, Duration::from_secs(5)).unwrap().expect("the task is back");
    assert_eq!((again.id, again.attempt), (lease.id, 2));
    second.ack(again.id, again.token).unwrap();
    assert_eq!(second.stats().unwrap().total.done, 1);
    assert_eq!(second.stats().unwrap().total.pending, 0);
}

#[test]
fn snapshots_compact_the_log_and_lose_nothing() {
    let mut target = nats_target();
    target.snapshot_after_bytes = 8 << 10;
    let q = Queue::open_nats(&target, QueueConfig::default()).unwrap();
    let mut done = Vec::new();
    for b in 0..400u64 {
        q.enqueue_one(task("q", b, 0)).unwrap();
        if b % 2 == 0 {
            let l = q.lease("q", "w", LEASE).unwrap().unwrap();
            q.ack(l.id, l.token).unwrap();
            done.push(l.id);
        }
    }
    let before = q.view().unwrap().stats(q.now_ms());
    drop(q);
    let messages = stream_messages(&target);
    // 400 enqueues and 200 lease+ack pairs are 800 entries without compaction.
    assert!(messages < 400, "the log was compacted: {messages} entries left");
    let q = Queue::open_nats(&target, QueueConfig::default()).unwrap();
    let after = q.view().unwrap().stats(q.now_ms());
    assert_eq!((after.total.pending, after.total.done), (before.total.pending, before.total.done));
    assert!(done.iter().all(|id| q.is_done(*id).unwrap()));
    assert_eq!(q.view().unwrap().list(Some("q"), StateFilter::Pending, 1000, q.now_ms()).len(), 200);
}

#[test]
fn a_view_reads_a_running_queue_without_fencing_it() {
    let target = nats_target();
    let q = Queue::open_nats(&target, QueueConfig::default()).unwrap();
    q.enqueue(vec![task("a", 1, 0), task("a", 2, 0), task("b", 1, 0)]).unwrap();
    let l = q.lease("a", "w", LEASE).unwrap().unwrap();
    let view = read_view(&target).unwrap();
    let stats = view.stats(q.now_ms());
    assert_eq!((stats.total.pending, stats.total.leased), (2, 1));
    q.ack(l.id, l.token).expect("the writer still owns the queue");
}

#[test]
fn unreachable_server_and_bad_settings_are_clear_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut target = NatsTarget::new(format!("nats://user:hunter2@127.0.0.1:{port}"));
    target.connect_timeout = Duration::from_millis(300);
    let err = Queue::open_nats(&target, QueueConfig::default()).err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, QueueError::NatsUnreachable { .. }), "{err:?}");
    assert!(text.contains("127.0.0.1") && !text.contains("hunter2"), "{text}");
    let err = Queue::open_nats(&nats_target().with_prefix("has.dot"), QueueConfig::default()).err().unwrap();
    assert!(matches!(err, QueueError::NatsConfig(_)), "{err:?}");
}

/// §15: a payload over what one message of the server can carry (1 MiB by
/// default, below §9's 5 MiB) is refused at enqueue; the queue goes on.
#[test]
fn a_payload_over_the_servers_message_size_is_refused_and_the_queue_goes_on() {
    let q = Queue::open_nats(&nats_target(), QueueConfig::default()).unwrap();
    let big = NewTask::new("q", 1, vec![7; 2 << 20]);
    let err = q.enqueue_one(big).unwrap_err();
    assert!(
        matches!(err, QueueError::PayloadTooLarge { size, limit } if size == 2 << 20 && limit < 1 << 20),
        "{err:?}"
    );
    q.enqueue_one(NewTask::new("q", 2, vec![7; 512 << 10])).unwrap();
    let l = q.lease("q", "w", LEASE).unwrap().unwrap();
    assert_eq!((l.block_number, l.payload.len()), (2, 512 << 10));
    q.ack(l.id, l.token).unwrap();
    assert_eq!(q.stats().unwrap().total.done, 1);
}

#[test]
fn jetstream_disabled_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bin = slotproof_queue::nats_server::binary().unwrap();
    let mut child = std::process::Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let err = Queue::open_nats(&NatsTarget::new(format!("nats://127.0.0.1:{port}")), QueueConfig::default()).err();
    let _ = child.kill();
    let _ = child.wait();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("JetStream") && text.contains("-js"), "{text}");
}

/// §15: the server is killed with SIGKILL while producers and workers run,
/// then restarted on the same store. Operations wait while it is away; after
/// it, every task was completed exactly once and nothing was lost.
#[test]
fn a_server_killed_mid_run_loses_no_task_and_completes_none_twice() {
    const TASKS: u64 = 600;
    let dir = tempfile::tempdir().unwrap();
    let mut server = LocalServer::start(&dir.path().join("js")).unwrap();
    let target = NatsTarget::new(server.url()).with_prefix("killed");
    let cfg = QueueConfig { backoff_base_ms: 1, backoff_max_ms: 20, ..Default::default() };
    let q = Arc::new(Queue::open_nats(&target, cfg.clone()).unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let enqueued = Arc::new(AtomicU64::new(0));
    let producer = {
        let (q, enqueued) = (q.clone(), enqueued.clone());
        thread::spawn(move || {
            for b in 0..TASKS {
                q.enqueue_one(NewTask::new("work", b, b.to_be_bytes().to_vec())).unwrap();
                enqueued.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (q, stop, acked) = (q.clone(), stop.clone(), acked.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Some(l) = q.lease_wait("work", &format!("w{i}"), LEASE, Duration::from_millis(100)).unwrap()
                    else {
                        continue;
                    };
                    thread::sleep(Duration::from_millis(1));
                    if q.ack(l.id, l.token).is_ok() {
                        *acked.lock().unwrap().entry(l.id.to_hex()).or_default() += 1;
                    }
                }
            })
        })
        .collect();

    // Kill once real work is under way, with more to come.
    while enqueued.load(Ordering::SeqCst) < TASKS / 3 {
        thread::sleep(Duration::from_millis(5));
    }
    let done_before = acked.lock().unwrap().len();
    server.kill();
    thread::sleep(Duration::from_millis(1500));
    server.restart().unwrap();

    producer.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while q.stats().unwrap().total.done < TASKS && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(done_before > 0 && done_before < TASKS as usize, "the kill landed mid-run ({done_before} done before)");
    let twice: Vec<_> = acked.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "completed twice: {twice:?}");
    assert_eq!(acked.len() as u64, TASKS, "every task completed once");
    drop(q);

    // What the restarted server kept is what the workers saw.
    let q = Queue::open_nats(&target, cfg).unwrap();
    let stats = q.stats().unwrap();
    assert_eq!((stats.total.done, stats.total.pending, stats.total.dead), (TASKS, 0, 0));
}

/// Messages left in the queue's stream, read through the server's monitoring-free API.
fn stream_messages(target: &NatsTarget) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = slotproof_queue::nats::connect(target, "test").await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream(target.stream_name()).await.unwrap();
        stream.info().await.unwrap().state.messages
    })
}
