//! Building the node's parts from its config, each in one function: the
//! zkVMs and their worker slots, the pipeline (typed, one dispatcher per
//! zkVM), submission, the network, the chain source and the HTTP listener.
//! Every background task it starts is tracked and stops on its own token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use slotproof_chain::devchain::DevChain;
use slotproof_pipeline::{Ordering, PipelineConfig, ProverSet, StageConfig};
use slotproof_queue::Queue;
use slotproof_zkvm::registry::{self, AdapterKind, AdapterState, Machine};
use slotproof_zkvm::sim::SimOptions;
use slotproof_zkvm::slots::{SlotKind, SlotPool};
use slotproof_zkvm::{Prover, devices};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::http::{self, HttpState};
use crate::inputs::StoredInput;
use crate::metrics::Metrics;
use crate::recorder::PROOFS_QUEUE;
use crate::results::ResultStore;
use crate::status::SharedStatus;
use crate::submission::{self, Submitting};

/// Blocks this far behind the newest are dead-lettered as stale by the pipeline.
const STALE_AFTER_BLOCKS: u64 = 64;
/// Attempts before a proving task is dead-lettered.
const PROVE_ATTEMPTS: u32 = 3;

/// The queue a zkVM's proving tasks wait in.
pub fn prove_queue(zkvm: &str) -> String {
    format!("prove:{zkvm}")
}

/// A zkVM the node proves with.
pub struct Zkvm {
    pub name: String,
    pub kind: AdapterKind,
    /// The zkboost proof type (EL/zkVM combination) a zkboost or ere backend
    /// really proves: the proof-engine API offers it under that name.
    pub zkboost_proof_type: Option<String>,
    pub simulated: bool,
    pub pool: Arc<SlotPool>,
    /// Pipeline stage timeout.
    pub timeout: Duration,
}

