//! What this node knows of the network's coordination (specs/p2p.md §4):
//! the live peers and what they offer, which of them have standing, and per
//! block the claims seen, the zkVMs started, finished and proved. Pure state
//! with its queries (who is live, how many zkVMs are wanted, which duties fall
//! due); never talks to the network or the stores, so every rule here is
//! unit-testable. Every table is bounded (`MAX_PEERS`, blocks by retention).

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
    /// Digest of each verified proof's data (with its zkVM) → the node that
    /// delivered it first: a copy re-signed by another node earns nothing.
    pub first_by: BTreeMap<Hash32, String>,
    /// Peers that delivered a verified proof of this block.
    pub delivered: BTreeSet<String>,
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
            first_by: BTreeMap::new(),
            delivered: BTreeSet::new(),
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

/// Peers kept in the table at most (specs/p2p.md §4).
pub const MAX_PEERS: usize = 256;
/// Unfulfilled claims in a row after which a peer loses its standing.
pub const MAX_STRIKES: u32 = 2;

/// Who has a say in assignment (specs/p2p.md §4): the configured prover set,
/// and peers that recently delivered a proof this node verified first.
#[derive(Debug, Default)]
pub struct Standing {
    /// The network's configured provers: standing always.
    pub provers: BTreeSet<String>,
    /// Peer → when it last earned standing.
    pub earned: BTreeMap<String, Instant>,
    /// Peer → unfulfilled claims in a row.
    pub strikes: BTreeMap<String, u32>,
    /// How long earned standing lasts.
    pub window: Duration,
}

impl Standing {
    pub fn has(&self, peer: &str) -> bool {
        self.provers.contains(peer) || self.earned.get(peer).is_some_and(|t| t.elapsed() < self.window)
    }

    /// A peer delivered a proof this node verified first.
    pub fn earn(&mut self, peer: &str) {
        self.strikes.remove(peer);
        self.earned.insert(peer.to_string(), Instant::now());
        self.prune();
    }

    /// A claim the peer made on a block ended without its proof.
    pub fn strike(&mut self, peer: &str) {
        let n = self.strikes.entry(peer.to_string()).or_default();
        *n += 1;
        if *n >= MAX_STRIKES {
            self.earned.remove(peer);
            self.strikes.remove(peer);
        }
        self.prune();
    }

    /// Expired standing goes; past `MAX_PEERS` the oldest goes too.
    fn prune(&mut self) {
        let window = self.window;
        self.earned.retain(|_, t| t.elapsed() < window);
        while self.earned.len() > MAX_PEERS {
            let Some(oldest) = self.earned.iter().min_by_key(|(_, t)| **t).map(|(p, _)| p.clone()) else { break };
            self.earned.remove(&oldest);
        }
        if self.strikes.len() > MAX_PEERS {
            let earned = &self.earned;
            self.strikes.retain(|p, _| earned.contains_key(p));
        }
    }
}

/// The coordination state behind `Net`.
#[derive(Debug)]
pub struct NetState {
    /// This node's id (its peer id).
    pub me: String,
    /// The zkVMs this node offers.
    pub mine: BTreeSet<String>,
    /// The zkVMs this node can verify: the only ones it wants, ranks, stores or forwards.
    pub verifiable: BTreeSet<String>,
    pub standing: Standing,
    /// At most `MAX_PEERS`.
    pub peers: BTreeMap<String, PeerState>,
    pub blocks: BTreeMap<Hash32, Coord>,
    /// The highest block number this node has queued.
    pub head: u64,
    /// Messages about blocks this many below the head (and not held) are ignored.
    pub stale_blocks: u64,
    /// How long after a block's deadline a duty may still start: a late
    /// proof still covers the block (a killed prover's block is taken over
    /// even when its slot has run out).
    pub late_ms: u64,
}

impl NetState {
    pub fn new(me: String, mine: BTreeSet<String>, stale_blocks: u64) -> NetState {
        let verifiable = mine.clone();
        NetState {
            me,
            mine,
            verifiable,
            standing: Standing { window: Duration::from_secs(600), ..Standing::default() },
            peers: BTreeMap::new(),
            blocks: BTreeMap::new(),
            head: 0,
            stale_blocks,
            late_ms: 0,
        }
    }

