//! What this node knows of the network's coordination (specs/p2p.md §4):
//! the live peers and what they offer, and per block the claims seen, the
//! zkVMs started, finished and proved. Pure state with its queries (who is
//! live, how many zkVMs are wanted, which duties fall due); never talks to
//! the network or the stores, so every rule here is unit-testable.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use slotproof_p2p::assign::{self, AssignConfig, Offer, Seen};
use slotproof_primitives::Hash32;

/// One block's coordination.
#[derive(Clone, Debug)]
pub struct Coord {
    pub number: u64,
    pub announced: Instant,
    pub deadline_ms: u64,
    /// zkVMs this node queued.
    pub started: BTreeSet<String>,
    /// Of those, the ones it finished (or gave up).
    pub done: BTreeSet<String>,
    /// zkVM → peer → when its last claim or progress arrived.
    pub claims: BTreeMap<String, BTreeMap<String, Instant>>,
    /// zkVMs with a verified proof from anyone: nobody takes those over.
    pub proved: BTreeSet<String>,
    /// Proof roots already held (a re-announcement is accepted without a fetch).
    pub roots: BTreeSet<Hash32>,
}

impl Coord {
    pub fn new(number: u64, deadline_ms: u64) -> Coord {
        Coord {
            number,
            announced: Instant::now(),
            deadline_ms,
            started: BTreeSet::new(),
            done: BTreeSet::new(),
            claims: BTreeMap::new(),
            proved: BTreeSet::new(),
            roots: BTreeSet::new(),
        }
    }

    /// Claims by zkVM, each with the time since the peer's last claim or progress.
    fn seen(&self) -> BTreeMap<String, Seen> {
        self.claims
            .iter()
            .map(|(z, by)| (z.clone(), Seen { claims: by.iter().map(|(p, t)| (p.clone(), t.elapsed())).collect() }))
            .collect()
    }
}

/// A peer as its last accepted heartbeat described it.
#[derive(Clone, Debug)]
pub struct PeerState {
    pub zkvms: BTreeSet<String>,
    pub seen: Instant,
    pub seq: u64,
}

/// A (block, zkVM) this node should start now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duty {
    pub number: u64,
    pub hash: Hash32,
    pub zkvm: String,
    /// This node's place in the block's ranking for the zkVM (0: first choice).
    pub rank: u16,
}

/// The coordination state behind `Net`.
#[derive(Debug)]
pub struct NetState {
    /// This node's id (its peer id).
    pub me: String,
    /// The zkVMs this node offers.
    pub mine: BTreeSet<String>,
    pub peers: BTreeMap<String, PeerState>,
    pub blocks: BTreeMap<Hash32, Coord>,
    /// The highest block number this node has queued.
    pub head: u64,
    /// Messages about blocks this many below the head (and not held) are ignored.
    pub stale_blocks: u64,
}

impl NetState {
    pub fn new(me: String, mine: BTreeSet<String>, stale_blocks: u64) -> NetState {
        NetState { me, mine, peers: BTreeMap::new(), blocks: BTreeMap::new(), head: 0, stale_blocks }
    }

    /// Peers heard from within `horizon`, and this node.
    pub fn live_offers(&self, horizon: Duration) -> Vec<Offer> {
        let mut offers: Vec<Offer> = self
            .peers
            .iter()
            .filter(|(_, p)| p.seen.elapsed() < horizon)
            .map(|(peer, p)| Offer { peer: peer.clone(), zkvms: p.zkvms.clone() })
            .collect();
        offers.push(Offer { peer: self.me.clone(), zkvms: self.mine.clone() });
        offers
    }

    /// Distinct zkVMs the live network offers, capped at k (at least 1).
    pub fn wanted(&self, horizon: Duration, k: usize) -> usize {
        let offered: BTreeSet<String> = self.live_offers(horizon).into_iter().flat_map(|o| o.zkvms).collect();
        offered.len().min(k).max(1)
    }

    /// A block number this far below the head is stale (specs/p2p.md §5).
    pub fn stale(&self, number: u64) -> bool {
        self.head > self.stale_blocks && number < self.head - self.stale_blocks
    }

    /// The duties falling due now, marked started: `assign::duties` per block
    /// before its deadline, less what this node started or anyone proved.
    pub fn take_duties(&mut self, now_ms: u64, offers: &[Offer], cfg: &AssignConfig) -> Vec<Duty> {
        let mut out = Vec::new();
        for (hash, c) in &mut self.blocks {
            if now_ms > c.deadline_ms {
                continue;
            }
            // Rendezvous scores hash the hash's text form (specs/p2p.md §4): every node must agree.
            let key = hash.to_string();
            for zkvm in assign::duties(&self.me, &key, offers, &c.seen(), c.announced.elapsed(), cfg) {
                if c.started.contains(&zkvm) || c.proved.contains(&zkvm) {
                    continue;
                }
                c.started.insert(zkvm.clone());
                let ranking = assign::rank_peers(&key, &zkvm, offers);
                let rank = ranking.iter().position(|p| *p == self.me).unwrap_or(0) as u16;
                out.push(Duty { number: c.number, hash: *hash, zkvm, rank });
            }
        }
        out
    }

