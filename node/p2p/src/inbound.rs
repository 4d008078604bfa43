//! Admission of inbound proof requests (specs/p2p.md §6): a token bucket per
//! peer and caps on requests being answered at once, per peer and in all,
//! so a peer opening many streams or sending requests in a loop costs the
//! node a bounded amount of reading and memory (`MAX_SERVING_BYTES`). The answers themselves are
//! read off the swarm task (the event loop's job); this only counts.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

use crate::codec::MAX_SERVED_BYTES;
use crate::topics::MAX_PROOF_MESSAGE_BYTES;

/// Requests being answered at once, all peers together.
pub const MAX_IN_FLIGHT: usize = 16;
/// Requests being answered at once for one peer.
pub const MAX_IN_FLIGHT_PER_PEER: usize = 2;
/// Sustained requests per second per peer (a catch-up is one request; a
/// proof fetch one per announcement), with a burst of twice that.
pub const REQUESTS_PER_SECOND: f64 = 4.0;
/// Peers with a bucket; past this the fullest (idlest) buckets are dropped.
pub const MAX_TRACKED_PEERS: usize = 1024;
/// Bytes of answers held at once, all requests together: each admitted
/// request is allowed up to `MAX_SERVED_BYTES` of it, and none is admitted
/// when less than one largest proof is left.
pub const MAX_SERVING_BYTES: usize = 3 * MAX_SERVED_BYTES;

/// Why a request was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    RateLimited,
    PeerBusy,
    NodeBusy,
}

#[derive(Default)]
pub struct Inbound {
    buckets: HashMap<PeerId, (f64, Instant)>,
    in_flight: HashMap<PeerId, usize>,
    total: usize,
    /// Bytes allowed to the answers being read or sent.
    serving: usize,
}

impl Inbound {
    /// Counts the request in and says how many bytes its answer may hold, or says why not.
    pub fn admit(&mut self, peer: PeerId, now: Instant) -> Result<usize, Refused> {
        let burst = REQUESTS_PER_SECOND * 2.0;
        if self.buckets.len() >= MAX_TRACKED_PEERS && !self.buckets.contains_key(&peer) {
            self.prune(now);
        }
        let (tokens, at) = self.buckets.entry(peer).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * REQUESTS_PER_SECOND).min(burst);
        *at = now;
        if *tokens < 1.0 {
            return Err(Refused::RateLimited);
        }
        let left = MAX_SERVING_BYTES.saturating_sub(self.serving);
        if self.total >= MAX_IN_FLIGHT || left < MAX_PROOF_MESSAGE_BYTES {
            return Err(Refused::NodeBusy);
        }
        let mine = self.in_flight.entry(peer).or_default();
        if *mine >= MAX_IN_FLIGHT_PER_PEER {
            return Err(Refused::PeerBusy);
        }
        *tokens -= 1.0;
        *mine += 1;
        self.total += 1;
        let allowed = left.min(MAX_SERVED_BYTES);
        self.serving += allowed;
        Ok(allowed)
    }

    /// An admitted request was answered (or dropped); `allowed` is what `admit` gave it.
    pub fn done(&mut self, peer: &PeerId, allowed: usize) {
        if let Some(n) = self.in_flight.get_mut(peer) {
            *n = n.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
            self.serving = self.serving.saturating_sub(allowed);
            if *n == 0 {
                self.in_flight.remove(peer);
            }
        }
    }

    /// Drops buckets that have refilled (they hold nothing a new bucket would not).
    pub fn prune(&mut self, now: Instant) {
        let full_after = 2.0;
        self.buckets
            .retain(|p, (_, at)| self.in_flight.contains_key(p) || now.duration_since(*at).as_secs_f64() < full_after);
        if self.buckets.len() >= MAX_TRACKED_PEERS {
            // Still full of active peers: drop the idlest half.
            let mut ats: Vec<Instant> = self.buckets.values().map(|(_, at)| *at).collect();
            ats.sort();
            let cut = ats[ats.len() / 2];
            self.buckets.retain(|_, (_, at)| *at > cut);
        }
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// specs/p2p.md §6: a peer gets its burst, then its rate.
    #[test]
    fn a_peer_is_held_to_its_rate() {
        let mut i = Inbound::default();
        let (p, t0) = (PeerId::random(), Instant::now());
        let mut admitted = 0;
        for _ in 0..100 {
            if let Ok(a) = i.admit(p, t0) {
                admitted += 1;
                i.done(&p, a);
            }
        }
        assert_eq!(admitted, 8, "a burst of twice the rate");
        assert_eq!(i.admit(p, t0), Err(Refused::RateLimited));
        assert!(i.admit(p, t0 + Duration::from_millis(260)).is_ok(), "refilled at 4 a second");
    }

    /// specs/p2p.md §6: answers in flight are capped per peer and in all.
    #[test]
    fn requests_in_flight_are_capped() {
        let mut i = Inbound::default();
        let now = Instant::now();
        let p = PeerId::random();
        let a = i.admit(p, now).unwrap();
        assert_eq!(a, MAX_SERVED_BYTES);
        assert!(i.admit(p, now).is_ok());
        assert_eq!(i.admit(p, now), Err(Refused::PeerBusy));
        i.done(&p, a);
        assert!(i.admit(p, now).is_ok());
        // Two answers hold 2 × MAX_SERVED_BYTES; the bytes left admit one more
        // full answer, then smaller ones while a largest proof still fits.
        let others: Vec<PeerId> = (0..MAX_IN_FLIGHT).map(|_| PeerId::random()).collect();
        let allowed: Vec<usize> = others.iter().filter_map(|q| i.admit(*q, now).ok()).collect();
        assert!(allowed.iter().all(|a| *a >= MAX_PROOF_MESSAGE_BYTES), "{allowed:?}");
        assert!(2 * MAX_SERVED_BYTES + allowed.iter().sum::<usize>() <= MAX_SERVING_BYTES);
        assert_eq!(i.admit(PeerId::random(), now), Err(Refused::NodeBusy));
    }

    /// specs/p2p.md §6: fresh identities cannot grow the table past its bound.
    #[test]
    fn the_table_stays_bounded_under_fresh_identities() {
        let mut i = Inbound::default();
        let now = Instant::now();
        for n in 0..(MAX_TRACKED_PEERS * 4) {
            let p = PeerId::random();
            if let Ok(a) = i.admit(p, now + Duration::from_millis(n as u64)) {
                i.done(&p, a);
            }
        }
        assert!(i.tracked() <= MAX_TRACKED_PEERS, "{}", i.tracked());
    }
}
