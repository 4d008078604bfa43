//! A block object (`eth_getBlockByNumber(n, true)`) to its `NewPayloadRequest`.
//! The fork's variant follows the header's fields (a `requestsHash` means
//! Electra or later, `parentBeaconBlockRoot` Deneb, `withdrawalsRoot`
//! Capella, none of them Bellatrix), so a block always gets the container its
//! own header commits to. Every part rebuilt from the block's JSON is checked
//! against the header's commitment to it: the transactions root, the
//! withdrawals root and the requests hash.

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, U256};
use serde_json::{Map, Value};

use crate::containers::{ExecutionRequests, Fork, NewPayloadRequest, Payload, Withdrawal};
use crate::error::PayloadError;
use crate::requests::{EXECUTION_REQUESTS_FIELD, empty_requests_hash};

type Obj = Map<String, Value>;

fn text<'a>(obj: &'a Obj, field: &'static str) -> Result<&'a str, PayloadError> {
    obj.get(field)
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("0x"))
        .ok_or_else(|| PayloadError::Field { field, problem: "missing or not a 0x-prefixed string".into() })
}

pub(crate) fn bytes(obj: &Obj, field: &'static str) -> Result<Vec<u8>, PayloadError> {
    slotproof_primitives::hex::decode(text(obj, field)?)
        .map_err(|e| PayloadError::Field { field, problem: e.to_string() })
}

pub(crate) fn fixed<const N: usize>(obj: &Obj, field: &'static str) -> Result<[u8; N], PayloadError> {
    let b = bytes(obj, field)?;
    b.as_slice()
        .try_into()
        .map_err(|_| PayloadError::Field { field, problem: format!("{} bytes, expected {N}", b.len()) })
}

pub(crate) fn b256(obj: &Obj, field: &'static str) -> Result<B256, PayloadError> {
    fixed::<32>(obj, field).map(B256::from)
}

pub(crate) fn quantity(obj: &Obj, field: &'static str) -> Result<u64, PayloadError> {
    let digits = text(obj, field)?;
    u64::from_str_radix(digits, 16)
        .map_err(|e| PayloadError::Field { field, problem: format!("not a 64-bit hex quantity: {e}") })
}

fn u256(obj: &Obj, field: &'static str) -> Result<U256, PayloadError> {
    U256::from_str_radix(text(obj, field)?, 16)
        .map_err(|e| PayloadError::Field { field, problem: format!("not a 256-bit hex quantity: {e}") })
}

/// Which variant the header's fields commit to.
fn fork_of(obj: &Obj, timestamp: u64) -> Fork {
    if obj.contains_key("requestsHash") {
        Fork::electra_or_fulu(timestamp)
    } else if obj.contains_key("parentBeaconBlockRoot") {
        Fork::Deneb
    } else if obj.contains_key("withdrawalsRoot") {
        Fork::Capella
    } else {
        Fork::Bellatrix
    }
}

fn check_root(what: &'static str, computed: B256, header: B256) -> Result<(), PayloadError> {
    if computed == header {
        Ok(())
    } else {
        Err(PayloadError::RootMismatch { what, computed: computed.to_string(), header: header.to_string() })
    }
}

/// The block's transactions as consensus envelopes, from full RPC objects.
fn transactions(obj: &Obj) -> Result<Vec<TxEnvelope>, PayloadError> {
    let txs = obj
        .get("transactions")
        .and_then(Value::as_array)
        .ok_or(PayloadError::Field { field: "transactions", problem: "missing or not an array".into() })?;
    txs.iter()
        .enumerate()
        .map(|(index, tx)| {
            if !tx.is_object() {
                return Err(PayloadError::Transaction { index, problem: "not a full transaction object".into() });
            }
            serde_json::from_value::<TxEnvelope>(tx.clone())
                .map_err(|e| PayloadError::Transaction { index, problem: e.to_string() })
        })
        .collect()
}

fn withdrawals(obj: &Obj) -> Result<Vec<alloy::eips::eip4895::Withdrawal>, PayloadError> {
    let list = obj.get("withdrawals").and_then(Value::as_array).ok_or(PayloadError::Field {
        field: "withdrawals",
        problem: "missing or not an array (the header has a withdrawals root)".into(),
    })?;
    list.iter()
        .enumerate()
        .map(|(index, w)| {
            serde_json::from_value(w.clone()).map_err(|e| PayloadError::Withdrawal { index, problem: e.to_string() })
        })
        .collect()
}

