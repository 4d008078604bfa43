//! `slotproof node` end to end, as an operator runs it (specs/chain.md): the
//! embedded dev chain, a real Anvil, SIGKILL and restart, a lying RPC.
//! Multi-process: the tests in this file run one at a time.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Node, free_port, json_of, serial, slotproof};
use serde_json::{Value, json};

/// The shipped replay order and hashes (testdata/).
fn replay() -> Vec<(u64, String)> {
    let dir = common::manifest_dir().join("../../testdata/blocks");
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

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn rpc(port: u16, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    // Anvil may answer chunked; the JSON object is the part between the outer braces.
    let start = body.find('{').unwrap();
    let end = body.rfind('}').unwrap();
    serde_json::from_str(&body[start..=end]).unwrap()
}

fn results(dir: &Path) -> Vec<Value> {
    let out = json_of(&slotproof(&["results", "--data-dir", dir.to_str().unwrap(), "--json"]));
    out["blocks"].as_array().unwrap().clone()
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
    let metrics = http_get(port, "/metrics").unwrap();
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
    let health: Value = serde_json::from_str(&http_get(port, "/health").unwrap()).unwrap();
    assert_eq!(health["status"], "ok");
    let status: Value = serde_json::from_str(&http_get(port, "/status").unwrap()).unwrap();
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

fn anvil_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SLOTPROOF_ANVIL") {
        return p.into();
    }
    let local = common::manifest_dir().join("../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(
        local.exists(),
        "Anvil is needed: npm install --no-save @foundry-rs/anvil-linux-amd64@1.7.1 (or set SLOTPROOF_ANVIL)"
    );
    local
}

