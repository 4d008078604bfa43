//! The operator's dashboard (specs/dashboard.md): a page at `/` served from
//! the binary (HTML, CSS and JS embedded; nothing fetched from elsewhere),
//! filled from the first load by a snapshot written into the page, then kept
//! live over server-sent events (`/events`). Also the JSON it reads
//! (`/api/dashboard`, `/api/blocks/{number}`) and each proof's download
//! (`/proofs/{number}/{hash}/{zkvm}`). It reads the node's state and never
//! changes it. Every name from outside (zkVMs, peers, workers) reaches the
//! page as data and is shown as text, never as markup.

mod error;
mod feed;
mod view;

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use slotproof_p2p::wire::SignedProof;
use slotproof_primitives::{Hash32, now_ms};
use slotproof_submit::OUTBOX_QUEUE;

pub use error::DashboardError;
pub use feed::{Feed, MAX_STREAMS, STREAM_LIFETIME, Subscription};
pub use view::{BlockView, SNAPSHOT_BLOCKS, Snapshot, Sources, recent_blocks};

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
/// Where the page's first snapshot goes (inside a JSON script element).
const SNAPSHOT_MARK: &str = "{{SNAPSHOT}}";
/// The page loads only its own scripts and styles, and talks only to this node.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// Outbox entries a block's detail lists at most.
const DETAIL_OUTBOX_ENTRIES: usize = 64;
/// Comment keep-alives on a quiet stream (proxies close idle connections).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

type Reply<T> = Result<T, DashboardError>;

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
        .layer(middleware::from_fn(local_host_only))
        .with_state(feed)
}

