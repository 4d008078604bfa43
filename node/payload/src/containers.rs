//! The SSZ containers of one `NewPayloadRequest` per fork (mainnet preset),
//! and the fork-neutral `NewPayloadRequest` the node works with. Encoding,
//! decoding and `hash_tree_root` are the SSZ crates' own: this module only
//! declares the containers field by field, in the consensus specs' order.

use alloy::primitives::{Address, B256, FixedBytes, U256};
use ssz::{Decode, Encode};
use ssz_derive::{Decode, Encode};
use ssz_types::typenum::{U2, U16, U32, U256 as N256, U4096, U8192, U1048576, U1073741824};
use ssz_types::{FixedVector, VariableList};
use tree_hash::TreeHash;
use tree_hash_derive::TreeHash;

use crate::Root;
use crate::error::PayloadError;

/// `Transaction`: an EIP-2718 encoded transaction, `ByteList[MAX_BYTES_PER_TRANSACTION = 2**30]`.
type Transaction = VariableList<u8, U1073741824>;
/// `List[Transaction, MAX_TRANSACTIONS_PER_PAYLOAD = 2**20]`.
type Transactions = VariableList<Transaction, U1048576>;
/// `ByteVector[BYTES_PER_LOGS_BLOOM = 256]`.
type LogsBloom = FixedVector<u8, N256>;
/// `ByteList[MAX_EXTRA_DATA_BYTES = 32]`.
type ExtraData = VariableList<u8, U32>;
/// `List[Withdrawal, MAX_WITHDRAWALS_PER_PAYLOAD = 16]`.
type Withdrawals = VariableList<Withdrawal, U16>;
/// `List[VersionedHash, MAX_BLOB_COMMITMENTS_PER_BLOCK = 4096]`.
type VersionedHashes = VariableList<B256, U4096>;

/// Capella's `Withdrawal` (amount in Gwei).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct Withdrawal {
    pub index: u64,
    pub validator_index: u64,
    pub address: Address,
    pub amount: u64,
}

/// Electra's `DepositRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct DepositRequest {
    pub pubkey: FixedBytes<48>,
    pub withdrawal_credentials: B256,
    pub amount: u64,
    pub signature: FixedBytes<96>,
    pub index: u64,
}

/// Electra's `WithdrawalRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct WithdrawalRequest {
    pub source_address: Address,
    pub validator_pubkey: FixedBytes<48>,
    pub amount: u64,
}

/// Electra's `ConsolidationRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ConsolidationRequest {
    pub source_address: Address,
    pub source_pubkey: FixedBytes<48>,
    pub target_pubkey: FixedBytes<48>,
}

