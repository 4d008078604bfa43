//! Gossip validation (specs/p2p.md §5): a pure function of one message and
//! the node's coordination state, returning a `Verdict`. It decides and says
//! what the message taught (`Learned`); the caller applies that and reports
//! to gossipsub. Never touches the network, the stores or the clock beyond
//! reading the state it is given.

use std::collections::BTreeSet;
use std::fmt;

use slotproof_p2p::topics::{MAX_PROOF_MESSAGE_BYTES, Topic};
use slotproof_p2p::wire::ProofAnnouncement;
use slotproof_p2p::{DecodeError, PubsubMessage};
use slotproof_primitives::Hash32;

use super::coord::NetState;

/// What to do with a gossip message.
#[derive(Debug)]
pub enum Verdict {
    /// Forward it, after recording what it taught.
    Accept(Learned),
    /// Drop it quietly.
    Ignore(Reason),
    /// Drop it and penalise the peer that forwarded it.
    Reject(Reason),
    /// About a block this node does not know yet: hold it for the follower.
    Wait(Hash32),
    /// A proof announcement: fetch the proof, check it, then report.
    Fetch(Box<ProofAnnouncement>),
}

/// What an accepted message adds to the coordination state.
#[derive(Debug, PartialEq, Eq)]
pub enum Learned {
    Nothing,
    /// A live peer and what it offers, as of heartbeat `seq`.
    Peer {
        id: String,
        zkvms: BTreeSet<String>,
        seq: u64,
    },
    /// A claim (or progress, which renews it) on a held block.
    Claim {
        hash: Hash32,
        zkvm: String,
        peer: String,
    },
}

/// Why a message was ignored or rejected.
#[derive(Debug)]
pub enum Reason {
    Undecodable(DecodeError),
    /// The author named inside is not gossipsub's signed source.
    ForgedAuthor {
        named: String,
        signed_by: String,
    },
    /// The node's own message, come back.
    Own,
    /// A heartbeat no newer than one already taken.
    OldHeartbeat {
        seq: u64,
        latest: u64,
    },
    Stale {
        number: u64,
    },
    /// The hash is a block this node holds under another number.
    WrongNumber {
        hash: Hash32,
        held: u64,
        claimed: u64,
    },
    /// The announcement names a proof larger than any the network carries.
    OverCap {
        bytes: u64,
    },
    /// A zkVM this node cannot verify: not its business, not the sender's fault.
    Unverifiable {
        zkvm: String,
    },
    /// A claim from a peer without standing has no say in assignment (§4).
    NoStanding,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Undecodable(e) => write!(f, "{e}: {}", e.source),
            Reason::ForgedAuthor { named, signed_by } => write!(f, "names {named} but is signed by {signed_by}"),
            Reason::Own => f.write_str("this node's own message"),
            Reason::OldHeartbeat { seq, latest } => write!(f, "an old heartbeat ({seq}, seen {latest})"),
            Reason::Stale { number } => write!(f, "stale block {number}"),
            Reason::WrongNumber { hash, held, claimed } => write!(f, "block {hash} is number {held}, not {claimed}"),
            Reason::OverCap { bytes } => write!(f, "a proof of {bytes} bytes is over the cap"),
            Reason::Unverifiable { zkvm } => write!(f, "{zkvm} proofs cannot be verified here"),
            Reason::NoStanding => f.write_str("the claimant has no standing"),
        }
    }
}