/// The requests a block object carries (see `EXECUTION_REQUESTS_FIELD`), or
/// none when its header proves them empty.
fn execution_requests(obj: &Obj, number: u64, header_hash: B256) -> Result<ExecutionRequests, PayloadError> {
    let requests = match obj.get(EXECUTION_REQUESTS_FIELD) {
        Some(Value::Array(items)) => {
            let raw = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .and_then(|s| slotproof_primitives::hex::decode(s).ok())
                        .ok_or_else(|| PayloadError::Requests(format!("{EXECUTION_REQUESTS_FIELD}: not hex strings")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            ExecutionRequests::from_engine(&raw)?
        }
        Some(_) => return Err(PayloadError::Requests(format!("{EXECUTION_REQUESTS_FIELD} is not a list"))),
        None if header_hash == empty_requests_hash() => ExecutionRequests::default(),
        None => return Err(PayloadError::RequestsUnknown { number }),
    };
    check_root("requests hash", requests.requests_hash(), header_hash)?;
    Ok(requests)
}

/// Builds the block's `NewPayloadRequest`, checking every rebuilt part
/// against the header's commitment (the caller has checked the header
/// against the block hash).
pub fn from_block_json(block: &Value) -> Result<NewPayloadRequest, PayloadError> {
    let obj = block.as_object().ok_or(PayloadError::Field { field: "block", problem: "not a JSON object".into() })?;
    let number = quantity(obj, "number")?;
    if u256(obj, "difficulty")? != U256::ZERO {
        return Err(PayloadError::PreMerge(number));
    }
    let timestamp = quantity(obj, "timestamp")?;
    let fork = fork_of(obj, timestamp);
    let envelopes = transactions(obj)?;
    check_root(
        "transactions root",
        alloy::consensus::proofs::calculate_transaction_root(&envelopes),
        b256(obj, "transactionsRoot")?,
    )?;
    let versioned_hashes: Vec<B256> =
        envelopes.iter().filter_map(|t| t.blob_versioned_hashes()).flatten().copied().collect();
    let withdrawals = if fork >= Fork::Capella {
        let list = withdrawals(obj)?;
        check_root(
            "withdrawals root",
            alloy::consensus::proofs::calculate_withdrawals_root(&list),
            b256(obj, "withdrawalsRoot")?,
        )?;
        list.iter()
            .map(|w| Withdrawal {
                index: w.index,
                validator_index: w.validator_index,
                address: w.address,
                amount: w.amount,
            })
            .collect()
    } else {
        Vec::new()
    };
    let deneb = fork >= Fork::Deneb;
    let payload = Payload {
        parent_hash: b256(obj, "parentHash")?,
        fee_recipient: Address::from(fixed::<20>(obj, "miner")?),
        state_root: b256(obj, "stateRoot")?,
        receipts_root: b256(obj, "receiptsRoot")?,
        logs_bloom: fixed::<256>(obj, "logsBloom")?,
        prev_randao: b256(obj, "mixHash")?,
        block_number: number,
        gas_limit: quantity(obj, "gasLimit")?,
        gas_used: quantity(obj, "gasUsed")?,
        timestamp,
        extra_data: bytes(obj, "extraData")?,
        base_fee_per_gas: u256(obj, "baseFeePerGas")?,
        block_hash: b256(obj, "hash")?,
        transactions: envelopes.iter().map(|t| t.encoded_2718()).collect(),
        withdrawals,
        blob_gas_used: if deneb { quantity(obj, "blobGasUsed")? } else { 0 },
        excess_blob_gas: if deneb { quantity(obj, "excessBlobGas")? } else { 0 },
    };
    let execution_requests = if fork >= Fork::Electra {
        execution_requests(obj, number, b256(obj, "requestsHash")?)?
    } else {
        ExecutionRequests::default()
    };
    Ok(NewPayloadRequest {
        fork,
        payload,
        versioned_hashes,
        parent_beacon_block_root: if deneb { b256(obj, "parentBeaconBlockRoot")? } else { B256::ZERO },
        execution_requests,
    })
}
