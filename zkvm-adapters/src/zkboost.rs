//! A zkboost-compatible proof engine as a zkVM (specs/provers.md §10): the
//! block's `NewPayloadRequest` is POSTed to the endpoint, its SSE stream
//! (filtered by the request's root, so a proof finished before the stream
//! opened is replayed) says when the proof is done, the proof is downloaded,
//! and verification is the endpoint's own route. What can pass (the endpoint
//! down, the stream dropped, a proof evicted before download, a witness
//! timeout) is `Transient`, so the pipeline's retry asks again (the endpoint
//! drops a duplicate request and replays a held proof); a proving timeout is
//! `Timeout`; a proving error or a refusal is `Permanent`.

use std::io::{BufRead, BufReader, Read};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use slotproof_primitives::Hash32;
use slotproof_primitives::redact::{redact_in, redact_url};

use crate::cancel::CancelToken;
use crate::error::ProverError;
use crate::prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};
use crate::remote::{LazyClient, clip};

/// A proof within this, or it failed (zkboost's own default is one 12 s slot).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// The proof type byte of proofs from a zkboost endpoint (EIP-8025 assigns none).
pub const ZKBOOST_PROOF_TYPE: u8 = 0x84;
/// Largest proof downloaded: EIP-8025's `MAX_PROOF_SIZE`.
pub const MAX_PROOF_BYTES: u64 = 4 << 20;
/// Longest SSE line read, and longest event data (an event's data is a small JSON object).
const MAX_LINE_BYTES: u64 = 64 << 10;

/// zkboost's proof types (its README table): a real EL/zkVM combination each.
pub const ZKBOOST_PROOF_TYPES: [&str; 7] =
    ["ethrex-risc0", "ethrex-sp1", "ethrex-zisk", "reth-openvm", "reth-risc0", "reth-sp1", "reth-zisk"];

#[derive(Clone, Debug)]
pub struct ZkboostConfig {
    pub name: String,
    pub url: String,
    /// The proof type asked of the endpoint.
    pub proof_type: String,
    pub timeout: Duration,
}

pub struct ZkboostProver {
    id: ZkvmIdentity,
    url: String,
    proof_type: String,
    timeout: Duration,
    client: LazyClient,
    /// The endpoint's backend kind for the type (`GET /v1/proof_types`), once known.
    kind: OnceLock<String>,
}

/// What the stream said about the request.
enum Outcome {
    Complete,
    Failed { reason: String, error: String },
}