    /// Peers with standing heard from within `horizon`, and this node, each
    /// offering only zkVMs this node can verify (specs/p2p.md §4).
    pub fn live_offers(&self, horizon: Duration) -> Vec<Offer> {
        let mut offers: Vec<Offer> = self
            .peers
            .iter()
            .filter(|(id, p)| p.seen.elapsed() < horizon && self.standing.has(id))
            .map(|(peer, p)| Offer { peer: peer.clone(), zkvms: &p.zkvms & &self.verifiable })
            .collect();
        offers.push(Offer { peer: self.me.clone(), zkvms: &self.mine & &self.verifiable });
        offers
    }

    /// A heartbeat's peer and offer, kept within `MAX_PEERS`: peers not heard
    /// from within `expiry` go first, then the longest-silent peer without
    /// standing; a table full of peers with standing takes no newcomer.
    pub fn learn_peer(&mut self, id: String, zkvms: BTreeSet<String>, seq: u64, expiry: Duration) -> bool {
        if !self.peers.contains_key(&id) && self.peers.len() >= MAX_PEERS {
            self.peers.retain(|_, p| p.seen.elapsed() < expiry);
            if self.peers.len() >= MAX_PEERS {
                let standing = &self.standing;
                let evict = self
                    .peers
                    .iter()
                    .filter(|(p, _)| !standing.has(p))
                    .min_by_key(|(_, p)| p.seen)
                    .map(|(p, _)| p.clone());
                match evict {
                    Some(p) => {
                        self.peers.remove(&p);
                    }
                    None => return false,
                }
            }
        }
        let zkvms = &zkvms & &self.verifiable;
        self.peers.insert(id, PeerState { zkvms, seen: Instant::now(), seq });
        true
    }

