//! The node's HTTP listener: `/health`, `/status` (JSON), `/metrics` (Prometheus).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use slotproof_queue::Queue;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::warn;

use crate::metrics::Metrics;
use crate::node::summary_of;
use crate::results::ResultStore;

#[derive(Clone, Debug, Default)]
pub struct StatusInfo {
    pub rpc_url: String,
    pub rpc_up: bool,
    pub head: Option<(u64, String)>,
    pub gaps: Vec<Value>,
    /// On a network: this node's id and its connected peers with their gossip scores.
    pub network: Option<Value>,
}

pub struct HttpState {
    pub store: Arc<ResultStore>,
    pub queue: Arc<Queue>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Mutex<StatusInfo>>,
}

/// Blocks listed by `/status`.
const RECENT_BLOCKS: usize = 20;

pub async fn serve(listener: TcpListener, state: Arc<HttpState>, mut shutdown: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        warn!(target: "slotproof::http", error = %e, "HTTP listener stopped");
    }
}

async fn health(State(s): State<Arc<HttpState>>) -> Response {
    let up = s.status.lock().unwrap_or_else(|e| e.into_inner()).rpc_up;
    let body = json!({"status": if up { "ok" } else { "degraded" }, "rpc_up": up});
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn status(State(s): State<Arc<HttpState>>) -> Response {
    let info = s.status.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let queues: serde_json::Map<String, Value> = match s.queue.stats() {
        Ok(stats) => stats
            .queues
            .into_iter()
            .map(|(q, c)| {
                (q, json!({"pending": c.pending + c.delayed, "leased": c.leased, "dead": c.dead, "done": c.done}))
            })
            .collect(),
        Err(_) => serde_json::Map::new(),
    };
    let recent: Vec<Value> = s
        .store
        .recent(RECENT_BLOCKS)
        .unwrap_or_default()
        .iter()
        .filter(|r| !r.orphaned)
        .map(|r| {
            let mut v = summary_of(r);
            v["closed"] = r.closed.into();
            v
        })
        .collect();
    let head = info.head.map(|(n, h)| json!({"number": n, "hash": h}));
    let body = json!({"rpc_url": info.rpc_url, "rpc_up": info.rpc_up, "head": head, "queues": queues,
        "recent_blocks": recent, "gaps": info.gaps, "network": info.network});
    axum::Json(body).into_response()
}

async fn metrics(State(s): State<Arc<HttpState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.encode())
        .into_response()
}
