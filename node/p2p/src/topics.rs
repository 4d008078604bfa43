//! Gossip topics (specs/p2p.md §3): one enum, names that round-trip, and the
//! size caps messages must respect before they are decompressed (every
//! gossip topic carries control messages only).

use std::fmt;

/// Control messages are small; a proof is announced on gossip and fetched
/// over request-response, so no topic carries proof bytes.
pub const MAX_CONTROL_MESSAGE_BYTES: usize = 4 * 1024;
/// EIP-8025's `MAX_PROOF_SIZE` plus room for our envelope (request-response only).
pub const MAX_PROOF_MESSAGE_BYTES: usize = 4 * 1024 * 1024 + 64 * 1024;
/// One gossip message on the wire, per topic (gossipsub's per-topic transmit
/// size): the control cap once snappy has done its worst (it can grow input
/// by a sixth plus 32 bytes) and 1 KiB for gossipsub's own fields (topic,
/// source, sequence number, signature, key).
pub const MAX_GOSSIP_MESSAGE_BYTES: usize = MAX_CONTROL_MESSAGE_BYTES + MAX_CONTROL_MESSAGE_BYTES / 6 + 32 + 1024;
/// One gossipsub RPC frame: a message, or control traffic (IHAVE / IWANT
/// lists of message ids, GRAFT, PRUNE) that grows with the network, so the
/// frame keeps gossipsub's 64 KiB default while each message is held to
/// `MAX_GOSSIP_MESSAGE_BYTES`.
pub const MAX_GOSSIP_FRAME_BYTES: usize = 64 * 1024;
const _: () = assert!(MAX_GOSSIP_MESSAGE_BYTES < MAX_GOSSIP_FRAME_BYTES);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Heartbeat,
    Task,
    Claim,
    Progress,
    Proof,
}

pub const ALL: [Topic; 5] = [Topic::Heartbeat, Topic::Task, Topic::Claim, Topic::Progress, Topic::Proof];

impl Topic {
    pub fn name(self) -> &'static str {
        match self {
            Topic::Heartbeat => "heartbeat",
            Topic::Task => "task",
            Topic::Claim => "claim",
            Topic::Progress => "progress",
            Topic::Proof => "proof",
        }
    }

    /// The largest message (SSZ, before snappy) the topic accepts; checked
    /// against snappy's length header before anything is decompressed.
    pub fn cap(self) -> usize {
        match self {
            // Every topic carries a control message; proof bytes go over request-response.
            Topic::Heartbeat | Topic::Task | Topic::Claim | Topic::Progress | Topic::Proof => MAX_CONTROL_MESSAGE_BYTES,
        }
    }

    /// The full gossipsub topic string for a network.
    pub fn full(self, network: &str) -> String {
        format!("/slotproof/{network}/{}/1/ssz_snappy", self.name())
    }

    /// Parses a full topic string; `None` for another network, version or encoding.
    pub fn parse(full: &str, network: &str) -> Option<Topic> {
        let rest = full.strip_prefix("/slotproof/")?.strip_prefix(network)?.strip_prefix('/')?;
        let name = rest.strip_suffix("/1/ssz_snappy")?;
        ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_topics_are_refused() {
        for t in ALL {
            assert_eq!(Topic::parse(&t.full("devnet"), "devnet"), Some(t));
            assert_eq!(Topic::parse(&t.full("devnet"), "mainnet"), None, "another network");
        }
        assert_eq!(Topic::parse("/slotproof/devnet/proof/2/ssz_snappy", "devnet"), None, "another version");
        assert_eq!(Topic::parse("/slotproof/devnet/blob/1/ssz_snappy", "devnet"), None, "unknown name");
        assert_eq!(Topic::parse("/eth2/devnet/proof/1/ssz_snappy", "devnet"), None);
    }
}