/// Electra's `ExecutionRequests` (mainnet bounds: 8192 deposits, 16
/// withdrawals, 2 consolidations per payload).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TreeHash)]
pub struct ExecutionRequests {
    pub deposits: VariableList<DepositRequest, U8192>,
    pub withdrawals: VariableList<WithdrawalRequest, U16>,
    pub consolidations: VariableList<ConsolidationRequest, U2>,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
struct ExecutionPayloadBellatrix {
    parent_hash: B256,
    fee_recipient: Address,
    state_root: B256,
    receipts_root: B256,
    logs_bloom: LogsBloom,
    prev_randao: B256,
    block_number: u64,
    gas_limit: u64,
    gas_used: u64,
    timestamp: u64,
    extra_data: ExtraData,
    base_fee_per_gas: U256,
    block_hash: B256,
    transactions: Transactions,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
struct ExecutionPayloadCapella {
    parent_hash: B256,
    fee_recipient: Address,
    state_root: B256,
    receipts_root: B256,
    logs_bloom: LogsBloom,
    prev_randao: B256,
    block_number: u64,
    gas_limit: u64,
    gas_used: u64,
    timestamp: u64,
    extra_data: ExtraData,
    base_fee_per_gas: U256,
    block_hash: B256,
    transactions: Transactions,
    withdrawals: Withdrawals,
}

/// Deneb's payload; Electra and Fulu keep it unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
struct ExecutionPayloadDeneb {
    parent_hash: B256,
    fee_recipient: Address,
    state_root: B256,
    receipts_root: B256,
    logs_bloom: LogsBloom,
    prev_randao: B256,
    block_number: u64,
    gas_limit: u64,
    gas_used: u64,
    timestamp: u64,
    extra_data: ExtraData,
    base_fee_per_gas: U256,
    block_hash: B256,
    transactions: Transactions,
    withdrawals: Withdrawals,
    blob_gas_used: u64,
    excess_blob_gas: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
struct RequestBellatrix {
    execution_payload: ExecutionPayloadBellatrix,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
struct RequestCapella {
    execution_payload: ExecutionPayloadCapella,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
struct RequestDeneb {
    execution_payload: ExecutionPayloadDeneb,
    versioned_hashes: VersionedHashes,
    parent_beacon_block_root: B256,
}

/// Electra's and Fulu's request (the same container).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TreeHash)]
struct RequestElectra {
    execution_payload: ExecutionPayloadDeneb,
    versioned_hashes: VersionedHashes,
    parent_beacon_block_root: B256,
    execution_requests: ExecutionRequests,
}

/// The consensus fork whose `NewPayloadRequest` variant a block takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fork {
    Bellatrix,
    Capella,
    Deneb,
    Electra,
    Fulu,
}

/// Mainnet's Fulu activation (epoch 411392): Electra and Fulu requests share
/// one container, so this only names the variant.
const MAINNET_FULU_TIMESTAMP: u64 = 1_764_798_551;

impl Fork {
    pub fn name(self) -> &'static str {
        match self {
            Fork::Bellatrix => "bellatrix",
            Fork::Capella => "capella",
            Fork::Deneb => "deneb",
            Fork::Electra => "electra",
            Fork::Fulu => "fulu",
        }
    }

    /// Electra or Fulu, by the mainnet schedule.
    pub(crate) fn electra_or_fulu(timestamp: u64) -> Fork {
        if timestamp >= MAINNET_FULU_TIMESTAMP { Fork::Fulu } else { Fork::Electra }
    }
}

impl std::fmt::Display for Fork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An execution payload, every fork's fields; the fork says which are used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub parent_hash: B256,
    pub fee_recipient: Address,
    pub state_root: B256,
    pub receipts_root: B256,
    pub logs_bloom: [u8; 256],
    pub prev_randao: B256,
    pub block_number: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub timestamp: u64,
    pub extra_data: Vec<u8>,
    pub base_fee_per_gas: U256,
    pub block_hash: B256,
    /// EIP-2718 encodings, in block order.
    pub transactions: Vec<Vec<u8>>,
    /// Capella on.
    pub withdrawals: Vec<Withdrawal>,
    /// Deneb on.
    pub blob_gas_used: u64,
    pub excess_blob_gas: u64,
}

/// One block's `NewPayloadRequest`, whichever its fork.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPayloadRequest {
    pub fork: Fork,
    pub payload: Payload,
    /// Deneb on: the blob versioned hashes of the block's type-3 transactions, in order.
    pub versioned_hashes: Vec<B256>,
    /// Deneb on.
    pub parent_beacon_block_root: B256,
    /// Electra on.
    pub execution_requests: ExecutionRequests,
}

fn list<T, N: ssz_types::typenum::Unsigned>(
    items: Vec<T>,
    what: &'static str,
) -> Result<VariableList<T, N>, PayloadError> {
    VariableList::new(items).map_err(|_| PayloadError::Bound { what })
}

/// The variant's container: what is encoded and rooted.
enum Variant {
    Bellatrix(RequestBellatrix),
    Capella(RequestCapella),
    Deneb(RequestDeneb),
    Electra(RequestElectra),
}

impl NewPayloadRequest {
    fn transactions(&self) -> Result<Transactions, PayloadError> {
        let txs = self
            .payload
            .transactions
            .iter()
            .map(|t| list(t.clone(), "a transaction"))
            .collect::<Result<Vec<_>, _>>()?;
        list(txs, "transactions")
    }

