//! The HTTP API (specs/proof-engine.md §2), route for route zkboost's
//! `openapi.json`: proof requests (SSZ `NewPayloadRequest` bodies), the SSE
//! event stream with its per-root catch-up replay, proof downloads,
//! verifications, the offered proof types, `/health` and `/metrics`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt};
use slotproof_payload::{NewPayloadRequest, to_block_json};
use slotproof_primitives::Hash32;
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::engine::{Accepted, ProofEngine};
use crate::error::ApiError;
use crate::types::{
    EngineEvent, ProofRequestResponse, ProofStatus, ProofTypesResponse, ProofVerificationResponse, hash256,
    parse_hash256,
};

/// zkboost's keep-alive: an SSE comment every 15 s.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

type Params = HashMap<String, String>;

pub fn router(engine: Arc<ProofEngine>) -> Router {
    Router::new()
        .route("/v1/execution_proof_requests", get(events).post(request_proofs))
        .route("/v1/execution_proofs/{root}/{proof_type}", get(download))
        .route("/v1/execution_proof_verifications", axum::routing::post(verify))
        .route("/v1/proof_types", get(proof_types))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/metrics", get(metrics))
        .with_state(engine)
}

/// Serves until `shutdown`.
pub async fn serve(listener: TcpListener, engine: Arc<ProofEngine>, shutdown: CancellationToken) {
    let result = axum::serve(listener, router(engine)).with_graceful_shutdown(shutdown.cancelled_owned()).await;
    if let Err(e) = result {
        warn!(target: "slotproof::proof_engine", error = %e, "proof-engine listener stopped");
    }
}

fn params(q: Result<Query<Params>, QueryRejection>) -> Result<Params, ApiError> {
    q.map(|Query(p)| p).map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))
}

fn root_param(p: &Params, name: &str) -> Result<Option<Hash32>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(s) => parse_hash256(s)
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("{name} must be 0x and 64 hex digits, got {s:?}"))),
    }
}

async fn body_bytes(engine: &ProofEngine, body: Body) -> Result<Bytes, ApiError> {
    let limit = engine.limits.body_bytes;
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::TooLarge(format!("body unreadable or over {limit} bytes: {e}")))
}

/// `POST /v1/execution_proof_requests?proof_types=…`
async fn request_proofs(
    State(engine): State<Arc<ProofEngine>>,
    q: Result<Query<Params>, QueryRejection>,
    body: Body,
) -> Result<axum::Json<ProofRequestResponse>, ApiError> {
    let result = accept(&engine, q, body).await;
    match &result {
        Ok(_) => {
            engine.metrics.requests.inc();
        }
        Err(e) => {
            engine.metrics.refused.inc();
            info!(target: "slotproof::proof_engine", status = e.status().as_u16(), error = %e, "proof request refused");
        }
    };
    result
}

async fn accept(
    engine: &Arc<ProofEngine>,
    q: Result<Query<Params>, QueryRejection>,
    body: Body,
) -> Result<axum::Json<ProofRequestResponse>, ApiError> {
    let p = params(q)?;
    let types = engine
        .parse_types(p.get("proof_types").map(String::as_str))
        .map_err(|r| ApiError::BadRequest(r.to_string()))?;
    let bytes = body_bytes(engine, body).await?;
    let permit = engine.decoding.clone().acquire_owned().await.map_err(|_| ApiError::Internal("closing".into()))?;
    let max_txs = engine.limits.request_transactions;
    // Decoding, re-rooting and rebuilding the header are CPU work: off the async
    // threads, a bounded number at once (the permit goes with the work).
    let (root, block) = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let request =
            NewPayloadRequest::from_ssz(&bytes).map_err(|e| ApiError::BadRequest(format!("invalid SSZ body: {e}")))?;
        let txs = request.payload.transactions.len();
        if txs > max_txs {
            return Err(ApiError::BadRequest(format!(
                "invalid payload: {txs} transactions, more than the {max_txs} taken"
            )));
        }
        let root = request.root().map_err(|e| ApiError::BadRequest(format!("invalid SSZ body: {e}")))?;
        let block = to_block_json(&request).map_err(|e| ApiError::BadRequest(format!("invalid payload: {e}")))?;
        Ok::<_, ApiError>((root, block))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("decoding the request: {e}")))??;
    let new = engine.claim(root, &types).map_err(|e| ApiError::Internal(format!("failed to enqueue proof: {e}")))?;
    if !new.is_empty() {
        let zkvms: Vec<String> = new.iter().filter_map(|t| engine.zkvm_of(t)).collect();
        let accepted = Accepted { root, block: Arc::new(block), zkvms };
        if let Err(e) = engine.backend.submit(accepted) {
            engine.unclaim(root, &new);
            return Err(ApiError::Internal(format!("failed to enqueue proof: {e}")));
        }
    }
    info!(target: "slotproof::proof_engine", root = %root, requested = %types.join(","), new = new.len(), "proof request accepted");
    Ok(axum::Json(ProofRequestResponse { new_payload_request_root: hash256(&root) }))
}

