//! The Ethproofs API v0 bodies slotproof sends and serves, field for field as
//! in specs/ethproofs-openapi.json (the published document, copied).

use serde::{Deserialize, Serialize};

/// `POST /clusters`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCluster {
    /// At most 50 characters.
    pub name: String,
    /// > 0.
    pub zkvm_version_id: u64,
    /// > 0 (the server defaults it to 1).
    #[serde(default = "one")]
    pub num_gpus: u64,
    /// At most 200 characters.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hardware_description: Option<String>,
    /// `cloud-hosted` (default) or `on-prem`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deployment_type: Option<String>,
}

fn one() -> u64 {
    1
}

/// `PATCH /clusters/{id}`: every field optional, at least one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCluster {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub num_gpus: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hardware_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zkvm_version_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vk_path: Option<String>,
}

/// One row of `GET /clusters`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterRow {
    pub id: Option<u64>,
    pub name: String,
    pub hardware_description: Option<String>,
}

/// `POST /proofs/queued` and `POST /proofs/proving`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusUpdate {
    pub block_number: u64,
    pub cluster_id: u64,
}

/// `POST /proofs/proved`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proved {
    pub block_number: u64,
    pub cluster_id: u64,
    /// Whole milliseconds, ≥ 1 (the published type is a number; the server stores an integer).
    pub proving_time: u64,
    /// Left out when unknown.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proving_cycles: Option<u64>,
    /// Base64 of the raw proof bytes.
    pub proof: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verifier_id: Option<String>,
}

/// A `proved` call as the outbox keeps it: the proof by content digest in the
/// node's blob store (specs/submission.md §2), read and base64-encoded only
/// when sent, so an entry stays small whatever the proof's size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredProved {
    pub block_number: u64,
    pub cluster_id: u64,
    pub proving_time: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proving_cycles: Option<u64>,
    /// blake3 of the raw proof bytes, 64 hex digits: the blob's name.
    pub proof_digest: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verifier_id: Option<String>,
}

impl StoredProved {
    /// The API body, with the proof's bytes.
    pub fn with_proof(&self, proof: &[u8]) -> Proved {
        use base64::Engine as _;
        Proved {
            block_number: self.block_number,
            cluster_id: self.cluster_id,
            proving_time: self.proving_time,
            proving_cycles: self.proving_cycles,
            proof: base64::engine::general_purpose::STANDARD.encode(proof),
            verifier_id: self.verifier_id.clone(),
        }
    }
}

/// `{ proof_id }`, the answer to the three lifecycle calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofId {
    pub proof_id: u64,
}

/// ISO-8601 UTC (`2025-01-15T12:00:00.123Z`) from unix milliseconds.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_732_128_875_000), "2024-11-20T18:54:35.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn unknown_cycles_are_left_out() {
        let p = Proved {
            block_number: 1,
            cluster_id: 2,
            proving_time: 3,
            proving_cycles: None,
            proof: "AA==".into(),
            verifier_id: None,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert!(v.get("proving_cycles").is_none() && v.get("verifier_id").is_none());
    }
}
