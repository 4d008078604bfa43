//! Conformance with the published Ethproofs API (specs/ethproofs-openapi.json,
//! specs/submission.md §4): every request body the client sends and every
//! response the server returns is validated against the document's schemas;
//! then the server's behaviour: auth, validation, 409, 429 with Retry-After.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slotproof_submit::api::{CreateCluster, Proved, StatusUpdate, UpdateCluster};
use slotproof_submit::server::{self, RateLimit, ServerConfig};
use slotproof_submit::{Client, Limiter, SubmitError};
use tokio::sync::watch;

fn openapi() -> Value {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    serde_json::from_slice(&std::fs::read(dir.join("../../specs/ethproofs-openapi.json")).unwrap()).unwrap()
}

fn request_schema(doc: &Value, path: &str, method: &str) -> Value {
    doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
}

fn response_schema(doc: &Value, path: &str, method: &str, code: &str) -> Value {
    doc["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"].clone()
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    assert!(!schema.is_null(), "{what}: no schema in the document");
    let v = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what}: {instance} does not match the published schema: {errors:?}");
}

struct Server {
    base: String,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

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
    let base = format!("http://{}/api/v0", listener.local_addr().unwrap());
    let (stop, rx) = watch::channel(false);
    tokio::spawn(server::serve(listener, state, rx));
    Server { base, stop, _dir: dir }
}

async fn raw(
    method: reqwest::Method,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut r = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test]
