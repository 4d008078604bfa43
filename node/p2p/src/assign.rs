//! Leaderless assignment (specs/p2p.md §4): every node derives the same
//! answer to "who proves block B with zkVM Z" from the same heartbeats, by
//! rendezvous hashing, and the same takeover order when the chosen peer is
//! silent. No coordinator, no messages beyond heartbeats and claims.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// What a live peer offers (from its heartbeat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub peer: String,
    pub zkvms: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssignConfig {
    /// Distinct zkVMs wanted per block.
    pub k: usize,
    /// Peers proving each wanted zkVM at once.
    pub replicas: usize,
    /// After this long without a claim from the ranks before it, the next rank claims.
    pub claim_timeout: Duration,
    /// A claim without progress for this long no longer holds its rank.
    pub progress_timeout: Duration,
}

impl AssignConfig {
    /// Timeouts as fractions of the slot, so a 3 s test slot behaves like 12 s.
    pub fn for_slot(slot: Duration, k: usize, replicas: usize) -> Self {
        AssignConfig { k, replicas: replicas.max(1), claim_timeout: slot / 6, progress_timeout: slot / 4 }
    }
}

fn score(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("slotproof rendezvous v1");
    for p in parts {
        h.update(&(p.len() as u64).to_be_bytes());
        h.update(p);
    }
    *h.finalize().as_bytes()
}

/// Peers offering `zkvm`, best first: highest blake3(block, zkvm, peer).
pub fn rank_peers<'a>(block_hash: &str, zkvm: &str, offers: impl IntoIterator<Item = &'a Offer>) -> Vec<String> {
    let mut scored: Vec<([u8; 32], &str)> = offers
        .into_iter()
        .filter(|o| o.zkvms.contains(zkvm))
        .map(|o| (score(&[block_hash.as_bytes(), zkvm.as_bytes(), o.peer.as_bytes()]), o.peer.as_str()))
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().map(|(_, p)| p.to_string()).collect()
}

/// The `k` zkVMs wanted for a block among those offered, ranked the same way.
pub fn wanted_zkvms(block_hash: &str, offers: &[Offer], k: usize) -> Vec<String> {
    let offered: BTreeSet<&str> = offers.iter().flat_map(|o| o.zkvms.iter().map(String::as_str)).collect();
    let mut scored: Vec<([u8; 32], &str)> =
        offered.into_iter().map(|z| (score(&[block_hash.as_bytes(), z.as_bytes()]), z)).collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    scored.into_iter().take(k).map(|(_, z)| z.to_string()).collect()
}

/// What a node has seen of one (block, zkVM): claims by peer, with the time
/// since that peer's last claim or progress message.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub claims: BTreeMap<String, Duration>,
}