/// A `Host` naming an IP address or localhost (any port), or none: a page of
/// another site that rebinds its own name to this node's address sends its
/// name, and is refused (specs/dashboard.md §1).
fn local_host(host: Option<&str>) -> bool {
    let Some(host) = host else { return true };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

async fn local_host_only(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).map(|h| h.to_str().unwrap_or("(not text)"));
    if local_host(host) {
        return next.run(request).await;
    }
    let shown: String = host.unwrap_or_default().chars().take(64).collect();
    DashboardError::Host(shown).into_response()
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response();
    r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The page, with a snapshot inside so the first paint already shows the blocks.
async fn index(State(feed): State<Arc<Feed>>) -> Reply<Response> {
    let page = page(&feed.current().await?);
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The page with `snapshot` (JSON) inside. `<` only occurs inside JSON
/// strings, where `\u003c` means the same; so no name can close the script
/// element it sits in.
fn page(snapshot: &str) -> String {
    INDEX.replacen(SNAPSHOT_MARK, &snapshot.replace('<', "\\u003c"), 1)
}

async fn snapshot(State(feed): State<Arc<Feed>>) -> Reply<Response> {
    Ok(([(header::CONTENT_TYPE, "application/json")], feed.current().await?.to_string()).into_response())
}

/// `GET /events`: a `snapshot` event at once, then one per change, until the
/// node stops or the stream's lifetime is over.
async fn events(State(feed): State<Arc<Feed>>) -> Reply<Response> {
    let subscription = feed
        .subscribe()
        .ok_or_else(|| DashboardError::Busy(format!("{MAX_STREAMS} dashboard streams are open already")))?;
    let first = feed.current().await?;
    Ok(Sse::new(live(first, subscription)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}

/// The first snapshot, then each new one until the subscription ends.
fn live(first: Arc<str>, subscription: Subscription) -> impl Stream<Item = Result<Event, Infallible>> {
    let event = |data: &str| Ok(Event::default().event("snapshot").data(data));
    let rest = stream::unfold(subscription, move |mut sub| async move {
        let data = sub.next().await?;
        Some((event(&data), sub))
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

/// `GET /api/blocks/{number}`.
#[derive(Serialize)]
struct BlockDetail {
    number: u64,
    /// More than one after a reorg.
    blocks: Vec<BlockView>,
    /// What the Ethproofs outbox still holds for the block; null without submission.
    outbox: Option<Vec<OutboxEntry>>,
}

fn outbox_of(s: &Sources, number: u64) -> Reply<Option<Vec<OutboxEntry>>> {
    if s.ethproofs.is_none() {
        return Ok(None);
    }
    let now = now_ms();
    let tasks = s.queue.block_tasks(OUTBOX_QUEUE, number, DETAIL_OUTBOX_ENTRIES);
    let entries = tasks
        .map_err(|e| DashboardError::Read(e.to_string()))?
        .into_iter()
        .map(|t| OutboxEntry {
            zkvm: t.target,
            state: t.state.label(now),
            attempts: t.attempts,
            last_error: t.last_error,
        })
        .collect();
    Ok(Some(entries))
}

async fn block_detail(State(feed): State<Arc<Feed>>, Path(number): Path<String>) -> Reply<axum::Json<BlockDetail>> {
    let number =
        number.parse::<u64>().map_err(|_| DashboardError::BadRequest("a block number is a decimal integer"))?;
    let detail = feed
        .read(move |s| {
            let records = s.store.at_height(number).map_err(|e| DashboardError::Read(e.to_string()))?;
            if records.is_empty() {
                return Err(DashboardError::NotFound(format!("no record of block {number} (not seen yet, or pruned)")));
            }
            let blocks = records.iter().map(|r| BlockView { summary: r.into(), closed: r.closed }).collect();
            Ok(BlockDetail { number, blocks, outbox: outbox_of(s, number)? })
        })
        .await?;
    Ok(axum::Json(detail))
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
) -> Reply<Response> {
    let bad = DashboardError::BadRequest("expected /proofs/{decimal number}/{0x… block hash}/{zkVM}[?node=ID]");
    let (Ok(number), Ok(hash)) = (number.parse::<u64>(), hash.parse::<Hash32>()) else { return Err(bad) };
    if slotproof_primitives::names::check_zkvm_name(&zkvm).is_err()
        || q.node.as_ref().is_some_and(|n| slotproof_primitives::names::check_node_id(n).is_err())
    {
        return Err(bad);
    }
    let name = zkvm.clone();
    let bytes = feed
        .read(move |s| {
            let read = |e: crate::results::ResultsError| DashboardError::Read(e.to_string());
            match q.node {
                None => s.store.own_proof(number, &hash, &name).map_err(read),
                Some(node) => Ok(s
                    .store
                    .signed_of(&hash, &name, &node)
                    .map_err(read)?
                    .and_then(|b| SignedProof::decode(&b).ok())
                    .filter(|p| p.message.number == number)
                    .map(|p| p.message.proof.proof_data.to_vec())),
            }
        })
        .await?
        .ok_or_else(|| {
            DashboardError::NotFound(format!(
                "no proof of {zkvm} for block {number} here (own proofs are kept for the newest {} blocks)",
                crate::results::OWN_PROOF_BLOCKS
            ))
        })?;
    let file: String = zkvm.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let mut r = ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"block-{number}-{file}.proof\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// specs/dashboard.md §1: a hostile name cannot end the snapshot's script
    /// element, and the JSON read back from the element is the same.
    #[test]
    fn a_name_in_the_snapshot_cannot_break_out_of_the_page() {
        let hostile = "</script><script>alert(1)</script><!--";
        let json = serde_json::json!({"zkvms": [hostile], "blocks": []}).to_string();
        let html = page(&json);
        let start = html.find(r#"id="initial-snapshot">"#).unwrap() + r#"id="initial-snapshot">"#.len();
        let end = start + html[start..].find("</script>").unwrap();
        let inside = &html[start..end];
        assert!(!inside.contains('<'), "{inside}");
        let back: serde_json::Value = serde_json::from_str(inside).unwrap();
        assert_eq!(back["zkvms"][0], hostile);
        assert_eq!(html.matches("<script").count(), 2, "only the page's own two script elements");
    }

    /// specs/dashboard.md §1: IP addresses and localhost (any port) pass; a
    /// name, as a DNS-rebinding page sends, does not.
    #[test]
    fn only_local_hosts_reach_the_dashboard() {
        for ok in [
            None,
            Some("127.0.0.1:9650"),
            Some("localhost"),
            Some("LOCALHOST:80"),
            Some("[::1]:9650"),
            Some("10.0.0.7"),
        ] {
            assert!(local_host(ok), "{ok:?}");
        }
        for refused in [Some("evil.example:9650"), Some("evil.example"), Some("127.0.0.1.evil.example"), Some("")] {
            assert!(!local_host(refused), "{refused:?}");
        }
    }
}
