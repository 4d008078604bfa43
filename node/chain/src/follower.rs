//! Follows the head: a `newHeads` subscription on WebSocket RPCs, polling on
//! HTTP (and whenever the subscription drops), reconnecting with backoff.
//!
//! Every new head is connected to what the follower already holds by walking
//! parent hashes back: the walk finds catch-up blocks, reorgs (a parent that
//! differs from the canonical block at its height) and gaps (a parent the RPC
//! cannot return, or more blocks than the catch-up bound). Blocks go out in
//! number order, each once. A long catch-up (after downtime) reports its
//! progress: a line on a terminal, a periodic log line elsewhere.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use slotproof_primitives::Hash32;
use slotproof_primitives::redact::redact_url;
use slotproof_progress::Progress;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::beacon::Beacon;
use crate::error::ChainError;
use crate::rpc::{FetchedBlock, Rpc};

/// A head at least this many blocks past the canonical tip is a catch-up
/// worth reporting progress for (after downtime); fewer is following as usual.
pub const CATCH_UP_REPORT_FROM: u64 = 4;

#[derive(Clone, Debug)]
pub struct FollowerConfig {
    pub rpc_url: String,
    /// HTTP polling interval (and the fallback's when a subscription fails).
    pub poll_interval: Duration,
    /// At most this many blocks are fetched behind a new head; older ones are a gap.
    pub max_catchup: u64,
    /// Deepest reorg followed; deeper forks are treated as a gap.
    pub max_reorg_depth: u64,
    /// Reconnect backoff bounds.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A beacon node for Electra blocks' execution requests (specs/proof-engine.md §1).
    pub beacon_url: Option<String>,
}

impl FollowerConfig {
    pub fn new(rpc_url: impl Into<String>) -> Self {
        FollowerConfig {
            rpc_url: rpc_url.into(),
            poll_interval: Duration::from_millis(500),
            max_catchup: 32,
            max_reorg_depth: 64,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            beacon_url: None,
        }
    }
}

#[derive(Debug)]
pub enum ChainEvent {
    /// A new canonical block, with its receipts and execution witness when the RPC serves them.
    Block { block: FetchedBlock, receipts: Option<Value>, witness: Option<Value> },
    /// These blocks (number, hash) left the canonical chain.
    Reorg { orphaned: Vec<(u64, Hash32)> },
    /// Blocks below `before` could not be fetched (not served, or past the catch-up bound).
    Gap { before: u64, reason: String },
    /// The RPC went away or came back.
    Connection { up: bool, detail: String },
}

/// The canonical chain the follower has emitted, newest last; a bounded window.
#[derive(Clone, Debug, Default)]
pub struct Canonical(BTreeMap<u64, Hash32>);

impl Canonical {
    pub fn from_blocks(blocks: impl IntoIterator<Item = (u64, Hash32)>) -> Self {
        Canonical(blocks.into_iter().collect())
    }

    pub fn tip(&self) -> Option<(u64, Hash32)> {
        self.0.iter().next_back().map(|(n, h)| (*n, *h))
    }

    fn get(&self, n: u64) -> Option<Hash32> {
        self.0.get(&n).copied()
    }

    /// Replaces everything from `from` up with `blocks`; returns what it replaced.
    fn replace_from(&mut self, from: u64, blocks: &[(u64, Hash32)]) -> Vec<(u64, Hash32)> {
        let orphaned: Vec<(u64, Hash32)> = self.0.split_off(&from).into_iter().collect();
        self.0.extend(blocks.iter().copied());
        while self.0.len() > 256 {
            self.0.pop_first();
        }
        orphaned.into_iter().filter(|(n, h)| !blocks.iter().any(|(bn, bh)| bn == n && bh == h)).collect()
    }
}

pub struct Follower {
    cfg: FollowerConfig,
    beacon: Option<Beacon>,
    canonical: Canonical,
    events: mpsc::Sender<ChainEvent>,
    /// Whether the last session got through a sync.
    up: bool,
}

impl Follower {
    pub fn new(cfg: FollowerConfig, canonical: Canonical, events: mpsc::Sender<ChainEvent>) -> Self {
        let beacon = cfg.beacon_url.as_deref().and_then(|url| match Beacon::new(url) {
            Ok(b) => Some(b),
            Err(e) => {
                warn!(target: "slotproof::chain", error = %e, "beacon node unusable: Electra blocks with execution requests get no NewPayloadRequest root");
                None
            }
        });
        Follower { cfg, beacon, canonical, events, up: true }
    }

    /// Runs until `shutdown` flips or the event receiver is dropped.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = self.cfg.backoff_min;
        let mut last_error = String::new();
        while !*shutdown.borrow() {
            let result = tokio::select! {
                r = self.session(&mut backoff) => r,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let Err(e) = result else { return };
            if self.up {
                self.up = false;
                if self.events.send(ChainEvent::Connection { up: false, detail: e.to_string() }).await.is_err() {
                    return;
                }
            }
            // Every new kind of failure is logged; a repeat of the last one is not.
            let text = e.to_string();
            if text != last_error {
                warn!(target: "slotproof::chain", rpc = %redact_url(&self.cfg.rpc_url), error = %text, retry_in = ?backoff, "RPC unavailable or answering badly; retrying with backoff");
                last_error = text;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(self.cfg.backoff_max);
        }
    }

    /// One connection: sync to the head, then follow it until an error.
    async fn session(&mut self, backoff: &mut Duration) -> Result<(), ChainError> {
        let rpc = Rpc::connect(&self.cfg.rpc_url).await?;
        self.sync(&rpc).await?;
        if !self.up {
            self.up = true;
            *backoff = self.cfg.backoff_min;
            info!(target: "slotproof::chain", rpc = %redact_url(&self.cfg.rpc_url), "RPC back");
            self.emit(ChainEvent::Connection { up: true, detail: "reconnected".into() }).await?;
        }
        if rpc.is_ws() {
            match rpc.subscribe_heads().await {
                Ok(mut sub) => loop {
                    // A head we could miss (the subscription lags) is caught by the next sync.
                    let tick = tokio::time::timeout(self.cfg.poll_interval * 20, sub.recv()).await;
                    match tick {
                        Ok(Ok(_)) | Err(_) => self.sync(&rpc).await?,
                        Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => self.sync(&rpc).await?,
                        Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                            return Err(ChainError::Rpc {
                                url: redact_url(rpc.url()),
                                message: "subscription closed".into(),
                            });
                        }
                    }
                },
                Err(e) => warn!(target: "slotproof::chain", error = %e, "no newHeads subscription; polling instead"),
            }
        }
        loop {
            tokio::time::sleep(self.cfg.poll_interval).await;
            self.sync(&rpc).await?;
        }
    }

