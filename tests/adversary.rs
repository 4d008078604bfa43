//! The chaos testnet's hostile node against real honest nodes (specs/p2p.md
//! §7): `slotproof-adversary` joins two `slotproof node`s over libp2p on
//! loopback and runs its attacks, burning fresh identities, while a dev
//! chain announces blocks. The honest nodes must stay up, keep covering
//! every block with each other's proofs, and stop cleanly; the adversary
//! must survive whatever they send back. The tests in this file run one at
//! a time.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use slotproof_tests::http::get_json;
use slotproof_tests::paths::adversary_bin;
use slotproof_tests::{Node, free_port, json_of, serial, slotproof, wait_for};

const SLOT: &str = "3s";
const BLOCKS: usize = 8;
/// Far above what two nodes need for eight 3 s slots, so a slow machine waits instead of failing.
const COVERAGE_DEADLINE: Duration = Duration::from_secs(150);

/// The adversary process, killed on drop.
struct Adversary(Child);

impl Drop for Adversary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_id(data: &Path) -> String {
    let out = slotproof(&["p2p", "id", "--json", "--data-dir", data.to_str().unwrap()]);
    json_of(&out)["node_id"].as_str().unwrap().to_string()
}

fn start_node(rpc: &str, data: &Path, p2p: u16, http: u16, boot: Option<&str>, zkvms: [&str; 2]) -> Node {
    let listen = format!("/ip4/127.0.0.1/tcp/{p2p}");
    let http = format!("127.0.0.1:{http}");
    let mut args = vec!["node", "--rpc-url", rpc, "--slot-time", SLOT, "--data-dir", data.to_str().unwrap()];
    args.extend(["--http", &http, "--p2p-listen", &listen, "--zkvm", zkvms[0], "--zkvm", zkvms[1]]);
    if let Some(b) = boot {
        args.extend(["--bootnode", b]);
    }
    Node::start(&args)
}

/// Blocks on a running node's `/status` with verified proofs of >= 2 distinct
/// zkVMs made by honest nodes (its own, or received from an id in `honest`).
fn honestly_covered(http: u16, own_id: &str, honest: &BTreeSet<String>) -> Option<usize> {
    let status = get_json(http, "/status")?;
    let blocks = status["recent_blocks"].as_array()?;
    let covered = blocks.iter().filter(|b| {
        let own = b["proofs"].as_array().into_iter().flatten().map(|p| (p, own_id));
        let received =
            b["network_proofs"].as_array().into_iter().flatten().map(|p| (p, p["node"].as_str().unwrap_or("")));
        let zkvms: BTreeSet<&str> = own
            .chain(received)
            .filter(|(p, node)| p["verified"] == true && honest.contains(*node))
            .filter_map(|(p, _)| p["zkvm"].as_str())
            .collect();
        zkvms.len() >= 2
    });
    Some(covered.count())
}

/// Two honest nodes and the adversary (three identities, floods every 3 s):
/// every block is covered by honest proofs, both nodes are up to the end and
/// stop cleanly, the adversary rotated identities and exits 0 on SIGTERM.
#[test]
fn honest_nodes_keep_proving_while_the_adversary_attacks() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (_chain, rpc) = Node::devchain(SLOT, BLOCKS, "6s");
    let data = [dir.path().join("node0"), dir.path().join("node1")];
    let ids = [node_id(&data[0]), node_id(&data[1])];
    let honest: BTreeSet<String> = ids.iter().cloned().collect();
    let (p2p, http) = ([free_port(), free_port()], [free_port(), free_port()]);
    let boot = format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", p2p[0], ids[0]);
    let mut nodes = vec![
        start_node(&rpc, &data[0], p2p[0], http[0], None, ["stark", "sim:pico-prism"]),
        start_node(&rpc, &data[1], p2p[1], http[1], Some(&boot), ["sim:pico-prism", "sim:zisk-8x5090"]),
    ];
    let ids_file = dir.path().join("hostile.ids");
    let adv_log = dir.path().join("adversary.log");
    let mut adversary = Adversary(
        Command::new(adversary_bin().unwrap_or_else(|e| panic!("{e}")))
            .args(["--bootnode", &boot, "--network", "devnet", "--identities", "3", "--rotate-every-secs", "8"])
            .args(["--flood-every-secs", "3", "--junk-proof-bytes", "300000", "--range-streams", "8"])
            .arg("--identities-file")
            .arg(&ids_file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&adv_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let logs = |nodes: &mut Vec<Node>| -> String {
        let adv = std::fs::read_to_string(&adv_log).unwrap_or_default();
        let honest: String = nodes.iter().enumerate().map(|(i, n)| format!("--- node {i}\n{}", n.log())).collect();
        format!("{honest}--- adversary\n{adv}")
    };
    wait_for("both honest nodes to cover every block with honest proofs", COVERAGE_DEADLINE, || {
        if let Some(i) = nodes.iter_mut().position(|n| !n.running()) {
            panic!("honest node {i} died under attack:\n{}", logs(&mut nodes));
        }
        let counts: Vec<Option<usize>> = (0..2).map(|i| honestly_covered(http[i], &ids[i], &honest)).collect();
        if counts.iter().all(|c| *c == Some(BLOCKS)) {
            ControlFlow::Break(())
        } else {
            // What the nodes made of the adversary's heartbeats, should the wait time out.
            let provers: String = nodes
                .iter()
                .flat_map(|n| {
                    n.log().lines().filter(|l| l.contains("new prover")).map(str::to_string).collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
                .join("\n");
            ControlFlow::Continue(format!("blocks covered per node: {counts:?}\n{provers}"))
        }
    });
    assert!(matches!(adversary.0.try_wait(), Ok(None)), "the adversary crashed:\n{}", logs(&mut nodes));
    let status = Command::new("kill").args(["-TERM", &adversary.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exited = (0..150).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        adversary.0.try_wait().ok().flatten()
    });
    assert!(exited.is_some_and(|s| s.success()), "adversary exit {exited:?}:\n{}", logs(&mut nodes));
    for n in &nodes {
        n.signal("-TERM");
    }
    for n in nodes.iter_mut() {
        assert!(n.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()), "{}", n.log());
    }
    let used: Vec<String> = std::fs::read_to_string(&ids_file).unwrap().lines().map(str::to_string).collect();
    let all = logs(&mut nodes);
    assert!(used.len() >= 2, "the adversary used fresh identities: {used:?}\n{all}");
    assert!(used.iter().all(|id| !honest.contains(id)));
    assert!(
        all.contains("flooded peers with by-range requests") && all.contains("flooded announcements"),
        "the adversary attacked:\n{all}"
    );
}