    fn variant(&self) -> Result<Variant, PayloadError> {
        let p = &self.payload;
        let logs_bloom =
            FixedVector::new(p.logs_bloom.to_vec()).map_err(|_| PayloadError::Bound { what: "logs bloom" })?;
        let extra_data = list(p.extra_data.clone(), "extra data")?;
        let transactions = self.transactions()?;
        macro_rules! payload {
            ($ty:ident { $($extra:ident: $value:expr),* }) => {
                $ty {
                    parent_hash: p.parent_hash,
                    fee_recipient: p.fee_recipient,
                    state_root: p.state_root,
                    receipts_root: p.receipts_root,
                    logs_bloom,
                    prev_randao: p.prev_randao,
                    block_number: p.block_number,
                    gas_limit: p.gas_limit,
                    gas_used: p.gas_used,
                    timestamp: p.timestamp,
                    extra_data,
                    base_fee_per_gas: p.base_fee_per_gas,
                    block_hash: p.block_hash,
                    transactions,
                    $($extra: $value),*
                }
            };
        }
        let withdrawals = || list(p.withdrawals.clone(), "withdrawals");
        let hashes = || list(self.versioned_hashes.clone(), "versioned hashes");
        Ok(match self.fork {
            Fork::Bellatrix => {
                Variant::Bellatrix(RequestBellatrix { execution_payload: payload!(ExecutionPayloadBellatrix {}) })
            }
            Fork::Capella => Variant::Capella(RequestCapella {
                execution_payload: payload!(ExecutionPayloadCapella { withdrawals: withdrawals()? }),
            }),
            Fork::Deneb => Variant::Deneb(RequestDeneb {
                execution_payload: payload!(ExecutionPayloadDeneb {
                    withdrawals: withdrawals()?,
                    blob_gas_used: p.blob_gas_used,
                    excess_blob_gas: p.excess_blob_gas
                }),
                versioned_hashes: hashes()?,
                parent_beacon_block_root: self.parent_beacon_block_root,
            }),
            Fork::Electra | Fork::Fulu => Variant::Electra(RequestElectra {
                execution_payload: payload!(ExecutionPayloadDeneb {
                    withdrawals: withdrawals()?,
                    blob_gas_used: p.blob_gas_used,
                    excess_blob_gas: p.excess_blob_gas
                }),
                versioned_hashes: hashes()?,
                parent_beacon_block_root: self.parent_beacon_block_root,
                execution_requests: self.execution_requests.clone(),
            }),
        })
    }

    /// The SSZ encoding of the fork's variant, with no selector byte (as
    /// zkboost takes it: a transparent union).
    pub fn to_ssz(&self) -> Result<Vec<u8>, PayloadError> {
        Ok(match self.variant()? {
            Variant::Bellatrix(v) => v.as_ssz_bytes(),
            Variant::Capella(v) => v.as_ssz_bytes(),
            Variant::Deneb(v) => v.as_ssz_bytes(),
            Variant::Electra(v) => v.as_ssz_bytes(),
        })
    }

    /// `hash_tree_root` of the fork's variant: EIP-8025's `new_payload_request_root`.
    pub fn root(&self) -> Result<Root, PayloadError> {
        let root = match self.variant()? {
            Variant::Bellatrix(v) => v.tree_hash_root(),
            Variant::Capella(v) => v.tree_hash_root(),
            Variant::Deneb(v) => v.tree_hash_root(),
            Variant::Electra(v) => v.tree_hash_root(),
        };
        Ok(Root::from(root.0))
    }

