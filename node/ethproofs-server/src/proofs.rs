//! The proof lifecycle (`POST /api/v0/proofs/queued|proving|proved`), the
//! list (`GET /api/v0/proofs`) and downloads (`GET
//! /api/v0/proofs/download/{id}`), specs/submission.md §4. One row per
//! (block, team, cluster, cluster version); a proved row is final (409).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use slotproof_primitives::now_ms;
use slotproof_submit::api::iso8601;

use crate::blocks::{ensure_block, number_of_hash};
use crate::reply::{Fields, Refusal, body_object, failed, invalid, query_error, refuse};
use crate::state::{AppState, Team};
use crate::store::{Cluster, ProofRow, ProofStatus, block_key, cluster_key, proof_key, proof_prefix};

pub async fn queued(
    State(s): State<Arc<AppState>>,
    Extension(t): Extension<Arc<Team>>,
    b: axum::body::Bytes,
) -> Response {
    lifecycle(&s, &t.id, &b, ProofStatus::Queued).await.unwrap_or_else(|r| *r)
}

pub async fn proving(
    State(s): State<Arc<AppState>>,
    Extension(t): Extension<Arc<Team>>,
    b: axum::body::Bytes,
) -> Response {
    lifecycle(&s, &t.id, &b, ProofStatus::Proving).await.unwrap_or_else(|r| *r)
}

pub async fn proved(
    State(s): State<Arc<AppState>>,
    Extension(t): Extension<Arc<Team>>,
    b: axum::body::Bytes,
) -> Response {
    lifecycle(&s, &t.id, &b, ProofStatus::Proved).await.unwrap_or_else(|r| *r)
}

/// Any team's proofs: authenticated and rate-limited by the layers in front.
pub async fn list_proofs(State(s): State<Arc<AppState>>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    list(&s, &q).unwrap_or_else(|r| *r)
}

/// Any team's proof bytes: authenticated by the layer in front.
pub async fn download(State(s): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Response {
    proof_bytes(&s, &id).unwrap_or_else(|r| *r)
}

/// What a `proved` call adds to its row.
struct ProvedFields {
    /// Whole milliseconds, at least 1.
    time: u64,
    cycles: Option<u64>,
    bytes: Vec<u8>,
    verifier: Option<String>,
}

/// A checked lifecycle body: (block, cluster index, the proved fields for `proved`).
fn parse_lifecycle(f: &Fields<'_>, status: ProofStatus) -> Result<(u64, u64, Option<ProvedFields>), Refusal> {
    let block = f.number("block_number", true, None, Some(0.0))?.unwrap_or(0.0);
    let cluster = f.number("cluster_id", true, None, None)?.unwrap_or(0.0);
    if block.fract() != 0.0 || cluster.fract() != 0.0 {
        return Err(invalid("block_number and cluster_id must be whole numbers"));
    }
    if status != ProofStatus::Proved {
        f.only(&["block_number", "cluster_id"])?;
        return Ok((block as u64, cluster as u64, None));
    }
    f.only(&["block_number", "cluster_id", "proving_time", "proving_cycles", "proof", "verifier_id"])?;
    let time = f.number("proving_time", true, Some(0.0), None)?.unwrap_or(1.0);
    let cycles = f.integer("proving_cycles", false)?;
    let proof = f.string("proof", None)?.ok_or_else(|| invalid("proof is required"))?;
    let bytes = BASE64.decode(proof.as_bytes()).map_err(|_| invalid("proof must be base64"))?;
    let verifier = f.string("verifier_id", None)?;
    let proved = ProvedFields { time: time.round().max(1.0) as u64, cycles, bytes, verifier };
    Ok((block as u64, cluster as u64, Some(proved)))
}

fn new_row(proof_id: u64, block: u64, team: &str, cluster: &Cluster, status: ProofStatus, now: &str) -> ProofRow {
    ProofRow {
        proof_id,
        block_number: block,
        cluster_index: cluster.index,
        cluster_uuid: cluster.uuid.clone(),
        cluster_version: cluster.version,
        team_id: team.to_string(),
        proof_status: status,
        created_at: now.to_string(),
        queued_timestamp: None,
        proving_timestamp: None,
        proved_timestamp: None,
        proving_time: None,
        proving_cycles: None,
        size_bytes: None,
        verifier_id: None,
    }
}

async fn lifecycle(s: &AppState, team: &str, body: &[u8], status: ProofStatus) -> Result<Response, Refusal> {
    let (block, index, proved) = parse_lifecycle(&Fields(&body_object(body)?), status)?;
    let Some(cluster) = s.store.get::<Cluster>(&cluster_key(team, index)).map_err(failed)? else {
        return Err(refuse(StatusCode::NOT_FOUND, "Cluster not found"));
    };
    ensure_block(s, block).await.map_err(failed)?;
    let _w = s.write_lock();
    let key = proof_key(block, team, index, cluster.version);
    let existing: Option<ProofRow> = s.store.get(&key).map_err(failed)?;
    if existing.as_ref().is_some_and(|r| r.proof_status == ProofStatus::Proved) {
        return Err(refuse(StatusCode::CONFLICT, "Proof already proved"));
    }
    let now = iso8601(now_ms());
    let mut row = match existing {
        Some(r) => r,
        None => new_row(s.store.next_id("counter/proof").map_err(failed)?, block, team, &cluster, status, &now),
    };
    row.proof_status = status;
    match status {
        ProofStatus::Queued => row.queued_timestamp = Some(now),
        ProofStatus::Proving => row.proving_timestamp = Some(now),
        ProofStatus::Proved => row.proved_timestamp = Some(now),
    }
    if let Some(p) = proved {
        row.proving_time = Some(p.time);
        row.proving_cycles = p.cycles;
        row.size_bytes = Some(p.bytes.len() as u64);
        row.verifier_id = p.verifier;
        s.store.put_proof_bytes(row.proof_id, &p.bytes).map_err(failed)?;
    }
    s.store.put(&key, &row).map_err(failed)?;
    Ok(axum::Json(json!({"proof_id": row.proof_id})).into_response())
}

/// A row as `GET /proofs` lists it: the published fields, unknown ones left out.
fn proof_json(s: &AppState, r: &ProofRow) -> Value {
    let mut v = json!({"block_number": r.block_number, "cluster_id": r.cluster_index, "proof_id": r.proof_id,
        "proof_status": r.proof_status, "team_id": r.team_id, "created_at": r.created_at});
    let optional = [
        ("queued_timestamp", r.queued_timestamp.clone().map(Value::from)),
        ("proving_timestamp", r.proving_timestamp.clone().map(Value::from)),
        ("proved_timestamp", r.proved_timestamp.clone().map(Value::from)),
        ("proving_time", r.proving_time.map(Value::from)),
        ("proving_cycles", r.proving_cycles.map(Value::from)),
        ("size_bytes", r.size_bytes.map(Value::from)),
    ];
    for (k, val) in optional {
        if let Some(val) = val {
            v[k] = val;
        }
    }
    if let Ok(Some(b)) = s.store.get::<Value>(&block_key(r.block_number)) {
        v["block"] = b;
    }
    v
}

/// `limit` (1..=1000, default 100) and `offset` (default 0), or the 422.
fn page_of(q: &BTreeMap<String, String>) -> Result<(usize, usize), Refusal> {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return Err(Box::new(query_error("limit", "limit must be an integer from 1 to 1000"))),
    };
    let offset = match q.get("offset").map(|o| o.parse::<usize>()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(_) => return Err(Box::new(query_error("offset", "offset must be a non-negative integer"))),
    };
    Ok((limit, offset))
}

