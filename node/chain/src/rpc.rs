//! The JSON-RPC calls the follower makes, through an alloy provider (HTTP or
//! WebSocket by URL). Blocks come back as raw JSON, checked before use: the
//! header must re-hash to the hash the RPC gave (a lying or corrupt RPC is an
//! error, not a block).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use alloy::network::Ethereum;
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::pubsub::Subscription;
use alloy::transports::ws::WsConnect;
use serde_json::Value;
use slotproof_primitives::redact::{redact_in, redact_url};
use slotproof_primitives::{Hash32, Header};
use tracing::info;

use crate::error::ChainError;

/// Per-call bound: a stuck RPC must not stall the follower.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A block as the chain gave it, checked.
#[derive(Clone, Debug)]
pub struct FetchedBlock {
    pub number: u64,
    pub hash: Hash32,
    pub parent_hash: Hash32,
    pub timestamp: u64,
    /// The `eth_getBlockByNumber(n, true)` object.
    pub json: Arc<Value>,
}

#[derive(Clone)]
pub struct Rpc {
    url: String,
    provider: RootProvider<Ethereum>,
    /// 0 unknown, 1 served, 2 not served: detected once, logged once.
    receipts: Arc<AtomicU8>,
    /// The same for execution witnesses.
    witness: Arc<AtomicU8>,
}

/// A witness is optional: the follower never waits longer than this for one.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(3);

fn method_missing(e: &ChainError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("-32601")
        || text.contains("not found")
        || text.contains("not supported")
        || text.contains("does not exist")
}

fn hex_u64(v: &Value, field: &str, what: &str) -> Result<u64, ChainError> {
    v.get(field).and_then(Value::as_str).and_then(|s| u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()).ok_or_else(
        || ChainError::BadData { what: what.into(), message: format!("{field} missing or not a hex quantity") },
    )
}

/// The one place a hash from the RPC becomes a `Hash32`: after this, hashes are typed.
fn hash_field(v: &Value, field: &'static str, what: &str) -> Result<Hash32, ChainError> {
    let text = v.get(field).and_then(Value::as_str).ok_or_else(|| ChainError::BadData {
        what: what.into(),
        message: format!("{field} missing or not a 32-byte hash"),
    })?;
    let digits = text.strip_prefix("0x").ok_or_else(|| ChainError::BadData {
        what: what.into(),
        message: format!("{field} {text:?} is not 0x-prefixed"),
    })?;
    digits.parse().map_err(|source| ChainError::BadHash { what: what.into(), field, source })
}

/// A block object from the RPC, checked: full transactions, typed hashes, and a
/// header that hashes to its hash. `what` names the request in errors.
fn checked(v: Value, what: &str) -> Result<FetchedBlock, ChainError> {
    let bad = |message: String| ChainError::BadData { what: what.into(), message };
    let obj = v.as_object().ok_or_else(|| bad("not a block object".into()))?;
    if !obj.get("transactions").and_then(Value::as_array).is_some_and(|t| t.iter().all(Value::is_object)) {
        return Err(bad("transactions missing or not full objects".into()));
    }
    let number = hex_u64(&v, "number", what)?;
    let timestamp = hex_u64(&v, "timestamp", what)?;
    let hash = hash_field(&v, "hash", what)?;
    let parent_hash = hash_field(&v, "parentHash", what)?;
    // The header must hash to what the RPC says: the block is bound to its hash.
    Header::from_block_json(obj).map_err(|source| ChainError::Header { what: what.into(), source })?;
    Ok(FetchedBlock { number, hash, parent_hash, timestamp, json: Arc::new(v) })
}

impl FetchedBlock {
    /// A block object from elsewhere (a proof-engine request), checked as one from the RPC is.
    pub fn from_json(v: Value, what: &str) -> Result<FetchedBlock, ChainError> {
        checked(v, what)
    }
}

/// An RPC failure, with the URL's secrets (keys, passwords) hidden from the message.
fn rpc_error(url: &str, message: impl AsRef<str>) -> ChainError {
    ChainError::Rpc { url: redact_url(url), message: redact_in(message.as_ref(), url) }
}

