//! The node's errors: what an operator sees when the node cannot start or a
//! store refuses a write. Each keeps its cause and names the path or block.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("results database {path}{}", if *.locked { " (is another node running on this data dir?)" } else { "" })]
    Open {
        path: PathBuf,
        locked: bool,
        #[source]
        source: rocksdb::Error,
    },
    #[error("results database {path}")]
    Db {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("results file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("results record {key} is not a valid record")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Why the node stopped (or never started).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("creating data dir {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("the node's queue")]
    Queue(#[from] slotproof_queue::QueueError),
    #[error("the node's proof blobs")]
    Blobs(#[from] slotproof_queue::BlobError),
    #[error("the node's pipeline")]
    Pipeline(#[from] slotproof_pipeline::PipelineError),
    #[error("the node's pipeline definition")]
    PipelineDefinition(#[from] slotproof_pipeline::ConfigError),
    #[error("the proving network")]
    Network(#[from] crate::network::NetError),
    #[error("zkVM registry")]
    Registry(#[from] slotproof_zkvm::registry::RegistryError),
    #[error("no zkVM is ready to prove (see `slotproof zkvms`)")]
    NoZkvm,
    #[error("proof engine: {0}")]
    ProofEngine(String),
    #[error("remote workers")]
    Workers(#[from] slotproof_workers::WorkerError),
    #[error("[queue] local_provers = false (--no-local-provers) needs the NATS backend: nothing else could prove")]
    NoProvers,
    #[error("HTTP listener on {addr}")]
    Http {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the embedded dev chain")]
    DevChain(#[source] slotproof_chain::ChainError),
    #[error("starting the recorder thread")]
    Thread(#[source] std::io::Error),
    #[error("writing summary {path}")]
    Summary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Setup of a part that reports through anyhow (the network, submission).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}
