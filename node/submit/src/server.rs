//! `slotproof ethproofs-server`: an Ethproofs-compatible service for testnets
//! (specs/submission.md §4), under the same `/api/v0` base path: clusters, the
//! proof lifecycle, `GET /proofs`, `GET /blocks/{block}`, proof downloads, the
//! same per-key rate limit and 429, 409 on a second proved, plain-text
//! validation errors, and an HTML page of blocks. State in RocksDB.

// Checks return the refusal response itself as their error: built once per
// refused request, never on the success path.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, patch, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rocksdb::{DB, IteratorMode, Options};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::iso8601;

/// The published limit: 60 requests per 60 s per key, shared by the three
/// status calls and `GET /proofs`.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub requests: usize,
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { requests: 60, window: Duration::from_secs(60) }
    }
}

pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// API keys; each is one team.
    pub api_keys: Vec<String>,
    pub rate_limit: RateLimit,
    /// Where block facts come from (`eth_getBlockByNumber`); without it `/blocks` knows none.
    pub rpc_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("ethproofs server database {path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error("ethproofs server: {0}")]
    Config(String),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Cluster {
    index: u64,
    uuid: String,
    name: String,
    zkvm_version_id: u64,
    num_gpus: u64,
    hardware_description: Option<String>,
    deployment_type: String,
    is_active: bool,
    vk_path: Option<String>,
    /// Bumped when zkvm_version_id or vk_path change: proofs attach to the latest.
    version: u64,
    created_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ProofRow {
    proof_id: u64,
    block_number: u64,
    cluster_index: u64,
    cluster_uuid: String,
    cluster_version: u64,
    team_id: String,
    proof_status: String,
    created_at: String,
    queued_timestamp: Option<String>,
    proving_timestamp: Option<String>,
    proved_timestamp: Option<String>,
    proving_time: Option<u64>,
    proving_cycles: Option<u64>,
    size_bytes: Option<u64>,
    verifier_id: Option<String>,
}

struct Store {
    db: DB,
}

fn uuid_of(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new_derive_key("slotproof ethproofs-server uuid v1");
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    let b = h.finalize();
    let x: String = b.as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-4{}-8{}-{}", &x[0..8], &x[8..12], &x[13..16], &x[17..20], &x[20..32])
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Store {
    fn open(dir: &Path) -> Result<Store, ServerError> {
        let path = dir.join("ethproofs");
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, &path).map_err(|e| ServerError::Db { path: path.clone(), message: e.to_string() })?;
        Ok(Store { db })
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, String> {
        match self.db.get(key.as_bytes()).map_err(|e| e.to_string())? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| format!("{key}: {e}")),
            None => Ok(None),
        }
    }

    fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), String> {
        let v = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        self.db.put(key.as_bytes(), v).map_err(|e| e.to_string())
    }

    fn scan<T: for<'de> Deserialize<'de>>(&self, prefix: &str) -> Result<Vec<T>, String> {
        let mut out = Vec::new();
        let mode = IteratorMode::From(prefix.as_bytes(), rocksdb::Direction::Forward);
        for item in self.db.iterator(mode) {
            let (k, v) = item.map_err(|e| e.to_string())?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    fn next_id(&self, counter: &str) -> Result<u64, String> {
        let n: u64 = self.get(counter)?.unwrap_or(0) + 1;
        self.put(counter, &n)?;
        Ok(n)
    }
}

fn cluster_key(team: &str, index: u64) -> String {
    format!("cluster/{team}/{index:020}")
}

fn proof_key(block: u64, team: &str, index: u64, version: u64) -> String {
    format!("proof/{block:020}/{team}/{index:020}/{version:020}")
}

pub struct AppState {
    store: Store,
    /// key → team id
    teams: HashMap<String, String>,
    limit: RateLimit,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Serialises read-modify-write of rows.
    write: Mutex<()>,
    rpc_url: Option<String>,
    http: reqwest::Client,
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.to_string()).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    warn!(target: "slotproof::ethproofs_server", error = %e, "internal error");
    text(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
}

impl AppState {
    /// The team of the request's bearer key, or the 401 the real service gives.
    fn team(&self, headers: &HeaderMap) -> Result<String, Response> {
        let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(text(StatusCode::UNAUTHORIZED, "No API key provided"));
        };
        let key = auth.split_whitespace().nth(1).unwrap_or("");
        if key.is_empty() {
            return Err(text(StatusCode::UNAUTHORIZED, "No API key provided"));
        }
        self.teams.get(key).cloned().ok_or_else(|| text(StatusCode::UNAUTHORIZED, "Invalid API key"))
    }

    /// Sliding window per key; a refusal is the published 429 body and headers.
    fn rate_limit(&self, headers: &HeaderMap) -> Result<(), Response> {
        let key = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(key).or_default();
        let now = Instant::now();
        while w.front().is_some_and(|t| now.duration_since(*t) >= self.limit.window) {
            w.pop_front();
        }
        if w.len() < self.limit.requests {
            w.push_back(now);
            return Ok(());
        }
        let oldest = w.front().copied().unwrap_or(now);
        let wait = self.limit.window.saturating_sub(now.duration_since(oldest));
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let reset = iso8601(now_ms() + wait.as_millis() as u64);
        let body = json!({"error": "Rate limit exceeded", "message": format!("Rate limit exceeded. Try again in {secs} seconds"), "retryAfter": secs});
        Err((
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::RETRY_AFTER, secs.to_string()),
                (header::HeaderName::from_static("x-ratelimit-remaining"), "0".to_string()),
                (header::HeaderName::from_static("x-ratelimit-reset"), reset),
            ],
            axum::Json(body),
        )
            .into_response())
    }
}