fn sse_event(e: &EngineEvent) -> Event {
    Event::default().event(e.name()).data(e.data().to_string())
}

/// A stream's place among the bounded streams; the gauge follows it.
struct Subscribed {
    engine: Arc<ProofEngine>,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.engine.metrics.subscribers.dec();
    }
}

/// `GET /v1/execution_proof_requests[?new_payload_request_root=…]`
async fn events(
    State(engine): State<Arc<ProofEngine>>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let p = params(q)?;
    let filter = root_param(&p, "new_payload_request_root")?;
    let permit = engine.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::Busy(format!("{} event streams are open already (the bound)", engine.limits.subscribers))
    })?;
    engine.metrics.subscribers.inc();
    let guard = Subscribed { engine: engine.clone(), _place: permit };
    // Subscribe before the replay, so nothing completing in between is missed.
    let rx = engine.subscribe();
    let replay: Vec<Result<Event, Infallible>> = filter
        .map(|root| {
            engine
                .held_types(&root)
                .into_iter()
                .map(|proof_type| Ok(sse_event(&EngineEvent::Complete { root, proof_type })))
                .collect()
        })
        .unwrap_or_default();
    let live = stream::unfold((rx, guard), move |(mut rx, guard)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if filter.is_none_or(|r| r == e.root()) => return Some((Ok(sse_event(&e)), (rx, guard))),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    debug!(target: "slotproof::proof_engine", missed = n, "a slow event stream missed events");
                    continue;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream::iter(replay).chain(live)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// `GET /v1/execution_proofs/{root}/{proof_type}`
async fn download(
    State(engine): State<Arc<ProofEngine>>,
    Path((root, proof_type)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let parsed = parse_hash256(&root).ok_or_else(|| {
        ApiError::BadRequest(format!("new_payload_request_root must be 0x and 64 hex digits, got {root:?}"))
    })?;
    let bytes = engine
        .proof(&parsed, &proof_type)
        .ok_or_else(|| ApiError::NotFound(format!("proof not found for root {root} and type {proof_type}")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes.to_vec()).into_response())
}

/// `POST /v1/execution_proof_verifications?new_payload_request_root=…&proof_type=…`
async fn verify(
    State(engine): State<Arc<ProofEngine>>,
    q: Result<Query<Params>, QueryRejection>,
    body: Body,
) -> Result<axum::Json<ProofVerificationResponse>, ApiError> {
    let p = params(q)?;
    let root = root_param(&p, "new_payload_request_root")?
        .ok_or_else(|| ApiError::BadRequest("new_payload_request_root is required".into()))?;
    let proof_type = p.get("proof_type").ok_or_else(|| ApiError::BadRequest("proof_type is required".into()))?;
    let offer = engine
        .offer(proof_type)
        .filter(|o| o.info.can_verify)
        .ok_or_else(|| ApiError::NotFound(format!("unknown proof_type: {proof_type}")))?
        .clone();
    let proof = body_bytes(&engine, body).await?;
    let verdict = match engine.known(&root) {
        None => Err(format!("no block with root {root} is known here")),
        Some(block) => {
            let _permit = engine
                .verifying
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| ApiError::Internal("verifier pool closed".into()))?;
            let backend = engine.backend.clone();
            let zkvm = offer.zkvm.clone();
            // A verifier that panics has refused the proof; the API still answers.
            tokio::task::spawn_blocking(move || backend.verify(&zkvm, block, &proof))
                .await
                .unwrap_or_else(|e| Err(format!("the verifier failed: {e}")))
        }
    };
    let status = match &verdict {
        Ok(()) => ProofStatus::Valid,
        Err(why) => {
            info!(target: "slotproof::proof_engine", root = %root, proof_type = %proof_type, reason = %why, "proof INVALID");
            ProofStatus::Invalid
        }
    };
    engine.count_verification(status);
    Ok(axum::Json(ProofVerificationResponse { status }))
}

/// `GET /v1/proof_types`
async fn proof_types(State(engine): State<Arc<ProofEngine>>) -> axum::Json<ProofTypesResponse> {
    axum::Json(ProofTypesResponse { proof_types: engine.proof_types() })
}

async fn metrics(State(engine): State<Arc<ProofEngine>>) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &engine.metrics.registry()).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}
