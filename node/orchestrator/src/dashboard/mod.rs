//! The operator's dashboard (specs/dashboard.md): a page at `/` served from
//! the binary (HTML, CSS and JS embedded; nothing fetched from elsewhere),
//! filled from the first load by a snapshot written into the page, then kept
//! live over server-sent events (`/events`). Also the JSON it reads
//! (`/api/dashboard`, `/api/blocks/{number}`) and each proof's download
//! (`/proofs/{number}/{hash}/{zkvm}`). It reads the node's state and never
//! changes it. Every name from outside (zkVMs, peers, workers) reaches the
//! page as data and is shown as text, never as markup.

mod feed;
mod view;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use slotproof_p2p::wire::SignedProof;
use slotproof_primitives::{Hash32, now_ms};
use slotproof_submit::OUTBOX_QUEUE;

pub use feed::{Feed, MAX_STREAMS};
pub use view::{SNAPSHOT_BLOCKS, Snapshot, Sources};

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
/// Where the page's first snapshot goes (inside a JSON script element).
const SNAPSHOT_MARK: &str = "{{SNAPSHOT}}";
/// The page loads only its own scripts and styles, and talks only to this node.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// Outbox entries a block's detail lists at most.
const DETAIL_OUTBOX_ENTRIES: usize = 64;
/// The largest proof served for download (the p2p proof bound).
const MAX_DOWNLOAD_BYTES: usize = 8 << 20;
/// Comment keep-alives on a quiet stream (proxies close idle connections).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// The dashboard's routes, with their state (the feed's task is run by the listener).
pub fn router(feed: Arc<Feed>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/assets/app.css", get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }))
        .route("/events", get(events))
        .route("/api/dashboard", get(snapshot))
        .route("/api/blocks/{number}", get(block_detail))
        .route("/proofs/{number}/{hash}/{zkvm}", get(download))
        .with_state(feed)
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// The page, with a snapshot inside so the first paint already shows the blocks.
async fn index(State(feed): State<Arc<Feed>>) -> Response {
    let page = page(&feed.current().await);
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The page with `snapshot` (JSON) inside. `<` only occurs inside JSON
/// strings, where `\u003c` means the same; so no name can close the script
/// element it sits in.
fn page(snapshot: &str) -> String {
    INDEX.replacen(SNAPSHOT_MARK, &snapshot.replace('<', "\\u003c"), 1)
}

async fn snapshot(State(feed): State<Arc<Feed>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], feed.current().await.to_string()).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// `GET /events`: a `snapshot` event at once, then one per change.
async fn events(State(feed): State<Arc<Feed>>) -> Response {
    let Some((permit, rx)) = feed.subscribe() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, format!("{MAX_STREAMS} dashboard streams are open already"));
    };
    let first = feed.current().await;
    Sse::new(live(first, permit, rx)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
}

fn live(
    first: Arc<str>,
    permit: tokio::sync::OwnedSemaphorePermit,
    rx: tokio::sync::watch::Receiver<Arc<str>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let event = |data: &str| Ok(Event::default().event("snapshot").data(data));
    let rest = stream::unfold((rx, permit), move |(mut rx, permit)| async move {
        // The sender lives as long as the feed; it going means shutdown.
        rx.changed().await.ok()?;
        let data = rx.borrow_and_update().clone();
        Some((event(&data), (rx, permit)))
    });
    stream::once(async move { event(&first) }).chain(rest)
}

/// An outbox entry of one block, for its detail.
#[derive(Serialize)]
struct OutboxEntry {
    zkvm: String,
    state: &'static str,
    attempts: u32,
    last_error: Option<String>,
}

