//! The server facing clients it does not trust (specs/submission.md §4),
//! over real HTTP on 127.0.0.1: the key is checked before a byte of the
//! body is read, bodies are capped per route, every
//! form of a key shares the key's one rate-limit window, and the
//! unauthenticated page reads a bounded number of proofs.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use slotproof_ethproofs_server::{self as server, BODY_LIMIT, PAGE_ROWS, PROVED_BODY_LIMIT, RateLimit, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

struct Server {
    addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(limit: RateLimit) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let state = server::state(ServerConfig {
            data_dir: dir.path().to_path_buf(),
            api_keys: vec!["key-a".into(), "key-b".into()],
            rate_limit: limit,
            rpc_url: None,
        })
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = watch::channel(false);
        tokio::spawn(server::serve(listener, state, rx));
        Server { addr, stop, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path` with the Authorization header `auth`, as sent: the status.
    async fn get_with(&self, path: &str, auth: &str) -> u16 {
        let r = reqwest::Client::new().get(self.url(path)).header("authorization", auth).send().await.unwrap();
        r.status().as_u16()
    }

    async fn post(&self, path: &str, key: &str, body: serde_json::Value) -> (u16, String) {
        let r = reqwest::Client::new().post(self.url(path)).bearer_auth(key).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Sends a POST announcing a body of `length` bytes, then `sent` bytes of
    /// it: the answer (status line and body), or None when the server has
    /// not answered within 5 s (it is still waiting for the body).
    async fn answer(&self, path: &str, auth: Option<&str>, length: usize, sent: usize) -> Option<String> {
        let (mut rx, mut tx) = TcpStream::connect(self.addr).await.unwrap().into_split();
        let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        );
        // The server may answer and close before it all went: write errors are expected then.
        let writer = tokio::spawn(async move {
            let _ = tx.write_all(head.as_bytes()).await;
            let _ = tx.write_all(&vec![b' '; sent]).await;
            tx
        });
        let mut got = Vec::new();
        let read = async {
            let mut buf = [0u8; 4096];
            while !answered(&got) {
                match rx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        };
        let in_time = tokio::time::timeout(Duration::from_secs(5), read).await.is_ok();
        writer.abort();
        let text = String::from_utf8_lossy(&got).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").filter(|_| in_time)?;
        Some(format!("{} {body}", head.lines().next().unwrap_or_default()))
    }
}

/// Whether `got` holds a whole response: its head and as many body bytes as
/// its Content-Length says.
fn answered(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    body.len() >= length
}

/// §4: a request without a known key is answered 401 from its head alone,
/// so announcing a 16 MiB body and sending none still gets the answer.
#[tokio::test]
async fn a_request_without_a_known_key_is_refused_before_its_body_is_read() {
    let s = Server::start(RateLimit::default()).await;
    for path in ["/api/v0/proofs/proved", "/api/v0/proofs/queued", "/api/v0/clusters"] {
        for (auth, answer) in [
            (None, "HTTP/1.1 401 Unauthorized No API key provided"),
            (Some("Bearer nobody"), "HTTP/1.1 401 Unauthorized Invalid API key"),
            (Some("Basic key-a"), "HTTP/1.1 401 Unauthorized No API key provided"),
        ] {
            let got = s.answer(path, auth, PROVED_BODY_LIMIT, 0).await;
            assert_eq!(got.as_deref(), Some(answer), "{path} with {auth:?}: still reading the body?");
        }
    }
    let _ = s.stop.send(true);
}

/// §4: a body over its route's cap is refused (413): 64 KiB for every
/// route but `proved`, whose proof may take 16 MiB.
#[tokio::test]
async fn a_body_over_its_routes_cap_is_refused() {
    let s = Server::start(RateLimit::default()).await;
    let key = Some("Bearer key-a");
    for (path, cap) in [
        ("/api/v0/proofs/queued", BODY_LIMIT),
        ("/api/v0/clusters", BODY_LIMIT),
        ("/api/v0/proofs/proved", PROVED_BODY_LIMIT),
    ] {
        let got = s.answer(path, key, cap + 1, cap + 1).await.unwrap_or_else(|| panic!("{path}: no answer"));
        assert!(got.starts_with("HTTP/1.1 413"), "{path}: {got}");
    }
    let _ = s.stop.send(true);
}

/// §4: `proved` takes a proof far larger than the other routes' cap.
#[tokio::test]
async fn a_proof_larger_than_the_small_body_cap_is_accepted() {
    let s = Server::start(RateLimit::default()).await;
    let (code, body) = s.post("/api/v0/clusters", "key-a", json!({"name": "c", "zkvm_version_id": 1})).await;
    assert_eq!(code, 200, "{body}");
    let proof = "A".repeat(4 * BODY_LIMIT);
    let proved = json!({"block_number": 1, "cluster_id": 1, "proving_time": 5, "proof": proof});
    let (code, body) = s.post("/api/v0/proofs/proved", "key-a", proved).await;
    assert_eq!(code, 200, "{body}");
    let _ = s.stop.send(true);
}

/// §4: the rate limit belongs to the key, not to how its header is written;
/// unknown keys and headers that carry no key are refused with 401 before
/// any window is charged.
#[tokio::test]
async fn every_form_of_a_key_shares_its_one_rate_limit_window() {
    let s = Server::start(RateLimit { requests: 2, window: Duration::from_secs(60) }).await;
    for auth in ["Bearer nobody", "Bearer other", "X key-a y", "Bearer key-a extra", "key-a"] {
        assert_eq!(s.get_with("/api/v0/proofs", auth).await, 401, "{auth}");
    }
    assert_eq!(s.get_with("/api/v0/proofs", "Bearer key-a").await, 200);
    assert_eq!(s.get_with("/api/v0/proofs", "bearer key-a").await, 200);
    assert_eq!(s.get_with("/api/v0/proofs", "BEARER   key-a").await, 429, "a third spelling, the same key");
    assert_eq!(s.get_with("/api/v0/proofs", "Bearer key-b").await, 200, "another key has its own window");
    let _ = s.stop.send(true);
}

/// §4: the page at `/` shows the newest PAGE_ROWS proofs, however many
/// there are.
#[tokio::test]
async fn the_page_shows_only_the_newest_proofs() {
    let s = Server::start(RateLimit { requests: 10_000, window: Duration::from_secs(60) }).await;
    let (code, body) = s.post("/api/v0/clusters", "key-a", json!({"name": "c", "zkvm_version_id": 1})).await;
    assert_eq!(code, 200, "{body}");
    let newest = PAGE_ROWS as u64 + 5;
    for block in 1..=newest {
        let (code, body) =
            s.post("/api/v0/proofs/queued", "key-a", json!({"block_number": block, "cluster_id": 1})).await;
        assert_eq!(code, 200, "{body}");
    }
    let page = reqwest::get(s.url("/")).await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("<tr><td>").count(), PAGE_ROWS, "one row per proof shown");
    assert!(page.contains(&format!("<tr><td>{newest}</td>")), "the newest block is shown");
    for old in 1..=5 {
        assert!(!page.contains(&format!("<tr><td>{old}</td>")), "block {old} is past the page");
    }
    let _ = s.stop.send(true);
}
