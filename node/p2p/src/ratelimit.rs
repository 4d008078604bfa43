//! Per-author, per-topic token buckets (specs/p2p.md §5): heartbeats 4 per
//! second, other topics 20 per second, each with a burst of twice that. By
//! author, not by forwarding peer: a mesh peer forwards many authors' messages.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

use crate::topics::Topic;

pub fn per_second(topic: Topic) -> f64 {
    match topic {
        Topic::Heartbeat => 4.0,
        _ => 20.0,
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
    excess: u32,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: HashMap<(PeerId, Topic), Bucket>,
}

pub enum Verdict {
    Allowed,
    /// Over the limit; carries how many times in a row.
    Excess(u32),
}

impl RateLimiter {
    pub fn check(&mut self, peer: PeerId, topic: Topic, now: Instant) -> Verdict {
        let rate = per_second(topic);
        let burst = rate * 2.0 + 1.0;
        let b = self.buckets.entry((peer, topic)).or_insert(Bucket { tokens: burst, at: now, excess: 0 });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.excess = 0;
            Verdict::Allowed
        } else {
            b.excess += 1;
            Verdict::Excess(b.excess)
        }
    }

    pub fn forget(&mut self, peer: &PeerId) {
        self.buckets.retain(|(p, _), _| p != peer);
    }

    /// Drops the buckets that have refilled: a new bucket would hold the same,
    /// so free identities cannot grow the table (the swarm prunes every
    /// upkeep). Past `MAX_AUTHORS` active buckets, the idlest half goes too.
    pub fn prune(&mut self, now: Instant) {
        self.buckets.retain(|(_, topic), b| {
            let rate = per_second(*topic);
            let refill = (rate * 2.0 + 1.0 - b.tokens) / rate;
            now.saturating_duration_since(b.at).as_secs_f64() < refill
        });
        if self.buckets.len() > MAX_AUTHORS {
            let mut ats: Vec<Instant> = self.buckets.values().map(|b| b.at).collect();
            ats.sort();
            let cut = ats[ats.len() / 2];
            self.buckets.retain(|_, b| b.at > cut);
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// Buckets kept at most (authors × topics); see `prune`.
pub const MAX_AUTHORS: usize = 4096;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_rate_and_a_quiet_peer_recovers() {
        let mut rl = RateLimiter::default();
        let peer = PeerId::random();
        let t0 = Instant::now();
        let allowed = (0..100).filter(|_| matches!(rl.check(peer, Topic::Claim, t0), Verdict::Allowed)).count();
        assert_eq!(allowed, 41, "burst of 2 × 20 + 1");
        let hb = (0..20).filter(|_| matches!(rl.check(peer, Topic::Heartbeat, t0), Verdict::Allowed)).count();
        assert_eq!(hb, 9);
        assert!(matches!(rl.check(peer, Topic::Claim, t0 + Duration::from_secs(1)), Verdict::Allowed));
        assert!(matches!(rl.check(PeerId::random(), Topic::Claim, t0), Verdict::Allowed), "per peer");
    }

    /// specs/p2p.md §5: buckets of authors gone quiet are dropped; the table stays bounded under fresh identities.
    #[test]
    fn buckets_of_quiet_and_throwaway_authors_are_pruned() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..(MAX_AUTHORS * 2) {
            let _ = rl.check(PeerId::random(), Topic::Heartbeat, t0);
        }
        rl.prune(t0);
        assert!(rl.len() <= MAX_AUTHORS, "{}", rl.len());
        rl.prune(t0 + Duration::from_secs(3));
        assert!(rl.is_empty(), "all refilled after 3 s");
    }
}
