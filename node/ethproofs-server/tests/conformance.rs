//! Conformance with the published Ethproofs API (specs/ethproofs-openapi.json,
//! specs/submission.md §4, §6): every request body the client sends and every
//! response the server returns is validated against the document's schemas,
//! made closed (`additionalProperties: false` on every object) so an
//! undocumented field fails; refusals (400/401/404/409/422/429) are checked
//! against what the document says of each; then the server's behaviour:
//! auth, validation, 409, 429 with Retry-After.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slotproof_ethproofs_server::{self as server, RateLimit, ServerConfig};
use slotproof_submit::api::{CreateCluster, Proved, StatusUpdate, UpdateCluster};
use slotproof_submit::{Client, Limiter, StatusCall, SubmitError};
use tokio::sync::watch;

fn openapi() -> Value {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    serde_json::from_slice(&std::fs::read(dir.join("../../specs/ethproofs-openapi.json")).unwrap()).unwrap()
}

/// `schema` with `additionalProperties: false` on every object schema in it
/// that does not say otherwise, nested ones included. The copied document on
/// disk stays as published; only the copy validated against is closed.
fn closed(schema: &Value) -> Value {
    let mut s = schema.clone();
    close(&mut s);
    s
}

fn close(schema: &mut Value) {
    let Value::Object(m) = schema else { return };
    let is_object = m.get("type").is_some_and(|t| t == "object") || m.contains_key("properties");
    if is_object && !m.contains_key("additionalProperties") {
        m.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(close);
    }
    if let Some(items) = m.get_mut("items") {
        close(items);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(alternatives)) = m.get_mut(key) {
            alternatives.iter_mut().for_each(close);
        }
    }
}

fn request_schema(doc: &Value, path: &str, method: &str) -> Value {
    closed(&doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"])
}

fn response_schema(doc: &Value, path: &str, method: &str, code: &str) -> Value {
    closed(&doc["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"])
}

fn errors(schema: &Value, instance: &Value) -> Vec<String> {
    let v = jsonschema::validator_for(schema).unwrap();
    v.iter_errors(instance).map(|e| e.to_string()).collect()
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    assert!(!schema.is_null(), "{what}: no schema in the document");
    let errors = errors(schema, instance);
    assert!(errors.is_empty(), "{what}: {instance} does not match the published schema: {errors:?}");
}

/// The 429 body, which the published document leaves out: specs/submission.md
/// §4 states it as `{"error", "message", "retryAfter"}`, closed here too.
fn rate_limited_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["error", "message", "retryAfter"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"},
            "retryAfter": {"type": "integer", "minimum": 1}}})
}

/// A refusal as the document describes it for `method path`: the status is
/// one it lists there (429 aside, which it never lists); where it gives a
/// JSON schema the body is JSON and matches it, closed; where it gives only
/// a description the body is plain text, as the service sends it.
fn assert_documented_refusal(doc: &Value, path: &str, method: &str, answer: &Answer) {
    let what = format!("{} {path} answered {}", method.to_uppercase(), answer.code);
    let content_type = answer.headers.get("content-type").map(|v| v.to_str().unwrap()).unwrap_or("");
    if answer.code == 429 {
        assert!(content_type.starts_with("application/json"), "{what}: {content_type}");
        assert_valid(&rate_limited_schema(), &serde_json::from_str(&answer.body).unwrap(), &what);
        return;
    }
    let documented = &doc["paths"][path][method]["responses"][answer.code.to_string()];
    assert!(documented.is_object(), "{what}: the document lists no such answer: {}", answer.body);
    if documented["content"]["application/json"]["schema"].is_null() {
        assert!(content_type.starts_with("text/plain"), "{what}: {content_type}");
        assert!(!answer.body.is_empty(), "{what}: an empty body");
    } else {
        assert!(content_type.starts_with("application/json"), "{what}: {content_type}");
        let body = serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
        assert_valid(&response_schema(doc, path, method, &answer.code.to_string()), &body, &what);
    }
}

