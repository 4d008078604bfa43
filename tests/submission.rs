//! A node and `slotproof ethproofs-server` in separate processes
//! (specs/submission.md §2, §5, §6): proofs reach the server once each across
//! a SIGKILL and a restart, rate limits are waited out, a refusal for
//! configuration (an unknown cluster) keeps the proof queued. Multi-process:
//! the tests in this file run one at a time.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use slotproof_tests::ethproofs::KEYS_ENV;
use slotproof_tests::{EthproofsServer, json_of, results, serial, slotproof, slotproof_command, wait_for};

fn node_with_ethproofs(data: &Path, url: &str, extra: &[&str]) -> Command {
    let mut c = slotproof_command();
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
    .env("SLOTPROOF_ETHPROOFS_TOKEN", "team-key");
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
    wait_for("two proved proofs on the server", Duration::from_secs(40), || {
        let proofs = server.proofs();
        let proved = proofs.iter().filter(|p| p["proof_status"] == "proved").count();
        if proved >= 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(format!("{proofs:?}")) }
    });
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
/// proof; a 404 `Cluster not found` (a configuration problem) keeps the proof
/// queued, held, with one clear error, and the node keeps going and still
/// exits (specs/submission.md §2).
#[test]
fn rate_limits_are_waited_out_and_an_unknown_cluster_keeps_the_proof() {
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
    assert_eq!(log.matches("ethproofs refuses this node's calls").count(), 1, "one error per change: {log}");
    assert!(log.contains("check [ethproofs] url and clusters"), "says what to fix: {log}");
    assert!(!log.contains("team-key"), "the key is never logged");
    let dead = json_of(&slotproof(&["queue", "dead", "--data-dir", data2.to_str().unwrap(), "--json"]));
    assert!(!dead.to_string().contains("Cluster not found"), "not dead-lettered: {dead}");
    let held = json_of(&slotproof(&[
        "queue",
        "list",
        "--data-dir",
        data2.to_str().unwrap(),
        "--queue",
        "ethproofs",
        "--json",
    ]));
    let text = held.to_string();
    assert!(text.contains("HTTP 404") && text.contains("Cluster not found"), "kept, with the answer: {text}");
}

/// An external zkVM whose proofs are EIP-8025's largest, 4 MiB: the command
/// writes its output JSON with a 4 MiB proof of zero bytes.
const BIG_ZKVM: &str = r#"
[[zkvm]]
name = "big"
command = ["sh", "-c", "{ printf '{\"proof\":\"'; head -c 4194304 /dev/zero | base64 -w0; printf '\",\"public_values\":\"\",\"proving_time_ms\":5}'; } > \"$1\"", "sh", "{output}"]
verify_command = ["true"]
timeout = "60s"
"#;

/// A proof of EIP-8025's 4 MiB travels whole from an external prover to the
/// Ethproofs-compatible server over HTTP (specs/submission.md §2, specs/queue.md
/// §14): the queue carries it by digest, so no payload cap stops it, and the
/// node's record counts its bytes.
#[test]
fn a_4_mib_proof_reaches_the_ethproofs_server() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = EthproofsServer::start(&dir.path().join("server"), &[]);
    let config = dir.path().join("node.toml");
    std::fs::write(&config, BIG_ZKVM).unwrap();
    let data = dir.path().join("data");
    let mut node = node_with_ethproofs(&data, &server.url(), &["--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proof = wait_for("a 4 MiB proof proved on the server", Duration::from_secs(90), || {
        // Slowly: `GET /proofs` counts against the key's 60 calls a minute.
        std::thread::sleep(Duration::from_secs(2));
        let (_, body) = server.get("/proofs?limit=10");
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        match v["proofs"].as_array().and_then(|ps| ps.iter().find(|p| p["proof_status"] == "proved")) {
            Some(p) => ControlFlow::Break(p.clone()),
            None => ControlFlow::Continue(v.to_string()),
        }
    });
    node.kill().unwrap();
    node.wait().unwrap();
    assert_eq!(proof["size_bytes"].as_u64(), Some(4 << 20), "{proof}");
    let (head, bytes) = server.get(&format!("/proofs/download/{}", proof["proof_id"]));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(bytes.len() == 4 << 20 && bytes.iter().all(|b| *b == 0), "the bytes intact");
    let recorded = results(&data);
    let big = recorded
        .iter()
        .flat_map(|b| b["proofs"].as_array().unwrap().clone())
        .find(|p| p["zkvm"] == "big" && p["verified"] == true)
        .expect("the node recorded its proof");
    assert_eq!(big["proof_bytes"].as_u64(), Some(4 << 20), "{big}");
}

/// API keys kept out of `ps` (specs/submission.md §4): from a keys file and
/// from the environment, none on the command line, each one a team; with no
/// key from any source the server does not start, and says where keys go
/// without printing one.
#[test]
fn the_ethproofs_server_takes_api_keys_from_a_file_and_the_environment() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    std::fs::write(&file, "# one team per line\n\nfile-key\n").unwrap();
    let file_arg = file.to_str().unwrap();
    let server =
        EthproofsServer::start_with(&dir.path().join("server"), &["--api-keys-file", file_arg], Some("env-a, env-b"));
    for key in ["file-key", "env-a", "env-b"] {
        let (head, _) = server.get_as("/clusters", key);
        assert!(head.starts_with("HTTP/1.1 200"), "{key}: {head}");
    }
    let (head, body) = server.get_as("/clusters", "team-key");
    assert!(head.starts_with("HTTP/1.1 401") && body == b"Invalid API key", "{head}");
    drop(server);

    let data = dir.path().join("none");
    let none = ["ethproofs-server", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()];
    let out = slotproof_command().args(none).env_remove(KEYS_ENV).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started without a key: {err}");
    assert!(err.contains("--api-key") && err.contains("--api-keys-file") && err.contains(KEYS_ENV), "{err}");
    std::fs::write(&file, "secret-one two\n").unwrap();
    let out = slotproof_command().args(none).args(["--api-keys-file", file_arg]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("line 1"), "{err}");
    assert!(!err.contains("secret"), "a key is never printed: {err}");
}
