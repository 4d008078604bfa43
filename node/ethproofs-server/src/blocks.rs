//! Block facts for `/api/v0/blocks/{block}` and the `block` of each proof:
//! fetched once from the configured RPC (`eth_getBlockByNumber`) when a block
//! is first submitted, then kept. Without an RPC the server knows no blocks.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use slotproof_primitives::now_ms;
use slotproof_submit::api::iso8601;

use crate::error::BlockError;
use crate::reply::{internal, query_error, text};
use crate::state::AppState;
use crate::store::{BLOCK_PREFIX, block_key};

/// Fetches and keeps the facts of block `number`, unless kept already or no RPC is configured.
pub async fn ensure_block(s: &AppState, number: u64) -> Result<(), BlockError> {
    let Some(url) = &s.rpc_url else { return Ok(()) };
    let key = block_key(number);
    if s.store.get::<Value>(&key)?.is_some() {
        return Ok(());
    }
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [format!("0x{number:x}"), false]});
    let rpc = |source| BlockError::Rpc { number, source };
    let resp: Value = s.http.post(url).json(&req).send().await.map_err(rpc)?.json().await.map_err(rpc)?;
    let b = &resp["result"];
    let quantity = |k: &str| b[k].as_str().and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok());
    let (Some(hash), Some(ts), Some(gas)) = (b["hash"].as_str(), quantity("timestamp"), quantity("gasUsed")) else {
        return Err(BlockError::Missing(number));
    };
    let facts = json!({"block_number": number, "hash": hash, "timestamp": iso8601(ts * 1000), "gas_used": gas,
        "transaction_count": b["transactions"].as_array().map_or(0, Vec::len), "created_at": iso8601(now_ms())});
    s.store.put(&key, &facts)?;
    Ok(())
}

/// The number of the kept block whose hash is `hash`, if any.
pub fn number_of_hash(s: &AppState, hash: &str) -> Result<Option<u64>, BlockError> {
    let blocks = s.store.scan::<Value>(BLOCK_PREFIX)?;
    Ok(blocks.into_iter().find(|v| v["hash"] == hash).and_then(|v| v["block_number"].as_u64()))
}

pub async fn get_block(State(s): State<Arc<AppState>>, UrlPath(block): UrlPath<String>) -> Response {
    let Ok(n) = block.parse::<u64>() else {
        return query_error("block", "block must be a non-negative integer");
    };
    match s.store.get::<Value>(&block_key(n)) {
        Ok(Some(b)) => axum::Json(b).into_response(),
        Ok(None) => text(StatusCode::NOT_FOUND, "Block not found"),
        Err(e) => internal(&e),
    }
}