impl ZkboostProver {
    pub fn new(cfg: ZkboostConfig) -> ZkboostProver {
        ZkboostProver {
            id: ZkvmIdentity {
                name: cfg.name,
                version: format!("zkboost:{}", cfg.proof_type),
                proof_type: ZKBOOST_PROOF_TYPE,
            },
            url: cfg.url.trim_end_matches('/').to_string(),
            proof_type: cfg.proof_type,
            timeout: cfg.timeout,
            client: LazyClient::default(),
            kind: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, ProverError> {
        self.client.get()
    }

    fn say(&self, message: impl AsRef<str>) -> String {
        format!("zkboost {}: {}", redact_url(&self.url), redact_in(message.as_ref(), &self.url))
    }

    fn transient(&self, message: impl AsRef<str>) -> ProverError {
        ProverError::Transient(self.say(message))
    }

    /// The block's request and its root.
    fn request(&self, input: &ProvingInput) -> Result<(Vec<u8>, Hash32), ProverError> {
        let block: Value = serde_json::from_slice(&input.bytes)
            .map_err(|e| ProverError::Permanent(format!("{}: input is not block JSON: {e}", self.id.name)))?;
        let request = slotproof_payload::from_block_json(&block)
            .map_err(|e| ProverError::Permanent(format!("{}: {e}", self.id.name)))?;
        let root = request.root().map_err(|e| ProverError::Permanent(e.to_string()))?;
        let ssz = request.to_ssz().map_err(|e| ProverError::Permanent(e.to_string()))?;
        Ok((ssz, root))
    }

    /// Whether the endpoint says its backend for the type is a mock or a
    /// simulation (zkboost's `mock`, a slotproof node's `sim`): such proofs are
    /// recorded as simulated here too. Asked until an answer comes; an endpoint
    /// that never gives one (no `/v1/proof_types`, zkboost before 0.8) is
    /// taken as it presents its proofs, real, and the log says so.
    fn simulated(&self) -> bool {
        if let Some(kind) = self.kind.get() {
            return matches!(kind.as_str(), "mock" | "sim");
        }
        match self.ask_kind() {
            Some(kind) => matches!(self.kind.get_or_init(|| kind).as_str(), "mock" | "sim"),
            None => {
                tracing::warn!(target: "slotproof::zkvm", zkvm = %self.id.name, "the endpoint did not say its backend kind (GET /v1/proof_types): its proof is recorded as real");
                false
            }
        }
    }

    fn ask_kind(&self) -> Option<String> {
        let response = self
            .client()
            .ok()?
            .get(format!("{}/v1/proof_types", self.url))
            .timeout(Duration::from_secs(10))
            .send()
            .ok()?;
        let mut body = Vec::new();
        response.take(1 << 20).read_to_end(&mut body).ok()?;
        let v: Value = serde_json::from_slice(&body).ok()?;
        v["proof_types"]
            .as_array()?
            .iter()
            .find(|t| t["proof_type"] == self.proof_type.as_str())
            .and_then(|t| t["kind"].as_str().map(clip))
    }

    fn root_of(&self, input: &ProvingInput) -> Result<Hash32, ProverError> {
        self.request(input).map(|(_, root)| root)
    }

    fn hex(root: &Hash32) -> String {
        slotproof_primitives::hex::encode_prefixed(root.as_bytes())
    }

    /// Reads an HTTP error reply's message (zkboost's `ErrorResponse`), bounded.
    fn error_text(response: reqwest::blocking::Response) -> String {
        let status = response.status();
        let mut body = Vec::new();
        let _ = response.take(4096).read_to_end(&mut body);
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        let message =
            v["message"].as_str().map(str::to_string).unwrap_or_else(|| String::from_utf8_lossy(&body).into());
        format!("HTTP {status}: {}", clip(&message))
    }

    fn post_request(&self, ssz: Vec<u8>, root: &Hash32, remaining: Duration) -> Result<(), ProverError> {
        let response = self
            .client()?
            .post(format!("{}/v1/execution_proof_requests?proof_types={}", self.url, self.proof_type))
            .header("content-type", "application/octet-stream")
            .timeout(remaining.min(Duration::from_secs(60)))
            .body(ssz)
            .send()
            .map_err(|e| self.transient(format!("posting the request: {e}")))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(self.transient(format!("posting the request: {}", Self::error_text(response))));
        }
        if !status.is_success() {
            return Err(ProverError::Permanent(self.say(format!("request refused: {}", Self::error_text(response)))));
        }
        let mut body = Vec::new();
        let _ = response.take(4096).read_to_end(&mut body);
        let answered: Value = serde_json::from_slice(&body).unwrap_or_default();
        let theirs = answered["new_payload_request_root"].as_str().unwrap_or_default();
        if !theirs.eq_ignore_ascii_case(&Self::hex(root)) {
            return Err(ProverError::Permanent(
                self.say(format!("the endpoint rooted the request as {theirs:?}, not {}", Self::hex(root))),
            ));
        }
        Ok(())
    }

    /// Follows the root's event stream until this proof type's event, the deadline or a cancel.
    fn wait(
        &self,
        stream: reqwest::blocking::Response,
        root: &Hash32,
        deadline: Instant,
        cancel: &CancelToken,
    ) -> Result<Outcome, ProverError> {
        let mut reader = BufReader::new(stream);
        let (mut event, mut data) = (String::new(), String::new());
        loop {
            if cancel.is_cancelled() {
                return Err(ProverError::Cancelled);
            }
            if Instant::now() >= deadline {
                return Err(ProverError::Timeout(self.timeout));
            }
            let mut line = String::new();
            match (&mut reader).take(MAX_LINE_BYTES).read_line(&mut line) {
                Ok(0) => return Err(self.transient("the event stream ended before the proof")),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(ProverError::Timeout(self.timeout)),
                Err(e) => return Err(self.transient(format!("the event stream broke: {e}"))),
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
                if data.len() as u64 > MAX_LINE_BYTES {
                    return Err(self.transient("an event's data is over 64 KiB"));
                }
            } else if line.is_empty() && !data.is_empty() {
                let v: Value = serde_json::from_str(&data).unwrap_or_default();
                let ours = v["proof_type"] == self.proof_type.as_str()
                    && v["new_payload_request_root"].as_str().is_some_and(|r| r.eq_ignore_ascii_case(&Self::hex(root)));
                if ours && event == "proof_complete" {
                    return Ok(Outcome::Complete);
                }
                if ours && event == "proof_failure" {
                    let reason = clip(v["reason"].as_str().unwrap_or("internal_error"));
                    let error = clip(v["error"].as_str().unwrap_or_default());
                    return Ok(Outcome::Failed { reason, error });
                }
                (event, data) = (String::new(), String::new());
            }
        }
    }

    fn download(&self, root: &Hash32) -> Result<Vec<u8>, ProverError> {
        let response = self
            .client()?
            .get(format!("{}/v1/execution_proofs/{}/{}", self.url, Self::hex(root), self.proof_type))
            .timeout(Duration::from_secs(60))
            .send()
            .map_err(|e| self.transient(format!("downloading the proof: {e}")))?;
        if !response.status().is_success() {
            // 404: evicted (or the endpoint restarted) before the download: asked again on retry.
            return Err(self.transient(format!("downloading the proof: {}", Self::error_text(response))));
        }
        let mut proof = Vec::new();
        response
            .take(MAX_PROOF_BYTES + 1)
            .read_to_end(&mut proof)
            .map_err(|e| self.transient(format!("downloading the proof: {e}")))?;
        if proof.len() as u64 > MAX_PROOF_BYTES {
            return Err(ProverError::Permanent(self.say(format!("proof over {MAX_PROOF_BYTES} bytes"))));
        }
        Ok(proof)
    }
}

impl Prover for ZkboostProver {
    fn identity(&self) -> &ZkvmIdentity {
        &self.id
    }

