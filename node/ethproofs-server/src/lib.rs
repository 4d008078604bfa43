//! `slotproof ethproofs-server`: an Ethproofs-compatible service for testnets
//! (specs/submission.md §4), under the same `/api/v0` base path: clusters, the
//! proof lifecycle, `GET /proofs`, `GET /blocks/{block}`, proof downloads, the
//! same per-key rate limit and 429, 409 on a second proved, plain-text
//! validation errors, and an HTML page of blocks. State in RocksDB.
//!
//! It owns the served API and its database. It never submits anything and
//! never defines the request and response bodies: those are
//! `slotproof_submit::api`, shared with the client, and this crate depends on
//! `slotproof-submit` (never the other way round).
//!
//! Modules, in the order data flows: `config` and `store` (state on disk),
//! `reply` (refusals in the service's shapes, body checks), `state` (what the
//! handlers share: teams and their rate-limit windows), `auth` (the key and
//! the rate limit, checked before any body is read), then one module per
//! route group (`clusters`, `proofs`, `blocks`, `page`); this file wires them
//! into a router.

pub mod config;
pub mod error;

mod auth;
mod blocks;
mod clusters;
mod page;
mod proofs;
mod reply;
mod state;
mod store;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, patch, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

pub use config::{API_KEYS_ENV, KeySources, RateLimit, ServerConfig, api_keys};
pub use error::ServerError;
pub use page::PAGE_ROWS;
pub use state::{AppState, state};

/// A `proved` body up to 16 MiB: its proof travels base64 in the one call.
pub const PROVED_BODY_LIMIT: usize = 16 << 20;
/// Every other body (a cluster, a status call) up to 64 KiB: the largest
/// valid one is a few hundred bytes.
pub const BODY_LIMIT: usize = 64 << 10;

/// Every route of the service, over `state`. The key (and, for the status
/// calls and `GET /proofs`, the rate limit) is checked by a layer in front
/// of the handler, so a refused request's body is never read.
pub fn router(state: Arc<AppState>) -> Router {
    let rate_limited = Router::new()
        .route("/api/v0/proofs/queued", post(proofs::queued))
        .route("/api/v0/proofs/proving", post(proofs::proving))
        .route("/api/v0/proofs/proved", post(proofs::proved).layer(DefaultBodyLimit::max(PROVED_BODY_LIMIT)))
        .route("/api/v0/proofs", get(proofs::list_proofs))
        .route_layer(from_fn_with_state(state.clone(), auth::rate_limited));
    let authenticated = Router::new()
        .route("/api/v0/clusters", get(clusters::list_clusters).post(clusters::create_cluster))
        .route("/api/v0/clusters/{id}", patch(clusters::update_cluster))
        .route("/api/v0/proofs/download/{id}", get(proofs::download))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticated));
    Router::new()
        .route("/", get(page::index_page))
        .route("/api/v0/blocks/{block}", get(blocks::get_block))
        .merge(rate_limited)
        .merge(authenticated)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` turns true, then finishes the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    info!(target: "slotproof::ethproofs_server", addr = ?listener.local_addr().ok(), teams = state.teams(), "ethproofs-compatible server on /api/v0");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
}
