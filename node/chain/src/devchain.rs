//! The embedded dev chain: replays the real mainnet blocks shipped in
//! `testdata/` at slot cadence and serves them over the JSON-RPC methods a
//! follower uses (HTTP and WebSocket `eth_subscribe newHeads`). Blocks it does
//! not ship are absent, never invented: the follower sees gaps.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use slotproof_primitives::{Hash32, now_ms};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tracing::{info, warn};

use crate::error::ChainError;

/// What `web3_clientVersion` answers; followers use it to recognise a dev chain.
pub const CLIENT_VERSION: &str = "slotproof-devchain/1";

/// The shipped blocks, in number order (testdata/README.md).
const BLOCKS: [&str; 13] = [
    include_str!("../../../testdata/blocks/16000000.json"),
    include_str!("../../../testdata/blocks/16000001.json"),
    include_str!("../../../testdata/blocks/16000003.json"),
    include_str!("../../../testdata/blocks/16000004.json"),
    include_str!("../../../testdata/blocks/16000005.json"),
    include_str!("../../../testdata/blocks/17000000.json"),
    include_str!("../../../testdata/blocks/17000001.json"),
    include_str!("../../../testdata/blocks/18000000.json"),
    include_str!("../../../testdata/blocks/18884863.json"),
    include_str!("../../../testdata/blocks/18884864.json"),
    include_str!("../../../testdata/blocks/19900000.json"),
    include_str!("../../../testdata/blocks/21230866.json"),
    include_str!("../../../testdata/blocks/21230867.json"),
];

const RECEIPTS: [(u64, &str); 2] = [
    (17_000_000, include_str!("../../../testdata/receipts/17000000.json")),
    (18_000_000, include_str!("../../../testdata/receipts/18000000.json")),
];

struct Replay {
    /// Blocks announced so far (a prefix of `blocks`).
    announced: usize,
    /// Wall-clock ms when block 0 was (or would have been) announced.
    genesis_ms: u64,
    /// Announce no more than this many blocks (testnets with a fixed length).
    limit: Option<usize>,
}

pub struct DevChain {
    blocks: Vec<Arc<Value>>,
    by_hash: HashMap<Hash32, usize>,
    receipts: HashMap<u64, Arc<Value>>,
    slot_time: Duration,
    replay: Mutex<Replay>,
    position_file: Option<PathBuf>,
    heads: broadcast::Sender<Arc<Value>>,
}

fn number_of(block: &Value) -> u64 {
    block["number"].as_str().and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()).unwrap_or(0)
}

/// A header as `newHeads` sends it: the block without its bodies.
fn header_of(block: &Value) -> Value {
    let mut h = block.clone();
    if let Some(obj) = h.as_object_mut() {
        for body in ["transactions", "withdrawals", "uncles"] {
            obj.remove(body);
        }
    }
    h
}

/// `full = false`: transactions as their hashes, as nodes answer.
fn with_tx_hashes(block: &Value) -> Value {
    let mut b = block.clone();
    if let Some(txs) = b.get_mut("transactions").and_then(Value::as_array_mut) {
        for tx in txs.iter_mut() {
            *tx = tx.get("hash").cloned().unwrap_or(Value::Null);
        }
    }
    b
}

impl DevChain {
    /// The shipped blocks; `position_file` keeps the replay position across restarts.
    pub fn embedded(slot_time: Duration, position_file: Option<PathBuf>) -> Result<Arc<DevChain>, ChainError> {
        let mut blocks = Vec::with_capacity(BLOCKS.len());
        for text in BLOCKS {
            let v: Value =
                serde_json::from_str(text).map_err(|source| ChainError::Shipped { what: "block", source })?;
            blocks.push(Arc::new(v));
        }
        blocks.sort_by_key(|b| number_of(b));
        let by_hash =
            blocks.iter().enumerate().filter_map(|(i, b)| Some((b["hash"].as_str()?.parse().ok()?, i))).collect();
        let mut receipts = HashMap::new();
        for (n, text) in RECEIPTS {
            let v: Value =
                serde_json::from_str(text).map_err(|source| ChainError::Shipped { what: "receipts", source })?;
            receipts.insert(n, Arc::new(v));
        }
        let announced = match &position_file {
            Some(p) => std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<usize>().ok()).unwrap_or(0),
            None => 0,
        }
        .min(blocks.len());
        let slot_ms = slot_time.as_millis() as u64;
        // Resuming: the clock continues as if the replay had been running.
        let genesis_ms = now_ms().saturating_sub(slot_ms * announced.saturating_sub(1) as u64);
        let (heads, _) = broadcast::channel(64);
        Ok(Arc::new(DevChain {
            blocks,
            by_hash,
            receipts,
            slot_time,
            replay: Mutex::new(Replay { announced, genesis_ms, limit: None }),
            position_file,
            heads,
        }))
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Stops the replay after `n` blocks (it keeps serving what it announced).
    pub fn set_limit(&self, n: usize) {
        self.replay.lock().unwrap_or_else(|e| e.into_inner()).limit = Some(n);
    }

