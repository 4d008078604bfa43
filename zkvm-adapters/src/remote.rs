//! What the adapters for someone else's prover (an ere-server, a zkboost
//! endpoint) share: a blocking HTTP client built on first use, on the
//! proving thread (never inside the node's async runtime), and the bound on
//! remote text kept in records, logs and events.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::ProverError;

/// Characters of remote text kept (an error message, a backend kind).
const MAX_TEXT_CHARS: usize = 1024;

/// Remote text as far as it is kept.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// A blocking client, built when first used.
#[derive(Default)]
pub(crate) struct LazyClient(OnceLock<Result<reqwest::blocking::Client, String>>);

impl LazyClient {
    /// The client; an error (no TLS backend, say) is transient.
    pub(crate) fn get(&self) -> Result<&reqwest::blocking::Client, ProverError> {
        self.0
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| ProverError::Transient(format!("HTTP client: {e}")))
    }
}
