//! A beacon node's REST API, asked for one thing: the execution requests of
//! an Electra (or later) block, which the execution block does not carry and
//! its `NewPayloadRequest` needs (specs/proof-engine.md §1). The beacon block
//! is found by slot (from the block's timestamp, the beacon genesis time and
//! the slot length the node reports) and must carry the same execution
//! payload; its requests must hash to the header's `requestsHash`.

use std::time::Duration;

use serde_json::Value;
use slotproof_payload::{EXECUTION_REQUESTS_FIELD, ExecutionRequests, requests_from_beacon_json};
use slotproof_primitives::redact::{redact_in, redact_url};
use tokio::sync::OnceCell;

use crate::error::ChainError;
use crate::rpc::FetchedBlock;

/// Per-call bound.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest beacon response read (a full block with its blobs' commitments fits easily).
const MAX_RESPONSE_BYTES: usize = 32 << 20;

pub struct Beacon {
    url: String,
    client: reqwest::Client,
    /// (genesis time, seconds per slot), asked once.
    clock: OnceCell<(u64, u64)>,
}

fn decimal(v: &Value, what: &str) -> Result<u64, String> {
    v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| format!("{what} is not a decimal string"))
}

impl Beacon {
    pub fn new(url: &str) -> Result<Beacon, ChainError> {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| ChainError::Beacon { url: redact_url(url), message: e.to_string() })?;
        Ok(Beacon { url: url.trim_end_matches('/').to_string(), client, clock: OnceCell::new() })
    }

    fn error(&self, message: impl AsRef<str>) -> ChainError {
        ChainError::Beacon { url: redact_url(&self.url), message: redact_in(message.as_ref(), &self.url) }
    }

    async fn get(&self, path: &str) -> Result<Value, ChainError> {
        let mut response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .map_err(|e| self.error(format!("{path}: {e}")))?;
        if !response.status().is_success() {
            return Err(self.error(format!("{path}: HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.error(format!("{path}: {e}")))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(self.error(format!("{path}: response over {MAX_RESPONSE_BYTES} bytes")));
            }
        }
        serde_json::from_slice(&body).map_err(|e| self.error(format!("{path}: not JSON: {e}")))
    }

    async fn clock(&self) -> Result<(u64, u64), ChainError> {
        self.clock
            .get_or_try_init(|| async {
                let genesis = self.get("/eth/v1/beacon/genesis").await?;
                let genesis = decimal(&genesis["data"]["genesis_time"], "genesis_time").map_err(|e| self.error(e))?;
                let spec = self.get("/eth/v1/config/spec").await?;
                let slot = decimal(&spec["data"]["SECONDS_PER_SLOT"], "SECONDS_PER_SLOT").map_err(|e| self.error(e))?;
                if slot == 0 {
                    return Err(self.error("SECONDS_PER_SLOT is 0"));
                }
                Ok((genesis, slot))
            })
            .await
            .copied()
    }

    /// The block's execution requests, from the beacon block of its slot.
    pub async fn execution_requests(&self, block: &FetchedBlock) -> Result<ExecutionRequests, ChainError> {
        let (genesis, per_slot) = self.clock().await?;
        let slot = block
            .timestamp
            .checked_sub(genesis)
            .map(|s| s / per_slot)
            .ok_or_else(|| self.error(format!("block {} is older than the beacon genesis", block.number)))?;
        let v = self.get(&format!("/eth/v2/beacon/blocks/{slot}")).await?;
        let body = &v["data"]["message"]["body"];
        let carried = body["execution_payload"]["block_hash"].as_str().unwrap_or_default();
        if !carried.eq_ignore_ascii_case(&block.hash.to_string()) {
            return Err(self.error(format!(
                "the beacon block at slot {slot} carries payload {carried:?}, not block {} ({})",
                block.number, block.hash
            )));
        }
        requests_from_beacon_json(&body["execution_requests"]).map_err(|e| self.error(format!("slot {slot}: {e}")))
    }

    /// `block` with its requests added under `executionRequests`, when its
    /// header commits to requests (Electra on) that are not empty.
    pub async fn complete(&self, block: FetchedBlock) -> Result<FetchedBlock, ChainError> {
        let needs = block
            .json
            .get("requestsHash")
            .and_then(Value::as_str)
            .is_some_and(|h| !h.eq_ignore_ascii_case(&ExecutionRequests::default().requests_hash().to_string()));
        if !needs {
            return Ok(block);
        }
        let requests = self.execution_requests(&block).await?;
        let mut json = (*block.json).clone();
        let engine: Vec<Value> =
            requests.to_engine().iter().map(|r| Value::String(slotproof_primitives::hex::encode_prefixed(r))).collect();
        if let Some(obj) = json.as_object_mut() {
            obj.insert(EXECUTION_REQUESTS_FIELD.into(), Value::Array(engine));
        }
        Ok(FetchedBlock { json: std::sync::Arc::new(json), ..block })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::Json;
    use axum::routing::get;
    use serde_json::json;
    use slotproof_primitives::{Header, HeaderError};

    use super::*;

    /// A Cancun mainnet block turned into a synthetic Prague one: a requests
    /// hash committing to one deposit, and the block hash recomputed over the
    /// new header (no Prague block is in the fixtures; this one is labelled so).
    fn synthetic_electra_block(requests: &ExecutionRequests) -> Value {
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"));
        let bytes = std::fs::read(dir.join("../../testdata/blocks/21230867.json")).expect("fixture");
        let mut block: Value = serde_json::from_slice(&bytes).expect("JSON");
        block["requestsHash"] = json!(requests.requests_hash().to_string());
        let computed = match Header::from_block_json(block.as_object().expect("object")) {
            Err(HeaderError::HashMismatch { computed, .. }) => computed,
            other => panic!("expected the old hash to mismatch: {other:?}"),
        };
        block["hash"] = json!(computed);
        block
    }

    fn deposit() -> Value {
        json!({"deposits": [{
            "pubkey": format!("0x{}", "11".repeat(48)),
            "withdrawal_credentials": format!("0x{}", "22".repeat(32)),
            "amount": "32000000000",
            "signature": format!("0x{}", "33".repeat(96)),
            "index": "7"
        }], "withdrawals": [], "consolidations": []})
    }

    /// A beacon node on loopback serving genesis, spec and one block at slot 5.
    async fn beacon_node(block_hash: String) -> String {
        let block = Arc::new(json!({"data": {"message": {"body": {
            "execution_payload": {"block_hash": block_hash},
            "execution_requests": deposit(),
        }}}}));
        let app = axum::Router::new()
            .route("/eth/v1/beacon/genesis", get(|| async { Json(json!({"data": {"genesis_time": "1000"}})) }))
            .route("/eth/v1/config/spec", get(|| async { Json(json!({"data": {"SECONDS_PER_SLOT": "12"}})) }))
            .route("/eth/v2/beacon/blocks/{slot}", get(move || async move { Json((*block).clone()) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// specs/proof-engine.md §1: an Electra block's requests come from the
    /// beacon block of its slot, and with them the block gets its root.
    #[tokio::test]
    async fn an_electra_block_gets_its_requests_from_the_beacon_node() {
        let requests = requests_from_beacon_json(&deposit()).expect("requests");
        let mut block = synthetic_electra_block(&requests);
        let hash = block["hash"].as_str().expect("hash").to_string();
        let fetched = FetchedBlock::from_json(block.clone(), "test").expect("a consistent block");
        // Without the requests the root is refused, naming --beacon-url.
        let e = slotproof_payload::from_block_json(&block).expect_err("requests unknown");
        assert!(e.to_string().contains("--beacon-url"), "{e}");
        // The slot: (timestamp - 1000) / 12; the beacon block there carries this payload.
        let timestamp = fetched.timestamp;
        assert!(timestamp > 1000);
        let beacon = Beacon::new(&beacon_node(hash.clone()).await).expect("client");
        let completed = beacon.complete(fetched).await.expect("requests from the beacon node");
        let request = slotproof_payload::from_block_json(&completed.json).expect("a root now");
        assert_eq!(request.fork, slotproof_payload::Fork::Electra);
        assert_eq!(request.execution_requests, requests);
        request.root().expect("rooted");
        // A beacon node whose block carries another payload is refused.
        block["hash"] = json!(hash);
        let other = Beacon::new(&beacon_node(format!("0x{}", "00".repeat(32))).await).expect("client");
        let fetched = FetchedBlock::from_json(block, "test").expect("block");
        let e = other.complete(fetched).await.expect_err("another payload");
        assert!(e.to_string().contains("carries payload"), "{e}");
    }
}
