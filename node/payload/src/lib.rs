//! EIP-8025's `NewPayloadRequest` (specs/proof-engine.md §1): the fork
//! variants Bellatrix … Fulu with the mainnet preset, SSZ-encoded and rooted
//! with Lighthouse's `ethereum_ssz`, `ssz_types` and `tree_hash`; built from an
//! execution block (`eth_getBlockByNumber(n, true)` JSON, with the execution
//! requests a beacon node gave), and turned back into such a block by
//! rebuilding its header, as an execution client does. Pure: no I/O.

mod containers;
mod error;
mod from_block;
mod requests;
mod to_block;

pub use containers::{
    ConsolidationRequest, DepositRequest, ExecutionRequests, Fork, NewPayloadRequest, Payload, Withdrawal,
    WithdrawalRequest,
};
pub use error::PayloadError;
pub use from_block::from_block_json;
pub use requests::{EXECUTION_REQUESTS_FIELD, requests_from_beacon_json};
pub use to_block::to_block_json;

/// The root of a request: `hash_tree_root(NewPayloadRequest)`.
pub type Root = slotproof_primitives::Hash32;