struct Server {
    base: String,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start(limit: RateLimit, rpc_url: Option<String>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let state = server::state(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        api_keys: vec!["key-a".into(), "key-b".into()],
        rate_limit: limit,
        rpc_url,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v0", listener.local_addr().unwrap());
    let (stop, rx) = watch::channel(false);
    tokio::spawn(server::serve(listener, state, rx));
    Server { base, stop, _dir: dir }
}

const BLOCK_HASH: &str = "0x88e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6";

/// An execution RPC that knows one fact of every block: `eth_getBlockByNumber`.
async fn fake_rpc() -> String {
    async fn answer(axum::Json(req): axum::Json<Value>) -> axum::Json<Value> {
        let block = json!({"number": req["params"][0], "hash": BLOCK_HASH, "timestamp": "0x6740e0f3",
            "gasUsed": "0x1c9c380", "transactions": ["0x01", "0x02"]});
        axum::Json(json!({"jsonrpc": "2.0", "id": req["id"], "result": block}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        async move { axum::serve(listener, axum::Router::new().route("/", axum::routing::post(answer))).await },
    );
    url
}

struct Answer {
    code: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", self.code, self.body))
    }
}

async fn raw(method: reqwest::Method, url: &str, key: Option<&str>, body: Option<Value>) -> Answer {
    let mut r = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let (code, headers) = (resp.status().as_u16(), resp.headers().clone());
    Answer { code, headers, body: resp.text().await.unwrap() }
}

#[test]
fn closed_schemas_refuse_fields_the_document_does_not_name() {
    let doc = openapi();
    let answer = json!({"proof_id": 1, "status": "ok"});
    let open = &doc["paths"]["/proofs/proved"]["post"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(errors(open, &answer).is_empty(), "the published schema is open");
    assert!(!errors(&response_schema(&doc, "/proofs/proved", "post", "200"), &answer).is_empty());
    // Nested objects too: a proof row in GET /proofs, and its block.
    let row = json!({"block_number": 1, "cluster_id": 1, "proof_id": 1, "proof_status": "proved",
        "team_id": "00000000-0000-4000-8000-000000000000", "created_at": "x"});
    let list = |row: Value| json!({"proofs": [row], "total_count": 1, "limit": 1, "offset": 0});
    let schema = response_schema(&doc, "/proofs", "get", "200");
    assert!(errors(&schema, &list(row.clone())).is_empty());
    let mut extra = row.clone();
    extra["verifier_id"] = json!("vk");
    assert!(!errors(&schema, &list(extra)).is_empty(), "an undocumented row field fails");
    let mut block = row;
    block["block"] = json!({"block_number": 1, "hash": "0x", "timestamp": "t", "gas_used": 1,
        "transaction_count": 0, "created_at": "t", "miner": "0x"});
    assert!(!errors(&schema, &list(block)).is_empty(), "an undocumented block field fails");
}

/// A cluster request with only the required fields.
fn minimal_cluster(name: &str) -> CreateCluster {
    CreateCluster {
        name: name.into(),
        zkvm_version_id: 1,
        num_gpus: 1,
        hardware_description: None,
        deployment_type: None,
    }
}

#[tokio::test]
async fn requests_and_responses_match_the_published_schemas() {
    let doc = openapi();
    let s = start(RateLimit::default(), Some(fake_rpc().await)).await;
    let client = Client::new(&s.base, "key-a", Arc::new(Limiter::ethproofs())).unwrap();

    let create = CreateCluster {
        name: "slotproof-stark-0011aabb".into(),
        zkvm_version_id: 1,
        num_gpus: 1,
        hardware_description: Some("2 CPU cores, 0 GPUs".into()),
        deployment_type: Some("on-prem".into()),
    };
    let create_json = serde_json::to_value(&create).unwrap();
    assert_valid(&request_schema(&doc, "/clusters", "post"), &create_json, "POST /clusters request");
    let a = raw(reqwest::Method::POST, &format!("{}/clusters", s.base), Some("key-a"), Some(create_json)).await;
    assert_eq!(a.code, 200, "{}", a.body);
    assert_valid(&response_schema(&doc, "/clusters", "post", "200"), &a.json(), "POST /clusters response");
    let cluster = client.create_cluster(&create).await.unwrap();
    assert_eq!(cluster, 2, "cluster ids are the team's own small indices");

    let a = raw(reqwest::Method::GET, &format!("{}/clusters", s.base), Some("key-a"), None).await;
    assert_valid(&response_schema(&doc, "/clusters", "get", "200"), &a.json(), "GET /clusters response");
    assert_eq!(client.list_clusters().await.unwrap().len(), 2);

    let update = UpdateCluster { hardware_description: Some("2 CPU cores".into()), ..Default::default() };
    let update_json = serde_json::to_value(&update).unwrap();
    assert_valid(&request_schema(&doc, "/clusters/{id}", "patch"), &update_json, "PATCH request");
    let url = format!("{}/clusters/{cluster}", s.base);
    let a = raw(reqwest::Method::PATCH, &url, Some("key-a"), Some(update_json)).await;
    assert_eq!(a.code, 200);
    assert_valid(&response_schema(&doc, "/clusters/{id}", "patch", "200"), &a.json(), "PATCH response");

    for which in ["queued", "proving"] {
        let u = serde_json::to_value(StatusUpdate { block_number: 21_230_866, cluster_id: cluster }).unwrap();
        let path = format!("/proofs/{which}");
        assert_valid(&request_schema(&doc, &path, "post"), &u, "status request");
        let a = raw(reqwest::Method::POST, &format!("{}{path}", s.base), Some("key-a"), Some(u)).await;
        assert_eq!(a.code, 200, "{}", a.body);
        assert_valid(&response_schema(&doc, &path, "post", "200"), &a.json(), "status response");
    }
    // Every optional field filled, as a node that knows its cycles and verifier would send.
    let proved = Proved {
        block_number: 21_230_866,
        cluster_id: cluster,
        proving_time: 812,
        proving_cycles: Some(1_234_567),
        proof: "c2xvdHByb29m".into(),
        verifier_id: Some("0x00aa11bb".into()),
    };
    let proved_json = serde_json::to_value(&proved).unwrap();
    assert_eq!(proved_json.as_object().unwrap().len(), 6, "every field is sent: {proved_json}");
    assert_valid(&request_schema(&doc, "/proofs/proved", "post"), &proved_json, "proved request");
    let a = raw(reqwest::Method::POST, &format!("{}/proofs/proved", s.base), Some("key-a"), Some(proved_json)).await;
    assert_eq!(a.code, 200, "{}", a.body);
    assert_valid(&response_schema(&doc, "/proofs/proved", "post", "200"), &a.json(), "proved response");
    // A second proved is a 409, which the client reports as done.
    assert!(matches!(client.proved(&proved).await, Err(SubmitError::AlreadyProved)));

    let by_hash = format!("block={BLOCK_HASH}");
    for query in ["block=21230866&limit=10", by_hash.as_str()] {
        let a = raw(reqwest::Method::GET, &format!("{}/proofs?{query}", s.base), Some("key-a"), None).await;
        assert_eq!(a.code, 200, "{}", a.body);
        let list = a.json();
        assert_valid(&response_schema(&doc, "/proofs", "get", "200"), &list, "GET /proofs response");
        let row = &list["proofs"][0];
        assert_eq!((list["total_count"].as_u64(), row["proof_status"].as_str()), (Some(1), Some("proved")));
        assert_eq!((&row["size_bytes"], &row["proving_cycles"]), (&json!(9), &json!(1_234_567)), "{row}");
        assert_eq!(row["block"]["hash"], BLOCK_HASH, "the block's facts, from the RPC");
    }
    let a = raw(reqwest::Method::GET, &format!("{}/blocks/21230866", s.base), Some("key-a"), None).await;
    assert_eq!(a.code, 200, "{}", a.body);
    assert_valid(&response_schema(&doc, "/blocks/{block}", "get", "200"), &a.json(), "GET /blocks response");
    assert_eq!(a.json()["transaction_count"], 2);
    let _ = s.stop.send(true);
}

/// One refused request: method, the document's path, the path requested,
/// the API key, the body, and the status it must get.
type Refused<'a> = (reqwest::Method, &'a str, &'a str, Option<&'a str>, Option<Value>, u16);

#[tokio::test]
async fn refusals_have_the_documented_status_and_shape() {
    let doc = openapi();
    // Five rate-limited calls with key-a reach the limit below (the 404 and
    // 400 lifecycle calls, the 422 list, a proved, the 409); the sixth is refused.
    let s = start(RateLimit { requests: 5, window: Duration::from_secs(60) }, None).await;
    let (post, get, patch) = (reqwest::Method::POST, reqwest::Method::GET, reqwest::Method::PATCH);
    let url = |p: &str| format!("{}{p}", s.base);
    let status = json!({"block_number": 1, "cluster_id": 1});
    let cases: Vec<Refused<'_>> = vec![
        (post.clone(), "/proofs/queued", "/proofs/queued", None, Some(status.clone()), 401),
        (post.clone(), "/proofs/queued", "/proofs/queued", Some("nobody"), Some(status.clone()), 401),
        (get.clone(), "/clusters", "/clusters", Some("nobody"), None, 401),
        (
            post.clone(),
            "/clusters",
            "/clusters",
            Some("key-a"),
            Some(json!({"name": "x".repeat(51), "zkvm_version_id": 1})),
            400,
        ),
        (
            post.clone(),
            "/clusters",
            "/clusters",
            Some("key-a"),
            Some(json!({"name": "x", "zkvm_version_id": 1, "gpus": 2})),
            400,
        ),
        (patch.clone(), "/clusters/{id}", "/clusters/1", Some("key-a"), Some(json!({})), 400),
        (patch.clone(), "/clusters/{id}", "/clusters/77", Some("key-a"), Some(json!({"name": "y"})), 404),
        (post.clone(), "/proofs/queued", "/proofs/queued", Some("key-a"), Some(status.clone()), 404),
        (
            post.clone(),
            "/proofs/proved",
            "/proofs/proved",
            Some("key-a"),
            Some(json!({"block_number": 1, "cluster_id": 1, "proving_time": 0, "proof": ""})),
            400,
        ),
        (get.clone(), "/proofs", "/proofs?limit=5000", Some("key-a"), None, 422),
        (get.clone(), "/proofs/download/{id}", "/proofs/download/99", Some("key-a"), None, 404),
        (get.clone(), "/blocks/{block}", "/blocks/12", None, None, 404),
        (get.clone(), "/blocks/{block}", "/blocks/twelve", None, None, 422),
    ];
    for (method, path, target, key, body, code) in cases {
        let a = raw(method.clone(), &url(target), key, body).await;
        assert_eq!(a.code, code, "{method} {target}: {}", a.body);
        assert_documented_refusal(&doc, path, &method.as_str().to_lowercase(), &a);
    }

    // 409 on a proved block, then 429 once the key's five calls are spent.
    let client = Client::new(&s.base, "key-a", Arc::new(Limiter::ethproofs())).unwrap();
    let create = minimal_cluster("c");
    let cluster = client.create_cluster(&create).await.unwrap();
    let proved = json!({"block_number": 5, "cluster_id": cluster, "proving_time": 3, "proof": "AA=="});
    assert_eq!(raw(post.clone(), &url("/proofs/proved"), Some("key-a"), Some(proved.clone())).await.code, 200);
    let a = raw(
        post.clone(),
        &url("/proofs/queued"),
        Some("key-a"),
        Some(json!({"block_number": 5, "cluster_id": cluster})),
    )
    .await;
    assert_eq!((a.code, a.body.as_str()), (409, "Proof already proved"));
    assert_documented_refusal(&doc, "/proofs/queued", "post", &a);
    let a = raw(get.clone(), &url("/proofs"), Some("key-a"), None).await;
    assert_eq!(a.code, 429, "the sixth rate-limited call: {}", a.body);
    assert_documented_refusal(&doc, "/proofs", "get", &a);
    let _ = s.stop.send(true);
}

#[tokio::test]
async fn auth_validation_and_unknown_clusters_answer_as_the_service_does() {
    let s = start(RateLimit::default(), None).await;
    let url = format!("{}/proofs/queued", s.base);
    let ok = json!({"block_number": 1, "cluster_id": 1});
    let a = raw(reqwest::Method::POST, &url, None, Some(ok.clone())).await;
    assert_eq!((a.code, a.body.as_str()), (401, "No API key provided"));
    let a = raw(reqwest::Method::POST, &url, Some("nobody"), Some(ok.clone())).await;
    assert_eq!((a.code, a.body.as_str()), (401, "Invalid API key"));
    let a = raw(reqwest::Method::POST, &url, Some("key-a"), Some(ok)).await;
    assert_eq!((a.code, a.body.as_str()), (404, "Cluster not found"));
    let a = raw(
        reqwest::Method::POST,
        &format!("{}/clusters", s.base),
        Some("key-a"),
        Some(json!({"name": "x".repeat(51), "zkvm_version_id": 1})),
    )
    .await;
    assert!(a.code == 400 && a.body.starts_with("Invalid request:"), "{} {}", a.code, a.body);
    let a = raw(
        reqwest::Method::POST,
        &format!("{}/proofs/proved", s.base),
        Some("key-a"),
        Some(json!({"block_number": 1, "cluster_id": 1, "proving_time": 0, "proof": ""})),
    )
    .await;
    assert!(a.code == 400 && a.body.contains("proving_time"), "{} {}", a.code, a.body);
    let a = raw(reqwest::Method::GET, &format!("{}/proofs?limit=5000", s.base), Some("key-a"), None).await;
    assert_eq!(a.code, 422);
    assert_eq!(a.json()[0]["path"][0], "limit");
    // Teams do not see each other's clusters.
    let client_a = Client::new(&s.base, "key-a", Arc::new(Limiter::ethproofs())).unwrap();
    let client_b = Client::new(&s.base, "key-b", Arc::new(Limiter::ethproofs())).unwrap();
    let create = minimal_cluster("a");
    client_a.create_cluster(&create).await.unwrap();
    assert!(client_b.list_clusters().await.unwrap().is_empty());
    let _ = s.stop.send(true);
}

/// A 429 carries Retry-After; the client pauses every call on the key and then succeeds.
#[tokio::test]
async fn rate_limited_clients_wait_for_retry_after_then_succeed() {
    let s = start(RateLimit { requests: 3, window: Duration::from_secs(2) }, None).await;
    let url = format!("{}/proofs/queued", s.base);
    let client = Client::new(&s.base, "key-a", Arc::new(Limiter::new(100, Duration::from_secs(60)))).unwrap();
    let create = minimal_cluster("c");
    let cluster = client.create_cluster(&create).await.unwrap();
    let body = json!({"block_number": 7, "cluster_id": cluster});
    for _ in 0..3 {
        assert_eq!(raw(reqwest::Method::POST, &url, Some("key-a"), Some(body.clone())).await.code, 200);
    }
    let a = raw(reqwest::Method::POST, &url, Some("key-a"), Some(body.clone())).await;
    assert_eq!(a.code, 429);
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    let parsed = a.json();
    assert_eq!((parsed["error"].as_str(), parsed["retryAfter"].as_u64()), (Some("Rate limit exceeded"), Some(retry)));

    // The client learns the budget from the 429 and waits.
    let u = StatusUpdate { block_number: 7, cluster_id: cluster };
    assert!(matches!(client.status(StatusCall::Queued, &u).await, Err(SubmitError::RateLimited(_))));
    let started = Instant::now();
    client.status(StatusCall::Queued, &u).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "waited {:?}", started.elapsed());
    let _ = s.stop.send(true);
}
