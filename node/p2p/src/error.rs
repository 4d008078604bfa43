//! The network crate's errors. Each keeps its cause (`#[source]`), so an
//! operator sees the whole chain with `{:#}`: which file, address, topic or
//! peer, then what libp2p, the OS or the decoder said.

use std::io;
use std::path::PathBuf;

use libp2p::gossipsub::PublishError;
use libp2p::request_response::OutboundFailure;
use libp2p::{Multiaddr, PeerId, TransportError};

use crate::topics::Topic;

/// Errors of the swarm and its client.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("node key {path}")]
    Key {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("listening on {addr}")]
    Listen {
        addr: Multiaddr,
        #[source]
        source: TransportError<io::Error>,
    },
    /// Building the swarm; libp2p reports some of these as bare strings,
    /// which are boxed as the cause rather than formatted into ours.
    #[error("network setup: {what}")]
    Setup {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the network task has stopped")]
    Stopped,
    #[error("publish on {topic}")]
    Publish {
        topic: Topic,
        #[source]
        source: PublishError,
    },
    #[error("proof request to {peer}")]
    Request {
        peer: PeerId,
        #[source]
        source: OutboundFailure,
    },
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl P2pError {
    pub(crate) fn setup(what: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        P2pError::Setup { what, source: source.into() }
    }
}

/// Why the node key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading it")]
    Read(#[source] io::Error),
    #[error("creating the data dir")]
    CreateDir(#[source] io::Error),
    #[error("writing it")]
    Write(#[source] io::Error),
    #[error("does not decode as a libp2p key; move it away to make a new identity")]
    Decode(#[source] libp2p::identity::DecodingError),
    #[error("encoding the new key")]
    Encode(#[source] libp2p::identity::DecodingError),
    #[error("readable by others (mode {mode:o}); run chmod 600 on it")]
    Mode { mode: u32 },
}

/// A message that does not decode: too large, not snappy, not SSZ, or a
/// value longer than its bound.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message claims {claimed} bytes, over the {cap}-byte cap")]
    TooLarge { claimed: usize, cap: usize },
    #[error("not snappy")]
    Snappy(#[source] snap::Error),
    /// `ssz::DecodeError` is the root cause and implements no `Error`: kept as a value.
    #[error("not a valid SSZ message: {0:?}")]
    Ssz(ssz::DecodeError),
    #[error("{what} longer than its bound")]
    Bound { what: &'static str },
    #[error("a name outside the names rule")]
    BadName(#[source] slotproof_primitives::NameError),
}

/// A gossip message that does not decode as its topic's message.
#[derive(Debug, thiserror::Error)]
#[error("a {topic} message")]
pub struct DecodeError {
    pub topic: Topic,
    #[source]
    pub source: WireError,
}

/// Signing a proof envelope failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing with the node key")]
    Key(#[source] libp2p::identity::SigningError),
    #[error("the signature is {0} bytes, not 64 (not an ed25519 key)")]
    Length(usize),
}

/// Request-response framing (specs/p2p.md §3); travels inside `io::Error`
/// as libp2p's codec trait requires, and stays its source.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("chunk of {len} bytes is over the {cap}-byte cap")]
    ChunkTooLarge { len: usize, cap: usize },
    #[error("chunk of {0} bytes does not fit a 4-byte length")]
    ChunkUnframeable(usize),
    #[error("empty request")]
    EmptyRequest,
    #[error("range of {count} blocks is over {max}")]
    RangeTooLong { count: u64, max: u64 },
    #[error("response over its cap of {chunks} chunks or {bytes} bytes")]
    ResponseTooLarge { chunks: usize, bytes: usize },
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl From<CodecError> for io::Error {
    fn from(e: CodecError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}
