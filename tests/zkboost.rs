//! `kind = "zkboost"` (specs/provers.md §10): node A proves every block
//! through node B's proof-engine API, as it would through a zkboost
//! installation; B is killed mid-proof and restarted, and A's proof of that
//! block arrives after a retry or fails cleanly; nothing hangs.
//! Multi-process: one test at a time.
#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::time::Duration;

use serde_json::Value;
use slotproof_tests::{Node, free_port, serial, wait_for};

/// B proves with a simulated zkVM slow enough (seconds) to be killed mid-proof.
const B_ZKVM: &str = "sim:sp1-hypercube";

/// B follows its own dev chain at a slow slot, so the blocks A asks for are
/// new to it (proved on request, not already held); its simulated zkVM runs
/// at a quarter of full-scale times (seconds a proof).
fn start_b(port: u16, data: &std::path::Path) -> Node {
    let listen = format!("127.0.0.1:{port}");
    Node::start(&[
        "node",
        "--zkvm",
        B_ZKVM,
        "--slot-time",
        "120s",
        "--sim-time-scale",
        "0.25",
        "--proof-engine-listen",
        &listen,
        "--http",
        "off",
        "--data-dir",
        data.to_str().unwrap(),
    ])
}

#[test]
fn a_node_proves_through_another_nodes_proof_engine_across_its_restart() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let b_data = dir.path().join("b");
    let mut b = start_b(port, &b_data);
    assert!(b.wait_log("proof-engine API", Duration::from_secs(10)), "{}", b.log());
    let cfg = dir.path().join("a.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[zkvm]]\nname = \"via-b\"\nkind = \"zkboost\"\nurl = \"http://127.0.0.1:{port}\"\nzkboost_proof_type = \"{B_ZKVM}\"\ntimeout = \"90s\"\n"
        ),
    )
    .unwrap();
    let summary = dir.path().join("a.json");
    let a = Node::start(&[
        "node",
        "--config",
        cfg.to_str().unwrap(),
        "--slot-time",
        "6s",
        "--exit-after-blocks",
        "4",
        "--http",
        "off",
        "--summary-json",
        summary.to_str().unwrap(),
        "--data-dir",
        dir.path().join("a").to_str().unwrap(),
    ]);
    // A's request for its second block (new to B): kill B while it proves that, then bring it back.
    wait_for("B to take A's request for block 16000001", Duration::from_secs(60), || {
        if b.log().contains("proof request queued block=16000001") {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(b.log())
        }
    });
    b.signal("-KILL");
    assert!(b.wait_exit(Duration::from_secs(10)).is_some());
    let killed_log = b.log();
    let b = start_b(port, &b_data);
    let mut a = a;
    let status = a.wait_exit(Duration::from_secs(180));
    let a_log = a.log();
    assert!(status.is_some_and(|s| s.success()), "A did not finish cleanly:\n{a_log}\n--- B\n{}", b.log());
    let blocks: Vec<Value> = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(blocks.len(), 4, "{a_log}");
    let mut proved = 0;
    for blk in &blocks {
        let p = &blk["proofs"][0];
        assert_eq!(p["zkvm"], "via-b");
        match p["status"].as_str() {
            Some("proved") => {
                assert_eq!(p["verified"], true, "verified through B's verification route: {blk}");
                assert_eq!(p["simulated"], true, "B's zkVM is simulated, and B says so: {blk}");
                proved += 1;
            }
            // Clean failures only: a recorded reason.
            Some("failed") => assert!(p["error"].as_str().is_some_and(|e| !e.is_empty()), "{blk}"),
            other => panic!("block {} left {other:?}: {blk}\n{a_log}", blk["block_number"]),
        }
    }
    let all = format!("{blocks:#?}\n--- A\n{a_log}\n--- B (killed)\n{killed_log}\n--- B (restarted)\n{}", b.log());
    assert!(proved >= 3, "the blocks B was not killed during are proved: {proved} of 4\n{all}");
    // The block B was killed during: proved after a retry through the restarted B, or failed with a reason.
    let killed = blocks.iter().find(|x| x["block_number"] == 16_000_001).unwrap();
    assert!(["proved", "failed"].contains(&killed["proofs"][0]["status"].as_str().unwrap()), "{all}");
    assert!(b.log().contains("proof request accepted"), "the retry reached the restarted B: {all}");
    eprintln!("block 16000001, B killed while proving it: {}", killed["proofs"][0]);
}
