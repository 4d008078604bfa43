//! The proving network across real processes on loopback (specs/p2p.md):
//! one `slotproof devchain`, several `slotproof node`s with their own data
//! dirs, zkVM sets and ports, talking libp2p. The tests in this file run one
//! at a time.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Node, free_port, json_of, serial, slotproof};
use serde_json::Value;
use slotproof_p2p::topics::Topic;
use slotproof_p2p::wire::{self, BlockTask, ExecutionProof, Heartbeat, ProofAnnouncement, ProofEnvelope, PublicInput};
use slotproof_p2p::{MessageAcceptance, NetEvent, NetworkConfig, ProofSource};
use tree_hash::TreeHash;

const SLOT: &str = "3s";
const SLOT_MS: u64 = 3000;

struct Testnet {
    dir: tempfile::TempDir,
    chain_port: u16,
    /// Killed on drop, with the test.
    _chain: Node,
    /// (p2p port, node id) per node index.
    peers: Vec<(u16, String)>,
}

impl Testnet {
    /// A dev chain that announces `blocks` blocks after `delay`, and node ids for `n` nodes.
    fn new(n: usize, blocks: usize, delay: Duration) -> Testnet {
        let dir = tempfile::tempdir().unwrap();
        let chain_port = free_port();
        let chain = Node::start(&[
            "devchain",
            "--listen",
            &format!("127.0.0.1:{chain_port}"),
            "--slot-time",
            SLOT,
            "--blocks",
            &blocks.to_string(),
            "--start-delay",
            &format!("{}ms", delay.as_millis()),
        ]);
        let peers = (0..n)
            .map(|i| {
                let d = dir.path().join(format!("node{i}"));
                let out = slotproof(&["p2p", "id", "--json", "--data-dir", d.to_str().unwrap()]);
                (free_port(), json_of(&out)["node_id"].as_str().unwrap().to_string())
            })
            .collect();
        Testnet { dir, chain_port, _chain: chain, peers }
    }

    fn data(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}"))
    }

    fn bootnode(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.peers[0].0, self.peers[0].1)
    }

    fn start(&self, i: usize, zkvms: &[&str]) -> Node {
        let data = self.data(i);
        let rpc = format!("ws://127.0.0.1:{}", self.chain_port);
        let listen = format!("/ip4/127.0.0.1/tcp/{}", self.peers[i].0);
        let mut args = vec![
            "node",
            "--rpc-url",
            &rpc,
            "--slot-time",
            SLOT,
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            "off",
            "--log",
            "info,slotproof::p2p=debug",
            "--p2p-listen",
            &listen,
        ];
        let boot = self.bootnode();
        if i > 0 {
            args.extend(["--bootnode", &boot]);
        }
        for z in zkvms {
            args.extend(["--zkvm", z]);
        }
        Node::start(&args)
    }

    fn report(&self, nodes: &[usize]) -> Value {
        let dirs: Vec<PathBuf> = nodes.iter().map(|i| self.data(*i)).collect();
        let mut args = vec!["p2p", "report", "--json"];
        for d in &dirs {
            args.extend(["--data-dir", d.to_str().unwrap()]);
        }
        json_of(&slotproof(&args))
    }
}

fn stop_all(nodes: &mut [Node]) {
    for n in nodes.iter() {
        n.signal("-TERM");
    }
    for n in nodes.iter_mut() {
        assert!(n.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()), "{}", n.log());
    }
}

fn blocks(report: &Value) -> &Vec<Value> {
    report["blocks"].as_array().unwrap()
}

fn logs(nodes: &[Node]) -> String {
    nodes.iter().enumerate().map(|(i, n)| format!("--- node {i}\n{}", n.log())).collect()
}

/// Four nodes, four different zkVM sets: every node ends with the same
/// verified proofs for every block, and every block has ≥ 2 distinct zkVMs.
#[test]
fn four_nodes_agree_on_every_blocks_proofs() {
    let _g = serial();
    let blocks_n = 5;
    let net = Testnet::new(4, blocks_n, Duration::from_secs(5));
    let sets: [&[&str]; 4] = [
        &["stark", "sim:pico-prism"],
        &["sim:pico-prism", "sim:zisk-8x5090"],
        &["sim:zisk-8x5090", "sim:sp1-hypercube"],
        &["sim:sp1-hypercube", "stark"],
    ];
    let mut nodes: Vec<Node> = (0..4).map(|i| net.start(i, sets[i])).collect();
    std::thread::sleep(Duration::from_millis(5000 + (blocks_n as u64 + 2) * SLOT_MS));
    stop_all(&mut nodes);
    let report = net.report(&[0, 1, 2, 3]);
    assert_eq!(report["nodes"], 4);
    assert_eq!(blocks(&report).len(), blocks_n, "{report}\n{}", logs(&nodes));
    for b in blocks(&report) {
        assert!(b["zkvms"].as_array().unwrap().len() >= 2, "{b}\n{}", logs(&nodes));
        assert_eq!(b["seen_by_all"], true, "{b}\n{}", logs(&nodes));
    }
    assert_eq!(report["coverage"], 1.0);
    // Proofs were exchanged, not all made everywhere: each node holds others' proofs.
    for (i, n) in nodes.iter().enumerate() {
        assert!(n.log().contains("proof received from the network"), "node {i}: {}", n.log());
    }
}

