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
}

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
}
