//! The Ethproofs API client (specs/submission.md §1): bearer token, a
//! client-side limiter for the rate-limited calls, and answers sorted into
//! what the sender should do with them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::api::{ClusterRow, CreateCluster, ProofId, Proved, StatusUpdate, UpdateCluster};
use crate::error::{RetryError, SubmitError, TokenError};

/// The two best-effort lifecycle calls before `proved`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCall {
    Queued,
    Proving,
}

impl StatusCall {
    /// The path segment under `/proofs/`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCall::Queued => "queued",
            StatusCall::Proving => "proving",
        }
    }
}

/// A sliding window of sends plus a pause set by the server's 429. It starts
/// empty: what a previous run sent is learnt from the server, not assumed.
pub struct Limiter {
    requests: usize,
    window: Duration,
    state: Mutex<(VecDeque<Instant>, Option<Instant>)>,
}

impl Limiter {
    pub fn new(requests: usize, window: Duration) -> Self {
        Limiter { requests: requests.max(1), window, state: Mutex::new((VecDeque::new(), None)) }
    }

    /// The published budget: 60 requests per 60 s per key.
    pub fn ethproofs() -> Self {
        Self::new(60, Duration::from_secs(60))
    }

    /// Waits for room, then takes it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let (sent, paused) = &mut *s;
                while sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    sent.pop_front();
                }
                match *paused {
                    Some(until) if until > now => until - now,
                    _ if sent.len() < self.requests => {
                        sent.push_back(now);
                        return;
                    }
                    _ => self.window.saturating_sub(now.duration_since(sent.front().copied().unwrap_or(now))),
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }

    /// Room left in the window (for coalescing best-effort calls).
    pub async fn remaining(&self) -> usize {
        let s = self.state.lock().await;
        let now = Instant::now();
        let live = s.0.iter().filter(|t| now.duration_since(**t) < self.window).count();
        if s.1.is_some_and(|until| until > now) { 0 } else { self.requests.saturating_sub(live) }
    }

    /// Pauses every call on the key for `d` (at most [`MAX_RETRY_AFTER`]).
    pub async fn pause(&self, d: Duration) {
        let mut s = self.state.lock().await;
        let now = Instant::now();
        let until = now.checked_add(d.min(MAX_RETRY_AFTER)).unwrap_or(now);
        s.1 = Some(s.1.map_or(until, |u| u.max(until)));
    }
}

#[derive(Clone)]
pub struct Client {
    base: String,
    token: Arc<str>,
    http: reqwest::Client,
    limiter: Arc<Limiter>,
}

/// The longest pause a `Retry-After` can impose: a service (or anyone between)
/// answering with days or `u64::MAX` must not stall the outbox for ever.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Seconds from `Retry-After` (or the JSON body's `retryAfter`), from 1 s to [`MAX_RETRY_AFTER`].
fn retry_after(headers: &reqwest::header::HeaderMap, body: &str) -> Duration {
    let from_header = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let from_body = serde_json::from_str::<Value>(body).ok().and_then(|v| v["retryAfter"].as_u64());
    Duration::from_secs(from_header.or(from_body).unwrap_or(1).max(1)).min(MAX_RETRY_AFTER)
}

/// An error body as kept in logs and dead letters: the service's text, cut
/// short (a proxy's HTML page must not fill the queue).
fn clip(mut body: String) -> String {
    const MAX: usize = 512;
    if body.len() > MAX {
        let mut end = MAX;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
        body.push('…');
    }
    body
}