/// Starts a quiet server process and waits until it accepts connections on `port`.
fn spawn_listening(cmd: &mut Command, port: u16, what: &str) -> Child {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

struct Anvil(Child);

impl Anvil {
    fn start(port: u16, state: &Path) -> Anvil {
        let mut cmd = Command::new(anvil_bin());
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
    assert!(node.wait_log("block queued", Duration::from_secs(30)), "{}", node.log());
    std::thread::sleep(Duration::from_secs(4));

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
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value =
            http_get(http, "/status").and_then(|b| serde_json::from_str(&b).ok()).unwrap_or(Value::Null);
        // A few blocks past the restart, so the run is not all transition.
        if status["head"]["number"].as_u64().is_some_and(|n| n > resumed_at + 3) {
            break;
        }
        assert!(Instant::now() < until, "no catch-up after the restart: {}", node.log());
        std::thread::sleep(Duration::from_millis(200));
    }
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
    let dir_blocks = common::manifest_dir().join("../../testdata/blocks");
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
    std::thread::sleep(Duration::from_secs(2));
    assert!(node.child.try_wait().unwrap().is_none(), "the node is still running: {}", node.log());
    let health: Value = serde_json::from_str(&http_get(http, "/health").unwrap()).unwrap();
    assert_eq!(health["status"], "degraded");
    assert!(!node.log().contains("panicked"));
    let _ = SocketAddr::from(([127, 0, 0, 1], http));
}

/// A running `slotproof ethproofs-server`, stopped on drop.
struct EthproofsServer {
    child: Child,
    port: u16,
}

impl EthproofsServer {
    fn start(dir: &Path, extra: &[&str]) -> EthproofsServer {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args =
            vec!["ethproofs-server", "--listen", &listen, "--data-dir", dir.to_str().unwrap(), "--api-key", "team-key"];
        args.extend_from_slice(extra);
        let child =
            spawn_listening(Command::new(env!("CARGO_BIN_EXE_slotproof")).args(&args), port, "ethproofs-server");
        EthproofsServer { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v0", self.port)
    }

    fn get(&self, path: &str) -> (String, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "GET /api/v0{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer team-key\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).unwrap();
        let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (String::from_utf8_lossy(&bytes[..split]).into_owned(), bytes[split + 4..].to_vec())
    }

    fn proofs(&self) -> Vec<Value> {
        let (_, body) = self.get("/proofs?limit=1000");
        let v: Value = serde_json::from_slice(&body).unwrap();
        v["proofs"].as_array().unwrap().clone()
    }
}

impl Drop for EthproofsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node_with_ethproofs(data: &Path, url: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_slotproof"));
    c.args([
        "node",
        "--slot-time",
        "1500ms",
        "--data-dir",
        data.to_str().unwrap(),
        "--http",
        "off",
        "--ethproofs-url",
        url,
    ])
    .args(extra)
    .env("SLOTPROOF_ETHPROOFS_TOKEN", "team-key")
    .env_remove("RUST_LOG");
    c
}

/// Dev chain + node + ethproofs-server, the node SIGKILLed mid-run and
/// restarted: every block the node proved is on the server as proved, once
/// per (block, cluster), with its proving time and its proof bytes intact
/// (specs/submission.md §2, §5).
#[test]
fn proofs_reach_the_ethproofs_server_once_each_across_a_sigkill() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = EthproofsServer::start(&dir.path().join("server"), &[]);
    let data = dir.path().join("data");
    let mut first =
        node_with_ethproofs(&data, &server.url(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(40);
    while server.proofs().iter().filter(|p| p["proof_status"] == "proved").count() < 2 {
        assert!(Instant::now() < until, "no proofs reached the server");
        std::thread::sleep(Duration::from_millis(200));
    }
    first.kill().unwrap();
    first.wait().unwrap();

    let out = node_with_ethproofs(&data, &server.url(), &["--exit-after-blocks", "2"]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // A restart never creates its cluster again.
    assert_eq!(log.matches("ethproofs cluster created").count(), 0, "{log}");
    // The whole lifecycle went out: queued, proving (when the prover started), proved.
    for call in ["queued", "proving", "proved"] {
        assert!(log.contains(&format!("\"{call}\"")), "no {call} call: {log}");
    }

    let proofs = server.proofs();
    let mut seen = BTreeSet::new();
    for p in proofs.iter().filter(|p| p["proof_status"] == "proved") {
        let key = (p["block_number"].as_u64().unwrap(), p["cluster_id"].as_u64().unwrap());
        assert!(seen.insert(key), "two proved records for {key:?}");
        assert!(p["proving_time"].as_u64().unwrap() > 0);
        // The prover's own count (stark: its trace rows) travels to the API.
        assert!(p["proving_cycles"].as_u64().unwrap() > 0, "{p}");
    }
    // Every block the node proved with stark (not simulated: not submitted) is there.
    let node_proved: BTreeSet<u64> = results(&data)
        .iter()
        .filter(|b| b["proofs"].as_array().unwrap().iter().any(|p| p["zkvm"] == "stark" && p["verified"] == true))
        .map(|b| b["block_number"].as_u64().unwrap())
        .collect();
    let on_server: BTreeSet<u64> = seen.iter().map(|(b, _)| *b).collect();
    assert_eq!(node_proved, on_server, "every proof the node made, none lost");
    assert_eq!(seen.iter().map(|(_, c)| *c).collect::<BTreeSet<_>>().len(), 1, "one cluster: stark");
    // The bytes are intact: the STARK label and the size the server counted.
    let p = proofs.iter().find(|p| p["proof_status"] == "proved").unwrap();
    let (head, bytes) = server.get(&format!("/proofs/download/{}", p["proof_id"]));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(bytes.starts_with(b"SLOTPROOF-STARK-KECCAK-HEADER-v1\0"));
    assert_eq!(bytes.len() as u64, p["size_bytes"].as_u64().unwrap());
}

/// The server's 429 + Retry-After paces the node, which still delivers every
/// proof; a request the service refuses (an unknown cluster) is dead-lettered
/// with the answer, and the node keeps going.
#[test]
fn rate_limits_are_waited_out_and_refused_requests_are_dead_lettered() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = EthproofsServer::start(&dir.path().join("server"), &["--rate-limit", "2/3s"]);
    let data = dir.path().join("data");
    let out = node_with_ethproofs(&data, &server.url(), &["--exit-after-blocks", "3", "--submit-simulated"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ethproofs rate limit"), "the server limited: {log}");
    let proved = server.proofs().iter().filter(|p| p["proof_status"] == "proved").count();
    assert!(proved >= 3 * 2, "three blocks, several zkVMs each (simulated ones on request): {proved}");

    // Now map stark to a cluster the team does not have.
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[ethproofs]\nclusters = { stark = 999 }\n").unwrap();
    let data2 = dir.path().join("data2");
    let out =
        node_with_ethproofs(&data2, &server.url(), &["--config", config.to_str().unwrap(), "--exit-after-blocks", "2"])
            .output()
            .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ethproofs refused the request: dead-lettered"), "{log}");
    let dead = json_of(&slotproof(&["queue", "dead", "--data-dir", data2.to_str().unwrap(), "--json"]));
    let text = dead.to_string();
    assert!(text.contains("HTTP 404") && text.contains("Cluster not found"), "{text}");
}
