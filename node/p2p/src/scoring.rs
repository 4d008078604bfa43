//! Peer-scoring constants, all in one place (specs/p2p.md §5). Gossipsub's
//! score falls with every rejected message (P4, invalid deliveries); below
//! `GRAYLIST` a peer's messages are dropped unread and the node disconnects it.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::gossipsub::{PeerScoreParams, PeerScoreThresholds, TopicHash, TopicScoreParams};

use crate::topics::{ALL, Topic};

/// Weight of one rejected message; decays by `INVALID_DECAY` each decay interval.
pub const INVALID_MESSAGE_WEIGHT: f64 = -50.0;
pub const INVALID_DECAY: f64 = 0.9;
/// Excess messages over the rate limit, counted as behaviour penalties.
pub const BEHAVIOUR_PENALTY_WEIGHT: f64 = -5.0;
pub const BEHAVIOUR_PENALTY_DECAY: f64 = 0.9;

pub const GOSSIP_THRESHOLD: f64 = -100.0;
pub const PUBLISH_THRESHOLD: f64 = -200.0;
pub const GRAYLIST_THRESHOLD: f64 = -400.0;

/// Rate-limit excess per peer and topic that counts as a rejection.
pub const RATE_EXCESS_BEFORE_PENALTY: u32 = 20;

fn topic_params(topic: Topic) -> TopicScoreParams {
    TopicScoreParams {
        // Proof announcements carry the most weight: a wrong proof is the worst lie.
        topic_weight: if topic == Topic::Proof { 1.0 } else { 0.5 },
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 10.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 20.0,
        // Small networks: no penalty for a quiet mesh (a lone prover sends little).
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: INVALID_DECAY,
        ..TopicScoreParams::default()
    }
}

pub fn params(network: &str) -> PeerScoreParams {
    let topics: HashMap<TopicHash, TopicScoreParams> = ALL
        .into_iter()
        .map(|t| (libp2p::gossipsub::IdentTopic::new(t.full(network)).hash(), topic_params(t)))
        .collect();
    PeerScoreParams {
        topics,
        topic_score_cap: 50.0,
        app_specific_weight: 1.0,
        // Test networks run many nodes per address; colocation says nothing there.
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: BEHAVIOUR_PENALTY_WEIGHT,
        behaviour_penalty_threshold: 0.0,
        behaviour_penalty_decay: BEHAVIOUR_PENALTY_DECAY,
        decay_interval: Duration::from_secs(1),
        decay_to_zero: 0.01,
        retain_score: Duration::from_secs(600),
        ..PeerScoreParams::default()
    }
}

pub fn thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: GOSSIP_THRESHOLD,
        publish_threshold: PUBLISH_THRESHOLD,
        graylist_threshold: GRAYLIST_THRESHOLD,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameters_are_accepted_by_gossipsub() {
        params("devnet").validate().unwrap();
        thresholds().validate().unwrap();
        const { assert!(GRAYLIST_THRESHOLD < PUBLISH_THRESHOLD && PUBLISH_THRESHOLD < GOSSIP_THRESHOLD) };
        // P4 is the square of invalid deliveries: three rejected proofs in a row reach the graylist.
        const { assert!(3.0 * 3.0 * INVALID_MESSAGE_WEIGHT < GRAYLIST_THRESHOLD) };
    }
}