/// Judges one message. `author` is gossipsub's signed source (as text, empty
/// when unsigned); `recorded` says whether the node holds a record of a block
/// it no longer (or, after a restart, never) coordinates.
pub fn validate(
    state: &NetState,
    topic: Topic,
    data: &[u8],
    author: &str,
    recorded: &dyn Fn(u64, Hash32) -> bool,
) -> Verdict {
    let msg = match PubsubMessage::decode(topic, data) {
        Ok(m) => m,
        Err(e) => return Verdict::Reject(Reason::Undecodable(e)),
    };
    match msg {
        PubsubMessage::Heartbeat(hb) => heartbeat(state, hb.author(), hb.seq, hb.zkvm_names(), author),
        PubsubMessage::Task(task) => about_a_block(state, (task.number, task.block_hash()), recorded),
        PubsubMessage::Claim(c) => {
            claim(state, (c.number, c.block_hash()), c.zkvm_name(), c.author(), author, recorded)
        }
        PubsubMessage::Progress(p) => {
            claim(state, (p.number, p.block_hash()), p.zkvm_name(), p.author(), author, recorded)
        }
        PubsubMessage::Proof(ann) => announcement(state, ann, author, recorded),
    }
}

fn forged(named: String, author: &str) -> Verdict {
    Verdict::Reject(Reason::ForgedAuthor { named, signed_by: author.to_string() })
}

fn heartbeat(state: &NetState, id: String, seq: u64, zkvms: BTreeSet<String>, author: &str) -> Verdict {
    if id != author {
        return forged(id, author);
    }
    if id == state.me {
        return Verdict::Ignore(Reason::Own);
    }
    match state.peers.get(&id) {
        Some(p) if seq <= p.seq => Verdict::Ignore(Reason::OldHeartbeat { seq, latest: p.seq }),
        _ => Verdict::Accept(Learned::Peer { id, zkvms, seq }),
    }
}

/// Claims and progress: the named node must be the author; the block must be
/// held under the same number, or recorded, or else waited for (unless stale).
fn claim(
    state: &NetState,
    (number, hash): (u64, Hash32),
    zkvm: String,
    node: String,
    author: &str,
    recorded: &dyn Fn(u64, Hash32) -> bool,
) -> Verdict {
    if node != author {
        return forged(node, author);
    }
    if !state.verifiable.contains(&zkvm) {
        return Verdict::Ignore(Reason::Unverifiable { zkvm });
    }
    if !state.standing.has(&node) {
        return Verdict::Ignore(Reason::NoStanding);
    }
    match about_a_block(state, (number, hash), recorded) {
        Verdict::Accept(_) if state.blocks.contains_key(&hash) => {
            Verdict::Accept(Learned::Claim { hash, zkvm, peer: node })
        }
        v => v,
    }
}

/// A message about a block: accepted when the block is held under the same
/// number or recorded; a lie when held under another; waited for unless stale.
fn about_a_block(state: &NetState, (number, hash): (u64, Hash32), recorded: &dyn Fn(u64, Hash32) -> bool) -> Verdict {
    match state.blocks.get(&hash) {
        Some(c) if c.number != number => Verdict::Reject(Reason::WrongNumber { hash, held: c.number, claimed: number }),
        Some(_) => Verdict::Accept(Learned::Nothing),
        None if recorded(number, hash) => Verdict::Accept(Learned::Nothing),
        None if state.stale(number) => Verdict::Ignore(Reason::Stale { number }),
        None => Verdict::Wait(hash),
    }
}

