//! What a dashboard request can fail with, and the HTTP answer for each (a
//! JSON `{"error": …}` with a sentence the operator can act on).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// Too many reads at once, or too many open streams.
    #[error("{0}")]
    Busy(String),
    /// A `Host` that is neither an IP address nor localhost: a page of another
    /// site reaching the node through DNS rebinding.
    #[error("the dashboard answers requests for an IP address or localhost only (Host: {0})")]
    Host(String),
    #[error("reading the node's state failed: {0}")]
    Read(String),
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = match &self {
            DashboardError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DashboardError::NotFound(_) => StatusCode::NOT_FOUND,
            DashboardError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            DashboardError::Host(_) => StatusCode::MISDIRECTED_REQUEST,
            DashboardError::Read(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, axum::Json(serde_json::json!({"error": self.to_string()}))).into_response()
    }
}