    /// Decodes any fork's variant. SSZ decoding is strict (every offset must
    /// be exactly where the container puts it), so at most one shape fits;
    /// Electra and Fulu share theirs and are told apart by the mainnet
    /// schedule (the root is the same either way).
    pub fn from_ssz(bytes: &[u8]) -> Result<NewPayloadRequest, PayloadError> {
        let mut errors = Vec::new();
        match RequestElectra::from_ssz_bytes(bytes) {
            Ok(r) => {
                let fork = Fork::electra_or_fulu(r.execution_payload.timestamp);
                return Ok(from_deneb(
                    fork,
                    r.execution_payload,
                    r.versioned_hashes,
                    r.parent_beacon_block_root,
                    r.execution_requests,
                ));
            }
            Err(e) => errors.push(format!("electra/fulu: {e:?}")),
        }
        match RequestDeneb::from_ssz_bytes(bytes) {
            Ok(r) => {
                return Ok(from_deneb(
                    Fork::Deneb,
                    r.execution_payload,
                    r.versioned_hashes,
                    r.parent_beacon_block_root,
                    ExecutionRequests::default(),
                ));
            }
            Err(e) => errors.push(format!("deneb: {e:?}")),
        }
        match RequestCapella::from_ssz_bytes(bytes) {
            Ok(r) => return Ok(from_capella(r.execution_payload)),
            Err(e) => errors.push(format!("capella: {e:?}")),
        }
        match RequestBellatrix::from_ssz_bytes(bytes) {
            Ok(r) => return Ok(from_bellatrix(r.execution_payload)),
            Err(e) => errors.push(format!("bellatrix: {e:?}")),
        }
        Err(PayloadError::Ssz(errors.join("; ")))
    }
}

macro_rules! common {
    ($p:ident, $withdrawals:expr, $blob_gas_used:expr, $excess:expr) => {
        Payload {
            parent_hash: $p.parent_hash,
            fee_recipient: $p.fee_recipient,
            state_root: $p.state_root,
            receipts_root: $p.receipts_root,
            logs_bloom: bloom(&$p.logs_bloom),
            prev_randao: $p.prev_randao,
            block_number: $p.block_number,
            gas_limit: $p.gas_limit,
            gas_used: $p.gas_used,
            timestamp: $p.timestamp,
            extra_data: $p.extra_data.to_vec(),
            base_fee_per_gas: $p.base_fee_per_gas,
            block_hash: $p.block_hash,
            transactions: $p.transactions.iter().map(|t| t.to_vec()).collect(),
            withdrawals: $withdrawals,
            blob_gas_used: $blob_gas_used,
            excess_blob_gas: $excess,
        }
    };
}

fn bloom(v: &LogsBloom) -> [u8; 256] {
    let mut out = [0u8; 256];
    out.copy_from_slice(v);
    out
}

fn from_bellatrix(p: ExecutionPayloadBellatrix) -> NewPayloadRequest {
    NewPayloadRequest {
        fork: Fork::Bellatrix,
        payload: common!(p, Vec::new(), 0, 0),
        versioned_hashes: Vec::new(),
        parent_beacon_block_root: B256::ZERO,
        execution_requests: ExecutionRequests::default(),
    }
}

fn from_capella(p: ExecutionPayloadCapella) -> NewPayloadRequest {
    NewPayloadRequest {
        fork: Fork::Capella,
        payload: common!(p, p.withdrawals.to_vec(), 0, 0),
        versioned_hashes: Vec::new(),
        parent_beacon_block_root: B256::ZERO,
        execution_requests: ExecutionRequests::default(),
    }
}

fn from_deneb(
    fork: Fork,
    p: ExecutionPayloadDeneb,
    hashes: VersionedHashes,
    parent_beacon_block_root: B256,
    execution_requests: ExecutionRequests,
) -> NewPayloadRequest {
    NewPayloadRequest {
        fork,
        payload: common!(p, p.withdrawals.to_vec(), p.blob_gas_used, p.excess_blob_gas),
        versioned_hashes: hashes.to_vec(),
        parent_beacon_block_root,
        execution_requests,
    }
}