    fn announced(&self) -> usize {
        self.replay.lock().unwrap_or_else(|e| e.into_inner()).announced
    }

    /// Announces the next block; false at the end of the list.
    fn announce_next(&self) -> bool {
        let block = {
            let mut r = self.replay.lock().unwrap_or_else(|e| e.into_inner());
            if r.announced >= self.blocks.len().min(r.limit.unwrap_or(usize::MAX)) {
                return false;
            }
            if r.announced == 0 {
                r.genesis_ms = now_ms();
            }
            r.announced += 1;
            if let Some(p) = &self.position_file {
                let tmp = p.with_extension("tmp");
                if let Err(e) = std::fs::write(&tmp, r.announced.to_string()).and_then(|_| std::fs::rename(&tmp, p)) {
                    warn!(target: "slotproof::devchain", path = %p.display(), error = %e, "could not save the replay position");
                }
            }
            self.blocks[r.announced - 1].clone()
        };
        info!(target: "slotproof::devchain", number = number_of(&block), hash = block["hash"].as_str().unwrap_or(""), "dev chain head");
        let _ = self.heads.send(Arc::new(header_of(&block)));
        true
    }

    /// Announces a block every slot until the list ends or `shutdown` flips.
    pub async fn produce(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if self.announced() == 0 {
            self.announce_next();
        }
        loop {
            let next_at = {
                let r = self.replay.lock().unwrap_or_else(|e| e.into_inner());
                r.genesis_ms + r.announced as u64 * self.slot_time.as_millis() as u64
            };
            let wait = Duration::from_millis(next_at.saturating_sub(now_ms()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            if !self.announce_next() {
                info!(target: "slotproof::devchain", blocks = self.announced(), "dev chain: end of the replay, no more heads");
                return;
            }
        }
    }

    fn latest(&self) -> Option<usize> {
        self.announced().checked_sub(1)
    }

    /// The index of an announced block named by a tag, a number or (for receipts) a hash.
    fn resolve(&self, id: &Value) -> Result<Option<usize>, RpcError> {
        let s = id.as_str().ok_or_else(|| RpcError::invalid("block id must be a string"))?;
        let announced = self.announced();
        let index = match s {
            "latest" | "safe" | "finalized" | "pending" => self.latest(),
            "earliest" => (announced > 0).then_some(0),
            _ if s.len() == 66 => self.by_hash.get(&parse_hash(s)?).copied(),
            _ => {
                let n = u64::from_str_radix(
                    s.strip_prefix("0x").ok_or_else(|| RpcError::invalid("block number must be 0x-hex"))?,
                    16,
                )
                .map_err(|_| RpcError::invalid("block number must be 0x-hex"))?;
                self.blocks.iter().position(|b| number_of(b) == n)
            }
        };
        Ok(index.filter(|i| *i < announced))
    }

    fn handle(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        let param = |i: usize| params.get(i).cloned().unwrap_or(Value::Null);
        let full = |i: usize| params.get(i).and_then(Value::as_bool).unwrap_or(false);
        match method {
            "web3_clientVersion" => Ok(json!(CLIENT_VERSION)),
            "eth_chainId" => Ok(json!("0x1")),
            "net_version" => Ok(json!("1")),
            "eth_syncing" => Ok(json!(false)),
            "eth_blockNumber" => match self.latest() {
                Some(i) => Ok(self.blocks[i]["number"].clone()),
                None => Err(RpcError { code: -32000, message: "no block announced yet".into() }),
            },
            "eth_getBlockByNumber" | "eth_getBlockByHash" => {
                if method == "eth_getBlockByHash" && param(0).as_str().is_none_or(|s| s.len() != 66) {
                    return Err(RpcError::invalid("expected a 32-byte block hash"));
                }
                Ok(match self.resolve(&param(0))? {
                    Some(i) if full(1) => (*self.blocks[i]).clone(),
                    Some(i) => with_tx_hashes(&self.blocks[i]),
                    None => Value::Null,
                })
            }
            "eth_getBlockReceipts" => match self.resolve(&param(0))? {
                Some(i) => {
                    let n = number_of(&self.blocks[i]);
                    match self.receipts.get(&n) {
                        Some(r) => Ok((**r).clone()),
                        None => Err(RpcError {
                            code: -32000,
                            message: format!("receipts for block {n} are not shipped with the dev chain"),
                        }),
                    }
                }
                None => Ok(Value::Null),
            },
            "slotproof_slotOf" => {
                let hash = param(0);
                let hash = parse_hash(hash.as_str().ok_or_else(|| RpcError::invalid("expected a block hash"))?)?;
                Ok(match self.slot_of(hash) {
                    Some((slot, start_ms)) => json!({"slot": slot, "start_ms": start_ms,
                        "slot_time_ms": self.slot_time.as_millis() as u64}),
                    None => Value::Null,
                })
            }
            "slotproof_devchain" => {
                let r = self.replay.lock().unwrap_or_else(|e| e.into_inner());
                Ok(json!({"slot_time_ms": self.slot_time.as_millis() as u64, "genesis_ms": r.genesis_ms,
                    "announced": r.announced, "blocks": self.blocks.len()}))
            }
            _ => Err(RpcError { code: -32601, message: format!("the dev chain does not serve {method}") }),
        }
    }

    /// The slot of an announced block: its place in the replay, its start the
    /// announcement time.
    pub fn slot_of(&self, hash: Hash32) -> Option<(u64, u64)> {
        let i = *self.by_hash.get(&hash)?;
        let r = self.replay.lock().unwrap_or_else(|e| e.into_inner());
        Some((i as u64, r.genesis_ms + i as u64 * self.slot_time.as_millis() as u64))
    }

    /// Serves JSON-RPC on `listener` (HTTP POST and WebSocket on `/`) until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ChainError> {
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        info!(target: "slotproof::devchain", ?addr, blocks = self.blocks.len(), slot_time = ?self.slot_time, "dev chain serving JSON-RPC (HTTP and WebSocket)");
        let app = Router::new()
            .route("/", post(http_rpc).get(ws_rpc))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .with_state(self);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
            .map_err(ChainError::Serve)
    }
}

struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn invalid(message: &str) -> Self {
        RpcError { code: -32602, message: message.into() }
    }
}