/// `GET /api/blocks/{number}`: the block's records (more than one after a
/// reorg) and what the Ethproofs outbox still holds for it.
async fn block_detail(State(feed): State<Arc<Feed>>, Path(number): Path<String>) -> Response {
    let Ok(number) = number.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "a block number is a decimal integer");
    };
    let feed2 = feed.clone();
    let detail = tokio::task::spawn_blocking(move || {
        let s = feed2.sources();
        let records = s.store.at_height(number).map_err(|e| e.to_string())?;
        let now = now_ms();
        let outbox: Option<Vec<OutboxEntry>> = match &s.ethproofs {
            None => None,
            Some(_) => Some(
                s.queue
                    .view()
                    .map_err(|e| e.to_string())?
                    .tasks
                    .into_iter()
                    .filter(|t| t.queue == OUTBOX_QUEUE && t.block_number == number)
                    .take(DETAIL_OUTBOX_ENTRIES)
                    .map(|t| OutboxEntry {
                        zkvm: t.target,
                        state: t.state.label(now),
                        attempts: t.attempts,
                        last_error: t.last_error,
                    })
                    .collect(),
            ),
        };
        let blocks: Vec<view::BlockView> =
            records.iter().map(|r| view::BlockView { summary: r.into(), closed: r.closed }).collect();
        Ok::<_, String>(json!({"number": number, "blocks": blocks, "outbox": outbox}))
    })
    .await;
    match detail {
        Ok(Ok(body)) if body["blocks"].as_array().is_some_and(|b| !b.is_empty()) => axum::Json(body).into_response(),
        Ok(Ok(_)) => error(StatusCode::NOT_FOUND, format!("no record of block {number} (not seen, or pruned)")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "reading the block failed"),
    }
}

#[derive(Deserialize)]
struct ProofQuery {
    /// A proof another node made (its node id); absent: this node's own.
    node: Option<String>,
}

/// `GET /proofs/{number}/{hash}/{zkvm}[?node=ID]`: a proof's raw bytes.
async fn download(
    State(feed): State<Arc<Feed>>,
    Path((number, hash, zkvm)): Path<(String, String, String)>,
    Query(q): Query<ProofQuery>,
) -> Response {
    let (Ok(number), Ok(hash)) = (number.parse::<u64>(), hash.parse::<Hash32>()) else {
        return error(StatusCode::BAD_REQUEST, "expected /proofs/{decimal number}/{0x… block hash}/{zkVM}");
    };
    if zkvm.len() > 64 || q.node.as_ref().is_some_and(|n| n.len() > 128) {
        return error(StatusCode::BAD_REQUEST, "zkVM or node name too long");
    }
    let feed2 = feed.clone();
    let zkvm2 = zkvm.clone();
    let found = tokio::task::spawn_blocking(move || {
        let store = &feed2.sources().store;
        match q.node {
            None => store.own_proof(number, &hash, &zkvm2).map_err(|e| e.to_string()),
            Some(node) => {
                store.signed_by_root(&hash, &zkvm2, MAX_DOWNLOAD_BYTES * 4).map_err(|e| e.to_string()).map(|all| {
                    all.iter()
                        .filter_map(|b| SignedProof::decode(b).ok())
                        .find(|s| s.message.node_id[..] == *node.as_bytes() && s.message.number == number)
                        .map(|s| s.message.proof.proof_data.to_vec())
                })
            }
        }
    })
    .await;
    match found {
        Ok(Ok(Some(bytes))) => {
            let name: String =
                zkvm.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
            let disposition = format!("attachment; filename=\"block-{number}-{name}.proof\"");
            let mut r = ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response();
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            format!(
                "no proof of {zkvm} for block {number} here (own proofs are kept for the newest {} blocks)",
                crate::results::OWN_PROOF_BLOCKS
            ),
        ),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "reading the proof failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// specs/dashboard.md §1: a hostile name cannot end the snapshot's script
    /// element, and the JSON read back from the element is the same.
    #[test]
    fn a_name_in_the_snapshot_cannot_break_out_of_the_page() {
        let hostile = "</script><script>alert(1)</script><!--";
        let json = json!({"zkvms": [hostile], "blocks": []}).to_string();
        let html = page(&json);
        let start = html.find(r#"id="initial-snapshot">"#).unwrap() + r#"id="initial-snapshot">"#.len();
        let end = start + html[start..].find("</script>").unwrap();
        let inside = &html[start..end];
        assert!(!inside.contains('<'), "{inside}");
        let back: serde_json::Value = serde_json::from_str(inside).unwrap();
        assert_eq!(back["zkvms"][0], hostile);
        assert_eq!(html.matches("<script").count(), 2, "only the page's own two script elements");
    }
}