    /// Adds an Electra block's execution requests from the beacon node; without
    /// them the block still goes out (it is proved; it has no request root).
    async fn with_requests(&self, block: FetchedBlock) -> FetchedBlock {
        let Some(beacon) = &self.beacon else { return block };
        let fallback = block.clone();
        match beacon.complete(block).await {
            Ok(b) => b,
            Err(e) => {
                warn!(target: "slotproof::chain", block = fallback.number, error = %e, "no execution requests from the beacon node");
                fallback
            }
        }
    }

    async fn emit(&self, event: ChainEvent) -> Result<(), ChainError> {
        self.events.send(event).await.map_err(|_| ChainError::EventsClosed)
    }

    /// Connects the RPC's head to the canonical chain and emits what changed.
    async fn sync(&mut self, rpc: &Rpc) -> Result<(), ChainError> {
        let Some(head) = rpc.latest().await? else { return Ok(()) };
        if self.canonical.get(head.number) == Some(head.hash) {
            return Ok(());
        }
        let tip = self.canonical.tip().map(|(n, _)| n);
        let behind = tip.map_or(0, |t| head.number.saturating_sub(t));
        // Started once the walk has fetched a parent: a head past a gap the RPC
        // cannot fill (the dev chain's jumps) is no catch-up.
        let mut fetching: Option<Progress> = None;
        // Newest first, walking parent hashes back until connected.
        let mut chain = vec![head];
        if let Some(tip) = tip {
            while let Some(cur) = chain.last() {
                let parent_number = cur.number.saturating_sub(1);
                if self.canonical.get(parent_number) == Some(cur.parent_hash) {
                    break;
                }
                let lowest_allowed = tip.saturating_sub(self.cfg.max_reorg_depth);
                let head_number = chain[0].number;
                if parent_number < lowest_allowed
                    || head_number - parent_number > self.cfg.max_catchup
                    || cur.number == 0
                {
                    self.emit(ChainEvent::Gap { before: cur.number, reason: "past the catch-up bound".into() }).await?;
                    break;
                }
                match rpc.block_by_hash(cur.parent_hash).await? {
                    Some(parent) => {
                        chain.push(parent);
                        if fetching.is_none() && behind >= CATCH_UP_REPORT_FROM {
                            fetching = Some(self.catching_up(tip, head_number, behind));
                        }
                        if let Some(p) = &fetching {
                            p.set(chain.len() as u64);
                        }
                    }
                    None => {
                        let reason = format!("the RPC does not have block {} ({})", parent_number, cur.parent_hash);
                        self.emit(ChainEvent::Gap { before: cur.number, reason }).await?;
                        break;
                    }
                }
            }
        }
        chain.reverse();
        let Some(first) = chain.first().map(|b| b.number) else { return Ok(()) };
        let ids: Vec<(u64, Hash32)> = chain.iter().map(|b| (b.number, b.hash)).collect();
        let orphaned = self.canonical.replace_from(first, &ids);
        if !orphaned.is_empty() {
            warn!(target: "slotproof::chain", depth = orphaned.len(), from = first, "reorg: blocks left the canonical chain");
            self.emit(ChainEvent::Reorg { orphaned }).await?;
        }
        let delivering = fetching.map(|fetched| {
            fetched.finish();
            Progress::count("catch-up: receipts and witnesses", chain.len() as u64, "blocks")
        });
        for block in chain {
            let block = self.with_requests(block).await;
            let receipts = rpc.receipts(block.hash).await;
            let witness = rpc.witness(block.number, block.hash).await;
            self.emit(ChainEvent::Block { block, receipts, witness }).await?;
            if let Some(p) = &delivering {
                p.inc();
            }
        }
        Ok(())
    }

    /// Says the follower is catching up and starts the progress of its walk
    /// back: blocks fetched of the blocks it expects to fetch (those behind
    /// the head, at most the catch-up bound).
    fn catching_up(&self, tip: u64, head: u64, behind: u64) -> Progress {
        let expected = behind.min(self.cfg.max_catchup.saturating_add(1));
        info!(target: "slotproof::chain", tip, head, behind, max_catchup = self.cfg.max_catchup, "behind the head: catching up, {expected} blocks to fetch");
        Progress::count("catch-up: fetching blocks", expected, "blocks")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_reports_only_blocks_that_changed() {
        let h = |b: u8| Hash32([b; 32]);
        let mut c = Canonical::from_blocks([(1, h(0xa)), (2, h(0xb)), (3, h(0xc))]);
        let gone = c.replace_from(2, &[(2, h(0xb)), (3, h(0xc2)), (4, h(0xd))]);
        assert_eq!(gone, [(3, h(0xc))]);
        assert_eq!(c.tip(), Some((4, h(0xd))));
    }
}