fn parse_hash(s: &str) -> Result<Hash32, RpcError> {
    s.parse().map_err(|e| RpcError { code: -32602, message: format!("block hash {s:?}: {e}") })
}

fn reply(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}}),
    }
}

fn answer(chain: &DevChain, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return reply(id, Err(RpcError { code: -32600, message: "not a JSON-RPC request".into() }));
    };
    reply(id, chain.handle(method, request.get("params").unwrap_or(&Value::Null)))
}

/// Requests in one JSON-RPC batch: each may answer a whole block, so an
/// unbounded batch would be an unbounded response.
pub const MAX_BATCH: usize = 100;
/// A request body or WebSocket message larger than this is refused.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

fn answer_text(chain: &DevChain, body: &str) -> Value {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Array(batch)) if batch.len() > MAX_BATCH => {
            let message = format!("a batch of {} requests: at most {MAX_BATCH}", batch.len());
            reply(Value::Null, Err(RpcError { code: -32600, message }))
        }
        Ok(Value::Array(batch)) => Value::Array(batch.iter().map(|r| answer(chain, r)).collect()),
        Ok(request) => answer(chain, &request),
        Err(e) => reply(Value::Null, Err(RpcError { code: -32700, message: format!("parse error: {e}") })),
    }
}

async fn http_rpc(State(chain): State<Arc<DevChain>>, body: String) -> Response {
    axum::Json(answer_text(&chain, &body)).into_response()
}

