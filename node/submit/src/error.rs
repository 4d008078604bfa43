//! Errors of the Ethproofs client: what an answer means for the sender, why a
//! call could not be made, and why there is no token. Causes are kept as
//! sources, never flattened into the message.

use std::path::PathBuf;
use std::time::Duration;

/// What a call's outcome means for the sender.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// 429: every call on this key waits this long.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// 409 on a status call: the block is already proved for this cluster; done.
    #[error("already proved")]
    AlreadyProved,
    /// Any other 4xx: retrying cannot help; dead-letter with the body.
    #[error("refused with {status}: {body}")]
    Rejected { status: u16, body: String },
    /// 401/403 (a bad or missing key) or 404 (e.g. `Cluster not found`): a
    /// configuration problem only an operator can fix. The entry is kept and
    /// retried slowly, never dead-lettered: the proof must not be lost.
    #[error("refused with {status}: {body} ({})", what_to_fix(*status))]
    Misconfigured { status: u16, body: String },
    /// A 2xx whose body is not the documented answer: retrying cannot help either.
    #[error("unexpected answer with {status}: {body}")]
    Unexpected {
        status: u16,
        body: String,
        #[source]
        source: Option<serde_json::Error>,
    },
    /// 5xx, a network error, a timeout: retry with backoff.
    #[error(transparent)]
    Retry(#[from] RetryError),
    /// The proof an outbox entry refers to could not be read from the blob
    /// store: retried when the disk may recover, dead-lettered when it is gone or damaged.
    #[error("reading the proof to submit")]
    ProofUnreadable(#[source] slotproof_queue::BlobError),
    /// The HTTP client itself could not be built (TLS setup); nothing was sent.
    #[error("building the Ethproofs HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

/// What an operator should check when the service refuses this node's calls
/// with `status` (never the key itself).
pub fn what_to_fix(status: u16) -> &'static str {
    match status {
        401 | 403 => {
            "check the Ethproofs token: SLOTPROOF_ETHPROOFS_TOKEN or the [ethproofs] token_file / --ethproofs-token-file"
        }
        _ => "check [ethproofs] url and clusters: the cluster id or the URL is not the service's",
    }
}

/// Why a call failed in a way a later attempt may not.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// Connecting, sending or a timeout.
    #[error("{method} {path}: the request failed")]
    Send {
        method: reqwest::Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {path}: reading the answer")]
    Read {
        method: reqwest::Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// 5xx (or any other status that is neither success nor a client error).
    #[error("{method} {path}: {status}: {body}")]
    Status { method: reqwest::Method, path: String, status: u16, body: String },
}

/// Why the Ethproofs token could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("reading token file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {path} is empty")]
    Empty { path: PathBuf },
    #[error("no Ethproofs token: set SLOTPROOF_ETHPROOFS_TOKEN or --ethproofs-token-file")]
    Missing,
}

pub use slotproof_primitives::ErrorChain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_shows_every_cause() {
        let e = TokenError::Read {
            path: "/nowhere/token".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(ErrorChain(&e).to_string(), "reading token file /nowhere/token: no such file");
    }
}
