//! `slotproof node`: follower → queue → pipeline (one dispatcher per zkVM,
//! every zkVM proves every block in parallel) → recorder (verifies each proof
//! and records it against the slot deadline) → results, HTTP and metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use slotproof_chain::devchain::{CLIENT_VERSION, DevChain};
use slotproof_chain::{Canonical, ChainEvent, FetchedBlock, Follower, FollowerConfig, Rpc, SlotClock};
use slotproof_pipeline::payload::ProofPayload;
use slotproof_pipeline::{Observer, Outcome, Pipeline, PipelineConfig, ProverSet, RuntimeOptions, StageEvent};
use slotproof_queue::{NewTask, Queue, QueueConfig};
use slotproof_zkvm::registry::{self, AdapterKind, AdapterState, Machine};
use slotproof_zkvm::sim::SimOptions;
use slotproof_zkvm::slots::SlotPool;
use slotproof_zkvm::{Prover, ProvingInput, devices};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::config::NodeConfig;
use crate::http::{self, HttpState, StatusInfo};
use crate::inputs::{StoredInput, block_proving_input, hex};
use crate::metrics::{Metrics, QueueLabel, ZkvmLabel};
use crate::network::{self, OwnProof};
use crate::results::{BlockRecord, ProofRecord, ResultStore};
use crate::submission::Submitting;

/// The queue every dispatcher writes its proofs to; the recorder reads it.
pub const PROOFS_QUEUE: &str = "proofs";

fn prove_queue(zkvm: &str) -> String {
    format!("prove:{zkvm}")
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A zkVM the node proves with.
struct Zkvm {
    name: String,
    simulated: bool,
    pool: Arc<SlotPool>,
    /// Pipeline stage timeout.
    timeout: Duration,
}

/// One pipeline definition for the node's zkVMs: a dispatcher each, all
/// writing to the proofs queue.
fn pipeline_toml(zkvms: &[Zkvm]) -> String {
    let mut t = String::from("name = \"node\"\nordering = \"realtime\"\nstale_after_blocks = 64\n");
    for (i, z) in zkvms.iter().enumerate() {
        t.push_str(&format!(
            "\n[[stage]]\nname = \"prove-{i}\"\nkind = \"dispatcher\"\ninput = \"{}\"\noutput = \"{PROOFS_QUEUE}\"\nprover = \"{}\"\nconcurrency = {}\ntimeout = \"{}ms\"\nmax_attempts = 3\n",
            prove_queue(&z.name),
            z.name,
            z.pool.len(),
            z.timeout.as_millis()
        ));
    }
    t
}

/// Forwards stage events to the node loop.
struct Forward(mpsc::UnboundedSender<StageEvent>);

impl Observer for Forward {
    fn on_stage(&self, event: &StageEvent) {
        let _ = self.0.send(event.clone());
    }
}

/// How slots are numbered: asked of the dev chain, computed on a real chain.
enum Clock {
    Beacon(SlotClock),
    DevChain(Rpc),
}

impl Clock {
    fn beacon(slot: Duration, genesis_time: u64) -> Clock {
        Clock::Beacon(SlotClock::Beacon { genesis_time, slot })
    }

    /// None while the RPC cannot be reached: asked again at the first block.
    async fn detect(url: &str, slot: Duration, genesis_time: u64) -> Option<Clock> {
        let beacon = Clock::beacon(slot, genesis_time);
        match Rpc::connect(url).await {
            Ok(rpc) => match rpc.client_version().await {
                Ok(v) if v.starts_with(CLIENT_VERSION) => Some(Clock::DevChain(rpc)),
                Ok(_) => Some(beacon),
                Err(_) => None,
            },
            Err(e) => {
                info!(target: "slotproof::node", error = %e, "RPC not reachable yet; the slot clock is chosen at the first block");
                None
            }
        }
    }

    /// (slot, start ms, deadline ms) of a block.
    async fn timing(&self, block: &FetchedBlock, arrival_ms: u64, slot_time: Duration) -> (u64, u64, u64) {
        match self {
            Clock::Beacon(c) => {
                let t = c.timing(block.timestamp, None);
                (t.slot, t.start_ms, t.deadline_ms)
            }
            Clock::DevChain(rpc) => {
                let v = rpc.raw("slotproof_slotOf", json!([block.hash])).await.unwrap_or(Value::Null);
                let slot = v["slot"].as_u64().unwrap_or(0);
                let start = v["start_ms"].as_u64().unwrap_or(arrival_ms);
                let len = v["slot_time_ms"].as_u64().unwrap_or(slot_time.as_millis() as u64);
                (slot, start, start + len)
            }
        }
    }
}

/// What a run did, for `--summary-json` and the exit code.
pub struct RunReport {
    pub blocks: Vec<BlockRecord>,
}

/// The summary object of one block (the `--summary-json` contract).
pub fn summary_of(r: &BlockRecord) -> Value {
    let proofs: Vec<Value> = r
        .zkvms
        .iter()
        .map(|z| {
            let p = r.proofs.get(z).cloned().unwrap_or_default();
            json!({"zkvm": z, "status": p.status, "proving_ms": p.proving_ms, "verified": p.verified,
                "simulated": p.simulated, "within_deadline": p.within_deadline, "proof_bytes": p.proof_bytes,
                "latency_ms": p.latency_ms, "error": p.error})
        })
        .collect();
    let network: Vec<Value> = r
        .received
        .iter()
        .map(|p| {
            json!({"zkvm": p.zkvm, "node": p.node, "verified": p.verified, "within_deadline": p.within_deadline,
                "proving_ms": p.proving_ms, "proof_bytes": p.proof_bytes, "simulated": p.simulated, "error": p.error})
        })
        .collect();
    json!({"block_number": r.block_number, "block_hash": r.block_hash, "slot": r.slot,
        "deadline_met": r.deadline_met, "arrival_ms": r.arrival_ms, "deadline_ms": r.deadline_ms, "proofs": proofs,
        "network_proofs": network, "verified_zkvms": r.verified_zkvms(false)})
}

struct Shared {
    store: Arc<ResultStore>,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    /// Set when proofs go to an Ethproofs-style API.
    submitting: Option<Arc<Submitting>>,
    /// Serialises read-modify-write of records between the loop and the recorder.
    records: Mutex<()>,
    zkvms: BTreeMap<String, Arc<dyn Prover>>,
    /// With a network: own verified proofs go to the loop to be signed and announced.
    announce: Option<mpsc::UnboundedSender<OwnProof>>,
}

impl Shared {
    fn update(&self, number: u64, hash: &str, f: impl FnOnce(&mut BlockRecord)) -> anyhow::Result<Option<BlockRecord>> {
        let _guard = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut r) = self.store.get(number, hash)? else { return Ok(None) };
        f(&mut r);
        self.store.put(&r)?;
        Ok(Some(r))
    }
}

