//! The loop's handlers for the proving network: gossip and connections,
//! proofs fetched and checked off the loop, the node's own proofs to sign and
//! announce, and the network's periodic work. All are no-ops for a node alone.

use std::time::{Duration, Instant};

use slotproof_p2p::NetEvent;
use tracing::{info, warn};

use super::NodeLoop;
use crate::error::NodeError;
use crate::metrics::ProofOutcome;
use crate::network::{Checked, OwnProof, Passed};
use crate::results::Put;
use crate::status::{NetworkView, PeerView};

/// How often `/status` and the peers gauge are refreshed from the swarm.
const PEER_POLL: Duration = Duration::from_secs(1);
/// A newly connected peer is asked for proofs from this many blocks below the newest record.
const CATCH_UP_BLOCKS: u64 = 8;

impl NodeLoop {
    pub(super) async fn on_net_event(&mut self, event: NetEvent) -> Result<(), NodeError> {
        let newest = match &event {
            NetEvent::Connected(_) => self.book.store().recent(1)?.first().map(|r| r.block_number),
            _ => None,
        };
        let Some(net) = self.coordination.net() else { return Ok(()) };
        match event {
            NetEvent::Gossip(msg) => net.on_gossip(msg).await,
            // From a little before the newest block this node knows: what it missed while down.
            NetEvent::Connected(peer) => {
                if let Some(newest) = newest {
                    net.on_connected(peer, newest.saturating_sub(CATCH_UP_BLOCKS));
                }
            }
            NetEvent::Disconnected(peer) => net.on_disconnected(&peer),
            NetEvent::Listening(_) => {}
        }
        Ok(())
    }

    /// A fetched proof after its checks: reported to gossip, and stored and recorded when it passed.
    pub(super) async fn on_checked(&mut self, c: Checked) -> Result<(), NodeError> {
        let Some(net) = self.coordination.net() else { return Ok(()) };
        if !net.on_checked(&c).await {
            return Ok(());
        }
        let Ok(Passed { proof: p, signed, .. }) = c.result else { return Ok(()) };
        if self.book.store().put_signed(c.number, &c.hash, &p.zkvm, &p.node, &signed)? == Put::Full {
            return Ok(());
        }
        let short = p.node.get(p.node.len().saturating_sub(6)..).unwrap_or(&p.node).to_string();
        let (zkvm, verified, within) = (p.zkvm.clone(), p.verified, p.within_deadline);
        let added = self.book.update(c.number, &c.hash, |r| {
            r.receive(p);
        })?;
        if let (Some(link), Some(root)) = (&self.engine, added.as_ref().and_then(|r| r.new_payload_request_root))
            && verified
            && let Ok(s) = slotproof_p2p::wire::SignedProof::decode(&signed)
        {
            link.completed(root, &zkvm, s.message.proof_data(), s.message.public_values(), zkvm.starts_with("sim:"));
        }
        if added.is_some() {
            self.metrics.proof(&zkvm, if verified { ProofOutcome::Received } else { ProofOutcome::ReceivedUnverified });
            info!(target: "slotproof::p2p", block = c.number, %zkvm, node = %short, verified, within_deadline = within, "proof received from the network");
        }
        Ok(())
    }

    pub(super) async fn on_own_proof(&mut self, p: OwnProof) {
        let Some(net) = self.coordination.net() else { return };
        let (block, zkvm) = (p.number, p.zkvm.clone());
        if let Err(e) = net.own_proof(p).await {
            warn!(target: "slotproof::p2p", block, %zkvm, error = %format!("{e:#}"), "proof not announced");
        }
    }

    /// Heartbeats, progress and expiry on the network; the peer view for `/status` once a second.
    pub(super) async fn tick_network(&mut self, now: u64) {
        let head = self.status.snapshot().head;
        let poll = self.last_peer_poll.elapsed() >= PEER_POLL;
        let Some(net) = self.coordination.net() else { return };
        net.tick(now, head.map(|h| (h.number, h.hash))).await;
        if !poll {
            return;
        }
        let peers: Vec<PeerView> =
            net.client.peers().await.iter().map(|p| PeerView { peer: p.peer.to_string(), score: p.score }).collect();
        let view = NetworkView { node_id: net.me.clone(), live_provers: net.live_peers(), peers };
        self.last_peer_poll = Instant::now();
        self.metrics.peers.set(view.peers.len() as i64);
        self.status.update(|s| s.network = Some(view));
    }
}
