//! When and to whom the hostile messages go: per block heard (phantom
//! claims, junk proofs it serves and announces, injected names), per
//! heartbeat tick (Sybil heartbeats), per flood tick (announcements of
//! proofs it does not hold, by-range requests from many streams at once).
//! A refusal or a failed request is counted, never an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use slotproof_p2p::codec::{MAX_RANGE_COUNT, ProofRequest};
use slotproof_p2p::topics::Topic;
use slotproof_p2p::wire::{BlockTask, Name, ProofsByRangeRequest};
use slotproof_p2p::{Client, Keypair};
use tokio::sync::Semaphore;
use tracing::{debug, info};

use crate::error::AdversaryError;
use crate::forge;
use crate::served::JunkStore;

/// Announcements of proofs it does not hold, per flood.
const PHANTOM_ANNOUNCEMENTS: usize = 200;
/// By-range requests in flight at once, over all peers (its own memory).
const MAX_RANGE_IN_FLIGHT: usize = 256;

/// What one identity did, logged when it is retired.
#[derive(Default)]
pub struct Stats {
    pub blocks: u64,
    pub published: u64,
    /// Publishes the swarm refused (no peers on the topic, a duplicate).
    pub refused: u64,
    pub range_sent: Arc<AtomicU64>,
    pub range_answered: Arc<AtomicU64>,
    pub range_failed: Arc<AtomicU64>,
}

/// One identity's attacks on the network it joined.
pub struct Attacker {
    client: Client,
    key: Keypair,
    me: String,
    served: Arc<JunkStore>,
    junk_bytes: usize,
    range_streams: usize,
    in_flight: Arc<Semaphore>,
    seq: u64,
    pub stats: Stats,
}

impl Attacker {
    pub fn new(client: Client, key: Keypair, served: Arc<JunkStore>, junk_bytes: usize, range_streams: usize) -> Self {
        let me = client.local.to_string();
        Attacker {
            client,
            key,
            me,
            served,
            junk_bytes,
            range_streams,
            in_flight: Arc::new(Semaphore::new(MAX_RANGE_IN_FLIGHT)),
            seq: 0,
            stats: Stats::default(),
        }
    }

    async fn send(&mut self, topic: Topic, data: Vec<u8>) {
        match self.client.publish(topic, data).await {
            Ok(()) => self.stats.published += 1,
            Err(e) => {
                self.stats.refused += 1;
                debug!(%topic, error = %crate::error::chain(&e), "publish refused");
            }
        }
    }

    /// A new block: claims it never proves; once `loud`, also junk proofs
    /// served and announced, and injected names (which get it graylisted fast).
    pub async fn on_block(&mut self, task: &BlockTask, loud: bool) -> Result<(), AdversaryError> {
        self.stats.blocks += 1;
        for (i, m) in forge::phantom_claims(&self.me, task)?.into_iter().enumerate() {
            // Even: a claim; odd: its progress (forge::phantom_claims's order).
            self.send(if i.is_multiple_of(2) { Topic::Claim } else { Topic::Progress }, m).await;
        }
        if !loud {
            return Ok(());
        }
        for (zkvm, proof) in forge::junk_proofs(&self.key, &self.me, task, self.junk_bytes)? {
            let name = String::from_utf8_lossy(&zkvm).into_owned();
            self.served.serve(task.number, task.hash.0, &name, proof.encode());
            self.send(Topic::Proof, forge::announce(&proof)).await;
        }
        for (i, m) in forge::injected_messages(&self.me, task).into_iter().enumerate() {
            // Even: a claim; odd: an announcement (forge::injected_messages's order).
            self.send(if i.is_multiple_of(2) { Topic::Claim } else { Topic::Proof }, m).await;
        }
        Ok(())
    }

    /// A Sybil heartbeat: sixteen zkVMs, made up, or the real ones first.
    pub async fn heartbeat(&mut self, task: &BlockTask) -> Result<(), AdversaryError> {
        self.seq += 1;
        let hb = forge::sybil_heartbeat(&self.me, self.seq, task, self.seq.is_multiple_of(2))?;
        self.send(Topic::Heartbeat, hb).await;
        Ok(())
    }

    /// Announcements of proofs it does not hold (gossip: gets it graylisted fast).
    pub async fn announcement_flood(&mut self, task: &BlockTask) {
        for m in forge::phantom_announcements(&self.me, task, PHANTOM_ANNOUNCEMENTS, self.seq) {
            self.send(Topic::Proof, m).await;
        }
        info!(announcements = PHANTOM_ANNOUNCEMENTS, "flooded announcements of proofs it does not hold");
    }

    /// By-range requests from many streams at once to every connected peer
    /// (request-response, outside gossip scoring, so also while quiet).
    pub async fn range_flood(&mut self, task: &BlockTask) {
        let peers = self.client.peers().await;
        for peer in &peers {
            for i in 0..self.range_streams {
                let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                    debug!("by-range requests at their in-flight bound");
                    return;
                };
                let client = self.client.clone();
                let request = ProofRequest::ByRange(range_request(task.number, i));
                let (answered, failed) = (self.stats.range_answered.clone(), self.stats.range_failed.clone());
                let peer = peer.peer;
                self.stats.range_sent.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let counter = match client.fetch(peer, request).await {
                        Ok(_) => answered,
                        Err(_) => failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
        }
        info!(peers = peers.len(), streams = self.range_streams, "flooded peers with by-range requests");
    }
}

/// The i-th by-range request of a flood: the longest range a node serves
/// ending at the head, every block since genesis (over the count bound), or
/// the longest range filtered by an injected zkVM name.
fn range_request(head: u64, i: usize) -> ProofsByRangeRequest {
    let start = head.saturating_sub(MAX_RANGE_COUNT - 1);
    match i % 3 {
        0 => ProofsByRangeRequest::all_zkvms(start, MAX_RANGE_COUNT),
        1 => ProofsByRangeRequest::all_zkvms(0, u64::MAX),
        _ => {
            let mut r = ProofsByRangeRequest::all_zkvms(start, MAX_RANGE_COUNT);
            if let Ok(name) = Name::new(b"stark/0".to_vec()) {
                let _ = r.zkvms.push(name);
            }
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_mixes_the_longest_range_an_unbounded_one_and_an_injected_filter() {
        let longest = range_request(1000, 0);
        assert_eq!((longest.start, longest.count), (1000 - 127, 128));
        assert_eq!(range_request(1000, 1).count, u64::MAX);
        assert_eq!(range_request(5, 2).zkvms[0].to_vec(), b"stark/0".to_vec());
        assert_eq!(range_request(5, 2).start, 0, "no underflow near genesis");
    }
}
