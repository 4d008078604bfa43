//! The gate in front of every authenticated route: the API key is checked,
//! and for the rate-limited routes the team's window charged, from the
//! request's headers alone, before its handler runs and so before a byte of
//! its body is read. A refused client costs the server no body and no state.
//! The admitted team travels to the handler as an `Extension<Arc<Team>>`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::reply::Refusal;
use crate::state::AppState;

/// The team of `req`'s key, charged to its window when `limited`.
fn admit(s: &AppState, req: &mut Request, limited: bool) -> Result<(), Refusal> {
    let team = s.team(req.headers())?;
    if limited {
        s.rate_limit(&team)?;
    }
    req.extensions_mut().insert(team);
    Ok(())
}

/// For routes that need a key: 401 without a known one.
pub async fn authenticated(State(s): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    match admit(&s, &mut req, false) {
        Ok(()) => next.run(req).await,
        Err(refused) => *refused,
    }
}

/// For the status calls and `GET /proofs`: 401 without a known key, then
/// 429 once the key's team has spent its window.
pub async fn rate_limited(State(s): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    match admit(&s, &mut req, true) {
        Ok(()) => next.run(req).await,
        Err(refused) => *refused,
    }
}
