//! The proving network (specs/p2p.md): the node key and proof signatures,
//! SSZ messages with snappy framing and size caps, gossip topics, peer
//! scoring and rate limits, request-response for proofs, the swarm's event
//! loop with its client, and leaderless assignment.

pub mod assign;
pub mod codec;
pub mod envelope;
pub mod error;
pub mod key;
pub mod ratelimit;
pub mod scoring;
pub mod service;
pub mod topics;
pub mod wire;

pub use error::P2pError;
pub use libp2p::gossipsub::{MessageAcceptance, MessageId};
pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId};
pub use service::{Client, GossipMessage, NetEvent, NetworkConfig, PeerInfo, ProofSource, start};