impl Client {
    /// `base` includes `/api/v0`, e.g. `http://127.0.0.1:8080/api/v0`.
    pub fn new(base: &str, token: &str, limiter: Arc<Limiter>) -> Result<Client, SubmitError> {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(SubmitError::HttpClient)?;
        Ok(Client { base: base.trim_end_matches('/').to_string(), token: token.into(), http, limiter })
    }

    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        limited: bool,
    ) -> Result<R, SubmitError> {
        if limited {
            self.limiter.acquire().await;
        }
        let url = format!("{}{path}", self.base);
        // The token goes in the header only; it is never logged.
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&*self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|source| RetryError::Send {
            method: method.clone(),
            path: path.to_string(),
            source,
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|source| RetryError::Read {
            method: method.clone(),
            path: path.to_string(),
            source,
        })?;
        debug!(target: "slotproof::submit", %method, path, status = status.as_u16(), "ethproofs answered");
        match status {
            s if s.is_success() => serde_json::from_str(&text).map_err(|e| SubmitError::Unexpected {
                status: s.as_u16(),
                body: text,
                source: Some(e),
            }),
            StatusCode::CONFLICT => Err(SubmitError::AlreadyProved),
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = retry_after(&headers, &text);
                warn!(target: "slotproof::submit", path, ?wait, "ethproofs rate limit: every sender on this key pauses");
                self.limiter.pause(wait).await;
                Err(SubmitError::RateLimited(wait))
            }
            // The server gave up waiting for the request: as transient as a 5xx.
            StatusCode::REQUEST_TIMEOUT => {
                Err(RetryError::Status { method, path: path.to_string(), status: 408, body: clip(text) }.into())
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                Err(SubmitError::Misconfigured { status: status.as_u16(), body: clip(text) })
            }
            s if s.is_client_error() => Err(SubmitError::Rejected { status: s.as_u16(), body: clip(text) }),
            s => {
                Err(RetryError::Status { method, path: path.to_string(), status: s.as_u16(), body: clip(text) }.into())
            }
        }
    }

    pub async fn create_cluster(&self, c: &CreateCluster) -> Result<u64, SubmitError> {
        let v: Value = self.call(reqwest::Method::POST, "/clusters", Some(c), false).await?;
        v["id"].as_u64().ok_or_else(|| SubmitError::Unexpected { status: 200, body: v.to_string(), source: None })
    }

    pub async fn list_clusters(&self) -> Result<Vec<ClusterRow>, SubmitError> {
        self.call::<(), _>(reqwest::Method::GET, "/clusters", None, false).await
    }

    pub async fn update_cluster(&self, id: u64, u: &UpdateCluster) -> Result<(), SubmitError> {
        let _: Value = self.call(reqwest::Method::PATCH, &format!("/clusters/{id}"), Some(u), false).await?;
        Ok(())
    }

    /// `POST /proofs/queued` or `POST /proofs/proving`.
    pub async fn status(&self, which: StatusCall, u: &StatusUpdate) -> Result<u64, SubmitError> {
        let path = format!("/proofs/{}", which.as_str());
        let r: ProofId = self.call(reqwest::Method::POST, &path, Some(u), true).await?;
        Ok(r.proof_id)
    }

    pub async fn proved(&self, p: &Proved) -> Result<u64, SubmitError> {
        let r: ProofId = self.call(reqwest::Method::POST, "/proofs/proved", Some(p), true).await?;
        Ok(r.proof_id)
    }

    /// `GET /proofs` (rate limited, as the service counts it).
    pub async fn proofs(&self, query: &str) -> Result<Value, SubmitError> {
        self.call::<(), _>(reqwest::Method::GET, &format!("/proofs{query}"), None, true).await
    }
}

/// The token from `SLOTPROOF_ETHPROOFS_TOKEN`, or the first line of a file.
pub fn load_token(file: Option<&std::path::Path>) -> Result<String, TokenError> {
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).map_err(|source| TokenError::Read { path: path.to_path_buf(), source })?;
        let t = text.lines().next().unwrap_or("").trim().to_string();
        return if t.is_empty() { Err(TokenError::Empty { path: path.to_path_buf() }) } else { Ok(t) };
    }
    match std::env::var("SLOTPROOF_ETHPROOFS_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => Err(TokenError::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_gives_its_first_line_or_says_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  secret-key \nsecond line\n").unwrap();
        assert_eq!(load_token(Some(&file)).unwrap(), "secret-key");
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(load_token(Some(&file)), Err(TokenError::Empty { .. })));
        let missing = dir.path().join("missing");
        let err = load_token(Some(&missing)).unwrap_err();
        assert!(matches!(&err, TokenError::Read { path, .. } if path == &missing));
        assert!(std::error::Error::source(&err).is_some(), "the I/O cause is kept");
    }

    #[test]
    fn status_calls_name_their_paths() {
        assert_eq!((StatusCall::Queued.as_str(), StatusCall::Proving.as_str()), ("queued", "proving"));
    }

    /// A `Retry-After` of days, or of `u64::MAX` seconds, neither panics the
    /// sender (`Instant + Duration` overflow) nor stalls it for ever.
    #[tokio::test]
    async fn a_huge_retry_after_is_capped() {
        let mut headers = reqwest::header::HeaderMap::new();
        for value in ["18446744073709551615", "864000"] {
            headers.insert(reqwest::header::RETRY_AFTER, value.parse().unwrap());
            assert_eq!(retry_after(&headers, ""), MAX_RETRY_AFTER, "{value}");
        }
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new(), r#"{"retryAfter": 7}"#), Duration::from_secs(7));
        let limiter = Limiter::new(1, Duration::from_secs(60));
        limiter.pause(Duration::MAX).await;
        assert_eq!(limiter.remaining().await, 0, "paused");
    }
}