/// A node dies right after claiming work: the next peers in rank take its
/// assignments, blocks stay covered; restarted, it catches up by range.
#[test]
fn a_killed_prover_is_replaced_and_catches_up_after_a_restart() {
    let _g = serial();
    let blocks_n = 7;
    let net = Testnet::new(3, blocks_n, Duration::from_secs(4));
    let set: &[&str] = &["sim:pico-prism", "sim:zisk-8x5090"];
    let mut nodes: Vec<Node> = (0..3).map(|i| net.start(i, set)).collect();
    // Kill the first node to claim a proof of block 16000003 (it is then
    // mid-proof). The restart comes a slot later, inside the replay's run of
    // consecutive blocks (16000003-16000005), so its follower can walk back to
    // what it knew; across the replay's gaps it could not (specs/chain.md).
    let until = Instant::now() + Duration::from_secs(40);
    let victim = loop {
        if let Some(i) = nodes.iter().position(|n| n.log().contains("claimed block=16000003")) {
            break i;
        }
        assert!(Instant::now() < until, "nobody claimed block 16000003: {}", logs(&nodes));
        std::thread::sleep(Duration::from_millis(50));
    };
    nodes[victim].signal("-KILL");
    assert!(nodes[victim].wait_exit(Duration::from_secs(10)).is_some());
    let killed_log = nodes[victim].log();
    std::thread::sleep(Duration::from_millis(SLOT_MS));
    nodes[victim] = net.start(victim, set);
    std::thread::sleep(Duration::from_millis((blocks_n as u64 - 2) * SLOT_MS));
    stop_all(&mut nodes);
    let survivors: String = nodes.iter().enumerate().filter(|(i, _)| *i != victim).map(|(_, n)| n.log()).collect();
    assert!(
        survivors.lines().any(|l| l.contains("claimed") && !l.contains("rank=0")),
        "a survivor took over the dead node's claim:\n{survivors}\n--- killed\n{killed_log}"
    );
    let report = net.report(&[0, 1, 2]);
    assert_eq!(blocks(&report).len(), blocks_n, "{report}");
    for b in blocks(&report) {
        assert!(b["zkvms"].as_array().unwrap().len() >= 2, "{b}\n{}", logs(&nodes));
        assert_eq!(b["seen_by_all"], true, "the restarted node caught up: {b}\n{}", logs(&nodes));
    }
    assert!(nodes[victim].log().contains("caught up on proofs by range"), "{}", nodes[victim].log());
}

/// Serves one bad proof for every announcement it makes.
struct BadProofs(std::sync::Mutex<Vec<Vec<u8>>>);

impl ProofSource for BadProofs {
    fn by_root(&self, _: &[u8; 32], _: &str) -> Vec<Vec<u8>> {
        self.0.lock().unwrap().clone()
    }
    fn by_range(&self, _: u64, _: u64, _: &[String]) -> Vec<Vec<u8>> {
        self.0.lock().unwrap().clone()
    }
}

fn bad_envelope(task: &BlockTask, zkvm: &str, node: &str) -> ProofEnvelope {
    ProofEnvelope {
        number: task.number,
        hash: task.hash,
        zkvm: wire::name(zkvm).unwrap(),
        node_id: wire::name(node).unwrap(),
        proving_ms: 1,
        public_values: wire::bytes(vec![0; 40], "pv").unwrap(),
        proof: ExecutionProof {
            proof_data: wire::bytes(b"not a proof at all".to_vec(), "proof").unwrap(),
            proof_type: 0x80,
            public_input: PublicInput { new_payload_request_root: task.hash },
        },
    }
}

