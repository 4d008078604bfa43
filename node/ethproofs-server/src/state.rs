//! What every handler shares: the store, the teams by API key, each key's
//! rate-limit window, the write lock, and the RPC client for block facts.
//! Authentication and the rate limit are checked here, before any handler
//! reads the body.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use slotproof_primitives::now_ms;

use crate::config::{RateLimit, ServerConfig};
use crate::error::ServerError;
use crate::reply::{Refusal, rate_limited, refuse};
use crate::store::{Store, uuid_of};

pub struct AppState {
    pub(crate) store: Store,
    /// key → team id
    teams: HashMap<String, String>,
    limit: RateLimit,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Serialises read-modify-write of rows.
    write: Mutex<()>,
    pub(crate) rpc_url: Option<String>,
    pub(crate) http: reqwest::Client,
}

/// Opens the store under `cfg.data_dir` and sets up one team per key.
pub fn state(cfg: ServerConfig) -> Result<Arc<AppState>, ServerError> {
    if cfg.api_keys.is_empty() {
        return Err(ServerError::NoApiKeys);
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|source| ServerError::DataDir { path: cfg.data_dir.clone(), source })?;
    let teams = cfg.api_keys.iter().map(|k| (k.clone(), uuid_of(&["team", k]))).collect();
    Ok(Arc::new(AppState {
        store: Store::open(&cfg.data_dir)?,
        teams,
        limit: cfg.rate_limit,
        windows: Mutex::new(HashMap::new()),
        write: Mutex::new(()),
        rpc_url: cfg.rpc_url,
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(ServerError::RpcClient)?,
    }))
}

impl AppState {
    /// How many teams (API keys) the server knows.
    pub fn teams(&self) -> usize {
        self.teams.len()
    }

    /// The team of the request's bearer key, or the 401 the real service gives.
    pub(crate) fn team(&self, headers: &HeaderMap) -> Result<String, Refusal> {
        let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(refuse(StatusCode::UNAUTHORIZED, "No API key provided"));
        };
        let key = auth.split_whitespace().nth(1).unwrap_or("");
        if key.is_empty() {
            return Err(refuse(StatusCode::UNAUTHORIZED, "No API key provided"));
        }
        self.teams.get(key).cloned().ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "Invalid API key"))
    }

    /// Sliding window per key; a refusal is the published 429 body and headers.
    pub(crate) fn rate_limit(&self, headers: &HeaderMap) -> Result<(), Refusal> {
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
        Err(rate_limited(self.limit.window.saturating_sub(now.duration_since(oldest)), now_ms()))
    }

    /// Held across every read-modify-write of a row.
    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }
}
