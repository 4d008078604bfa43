//! The answers the real service gives when it refuses a request, in its
//! shapes: plain text for 400/401/404/409/500, `[{code, message, path}]` for
//! a 422, and the JSON body plus headers of a 429. Also the request-body
//! checks that produce the 400s. Nothing here touches state.

use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use slotproof_submit::ErrorChain;
use slotproof_submit::api::iso8601;
use tracing::warn;

/// A refusal: the response itself, built only on the refused path.
pub type Refusal = Box<Response>;

pub fn text(status: StatusCode, body: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.to_string()).into_response()
}

pub fn refuse(status: StatusCode, body: &str) -> Refusal {
    Box::new(text(status, body))
}

/// A 500; the cause chain goes to the log, never to the client.
pub fn internal(e: &(dyn std::error::Error + 'static)) -> Response {
    warn!(target: "slotproof::ethproofs_server", error = %ErrorChain(e), "internal error");
    text(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
}

/// A 500 as a refusal, for `?` in handlers.
pub fn failed<E: std::error::Error + 'static>(e: E) -> Refusal {
    Box::new(internal(&e))
}

/// A 400 `Invalid request: …`.
pub fn invalid(msg: &str) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, &format!("Invalid request: {msg}"))
}

/// A 422 as the service's validation library writes it: one issue naming the parameter.
pub fn query_error(path: &str, message: &str) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!([{"code": "invalid", "message": message, "path": [path]}])))
        .into_response()
}

/// The published 429: `Retry-After` in whole seconds (at least 1), the
/// remaining budget (0), when it resets, and the JSON body.
pub fn rate_limited(wait: Duration, now_ms: u64) -> Refusal {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let reset = iso8601(now_ms + wait.as_millis() as u64);
    let body = json!({"error": "Rate limit exceeded", "message": format!("Rate limit exceeded. Try again in {secs} seconds"), "retryAfter": secs});
    Box::new(
        (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::RETRY_AFTER, secs.to_string()),
                (header::HeaderName::from_static("x-ratelimit-remaining"), "0".to_string()),
                (header::HeaderName::from_static("x-ratelimit-reset"), reset),
            ],
            axum::Json(body),
        )
            .into_response(),
    )
}

/// A JSON object body, or the plain-text 400 the real service gives.
pub fn body_object(bytes: &[u8]) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(invalid("expected an object")),
        Err(e) => Err(invalid(&e.to_string())),
    }
}

/// Field checks as the published schemas state them.
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    /// Refuses any key outside `allowed` (the schemas are strict objects).
    pub fn only(&self, allowed: &[&str]) -> Result<(), Refusal> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(invalid(&format!("unrecognized key {k:?}"))),
            None => Ok(()),
        }
    }

    pub fn number(
        &self,
        key: &str,
        required: bool,
        min_exclusive: Option<f64>,
        min: Option<f64>,
    ) -> Result<Option<f64>, Refusal> {
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

    /// An integer > 0.
    pub fn integer(&self, key: &str, required: bool) -> Result<Option<u64>, Refusal> {
        match self.number(key, required, Some(0.0), None)? {
            Some(x) if x.fract() != 0.0 => Err(invalid(&format!("{key} must be an integer"))),
            Some(x) => Ok(Some(x as u64)),
            None => Ok(None),
        }
    }

    pub fn string(&self, key: &str, max: Option<usize>) -> Result<Option<String>, Refusal> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if max.is_some_and(|m| s.chars().count() > m) => {
                Err(invalid(&format!("{key} must be at most {} characters", max.unwrap_or(0))))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&format!("{key} must be a string"))),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Refusal> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(&format!("{key} must be a boolean"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        for (wait, secs) in [(Duration::from_millis(1), "1"), (Duration::from_millis(1500), "2"), (Duration::ZERO, "1")]
        {
            let r = rate_limited(wait, 0);
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(r.headers()[header::RETRY_AFTER], secs, "{wait:?}");
        }
    }
}