/// What the hostile peer sends for each block it hears of.
async fn attack(
    client: &slotproof_p2p::Client,
    key: &slotproof_p2p::Keypair,
    task: &BlockTask,
    victim: &str,
    served: &BadProofs,
) {
    let me = client.local.to_string();
    let garbage = b"\x07\x00\xffgarbage".to_vec();
    for t in [Topic::Heartbeat, Topic::Claim, Topic::Proof] {
        let _ = client.publish(t, garbage.clone()).await;
    }
    // A snappy frame claiming 100 MB.
    let _ = client.publish(Topic::Claim, vec![0x80, 0x80, 0x80, 0x32, 0, 0, 0]).await;
    // A heartbeat in another node's name.
    let forged = Heartbeat {
        node_id: wire::name(victim).unwrap(),
        seq: task.number,
        head_number: task.number,
        head_hash: task.hash,
        zkvms: Default::default(),
        load: 0,
    };
    let _ = client.publish(Topic::Heartbeat, wire::encode(&forged)).await;
    // A stark proof that does not verify (validly signed), and a pico proof with a broken signature.
    let wrong = slotproof_p2p::envelope::sign(key, bad_envelope(task, "stark", &me)).unwrap();
    let mut unsigned = slotproof_p2p::envelope::sign(key, bad_envelope(task, "sim:pico-prism", &me)).unwrap();
    unsigned.signature[0] ^= 1;
    *served.0.lock().unwrap() = vec![wire::encode(&wrong), wire::encode(&unsigned)];
    for (signed, zkvm) in [(&wrong, "stark"), (&unsigned, "sim:pico-prism")] {
        let ann = ProofAnnouncement {
            number: task.number,
            hash: task.hash,
            zkvm: wire::name(zkvm).unwrap(),
            node_id: wire::name(&me).unwrap(),
            proof_bytes: 18,
            proof_root: signed.message.tree_hash_root(),
        };
        let _ = client.publish(Topic::Proof, wire::encode(&ann)).await;
    }
}

/// A hostile peer (this test process, on real libp2p sockets) sends garbage,
/// oversized, forged and wrong-proof messages: all rejected, it is scored
/// down and cut off, and the honest nodes keep covering every block.
#[test]
fn a_hostile_peer_is_rejected_penalised_and_cut_off() {
    let _g = serial();
    let blocks_n = 5;
    let net = Testnet::new(2, blocks_n, Duration::from_secs(4));
    let mut nodes =
        vec![net.start(0, &["stark", "sim:pico-prism"]), net.start(1, &["sim:pico-prism", "sim:zisk-8x5090"])];
    let victim = net.peers[1].1.clone();
    let hostile_dir = net.dir.path().join("hostile");
    let boot = net.bootnode();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let attacked = rt.block_on(async {
        let key = slotproof_p2p::key::load_or_create(&hostile_dir).unwrap();
        let mut cfg = NetworkConfig::new("devnet");
        cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        cfg.bootnodes = vec![boot.parse().unwrap()];
        let served = Arc::new(BadProofs(Default::default()));
        let (_stop, stop) = tokio::sync::watch::channel(false);
        let (client, mut events) = slotproof_p2p::start(key.clone(), cfg, served.clone(), stop).unwrap();
        let until = tokio::time::Instant::now() + Duration::from_millis(4000 + (blocks_n as u64 + 2) * SLOT_MS);
        let mut attacked = 0;
        loop {
            tokio::select! {
                ev = events.recv() => {
                    let Some(NetEvent::Gossip(m)) = ev else { continue };
                    // It forwards what it hears (so it stays in the mesh) and attacks each new block.
                    client.report(m.id.clone(), m.from, MessageAcceptance::Accept).await;
                    if m.topic == Topic::Task
                        && let Ok(task) = wire::decode::<BlockTask>(&m.data, 4096)
                    {
                        attack(&client, &key, &task, &victim, &served).await;
                        attacked += 1;
                    }
                }
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        attacked
    });
    stop_all(&mut nodes);
    let all = logs(&nodes);
    assert!(attacked >= 1, "the hostile peer heard of a block: {all}");
    for needle in
        ["message rejected", "not snappy", "over the", "signed by", "proof rejected", "does not verify", "signature"]
    {
        assert!(all.contains(needle), "{needle:?} missing:\n{all}");
    }
    assert!(all.contains("peer score below the graylist: disconnected and blocked"), "{all}");
    let report = net.report(&[0, 1]);
    assert_eq!(report["coverage"], 1.0, "{report}\n{all}");
    let hostile_id = slotproof_p2p::key::load_or_create(&hostile_dir).unwrap().public().to_peer_id().to_string();
    for b in blocks(&report) {
        assert!(!b["provers"].to_string().contains(&hostile_id), "a hostile proof was taken: {b}");
    }
    assert!(!Path::new(&hostile_dir).join("results").exists());
}