/// The `block` query parameter.
enum BlockFilter {
    All,
    Number(u64),
    /// A hash of no block this server keeps: nothing matches.
    UnknownHash,
}

fn block_filter(s: &AppState, q: &BTreeMap<String, String>) -> Result<BlockFilter, Refusal> {
    match q.get("block") {
        None => Ok(BlockFilter::All),
        Some(b) if b.starts_with("0x") && b.len() == 66 => {
            Ok(number_of_hash(s, b).map_err(failed)?.map_or(BlockFilter::UnknownHash, BlockFilter::Number))
        }
        Some(b) => match b.parse::<u64>() {
            Ok(n) => Ok(BlockFilter::Number(n)),
            Err(_) => Err(Box::new(query_error("block", "block must be a block number or a 0x-prefixed 32-byte hash"))),
        },
    }
}

fn list(s: &AppState, q: &BTreeMap<String, String>) -> Result<Response, Refusal> {
    let (limit, offset) = page_of(q)?;
    let block = match block_filter(s, q)? {
        BlockFilter::All => None,
        BlockFilter::Number(n) => Some(n),
        BlockFilter::UnknownHash => {
            let empty = json!({"proofs": [], "total_count": 0, "limit": limit, "offset": offset});
            return Ok(axum::Json(empty).into_response());
        }
    };
    let clusters: Option<Vec<&str>> = q.get("clusters").map(|c| c.split(',').map(str::trim).collect());
    let rows: Vec<ProofRow> = s.store.scan(&proof_prefix(block)).map_err(failed)?;
    let rows: Vec<&ProofRow> =
        rows.iter().filter(|r| clusters.as_ref().is_none_or(|c| c.contains(&r.cluster_uuid.as_str()))).collect();
    let page: Vec<Value> = rows.iter().skip(offset).take(limit).map(|r| proof_json(s, r)).collect();
    Ok(axum::Json(json!({"proofs": page, "total_count": rows.len(), "limit": limit, "offset": offset})).into_response())
}

fn proof_bytes(s: &AppState, id: &str) -> Result<Response, Refusal> {
    let Ok(id) = id.parse::<u64>() else { return Err(refuse(StatusCode::NOT_FOUND, "No proof found")) };
    match s.store.proof_bytes(id).map_err(failed)? {
        Some(bytes) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()),
        None => Err(refuse(StatusCode::NOT_FOUND, "No proof found")),
    }
}