/// A JSON body, or the plain-text 400 the real service gives.
fn body_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(text(StatusCode::BAD_REQUEST, "Invalid request: expected an object")),
        Err(e) => Err(text(StatusCode::BAD_REQUEST, &format!("Invalid request: {e}"))),
    }
}

fn invalid(msg: &str) -> Response {
    text(StatusCode::BAD_REQUEST, &format!("Invalid request: {msg}"))
}

/// Field checks as the published schemas state them.
struct Fields<'a>(&'a serde_json::Map<String, Value>);

impl Fields<'_> {
    fn only(&self, allowed: &[&str]) -> Result<(), Response> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(invalid(&format!("unrecognized key {k:?}"))),
            None => Ok(()),
        }
    }

    fn number(
        &self,
        key: &str,
        required: bool,
        min_exclusive: Option<f64>,
        min: Option<f64>,
    ) -> Result<Option<f64>, Response> {
        match self.0.get(key) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(invalid(&format!("{key} is required"))),
            Some(Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if min_exclusive.is_some_and(|m| x <= m) || min.is_some_and(|m| x < m) || !x.is_finite() {
                    return Err(invalid(&format!("{key} is out of range")));
                }
                Ok(Some(x))
            }
            Some(_) => Err(invalid(&format!("{key} must be a number"))),
        }
    }

    fn integer(&self, key: &str, required: bool) -> Result<Option<u64>, Response> {
        match self.number(key, required, Some(0.0), None)? {
            Some(x) if x.fract() != 0.0 => Err(invalid(&format!("{key} must be an integer"))),
            Some(x) => Ok(Some(x as u64)),
            None => Ok(None),
        }
    }

    fn string(&self, key: &str, max: Option<usize>) -> Result<Option<String>, Response> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if max.is_some_and(|m| s.chars().count() > m) => {
                Err(invalid(&format!("{key} must be at most {} characters", max.unwrap_or(0))))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&format!("{key} must be a string"))),
        }
    }
}