    /// Blocks past `keep_ms` after their deadline leave the table; a peer
    /// with standing that claimed one and never delivered gets a strike.
    pub fn retire_blocks(&mut self, now_ms: u64, keep_ms: u64) {
        let (gone, kept): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut self.blocks).into_iter().partition(|(_, c)| now_ms > c.deadline_ms + keep_ms);
        self.blocks = kept;
        for c in gone.values() {
            let claimants: BTreeSet<&String> = c.claims.values().flat_map(|by| by.keys()).collect();
            for peer in claimants.into_iter().filter(|p| !c.delivered.contains(*p)) {
                self.standing.strike(peer);
            }
        }
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
    /// until `late_ms` after its deadline, less what this node started or anyone proved.
    pub fn take_duties(&mut self, now_ms: u64, offers: &[Offer], cfg: &AssignConfig) -> Vec<Duty> {
        let mut out = Vec::new();
        for (hash, c) in &mut self.blocks {
            if now_ms > c.deadline_ms.saturating_add(self.late_ms) {
                continue;
            }
            // Rendezvous scores hash the hash's text form (specs/p2p.md §4): every node must agree.
            let key = hash.to_string();
            // zkVMs nobody here can verify are this node's own business: proved for every block.
            let for_itself = self.mine.difference(&self.verifiable).cloned();
            for zkvm in assign::duties(&self.me, &key, offers, &c.seen(), c.announced.elapsed(), cfg)
                .into_iter()
                .chain(for_itself)
            {
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

    /// A node offering `mine`, able to verify `stark`, `sp1`, `zisk` and `sim:x` too.
    fn state(me: &str, mine: &[&str]) -> NetState {
        let mut s = NetState::new(me.into(), mine.iter().map(|z| z.to_string()).collect(), 32);
        s.verifiable.extend(["stark", "sp1", "zisk", "sim:x"].map(String::from));
        s
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
        s.standing.provers.extend(["a".to_string(), "b".to_string()]);
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
        // With a grace for late proofs, a duty may start after the deadline, within it.
        let mut s = state("me", &["stark"]);
        s.late_ms = 500;
        s.blocks.insert(Hash32([2; 32]), Coord::new(5, 1_000));
        assert!(s.take_duties(1_501, &offers, &cfg).is_empty());
        assert_eq!(s.take_duties(1_500, &offers, &cfg).len(), 1);
    }

    /// specs/p2p.md §4: the attack of the review: one throwaway key offering
    /// 16 made-up zkVMs, and more offering real ones, used to make most blocks
    /// want zkVMs nobody honest runs and take duties from honest nodes. Peers
    /// without standing, and zkVMs this node cannot verify, have no say: the
    /// honest node's duties are what they are without the Sybils.
    #[test]
    fn sybil_heartbeats_remove_no_duty() {
        let cfg = AssignConfig::for_slot(Duration::from_secs(12), 2, 1);
        let honest = |s: &mut NetState| {
            s.peers.insert("h".into(), peer(&["stark", "sim:x"], Duration::ZERO));
            s.standing.earn("h");
        };
        let duties_of = |s: &mut NetState| -> Vec<(u64, String)> {
            for n in 0..64u8 {
                s.blocks.insert(Hash32([n; 32]), Coord::new(u64::from(n), u64::MAX));
            }
            let offers = s.live_offers(HORIZON);
            s.take_duties(0, &offers, &cfg).into_iter().map(|d| (d.number, d.zkvm)).collect()
        };
        let mut clean = state("me", &["stark", "sim:x"]);
        honest(&mut clean);
        let mut attacked = state("me", &["stark", "sim:x"]);
        honest(&mut attacked);
        let made_up: Vec<String> = (0..16).map(|i| format!("fake{i}")).collect();
        let made_up: Vec<&str> = made_up.iter().map(String::as_str).collect();
        attacked.learn_peer("sybil0".into(), made_up.iter().map(|z| z.to_string()).collect(), 1, HORIZON);
        for i in 1..20 {
            attacked.learn_peer(format!("sybil{i}"), ["stark".to_string(), "sim:x".to_string()].into(), 1, HORIZON);
        }
        // Even with standing, a peer's made-up zkVMs are not counted.
        attacked.peers.insert("h2".into(), peer(&made_up, Duration::ZERO));
        attacked.standing.earn("h2");
        let (d_clean, d_attacked) = (duties_of(&mut clean), duties_of(&mut attacked));
        assert!(!d_clean.is_empty());
        assert_eq!(d_clean, d_attacked);
        assert_eq!(attacked.wanted(HORIZON, 2), 2);
    }

    /// specs/p2p.md §4: a fresh network (nobody has standing yet) still covers
    /// every block: each node proves all it offers until peers earn standing.
    #[test]
    fn without_standing_every_node_proves_what_it_offers() {
        let mut s = state("me", &["stark", "sim:x"]);
        s.peers.insert("h".into(), peer(&["stark", "sim:x"], Duration::ZERO));
        s.blocks.insert(Hash32([1; 32]), Coord::new(1, u64::MAX));
        let offers = s.live_offers(HORIZON);
        let cfg = AssignConfig::for_slot(Duration::from_secs(12), 1, 1);
        assert_eq!(s.take_duties(0, &offers, &cfg).len(), 2, "alone in its own view: both zkVMs");
    }

    /// specs/p2p.md §4: the peer table stays within `MAX_PEERS` under fresh
    /// identities, and peers with standing are never the ones evicted.
    #[test]
    fn the_peer_table_is_bounded_and_keeps_peers_with_standing() {
        let mut s = state("me", &["stark"]);
        s.learn_peer("h".into(), ["stark".to_string()].into(), 1, HORIZON);
        s.standing.earn("h");
        for i in 0..(MAX_PEERS * 4) {
            s.learn_peer(format!("x{i}"), ["stark".to_string()].into(), 1, HORIZON);
        }
        assert!(s.peers.len() <= MAX_PEERS);
        assert!(s.peers.contains_key("h"));
    }

    /// specs/p2p.md §4: a peer with standing that claims and never delivers
    /// loses its standing after `MAX_STRIKES` blocks; delivering resets it.
    #[test]
    fn unfulfilled_claims_cost_standing() {
        let mut s = state("me", &["stark"]);
        s.standing.earn("liar");
        s.standing.earn("honest");
        for n in 0..MAX_STRIKES as u8 {
            let mut c = Coord::new(u64::from(n), 1_000);
            c.claims.entry("stark".into()).or_default().insert("liar".into(), Instant::now());
            c.claims.entry("stark".into()).or_default().insert("honest".into(), Instant::now());
            c.delivered.insert("honest".into());
            s.blocks.insert(Hash32([n; 32]), c);
        }
        s.retire_blocks(10_000, 1_000);
        assert!(s.blocks.is_empty());
        assert!(!s.standing.has("liar"));
        assert!(s.standing.has("honest"));
    }
}
