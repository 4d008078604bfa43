use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("node key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("bad multiaddr {addr:?}: {message}")]
    Addr { addr: String, message: String },
    #[error("network setup: {0}")]
    Setup(String),
    #[error("the network task has stopped")]
    Stopped,
    #[error("publish on {topic}: {message}")]
    Publish { topic: String, message: String },
    #[error("request to {peer}: {message}")]
    Request { peer: String, message: String },
    #[error(transparent)]
    Wire(#[from] crate::wire::WireError),
}
