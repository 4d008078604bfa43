//! Gossip messages as typed values (specs/p2p.md §2–§3): one variant per
//! topic, decoded against that topic's size cap, encoded for publishing.
//! Owns the mapping topic ↔ message type; never judges a message's content
//! (that is the node's validation, specs/p2p.md §5).

use std::fmt;

use crate::error::DecodeError;
use crate::topics::Topic;
use crate::wire::{self, BlockTask, Claim, Heartbeat, Progress, ProofAnnouncement};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PubsubMessage {
    Heartbeat(Heartbeat),
    Task(BlockTask),
    Claim(Claim),
    Progress(Progress),
    Proof(ProofAnnouncement),
}

impl PubsubMessage {
    /// Decodes `data` (snappy SSZ) as the message `topic` carries. Oversized,
    /// undecodable or truncated input is an error naming the topic, never a panic.
    pub fn decode(topic: Topic, data: &[u8]) -> Result<PubsubMessage, DecodeError> {
        let cap = topic.cap();
        let wrap = |source| DecodeError { topic, source };
        Ok(match topic {
            Topic::Heartbeat => PubsubMessage::Heartbeat(wire::decode_checked(data, cap).map_err(wrap)?),
            Topic::Task => PubsubMessage::Task(wire::decode_checked(data, cap).map_err(wrap)?),
            Topic::Claim => PubsubMessage::Claim(wire::decode_checked(data, cap).map_err(wrap)?),
            Topic::Progress => PubsubMessage::Progress(wire::decode_checked(data, cap).map_err(wrap)?),
            Topic::Proof => PubsubMessage::Proof(wire::decode_checked(data, cap).map_err(wrap)?),
        })
    }

    /// The topic this message is published on.
    pub fn topic(&self) -> Topic {
        match self {
            PubsubMessage::Heartbeat(_) => Topic::Heartbeat,
            PubsubMessage::Task(_) => Topic::Task,
            PubsubMessage::Claim(_) => Topic::Claim,
            PubsubMessage::Progress(_) => Topic::Progress,
            PubsubMessage::Proof(_) => Topic::Proof,
        }
    }

    /// Snappy SSZ, ready for `Client::publish` on `topic()`.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            PubsubMessage::Heartbeat(m) => wire::encode(m),
            PubsubMessage::Task(m) => wire::encode(m),
            PubsubMessage::Claim(m) => wire::encode(m),
            PubsubMessage::Progress(m) => wire::encode(m),
            PubsubMessage::Proof(m) => wire::encode(m),
        }
    }
}

impl fmt::Display for PubsubMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubsubMessage::Heartbeat(h) => write!(f, "heartbeat {} seq {}", h.author(), h.seq),
            PubsubMessage::Task(t) => write!(f, "task for block {} {}", t.number, t.block_hash().short()),
            PubsubMessage::Claim(c) => write!(f, "claim of {} on block {} by {}", c.zkvm_name(), c.number, c.author()),
            PubsubMessage::Progress(p) => {
                write!(f, "progress of {} on block {} by {}", p.zkvm_name(), p.number, p.author())
            }
            PubsubMessage::Proof(a) => write!(f, "{} proof of block {} by {}", a.zkvm_name(), a.number, a.author()),
        }
    }
}

#[cfg(test)]
mod tests {
    use slotproof_primitives::Hash32;

    use super::*;
    use crate::error::WireError;
    use crate::topics::{ALL, MAX_CONTROL_MESSAGE_BYTES, MAX_GOSSIP_MESSAGE_BYTES};
    use crate::wire::ZkvmOffer;

    fn h(b: u8) -> Hash32 {
        Hash32([b; 32])
    }

    fn one_of_each() -> Vec<PubsubMessage> {
        let offer = ZkvmOffer::new("stark", "v1", 0x80, 2).unwrap();
        vec![
            PubsubMessage::Heartbeat(Heartbeat::new("a", 7, (16, h(2)), vec![offer], 50).unwrap()),
            PubsubMessage::Task(BlockTask::new(1, h(3), h(4), 9, 12_000)),
            PubsubMessage::Claim(Claim::new(1, h(3), "sp1", "b", 1).unwrap()),
            PubsubMessage::Progress(Progress::new(1, h(3), "sp1", "b", 50).unwrap()),
            PubsubMessage::Proof(ProofAnnouncement {
                number: 1,
                hash: wire::hash256(h(3)),
                zkvm: wire::name("stark").unwrap(),
                node_id: wire::name("b").unwrap(),
                proof_bytes: 300_000,
                proof_root: wire::hash256(h(5)),
            }),
        ]
    }