    fn resources(&self) -> Resources {
        Resources { cpus: 0, gpus: 0 }
    }

    fn execute(&self, input: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        // The endpoint only proves; the request at least must build.
        let started = Instant::now();
        self.request(input)?;
        Ok(ExecutionReport { cycles: 0, duration: started.elapsed() })
    }

    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let (ssz, root) = self.request(input)?;
        // Subscribe first (filtered: a proof already held is replayed), then ask.
        let stream = self
            .client()?
            .get(format!("{}/v1/execution_proof_requests?new_payload_request_root={}", self.url, Self::hex(&root)))
            .timeout(self.timeout)
            .send()
            .map_err(|e| self.transient(format!("opening the event stream: {e}")))?;
        if !stream.status().is_success() {
            return Err(self.transient(format!("opening the event stream: {}", Self::error_text(stream))));
        }
        self.post_request(ssz, &root, self.timeout)?;
        match self.wait(stream, &root, deadline, cancel)? {
            Outcome::Complete => {}
            Outcome::Failed { reason, error } => {
                let why = self.say(format!("{reason}: {error}"));
                return Err(match reason.as_str() {
                    "proving_timeout" => ProverError::Timeout(self.timeout),
                    "witness_timeout" | "internal_error" => ProverError::Transient(why),
                    _ => ProverError::Permanent(why),
                });
            }
        }
        let proof = self.download(&root)?;
        Ok(ProofArtifact {
            zkvm: self.id.name.clone(),
            proof,
            public_values: root.as_bytes().to_vec(),
            cycles: None,
            proving_time: started.elapsed(),
            simulated: self.simulated(),
        })
    }

    /// The endpoint's verification route, for the root of the block the node holds.
    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
        let root = self.root_of(input).map_err(|e| ProverError::Invalid(e.to_string()))?;
        let response = self
            .client()?
            .post(format!(
                "{}/v1/execution_proof_verifications?new_payload_request_root={}&proof_type={}",
                self.url,
                Self::hex(&root),
                self.proof_type
            ))
            .header("content-type", "application/octet-stream")
            .timeout(VERIFY_TIMEOUT)
            .body(artifact.proof.clone())
            .send()
            .map_err(|e| self.transient(format!("verifying: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let why = self.say(format!("verifying: {}", Self::error_text(response)));
            return Err(if status.is_server_error() {
                ProverError::Transient(why)
            } else {
                ProverError::Permanent(why)
            });
        }
        let mut body = Vec::new();
        let _ = response.take(4096).read_to_end(&mut body);
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        match v["status"].as_str() {
            Some("VALID") => Ok(()),
            Some("INVALID") => Err(ProverError::Invalid(self.say("the endpoint says INVALID"))),
            _ => Err(self.transient(format!("verifying: an unexpected reply {}", String::from_utf8_lossy(&body)))),
        }
    }
}
