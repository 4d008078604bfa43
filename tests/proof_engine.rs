//! The EIP-8025 proof-engine API (specs/proof-engine.md §2) of a real node on
//! the dev chain, as a consensus client uses it: requests and responses
//! validated against zkboost's published `openapi.json` (specs/zkboost-openapi.json,
//! `ProofType` and `BackendKind` widened to strings as the spec says), the SSE
//! stream read raw off the socket. Multi-process: one test at a time.
#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slotproof_tests::http::{EventStream, Reply, request};
use slotproof_tests::{Node, free_port, json_of, paths, serial, slotproof, wait_for, wait_for_every};

/// zkboost's document with the two closed enums widened (specs/proof-engine.md §2).
fn document() -> Value {
    let path = paths::workspace_root().unwrap().join("specs/zkboost-openapi.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for widened in ["ProofType", "BackendKind"] {
        doc["components"]["schemas"][widened] = json!({"type": "string", "minLength": 1});
    }
    doc
}

/// `#/components/schemas/NAME` as a standalone schema (its refs resolve in the document's components).
fn schema(doc: &Value, name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}"), "components": doc["components"]})
}

fn assert_matches(doc: &Value, name: &str, instance: &Value) {
    let v = jsonschema::validator_for(&schema(doc, name)).unwrap();
    let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{instance} is not a {name}: {errors:?}");
}

