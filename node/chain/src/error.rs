//! Errors of following the chain: an RPC that is down or answers badly (the
//! follower retries both and trusts neither), and the dev chain's own failures.

use slotproof_primitives::{HeaderError, HexError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ChainError {
    /// The RPC could not be reached or answered with a transport error: retried.
    #[error("RPC {url}: {message}")]
    Rpc { url: String, message: String },
    /// The RPC answered, but with something that is not what was asked: retried,
    /// never trusted.
    #[error("bad RPC data for {what}: {message}")]
    BadData { what: String, message: String },
    /// A hash field the RPC gave is not 32 bytes of hex.
    #[error("bad RPC data for {what}: {field} is not a 32-byte hash: {source}")]
    BadHash {
        what: String,
        field: &'static str,
        #[source]
        source: HexError,
    },
    /// The block's header does not re-encode, or does not hash to its hash.
    #[error("bad RPC data for {what}: {source}")]
    Header {
        what: String,
        #[source]
        source: HeaderError,
    },
    #[error("dev chain: shipped {what} does not parse: {source}")]
    Shipped {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("dev chain: server: {0}")]
    Serve(#[source] std::io::Error),
    /// A beacon node could not give what was asked (an Electra block's execution requests).
    #[error("beacon node {url}: {message}")]
    Beacon { url: String, message: String },
    /// Whoever took the follower's events has stopped listening.
    #[error("the chain event receiver is gone")]
    EventsClosed,
}
