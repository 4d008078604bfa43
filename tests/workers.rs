//! Remote prover workers (specs/workers.md) as an operator runs them: a real
//! `nats-server`, a node on the NATS queue with its own provers off, and
//! `slotproof worker` processes. A worker SIGKILLed mid-proof loses its task,
//! which another worker proves; a worker SIGSTOPped mid-proof loses its task
//! the same way and, once continued, cannot complete it: the node refuses its
//! late result, and no task is completed twice.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use slotproof_queue::nats_server::LocalServer;
use slotproof_tests::http::get_json;
use slotproof_tests::process::{Node, free_port, serial};

const ZKVM: &str = "sim:pico-prism";

fn worker(url: &str, id: &str, time_scale: &str) -> Node {
    Node::start(&["worker", "--queue", url, "--zkvm", ZKVM, "--id", id, "--sim-time-scale", time_scale, "--json"])
}

/// The block a node's log says it leased to `worker`, waiting for it.
fn leased_block(node: &Node, worker: &str, within: Duration) -> u64 {
    let needle = format!("task leased to a remote worker worker={worker} ");
    assert!(node.wait_log(&needle, within), "no task leased to {worker}:\n{}", node.log());
    let log = node.log();
    let line = log.lines().find(|l| l.contains(&needle)).unwrap();
    let field = line.split_whitespace().find_map(|w| w.strip_prefix("block=")).unwrap();
    field.parse().unwrap()
}

#[test]
fn killed_and_stopped_workers_lose_their_tasks_to_others_and_nothing_is_proved_twice() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(&dir.path().join("js")).unwrap_or_else(|e| panic!("{e}"));
    let url = server.url();
    let http = free_port();
    let data = dir.path().join("node");
    let node = Node::start(&[
        "node",
        "--data-dir",
        data.to_str().unwrap(),
        "--queue",
        &url,
        "--no-local-provers",
        "--zkvm",
        ZKVM,
        "--slot-time",
        "8s",
        "--http",
        &format!("127.0.0.1:{http}"),
    ]);
    assert!(node.wait_log("work service listening", Duration::from_secs(30)), "{}", node.log());

    // A slow worker takes the first task and is killed while it proves.
    let slow = worker(&url, "doomed", "1.0");
    let first = leased_block(&node, "doomed", Duration::from_secs(40));
    slow.signal("-KILL");
    let fast = worker(&url, "fast", "0.05");
    let taken_back =
        format!("worker went silent; its task is taken back and retried worker=doomed zkvm={ZKVM} block={first}");
    assert!(node.wait_log(&taken_back, Duration::from_secs(15)), "{}", node.log());
    let proved_first = format!("remote proof handed to the recorder worker=fast zkvm={ZKVM} block={first}");
    assert!(node.wait_log(&proved_first, Duration::from_secs(15)), "{}", node.log());

    // The fast worker leaves; a slow one takes the next task and is frozen (a partition).
    fast.signal("-TERM");
    let frozen = worker(&url, "frozen", "1.0");
    let second = leased_block(&node, "frozen", Duration::from_secs(40));
    frozen.signal("-STOP");
    let rescuer = worker(&url, "rescuer", "0.05");
    let proved_second = format!("remote proof handed to the recorder worker=rescuer zkvm={ZKVM} block={second}");
    assert!(node.wait_log(&proved_second, Duration::from_secs(20)), "{}", node.log());
    // Thawed, it finishes its proof and reports it: refused, the task is someone else's now.
    frozen.signal("-CONT");
    assert!(
        frozen.wait_log("proof refused: the lease was taken back", Duration::from_secs(20)),
        "the frozen worker's late result:\n{}",
        frozen.log()
    );

    let status = get_json(http, "/status").unwrap();
    let workers = status["workers"].as_array().unwrap();
    let by_id = |id: &str| workers.iter().find(|w| w["id"] == id).unwrap_or_else(|| panic!("{id} in {workers:?}"));
    assert!(by_id("frozen")["leases_lost"].as_u64().unwrap() >= 1, "{status}");
    assert!(by_id("doomed")["leases_lost"].as_u64().unwrap() >= 1, "{status}");
    assert!(by_id("rescuer")["alive"].as_bool().unwrap(), "{status}");
    assert_eq!(status["queue_backend"], "nats");
    // One proof per block handed on, whoever tried: the prove queue's done
    // count equals the proofs queue's, and every proof task is done once.
    let queues = &status["queues"];
    let prove_done = queues[format!("prove:{ZKVM}")]["done"].as_u64().unwrap();
    let handed_on: u64 = ["done", "pending", "leased"].iter().map(|k| queues["proofs"][k].as_u64().unwrap_or(0)).sum();
    assert_eq!(handed_on, prove_done, "{status}");
    let recent = status["recent_blocks"].as_array().unwrap();
    for b in recent.iter().filter(|b| b["block_number"] == first || b["block_number"] == second) {
        let proofs = b["proofs"].as_array().unwrap();
        assert_eq!(proofs.len(), 1, "one proof of block {}: {b}", b["block_number"]);
    }
    drop(rescuer);
    drop(frozen);
    drop(node);
    drop(server);
}