/// The machine the node runs on, as the zkVM registry sees it.
pub fn machine(cfg: &NodeConfig) -> Machine {
    Machine {
        gpus: devices::inventory().gpus.iter().map(|g| g.index).collect(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        work_dir: cfg.data_dir.join("zkvm"),
        sim: SimOptions { seed: cfg.sim_seed, time_scale: cfg.effective_sim_time_scale(), failure_rate: None },
    }
}

/// The configured zkVMs that are ready, with their stage timeouts; unavailable ones are logged and skipped.
/// Each one's readiness goes to the `zkvm_up` metric.
pub fn ready_zkvms(cfg: &NodeConfig, machine: &Machine, metrics: &Metrics) -> Result<Vec<Zkvm>, NodeError> {
    let entries = if cfg.zkvms.is_empty() { registry::default_entries() } else { cfg.zkvms.clone() };
    let mut zkvms = Vec::new();
    for (adapter, entry) in registry::build(&entries, machine)?.into_iter().zip(&entries) {
        metrics.zkvm(&adapter.name, adapter.state == AdapterState::Ready && adapter.pool.is_some());
        match (&adapter.state, adapter.pool) {
            (AdapterState::Ready, Some(pool)) => {
                info!(target: "slotproof::node", zkvm = %adapter.name, slots = pool.len(), simulated = adapter.simulated, "zkVM ready");
                let timeout = stage_timeout(adapter.kind, entry, cfg.slot_time);
                let zkboost_proof_type = entry
                    .zkboost_proof_type
                    .clone()
                    .filter(|t| slotproof_zkvm::zkboost::ZKBOOST_PROOF_TYPES.contains(&t.as_str()));
                zkvms.push(Zkvm {
                    name: adapter.name.clone(),
                    kind: adapter.kind,
                    zkboost_proof_type,
                    simulated: adapter.simulated,
                    pool,
                    timeout,
                });
            }
            (AdapterState::Unavailable(why), _) => {
                warn!(target: "slotproof::node", zkvm = %adapter.name, reason = %why, "zkVM unavailable; not proving with it")
            }
            (AdapterState::Ready, None) => {}
        }
    }
    if zkvms.is_empty() {
        return Err(NodeError::NoZkvm);
    }
    Ok(zkvms)
}

/// How long the pipeline lets one proof run before cancelling it: a process
/// prover's own timeout with a margin (so the adapter kills and reports it
/// first), else ten slots.
fn stage_timeout(kind: AdapterKind, entry: &registry::ZkvmEntry, slot_time: Duration) -> Duration {
    // The registry already refused an unparsable timeout.
    match registry::process_timeout(entry, kind).ok().flatten() {
        Some(own) => own + Duration::from_secs(5),
        None => (slot_time * 10).max(Duration::from_secs(30)),
    }
}

/// The node's pipeline: one dispatcher per zkVM, each writing its proofs to the proofs queue.
pub fn pipeline_config(zkvms: &[Zkvm]) -> Result<PipelineConfig, NodeError> {
    let stages = zkvms
        .iter()
        .enumerate()
        .map(|(i, z)| {
            StageConfig::dispatcher(format!("prove-{i}"), prove_queue(&z.name), PROOFS_QUEUE, z.name.clone())
                .concurrency(z.pool.len() as u32)
                .timeout(z.timeout)
                .max_attempts(PROVE_ATTEMPTS)
        })
        .collect();
    let ordering = Ordering::Realtime { stale_after_blocks: STALE_AFTER_BLOCKS };
    let known = |name: &str| zkvms.iter().any(|z| z.name == name);
    Ok(PipelineConfig::from_stages("node", ordering, stages, &known)?)
}

/// Ethproofs submission, when configured: clusters found or created first.
pub async fn submission(
    cfg: &NodeConfig,
    zkvms: &[Zkvm],
    machine: &Machine,
) -> Result<Option<Arc<Submitting>>, NodeError> {
    let Some(e) = cfg.ethproofs.as_ref().filter(|e| !e.url.is_empty()) else { return Ok(None) };
    let list: Vec<(String, bool, usize)> = zkvms
        .iter()
        .map(|z| {
            let gpus = z.pool.kinds().iter().filter(|k| matches!(k, SlotKind::Gpu(_))).count();
            (z.name.clone(), z.simulated, gpus)
        })
        .collect();
    let hardware = format!("{} CPU cores, {} GPUs", machine.cores, machine.gpus.len());
    Ok(Some(Arc::new(submission::setup(e, &cfg.data_dir, &list, &hardware).await?)))
}

/// Each zkVM's prover, loading its input from the store by reference; with
/// submission on, the `proving` lifecycle call is written when a prover starts.
pub fn provers(
    zkvms: &[Zkvm],
    store: &Arc<ResultStore>,
    queue: &Arc<Queue>,
    submitting: Option<&Arc<Submitting>>,
) -> BTreeMap<String, Arc<dyn Prover>> {
    let mut out: BTreeMap<String, Arc<dyn Prover>> = BTreeMap::new();
    for z in zkvms {
        let mut stored = StoredInput::new(z.pool.clone(), store.clone());
        if let Some(s) = submitting.filter(|s| s.clusters.contains_key(&z.name)).cloned() {
            let (q, name) = (queue.clone(), z.name.clone());
            stored = stored.on_start(move |block| {
                if let Some(task) = s.proving(block, &name)
                    && let Err(e) = q.enqueue_one(task)
                {
                    warn!(target: "slotproof::submit", block, zkvm = %name, error = %e, "outbox: proving entry not written");
                }
            });
        }
        out.insert(z.name.clone(), Arc::new(stored));
    }
    out
}

/// The same provers as the pipeline's prover set.
pub fn prover_set(provers: &BTreeMap<String, Arc<dyn Prover>>) -> ProverSet {
    let mut set = ProverSet::default();
    for (name, p) in provers {
        set.insert(name.clone(), p.clone());
    }
    set
}

/// A `watch` receiver that flips when `token` is cancelled, for parts that take one.
pub fn watch_of(token: &CancellationToken, tracker: &TaskTracker) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let token = token.clone();
    tracker.spawn(async move {
        token.cancelled().await;
        let _ = tx.send(true);
    });
    rx
}

