//! The adversary's errors: only its own setup can fail it (starting a swarm,
//! signing, the identities file); nothing an honest node sends is an error.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AdversaryError {
    #[error("starting identity {index} on the network")]
    Start {
        index: u32,
        #[source]
        source: slotproof_p2p::P2pError,
    },
    #[error("signing a forged proof")]
    Sign(#[from] slotproof_p2p::SignError),
    #[error("building a message")]
    Wire(#[from] slotproof_p2p::WireError),
    #[error("appending to the identities file {path}")]
    IdentitiesFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("listening for SIGTERM")]
    Signal(#[source] std::io::Error),
}

/// The error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
