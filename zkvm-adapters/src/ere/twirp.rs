//! A Twirp client for one ere-server: protobuf bodies POSTed to
//! `<url>/twirp/api.ZkvmService/<Method>`, replies read under a size bound.
//! A transport failure, a 5xx or a Twirp error that may pass (unavailable,
//! resource exhausted, deadline exceeded) is `Transient`; anything else the
//! server says is its answer.

use std::io::Read;
use std::time::Duration;

use prost::Message;
use slotproof_primitives::redact::{redact_in, redact_url};

use crate::remote::{LazyClient, clip};

/// Largest reply read (a proof of the served zkVM with its input fits).
pub const MAX_REPLY_BYTES: u64 = 64 << 20;

/// Why a call got no answer from the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Worth retrying: the server is down, busy or slow.
    #[error("ere-server {url}: {message}")]
    Transient { url: String, message: String },
    /// The server refused the call itself (bad route, malformed request).
    #[error("ere-server {url}: {message}")]
    Refused { url: String, message: String },
}

pub struct Twirp {
    url: String,
    client: LazyClient,
}

impl Twirp {
    pub fn new(url: &str) -> Twirp {
        Twirp { url: url.trim_end_matches('/').to_string(), client: LazyClient::default() }
    }

    fn transient(&self, message: impl AsRef<str>) -> CallError {
        CallError::Transient { url: redact_url(&self.url), message: redact_in(message.as_ref(), &self.url) }
    }

    fn refused(&self, message: impl AsRef<str>) -> CallError {
        CallError::Refused { url: redact_url(&self.url), message: redact_in(message.as_ref(), &self.url) }
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, CallError> {
        self.client.get().map_err(|e| self.transient(e.to_string()))
    }

    /// Calls `method` with `request`; the reply decoded, within `timeout`.
    pub fn call<Req: Message, Rep: Message + Default>(
        &self,
        method: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Rep, CallError> {
        let response = self
            .client()?
            .post(format!("{}/twirp/api.ZkvmService/{method}", self.url))
            .header("content-type", "application/protobuf")
            .timeout(timeout)
            .body(request.encode_to_vec())
            .send()
            .map_err(|e| {
                if e.is_timeout() {
                    self.transient(format!("{method}: no reply within {}s", timeout.as_secs()))
                } else {
                    self.transient(format!("{method}: {e}"))
                }
            })?;
        let status = response.status();
        let mut body = Vec::new();
        response
            .take(MAX_REPLY_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| self.transient(format!("{method}: reading the reply: {e}")))?;
        if body.len() as u64 > MAX_REPLY_BYTES {
            return Err(self.refused(format!("{method}: reply over {MAX_REPLY_BYTES} bytes")));
        }
        if !status.is_success() {
            return Err(self.twirp_error(method, status.as_u16(), &body));
        }
        Rep::decode(body.as_slice()).map_err(|e| self.refused(format!("{method}: reply is not protobuf: {e}")))
    }

    /// A Twirp error reply: JSON `{code, msg}`, its kind by code (or by status when it is not JSON).
    fn twirp_error(&self, method: &str, status: u16, body: &[u8]) -> CallError {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let code = v["code"].as_str().unwrap_or_default().to_string();
        let msg = v["msg"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).to_string());
        let message = format!("{method}: HTTP {status} {}: {}", clip(&code), clip(&msg));
        let passes = matches!(code.as_str(), "unavailable" | "resource_exhausted" | "deadline_exceeded" | "internal")
            || (code.is_empty() && status >= 500);
        if passes { self.transient(message) } else { self.refused(message) }
    }
}
