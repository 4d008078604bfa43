//! `/`: an HTML table of the newest proofs, by block, with each cluster's
//! status, proving time and proof size, newest block first. Read-only and
//! unauthenticated, so bounded: it reads [`PAGE_ROWS`] proof rows at most,
//! however many the store holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

use crate::reply::internal;
use crate::state::AppState;
use crate::store::{ProofRow, proof_prefix};

/// How many proof rows the page shows: the newest blocks' (the oldest block
/// shown may be cut short).
pub const PAGE_ROWS: usize = 200;

fn escape(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub async fn index_page(State(s): State<Arc<AppState>>) -> Response {
    let rows: Vec<ProofRow> = match s.store.scan_newest(&proof_prefix(None), PAGE_ROWS) {
        Ok(rows) => rows,
        Err(e) => return internal(&e),
    };
    let mut by_block: BTreeMap<u64, Vec<&ProofRow>> = BTreeMap::new();
    for r in &rows {
        by_block.entry(r.block_number).or_default().push(r);
    }
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>slotproof ethproofs-server</title>\
         <style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:left}}</style></head><body>\
         <h1>Blocks</h1><p>The newest proofs, {PAGE_ROWS} at most.</p>\
         <table><tr><th>block</th><th>cluster</th><th>status</th><th>proving time</th><th>size</th></tr>",
    );
    for (block, rs) in by_block.iter().rev() {
        for r in rs {
            let time = r.proving_time.map_or("-".to_string(), |t| format!("{:.2} s", t as f64 / 1e3));
            let size = r.size_bytes.map_or("-".to_string(), |b| format!("{b} B"));
            html.push_str(&format!(
                "<tr><td>{block}</td><td>{}</td><td>{}</td><td>{time}</td><td>{size}</td></tr>",
                escape(&format!("{}#{}", r.team_id.get(..8).unwrap_or(&r.team_id), r.cluster_index)),
                r.proof_status.as_str()
            ));
        }
    }
    html.push_str("</table></body></html>");
    Html(html).into_response()
}
