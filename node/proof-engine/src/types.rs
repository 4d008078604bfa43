//! The API's JSON bodies (zkboost's `openapi.json`, with `ProofType` and
//! `BackendKind` widened from closed enums to strings: specs/proof-engine.md §2).

use serde::Serialize;
use slotproof_primitives::Hash32;

/// `Hash256` as the API writes it: `0x` and 64 lowercase hex digits.
pub fn hash256(h: &Hash32) -> String {
    slotproof_primitives::hex::encode_prefixed(h.as_bytes())
}

/// A `Hash256` from a request: exactly `0x` and 64 hex digits (lowercase, as
/// the schema's pattern says; upper case is accepted and normalised).
pub fn parse_hash256(s: &str) -> Option<Hash32> {
    let digits = s.strip_prefix("0x")?;
    if digits.len() != 64 {
        return None;
    }
    slotproof_primitives::hex::decode(digits).ok().and_then(|b| Hash32::from_slice(&b).ok())
}

#[derive(Serialize)]
pub struct ProofRequestResponse {
    pub new_payload_request_root: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ProofStatus {
    #[serde(rename = "VALID")]
    Valid,
    #[serde(rename = "INVALID")]
    Invalid,
}

#[derive(Serialize)]
pub struct ProofVerificationResponse {
    pub status: ProofStatus,
}

/// `FailureReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    WitnessTimeout,
    ProvingTimeout,
    ProvingError,
    InternalError,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::WitnessTimeout => "witness_timeout",
            FailureReason::ProvingTimeout => "proving_timeout",
            FailureReason::ProvingError => "proving_error",
            FailureReason::InternalError => "internal_error",
        }
    }
}

/// `ProofTypeInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProofTypeInfo {
    pub proof_type: String,
    pub kind: String,
    pub can_prove: bool,
    pub can_verify: bool,
}

#[derive(Serialize)]
pub struct ProofTypesResponse {
    pub proof_types: Vec<ProofTypeInfo>,
}

/// An SSE event: `proof_complete` (`ProofCompleteEvent`) or `proof_failure` (`ProofFailureEvent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    Complete { root: Hash32, proof_type: String },
    Failure { root: Hash32, proof_type: String, reason: FailureReason, error: String },
}

impl EngineEvent {
    pub fn root(&self) -> Hash32 {
        match self {
            EngineEvent::Complete { root, .. } | EngineEvent::Failure { root, .. } => *root,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            EngineEvent::Complete { .. } => "proof_complete",
            EngineEvent::Failure { .. } => "proof_failure",
        }
    }

    /// The event's `data:` JSON.
    pub fn data(&self) -> serde_json::Value {
        match self {
            EngineEvent::Complete { root, proof_type } => {
                serde_json::json!({"new_payload_request_root": hash256(root), "proof_type": proof_type})
            }
            EngineEvent::Failure { root, proof_type, reason, error } => serde_json::json!({
                "new_payload_request_root": hash256(root),
                "proof_type": proof_type,
                "reason": reason.as_str(),
                "error": error,
            }),
        }
    }
}
