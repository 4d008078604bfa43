//! Wiring Ethproofs submission into the node (specs/submission.md §5):
//! clusters found or created once and remembered in the data dir, and the
//! outbox entries the node writes as blocks and proofs come.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use slotproof_queue::BlobDigest;
use slotproof_submit::api::{CreateCluster, StatusUpdate, StoredProved};
use slotproof_submit::{Client, Limiter, OutboxHealth, Submission, SubmitError, load_token};
use tracing::info;

use crate::config::EthproofsConfig;

/// The Ethproofs zkVM version id used when the config names none (the
/// built-in server accepts any positive id; the real service needs the right one).
pub const DEFAULT_ZKVM_VERSION_ID: u64 = 1;

pub struct Submitting {
    pub client: Client,
    /// The sender's standing with the service, shown in `/status`.
    pub health: Arc<OutboxHealth>,
    /// zkVM name → cluster id, for the zkVMs whose proofs are submitted.
    pub clusters: BTreeMap<String, u64>,
}

/// A stable short id for this node, kept in the data dir.
pub fn node_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let seed = format!("{:?}{}{:?}", std::time::SystemTime::now(), std::process::id(), data_dir);
    let id = slotproof_primitives::hex::encode(&blake3::hash(seed.as_bytes()).as_bytes()[..4]);
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

fn clusters_file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("ethproofs-clusters.json")
}

/// Cluster ids by (base URL, zkVM), so another service gets its own.
fn load_known(data_dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read(clusters_file(data_dir)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn save_known(data_dir: &Path, known: &BTreeMap<String, u64>) -> anyhow::Result<()> {
    let path = clusters_file(data_dir);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(known)?).and_then(|_| std::fs::rename(&tmp, &path))?;
    Ok(())
}

/// Finds or creates the cluster of every submitted zkVM. `zkvms` is (name,
/// simulated, GPU slots).
pub async fn setup(
    cfg: &EthproofsConfig,
    data_dir: &Path,
    zkvms: &[(String, bool, usize)],
    hardware: &str,
) -> anyhow::Result<Submitting> {
    let token = load_token(cfg.token_file.as_deref())?;
    let client = Client::new(&cfg.url, &token, Arc::new(Limiter::ethproofs()))?;
    let id = node_id(data_dir)?;
    let mut known = load_known(data_dir);
    let mut clusters = BTreeMap::new();
    for (name, simulated, gpus) in zkvms {
        if *simulated && !cfg.submit_simulated {
            info!(target: "slotproof::submit", zkvm = %name, "simulated: not submitted (--submit-simulated to submit)");
            continue;
        }
        let key = format!("{}|{name}", cfg.url);
        let cluster = if let Some(c) = cfg.clusters.get(name) {
            *c
        } else if let Some(c) = known.get(&key) {
            *c
        } else {
            let mut cluster_name = format!("slotproof-{name}-{id}");
            cluster_name.truncate(50);
            let request = CreateCluster {
                name: cluster_name.clone(),
                zkvm_version_id: cfg.zkvm_version_ids.get(name).copied().unwrap_or(DEFAULT_ZKVM_VERSION_ID),
                num_gpus: (*gpus).max(1) as u64,
                hardware_description: Some(hardware.chars().take(200).collect()),
                deployment_type: Some("on-prem".into()),
            };
            let mut attempt = 0;
            let created = loop {
                match client.create_cluster(&request).await {
                    Ok(c) => break c,
                    Err(SubmitError::Retry(e)) if attempt < 5 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                        tracing::warn!(target: "slotproof::submit", error = %e, "creating the ethproofs cluster; retrying");
                    }
                    Err(e) => bail!("creating the ethproofs cluster {cluster_name:?} at {}: {e}", cfg.url),
                }
            };
            known.insert(key, created);
            save_known(data_dir, &known)?;
            info!(target: "slotproof::submit", zkvm = %name, cluster = created, name = %cluster_name, "ethproofs cluster created");
            created
        };
        clusters.insert(name.clone(), cluster);
    }
    Ok(Submitting { client, health: Arc::default(), clusters })
}

impl Submitting {
    pub fn queued(&self, block: u64, zkvm: &str) -> Option<slotproof_queue::NewTask> {
        let cluster = *self.clusters.get(zkvm)?;
        Some(Submission::Queued(StatusUpdate { block_number: block, cluster_id: cluster }).task(zkvm))
    }

    pub fn proving(&self, block: u64, zkvm: &str) -> Option<slotproof_queue::NewTask> {
        let cluster = *self.clusters.get(zkvm)?;
        Some(Submission::Proving(StatusUpdate { block_number: block, cluster_id: cluster }).task(zkvm))
    }

    pub fn proved(
        &self,
        block: u64,
        zkvm: &str,
        proving_ms: u64,
        cycles: Option<u64>,
        proof: BlobDigest,
    ) -> Option<slotproof_queue::NewTask> {
        let cluster = *self.clusters.get(zkvm)?;
        let p = StoredProved {
            block_number: block,
            cluster_id: cluster,
            proving_time: proving_ms.max(1),
            // The API wants > 0; a prover reporting 0 has no count to give.
            proving_cycles: cycles.filter(|c| *c > 0),
            proof_digest: proof.to_string(),
            verifier_id: None,
        };
        Some(Submission::ProvedStored(p).task(zkvm))
    }
}
