//! Getting proofs from peers (specs/p2p.md §3, §6): an announced proof from
//! the peer that forwarded the announcement, and on a new connection the
//! proofs of recent blocks by range. Each runs as its own task and hands
//! every checked proof to the node loop as a `Checked`; never touches the
//! coordination state or reports to gossipsub.

use std::sync::Arc;
use std::time::Duration;

use slotproof_p2p::codec::{MAX_RANGE_COUNT, ProofRequest};
use slotproof_p2p::wire::{ProofAnnouncement, ProofsByRangeRequest, SignedProof};
use slotproof_p2p::{Client, GossipMessage, PeerId};
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, info, warn};

use super::check::{CheckContext, CheckError, Checked, Passed, Verifiers, check};
use crate::results::ResultStore;

/// Fetches an announced proof from the peer that forwarded it (an honest
/// forwarder checked the proof first, so it holds it), then checks it. A
/// forwarder that does not serve it may be lying, and gossip hands each
/// message over once: the proof is then asked of its signed author too, so
/// a hostile relay cannot keep an honest proof from this node.
pub async fn announced(client: Client, msg: GossipMessage, ann: ProofAnnouncement, ctx: CheckContext) -> Checked {
    let mut result = from_peer(&client, msg.from, &ann, ctx.clone()).await;
    if let (Err(CheckError::NotServed | CheckError::Fetch(_)), Some(author)) = (&result, msg.source)
        && author != msg.from
    {
        debug!(target: "slotproof::p2p", forwarder = %msg.from, %author, "announced proof not served by the forwarder: asking its author");
        result = from_peer(&client, author, &ann, ctx).await;
    }
    Checked {
        report: Some((msg.id, msg.from)),
        number: ann.number,
        hash: ann.block_hash(),
        root: Some(ann.root()),
        result,
    }
}

async fn from_peer(
    client: &Client,
    peer: PeerId,
    ann: &ProofAnnouncement,
    ctx: CheckContext,
) -> Result<Passed, CheckError> {
    let chunks = client.fetch(peer, ProofRequest::ByRoot(ann.request())).await.map_err(CheckError::Fetch)?;
    // By root answers every proof the peer holds for (block, zkVM): keep the announced one.
    match chunks.iter().filter_map(|c| SignedProof::decode(c).ok()).find(|s| s.root() == ann.root()) {
        None => Err(CheckError::NotServed),
        Some(signed) => check(ctx, signed).await,
    }
}

/// What a by-range catch-up needs.
pub struct CatchUp {
    pub client: Client,
    pub peer: PeerId,
    /// The first block asked for.
    pub from: u64,
    /// Waited first, so the follower has recorded the blocks missed while down.
    pub settle: Duration,
    /// This node's id: its own proofs coming back are skipped.
    pub me: String,
    pub store: Arc<ResultStore>,
    pub verifiers: Verifiers,
    pub permits: Arc<Semaphore>,
}

/// Asks `peer` for the proofs of blocks from `from`, checks each one of a
/// block recorded here, and sends the results to the loop.
pub async fn by_range(c: CatchUp, tx: mpsc::UnboundedSender<Checked>) {
    tokio::time::sleep(c.settle).await;
    let request = ProofRequest::ByRange(ProofsByRangeRequest::all_zkvms(c.from, MAX_RANGE_COUNT));
    let chunks = match c.client.fetch(c.peer, request).await {
        Ok(chunks) => chunks,
        Err(e) => {
            warn!(target: "slotproof::p2p", peer = %c.peer, error = %e, "proofs by range: request failed");
            return;
        }
    };
    debug!(target: "slotproof::p2p", peer = %c.peer, from = c.from, proofs = chunks.len(), "proofs by range: answered");
    let mut taken = 0;
    for chunk in chunks {
        let Ok(signed) = SignedProof::decode(&chunk) else { continue };
        let (number, hash) = (signed.message.number, signed.message.block_hash());
        if signed.message.author() == c.me {
            continue;
        }
        // Only zkVMs this node can verify, of blocks it recorded: anything else is skipped unread.
        if !c.verifiers.get(&signed.message.zkvm_name()).is_some_and(|v| v.can_verify()) {
            continue;
        }
        let ctx = CheckContext::load(&c.store, &c.verifiers, &c.permits, number, hash);
        if ctx.input_digest.is_none() {
            continue;
        }
        let result = check(ctx, signed).await;
        if let Err(e) = &result {
            debug!(target: "slotproof::p2p", peer = %c.peer, block = number, reason = %e, "proof by range not taken");
        }
        taken += usize::from(result.is_ok());
        let _ = tx.send(Checked { report: None, number, hash, root: None, result });
    }
    if taken > 0 {
        info!(target: "slotproof::p2p", peer = %c.peer, proofs = taken, "caught up on proofs by range");
    }
}
