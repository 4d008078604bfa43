//! What the dashboard shows, as one typed snapshot (specs/dashboard.md §2):
//! the newest blocks with their proofs, the node's health, the network's
//! peers, queue depths, the Ethproofs outbox and the remote workers. Built
//! from the stores and the loop's shared status; it only reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use slotproof_queue::{Queue, QueueCounts};
use slotproof_submit::{OUTBOX_QUEUE, OutboxHealth, Refusal};
use slotproof_workers::{Roster, WorkerStatus};

use crate::results::{BlockSummary, ResultStore};
use crate::status::{Gap, Head, NetworkView, SharedStatus};

/// Blocks in a snapshot: the timeline's rows and the latency distribution's sample.
pub const SNAPSHOT_BLOCKS: usize = 32;
/// Gaps in a snapshot (the newest).
const SNAPSHOT_GAPS: usize = 5;
/// Closed blocks a health verdict looks back on.
const HEALTH_WINDOW: usize = 10;
/// No new head for this many slots makes the node unhealthy.
const STALE_HEAD_SLOTS: u64 = 3;

/// What the snapshot is built from (the HTTP state's parts the dashboard reads).
pub struct Sources {
    pub store: Arc<ResultStore>,
    pub queue: Arc<Queue>,
    pub status: SharedStatus,
    /// With submission configured.
    pub ethproofs: Option<Arc<OutboxHealth>>,
    /// On the NATS backend.
    pub workers: Option<Arc<Roster>>,
    pub slot_ms: u64,
    /// The zkVMs this node proves with.
    pub zkvms: Vec<String>,
    /// `[p2p] min_peers` on a network; None when proving alone.
    pub min_peers: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub now_ms: u64,
    pub slot_ms: u64,
    pub zkvms: Vec<String>,
    pub node: NodeView,
    pub health: Health,
    pub head: Option<Head>,
    /// Newest first.
    pub blocks: Vec<BlockView>,
    /// None when proving alone.
    pub network: Option<NetworkPanel>,
    pub queues: BTreeMap<String, QueueCounts>,
    /// None without submission.
    pub outbox: Option<OutboxView>,
    /// None unless the queue is on NATS.
    pub workers: Option<Vec<WorkerStatus>>,
    pub gaps: Vec<Gap>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeView {
    /// Redacted (credentials never leave the node).
    pub rpc_url: String,
    pub rpc_up: bool,
    pub queue_backend: &'static str,
    pub drained: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub ok: bool,
    /// One sentence per problem, for the operator.
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BlockView {
    #[serde(flatten)]
    pub summary: BlockSummary,
    pub closed: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct NetworkPanel {
    #[serde(flatten)]
    pub view: Option<NetworkView>,
    pub min_peers: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct OutboxView {
    pub pending: u64,
    pub delayed: u64,
    pub leased: u64,
    pub dead: u64,
    /// Sent and answered (done ids the queue still remembers).
    pub sent: u64,
    /// Set while the service refuses this node's calls for its configuration.
    pub refused: Option<Refusal>,
}

/// The newest `n` records still on the canonical chain, newest first, as
/// `/status` and the dashboard show them (blocking: it reads RocksDB).
pub fn recent_blocks(store: &ResultStore, n: usize) -> Vec<BlockView> {
    let records = store.recent(n).unwrap_or_default();
    records
        .iter()
        .filter(|r| !r.orphaned)
        .map(|r| BlockView { summary: BlockSummary::from(r), closed: r.closed })
        .collect()
}

impl Sources {
    /// One snapshot at `now_ms` (blocking: it reads RocksDB).
    pub fn snapshot(&self, now_ms: u64) -> Snapshot {
        let info = self.status.snapshot();
        let blocks = recent_blocks(&self.store, SNAPSHOT_BLOCKS);
        let queues = self.queue.stats().map(|s| s.queues).unwrap_or_default();
        let outbox = self.ethproofs.as_ref().map(|h| {
            let c = queues.get(OUTBOX_QUEUE).cloned().unwrap_or_default();
            OutboxView {
                pending: c.pending,
                delayed: c.delayed,
                leased: c.leased,
                dead: c.dead,
                sent: c.done,
                refused: h.refusal(),
            }
        });
        let network = self.min_peers.map(|min_peers| NetworkPanel { view: info.network.clone(), min_peers });
        let node = NodeView {
            rpc_url: info.rpc_url.clone(),
            rpc_up: info.rpc_up,
            queue_backend: self.queue.backend(),
            drained: info.drained,
        };
        let mut snap = Snapshot {
            now_ms,
            slot_ms: self.slot_ms,
            zkvms: self.zkvms.clone(),
            node,
            health: Health { ok: true, problems: vec![] },
            head: info.head,
            blocks,
            network,
            queues,
            outbox,
            workers: self.workers.as_ref().map(|r| r.snapshot()),
            gaps: info.gaps.iter().rev().take(SNAPSHOT_GAPS).cloned().collect(),
        };
        snap.health = health(&snap);
        snap
    }
}

/// The node's health as an operator reads it: symptoms, not causes.
pub fn health(s: &Snapshot) -> Health {
    let mut problems = Vec::new();
    if !s.node.rpc_up {
        problems.push("the execution RPC cannot be reached".to_string());
    }
    match s.blocks.iter().map(|b| b.summary.arrival_ms).max() {
        None => problems.push("no block seen yet".to_string()),
        Some(newest) => {
            let quiet = s.now_ms.saturating_sub(newest);
            if s.slot_ms > 0 && quiet > STALE_HEAD_SLOTS * s.slot_ms {
                problems.push(format!("no new head for {:.0} s ({} slots)", quiet as f64 / 1e3, quiet / s.slot_ms));
            }
        }
    }
    let closed: Vec<&BlockView> = s.blocks.iter().filter(|b| b.closed).take(HEALTH_WINDOW).collect();
    let missed = closed.iter().filter(|b| !b.summary.deadline_met).count();
    if missed * 2 > closed.len() {
        problems.push(format!("{missed} of the last {} closed blocks missed the deadline", closed.len()));
    }
    if let Some(net) = &s.network {
        let peers = net.view.as_ref().map_or(0, |v| v.peers.len());
        if peers < net.min_peers {
            problems.push(format!("{peers} peers connected, fewer than min_peers = {}", net.min_peers));
        }
    }
    if let Some(o) = &s.outbox {
        if let Some(r) = &o.refused {
            problems.push(format!("Ethproofs refuses this node's calls ({}): {}", r.status, r.fix));
        }
        if o.dead > 0 {
            problems.push(format!("{} Ethproofs submissions dead-lettered (slotproof queue dead)", o.dead));
        }
    }
    Health { ok: problems.is_empty(), problems }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::BlockRecord;

    fn block(n: u64, arrival_ms: u64, closed: bool, deadline_met: bool) -> BlockView {
        let r = BlockRecord {
            block_number: n,
            block_hash: slotproof_primitives::Hash32([n as u8; 32]),
            arrival_ms,
            closed,
            deadline_met,
            ..Default::default()
        };
        BlockView { summary: BlockSummary::from(&r), closed }
    }

    fn snapshot(now_ms: u64, blocks: Vec<BlockView>) -> Snapshot {
        Snapshot {
            now_ms,
            slot_ms: 12_000,
            zkvms: vec![],
            node: NodeView { rpc_url: String::new(), rpc_up: true, queue_backend: "rocksdb", drained: false },
            health: Health { ok: true, problems: vec![] },
            head: None,
            blocks,
            network: None,
            queues: BTreeMap::new(),
            outbox: None,
            workers: None,
            gaps: vec![],
        }
    }

    /// specs/dashboard.md §2: a node keeping up is healthy.
    #[test]
    fn a_node_keeping_up_is_healthy() {
        let s = snapshot(100_000, vec![block(3, 95_000, false, false), block(2, 83_000, true, true)]);
        let h = health(&s);
        assert!(h.ok, "{:?}", h.problems);
    }

    /// specs/dashboard.md §2: the symptoms, each in a sentence.
    #[test]
    fn missed_deadlines_a_stale_head_few_peers_and_a_refusing_service_are_named() {
        let blocks = (0..4).map(|i| block(10 - i, 100_000 - i * 12_000, true, i == 0)).collect();
        let mut s = snapshot(100_000 + 37_000, blocks);
        s.node.rpc_up = false;
        s.network = Some(NetworkPanel { view: None, min_peers: 2 });
        s.outbox = Some(OutboxView {
            dead: 3,
            refused: Some(Refusal { status: 401, fix: "check the API key" }),
            ..Default::default()
        });
        let h = health(&s);
        assert!(!h.ok);
        let all = h.problems.join("\n");
        for needle in [
            "RPC cannot be reached",
            "no new head for 37 s (3 slots)",
            "3 of the last 4 closed blocks missed the deadline",
            "0 peers connected, fewer than min_peers = 2",
            "Ethproofs refuses this node's calls (401): check the API key",
            "3 Ethproofs submissions dead-lettered",
        ] {
            assert!(all.contains(needle), "{needle:?} missing from:\n{all}");
        }
        assert!(!health(&snapshot(0, vec![])).ok, "no block yet is a problem");
    }
}
