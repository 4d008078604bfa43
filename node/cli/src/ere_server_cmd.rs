//! `slotproof ere-server`: one of slotproof's zkVMs served as an ere-server
//! (specs/provers.md §9): Twirp's `api.ZkvmService` (`Execute`, `Prove`,
//! `Verify`, `ProgramVk`; protobuf bodies) at `/twirp/api.ZkvmService/…`,
//! plus `/health` and `/metrics`, one proof at a time as ere-server does. A
//! zkboost installation or a slotproof node (`kind = "ere"`) proves through it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Args;
use prost::Message;
use serde_json::json;
use slotproof_zkvm::ere::{MAX_REPLY_BYTES, Service, proto};
use tokio::sync::Semaphore;
use tracing::info;

use crate::node_cmd::with_signals;
use crate::zkvm_args::ZkvmChoice;

#[derive(Args)]
pub struct EreServerArgs {
    #[command(flatten)]
    zkvm: ZkvmChoice,
    /// Listen here (host:port, or a port alone on 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1:3001", value_name = "HOST:PORT|PORT")]
    listen: String,
}

struct Served {
    service: Service,
    /// ere-server proves one at a time; the rest wait their turn.
    proving: Arc<Semaphore>,
    /// Verifications and executions at once.
    checking: Arc<Semaphore>,
    calls: [AtomicU64; 4],
    refused: AtomicU64,
}

const METHODS: [&str; 4] = ["Execute", "Prove", "Verify", "ProgramVk"];

pub fn run(args: EreServerArgs) -> anyhow::Result<()> {
    let prover = args.zkvm.prover()?;
    let addr: SocketAddr = slotproof_orchestrator::config::listen_addr(&args.listen)
        .with_context(|| format!("--listen {:?} is not host:port or a port", args.listen))?;
    let served = Arc::new(Served {
        service: Service::new(prover),
        proving: Arc::new(Semaphore::new(1)),
        checking: Arc::new(Semaphore::new(2)),
        calls: Default::default(),
        refused: AtomicU64::new(0),
    });
    with_signals(async |mut shutdown| {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        info!(target: "slotproof::ere", addr = %listener.local_addr()?, zkvm = %served.service.name(), "ere-server: POST /twirp/api.ZkvmService/{{Execute,Prove,Verify,ProgramVk}}");
        let app = Router::new()
            .route("/twirp/api.ZkvmService/{method}", post(call))
            .route("/health", get(|| async { "ok" }))
            .route("/metrics", get(metrics))
            .layer(DefaultBodyLimit::max(MAX_REPLY_BYTES as usize))
            .with_state(served);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await?;
        Ok(())
    })
}

/// A Twirp error: its HTTP status and `{"code", "msg"}`.
fn twirp_error(status: StatusCode, code: &str, msg: String) -> Response {
    (status, axum::Json(json!({"code": code, "msg": msg}))).into_response()
}

fn protobuf(reply: impl Message) -> Response {
    ([(header::CONTENT_TYPE, "application/protobuf")], reply.encode_to_vec()).into_response()
}

async fn call(State(s): State<Arc<Served>>, Path(method): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(index) = METHODS.iter().position(|m| *m == method) else {
        s.refused.fetch_add(1, Ordering::Relaxed);
        return twirp_error(StatusCode::NOT_FOUND, "bad_route", format!("no method {method:?} on api.ZkvmService"));
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/protobuf") {
        s.refused.fetch_add(1, Ordering::Relaxed);
        return twirp_error(
            StatusCode::NOT_FOUND,
            "bad_route",
            format!("content type {content_type:?}: this server speaks application/protobuf"),
        );
    }
    s.calls[index].fetch_add(1, Ordering::Relaxed);
    let served = s.clone();
    // Proving and verifying are CPU work: off the async workers, a bounded number
    // at once. The permit goes with the work: a caller hanging up does not free it.
    let pool = if method == "Prove" { &s.proving } else { &s.checking };
    let Ok(permit) = pool.clone().acquire_owned().await else {
        return twirp_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server is stopping".into());
    };
    let reply = tokio::task::spawn_blocking(move || -> Result<Response, prost::DecodeError> {
        let _permit = permit;
        Ok(match method.as_str() {
            "Execute" => protobuf(served.service.execute(&proto::ExecuteRequest::decode(body)?)),
            "Prove" => protobuf(served.service.prove(&proto::ProveRequest::decode(body)?)),
            "Verify" => protobuf(served.service.verify(&proto::VerifyRequest::decode(body)?)),
            _ => protobuf(served.service.program_vk()),
        })
    })
    .await;
    match reply {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => twirp_error(StatusCode::BAD_REQUEST, "malformed", format!("the request is not protobuf: {e}")),
        Err(e) => twirp_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the zkVM failed: {e}")),
    }
}

async fn metrics(State(s): State<Arc<Served>>) -> String {
    let mut out = String::from("# TYPE slotproof_ere_calls_total counter\n");
    for (m, c) in METHODS.iter().zip(&s.calls) {
        out.push_str(&format!("slotproof_ere_calls_total{{method=\"{m}\"}} {}\n", c.load(Ordering::Relaxed)));
    }
    out.push_str("# TYPE slotproof_ere_refused_total counter\n");
    out.push_str(&format!("slotproof_ere_refused_total {}\n", s.refused.load(Ordering::Relaxed)));
    out
}
