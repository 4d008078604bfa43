//! Electra's execution requests in their three forms: the SSZ container of
//! the `NewPayloadRequest`, the Engine API's list of `type ‖ ssz(list)` byte
//! strings (which a block object carries under `executionRequests` once the
//! node has them), and a beacon node's JSON (the block body's
//! `execution_requests`). The header commits to them with EIP-7685's
//! `requests_hash`, which is how a block's requests are checked.

use alloy::primitives::{Address, B256, FixedBytes};
use serde_json::Value;
use ssz::{Decode, Encode};
use ssz_types::VariableList;

use crate::containers::{ConsolidationRequest, DepositRequest, ExecutionRequests, WithdrawalRequest};
use crate::error::PayloadError;

/// The block-object field holding the requests in the Engine API's form
/// (hex strings, ascending request type, empty lists left out).
pub const EXECUTION_REQUESTS_FIELD: &str = "executionRequests";

const DEPOSIT: u8 = 0;
const WITHDRAWAL: u8 = 1;
const CONSOLIDATION: u8 = 2;

fn sha256(bytes: &[u8]) -> [u8; 32] {
    ethereum_hashing::hash_fixed(bytes)
}

impl ExecutionRequests {
    /// The Engine API form: `type ‖ ssz(list)` for each non-empty list, by type.
    pub fn to_engine(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut push = |kind: u8, data: Vec<u8>| {
            if !data.is_empty() {
                let mut r = vec![kind];
                r.extend(data);
                out.push(r);
            }
        };
        push(DEPOSIT, self.deposits.as_ssz_bytes());
        push(WITHDRAWAL, self.withdrawals.as_ssz_bytes());
        push(CONSOLIDATION, self.consolidations.as_ssz_bytes());
        out
    }

    /// Parses the Engine API form: types strictly ascending, none empty.
    pub fn from_engine(items: &[Vec<u8>]) -> Result<ExecutionRequests, PayloadError> {
        let bad = |m: String| PayloadError::Requests(m);
        let mut out = ExecutionRequests::default();
        let mut last: Option<u8> = None;
        for item in items {
            let (&kind, data) = item.split_first().ok_or_else(|| bad("an empty request".into()))?;
            if last.is_some_and(|l| kind <= l) {
                return Err(bad(format!("request type {kind} out of order or repeated")));
            }
            last = Some(kind);
            if data.is_empty() {
                return Err(bad(format!("request type {kind} has no data")));
            }
            let e = |e: ssz::DecodeError| bad(format!("request type {kind}: {e:?}"));
            match kind {
                DEPOSIT => out.deposits = VariableList::from_ssz_bytes(data).map_err(e)?,
                WITHDRAWAL => out.withdrawals = VariableList::from_ssz_bytes(data).map_err(e)?,
                CONSOLIDATION => out.consolidations = VariableList::from_ssz_bytes(data).map_err(e)?,
                other => return Err(bad(format!("unknown request type {other}"))),
            }
        }
        Ok(out)
    }

    /// EIP-7685's `requests_hash`: SHA-256 over the SHA-256 of each non-empty request.
    pub fn requests_hash(&self) -> B256 {
        let inner: Vec<u8> = self.to_engine().iter().flat_map(|r| sha256(r)).collect();
        B256::from(sha256(&inner))
    }
}

/// The `requests_hash` of no requests at all: a header carrying it proves
/// the block's requests empty, with no beacon node asked.
pub fn empty_requests_hash() -> B256 {
    ExecutionRequests::default().requests_hash()
}

fn obj_field<'a>(v: &'a Value, field: &str) -> Result<&'a Value, PayloadError> {
    v.get(field).ok_or_else(|| PayloadError::Requests(format!("beacon JSON: {field} missing")))
}

fn fixed<const N: usize>(v: &Value, field: &str) -> Result<FixedBytes<N>, PayloadError> {
    let s = obj_field(v, field)?.as_str().unwrap_or_default();
    let bytes = s
        .strip_prefix("0x")
        .and_then(|h| slotproof_primitives::hex::decode(h).ok())
        .filter(|b| b.len() == N)
        .ok_or_else(|| PayloadError::Requests(format!("beacon JSON: {field} is not {N} bytes of 0x hex")))?;
    Ok(FixedBytes::from_slice(&bytes))
}