/// Reads proofs off the proofs queue, verifies each against the stored input
/// and records it. A proof is acked only after its record is written, so a
/// crash in between re-records the same (block, zkVM) entry, never a second one.
fn recorder(queue: Arc<Queue>, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let lease =
            match queue.lease_wait(PROOFS_QUEUE, "recorder", Duration::from_secs(30), Duration::from_millis(250)) {
                Ok(Some(l)) => l,
                Ok(None) => continue,
                Err(e) => {
                    error!(target: "slotproof::node", error = %e, "recorder: queue error");
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            };
        if let Err(e) = record_proof(&shared, lease.block_number, &lease.payload) {
            warn!(target: "slotproof::node", block = lease.block_number, error = %e, "recorder: proof not recorded");
        }
        if let Err(e) = queue.ack(lease.id, lease.token) {
            warn!(target: "slotproof::node", error = %e, "recorder: ack failed; the proof will be recorded again (same entry)");
        }
    }
}

fn record_proof(shared: &Shared, block: u64, payload: &[u8]) -> anyhow::Result<()> {
    let proof = ProofPayload::decode(payload).context("undecodable proof payload")?;
    let recorded_ms = now_ms();
    // Which record: the one (at this height) whose input reference hashes to the proof's input.
    let Some(record) = shared.store.at_height(block)?.into_iter().find(|r| {
        let reference = ProvingInput::new(block, hex_bytes(&r.input_digest));
        reference.digest == proof.input_digest
    }) else {
        bail!("no block {block} record for this proof's input");
    };
    let artifact = proof.artifact();
    let reference = ProvingInput::new(block, hex_bytes(&record.input_digest));
    let verdict = match shared.zkvms.get(&proof.zkvm) {
        Some(p) => p.verify(&artifact, &reference).map_err(|e| e.to_string()),
        None => Err(format!("no verifier for {}", proof.zkvm)),
    };
    let proving_ms = (proof.proving_us / 1000).max(1);
    let within = recorded_ms <= record.deadline_ms;
    shared
        .metrics
        .proving_seconds
        .get_or_create(&ZkvmLabel { zkvm: proof.zkvm.clone() })
        .observe(proof.proving_us as f64 / 1e6);
    let outcome = match (&verdict, within) {
        (Err(_), _) => "rejected",
        (Ok(()), true) => "proved",
        (Ok(()), false) => "late",
    };
    shared.metrics.proof(&proof.zkvm, outcome);
    shared.update(block, &record.block_hash, |r| {
        let entry = ProofRecord {
            status: if verdict.is_ok() { "proved".into() } else { "failed".into() },
            proving_ms: Some(proving_ms),
            proof_bytes: Some(proof.proof.len() as u64),
            verified: verdict.is_ok(),
            simulated: proof.simulated,
            latency_ms: Some(recorded_ms.saturating_sub(r.arrival_ms)),
            within_deadline: within && verdict.is_ok(),
            error: verdict.clone().err(),
        };
        r.proofs.insert(proof.zkvm.clone(), entry);
    })?;
    if verdict.is_ok()
        && let Some(task) = shared
            .submitting
            .as_ref()
            .and_then(|s| s.proved(block, &proof.zkvm, proving_ms, proof.cycles, &proof.proof))
    {
        // Before the proof's ack: a crash in between re-enqueues the same entry, which the queue drops.
        shared.queue.enqueue_one(task)?;
    }
    if verdict.is_ok()
        && let Some(tx) = &shared.announce
    {
        let proof_type = shared.zkvms.get(&proof.zkvm).map_or(0, |p| p.identity().proof_type);
        let _ = tx.send(OwnProof {
            number: block,
            hash: record.block_hash.parse()?,
            zkvm: proof.zkvm.clone(),
            proving_ms,
            proof_type,
            proof: artifact.proof,
            public_values: artifact.public_values,
        });
    }
    if !within {
        info!(target: "slotproof::node", block, zkvm = %proof.zkvm, proving_ms, "late proof recorded (after the slot deadline)");
    }
    Ok(())
}

