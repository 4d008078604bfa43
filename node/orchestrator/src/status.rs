//! What the node loop knows about the chain and the network that is not in
//! the results store, shared with the HTTP handlers (written by the loop only).

use std::sync::{Arc, Mutex};

use serde::Serialize;
use slotproof_primitives::Hash32;

/// A gap the follower reported: blocks before `before` were not proven.
#[derive(Clone, Debug, Serialize)]
pub struct Gap {
    pub before: u64,
    pub reason: String,
}

/// A connected peer and its gossip score.
#[derive(Clone, Debug, Serialize)]
pub struct PeerView {
    pub peer: String,
    pub score: f64,
}

/// This node on the proving network.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkView {
    pub node_id: String,
    pub live_provers: usize,
    pub peers: Vec<PeerView>,
}

/// The chain head the follower delivered last.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Head {
    pub number: u64,
    pub hash: Hash32,
}

/// The most recent gaps kept for `/status` (older ones are only in the logs and metrics).
pub const MAX_GAPS: usize = 64;

#[derive(Clone, Debug, Default)]
pub struct StatusInfo {
    pub rpc_url: String,
    pub rpc_up: bool,
    pub head: Option<Head>,
    pub gaps: Vec<Gap>,
    /// On a network: this node's id and its connected peers with their gossip scores.
    pub network: Option<NetworkView>,
    /// Set once the node has drained its work on shutdown.
    pub drained: bool,
}

/// The loop writes, the HTTP handlers read a copy.
#[derive(Clone, Default)]
pub struct SharedStatus(Arc<Mutex<StatusInfo>>);

impl SharedStatus {
    pub fn new(info: StatusInfo) -> SharedStatus {
        SharedStatus(Arc::new(Mutex::new(info)))
    }

    pub fn update(&self, f: impl FnOnce(&mut StatusInfo)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn snapshot(&self) -> StatusInfo {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn add_gap(&self, gap: Gap) {
        self.update(|s| {
            if s.gaps.len() == MAX_GAPS {
                s.gaps.remove(0);
            }
            s.gaps.push(gap);
        });
    }
}
