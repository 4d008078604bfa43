//! Errors of the Ethproofs-compatible server: why it cannot start, and why a
//! request failed inside it (answered as a 500 and logged with its causes).

use std::path::PathBuf;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Names `config::API_KEYS_ENV` (a test there checks it).
    #[error(
        "ethproofs server: no API key: give --api-key, --api-keys-file or SLOTPROOF_ETHPROOFS_API_KEYS (one team per key)"
    )]
    NoApiKeys,
    #[error("ethproofs server: reading the API keys file {path}")]
    ApiKeysFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Names where the key came from, never the key.
    #[error("ethproofs server: the API key {origin} is not a bearer token (printable ASCII, no spaces)")]
    BadApiKey { origin: String },
    #[error("ethproofs server: creating the data dir {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ethproofs server: opening the database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("ethproofs server: building the RPC client")]
    RpcClient(#[source] reqwest::Error),
}

/// A failed read or write of the server's database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ethproofs server database: reading or writing {key}")]
    Db {
        key: String,
        #[source]
        source: rocksdb::Error,
    },
    #[error("ethproofs server database: record {key} does not decode")]
    Decode {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("ethproofs server database: record {key} does not encode")]
    Encode {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Why the facts of a block could not be fetched for `/blocks`.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("asking the RPC for block {number}")]
    Rpc {
        number: u64,
        #[source]
        source: reqwest::Error,
    },
    #[error("block {0} not available from the RPC")]
    Missing(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}
