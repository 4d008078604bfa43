//! What the server is started with (specs/submission.md §4).

use std::path::PathBuf;
use std::time::Duration;

/// The published limit: 60 requests per 60 s per key, shared by the three
/// status calls and `GET /proofs`.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub requests: usize,
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { requests: 60, window: Duration::from_secs(60) }
    }
}

pub struct ServerConfig {
    /// The database lives in `<data_dir>/ethproofs`.
    pub data_dir: PathBuf,
    /// API keys; each is one team.
    pub api_keys: Vec<String>,
    pub rate_limit: RateLimit,
    /// Where block facts come from (`eth_getBlockByNumber`); without it `/blocks` knows none.
    pub rpc_url: Option<String>,
}
