//! `slotproof p2p id` (the node id of a data dir, made on first use) and
//! `slotproof p2p report` (the network's coverage from several stopped
//! nodes' data dirs: what `testnet/*.sh` print).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use slotproof_orchestrator::config::NetSettings;
use slotproof_orchestrator::results::{BlockRecord, ResultStore};
use slotproof_primitives::Hash32;

use crate::output::{JsonArgs, print_json_or, print_report};

#[derive(Args, Debug)]
pub struct P2pArgs {
    #[command(subcommand)]
    command: P2pCommand,
}

#[derive(Subcommand, Debug)]
enum P2pCommand {
    /// Print the node id (peer id) of a data dir, creating its key on first use.
    Id {
        /// The node's data directory; its key is `<data-dir>/node.key`.
        #[arg(long, env = "SLOTPROOF_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        out: JsonArgs,
    },
    /// Coverage of every block across stopped nodes (one --data-dir each).
    Report {
        /// A stopped node's data directory (repeat, one per node).
        #[arg(long = "data-dir", required = true)]
        data_dirs: Vec<PathBuf>,
        /// Distinct zkVMs a block needs to count as covered (the node's --k).
        #[arg(long, default_value_t = NetSettings::default().k)]
        k: usize,
        #[command(flatten)]
        out: JsonArgs,
    },
}

pub fn run(args: P2pArgs) -> anyhow::Result<()> {
    match args.command {
        P2pCommand::Id { data_dir, out } => {
            let key = slotproof_p2p::key::load_or_create(&data_dir)?;
            let id = key.public().to_peer_id().to_string();
            print_json_or(out.json, &json!({"node_id": id}), || id.clone())
        }
        P2pCommand::Report { data_dirs, k, out } => print_report(&report(&data_dirs, k)?, out.json),
    }
}

struct NodeView {
    id: String,
    /// (number, hash) → record, canonical only.
    blocks: BTreeMap<(u64, Hash32), BlockRecord>,
}

fn load(dir: &Path) -> anyhow::Result<NodeView> {
    if !dir.join(slotproof_p2p::key::KEY_FILE).exists() || !dir.join("results").exists() {
        bail!("{} is not the data dir of a networked node (no node.key or results)", dir.display());
    }
    let id = slotproof_p2p::key::load_or_create(dir)?.public().to_peer_id().to_string();
    let store = ResultStore::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let blocks =
        store.all()?.into_iter().filter(|r| !r.orphaned).map(|r| ((r.block_number, r.block_hash), r)).collect();
    Ok(NodeView { id, blocks })
}

/// Verified (zkVM, prover) pairs a node holds for a block: its own and received.
fn verified_pairs(node: &NodeView, r: &BlockRecord) -> BTreeSet<(String, String)> {
    let own = r.proofs.iter().filter(|(_, p)| p.verified).map(|(z, _)| (z.clone(), node.id.clone()));
    let net = r.received.iter().filter(|p| p.verified).map(|p| (p.zkvm.clone(), p.node.clone()));
    own.chain(net).collect()
}

pub fn report(dirs: &[PathBuf], k: usize) -> anyhow::Result<Value> {
    let nodes: Vec<NodeView> = dirs.iter().map(|d| load(d)).collect::<anyhow::Result<_>>()?;
    let all: BTreeSet<(u64, Hash32)> = nodes.iter().flat_map(|n| n.blocks.keys().cloned()).collect();
    let mut blocks = Vec::new();
    let mut covered = 0usize;
    for key in &all {
        let holders: Vec<(&NodeView, &BlockRecord)> =
            nodes.iter().filter_map(|n| n.blocks.get(key).map(|r| (n, r))).collect();
        let sets: Vec<BTreeSet<(String, String)>> = holders.iter().map(|(n, r)| verified_pairs(n, r)).collect();
        let union: BTreeSet<(String, String)> = sets.iter().flatten().cloned().collect();
        let zkvms: BTreeSet<&String> = union.iter().map(|(z, _)| z).collect();
        let mut provers: BTreeMap<&String, &String> = BTreeMap::new();
        for (z, node) in &union {
            provers.entry(z).or_insert(node);
        }
        // In time: each prover's own record says its proof was made before the deadline.
        let in_time: BTreeSet<&String> = holders
            .iter()
            .flat_map(|(_, r)| r.proofs.iter().filter(|(_, p)| p.verified && p.within_deadline).map(|(z, _)| z))
            .collect();
        let seen_by_all = holders.len() == nodes.len() && sets.iter().all(|s| *s == union);
        if zkvms.len() >= k {
            covered += 1;
        }
        blocks.push(json!({
            "block_number": key.0,
            "block_hash": key.1,
            "zkvms": zkvms,
            "provers": provers,
            "seen_by_all": seen_by_all,
            "deadline_met": in_time.len() >= k,
        }));
    }
    let coverage = if all.is_empty() { 0.0 } else { covered as f64 / all.len() as f64 };
    Ok(json!({"nodes": nodes.len(), "blocks": blocks, "coverage": coverage}))
}
