//! The network side's errors, each with its cause.

use slotproof_p2p::{P2pError, SignError, WireError};

use crate::results::ResultsError;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("the proving network")]
    P2p(#[from] P2pError),
    #[error("a message field over its bound")]
    Wire(#[from] WireError),
    #[error("signing the proof")]
    Sign(#[from] SignError),
    #[error("storing the signed proof of block {number}")]
    Store {
        number: u64,
        #[source]
        source: ResultsError,
    },
}