/// The zkVMs `me` should be proving for a block now, `elapsed` after the
/// block was announced. `offers` must include `me`. Rule: a peer at rank i
/// (counting from 0) proves when fewer than `replicas` peers ranked before it
/// hold a live claim and `elapsed ≥ (i − replicas + 1) × claim_timeout`.
/// A lone node proves every zkVM it offers.
pub fn duties(
    me: &str,
    block_hash: &str,
    offers: &[Offer],
    seen: &BTreeMap<String, Seen>,
    elapsed: Duration,
    cfg: &AssignConfig,
) -> Vec<String> {
    let Some(mine) = offers.iter().find(|o| o.peer == me) else { return vec![] };
    if offers.iter().all(|o| o.peer == me) {
        return mine.zkvms.iter().cloned().collect();
    }
    let empty = Seen::default();
    wanted_zkvms(block_hash, offers, cfg.k)
        .into_iter()
        .filter(|z| mine.zkvms.contains(z))
        .filter(|z| {
            let ranking = rank_peers(block_hash, z, offers);
            let Some(my_rank) = ranking.iter().position(|p| p == me) else { return false };
            let seen = seen.get(z).unwrap_or(&empty);
            let live_before = ranking[..my_rank]
                .iter()
                .filter(|p| seen.claims.get(*p).is_some_and(|age| *age < cfg.progress_timeout))
                .count();
            let step = my_rank.saturating_sub(cfg.replicas.saturating_sub(1)) as u32;
            live_before < cfg.replicas && elapsed >= cfg.claim_timeout * step
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn offer(peer: &str, zkvms: &[&str]) -> Offer {
        Offer { peer: peer.into(), zkvms: zkvms.iter().map(|z| z.to_string()).collect() }
    }

    fn cfg() -> AssignConfig {
        AssignConfig::for_slot(Duration::from_secs(12), 2, 1)
    }

    const HASH: &str = "0x6987698bd5b5c557891ecd8215df64fdaea8ea1d928646ff56249d608d42f27f";

    proptest! {
        /// Every node computes the same ranking, whatever order it heard the heartbeats in.
        #[test]
        fn rankings_do_not_depend_on_the_order_peers_were_heard(seed in any::<u64>(), n in 2usize..12) {
            let offers: Vec<Offer> = (0..n).map(|i| offer(&format!("peer-{seed}-{i}"), &["stark", "sp1"])).collect();
            let mut shuffled = offers.clone();
            shuffled.reverse();
            shuffled.rotate_left((seed as usize) % n);
            prop_assert_eq!(rank_peers(HASH, "stark", &offers), rank_peers(HASH, "stark", &shuffled));
            prop_assert_eq!(wanted_zkvms(HASH, &offers, 1), wanted_zkvms(HASH, &shuffled, 1));
        }

        /// Exactly `replicas` peers prove each wanted zkVM at the start, whoever asks.
        #[test]
        fn at_the_start_each_wanted_zkvm_has_exactly_its_replicas(seed in any::<u64>(), n in 2usize..10, replicas in 1usize..3) {
            let hash = format!("0x{seed:064x}");
            let offers: Vec<Offer> = (0..n).map(|i| offer(&format!("p{i}"), &["stark", "sp1", "zisk"])).collect();
            let c = AssignConfig { replicas, ..cfg() };
            let mut provers: BTreeMap<String, usize> = BTreeMap::new();
            for o in &offers {
                for z in duties(&o.peer, &hash, &offers, &BTreeMap::new(), Duration::ZERO, &c) {
                    *provers.entry(z).or_default() += 1;
                }
            }
            prop_assert_eq!(provers.len(), 2, "k = 2 distinct zkVMs");
            prop_assert!(provers.values().all(|c| *c == replicas.min(n)));
        }
    }

    #[test]
    fn a_silent_first_rank_is_taken_over_after_the_claim_timeout() {
        let offers: Vec<Offer> = (0..4).map(|i| offer(&format!("p{i}"), &["stark"])).collect();
        let c = AssignConfig { k: 1, ..cfg() };
        let ranking = rank_peers(HASH, "stark", &offers);
        let second = &ranking[1];
        let no_claims = BTreeMap::new();
        assert!(duties(second, HASH, &offers, &no_claims, Duration::ZERO, &c).is_empty());
        // Rank 0 never claimed: rank 1 steps in after one claim timeout.
        assert_eq!(duties(second, HASH, &offers, &no_claims, c.claim_timeout, &c), ["stark"]);
        // Rank 0 claimed and reports progress: rank 1 stays out, later too.
        let mut seen = BTreeMap::new();
        seen.insert("stark".to_string(), Seen { claims: [(ranking[0].clone(), Duration::from_millis(100))].into() });
        assert!(duties(second, HASH, &offers, &seen, c.claim_timeout * 3, &c).is_empty());
        // Its progress went stale: rank 1 takes over.
        seen.insert("stark".to_string(), Seen { claims: [(ranking[0].clone(), c.progress_timeout)].into() });
        assert_eq!(duties(second, HASH, &offers, &seen, c.claim_timeout * 3, &c), ["stark"]);
    }

    #[test]
    fn a_lone_node_proves_everything_it_offers() {
        let offers = [offer("me", &["stark", "sim:pico-prism", "sim:sp1-hypercube"])];
        let d = duties("me", HASH, &offers, &BTreeMap::new(), Duration::ZERO, &cfg());
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn work_spreads_across_peers_over_many_blocks() {
        let offers: Vec<Offer> = (0..4).map(|i| offer(&format!("p{i}"), &["stark", "sp1"])).collect();
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for b in 0..400u64 {
            *count.entry(rank_peers(&format!("0x{b:064x}"), "stark", &offers)[0].clone()).or_default() += 1;
        }
        // 100 expected each; rendezvous hashing is uniform, so none is starved or swamped.
        assert!(count.values().all(|c| (60..=140).contains(c)), "{count:?}");
    }
}
