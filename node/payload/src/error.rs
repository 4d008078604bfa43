//! Why a block cannot become a `NewPayloadRequest`, or bytes cannot be one.

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// A field of the block object is missing or malformed.
    #[error("block field {field}: {problem}")]
    Field { field: &'static str, problem: String },
    /// Proof-of-work blocks have no execution payload.
    #[error("block {0} is before the merge (difficulty is not 0): it has no NewPayloadRequest")]
    PreMerge(u64),
    #[error("transaction {index}: {problem}")]
    Transaction { index: usize, problem: String },
    #[error("withdrawal {index}: {problem}")]
    Withdrawal { index: usize, problem: String },
    /// A root recomputed from the payload's parts differs from the header's.
    #[error("{what} recomputed from the block's contents is {computed}, the header says {header}")]
    RootMismatch { what: &'static str, computed: String, header: String },
    /// From Electra on, the request needs the block's execution requests,
    /// which the execution block does not carry.
    #[error(
        "block {number} (Prague/Electra or later) has execution requests that only a beacon node can give \
         (its header's requestsHash is not that of empty requests); run with --beacon-url to get its NewPayloadRequest root"
    )]
    RequestsUnknown { number: u64 },
    #[error("execution requests: {0}")]
    Requests(String),
    /// A list is longer than its SSZ bound.
    #[error("{what} exceeds its SSZ bound")]
    Bound { what: &'static str },
    /// Bytes that are no fork's `NewPayloadRequest`.
    #[error("not an SSZ NewPayloadRequest of any fork (Bellatrix … Fulu): {0}")]
    Ssz(String),
    /// The header rebuilt from the payload does not hash to its `block_hash`.
    #[error("the header rebuilt from the payload does not hash to its block_hash: {0}")]
    BlockHash(String),
}
