//! What every handler shares: the store, the teams with each one's
//! rate-limit window, the write lock, and the RPC client for block facts.
//! A request's key is looked up here, in constant time, and a team's window
//! is the only rate-limit state: one per configured key, made at start, so
//! nothing a client sends can add any. The server keeps the keys' digests,
//! never the keys.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use slotproof_primitives::now_ms;

use crate::config::{RateLimit, ServerConfig};
use crate::error::ServerError;
use crate::reply::{Refusal, rate_limited, refuse};
use crate::store::{Store, uuid_of};

/// One API key's team, as authenticated requests carry it.
pub struct Team {
    /// blake3 of the key. `blake3::Hash`'s `==` takes the same time
    /// whichever bytes differ, and digests all have one length, so comparing
    /// them says nothing about a key's bytes or length.
    digest: blake3::Hash,
    /// The team's stable id, derived from its key.
    pub id: String,
    /// When its rate-limited requests of the current window came; never more
    /// than the limit's number of requests.
    window: Mutex<VecDeque<Instant>>,
}

pub struct AppState {
    pub(crate) store: Store,
    teams: Vec<Arc<Team>>,
    limit: RateLimit,
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
    let mut seen = HashSet::new();
    let teams = cfg
        .api_keys
        .iter()
        .filter(|k| seen.insert(k.as_str()))
        .map(|k| {
            let window = Mutex::new(VecDeque::with_capacity(cfg.rate_limit.requests.min(1024)));
            Arc::new(Team { digest: blake3::hash(k.as_bytes()), id: uuid_of(&["team", k]), window })
        })
        .collect();
    Ok(Arc::new(AppState {
        store: Store::open(&cfg.data_dir)?,
        teams,
        limit: cfg.rate_limit,
        write: Mutex::new(()),
        rpc_url: cfg.rpc_url,
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(ServerError::RpcClient)?,
    }))
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in
/// any case, RFC 9110 §11.1), if that is what the header is.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    let one_token = !token.is_empty() && !token.contains(char::is_whitespace);
    (scheme.eq_ignore_ascii_case("bearer") && one_token).then_some(token)
}

impl AppState {
    /// How many teams (API keys) the server knows.
    pub fn teams(&self) -> usize {
        self.teams.len()
    }

    /// The team of the request's bearer key, or the 401 the real service gives.
    pub(crate) fn team(&self, headers: &HeaderMap) -> Result<Arc<Team>, Refusal> {
        let Some(key) = bearer(headers) else {
            return Err(refuse(StatusCode::UNAUTHORIZED, "No API key provided"));
        };
        self.team_of_key(key).ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "Invalid API key"))
    }

    /// Compares `key`'s digest with every team's, all of them, whichever matches.
    fn team_of_key(&self, key: &str) -> Option<Arc<Team>> {
        let digest = blake3::hash(key.as_bytes());
        let mut found = None;
        for team in &self.teams {
            if team.digest == digest {
                found = Some(team.clone());
            }
        }
        found
    }

    /// Sliding window per team; a refusal is the published 429 body and headers.
    pub(crate) fn rate_limit(&self, team: &Team) -> Result<(), Refusal> {
        let mut w = team.window.lock().unwrap_or_else(|e| e.into_inner());
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    fn server(keys: &[&str]) -> (tempfile::TempDir, Arc<AppState>) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ServerConfig {
            data_dir: dir.path().to_path_buf(),
            api_keys: keys.iter().map(|k| k.to_string()).collect(),
            rate_limit: RateLimit::default(),
            rpc_url: None,
        };
        (dir, state(cfg).unwrap())
    }

    #[test]
    fn only_a_bearer_header_with_one_token_carries_a_key() {
        for (value, key) in [
            ("Bearer k1", Some("k1")),
            ("bearer k1", Some("k1")),
            ("BEARER   k1 ", Some("k1")),
            ("Basic k1", None),
            ("X k1 y", None),
            ("Bearer k1 y", None),
            ("Bearer ", None),
            ("k1", None),
        ] {
            assert_eq!(bearer(&with_auth(value)), key, "{value:?}");
        }
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    /// Keys that share a prefix or differ only in length find their own team.
    #[test]
    fn each_key_finds_its_own_team_and_no_other_string_finds_one() {
        let (_dir, s) = server(&["key-a", "key-a2", "key-b", "key-a"]);
        assert_eq!(s.teams(), 3, "a repeated key is one team");
        for key in ["key-a", "key-a2", "key-b"] {
            assert_eq!(s.team_of_key(key).unwrap().id, uuid_of(&["team", key]), "{key}");
        }
        for other in ["", "key-", "key-a ", "KEY-A", "key-a22", "key-b\0"] {
            assert!(s.team_of_key(other).is_none(), "{other:?}");
        }
    }
}