/// The status codes the document lists for `method path`.
fn documented(doc: &Value, path: &str, method: &str) -> Vec<u16> {
    doc["paths"][path][method]["responses"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect()
}

fn ssz_of(block: u64, out: &Path) -> String {
    let file = paths::testdata().unwrap().join(format!("blocks/{block}.json"));
    let v = json_of(&slotproof(&[
        "payload",
        "--block",
        file.to_str().unwrap(),
        "--ssz-out",
        out.to_str().unwrap(),
        "--json",
    ]));
    v["new_payload_request_root"].as_str().unwrap().to_string()
}

/// Break once `stream` carries the event; else what it carries so far.
fn event(stream: &EventStream, name: &str, data: &str) -> ControlFlow<(), String> {
    if stream.events().iter().any(|(n, d)| n == name && d == data) {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(stream.text())
    }
}

fn post_request(port: u16, types: &str, body: &[u8]) -> Reply {
    request(port, "POST", &format!("/v1/execution_proof_requests?proof_types={types}"), body)
}

fn verify(port: u16, root: &str, proof_type: &str, proof: &[u8]) -> Reply {
    let path = format!("/v1/execution_proof_verifications?new_payload_request_root={root}&proof_type={proof_type}");
    request(port, "POST", &path, proof)
}

fn metric(port: u16, name: &str) -> f64 {
    let text = String::from_utf8(request(port, "GET", "/metrics", b"").body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// The acceptance run: a client POSTs a fixture block's NewPayloadRequest,
/// hears `proof_complete` on the raw SSE stream, downloads the proof and has
/// it verified (VALID; INVALID once a byte is flipped); every body matches
/// the published schemas, every refusal a documented status.
#[test]
fn a_consensus_client_requests_downloads_and_verifies_a_proof() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (port, data) = (free_port(), dir.path().join("data"));
    let listen = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let node = Node::start(&[
        "node",
        "--slot-time",
        "2s",
        "--zkvm",
        "stark",
        "--proof-engine-listen",
        &listen,
        "--http",
        "off",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    wait_for_every("the proof-engine listener", Duration::from_secs(10), Duration::from_millis(20), || {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) => ControlFlow::Break(()),
            Err(e) => ControlFlow::Continue(e.to_string()),
        }
    });
    let up_after = started.elapsed();
    assert!(up_after < Duration::from_secs(2), "the listener took {up_after:?}: {}", node.log());
    let doc = document();

    // Discovery and health.
    let types = request(port, "GET", "/v1/proof_types", b"");
    assert_eq!(types.status, 200);
    assert_matches(&doc, "ProofTypesResponse", &types.json());
    assert_eq!(
        types.json()["proof_types"],
        json!([{"proof_type": "stark", "kind": "stark", "can_prove": true, "can_verify": true}])
    );
    assert_eq!(request(port, "GET", "/health", b"").status, 200);

    let ssz_path = dir.path().join("npr.ssz");
    let root = ssz_of(19_900_000, &ssz_path);
    let ssz = std::fs::read(&ssz_path).unwrap();
    let live = EventStream::open(port, "/v1/execution_proof_requests");
    assert!(live.headers.contains("200"), "{}", live.headers);
    assert!(live.headers.to_ascii_lowercase().contains("content-type: text/event-stream"), "{}", live.headers);

    // Refusals first: each a documented status with an ErrorResponse, nothing queued.
    let post_codes = documented(&doc, "/v1/execution_proof_requests", "post");
    let refusals = [
        (post_request(port, "stark", b"\x01\x02\x03"), 400, "invalid SSZ body"),
        (post_request(port, "reth-sp1", &ssz), 400, "no zkVM configured for proof type 'reth-sp1'"),
        (post_request(port, "stark,%20stark", &ssz), 400, "duplicate proof type 'stark'"),
        (post_request(port, "", &ssz), 400, "proof_types must contain at least one valid value"),
        (request(port, "POST", "/v1/execution_proof_requests", &ssz), 400, "proof_types must contain"),
    ];
    for (reply, status, message) in &refusals {
        assert_eq!(reply.status, *status, "{}", String::from_utf8_lossy(&reply.body));
        assert!(post_codes.contains(status));
        assert_matches(&doc, "ErrorResponse", &reply.json());
        assert_eq!(reply.json()["code"], json!(status));
        assert!(reply.json()["message"].as_str().unwrap().contains(message), "{}", reply.json());
    }
    // A body over the bound (16 MiB) is refused before it is decoded.
    let huge = vec![0u8; (16 << 20) + 1];
    let reply = post_request(port, "stark", &huge);
    assert_eq!(reply.status, 413, "{}", String::from_utf8_lossy(&reply.body));
    assert_matches(&doc, "ErrorResponse", &reply.json());
    assert_eq!(metric(port, "slotproof_proof_engine_requests_total"), 0.0, "nothing accepted");
    assert_eq!(metric(port, "slotproof_proof_engine_pending_proofs"), 0.0, "nothing queued");

    // The request.
    let reply = post_request(port, "stark", &ssz);
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_matches(&doc, "ProofRequestResponse", &reply.json());
    assert_eq!(reply.json()["new_payload_request_root"], json!(root));

    // proof_complete on the raw stream: framed as `event:` + `data:` + blank line.
    let complete = json!({"new_payload_request_root": root, "proof_type": "stark"}).to_string();
    wait_for("proof_complete for the request", Duration::from_secs(120), || event(&live, "proof_complete", &complete));
    assert!(live.text().contains(&format!("event: proof_complete\ndata: {complete}\n\n")), "{}", live.text());
    for (name, data) in live.events() {
        let schema = if name == "proof_complete" { "ProofCompleteEvent" } else { "ProofFailureEvent" };
        assert_matches(&doc, schema, &serde_json::from_str(&data).unwrap());
    }

    // Download, verify, tamper.
    let proof = request(port, "GET", &format!("/v1/execution_proofs/{root}/stark"), b"");
    assert_eq!(proof.status, 200);
    assert_eq!(proof.header("content-type").as_deref(), Some("application/octet-stream"));
    let valid = verify(port, &root, "stark", &proof.body);
    assert_eq!(valid.status, 200);
    assert_matches(&doc, "ProofVerificationResponse", &valid.json());
    assert_eq!(valid.json(), json!({"status": "VALID"}));
    for at in [0, proof.body.len() / 2, proof.body.len() - 1] {
        let mut flipped = proof.body.clone();
        flipped[at] ^= 1;
        let reply = verify(port, &root, "stark", &flipped);
        assert_eq!((reply.status, reply.json()), (200, json!({"status": "INVALID"})), "byte {at} flipped");
    }
    for junk in [&b""[..], b"garbage", &proof.body[..proof.body.len() / 3]] {
        let reply = verify(port, &root, "stark", junk);
        assert_eq!((reply.status, reply.json()), (200, json!({"status": "INVALID"})));
    }
    let other_root = ssz_of(21_230_866, &dir.path().join("other.ssz"));
    assert_eq!(verify(port, &other_root, "stark", &proof.body).json(), json!({"status": "INVALID"}));
    let unknown = verify(port, &root, "reth-sp1", &proof.body);
    assert_eq!(unknown.status, 404);
    assert!(documented(&doc, "/v1/execution_proof_verifications", "post").contains(&404));
    assert_matches(&doc, "ErrorResponse", &unknown.json());
    let missing = request(port, "GET", &format!("/v1/execution_proofs/{other_root}/stark"), b"");
    assert_eq!(missing.status, 404);
    assert_matches(&doc, "ErrorResponse", &missing.json());

    // Catch-up: a stream filtered by root replays the held proof at once.
    let caught = EventStream::open(port, &format!("/v1/execution_proof_requests?new_payload_request_root={root}"));
    wait_for("the catch-up replay", Duration::from_secs(5), || event(&caught, "proof_complete", &complete));
    // Dedup: asked again, it answers the same root and proves nothing new.
    let again = post_request(port, "stark", &ssz);
    assert_eq!(again.json()["new_payload_request_root"], json!(root));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(caught.events().len(), 1, "no second event for a held proof: {}", caught.text());
    assert!(caught.events().iter().all(|(_, d)| d.contains(&root)), "filtered to the root");
    assert_eq!(metric(port, "slotproof_proof_engine_requests_total"), 2.0);
    assert!(metric(port, "slotproof_proof_engine_verifications_total{status=\"VALID\"}") >= 1.0);
    drop(node);
}