/// Beacon JSON writes Gwei amounts and indices as decimal strings.
fn decimal(v: &Value, field: &str) -> Result<u64, PayloadError> {
    obj_field(v, field)?
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| PayloadError::Requests(format!("beacon JSON: {field} is not a decimal string")))
}

fn items<'a>(v: &'a Value, field: &str) -> Result<&'a [Value], PayloadError> {
    obj_field(v, field)?
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| PayloadError::Requests(format!("beacon JSON: {field} is not a list")))
}

fn bounded<T, N: ssz_types::typenum::Unsigned>(
    v: Vec<T>,
    what: &'static str,
) -> Result<VariableList<T, N>, PayloadError> {
    VariableList::new(v).map_err(|_| PayloadError::Bound { what })
}

/// A beacon block body's `execution_requests` object (beacon API JSON).
pub fn requests_from_beacon_json(v: &Value) -> Result<ExecutionRequests, PayloadError> {
    let deposits = items(v, "deposits")?
        .iter()
        .map(|d| {
            Ok(DepositRequest {
                pubkey: fixed::<48>(d, "pubkey")?,
                withdrawal_credentials: B256::from(fixed::<32>(d, "withdrawal_credentials")?),
                amount: decimal(d, "amount")?,
                signature: fixed::<96>(d, "signature")?,
                index: decimal(d, "index")?,
            })
        })
        .collect::<Result<Vec<_>, PayloadError>>()?;
    let withdrawals = items(v, "withdrawals")?
        .iter()
        .map(|w| {
            Ok(WithdrawalRequest {
                source_address: Address::from(fixed::<20>(w, "source_address")?),
                validator_pubkey: fixed::<48>(w, "validator_pubkey")?,
                amount: decimal(w, "amount")?,
            })
        })
        .collect::<Result<Vec<_>, PayloadError>>()?;
    let consolidations = items(v, "consolidations")?
        .iter()
        .map(|c| {
            Ok(ConsolidationRequest {
                source_address: Address::from(fixed::<20>(c, "source_address")?),
                source_pubkey: fixed::<48>(c, "source_pubkey")?,
                target_pubkey: fixed::<48>(c, "target_pubkey")?,
            })
        })
        .collect::<Result<Vec<_>, PayloadError>>()?;
    Ok(ExecutionRequests {
        deposits: bounded(deposits, "deposit requests")?,
        withdrawals: bounded(withdrawals, "withdrawal requests")?,
        consolidations: bounded(consolidations, "consolidation requests")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_requests_hash_to_the_sha256_of_nothing() {
        // EIP-7685: with no requests, requests_hash = sha256(b"").
        assert_eq!(
            empty_requests_hash().to_string(),
            "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn requests_round_trip_through_the_engine_form_and_beacon_json() {
        let beacon = serde_json::json!({
            "deposits": [{
                "pubkey": format!("0x{}", "11".repeat(48)),
                "withdrawal_credentials": format!("0x{}", "22".repeat(32)),
                "amount": "32000000000",
                "signature": format!("0x{}", "33".repeat(96)),
                "index": "7"
            }],
            "withdrawals": [],
            "consolidations": [{
                "source_address": format!("0x{}", "44".repeat(20)),
                "source_pubkey": format!("0x{}", "55".repeat(48)),
                "target_pubkey": format!("0x{}", "66".repeat(48))
            }]
        });
        let r = requests_from_beacon_json(&beacon).unwrap();
        let engine = r.to_engine();
        assert_eq!(engine.len(), 2, "the empty withdrawal list is left out");
        assert_eq!((engine[0][0], engine[0].len()), (0, 1 + 192));
        assert_eq!((engine[1][0], engine[1].len()), (2, 1 + 116));
        assert_eq!(ExecutionRequests::from_engine(&engine).unwrap(), r);
        assert_ne!(r.requests_hash(), empty_requests_hash());
        // Out of order, repeated, empty or unknown: refused.
        let swapped = vec![engine[1].clone(), engine[0].clone()];
        assert!(ExecutionRequests::from_engine(&swapped).is_err());
        assert!(ExecutionRequests::from_engine(&[vec![0]]).is_err());
        assert!(ExecutionRequests::from_engine(&[vec![9, 1]]).is_err());
        let mut bad = beacon.clone();
        bad["deposits"][0]["amount"] = serde_json::json!(5);
        assert!(requests_from_beacon_json(&bad).is_err());
    }
}
