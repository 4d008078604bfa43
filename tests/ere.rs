//! ere-server both ways (specs/provers.md §9): `slotproof ere-server` serves
//! the built-in STARK over Twirp, and `kind = "ere"` proves through it, from
//! the one-shot commands and from a node on the dev chain. Multi-process:
//! one test at a time.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use serde_json::Value;
use slotproof_tests::{free_port, json_of, paths, serial, slotproof, slotproof_command, spawn_listening};

fn block(number: u64) -> String {
    paths::testdata().unwrap().join(format!("blocks/{number}.json")).to_str().unwrap().to_string()
}

fn config(dir: &Path, port: u16) -> String {
    let path = dir.join("zkvm.toml");
    let text = format!(
        "[[zkvm]]\nname = \"remote-stark\"\nkind = \"ere\"\nurl = \"http://127.0.0.1:{port}\"\ninput = \"block-json\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The server process, killed however the test ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str]) -> Output {
    slotproof(args)
}

/// `slotproof prove|verify --zkvm remote-stark --config CFG --block N` with
/// the proof file (`--out` to prove, `--proof` to verify).
fn remote(cfg: &str, verb: &str, block_number: u64, file: &str) -> Output {
    let flag = if verb == "prove" { "--out" } else { "--proof" };
    run(&[verb, "--zkvm", "remote-stark", "--config", cfg, "--block", &block(block_number), flag, file, "--json"])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_node_proves_through_an_ere_server_and_a_bad_proof_or_a_dead_server_is_told_apart() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = spawn_listening(
        slotproof_command().args(["ere-server", "--zkvm", "stark", "--listen", &listen]),
        port,
        "ere-server",
    );
    let server = Server(server);
    let cfg = config(dir.path(), port);
    let proof = dir.path().join("proof.json");
    let proof_s = proof.to_str().unwrap();

    // Prove and verify through the server.
    let proved = json_of(&remote(&cfg, "prove", 21_230_866, proof_s));
    assert_eq!(proved["block_number"], 21_230_866);
    assert_eq!(proved["simulated"], false);
    let verified = json_of(&remote(&cfg, "verify", 21_230_866, proof_s));
    assert_eq!(verified["verified"], true);

    // The same proof for another block, or with a byte flipped: refused as invalid.
    let other = remote(&cfg, "verify", 21_230_867, proof_s);
    assert!(!other.status.success() && stderr(&other).contains("is invalid"), "{}", stderr(&other));
    let mut file: Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    let mut bytes = base64::engine::general_purpose::STANDARD.decode(file["proof"].as_str().unwrap()).unwrap();
    let at = bytes.len() - 64;
    bytes[at] ^= 1;
    file["proof"] = Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&file).unwrap()).unwrap();
    let refused = remote(&cfg, "verify", 21_230_866, bad.to_str().unwrap());
    let text = stderr(&refused);
    assert!(!refused.status.success() && text.contains("proof rejected") && text.contains("Verify"), "{text}");

    // A node on the dev chain proves every block through the server.
    let data = dir.path().join("data");
    let summary = dir.path().join("summary.json");
    let out = run(&[
        "node",
        "--config",
        &cfg,
        "--slot-time",
        "2s",
        "--exit-after-blocks",
        "2",
        "--http",
        "off",
        "--summary-json",
        summary.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blocks: Vec<Value> = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(blocks.len(), 2, "{}", stderr(&out));
    for b in &blocks {
        let p = &b["proofs"][0];
        assert_eq!(
            (p["zkvm"].as_str(), p["status"].as_str(), p["verified"].as_bool()),
            (Some("remote-stark"), Some("proved"), Some(true)),
            "{b}"
        );
        assert!(b["new_payload_request_root"].as_str().is_some_and(|r| r.len() == 66), "{b}");
    }

    // The server gone: a transient failure (worth a retry), not a verdict on the block.
    drop(server);
    let down = remote(&cfg, "prove", 21_230_866, proof_s);
    let text = stderr(&down);
    assert!(
        !down.status.success() && text.contains("transient prover failure") && text.contains("ere-server"),
        "{text}"
    );
    let down = remote(&cfg, "verify", 21_230_866, proof_s);
    assert!(stderr(&down).contains("transient"), "{}", stderr(&down));
}

/// specs/proof-engine.md §3: the proof engine serves an ere backend's proofs
/// as the server gave them (raw), and verifies them through the server.
#[test]
fn the_proof_engine_serves_and_verifies_an_ere_backends_raw_proofs() {
    use slotproof_tests::Node;
    use slotproof_tests::http::request;

    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _server = Server(spawn_listening(
        slotproof_command().args(["ere-server", "--zkvm", "stark", "--listen", &listen]),
        port,
        "ere-server",
    ));
    let cfg = config(dir.path(), port);
    let engine = free_port();
    let engine_listen = format!("127.0.0.1:{engine}");
    let data = dir.path().join("data");
    let node = Node::start(&[
        "node",
        "--config",
        &cfg,
        "--slot-time",
        "60s",
        "--proof-engine-listen",
        &engine_listen,
        "--http",
        "off",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(node.wait_log("proof-engine API", std::time::Duration::from_secs(20)), "{}", node.log());
    let types = request(engine, "GET", "/v1/proof_types", b"").json();
    assert_eq!(types["proof_types"][0]["proof_type"], "remote-stark");
    assert_eq!(types["proof_types"][0]["kind"], "ere");
    let ssz = dir.path().join("npr.ssz");
    let out = json_of(&run(&["payload", "--block", &block(21_230_866), "--ssz-out", ssz.to_str().unwrap(), "--json"]));
    let root = out["new_payload_request_root"].as_str().unwrap().to_string();
    let body = std::fs::read(&ssz).unwrap();
    let posted = request(engine, "POST", "/v1/execution_proof_requests?proof_types=remote-stark", &body);
    assert_eq!(posted.status, 200, "{}", String::from_utf8_lossy(&posted.body));
    let path = format!("/v1/execution_proofs/{root}/remote-stark");
    let proof = slotproof_tests::wait_for("the ere-backed proof", std::time::Duration::from_secs(60), || {
        let r = request(engine, "GET", &path, b"");
        if r.status == 200 { std::ops::ControlFlow::Break(r.body) } else { std::ops::ControlFlow::Continue(node.log()) }
    });
    let verify = |bytes: &[u8]| {
        let path = format!("/v1/execution_proof_verifications?new_payload_request_root={root}&proof_type=remote-stark");
        request(engine, "POST", &path, bytes).json()["status"].as_str().unwrap().to_string()
    };
    assert_eq!(verify(&proof), "VALID");
    let mut flipped = proof.clone();
    let at = flipped.len() - 64;
    flipped[at] ^= 1;
    assert_eq!(verify(&flipped), "INVALID");
    assert_eq!(verify(b"junk"), "INVALID");
}