impl Rpc {
    /// Connects to `url` (http(s):// or ws(s)://).
    pub async fn connect(url: &str) -> Result<Rpc, ChainError> {
        let connecting = async {
            if url.starts_with("ws://") || url.starts_with("wss://") {
                // One reconnect try inside alloy, then the connection fails:
                // the follower owns reconnecting (its own backoff, "RPC down"
                // at once), and requests do not hang while alloy retries.
                ProviderBuilder::default().connect_ws(WsConnect::new(url).with_max_retries(1)).await
            } else {
                RootProvider::<Ethereum>::connect(url).await
            }
        };
        let provider = tokio::time::timeout(CALL_TIMEOUT, connecting)
            .await
            .map_err(|_| rpc_error(url, "connect timed out"))?
            .map_err(|e| rpc_error(url, e.to_string()))?;
        Ok(Rpc { url: url.into(), provider, receipts: Arc::new(AtomicU8::new(0)), witness: Arc::new(AtomicU8::new(0)) })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_ws(&self) -> bool {
        self.url.starts_with("ws://") || self.url.starts_with("wss://")
    }

    async fn call(&self, method: &'static str, params: Value) -> Result<Value, ChainError> {
        tokio::time::timeout(CALL_TIMEOUT, self.provider.raw_request::<_, Value>(method.into(), params))
            .await
            .map_err(|_| rpc_error(&self.url, format!("{method} timed out")))?
            .map_err(|e| rpc_error(&self.url, format!("{method}: {e}")))
    }

    pub async fn client_version(&self) -> Result<String, ChainError> {
        Ok(self.call("web3_clientVersion", Value::Array(vec![])).await?.as_str().unwrap_or_default().to_string())
    }

    /// Any method, for what the follower does not model (the dev chain's clock).
    pub async fn raw(&self, method: &'static str, params: Value) -> Result<Value, ChainError> {
        self.call(method, params).await
    }

    pub async fn latest(&self) -> Result<Option<FetchedBlock>, ChainError> {
        let v = self.call("eth_getBlockByNumber", serde_json::json!(["latest", true])).await?;
        if v.is_null() {
            // A chain with no block yet (the dev chain before its first slot).
            return Ok(None);
        }
        checked(v, "the latest block").map(Some)
    }

    pub async fn block_by_hash(&self, hash: Hash32) -> Result<Option<FetchedBlock>, ChainError> {
        let v = self.call("eth_getBlockByHash", serde_json::json!([hash, true])).await?;
        if v.is_null() {
            return Ok(None);
        }
        let block = checked(v, &format!("block {hash}"))?;
        if block.hash != hash {
            return Err(ChainError::BadData {
                what: format!("block {hash}"),
                message: format!("answered with block {}", block.hash),
            });
        }
        Ok(Some(block))
    }

    /// Receipts when the RPC serves them; `None` (logged once) when it does not.
    pub async fn receipts(&self, hash: Hash32) -> Option<Value> {
        if self.receipts.load(Ordering::Relaxed) == 2 {
            return None;
        }
        match self.call("eth_getBlockReceipts", serde_json::json!([hash])).await {
            Ok(v) if v.is_array() => {
                self.receipts.store(1, Ordering::Relaxed);
                Some(v)
            }
            Ok(_) => None,
            Err(e) => {
                // "Method not found" means never; anything else (a block without shipped receipts) is per block.
                let never =
                    e.to_string().contains("-32601") || e.to_string().to_ascii_lowercase().contains("not found");
                if never && self.receipts.swap(2, Ordering::Relaxed) != 2 {
                    info!(target: "slotproof::chain", rpc = %redact_url(&self.url), "the RPC does not serve eth_getBlockReceipts; inputs go without receipts");
                }
                None
            }
        }
    }

    /// The block's execution witness (`debug_executionWitnessByBlockHash`, then
    /// `debug_executionWitness`), when the RPC offers one; `None` (logged once
    /// when the RPC has neither method) otherwise. Bounded by `WITNESS_TIMEOUT`.
    pub async fn witness(&self, number: u64, hash: Hash32) -> Option<Value> {
        if self.witness.load(Ordering::Relaxed) == 2 {
            return None;
        }
        let attempt = async {
            match self.call("debug_executionWitnessByBlockHash", serde_json::json!([hash])).await {
                Ok(v) => Ok(v),
                Err(e) if method_missing(&e) => {
                    self.call("debug_executionWitness", serde_json::json!([format!("0x{number:x}")])).await
                }
                Err(e) => Err(e),
            }
        };
        match tokio::time::timeout(WITNESS_TIMEOUT, attempt).await {
            Ok(Ok(v)) if v.is_object() => {
                self.witness.store(1, Ordering::Relaxed);
                Some(v)
            }
            Ok(Err(e)) if method_missing(&e) => {
                if self.witness.swap(2, Ordering::Relaxed) != 2 {
                    info!(target: "slotproof::chain", rpc = %redact_url(&self.url), "the RPC serves no execution witnesses; inputs go without them");
                }
                None
            }
            _ => None,
        }
    }

    /// A `newHeads` subscription (WebSocket RPCs only).
    pub async fn subscribe_heads(&self) -> Result<Subscription<Value>, ChainError> {
        tokio::time::timeout(CALL_TIMEOUT, async { self.provider.subscribe::<_, Value>(("newHeads",)).await })
            .await
            .map_err(|_| rpc_error(&self.url, "eth_subscribe timed out"))?
            .map_err(|e| rpc_error(&self.url, format!("eth_subscribe newHeads: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use slotproof_primitives::HeaderError;

    use super::*;

    fn shipped(number: u64) -> Value {
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("../../testdata/blocks");
        serde_json::from_slice(&std::fs::read(dir.join(format!("{number}.json"))).unwrap()).unwrap()
    }

    #[test]
    fn a_real_block_comes_back_with_typed_hashes() {
        let v = shipped(21_230_866);
        let b = checked(v.clone(), "the latest block").unwrap();
        assert_eq!(b.number, 21_230_866);
        assert_eq!(b.hash.to_string(), v["hash"].as_str().unwrap());
        assert_eq!(b.parent_hash.to_string(), v["parentHash"].as_str().unwrap());
    }

    /// specs/chain.md §1: a block failing a check is `bad RPC data` naming the
    /// problem, never a block and never a panic.
    #[test]
    fn a_malformed_hash_or_a_lying_header_is_a_clear_error() {
        let mut v = shipped(21_230_866);
        v["parentHash"] = "0x12".into();
        let e = checked(v, "block 7").unwrap_err();
        assert!(matches!(e, ChainError::BadHash { field: "parentHash", .. }), "{e}");
        assert!(e.to_string().contains("bad RPC data for block 7: parentHash is not a 32-byte hash"), "{e}");

        let mut v = shipped(21_230_866);
        v["hash"] = format!("0x{}", "zz".repeat(32)).into();
        assert!(matches!(checked(v, "block 7"), Err(ChainError::BadHash { field: "hash", .. })));

        let mut v = shipped(21_230_866);
        v["hash"] = "3dc4ef568ae2635db1419c5fec55c4a9322c05302ae527cd40bff380c1d465dd".into();
        assert!(matches!(checked(v, "block 7"), Err(ChainError::BadData { .. })), "0x is required");

        let mut v = shipped(21_230_866);
        v["gasUsed"] = "0x1".into();
        let e = checked(v, "block 7").unwrap_err();
        assert!(matches!(&e, ChainError::Header { source: HeaderError::HashMismatch { .. }, .. }), "{e}");
        assert!(e.to_string().contains("not the Keccak-256 of the header"), "{e}");
        assert!(std::error::Error::source(&e).is_some(), "the header error is kept as the cause");
    }

    /// An RPC URL's key never reaches an error message (and so never a log line or `/status`).
    #[tokio::test]
    async fn errors_do_not_carry_the_rpc_urls_secrets() {
        let key = "0123456789abcdef0123456789abcdef";
        // Nothing listens on port 9: every call fails, and says why.
        for url in [format!("http://127.0.0.1:9/v3/{key}"), format!("http://admin:{key}@127.0.0.1:9/")] {
            let err = match Rpc::connect(&url).await {
                Ok(rpc) => rpc.client_version().await.expect_err("nothing listens there"),
                Err(e) => e,
            };
            let text = slotproof_primitives::ErrorChain(&err).to_string();
            assert!(!text.contains(key), "{text}");
            assert!(text.contains("127.0.0.1:9"), "the endpoint is still named: {text}");
        }
    }
}
