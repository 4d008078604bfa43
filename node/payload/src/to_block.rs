//! A `NewPayloadRequest` back to a block object, as an execution client
//! rebuilds a block from `engine_newPayload`: the header's derived fields
//! (transactions root, withdrawals root, requests hash, the post-merge
//! constants) are computed, and the header must hash to the payload's
//! `block_hash`. The versioned hashes must be those of the payload's blob
//! transactions, in order. The result is an ordinary block object, which the
//! node proves like a block it followed.

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::B256;
use serde_json::{Map, Value, json};
use slotproof_primitives::Header;
use slotproof_primitives::hex::encode_prefixed as hex;

use crate::containers::{Fork, NewPayloadRequest};
use crate::error::PayloadError;
use crate::requests::EXECUTION_REQUESTS_FIELD;

/// Keccak-256 of the RLP of an empty list: every post-merge block's ommers hash.
const EMPTY_OMMERS_HASH: &str = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";

fn quantity(n: u64) -> Value {
    Value::String(format!("{n:#x}"))
}

/// The block object the request stands for, its header checked against `block_hash`.
pub fn to_block_json(request: &NewPayloadRequest) -> Result<Value, PayloadError> {
    let p = &request.payload;
    let envelopes = p
        .transactions
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            TxEnvelope::decode_2718_exact(raw).map_err(|e| PayloadError::Transaction { index, problem: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let blob_hashes: Vec<B256> =
        envelopes.iter().filter_map(|t| t.blob_versioned_hashes()).flatten().copied().collect();
    if request.fork >= Fork::Deneb && blob_hashes != request.versioned_hashes {
        return Err(PayloadError::BlockHash(format!(
            "the request's {} versioned hashes are not those of the payload's blob transactions ({})",
            request.versioned_hashes.len(),
            blob_hashes.len()
        )));
    }
    let mut obj = Map::new();
    let mut put = |k: &str, v: Value| {
        obj.insert(k.to_string(), v);
    };
    put("number", quantity(p.block_number));
    put("hash", json!(p.block_hash.to_string()));
    put("parentHash", json!(p.parent_hash.to_string()));
    put("sha3Uncles", json!(EMPTY_OMMERS_HASH));
    put("miner", json!(p.fee_recipient.to_string().to_lowercase()));
    put("stateRoot", json!(p.state_root.to_string()));
    put("transactionsRoot", json!(alloy::consensus::proofs::calculate_transaction_root(&envelopes).to_string()));
    put("receiptsRoot", json!(p.receipts_root.to_string()));
    put("logsBloom", json!(hex(&p.logs_bloom)));
    put("difficulty", json!("0x0"));
    put("gasLimit", quantity(p.gas_limit));
    put("gasUsed", quantity(p.gas_used));
    put("timestamp", quantity(p.timestamp));
    put("extraData", json!(hex(&p.extra_data)));
    put("mixHash", json!(p.prev_randao.to_string()));
    put("nonce", json!("0x0000000000000000"));
    put("baseFeePerGas", json!(format!("{:#x}", p.base_fee_per_gas)));
    if request.fork >= Fork::Capella {
        let withdrawals: Vec<alloy::eips::eip4895::Withdrawal> = p
            .withdrawals
            .iter()
            .map(|w| alloy::eips::eip4895::Withdrawal {
                index: w.index,
                validator_index: w.validator_index,
                address: w.address,
                amount: w.amount,
            })
            .collect();
        put("withdrawalsRoot", json!(alloy::consensus::proofs::calculate_withdrawals_root(&withdrawals).to_string()));
        put("withdrawals", serde_json::to_value(&withdrawals).map_err(|e| PayloadError::Ssz(e.to_string()))?);
    }
    if request.fork >= Fork::Deneb {
        put("blobGasUsed", quantity(p.blob_gas_used));
        put("excessBlobGas", quantity(p.excess_blob_gas));
        put("parentBeaconBlockRoot", json!(request.parent_beacon_block_root.to_string()));
    }
    if request.fork >= Fork::Electra {
        put("requestsHash", json!(request.execution_requests.requests_hash().to_string()));
        let engine: Vec<Value> = request.execution_requests.to_engine().iter().map(|r| json!(hex(r))).collect();
        put(EXECUTION_REQUESTS_FIELD, Value::Array(engine));
    }
    let txs = envelopes
        .iter()
        .enumerate()
        .map(|(index, t)| {
            serde_json::to_value(t).map_err(|e| PayloadError::Transaction { index, problem: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    put("transactions", Value::Array(txs));
    Header::from_block_json(&obj).map_err(|e| PayloadError::BlockHash(e.to_string()))?;
    Ok(Value::Object(obj))
}
