//! specs/proof-engine.md §1: `NewPayloadRequest`s of real mainnet blocks
//! (testdata/), encoded, decoded, turned back into blocks and re-rooted; the
//! roots must equal the vectors in testdata/new-payload-requests.json, which an
//! independent implementation (testdata/npr_crosscheck.py) reproduces.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;
use slotproof_payload::{Fork, NewPayloadRequest, PayloadError, from_block_json, to_block_json};

fn testdata() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo")).join("../../testdata")
}

fn block(number: u64) -> Value {
    let bytes = std::fs::read(testdata().join(format!("blocks/{number}.json"))).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn vectors() -> Vec<Value> {
    let bytes = std::fs::read(testdata().join("new-payload-requests.json")).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

#[test]
fn real_blocks_give_the_recorded_roots_and_round_trip() {
    let vectors = vectors();
    assert!(vectors.len() >= 5, "a vector for each fork the fixtures have");
    for v in vectors {
        let number = v["block_number"].as_u64().unwrap();
        let request = from_block_json(&block(number)).unwrap_or_else(|e| panic!("block {number}: {e}"));
        assert_eq!(request.fork.name(), v["fork"].as_str().unwrap(), "block {number}");
        let root = request.root().unwrap();
        assert_eq!(root.to_string(), v["new_payload_request_root"].as_str().unwrap(), "block {number}");
        let ssz = request.to_ssz().unwrap();
        assert_eq!(ssz.len() as u64, v["ssz_bytes"].as_u64().unwrap(), "block {number}");
        let decoded = NewPayloadRequest::from_ssz(&ssz).unwrap();
        assert_eq!(decoded, request, "block {number}: SSZ round trip");
        let rebuilt = to_block_json(&decoded).unwrap_or_else(|e| panic!("block {number}: {e}"));
        assert_eq!(rebuilt["hash"], block(number)["hash"], "block {number}: rebuilt header hashes to the block hash");
        assert_eq!(from_block_json(&rebuilt).unwrap().root().unwrap(), root, "block {number}: re-rooted");
    }
}

#[test]
fn a_deneb_block_carries_its_blob_hashes_and_beacon_root() {
    let request = from_block_json(&block(19_900_000)).unwrap();
    assert_eq!(request.fork, Fork::Deneb);
    let raw = block(19_900_000);
    let blob_txs: Vec<&Value> = raw["transactions"].as_array().unwrap().iter().filter(|t| t["type"] == "0x3").collect();
    let expected: usize = blob_txs.iter().map(|t| t["blobVersionedHashes"].as_array().unwrap().len()).sum();
    assert_eq!(request.versioned_hashes.len(), expected);
    assert_eq!(request.parent_beacon_block_root.to_string(), raw["parentBeaconBlockRoot"].as_str().unwrap());
}

#[test]
fn a_changed_request_gets_another_root_or_is_refused() {
    let request = from_block_json(&block(21_230_866)).unwrap();
    let root = request.root().unwrap();
    let mut other = request.clone();
    other.parent_beacon_block_root.0[0] ^= 1;
    assert_ne!(other.root().unwrap(), root, "the beacon root is part of the root");
    // The header no longer hashes to block_hash: an execution client refuses it, so do we.
    let mut changed = request.clone();
    changed.payload.gas_used += 1;
    assert!(matches!(to_block_json(&changed), Err(PayloadError::BlockHash(_))));
    let mut dropped = request.clone();
    dropped.versioned_hashes.pop();
    if !request.versioned_hashes.is_empty() {
        assert!(matches!(to_block_json(&dropped), Err(PayloadError::BlockHash(_))));
    }
    // Truncated, extended or garbage bytes are no fork's request.
    let ssz = request.to_ssz().unwrap();
    assert!(NewPayloadRequest::from_ssz(&ssz[..ssz.len() - 1]).is_err());
    let mut longer = ssz.clone();
    longer.push(0);
    assert!(NewPayloadRequest::from_ssz(&longer).is_err() || NewPayloadRequest::from_ssz(&longer).unwrap() != request);
    assert!(NewPayloadRequest::from_ssz(b"").is_err());
    assert!(NewPayloadRequest::from_ssz(&[0xff; 64]).is_err());
}

#[test]
fn a_block_whose_transactions_do_not_match_its_header_is_refused() {
    let mut raw = block(18_000_000);
    raw["transactions"].as_array_mut().unwrap().pop();
    let e = from_block_json(&raw).unwrap_err();
    assert!(matches!(e, PayloadError::RootMismatch { what: "transactions root", .. }), "{e}");
    let mut raw = block(18_000_000);
    raw["withdrawals"][0]["amount"] = Value::String("0x1".into());
    let e = from_block_json(&raw).unwrap_err();
    assert!(matches!(e, PayloadError::RootMismatch { what: "withdrawals root", .. }), "{e}");
}

#[test]
fn an_electra_block_without_its_requests_is_named_not_guessed() {
    // A Cancun header with a requests hash appended stands in for a Prague
    // block (no Prague block is in the fixtures): empty requests are proven
    // by the hash itself; any other hash needs a beacon node.
    let mut raw = block(21_230_867);
    raw["requestsHash"] = Value::String(format!("0x{}", "ab".repeat(32)));
    let e = from_block_json(&raw).unwrap_err();
    assert!(matches!(e, PayloadError::RequestsUnknown { number: 21_230_867 }), "{e}");
    assert!(e.to_string().contains("--beacon-url"), "{e}");
    raw["requestsHash"] = Value::String("0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into());
    let request = from_block_json(&raw).unwrap();
    assert_eq!(request.fork, Fork::Electra);
    let ssz = request.to_ssz().unwrap();
    assert_eq!(NewPayloadRequest::from_ssz(&ssz).unwrap(), request);
}