/// Proof announcements: fetched unless the root is already held; staleness
/// only for blocks this node does not hold (a held block can be checked).
fn announcement(
    state: &NetState,
    ann: ProofAnnouncement,
    author: &str,
    recorded: &dyn Fn(u64, Hash32) -> bool,
) -> Verdict {
    let node = ann.author();
    if node != author {
        return forged(node, author);
    }
    if ann.proof_bytes > MAX_PROOF_MESSAGE_BYTES as u64 {
        return Verdict::Reject(Reason::OverCap { bytes: ann.proof_bytes });
    }
    let zkvm = ann.zkvm_name();
    if !state.verifiable.contains(&zkvm) {
        return Verdict::Ignore(Reason::Unverifiable { zkvm });
    }
    let (number, hash) = (ann.number, ann.block_hash());
    match state.blocks.get(&hash) {
        Some(c) if c.number != number => Verdict::Reject(Reason::WrongNumber { hash, held: c.number, claimed: number }),
        Some(c) if c.roots.contains(&ann.root()) => Verdict::Accept(Learned::Nothing),
        Some(_) => Verdict::Fetch(Box::new(ann)),
        None if recorded(number, hash) => Verdict::Fetch(Box::new(ann)),
        None if state.stale(number) => Verdict::Ignore(Reason::Stale { number }),
        None => Verdict::Wait(hash),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use slotproof_p2p::wire::{self, BlockTask, Claim, Heartbeat, Progress, ZkvmOffer};

    use super::*;
    use crate::network::coord::{Coord, PeerState};

    const ME: &str = "me";
    const PEER: &str = "peerA";
    const HELD: Hash32 = Hash32([1; 32]);
    const UNKNOWN: Hash32 = Hash32([9; 32]);

    /// A node at head 100 holding block 100 (`HELD`) with one proof root.
    fn state() -> NetState {
        let mut s = NetState::new(ME.into(), BTreeSet::from(["stark".to_string()]), 32);
        s.head = 100;
        let mut c = Coord::new(100, u64::MAX);
        c.roots.insert(Hash32([7; 32]));
        s.blocks.insert(HELD, c);
        s.standing.earn(PEER);
        s
    }

    fn nothing_recorded(_: u64, _: Hash32) -> bool {
        false
    }

    fn run(s: &NetState, m: &PubsubMessage, author: &str) -> Verdict {
        validate(s, m.topic(), &m.encode(), author, &nothing_recorded)
    }

    fn heartbeat(node: &str, seq: u64) -> PubsubMessage {
        let offer = ZkvmOffer::new("sim:x", "v1", 1, 2).unwrap();
        PubsubMessage::Heartbeat(Heartbeat::new(node, seq, (100, HELD), vec![offer], 0).unwrap())
    }

    fn claim(number: u64, hash: Hash32, node: &str) -> PubsubMessage {
        PubsubMessage::Claim(Claim::new(number, hash, "stark", node, 0).unwrap())
    }

    fn announce(number: u64, hash: Hash32, node: &str, root: u8, bytes: u64) -> PubsubMessage {
        PubsubMessage::Proof(ProofAnnouncement {
            number,
            hash: wire::hash256(hash),
            zkvm: wire::name("stark").unwrap(),
            node_id: wire::name(node).unwrap(),
            proof_bytes: bytes,
            proof_root: wire::hash256(Hash32([root; 32])),
        })
    }

    /// specs/p2p.md §5: a heartbeat from its author teaches the peer and its zkVMs.
    #[test]
    fn heartbeat_accepted_from_its_author() {
        let v = run(&state(), &heartbeat(PEER, 5), PEER);
        let zkvms = BTreeSet::from(["sim:x".to_string()]);
        assert!(
            matches!(v, Verdict::Accept(Learned::Peer { ref id, zkvms: ref z, seq: 5 }) if id == PEER && *z == zkvms)
        );
    }

    /// specs/p2p.md §5: the author inside must be gossipsub's signed source.
    #[test]
    fn forged_authorship_is_rejected_on_every_topic_that_names_one() {
        let s = state();
        for m in [
            heartbeat("victim", 5),
            claim(100, HELD, "victim"),
            PubsubMessage::Progress(Progress::new(100, HELD, "stark", "victim", 50).unwrap()),
            announce(100, HELD, "victim", 8, 10),
        ] {
            let v = run(&s, &m, PEER);
            assert!(
                matches!(v, Verdict::Reject(Reason::ForgedAuthor { ref named, ref signed_by }) if named == "victim" && signed_by == PEER),
                "{m}: {v:?}"
            );
        }
    }

    /// specs/p2p.md §5: own heartbeats and old ones are ignored, not penalised.
    #[test]
    fn own_and_old_heartbeats_are_ignored() {
        let mut s = state();
        assert!(matches!(run(&s, &heartbeat(ME, 5), ME), Verdict::Ignore(Reason::Own)));
        s.peers.insert(PEER.into(), PeerState { zkvms: BTreeSet::new(), seen: Instant::now(), seq: 5 });
        assert!(matches!(
            run(&s, &heartbeat(PEER, 5), PEER),
            Verdict::Ignore(Reason::OldHeartbeat { seq: 5, latest: 5 })
        ));
        assert!(matches!(run(&s, &heartbeat(PEER, 6), PEER), Verdict::Accept(Learned::Peer { seq: 6, .. })));
    }

    /// specs/p2p.md §2, §5: undecodable or oversized input is rejected, on every topic.
    #[test]
    fn undecodable_and_over_cap_messages_are_rejected() {
        let s = state();
        let huge = wire::encode(&vec![0u8; 5000]);
        for topic in slotproof_p2p::topics::ALL {
            for data in [&b"\x07\x00\xffgarbage"[..], &huge[..]] {
                let v = validate(&s, topic, data, PEER, &nothing_recorded);
                assert!(matches!(v, Verdict::Reject(Reason::Undecodable(ref e)) if e.topic == topic), "{topic}: {v:?}");
            }
        }
    }

    /// specs/p2p.md §5: a task is checked like any message about a block
    /// (today's code forwarded every task unchecked): held under its number
    /// or recorded is accepted, another number is a lie, unknown waits, stale is ignored.
    #[test]
    fn tasks_are_checked_against_the_block() {
        let s = state();
        let task = |n, h| PubsubMessage::Task(BlockTask::new(n, h, HELD, 1, 1));
        assert!(matches!(run(&s, &task(100, HELD), PEER), Verdict::Accept(Learned::Nothing)));
        assert!(matches!(run(&s, &task(99, HELD), PEER), Verdict::Reject(Reason::WrongNumber { .. })));
        assert!(matches!(run(&s, &task(101, UNKNOWN), PEER), Verdict::Wait(UNKNOWN)));
        assert!(matches!(run(&s, &task(67, UNKNOWN), PEER), Verdict::Ignore(Reason::Stale { number: 67 })));
        let m = task(50, UNKNOWN);
        let recorded = |n: u64, _: Hash32| n == 50;
        assert!(matches!(validate(&s, m.topic(), &m.encode(), PEER, &recorded), Verdict::Accept(Learned::Nothing)));
    }

    /// specs/p2p.md §4: claims from a peer without standing have no say (a
    /// throwaway identity's claims used to hold ranks and delay takeover).
    #[test]
    fn claims_from_peers_without_standing_are_ignored() {
        let s = state();
        for m in [
            claim(100, HELD, "stranger"),
            PubsubMessage::Progress(Progress::new(100, HELD, "stark", "stranger", 50).unwrap()),
        ] {
            assert!(matches!(run(&s, &m, "stranger"), Verdict::Ignore(Reason::NoStanding)), "{m}");
        }
    }

    /// specs/p2p.md §5: claims and announcements for zkVMs this node cannot
    /// verify are ignored, not fetched, and never a penalty.
    #[test]
    fn unverifiable_zkvms_are_ignored_before_any_fetch() {
        let s = state();
        let c = PubsubMessage::Claim(Claim::new(100, HELD, "made-up", PEER, 0).unwrap());
        assert!(matches!(run(&s, &c, PEER), Verdict::Ignore(Reason::Unverifiable { ref zkvm }) if zkvm == "made-up"));
        let PubsubMessage::Proof(mut ann) = announce(100, HELD, PEER, 8, 10) else { unreachable!() };
        ann.zkvm = wire::name("made-up").unwrap();
        let v = run(&s, &PubsubMessage::Proof(ann), PEER);
        assert!(matches!(v, Verdict::Ignore(Reason::Unverifiable { .. })), "{v:?}");
    }

    /// specs/p2p.md §4–§5: a claim on a held block is recorded; progress renews it the same way.
    #[test]
    fn claims_and_progress_on_a_held_block_are_accepted_and_learned() {
        let s = state();
        let expected = |v: Verdict| matches!(v, Verdict::Accept(Learned::Claim { hash: HELD, ref zkvm, ref peer }) if zkvm == "stark" && peer == PEER);
        assert!(expected(run(&s, &claim(100, HELD, PEER), PEER)));
        let progress = PubsubMessage::Progress(Progress::new(100, HELD, "stark", PEER, 50).unwrap());
        assert!(expected(run(&s, &progress, PEER)));
    }

    /// specs/p2p.md §5: a held hash under another number is a lie.
    #[test]
    fn a_wrong_block_number_is_rejected() {
        let s = state();
        for m in [claim(99, HELD, PEER), announce(99, HELD, PEER, 8, 10)] {
            let v = run(&s, &m, PEER);
            assert!(
                matches!(v, Verdict::Reject(Reason::WrongNumber { hash: HELD, held: 100, claimed: 99 })),
                "{m}: {v:?}"
            );
        }
    }

    /// specs/p2p.md §5: unknown blocks are waited for unless stale; recorded ones are not waited for.
    #[test]
    fn claims_on_unknown_blocks_wait_unless_stale_or_recorded() {
        let s = state();
        assert!(matches!(run(&s, &claim(101, UNKNOWN, PEER), PEER), Verdict::Wait(UNKNOWN)));
        assert!(matches!(run(&s, &claim(50, UNKNOWN, PEER), PEER), Verdict::Ignore(Reason::Stale { number: 50 })));
        let m = claim(50, UNKNOWN, PEER);
        let recorded = |n: u64, h: Hash32| n == 50 && h == UNKNOWN;
        assert!(matches!(validate(&s, m.topic(), &m.encode(), PEER, &recorded), Verdict::Accept(Learned::Nothing)));
    }

    /// specs/p2p.md §3, §5: announcements are fetched, except a root already held.
    #[test]
    fn announcements_are_fetched_unless_the_root_is_held() {
        let s = state();
        let v = run(&s, &announce(100, HELD, PEER, 8, 300_000), PEER);
        assert!(matches!(v, Verdict::Fetch(ref a) if a.root() == Hash32([8; 32])));
        assert!(matches!(run(&s, &announce(100, HELD, PEER, 7, 300_000), PEER), Verdict::Accept(Learned::Nothing)));
    }

    /// specs/p2p.md §5: a proof larger than the proof cap is a lie.
    #[test]
    fn an_over_cap_announcement_is_rejected() {
        let bytes = MAX_PROOF_MESSAGE_BYTES as u64 + 1;
        let v = run(&state(), &announce(100, HELD, PEER, 8, bytes), PEER);
        assert!(matches!(v, Verdict::Reject(Reason::OverCap { bytes: b }) if b == bytes));
        assert!(matches!(run(&state(), &announce(100, HELD, PEER, 8, bytes - 1), PEER), Verdict::Fetch(_)));
    }

    /// specs/p2p.md §5: staleness only for blocks not held: a held or recorded block is checked whatever its age.
    #[test]
    fn announcements_for_unknown_blocks_wait_unless_stale_and_held_blocks_are_never_stale() {
        let mut s = state();
        assert!(matches!(run(&s, &announce(101, UNKNOWN, PEER, 8, 10), PEER), Verdict::Wait(UNKNOWN)));
        assert!(matches!(
            run(&s, &announce(3, UNKNOWN, PEER, 8, 10), PEER),
            Verdict::Ignore(Reason::Stale { number: 3 })
        ));
        s.head = 10_000;
        assert!(matches!(run(&s, &announce(100, HELD, PEER, 8, 10), PEER), Verdict::Fetch(_)));
        let m = announce(3, UNKNOWN, PEER, 8, 10);
        let recorded = |n: u64, _: Hash32| n == 3;
        assert!(matches!(validate(&s, m.topic(), &m.encode(), PEER, &recorded), Verdict::Fetch(_)));
    }
}
