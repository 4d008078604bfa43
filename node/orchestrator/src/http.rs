//! The node's HTTP listener: `/health`, `/status` (JSON), `/metrics`
//! (Prometheus), and the dashboard's page and feed (`dashboard`). Read-only:
//! it never changes the node's state. It stops last on shutdown, so `/health`
//! answers until the node has drained.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use slotproof_queue::Queue;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::dashboard::{self, Feed};
use crate::metrics::Metrics;
use crate::results::ResultStore;
use crate::status::SharedStatus;

pub struct HttpState {
    pub store: Arc<ResultStore>,
    pub queue: Arc<Queue>,
    pub metrics: Arc<Metrics>,
    pub status: SharedStatus,
    /// With submission: whether the service refuses this node's calls (specs/submission.md §2).
    pub ethproofs: Option<Arc<slotproof_submit::OutboxHealth>>,
    /// On the NATS backend: the remote workers heard from (specs/workers.md §4).
    pub workers: Option<Arc<slotproof_workers::Roster>>,
    /// The dashboard's snapshots and live feed (specs/dashboard.md).
    pub dashboard: Arc<Feed>,
}

/// Blocks listed by `/status`.
const RECENT_BLOCKS: usize = 20;

pub async fn serve(listener: TcpListener, state: Arc<HttpState>, shutdown: CancellationToken) {
    let feed = state.dashboard.clone();
    let app = Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(dashboard::router(feed.clone()));
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let (result, ()) = tokio::join!(server.into_future(), feed.run(shutdown));
    if let Err(e) = result {
        warn!(target: "slotproof::http", error = %e, "HTTP listener stopped");
    }
}

async fn health(State(s): State<Arc<HttpState>>) -> Response {
    let up = s.status.snapshot().rpc_up;
    let body = json!({"status": if up { "ok" } else { "degraded" }, "rpc_up": up});
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn queue_depths(queue: &Queue) -> serde_json::Map<String, Value> {
    match queue.stats() {
        Ok(stats) => stats
            .queues
            .into_iter()
            .map(|(q, c)| {
                (q, json!({"pending": c.pending + c.delayed, "leased": c.leased, "dead": c.dead, "done": c.done}))
            })
            .collect(),
        Err(_) => serde_json::Map::new(),
    }
}

async fn status(State(s): State<Arc<HttpState>>) -> Response {
    let info = s.status.snapshot();
    let store = s.store.clone();
    let recent =
        tokio::task::spawn_blocking(move || dashboard::recent_blocks(&store, RECENT_BLOCKS)).await.unwrap_or_default();
    let head = info.head.map(|h| json!({"number": h.number, "hash": h.hash}));
    let body = json!({"rpc_url": info.rpc_url, "rpc_up": info.rpc_up, "head": head, "queues": queue_depths(&s.queue),
        "recent_blocks": recent, "gaps": info.gaps, "network": info.network,
        "ethproofs": s.ethproofs.as_ref().map(|h| json!({"refused": h.refusal()})),
        "queue_backend": s.queue.backend(),
        "workers": s.workers.as_ref().map(|r| r.snapshot())});
    axum::Json(body).into_response()
}

async fn metrics(State(s): State<Arc<HttpState>>) -> Response {
    if let Some(r) = &s.workers {
        s.metrics.set_workers(&r.snapshot());
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.encode())
        .into_response()
}