async fn ws_rpc(State(chain): State<Arc<DevChain>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.max_message_size(MAX_REQUEST_BYTES).on_upgrade(move |socket| ws_session(chain, socket))
}

/// One WebSocket client: requests answered in order; `eth_subscribe newHeads`
/// starts notifications.
async fn ws_session(chain: Arc<DevChain>, mut socket: WebSocket) {
    let mut heads = chain.heads.subscribe();
    let mut subscription: Option<String> = None;
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { return };
                let text = match msg {
                    Message::Text(t) => t.to_string(),
                    Message::Close(_) => return,
                    _ => continue,
                };
                let request: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let response = match request.get("method").and_then(Value::as_str) {
                    Some("eth_subscribe") if request["params"][0] == "newHeads" => {
                        let id = format!("0x{:016x}", now_ms());
                        subscription = Some(id.clone());
                        reply(request["id"].clone(), Ok(json!(id)))
                    }
                    Some("eth_subscribe") => reply(request["id"].clone(), Err(RpcError { code: -32602, message: "only newHeads is served".into() })),
                    Some("eth_unsubscribe") => {
                        let was = subscription.take().is_some();
                        reply(request["id"].clone(), Ok(json!(was)))
                    }
                    _ => answer_text(&chain, &text),
                };
                if socket.send(Message::Text(response.to_string().into())).await.is_err() {
                    return;
                }
            }
            head = heads.recv() => {
                let head = match head {
                    Ok(h) => h,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if let Some(id) = &subscription {
                    let note = json!({"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": id, "result": *head}});
                    if socket.send(Message::Text(note.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(chain: &DevChain, method: &str, params: Value) -> Result<Value, (i64, String)> {
        chain.handle(method, &params).map_err(|e| (e.code, e.message))
    }

    /// specs/chain.md §4: blocks by hash (hex in either case), unannounced ones
    /// `null`, and a malformed hash an invalid-params error, never a silent miss.
    #[test]
    fn blocks_are_found_by_hash_and_a_malformed_hash_is_refused() {
        let chain = DevChain::embedded(Duration::from_secs(12), None).unwrap();
        assert!(chain.announce_next());
        let hash = chain.blocks[0]["hash"].as_str().unwrap().to_string();
        let upper = format!("0x{}", hash[2..].to_ascii_uppercase());
        let block = result(&chain, "eth_getBlockByHash", json!([upper, false])).unwrap();
        assert_eq!(block["hash"].as_str(), Some(hash.as_str()));
        let slot = result(&chain, "slotproof_slotOf", json!([hash])).unwrap();
        assert_eq!(slot["slot"], 0);

        let bad = format!("0x{}", "zz".repeat(32));
        let (code, message) = result(&chain, "eth_getBlockByHash", json!([bad, false])).unwrap_err();
        assert_eq!(code, -32602);
        assert!(message.contains("not a hex digit"), "{message}");
        assert_eq!(result(&chain, "slotproof_slotOf", json!(["0x12"])).unwrap_err().0, -32602);
        // A block the replay has not announced yet is absent.
        let later = chain.blocks[1]["hash"].clone();
        assert_eq!(result(&chain, "eth_getBlockByHash", json!([later, false])).unwrap(), Value::Null);
    }

    /// specs/chain.md §4: a batch is answered request by request up to
    /// MAX_BATCH; a larger one is one error, not an unbounded response.
    #[test]
    fn batches_are_bounded() {
        let chain = DevChain::embedded(Duration::from_secs(12), None).unwrap();
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
        let two = answer_text(&chain, &json!([request, request]).to_string());
        assert_eq!(two.as_array().map(Vec::len), Some(2));
        let too_many = Value::Array(vec![request; MAX_BATCH + 1]).to_string();
        let refused = answer_text(&chain, &too_many);
        assert_eq!(refused["error"]["code"], -32600, "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("at most 100"), "{refused}");
    }
}
