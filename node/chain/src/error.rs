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
    #[error("dev chain: {0}")]
    DevChain(String),
}
