//! The proving network (specs/p2p.md): the node key and proof signatures,
//! SSZ messages with snappy framing and size caps, gossip topics and the
//! typed decoding of their messages (`PubsubMessage`), peer scoring and rate
//! limits, request-response for proofs, the swarm's event loop with its
//! client, and leaderless assignment.
//!
//! Owns everything that touches libp2p or SSZ, so the node above it works
//! with typed messages and `Hash32`. Never decides what a message means for a
//! block (validation against the node's state is the node's), never reads the
//! node's stores (proofs are served through `ProofSource`).

pub mod assign;
pub mod codec;
pub mod envelope;
pub mod error;
pub mod inbound;
pub mod key;
pub mod pubsub;
pub mod ratelimit;
pub mod scoring;
pub mod service;
pub mod topics;
pub mod transport;
pub mod wire;

pub use error::{CodecError, DecodeError, KeyError, P2pError, SignError, WireError};
pub use libp2p::gossipsub::{MessageAcceptance, MessageId};
pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId};
pub use pubsub::PubsubMessage;
pub use service::{Client, GossipMessage, NetEvent, NetworkConfig, PeerInfo, ProofSource, start, start_owned};