    /// Proofs this node is running: started, not done.
    pub fn running(&self) -> impl Iterator<Item = (&Hash32, &Coord, &String)> {
        self.blocks.iter().flat_map(|(h, c)| c.started.difference(&c.done).map(move |z| (h, c, z)))
    }

    /// Busy share of this node's slots, in percent.
    pub fn load(&self, total_slots: usize) -> u8 {
        // Running = started and not done; `done` also holds zkVMs this node never
        // started here (given up, or proved before a restart), so no subtraction.
        let busy: usize = self.blocks.values().map(|c| c.started.difference(&c.done).count()).sum();
        (busy * 100 / total_slots.max(1)).min(100) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(me: &str, mine: &[&str]) -> NetState {
        NetState::new(me.into(), mine.iter().map(|z| z.to_string()).collect(), 32)
    }

    fn peer(zkvms: &[&str], ago: Duration) -> PeerState {
        PeerState { zkvms: zkvms.iter().map(|z| z.to_string()).collect(), seen: Instant::now() - ago, seq: 1 }
    }

    const HORIZON: Duration = Duration::from_secs(9);

    /// A zkVM marked done that this run never started (given up, or proved
    /// before a restart) must not make the load underflow.
    #[test]
    fn load_counts_running_proofs_only() {
        let mut s = state("me", &["stark"]);
        let mut c = Coord::new(7, u64::MAX);
        c.done.insert("stark".into());
        s.blocks.insert(Hash32([7; 32]), c);
        assert_eq!(s.load(4), 0);
        let mut c = Coord::new(8, u64::MAX);
        c.started.extend(["stark".to_string(), "sp1".to_string()]);
        c.done.insert("sp1".into());
        s.blocks.insert(Hash32([8; 32]), c);
        assert_eq!(s.load(4), 25, "one of four slots busy");
    }

    /// specs/p2p.md §4: live peers are those heard within three heartbeat intervals.
    #[test]
    fn silent_peers_drop_out_of_the_live_set_and_the_wanted_count() {
        let mut s = state("me", &["stark"]);
        s.peers.insert("a".into(), peer(&["sp1"], Duration::from_secs(1)));
        s.peers.insert("b".into(), peer(&["zisk"], Duration::from_secs(20)));
        let live: Vec<String> = s.live_offers(HORIZON).into_iter().map(|o| o.peer).collect();
        assert_eq!(live, ["a", "me"]);
        assert_eq!(s.wanted(HORIZON, 5), 2, "stark and sp1; zisk's node is silent");
        assert_eq!(s.wanted(HORIZON, 1), 1, "capped at k");
    }

    /// specs/p2p.md §5: stale means more than `stale_blocks` below the head.
    #[test]
    fn staleness_counts_from_the_head() {
        let mut s = state("me", &[]);
        assert!(!s.stale(0), "no head yet: nothing is stale");
        s.head = 100;
        assert!(!s.stale(68) && s.stale(67));
    }

    /// specs/p2p.md §4: a lone node proves all its zkVMs, once; a proved zkVM is never taken over.
    #[test]
    fn duties_are_taken_once_and_never_for_a_proved_zkvm() {
        let mut s = state("me", &["stark", "sim:x"]);
        let h = Hash32([1; 32]);
        let mut c = Coord::new(5, u64::MAX);
        c.proved.insert("sim:x".into());
        s.blocks.insert(h, c);
        let cfg = AssignConfig::for_slot(Duration::from_secs(12), 2, 1);
        let offers = s.live_offers(HORIZON);
        let due = s.take_duties(0, &offers, &cfg);
        assert_eq!(due, vec![Duty { number: 5, hash: h, zkvm: "stark".into(), rank: 0 }]);
        assert!(s.take_duties(0, &offers, &cfg).is_empty(), "already started");
        assert_eq!(s.running().count(), 1);
        assert_eq!(s.load(2), 50);
    }

    /// specs/p2p.md §4: nothing is started for a block past its deadline.
    #[test]
    fn no_duty_after_the_deadline() {
        let mut s = state("me", &["stark"]);
        s.blocks.insert(Hash32([2; 32]), Coord::new(5, 1_000));
        let cfg = AssignConfig::for_slot(Duration::from_secs(12), 2, 1);
        let offers = s.live_offers(HORIZON);
        assert!(s.take_duties(1_001, &offers, &cfg).is_empty());
        assert_eq!(s.take_duties(1_000, &offers, &cfg).len(), 1);
    }
}
