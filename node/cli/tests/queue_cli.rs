//! The `slotproof queue` and `slotproof bench queue` commands, run as a user
//! would: the real binary against a real RocksDB, including one held open by a
//! running writer (specs/queue.md §8, §10).
#![allow(clippy::unwrap_used)]

mod common;

use common::{json_of, slotproof};

use std::time::Duration;

use slotproof_queue::{Failure, NewTask, Queue, QueueConfig};

#[test]
fn stats_list_and_dead_read_a_running_writer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let q = Queue::open_rocksdb(&dir.path().join("queue"), QueueConfig::default()).unwrap();
    q.enqueue((0..5).map(|b| NewTask::new("blocks", b, vec![b as u8])).collect()).unwrap();
    let done = q.lease("blocks", "w1", Duration::from_secs(60)).unwrap().unwrap();
    q.ack(done.id, done.token).unwrap();
    let dead = q.lease("blocks", "w1", Duration::from_secs(60)).unwrap().unwrap();
    q.nack(dead.id, dead.token, "witness missing", Failure::Permanent).unwrap();
    let _held = q.lease("blocks", "w2", Duration::from_secs(60)).unwrap().unwrap();

    let stats = json_of(&slotproof(&["queue", "stats", "--data-dir", data, "--json"]));
    let b = &stats["queues"]["blocks"];
    assert_eq!(
        (b["pending"].as_u64(), b["leased"].as_u64(), b["dead"].as_u64(), b["done"].as_u64()),
        (Some(2), Some(1), Some(1), Some(1))
    );

    let list = json_of(&slotproof(&["queue", "list", "--data-dir", data, "--state", "pending", "--json"]));
    let blocks: Vec<u64> =
        list["tasks"].as_array().unwrap().iter().map(|t| t["block_number"].as_u64().unwrap()).collect();
    assert_eq!(blocks, vec![3, 4]);

    let dead_json = json_of(&slotproof(&["queue", "dead", "--data-dir", data, "--json"]));
    assert_eq!(dead_json["tasks"][0]["id"].as_str(), Some(dead.id.to_hex().as_str()));
    assert_eq!(dead_json["tasks"][0]["last_error"].as_str(), Some("witness missing"));

    // requeue needs the writer's lock: refused while the node runs, works once it stops.
    let refused = slotproof(&["queue", "requeue", "--data-dir", data, "--all"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("node stopped"));
    drop(q);
    let requeued = json_of(&slotproof(&["queue", "requeue", "--data-dir", data, "--id", &dead.id.to_hex(), "--json"]));
    assert_eq!(requeued["requeued"].as_u64(), Some(1));
    let stats = json_of(&slotproof(&["queue", "stats", "--data-dir", data, "--json"]));
    // The held lease ended at reopen (it went back to pending with backoff: delayed).
    assert_eq!(stats["total"]["dead"].as_u64(), Some(0));
    assert_eq!(stats["total"]["done"].as_u64(), Some(1));
    assert_eq!(stats["total"]["pending"].as_u64().unwrap() + stats["total"]["delayed"].as_u64().unwrap(), 4);
}

#[test]
fn bad_data_dirs_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a database").unwrap();
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("queue")).unwrap();
    std::fs::write(foreign.join("queue").join("data.bin"), b"\0\x01").unwrap();
    for data in [dir.path().join("missing"), file, foreign] {
        let out = slotproof(&["queue", "stats", "--data-dir", data.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{data:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(data.to_str().unwrap()), "{stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn bench_queue_prints_one_json_line_with_nothing_lost() {
    for backend in ["memory", "rocksdb"] {
        let out = slotproof(&[
            "bench",
            "queue",
            "--backend",
            backend,
            "--tasks",
            "3000",
            "--producers",
            "2",
            "--consumers",
            "2",
            "--json",
        ]);
        let r = json_of(&out);
        for field in [
            "backend",
            "durability",
            "tasks",
            "rate",
            "enqueue_per_s",
            "lease_ack_per_s",
            "p50_ms",
            "p99_ms",
            "lost",
            "duplicated",
        ] {
            assert!(r.get(field).is_some(), "{backend}: missing {field}");
        }
        assert_eq!(r["backend"].as_str(), Some(backend));
        assert_eq!(r["tasks"].as_u64(), Some(3000));
        assert_eq!((r["lost"].as_u64(), r["duplicated"].as_u64()), (Some(0), Some(0)), "{r}");
        assert!(r["lease_ack_per_s"].as_f64().unwrap() > 0.0);
    }
}