/// The RPC to follow: the configured one, or the embedded dev chain started here.
pub async fn chain_source(
    cfg: &NodeConfig,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> Result<String, NodeError> {
    if let Some(url) = &cfg.rpc_url {
        return Ok(url.clone());
    }
    let position = Some(cfg.data_dir.join("devchain.position"));
    let chain = DevChain::embedded(cfg.slot_time, position).map_err(NodeError::DevChain)?;
    let bind = "127.0.0.1:0".parse().unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener =
        tokio::net::TcpListener::bind(bind).await.map_err(|source| NodeError::Http { addr: bind, source })?;
    let addr = listener.local_addr().map_err(|source| NodeError::Http { addr: bind, source })?;
    tracker.spawn(chain.clone().serve(listener, watch_of(stop, tracker)));
    tracker.spawn(chain.produce(watch_of(stop, tracker)));
    info!(target: "slotproof::node", %addr, slot_time = ?cfg.slot_time, "embedded dev chain started (real mainnet blocks from testdata/)");
    Ok(format!("ws://{addr}/"))
}

/// `/health`, `/status` and `/metrics`, when an address is configured.
pub async fn http(
    cfg: &NodeConfig,
    state: HttpState,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> Result<(), NodeError> {
    let Some(addr) = cfg.http_listen else { return Ok(()) };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| NodeError::Http { addr, source })?;
    let bound = listener.local_addr().map_err(|source| NodeError::Http { addr, source })?;
    tracker.spawn(http::serve(listener, Arc::new(state), stop.clone()));
    info!(target: "slotproof::node", addr = %bound, dashboard = %format!("http://{bound}/"), "HTTP: dashboard at /, /health /status /metrics");
    Ok(())
}

/// What HTTP handlers read.
pub fn http_state(
    cfg: &NodeConfig,
    zkvms: &[String],
    (store, queue, metrics): (&Arc<ResultStore>, &Arc<Queue>, &Arc<Metrics>),
    status: &SharedStatus,
    submitting: Option<&crate::submission::Submitting>,
    workers: Option<Arc<slotproof_workers::Roster>>,
) -> HttpState {
    let sources = crate::dashboard::Sources {
        store: store.clone(),
        queue: queue.clone(),
        status: status.clone(),
        ethproofs: submitting.map(|s| s.health.clone()),
        workers: workers.clone(),
        slot_ms: cfg.slot_time.as_millis() as u64,
        zkvms: zkvms.to_vec(),
        min_peers: cfg.p2p.as_ref().map(|p| p.min_peers),
    };
    HttpState {
        dashboard: Arc::new(crate::dashboard::Feed::new(sources)),
        store: store.clone(),
        queue: queue.clone(),
        metrics: metrics.clone(),
        status: status.clone(),
        ethproofs: submitting.map(|s| s.health.clone()),
        workers,
    }
}

/// On the NATS backend: the service remote workers lease from, through the
/// pipeline's dispatchers (specs/workers.md §3). None on RocksDB.
pub async fn work_service(
    cfg: &NodeConfig,
    zkvms: &[Zkvm],
    pipeline: &slotproof_pipeline::Pipeline,
    store: &Arc<ResultStore>,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> Result<Option<Arc<slotproof_workers::Roster>>, NodeError> {
    let Some(target) = cfg.queue_backend.nats_target()? else { return Ok(None) };
    let dispatchers =
        zkvms.iter().filter_map(|z| Some((z.name.clone(), (pipeline.dispatcher(&z.name)?, z.simulated)))).collect();
    let store = store.clone();
    let opts = slotproof_workers::ServiceOptions {
        target,
        dispatchers,
        input: Arc::new(move |digest: &[u8; 32]| store.input(&slotproof_primitives::Hash32(*digest))),
        beat_every: slotproof_workers::worker::BEAT_EVERY,
        silence: WORKER_SILENCE,
    };
    let roster = slotproof_workers::WorkService::start(opts, stop.clone(), tracker).await?;
    if !cfg.local_provers {
        info!(target: "slotproof::node", "local provers off: every proof comes from a remote worker");
    }
    Ok(Some(roster))
}

/// A worker that has not beaten for this long loses its jobs (four missed beats).
pub const WORKER_SILENCE: std::time::Duration = std::time::Duration::from_secs(4);

#[cfg(test)]
mod tests {
    use super::*;

    /// A process-backed prover's own timeout (configured or its kind's default)
    /// bounds the stage, with a margin so the adapter reports it first; a RISC
    /// Zero proof on a CPU takes minutes and must not be cut at 10 slots.
    #[test]
    fn a_process_prover_keeps_its_own_timeout() {
        let slot = Duration::from_secs(12);
        let entry = |name: &str, timeout: Option<&str>| registry::ZkvmEntry {
            name: name.into(),
            timeout: timeout.map(String::from),
            ..Default::default()
        };
        let margin = Duration::from_secs(5);
        assert_eq!(stage_timeout(AdapterKind::Risc0, &entry("risc0", None), slot), Duration::from_secs(3600) + margin);
        assert_eq!(
            stage_timeout(AdapterKind::Risc0, &entry("risc0", Some("20m")), slot),
            Duration::from_secs(1200) + margin
        );
        assert_eq!(stage_timeout(AdapterKind::External, &entry("sp1", None), slot), Duration::from_secs(120) + margin);
        assert_eq!(stage_timeout(AdapterKind::Stark, &entry("stark", None), slot), Duration::from_secs(120));
    }
}