async fn create_cluster(State(s): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let team = match s.team(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let f = Fields(&obj);
    let checked = (|| {
        f.only(&["name", "zkvm_version_id", "num_gpus", "hardware_description", "deployment_type"])?;
        let name = f.string("name", Some(50))?.ok_or_else(|| invalid("name is required"))?;
        let zkvm_version_id = f.integer("zkvm_version_id", true)?.unwrap_or(0);
        let num_gpus = f.integer("num_gpus", false)?.unwrap_or(1);
        let hardware_description = f.string("hardware_description", Some(200))?;
        let deployment_type = f.string("deployment_type", None)?.unwrap_or_else(|| "cloud-hosted".into());
        if !["cloud-hosted", "on-prem"].contains(&deployment_type.as_str()) {
            return Err(invalid("deployment_type must be cloud-hosted or on-prem"));
        }
        Ok((name, zkvm_version_id, num_gpus, hardware_description, deployment_type))
    })();
    let (name, zkvm_version_id, num_gpus, hardware_description, deployment_type) = match checked {
        Ok(v) => v,
        Err(r) => return r,
    };
    let _w = s.write.lock().unwrap_or_else(|e| e.into_inner());
    let index = match s.store.next_id(&format!("counter/cluster/{team}")) {
        Ok(i) => i,
        Err(e) => return internal(e),
    };
    let cluster = Cluster {
        index,
        uuid: uuid_of(&[&team, &index.to_string()]),
        name,
        zkvm_version_id,
        num_gpus,
        hardware_description,
        deployment_type,
        is_active: true,
        vk_path: None,
        version: 1,
        created_at: iso8601(now_ms()),
    };
    if let Err(e) = s.store.put(&cluster_key(&team, index), &cluster) {
        return internal(e);
    }
    info!(target: "slotproof::ethproofs_server", team = %team, cluster = index, name = %cluster.name, "cluster created");
    axum::Json(json!({"id": index})).into_response()
}

async fn list_clusters(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let team = match s.team(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match s.store.scan::<Cluster>(&format!("cluster/{team}/")) {
        Ok(cs) => axum::Json(
            cs.iter()
                .map(|c| json!({"id": c.index, "name": c.name, "hardware_description": c.hardware_description}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn update_cluster(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let team = match s.team(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Ok(index) = id.parse::<u64>() else { return text(StatusCode::NOT_FOUND, "Cluster not found") };
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if obj.is_empty() {
        return text(StatusCode::BAD_REQUEST, "No fields to update");
    }
    let f = Fields(&obj);
    let _w = s.write.lock().unwrap_or_else(|e| e.into_inner());
    let mut c: Cluster = match s.store.get(&cluster_key(&team, index)) {
        Ok(Some(c)) => c,
        Ok(None) => return text(StatusCode::NOT_FOUND, "Cluster not found"),
        Err(e) => return internal(e),
    };
    let applied = (|| {
        f.only(&["name", "num_gpus", "hardware_description", "is_active", "zkvm_version_id", "vk_path"])?;
        if let Some(n) = f.string("name", Some(50))? {
            c.name = n;
        }
        if let Some(g) = f.integer("num_gpus", false)? {
            if (g > 1) != (c.num_gpus > 1) {
                return Err(invalid("num_gpus cannot cross the single/multi-GPU boundary"));
            }
            c.num_gpus = g;
        }
        if let Some(h) = f.string("hardware_description", Some(200))? {
            c.hardware_description = Some(h);
        }
        match obj.get("is_active") {
            None => {}
            Some(Value::Bool(b)) => c.is_active = *b,
            Some(_) => return Err(invalid("is_active must be a boolean")),
        }
        let mut new_version = false;
        if let Some(z) = f.integer("zkvm_version_id", false)? {
            new_version |= z != c.zkvm_version_id;
            c.zkvm_version_id = z;
        }
        if let Some(vk) = f.string("vk_path", None)? {
            new_version |= c.vk_path.as_deref() != Some(vk.as_str());
            c.vk_path = Some(vk);
        }
        if new_version {
            c.version += 1;
        }
        Ok(())
    })();
    if let Err(r) = applied {
        return r;
    }
    match s.store.put(&cluster_key(&team, index), &c) {
        Ok(()) => axum::Json(json!({"success": true})).into_response(),
        Err(e) => internal(e),
    }
}

/// Block facts for `/blocks`, fetched once from the RPC when one is configured.
async fn ensure_block(s: &AppState, number: u64) -> Result<(), String> {
    let Some(url) = &s.rpc_url else { return Ok(()) };
    let key = format!("block/{number:020}");
    if s.store.get::<Value>(&key)?.is_some() {
        return Ok(());
    }
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [format!("0x{number:x}"), false]});
    let resp: Value =
        s.http.post(url).json(&req).send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
    let b = &resp["result"];
    let hexnum = |k: &str| b[k].as_str().and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok());
    let (Some(hash), Some(ts), Some(gas)) = (b["hash"].as_str(), hexnum("timestamp"), hexnum("gasUsed")) else {
        return Err(format!("block {number} not available from the RPC"));
    };
    let info = json!({"block_number": number, "hash": hash, "timestamp": iso8601(ts * 1000), "gas_used": gas,
        "transaction_count": b["transactions"].as_array().map_or(0, Vec::len), "created_at": iso8601(now_ms())});
    s.store.put(&key, &info)
}

async fn lifecycle(s: Arc<AppState>, headers: HeaderMap, body: axum::body::Bytes, status: &'static str) -> Response {
    let team = match s.team(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Err(r) = s.rate_limit(&headers) {
        return r;
    }
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let f = Fields(&obj);
    let parsed = (|| {
        let block = f.number("block_number", true, None, Some(0.0))?.unwrap_or(0.0);
        let cluster = f.number("cluster_id", true, None, None)?.unwrap_or(0.0);
        if block.fract() != 0.0 || cluster.fract() != 0.0 {
            return Err(invalid("block_number and cluster_id must be whole numbers"));
        }
        if status != "proved" {
            f.only(&["block_number", "cluster_id"])?;
            return Ok((block as u64, cluster as u64, None));
        }
        f.only(&["block_number", "cluster_id", "proving_time", "proving_cycles", "proof", "verifier_id"])?;
        let time = f.number("proving_time", true, Some(0.0), None)?.unwrap_or(1.0);
        let cycles = f.integer("proving_cycles", false)?;
        let proof = f.string("proof", None)?.ok_or_else(|| invalid("proof is required"))?;
        let bytes = BASE64.decode(proof.as_bytes()).map_err(|_| invalid("proof must be base64"))?;
        let verifier = f.string("verifier_id", None)?;
        Ok((block as u64, cluster as u64, Some((time.round().max(1.0) as u64, cycles, bytes, verifier))))
    })();
    let (block, index, proved) = match parsed {
        Ok(v) => v,
        Err(r) => return r,
    };
    let cluster: Cluster = match s.store.get(&cluster_key(&team, index)) {
        Ok(Some(c)) => c,
        Ok(None) => return text(StatusCode::NOT_FOUND, "Cluster not found"),
        Err(e) => return internal(e),
    };
    if let Err(e) = ensure_block(&s, block).await {
        return internal(e);
    }
    let _w = s.write.lock().unwrap_or_else(|e| e.into_inner());
    let key = proof_key(block, &team, index, cluster.version);
    let existing: Option<ProofRow> = match s.store.get(&key) {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    if existing.as_ref().is_some_and(|r| r.proof_status == "proved") {
        return text(StatusCode::CONFLICT, "Proof already proved");
    }
    let now = iso8601(now_ms());
    let mut row = match existing {
        Some(r) => r,
        None => {
            let id = match s.store.next_id("counter/proof") {
                Ok(i) => i,
                Err(e) => return internal(e),
            };
            ProofRow {
                proof_id: id,
                block_number: block,
                cluster_index: index,
                cluster_uuid: cluster.uuid.clone(),
                cluster_version: cluster.version,
                team_id: team.clone(),
                proof_status: status.into(),
                created_at: now.clone(),
                queued_timestamp: None,
                proving_timestamp: None,
                proved_timestamp: None,
                proving_time: None,
                proving_cycles: None,
                size_bytes: None,
                verifier_id: None,
            }
        }
    };
    row.proof_status = status.into();
    match status {
        "queued" => row.queued_timestamp = Some(now),
        "proving" => row.proving_timestamp = Some(now),
        _ => row.proved_timestamp = Some(now),
    }
    if let Some((time, cycles, bytes, verifier)) = proved {
        row.proving_time = Some(time);
        row.proving_cycles = cycles;
        row.size_bytes = Some(bytes.len() as u64);
        row.verifier_id = verifier;
        if let Err(e) = s.store.db.put(format!("bin/{:020}", row.proof_id).as_bytes(), &bytes) {
            return internal(e);
        }
    }
    if let Err(e) = s.store.put(&key, &row) {
        return internal(e);
    }
    axum::Json(json!({"proof_id": row.proof_id})).into_response()
}

async fn queued(State(s): State<Arc<AppState>>, h: HeaderMap, b: axum::body::Bytes) -> Response {
    lifecycle(s, h, b, "queued").await
}

async fn proving(State(s): State<Arc<AppState>>, h: HeaderMap, b: axum::body::Bytes) -> Response {
    lifecycle(s, h, b, "proving").await
}

async fn proved(State(s): State<Arc<AppState>>, h: HeaderMap, b: axum::body::Bytes) -> Response {
    lifecycle(s, h, b, "proved").await
}

fn query_error(path: &str, message: &str) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!([{"code": "invalid", "message": message, "path": [path]}])))
        .into_response()
}

fn proof_json(s: &AppState, r: &ProofRow) -> Value {
    let mut v = json!({"block_number": r.block_number, "cluster_id": r.cluster_index, "proof_id": r.proof_id,
        "proof_status": r.proof_status, "team_id": r.team_id, "created_at": r.created_at});
    let optional = [
        ("queued_timestamp", r.queued_timestamp.clone().map(Value::from)),
        ("proving_timestamp", r.proving_timestamp.clone().map(Value::from)),
        ("proved_timestamp", r.proved_timestamp.clone().map(Value::from)),
        ("proving_time", r.proving_time.map(Value::from)),
        ("proving_cycles", r.proving_cycles.map(Value::from)),
        ("size_bytes", r.size_bytes.map(Value::from)),
    ];
    for (k, val) in optional {
        if let Some(val) = val {
            v[k] = val;
        }
    }
    if let Ok(Some(b)) = s.store.get::<Value>(&format!("block/{:020}", r.block_number)) {
        v["block"] = b;
    }
    v
}

async fn list_proofs(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = s.team(&headers) {
        return r;
    }
    if let Err(r) = s.rate_limit(&headers) {
        return r;
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return query_error("limit", "limit must be an integer from 1 to 1000"),
    };
    let offset = match q.get("offset").map(|o| o.parse::<usize>()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(_) => return query_error("offset", "offset must be a non-negative integer"),
    };
    let block_filter: Option<u64> = match q.get("block") {
        None => None,
        Some(b) if b.starts_with("0x") && b.len() == 66 => {
            let found =
                s.store.scan::<Value>("block/").unwrap_or_default().into_iter().find(|v| v["hash"] == b.as_str());
            match found.and_then(|v| v["block_number"].as_u64()) {
                Some(n) => Some(n),
                None => {
                    return axum::Json(json!({"proofs": [], "total_count": 0, "limit": limit, "offset": offset}))
                        .into_response();
                }
            }
        }
        Some(b) => match b.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return query_error("block", "block must be a block number or a 0x-prefixed 32-byte hash"),
        },
    };
    let clusters: Option<Vec<&str>> = q.get("clusters").map(|c| c.split(',').map(str::trim).collect());
    let prefix = match block_filter {
        Some(n) => format!("proof/{n:020}/"),
        None => "proof/".into(),
    };
    let rows: Vec<ProofRow> = match s.store.scan(&prefix) {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let rows: Vec<&ProofRow> =
        rows.iter().filter(|r| clusters.as_ref().is_none_or(|c| c.contains(&r.cluster_uuid.as_str()))).collect();
    let page: Vec<Value> = rows.iter().skip(offset).take(limit).map(|r| proof_json(&s, r)).collect();
    axum::Json(json!({"proofs": page, "total_count": rows.len(), "limit": limit, "offset": offset})).into_response()
}

async fn get_block(State(s): State<Arc<AppState>>, UrlPath(block): UrlPath<String>) -> Response {
    let Ok(n) = block.parse::<u64>() else {
        return query_error("block", "block must be a non-negative integer");
    };
    match s.store.get::<Value>(&format!("block/{n:020}")) {
        Ok(Some(b)) => axum::Json(b).into_response(),
        Ok(None) => text(StatusCode::NOT_FOUND, "Block not found"),
        Err(e) => internal(e),
    }
}

async fn download(State(s): State<Arc<AppState>>, headers: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    if let Err(r) = s.team(&headers) {
        return r;
    }
    let Ok(id) = id.parse::<u64>() else { return text(StatusCode::NOT_FOUND, "No proof found") };
    match s.store.db.get(format!("bin/{id:020}").as_bytes()) {
        Ok(Some(bytes)) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Ok(None) => text(StatusCode::NOT_FOUND, "No proof found"),
        Err(e) => internal(e),
    }
}

/// The page: every block with each cluster's proving time.
async fn index_page(State(s): State<Arc<AppState>>) -> Response {
    let rows: Vec<ProofRow> = s.store.scan("proof/").unwrap_or_default();
    let mut by_block: BTreeMap<u64, Vec<&ProofRow>> = BTreeMap::new();
    for r in &rows {
        by_block.entry(r.block_number).or_default().push(r);
    }
    let escape = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>slotproof ethproofs-server</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style></head><body>\
         <h1>Blocks</h1><table><tr><th>block</th><th>cluster</th><th>status</th><th>proving time</th><th>size</th></tr>",
    );
    for (block, rs) in by_block.iter().rev() {
        for r in rs {
            let time = r.proving_time.map_or("-".to_string(), |t| format!("{:.2} s", t as f64 / 1e3));
            let size = r.size_bytes.map_or("-".to_string(), |b| format!("{b} B"));
            html.push_str(&format!(
                "<tr><td>{block}</td><td>{}</td><td>{}</td><td>{time}</td><td>{size}</td></tr>",
                escape(&format!("{}#{}", &r.team_id[..8], r.cluster_index)),
                escape(&r.proof_status)
            ));
        }
    }
    html.push_str("</table></body></html>");
    Html(html).into_response()
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index_page))
        .route("/api/v0/clusters", get(list_clusters).post(create_cluster))
        .route("/api/v0/clusters/{id}", patch(update_cluster))
        .route("/api/v0/proofs/queued", post(queued))
        .route("/api/v0/proofs/proving", post(proving))
        .route("/api/v0/proofs/proved", post(proved))
        .route("/api/v0/proofs", get(list_proofs))
        .route("/api/v0/proofs/download/{id}", get(download))
        .route("/api/v0/blocks/{block}", get(get_block))
        .layer(axum::extract::DefaultBodyLimit::max(16 << 20))
        .with_state(state)
}

pub fn state(cfg: ServerConfig) -> Result<Arc<AppState>, ServerError> {
    if cfg.api_keys.is_empty() {
        return Err(ServerError::Config("at least one --api-key is needed (one team per key)".into()));
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| ServerError::Db { path: cfg.data_dir.clone(), message: e.to_string() })?;
    let teams = cfg.api_keys.iter().map(|k| (k.clone(), uuid_of(&["team", k]))).collect();
    Ok(Arc::new(AppState {
        store: Store::open(&cfg.data_dir)?,
        teams,
        limit: cfg.rate_limit,
        windows: Mutex::new(HashMap::new()),
        write: Mutex::new(()),
        rpc_url: cfg.rpc_url,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ServerError::Config(e.to_string()))?,
    }))
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    info!(target: "slotproof::ethproofs_server", addr = ?listener.local_addr().ok(), teams = state.teams.len(), "ethproofs-compatible server on /api/v0");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
}