async fn requests_and_responses_match_the_published_schemas() {
    let doc = openapi();
    let s = start(RateLimit::default()).await;
    let client = Client::new(&s.base, "key-a", Arc::new(Limiter::ethproofs())).unwrap();

    let create = CreateCluster {
        name: "slotproof-stark-0011aabb".into(),
        zkvm_version_id: 1,
        num_gpus: 1,
        hardware_description: Some("2 CPU cores, 0 GPUs".into()),
        deployment_type: Some("on-prem".into()),
    };
    assert_valid(
        &request_schema(&doc, "/clusters", "post"),
        &serde_json::to_value(&create).unwrap(),
        "POST /clusters request",
    );
    let (code, _, body) = raw(
        reqwest::Method::POST,
        &format!("{}/clusters", s.base),
        Some("key-a"),
        Some(serde_json::to_value(&create).unwrap()),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_valid(
        &response_schema(&doc, "/clusters", "post", "200"),
        &serde_json::from_str(&body).unwrap(),
        "POST /clusters response",
    );
    let cluster = client.create_cluster(&create).await.unwrap();
    assert_eq!(cluster, 2, "cluster ids are the team's own small indices");

    let (_, _, body) = raw(reqwest::Method::GET, &format!("{}/clusters", s.base), Some("key-a"), None).await;
    assert_valid(
        &response_schema(&doc, "/clusters", "get", "200"),
        &serde_json::from_str(&body).unwrap(),
        "GET /clusters response",
    );
    assert_eq!(client.list_clusters().await.unwrap().len(), 2);

    let update = UpdateCluster { hardware_description: Some("2 CPU cores".into()), ..Default::default() };
    assert_valid(
        &request_schema(&doc, "/clusters/{id}", "patch"),
        &serde_json::to_value(&update).unwrap(),
        "PATCH request",
    );
    let (code, _, body) = raw(
        reqwest::Method::PATCH,
        &format!("{}/clusters/{cluster}", s.base),
        Some("key-a"),
        Some(serde_json::to_value(&update).unwrap()),
    )
    .await;
    assert_eq!(code, 200);
    assert_valid(
        &response_schema(&doc, "/clusters/{id}", "patch", "200"),
        &serde_json::from_str(&body).unwrap(),
        "PATCH response",
    );

    for which in ["queued", "proving"] {
        let u = StatusUpdate { block_number: 21_230_866, cluster_id: cluster };
        let path = format!("/proofs/{which}");
        assert_valid(&request_schema(&doc, &path, "post"), &serde_json::to_value(&u).unwrap(), "status request");
        let (code, _, body) = raw(
            reqwest::Method::POST,
            &format!("{}{path}", s.base),
            Some("key-a"),
            Some(serde_json::to_value(&u).unwrap()),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        assert_valid(
            &response_schema(&doc, &path, "post", "200"),
            &serde_json::from_str(&body).unwrap(),
            "status response",
        );
    }
    let proved = Proved {
        block_number: 21_230_866,
        cluster_id: cluster,
        proving_time: 812,
        proving_cycles: None,
        proof: "c2xvdHByb29m".into(),
        verifier_id: None,
    };
    let proved_json = serde_json::to_value(&proved).unwrap();
    assert_valid(&request_schema(&doc, "/proofs/proved", "post"), &proved_json, "proved request");
    let (code, _, body) =
        raw(reqwest::Method::POST, &format!("{}/proofs/proved", s.base), Some("key-a"), Some(proved_json)).await;
    assert_eq!(code, 200, "{body}");
    assert_valid(
        &response_schema(&doc, "/proofs/proved", "post", "200"),
        &serde_json::from_str(&body).unwrap(),
        "proved response",
    );
    // A second proved is a 409, which the client reports as done.
    assert!(matches!(client.proved(&proved).await, Err(SubmitError::AlreadyProved)));

    let (code, _, body) =
        raw(reqwest::Method::GET, &format!("{}/proofs?block=21230866&limit=10", s.base), Some("key-a"), None).await;
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_valid(&response_schema(&doc, "/proofs", "get", "200"), &list, "GET /proofs response");
    assert_eq!((list["total_count"].as_u64(), list["proofs"][0]["proof_status"].as_str()), (Some(1), Some("proved")));
    assert_eq!(list["proofs"][0]["size_bytes"], 9, "the decoded proof's size");
    let _ = s.stop.send(true);
}

#[tokio::test]
async fn auth_validation_and_unknown_clusters_answer_as_the_service_does() {
    let s = start(RateLimit::default()).await;
    let url = format!("{}/proofs/queued", s.base);
    let ok = json!({"block_number": 1, "cluster_id": 1});
    let (code, _, body) = raw(reqwest::Method::POST, &url, None, Some(ok.clone())).await;
    assert_eq!((code, body.as_str()), (401, "No API key provided"));
    let (code, _, body) = raw(reqwest::Method::POST, &url, Some("nobody"), Some(ok.clone())).await;
    assert_eq!((code, body.as_str()), (401, "Invalid API key"));
    let (code, _, body) = raw(reqwest::Method::POST, &url, Some("key-a"), Some(ok)).await;
    assert_eq!((code, body.as_str()), (404, "Cluster not found"));
    let (code, _, body) = raw(
        reqwest::Method::POST,
        &format!("{}/clusters", s.base),
        Some("key-a"),
        Some(json!({"name": "x".repeat(51), "zkvm_version_id": 1})),
    )
    .await;
    assert!(code == 400 && body.starts_with("Invalid request:"), "{code} {body}");
    let (code, _, body) = raw(
        reqwest::Method::POST,
        &format!("{}/proofs/proved", s.base),
        Some("key-a"),
        Some(json!({"block_number": 1, "cluster_id": 1, "proving_time": 0, "proof": ""})),
    )
    .await;
    assert!(code == 400 && body.contains("proving_time"), "{code} {body}");
    let (code, _, body) =
        raw(reqwest::Method::GET, &format!("{}/proofs?limit=5000", s.base), Some("key-a"), None).await;
    let problems: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 422);
    assert_eq!(problems[0]["path"][0], "limit");
    // Teams do not see each other's clusters.
    let client_a = Client::new(&s.base, "key-a", Arc::new(Limiter::ethproofs())).unwrap();
    let client_b = Client::new(&s.base, "key-b", Arc::new(Limiter::ethproofs())).unwrap();
    let create = CreateCluster {
        name: "a".into(),
        zkvm_version_id: 1,
        num_gpus: 1,
        hardware_description: None,
        deployment_type: None,
    };
    client_a.create_cluster(&create).await.unwrap();
    assert!(client_b.list_clusters().await.unwrap().is_empty());
    let _ = s.stop.send(true);
}

/// A 429 carries Retry-After; the client pauses every call on the key and then succeeds.
#[tokio::test]
async fn rate_limited_clients_wait_for_retry_after_then_succeed() {
    let s = start(RateLimit { requests: 3, window: Duration::from_secs(2) }).await;
    let url = format!("{}/proofs/queued", s.base);
    let client = Client::new(&s.base, "key-a", Arc::new(Limiter::new(100, Duration::from_secs(60)))).unwrap();
    let create = CreateCluster {
        name: "c".into(),
        zkvm_version_id: 1,
        num_gpus: 1,
        hardware_description: None,
        deployment_type: None,
    };
    let cluster = client.create_cluster(&create).await.unwrap();
    let body = json!({"block_number": 7, "cluster_id": cluster});
    for _ in 0..3 {
        assert_eq!(raw(reqwest::Method::POST, &url, Some("key-a"), Some(body.clone())).await.0, 200);
    }
    let (code, headers, text) = raw(reqwest::Method::POST, &url, Some("key-a"), Some(body.clone())).await;
    assert_eq!(code, 429);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((parsed["error"].as_str(), parsed["retryAfter"].as_u64()), (Some("Rate limit exceeded"), Some(retry)));

    // The client learns the budget from the 429 and waits.
    let u = StatusUpdate { block_number: 7, cluster_id: cluster };
    assert!(matches!(client.status("queued", &u).await, Err(SubmitError::RateLimited(_))));
    let started = Instant::now();
    client.status("queued", &u).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "waited {:?}", started.elapsed());
    let _ = s.stop.send(true);
}
