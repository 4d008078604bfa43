//! `slotproof node` end to end, as an operator runs it (specs/chain.md): the
//! embedded dev chain, a real Anvil, SIGKILL and restart, a lying RPC.
//! Multi-process: the tests in this file run one at a time.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};
use slotproof_tests::http::{get, get_json, rpc};
use slotproof_tests::{Node, free_port, paths, results, serial, slotproof, spawn_listening, wait_for};

/// The shipped replay order and hashes (testdata/).
fn replay() -> Vec<(u64, String)> {
    let dir = paths::testdata().unwrap().join("blocks");
    let mut blocks: Vec<(u64, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let v: Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            let n = u64::from_str_radix(v["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
            (n, v["hash"].as_str().unwrap().to_string())
        })
        .collect();
    blocks.sort();
    blocks
}

/// The acceptance run (specs/chain.md §4–§6): six real mainnet blocks, each with
/// ≥ 2 verified proofs from distinct zkVMs, one of them `stark`.
#[test]
fn embedded_devchain_six_blocks_each_proven_by_distinct_zkvms() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let summary = dir.path().join("out.json");
    let out = slotproof(&[
        "node",
        "--slot-time",
        "2s",
        "--exit-after-blocks",
        "6",
        "--summary-json",
        summary.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--http",
        "off",
    ]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let blocks: Vec<Value> = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(blocks.len(), 6, "{log}");
    let replay = replay();
    for (b, (number, hash)) in blocks.iter().zip(&replay) {
        assert_eq!(b["block_number"].as_u64(), Some(*number));
        assert_eq!(b["block_hash"].as_str(), Some(hash.as_str()), "real mainnet hashes");
        let verified: BTreeSet<&str> = b["proofs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["verified"] == true)
            .map(|p| p["zkvm"].as_str().unwrap())
            .collect();
        assert!(verified.len() >= 2 && verified.contains("stark"), "block {number}: {b}");
        let stark = b["proofs"].as_array().unwrap().iter().find(|p| p["zkvm"] == "stark").unwrap();
        assert_eq!(stark["simulated"], false);
        assert!(stark["proof_bytes"].as_u64().unwrap() > 100_000);
    }
    // The non-consecutive replay shows as gaps, not reorgs.
    assert!(log.contains("gap: earlier blocks are not proven"), "{log}");
    assert!(!log.contains("reorg"), "{log}");
    // One readable line per block.
    assert!(log.matches("slot ").count() >= 6 && log.contains("deadline"), "{log}");
}

/// `/metrics`, `/status`, `/health` and `slotproof status` on a running node;
/// SIGTERM stops it cleanly.
#[test]
fn a_running_node_serves_metrics_and_status_and_stops_on_sigterm() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let data = dir.path().join("data");
    let mut node = Node::start(&["node", "--slot-time", "2s", "--data-dir", data.to_str().unwrap(), "--http", &addr]);
    assert!(node.wait_log("deadline", Duration::from_secs(40)), "{}", node.log());
    let metrics = get(port, "/metrics").unwrap();
    for name in [
        "slotproof_blocks_seen_total",
        "slotproof_blocks_closed_total",
        "slotproof_deadline_misses_total",
        "slotproof_proofs_total{",
        "slotproof_proving_seconds_bucket{",
        "slotproof_orchestration_overhead_seconds_bucket",
        "slotproof_queue_depth{",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    assert!(metrics.contains("zkvm=\"stark\""), "{metrics}");
    let health: Value = get_json(port, "/health").unwrap();
    assert_eq!(health["status"], "ok");
    let status: Value = get_json(port, "/status").unwrap();
    assert!(status["recent_blocks"].as_array().is_some_and(|b| !b.is_empty()), "{status}");
    assert!(status["queues"].as_object().is_some_and(|q| q.contains_key("proofs")), "{status}");
    let table = slotproof(&["status", "--http", &addr]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success() && text.contains("16000000"), "{text}");

    node.signal("-TERM");
    let exit = node.wait_exit(Duration::from_secs(30)).expect("node exits on SIGTERM");
    assert!(exit.success(), "{}", node.log());
    assert!(node.log().contains("SIGTERM"));
}

/// SIGKILL mid-proof, restart on the same data dir: every announced block is
/// recorded once, none lost (specs/chain.md §5 Restart).
#[test]
fn sigkill_mid_run_then_restart_loses_nothing_and_records_nothing_twice() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let mut node = Node::start(&["node", "--slot-time", "1500ms", "--data-dir", data_s, "--http", "off"]);
    // Kill while a block is being proven (its line is logged at queue time).
    assert!(node.wait_log("block queued", Duration::from_secs(30)), "{}", node.log());
    std::thread::sleep(Duration::from_millis(3200));
    node.signal("-KILL");
    assert!(node.wait_exit(Duration::from_secs(10)).is_some());
    let before = results(&data);
    assert!(!before.is_empty());

    let out = slotproof(&[
        "node",
        "--slot-time",
        "1500ms",
        "--data-dir",
        data_s,
        "--http",
        "off",
        "--exit-after-blocks",
        "2",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = results(&data);
    let numbers: Vec<u64> = after.iter().map(|b| b["block_number"].as_u64().unwrap()).collect();
    let unique: BTreeSet<u64> = numbers.iter().copied().collect();
    assert_eq!(unique.len(), numbers.len(), "a block recorded twice: {numbers:?}");
    // No block lost: the records are a prefix of the replay, without holes.
    let replay: Vec<u64> = replay().into_iter().map(|(n, _)| n).collect();
    assert_eq!(numbers, replay[..numbers.len()].to_vec());
    assert!(numbers.len() > before.len(), "the restart went on");
    // Blocks open at the kill were finished after the restart.
    assert!(after.iter().all(|b| b["closed"] == true), "{after:?}");
    for b in &after {
        let stark = b["proofs"].as_array().unwrap().iter().find(|p| p["zkvm"] == "stark").unwrap();
        assert!(stark["status"] == "proved" || stark["status"] == "missed", "{b}");
    }
}

struct Anvil(Child);

impl Anvil {
    fn start(port: u16, state: &Path) -> Anvil {
        let mut cmd = Command::new(paths::anvil_bin().unwrap_or_else(|e| panic!("{e}")));
        cmd.args(["--port", &port.to_string(), "--block-time", "1", "--state", state.to_str().unwrap(), "--silent"]);
        Anvil(spawn_listening(&mut cmd, port, "anvil"))
    }
    fn stop(mut self) {
        // SIGTERM lets it dump its state for the restart.
        Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().unwrap();
        let _ = self.0.wait();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn head(port: u16) -> u64 {
    let v = rpc(port, "eth_blockNumber", json!([]));
    u64::from_str_radix(v["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Against a real Anvil over WebSocket: every block seen once and in order,
/// proven by the default zkVMs; `anvil_reorg` is followed; Anvil restarted →
/// the follower reconnects and catches up.
#[test]
fn follows_a_real_anvil_through_a_reorg_and_a_restart() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (port, http) = (free_port(), free_port());
    let state = dir.path().join("anvil-state.json");
    let anvil = Anvil::start(port, &state);
    let data = dir.path().join("data");
    let url = format!("ws://127.0.0.1:{port}");
    let http_addr = format!("127.0.0.1:{http}");
    let node = Node::start(&[
        "node",
        "--rpc-url",
        &url,
        "--slot-time",
        "2s",
        "--data-dir",
        data.to_str().unwrap(),
        "--http",
        &http_addr,
    ]);
    // A few blocks recorded and the node at Anvil's head, so the reorg
    // replaces blocks the node has seen.
    wait_for("the node to record 3 blocks and reach Anvil's head", Duration::from_secs(60), || {
        let anvil_head = head(port);
        let status = get_json(http, "/status").unwrap_or(Value::Null);
        let recorded = status["recent_blocks"].as_array().map_or(0, Vec::len);
        let at = status["head"]["number"].as_u64();
        if recorded >= 3 && at.is_some_and(|n| n >= anvil_head) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(format!(
                "recorded {recorded}, node head {at:?}, anvil head {anvil_head}\n{}",
                node.log()
            ))
        }
    });

    // Replace the last two blocks.
    let before = head(port);
    let reorg = rpc(port, "anvil_reorg", json!([2, []]));
    assert!(reorg.get("error").is_none(), "{reorg}");
    assert!(node.wait_log("block orphaned by a reorg", Duration::from_secs(20)), "{}", node.log());

    // Anvil down and back on the same port and state.
    anvil.stop();
    assert!(node.wait_log("RPC down", Duration::from_secs(20)), "{}", node.log());
    let anvil = Anvil::start(port, &state);
    assert!(node.wait_log("RPC back", Duration::from_secs(30)), "{}", node.log());
    let resumed_at = head(port);
    // A few blocks past the restart, so the run is not all transition.
    wait_for("catch-up after Anvil's restart", Duration::from_secs(30), || {
        let status = get_json(http, "/status").unwrap_or(Value::Null);
        match status["head"]["number"].as_u64() {
            Some(n) if n > resumed_at + 3 => ControlFlow::Break(()),
            at => ControlFlow::Continue(format!("node head {at:?}, resumed at {resumed_at}\n{}", node.log())),
        }
    });
    let mut node = node;
    node.signal("-TERM");
    assert!(node.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()), "{}", node.log());
    drop(anvil);

    let blocks = results(&data);
    let canonical: Vec<&Value> = blocks.iter().filter(|b| b["orphaned"] == false).collect();
    let numbers: Vec<u64> = canonical.iter().map(|b| b["block_number"].as_u64().unwrap()).collect();
    let mut sorted = numbers.clone();
    sorted.dedup();
    assert_eq!(sorted, numbers, "each canonical height once, in order");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "no canonical block skipped: {numbers:?}");
    let orphaned = blocks.iter().filter(|b| b["orphaned"] == true).count();
    assert!((1..=2).contains(&orphaned), "the reorged-out blocks are marked: {orphaned}");
    assert!(numbers.contains(&before), "the new block at the reorged height is proven too");
    // The last two blocks may still be queued at shutdown (they resume on restart).
    let settled = &canonical[..canonical.len().saturating_sub(2)];
    let summary: Vec<String> = canonical
        .iter()
        .map(|b| {
            let stark = b["proofs"].as_array().unwrap().iter().find(|p| p["zkvm"] == "stark");
            format!("{}:{}", b["block_number"], stark.map_or(Value::Null, |p| p["status"].clone()))
        })
        .collect();
    let proven = settled
        .iter()
        .filter(|b| b["proofs"].as_array().unwrap().iter().any(|p| p["zkvm"] == "stark" && p["verified"] == true))
        .count();
    assert!(proven * 10 >= settled.len() * 8, "stark proved most blocks: {proven}/{}: {summary:?}", settled.len());
}

/// A small JSON-RPC server that answers with bad data: wrong hash, missing
/// fields, non-JSON. The node says what is wrong and keeps running.
#[test]
fn a_lying_rpc_gives_clear_errors_and_the_node_keeps_running() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir_blocks = paths::testdata().unwrap().join("blocks");
    let mut real: Value = serde_json::from_slice(&std::fs::read(dir_blocks.join("17000000.json")).unwrap()).unwrap();
    real["gasUsed"] = "0x1".into(); // the header no longer hashes to its hash
    let answers =
        [real.to_string(), json!({"number": "0x10", "hash": "0x12"}).to_string(), "this is not json".to_string()];
    std::thread::spawn(move || {
        let mut i = 0;
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 65536];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = if req.contains("web3_clientVersion") {
                json!({"jsonrpc": "2.0", "id": 0, "result": "liar/1"}).to_string()
            } else {
                i += 1;
                let a = &answers[i % answers.len()];
                if a.starts_with('{') { format!("{{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{a}}}") } else { a.clone() }
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let http = free_port();
    let mut node = Node::start(&[
        "node",
        "--rpc-url",
        &format!("http://127.0.0.1:{port}"),
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "--http",
        &format!("127.0.0.1:{http}"),
    ]);
    assert!(node.wait_log("not the Keccak-256 of the header", Duration::from_secs(30)), "{}", node.log());
    assert!(
        node.wait_log("not a 32-byte hash", Duration::from_secs(30)) || node.log().contains("missing"),
        "{}",
        node.log()
    );
    // Still running: it reports itself degraded and keeps asking the liar
    // (the same bad header refused again, after the other errors).
    let first = node.log().matches("not the Keccak-256 of the header").count();
    wait_for("the node to stay up, degraded, and ask again", Duration::from_secs(60), || {
        let health = get_json(http, "/health").unwrap_or(Value::Null);
        let refused = node.log().matches("not the Keccak-256 of the header").count();
        if health["status"] == "degraded" && refused > first {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(format!("/health {health}, bad header refused {refused} times\n{}", node.log()))
        }
    });
    assert!(node.running(), "the node is still running: {}", node.log());
    assert!(!node.log().contains("panicked"), "{}", node.log());
}