pub(crate) fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// One readable line per closed block.
fn log_closed(r: &BlockRecord) {
    let parts: Vec<String> = r
        .zkvms
        .iter()
        .map(|z| match r.proofs.get(z) {
            Some(p) if p.status == "proved" => {
                let late = if p.within_deadline { "" } else { " late" };
                format!(
                    "{z} {:.2}s{}{late}",
                    p.proving_ms.unwrap_or(0) as f64 / 1e3,
                    if p.verified { " ok" } else { "" }
                )
            }
            Some(p) => format!("{z} {}", p.status),
            None => format!("{z} missed"),
        })
        .collect();
    let short = r.block_hash.get(..10).unwrap_or(&r.block_hash);
    info!(
        target: "slotproof::node",
        "block {} {}… slot {}: {} — {}",
        r.block_number,
        short,
        r.slot,
        parts.join(", "),
        if r.deadline_met { "deadline met" } else { "deadline MISSED" }
    );
}

/// Runs the node until `shutdown` flips or `exit_after_blocks` blocks closed.
pub async fn run(cfg: NodeConfig, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<RunReport> {
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let store = Arc::new(ResultStore::open(&cfg.data_dir)?);
    let queue = Arc::new(Queue::open_rocksdb(&cfg.data_dir.join("queue"), QueueConfig::default())?);
    let metrics = Arc::new(Metrics::new());

    // zkVMs and their worker slots.
    let entries = if cfg.zkvms.is_empty() { registry::default_entries() } else { cfg.zkvms.clone() };
    let machine = Machine {
        gpus: devices::inventory().gpus.iter().map(|g| g.index).collect(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        work_dir: cfg.data_dir.join("zkvm"),
        sim: SimOptions { seed: cfg.sim_seed, time_scale: cfg.effective_sim_time_scale(), failure_rate: None },
    };
    let mut zkvms = Vec::new();
    for (adapter, entry) in registry::build(&entries, &machine)?.into_iter().zip(&entries) {
        match (&adapter.state, adapter.pool) {
            (AdapterState::Ready, Some(pool)) => {
                info!(target: "slotproof::node", zkvm = %adapter.name, slots = pool.len(), simulated = adapter.simulated, "zkVM ready");
                let external =
                    entry.timeout.as_deref().and_then(|t| slotproof_primitives::duration::parse_duration(t).ok());
                let timeout = match adapter.kind {
                    AdapterKind::External => {
                        external.unwrap_or(registry::DEFAULT_EXTERNAL_TIMEOUT) + Duration::from_secs(5)
                    }
                    _ => (cfg.slot_time * 10).max(Duration::from_secs(30)),
                };
                zkvms.push(Zkvm { name: adapter.name.clone(), simulated: adapter.simulated, pool, timeout });
            }
            (AdapterState::Unavailable(why), _) => {
                warn!(target: "slotproof::node", zkvm = %adapter.name, reason = %why, "zkVM unavailable; not proving with it")
            }
            (AdapterState::Ready, None) => {}
        }
    }
    if zkvms.is_empty() {
        bail!("no zkVM is ready to prove (see `slotproof zkvms`)");
    }
    let names: Vec<String> = zkvms.iter().map(|z| z.name.clone()).collect();

    // Ethproofs submission, when configured: clusters first, then the outbox sender.
    let submitting = match cfg.ethproofs.as_ref().filter(|e| !e.url.is_empty()) {
        Some(e) => {
            let list: Vec<(String, bool, usize)> = zkvms
                .iter()
                .map(|z| {
                    let gpus =
                        z.pool.kinds().iter().filter(|k| matches!(k, slotproof_zkvm::slots::SlotKind::Gpu(_))).count();
                    (z.name.clone(), z.simulated, gpus)
                })
                .collect();
            let hardware = format!("{} CPU cores, {} GPUs", machine.cores, machine.gpus.len());
            Some(Arc::new(crate::submission::setup(e, &cfg.data_dir, &list, &hardware).await?))
        }
        None => None,
    };
    let (stop_sender_tx, stop_sender) = watch::channel(false);
    let sender = submitting
        .as_ref()
        .map(|s| tokio::spawn(slotproof_submit::run_sender(queue.clone(), s.client.clone(), stop_sender)));
    // The pipeline, with inputs loaded from the store by reference.
    let pipeline_cfg = PipelineConfig::parse(&pipeline_toml(&zkvms), &|name| names.iter().any(|n| n == name))?;
    let mut provers = ProverSet::default();
    let mut verifiers: BTreeMap<String, Arc<dyn Prover>> = BTreeMap::new();
    for z in &zkvms {
        let mut stored = StoredInput::new(z.pool.clone(), store.clone());
        if let Some(s) = submitting.clone().filter(|s| s.clusters.contains_key(&z.name)) {
            // The `proving` lifecycle call, written to the outbox when a prover starts.
            let (q, name) = (queue.clone(), z.name.clone());
            stored = stored.on_start(move |block| {
                if let Some(task) = s.proving(block, &name)
                    && let Err(e) = q.enqueue_one(task)
                {
                    warn!(target: "slotproof::submit", block, zkvm = %name, error = %e, "outbox: proving entry not written");
                }
            });
        }
        let wrapped: Arc<dyn Prover> = Arc::new(stored);
        provers.insert(z.name.clone(), wrapped.clone());
        verifiers.insert(z.name.clone(), wrapped);
    }
    // The proving network, when configured; otherwise these channels stay silent.
    let (own_tx_keep, mut own_rx) = mpsc::unbounded_channel::<OwnProof>();
    let (_net_events_keep, mut net_events) = mpsc::channel::<slotproof_p2p::NetEvent>(1);
    let (_checked_keep, mut checked_rx) = mpsc::unbounded_channel::<network::Checked>();
    let (stop_net_tx, stop_net) = watch::channel(false);
    let mut net = None;
    let mut own_tx = None;
    if let Some(settings) = cfg.p2p.clone() {
        let local: Vec<network::LocalZkvm> = zkvms
            .iter()
            .filter_map(|z| {
                let id = verifiers.get(&z.name)?.identity().clone();
                Some((z.name.clone(), id.version, id.proof_type, z.pool.len()))
            })
            .collect();
        let all = network::all_verifiers(&verifiers, &store, machine.sim);
        let started = network::start(settings, &cfg.data_dir, store.clone(), &local, all, cfg.slot_time, stop_net)?;
        net_events = started.events;
        checked_rx = started.checked;
        net = Some(started.net);
        own_tx = Some(own_tx_keep);
    } else {
        drop(own_tx_keep);
    }
    let (stage_tx, mut stage_rx) = mpsc::unbounded_channel();
    let pipeline = Pipeline::start(
        pipeline_cfg,
        queue.clone(),
        &provers,
        RuntimeOptions { lease_for: Duration::from_secs(20), observer: Some(Arc::new(Forward(stage_tx))) },
    )?;
    let shared = Arc::new(Shared {
        store: store.clone(),
        queue: queue.clone(),
        metrics: metrics.clone(),
        submitting,
        records: Mutex::new(()),
        zkvms: verifiers.clone(),
        announce: own_tx,
    });
    let stop_recorder = Arc::new(AtomicBool::new(false));
    let recorder_thread = {
        let (q, s, stop) = (queue.clone(), shared.clone(), stop_recorder.clone());
        std::thread::Builder::new().name("recorder".into()).spawn(move || recorder(q, s, stop))?
    };

    // The chain: the embedded dev chain unless an RPC is given.
    let (stop_chain_tx, stop_chain) = watch::channel(false);
    let rpc_url = match &cfg.rpc_url {
        Some(url) => url.clone(),
        None => {
            let chain = DevChain::embedded(cfg.slot_time, Some(cfg.data_dir.join("devchain.position")))?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(chain.clone().serve(listener, stop_chain.clone()));
            tokio::spawn(chain.produce(stop_chain.clone()));
            info!(target: "slotproof::node", %addr, slot_time = ?cfg.slot_time, "embedded dev chain started (real mainnet blocks from testdata/)");
            format!("ws://{addr}/")
        }
    };
    let mut clock = Clock::detect(&rpc_url, cfg.slot_time, cfg.genesis_time).await;

    // Restart: the canonical chain so far, and blocks still open.
    let all = store.all()?;
    let canonical =
        Canonical::from_blocks(all.iter().filter(|r| !r.orphaned).map(|r| (r.block_number, r.block_hash.clone())));
    let mut open: BTreeSet<(u64, String)> = BTreeSet::new();
    for r in all.iter().filter(|r| !r.closed && !r.orphaned) {
        submit_tasks(&pipeline, r, &names)?;
        open.insert((r.block_number, r.block_hash.clone()));
    }
    if !open.is_empty() {
        info!(target: "slotproof::node", blocks = open.len(), "resuming blocks left open by the last run");
    }

    let (chain_tx, mut chain_rx) = mpsc::channel(256);
    let follower_cfg = FollowerConfig {
        poll_interval: cfg.poll_interval,
        max_catchup: cfg.max_catchup,
        max_reorg_depth: cfg.max_reorg_depth,
        ..FollowerConfig::new(rpc_url.clone())
    };
    tokio::spawn(Follower::new(follower_cfg, canonical, chain_tx).run(stop_chain.clone()));

    // HTTP.
    let status = Arc::new(Mutex::new(StatusInfo { rpc_url: rpc_url.clone(), rpc_up: true, ..Default::default() }));
    if let Some(addr) = cfg.http_listen {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("HTTP listener on {addr}"))?;
        let bound = listener.local_addr()?;
        let state = Arc::new(HttpState {
            store: store.clone(),
            queue: queue.clone(),
            metrics: metrics.clone(),
            status: status.clone(),
        });
        tokio::spawn(http::serve(listener, state, stop_chain.clone()));
        info!(target: "slotproof::node", addr = %bound, "HTTP: /health /status /metrics");
    }

    let mut submitted_at: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut dead: BTreeMap<(u64, String), String> = BTreeMap::new();
    let mut closed_this_run: Vec<(u64, String)> = Vec::new();
    let mut following = true;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_peer_poll = Instant::now();
    loop {
        tokio::select! {
            event = chain_rx.recv(), if following => {
                let Some(event) = event else { following = false; continue };
                match event {
                    ChainEvent::Block { block, receipts, witness } => {
                        let arrival = now_ms();
                        metrics.blocks_seen.inc();
                        metrics.head.set(block.number as i64);
                        if clock.is_none() {
                            clock = Clock::detect(&rpc_url, cfg.slot_time, cfg.genesis_time).await;
                        }
                        let beacon = Clock::beacon(cfg.slot_time, cfg.genesis_time);
                        let (slot, _start, deadline) = clock.as_ref().unwrap_or(&beacon).timing(&block, arrival, cfg.slot_time).await;
                        let input = match block_proving_input(&block.json, receipts.as_ref(), witness.as_ref()) {
                            Ok(i) => i,
                            Err(e) => { warn!(target: "slotproof::node", block = block.number, error = %e, "block refused as a proving input"); continue }
                        };
                        let digest = hex(&input.digest);
                        store.put_input(&digest, &input.bytes)?;
                        // On a network the zkVMs are the node's duties, added as they fall due.
                        let record = BlockRecord {
                            block_number: block.number, block_hash: block.hash.clone(), parent_hash: block.parent_hash.clone(),
                            slot, arrival_ms: arrival, deadline_ms: deadline, input_digest: digest,
                            zkvms: if net.is_some() { vec![] } else { names.clone() },
                            wanted: net.as_ref().map_or(0, |n| n.wanted()),
                            ..Default::default()
                        };
                        if store.get(block.number, &block.hash)?.is_none() {
                            store.put(&record)?;
                        }
                        match net.as_mut() {
                            Some(n) => n.on_block(block.number, block.hash.parse()?, block.parent_hash.parse()?, slot, deadline).await,
                            None => submit_tasks(&pipeline, &record, &names)?,
                        }
                        if let Some(s) = &shared.submitting {
                            let entries: Vec<NewTask> = names.iter().filter_map(|z| s.queued(block.number, z)).collect();
                            queue.enqueue(entries)?;
                        }
                        submitted_at.insert(block.number, Instant::now());
                        open.insert((block.number, block.hash.clone()));
                        let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
                        s.head = Some((block.number, block.hash.clone()));
                        s.rpc_up = true;
                        if net.is_some() {
                            info!(target: "slotproof::node", block = block.number, hash = %block.hash, slot, receipts = receipts.is_some(), witness = witness.is_some(), "block queued; the network assigns its zkVMs");
                        } else {
                            info!(target: "slotproof::node", block = block.number, hash = %block.hash, slot, receipts = receipts.is_some(), witness = witness.is_some(), "block queued for {} zkVMs", names.len());
                        }
                    }
                    ChainEvent::Reorg { orphaned } => {
                        metrics.reorgs.inc();
                        for (n, h) in orphaned {
                            let cancelled = pipeline.cancel_block(n, "reorged out").unwrap_or(0);
                            shared.update(n, &h, |r| { r.orphaned = true; })?;
                            if let (Some(net), Ok(h)) = (net.as_mut(), h.parse()) { net.forget(h); }
                            open.remove(&(n, h.clone()));
                            warn!(target: "slotproof::node", block = n, hash = %h, cancelled, "block orphaned by a reorg; its tasks are cancelled");
                        }
                    }
                    ChainEvent::Gap { before, reason } => {
                        metrics.gaps.inc();
                        info!(target: "slotproof::node", before, %reason, "gap: earlier blocks are not proven");
                        status.lock().unwrap_or_else(|e| e.into_inner()).gaps.push(json!({"before": before, "reason": reason}));
                    }
                    ChainEvent::Connection { up, detail } => {
                        status.lock().unwrap_or_else(|e| e.into_inner()).rpc_up = up;
                        if up { info!(target: "slotproof::node", %detail, "RPC connected") } else { warn!(target: "slotproof::node", %detail, "RPC down") }
                    }
                }
            }
            event = stage_rx.recv() => {
                let Some(e) = event else { continue };
                let zkvm = e.stage.strip_prefix("prove-").and_then(|i| i.parse::<usize>().ok()).and_then(|i| names.get(i)).cloned();
                match (&e.outcome, zkvm) {
                    (Outcome::Dead(err), Some(z)) => {
                        metrics.proof(&z, "failed");
                        if let Some(net) = net.as_mut() { net.given_up(e.block, &z); }
                        dead.insert((e.block, z), err.clone());
                    }
                    (Outcome::Done, Some(_)) => {
                        if let (Some(start), Some(end), Some(sub)) = (e.prover_start, e.prover_end, submitted_at.get(&e.block)) {
                            let overhead = start.saturating_duration_since(*sub) + e.committed.saturating_duration_since(end);
                            metrics.overhead_seconds.observe(overhead.as_secs_f64());
                        }
                    }
                    _ => {}
                }
            }
            event = net_events.recv(), if net.is_some() => {
                let (Some(event), Some(n)) = (event, net.as_mut()) else { continue };
                match event {
                    slotproof_p2p::NetEvent::Gossip(msg) => n.on_gossip(msg).await,
                    slotproof_p2p::NetEvent::Connected(peer) => {
                        // From a little before the newest block this node knows: what it missed while down.
                        if let Some(newest) = store.recent(1)?.first().map(|r| r.block_number) {
                            n.on_connected(peer, newest.saturating_sub(8));
                        }
                    }
                    slotproof_p2p::NetEvent::Disconnected(_) | slotproof_p2p::NetEvent::Listening(_) => {}
                }
            }
            checked = checked_rx.recv(), if net.is_some() => {
                let (Some(c), Some(n)) = (checked, net.as_mut()) else { continue };
                n.on_checked(&c).await;
                if let Ok((p, bytes)) = &c.result {
                    store.put_signed(c.number, &c.hash.to_string(), &p.zkvm, &p.node, bytes)?;
                    let short = p.node.get(p.node.len().saturating_sub(6)..).unwrap_or(&p.node).to_string();
                    let (zkvm, verified, within) = (p.zkvm.clone(), p.verified, p.within_deadline);
                    let added = shared.update(c.number, &c.hash.to_string(), |r| { r.receive(p.clone()); })?.is_some();
                    if added {
                        metrics.proof(&zkvm, if verified { "received" } else { "received_unverified" });
                        info!(target: "slotproof::p2p", block = c.number, %zkvm, node = %short, verified, within_deadline = within, "proof received from the network");
                    }
                }
            }
            own = own_rx.recv(), if net.is_some() => {
                let (Some(p), Some(n)) = (own, net.as_mut()) else { continue };
                let (block, zkvm) = (p.number, p.zkvm.clone());
                if let Err(e) = n.own_proof(p).await {
                    warn!(target: "slotproof::p2p", block, %zkvm, error = %e, "proof not announced");
                }
            }
            _ = tick.tick() => {
                let now = now_ms();
                if let Some(n) = net.as_mut() {
                    for (number, hash, z) in n.due(now).await {
                        let updated = shared.update(number, &hash.to_string(), |r| { if !r.zkvms.contains(&z) { r.zkvms.push(z.clone()); } })?;
                        if let Some(r) = updated { submit_tasks(&pipeline, &r, std::slice::from_ref(&z))?; }
                    }
                    let head = status.lock().unwrap_or_else(|e| e.into_inner()).head.clone();
                    n.tick(now, head.as_ref().and_then(|(n, h)| Some((*n, h.parse().ok()?)))).await;
                    if last_peer_poll.elapsed() >= Duration::from_secs(1) {
                        last_peer_poll = Instant::now();
                        let peers: Vec<Value> = n.client.peers().await.iter()
                            .map(|p| json!({"peer": p.peer.to_string(), "score": p.score})).collect();
                        metrics.peers.set(peers.len() as i64);
                        status.lock().unwrap_or_else(|e| e.into_inner()).network =
                            Some(json!({"node_id": n.me, "live_provers": n.live_peers(), "peers": peers}));
                    }
                }
                for (n, h) in open.clone() {
                    let Some(r) = store.get(n, &h)? else { open.remove(&(n, h)); continue };
                    // On a network a block is done when its wanted zkVMs are verified, by anyone.
                    let covered = if net.is_some() { r.verified_zkvms(false).len() >= r.wanted.max(1) } else { true };
                    if !((r.all_proved() && covered) || now > r.deadline_ms) {
                        continue;
                    }
                    let networked = net.is_some();
                    let closed = shared.update(n, &h, |r| {
                        r.closed = true;
                        r.deadline_met = if networked {
                            r.verified_zkvms(true).len() >= r.wanted.max(1)
                        } else {
                            r.all_proved() && r.zkvms.iter().all(|z| r.proofs.get(z).is_some_and(|p| p.within_deadline))
                        };
                        for z in r.zkvms.clone() {
                            r.proofs.entry(z.clone()).or_insert_with(|| match dead.get(&(n, z.clone())) {
                                Some(err) => ProofRecord { status: "failed".into(), error: Some(err.clone()), ..Default::default() },
                                None => ProofRecord { status: "missed".into(), ..Default::default() },
                            });
                        }
                    })?;
                    open.remove(&(n, h.clone()));
                    if let Some(r) = closed {
                        metrics.blocks_closed.inc();
                        if !r.deadline_met { metrics.deadline_misses.inc(); }
                        log_closed(&r);
                        closed_this_run.push((n, h));
                    }
                }
                if let Ok(stats) = queue.stats() {
                    for (q, c) in stats.queues {
                        metrics.queue_depth.get_or_create(&QueueLabel { queue: q }).set((c.pending + c.delayed + c.leased) as i64);
                    }
                }
                if let Some(limit) = cfg.exit_after_blocks {
                    if following && closed_this_run.len() as u64 >= limit {
                        info!(target: "slotproof::node", blocks = closed_this_run.len(), "--exit-after-blocks reached: no new blocks; draining");
                        following = false;
                        let _ = stop_chain_tx.send(true);
                    }
                    if !following && open.is_empty() && drained(&queue, &names) && outbox_drained(&queue, shared.submitting.is_some()) {
                        break;
                    }
                }
            }
            _ = shutdown.wait_for(|s| *s) => {
                info!(target: "slotproof::node", "shutting down: no new work; waiting for running proofs");
                break;
            }
        }
    }

    // Shutdown: stop following, let running proofs finish within the grace period, flush.
    let _ = stop_chain_tx.send(true);
    let grace = cfg.shutdown_grace;
    let stopped = tokio::time::timeout(grace, tokio::task::spawn_blocking(move || pipeline.shutdown())).await;
    if stopped.is_err() {
        warn!(target: "slotproof::node", ?grace, "proofs still running after the grace period; their leases return to the queue for the next run");
    }
    // Let the recorder take what finished.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(2) && !drained(&queue, &[]) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_recorder.store(true, Ordering::SeqCst);
    let _ = queue.wake(PROOFS_QUEUE);
    let _ = tokio::task::spawn_blocking(move || recorder_thread.join()).await;
    if let Some(sender) = sender {
        // Give the outbox the grace period to empty; what is left is sent by the next run.
        let until = Instant::now() + grace;
        while Instant::now() < until && !outbox_drained(&queue, true) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop_sender_tx.send(true);
        let _ = sender.await;
    }
    // Proofs finished during the grace period are still signed, stored and announced.
    if let Some(n) = net.as_mut() {
        while let Ok(p) = own_rx.try_recv() {
            let _ = n.own_proof(p).await;
        }
    }
    let _ = stop_net_tx.send(true);

    let mut blocks = Vec::new();
    for (n, h) in closed_this_run {
        if let Some(r) = store.get(n, &h)?
            && !r.orphaned
        {
            blocks.push(r);
        }
    }
    if let Some(path) = &cfg.summary_json {
        write_summary(path, &blocks)?;
    }
    Ok(RunReport { blocks })
}

/// With submission on: nothing pending or leased in the outbox (dead-lettered entries stay for an operator).
fn outbox_drained(queue: &Queue, submitting: bool) -> bool {
    !submitting || drained_queues(queue, &[slotproof_submit::OUTBOX_QUEUE.to_string()])
}

fn drained_queues(queue: &Queue, queues: &[String]) -> bool {
    let Ok(stats) = queue.stats() else { return false };
    queues.iter().all(|q| stats.queues.get(q).is_none_or(|c| c.pending + c.delayed + c.leased == 0))
}

/// Nothing pending or leased in the proving queues and the proofs queue.
fn drained(queue: &Queue, zkvms: &[String]) -> bool {
    let mut queues: Vec<String> = zkvms.iter().map(|z| prove_queue(z)).collect();
    queues.push(PROOFS_QUEUE.into());
    drained_queues(queue, &queues)
}

fn submit_tasks(pipeline: &Pipeline, r: &BlockRecord, zkvms: &[String]) -> anyhow::Result<()> {
    let reference = hex_bytes(&r.input_digest);
    let tasks = zkvms
        .iter()
        .filter(|z| r.zkvms.contains(z))
        .map(|z| NewTask::new(prove_queue(z), r.block_number, reference.clone()).with_target(z.clone()))
        .collect();
    pipeline.submit(tasks)?;
    Ok(())
}

pub fn write_summary(path: &Path, blocks: &[BlockRecord]) -> anyhow::Result<()> {
    let array: Vec<Value> = blocks.iter().map(summary_of).collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&array)?)
        .and_then(|_| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing summary {}", path.display()))
}