    /// specs/p2p.md §3: each topic decodes to its own message and back.
    #[test]
    fn every_topic_round_trips_to_its_own_variant() {
        let all = one_of_each();
        assert_eq!(all.iter().map(PubsubMessage::topic).collect::<Vec<_>>(), ALL.to_vec());
        for m in all {
            assert_eq!(PubsubMessage::decode(m.topic(), &m.encode()).unwrap(), m);
        }
    }

    /// specs/p2p.md §2: a message on another topic's name is an error naming the topic.
    #[test]
    fn a_message_on_the_wrong_topic_is_an_error() {
        let task = PubsubMessage::Task(BlockTask::new(1, h(3), h(4), 9, 12_000)).encode();
        let e = PubsubMessage::decode(Topic::Claim, &task).unwrap_err();
        assert_eq!(e.topic, Topic::Claim);
        assert!(matches!(e.source, WireError::Ssz(_)), "{e:?}");
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
    }

    /// specs/p2p.md §2: the claimed size is checked against the topic's cap first.
    #[test]
    fn over_the_topic_cap_is_refused_before_decompression() {
        for topic in ALL {
            let big = wire::encode(&vec![0u8; topic.cap() + 1]);
            let e = PubsubMessage::decode(topic, &big).unwrap_err();
            assert!(matches!(e.source, WireError::TooLarge { .. }), "{topic}: {e:?}");
        }
        assert!(matches!(
            PubsubMessage::decode(Topic::Heartbeat, b"\xff\xff\xff").unwrap_err().source,
            WireError::Snappy(_) | WireError::TooLarge { .. }
        ));
    }

    /// specs/p2p.md §2–§3: the largest heartbeat (16 offers, every name at
    /// its bound) fits the control cap, and once compressed, with room for
    /// gossipsub's own fields, the per-message transmit size.
    #[test]
    fn the_largest_control_message_fits_the_gossip_caps() {
        // Built field by field: the largest message a hostile peer can send, names past the names rule.
        let name = |i: u8| -> wire::Name {
            wire::name(&(0..64u8).map(|j| (b'!' + (i.wrapping_mul(31) ^ j) % 90) as char).collect::<String>()).unwrap()
        };
        let offer =
            |i: u8| ZkvmOffer { name: name(i), version: name(i + 100), proof_type: 1, free_slots: 9, total_slots: 9 };
        let hb = Heartbeat {
            node_id: name(200),
            seq: u64::MAX,
            head_number: u64::MAX,
            head_hash: wire::hash256(h(0xee)),
            zkvms: ssz_types::VariableList::new((0..16).map(offer).collect()).unwrap(),
            load: 100,
        };
        let raw = ssz::Encode::as_ssz_bytes(&hb);
        assert!(raw.len() <= MAX_CONTROL_MESSAGE_BYTES, "{} bytes", raw.len());
        let sent = PubsubMessage::Heartbeat(hb).encode();
        assert!(sent.len() + 1024 <= MAX_GOSSIP_MESSAGE_BYTES, "{} bytes", sent.len());
        assert!(Heartbeat::new("a", 1, (1, h(1)), vec![ZkvmOffer::new("z", "v", 1, 1).unwrap(); 17], 0).is_err());
    }

    /// specs/p2p.md §3: a zkVM name or node id outside the names rule (a key
    /// separator, a path, a control byte, not UTF-8, too long) makes the
    /// message undecodable, on every topic that carries one.
    #[test]
    fn injected_names_make_a_message_undecodable() {
        let bad_names: [&[u8]; 5] = [b"stark/0", b"../x", b"stark\0", b"\xff\xfe", b"a b"];
        for bad in bad_names {
            let n = || wire::Name::new(bad.to_vec()).unwrap();
            let offer = ZkvmOffer {
                name: n(),
                version: wire::name("v").unwrap(),
                proof_type: 1,
                free_slots: 1,
                total_slots: 1,
            };
            let mut hb = Heartbeat::new("a", 7, (16, h(2)), vec![], 50).unwrap();
            hb.zkvms = ssz_types::VariableList::new(vec![offer]).unwrap();
            let mut claim = Claim::new(1, h(3), "sp1", "b", 1).unwrap();
            claim.zkvm = n();
            let mut progress = Progress::new(1, h(3), "sp1", "b", 50).unwrap();
            progress.node_id = n();
            let PubsubMessage::Proof(mut ann) = one_of_each().remove(4) else { unreachable!() };
            ann.zkvm = n();
            for m in [
                PubsubMessage::Heartbeat(hb),
                PubsubMessage::Claim(claim),
                PubsubMessage::Progress(progress),
                PubsubMessage::Proof(ann),
            ] {
                let e = PubsubMessage::decode(m.topic(), &m.encode()).unwrap_err();
                assert!(matches!(e.source, WireError::BadName(_)), "{bad:?} on {}: {e:?}", m.topic());
            }
        }
    }
}
