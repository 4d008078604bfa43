//! `slotproof node` from start to stop: build the parts (setup.rs), run the
//! node loop until it is told to stop or `--exit-after-blocks` is done, then
//! shut down in dependency order so nothing finished is lost: stop following,
//! let running proofs finish within the grace period, let the recorder record
//! them, let the outbox send, announce the last proofs, and stop serving HTTP
//! last so `/health` answers until the node has drained. Every task the node
//! started is tracked and awaited.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use slotproof_chain::{Canonical, Follower, FollowerConfig};
use slotproof_pipeline::{Observer, Pipeline, RuntimeOptions, StageEvent};
use slotproof_primitives::Hash32;
use slotproof_proof_engine::{Accepted, Limits, ProofEngine, ProofForm};
use slotproof_queue::{BlobStore, Queue, QueueConfig};
use slotproof_zkvm::Prover;
use slotproof_zkvm::registry::AdapterKind;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::book::RecordBook;
use crate::clock::SlotSource;
use crate::config::NodeConfig;
use crate::coordination::Coordination;
use crate::engine_link::{ENGINE_REQUESTS, EngineLink, EngineZkvm, NodeBackend, offers};
use crate::error::NodeError;
use crate::metrics::Metrics;
use crate::network::{self, LocalZkvm, OwnProof};
use crate::node_loop::{Inbox, LoopParts, NetInbox, NodeLoop, resume};
use crate::recorder::{PROOFS_QUEUE, Recorder};
use crate::results::{BlockRecord, ResultStore, write_summary};
use crate::retention::Retention;
use crate::setup::{self, Zkvm};
use crate::status::{SharedStatus, StatusInfo};

/// How long a proving lease lasts before a silent worker loses it.
const LEASE_FOR: Duration = Duration::from_secs(20);
/// Tasks still running this long after everything else stopped are reported, not awaited further.
const LAST_TASKS: Duration = Duration::from_secs(5);

/// What a run did, for `--summary-json` and the exit code.
pub struct RunReport {
    pub blocks: Vec<BlockRecord>,
}

/// One token per part, all children of one root, cancelled in shutdown order.
struct Tokens {
    root: CancellationToken,
    chain: CancellationToken,
    recorder: CancellationToken,
    sender_drain: CancellationToken,
    sender_stop: CancellationToken,
    net: CancellationToken,
    http: CancellationToken,
}

impl Tokens {
    fn new() -> Tokens {
        let root = CancellationToken::new();
        Tokens {
            chain: root.child_token(),
            recorder: root.child_token(),
            sender_drain: root.child_token(),
            sender_stop: root.child_token(),
            net: root.child_token(),
            http: root.child_token(),
            root,
        }
    }
}

/// Forwards stage events to the node loop.
struct Forward(mpsc::UnboundedSender<StageEvent>);

impl Observer for Forward {
    fn on_stage(&self, event: &StageEvent) {
        let _ = self.0.send(event.clone());
    }
}

/// Background work the loop does not own, stopped in order at shutdown.
struct Background {
    store: Arc<ResultStore>,
    queue: Arc<Queue>,
    recorder: JoinHandle<()>,
    sender: Option<tokio::task::JoinHandle<()>>,
    status: SharedStatus,
}

/// The stores every part shares.
struct Stores {
    store: Arc<ResultStore>,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    /// Proofs by content digest (specs/queue.md §14).
    blobs: Arc<BlobStore>,
}

/// Runs the node until `shutdown` flips or `exit_after_blocks` blocks closed.
pub async fn run(cfg: NodeConfig, shutdown: watch::Receiver<bool>) -> Result<RunReport, NodeError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|source| NodeError::DataDir { path: cfg.data_dir.clone(), source })?;
    let tokens = Tokens::new();
    let tracker = TaskTracker::new();
    let requested = requested_by(shutdown, &tokens.root, &tracker);
    let (mut node, mut inbox, background) = start(&cfg, &tokens, &tracker).await?;
    let outcome = node.run(&mut inbox, &requested).await;
    let (closed, store) = stop(&cfg, node, inbox, background, &tokens, tracker).await;
    outcome?;
    let mut blocks = Vec::new();
    for (n, h) in closed {
        if let Some(r) = store.get(n, &h)?.filter(|r| !r.orphaned) {
            blocks.push(r);
        }
    }
    if let Some(path) = &cfg.summary_json {
        write_summary(path, &blocks)?;
    }
    Ok(RunReport { blocks })
}

/// A token cancelled when the caller's `shutdown` flips (the watch task ends with the node either way).
fn requested_by(
    mut shutdown: watch::Receiver<bool>,
    root: &CancellationToken,
    tracker: &TaskTracker,
) -> CancellationToken {
    let requested = CancellationToken::new();
    let (token, root) = (requested.clone(), root.clone());
    tracker.spawn(async move {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => token.cancel(),
            _ = root.cancelled() => {}
        }
    });
    requested
}

fn open_stores(cfg: &NodeConfig) -> Result<Stores, NodeError> {
    Ok(Stores {
        store: Arc::new(ResultStore::open(&cfg.data_dir)?),
        queue: Arc::new(match cfg.queue_backend.nats_target()? {
            Some(target) => {
                info!(target: "slotproof::node", queue = %target.shown_url(), prefix = %target.prefix, auth = ?target.auth, "queue on NATS JetStream");
                Queue::open_nats(&target, queue_config(cfg))?
            }
            None => Queue::open_rocksdb(&cfg.data_dir.join("queue"), queue_config(cfg))?,
        }),
        metrics: Arc::new(Metrics::new()),
        blobs: Arc::new(BlobStore::open(&cfg.data_dir.join("proofs"))?),
    })
}

/// Builds and starts every part; the loop is returned ready to run.
async fn start(
    cfg: &NodeConfig,
    tokens: &Tokens,
    tracker: &TaskTracker,
) -> Result<(NodeLoop, Inbox, Background), NodeError> {
    if !cfg.local_provers && matches!(cfg.queue_backend, crate::config::QueueBackend::RocksDb) {
        return Err(NodeError::NoProvers);
    }
    let Stores { store, queue, metrics, blobs } = open_stores(cfg)?;
    let retention =
        Retention { queue: queue.clone(), store: store.clone(), blobs: blobs.clone(), keep_blocks: cfg.keep_blocks };
    tracker.spawn(retention.run(tokens.http.clone()));
    let machine = setup::machine(cfg);
    let zkvms = setup::ready_zkvms(cfg, &machine, &metrics)?;
    metrics.slot_seconds.set(cfg.slot_time.as_secs_f64());
    metrics.peers_wanted.set(cfg.p2p.as_ref().map_or(0, |n| n.min_peers) as i64);
    let names: Vec<String> = zkvms.iter().map(|z| z.name.clone()).collect();
    let submitting = setup::submission(cfg, &zkvms, &machine).await?;
    let sender = submitting.as_ref().map(|s| {
        let (drain, stop) = (tokens.sender_drain.clone(), tokens.sender_stop.clone());
        let sender = slotproof_submit::Sender {
            queue: queue.clone(),
            client: s.client.clone(),
            health: s.health.clone(),
            blobs: Some(blobs.clone()),
            clusters: s.clusters.clone(),
        };
        tracker.spawn(sender.run(drain, stop))
    });
    let provers = setup::provers(&zkvms, &store, &queue, submitting.as_ref());
    let (engine, engine_requests) = start_engine(cfg, &zkvms, &provers, tracker, &tokens.http).await?;
    let (coordination, net, announce) = start_network(cfg, &zkvms, &provers, &store, tokens, tracker)?;
    let (stage_tx, stages) = mpsc::unbounded_channel();
    let options = RuntimeOptions {
        lease_for: LEASE_FOR,
        observer: Some(Arc::new(Forward(stage_tx))),
        blobs: Some(blobs.clone()),
        local_dispatchers: cfg.local_provers,
    };
    let pipeline =
        Pipeline::start(setup::pipeline_config(&zkvms)?, queue.clone(), &setup::prover_set(&provers), options)?;
    let workers = setup::work_service(cfg, &zkvms, &pipeline, &store, tracker, &tokens.http).await?;
    let book = Arc::new(RecordBook::new(store.clone()));
    let recorder = Recorder {
        book: book.clone(),
        queue: queue.clone(),
        metrics: metrics.clone(),
        submitting: submitting.clone(),
        zkvms: provers,
        announce,
        blobs,
        engine: engine.clone(),
    }
    .spawn(tokens.recorder.clone())?;
    let rpc_url = setup::chain_source(cfg, tracker, &tokens.chain).await?;
    let slots = SlotSource::new(&rpc_url, cfg.slot_time, cfg.genesis_time).await;
    let Resumed { canonical, open, requested } = resume_from(&store, &pipeline, &names)?;
    let (chain_tx, chain) = mpsc::channel(256);
    let follower_cfg = FollowerConfig {
        beacon_url: cfg.beacon_url.clone(),
        poll_interval: cfg.poll_interval,
        max_catchup: cfg.max_catchup,
        max_reorg_depth: cfg.max_reorg_depth,
        ..FollowerConfig::new(rpc_url.clone())
    };
    tracker.spawn(Follower::new(follower_cfg, canonical, chain_tx).run(setup::watch_of(&tokens.chain, tracker)));
    // The URL may carry a provider key: `/status` shows it redacted.
    let shown = slotproof_primitives::redact::redact_url(&rpc_url);
    let status = SharedStatus::new(StatusInfo { rpc_url: shown, rpc_up: true, ..Default::default() });
    setup::http(
        cfg,
        setup::http_state(cfg, &names, (&store, &queue, &metrics), &status, submitting.as_deref(), workers),
        tracker,
        &tokens.http,
    )
    .await?;
    let parts = LoopParts {
        book,
        queue: queue.clone(),
        metrics,
        pipeline,
        coordination,
        submitting,
        zkvms: names,
        slots,
        status: status.clone(),
        open,
        stop_chain: tokens.chain.clone(),
        exit_after_blocks: cfg.exit_after_blocks,
        engine,
        requested,
    };
    let background = Background { store, queue, recorder, sender, status };
    Ok((NodeLoop::new(parts), Inbox { chain, stages, net, engine: engine_requests }, background))
}

/// What a run takes over from the last: the canonical chain, the blocks left
/// open, and the blocks only proof-engine requests named (oldest first).
struct Resumed {
    canonical: Canonical,
    open: BTreeSet<(u64, Hash32)>,
    requested: Vec<(u64, Hash32)>,
}

/// The canonical chain recorded so far, and the blocks a previous run left open (their tasks resubmitted).
fn resume_from(store: &ResultStore, pipeline: &Pipeline, zkvms: &[String]) -> Result<Resumed, NodeError> {
    let all = store.all()?;
    let followed = all.iter().filter(|r| !r.orphaned && !r.requested);
    let canonical = Canonical::from_blocks(followed.map(|r| (r.block_number, r.block_hash)));
    let mut requested: Vec<&BlockRecord> = all.iter().filter(|r| r.requested).collect();
    requested.sort_by_key(|r| r.arrival_ms);
    let requested = requested.iter().map(|r| (r.block_number, r.block_hash)).collect();
    let open: Vec<BlockRecord> = all.into_iter().filter(|r| !r.closed && !r.orphaned).collect();
    resume(pipeline, &open, zkvms)?;
    if !open.is_empty() {
        info!(target: "slotproof::node", blocks = open.len(), "resuming blocks left open by the last run");
    }
    Ok(Resumed { canonical, open: open.iter().map(|r| (r.block_number, r.block_hash)).collect(), requested })
}

type Announce = Option<mpsc::UnboundedSender<OwnProof>>;

/// The proof-engine API when `--proof-engine-listen` is given (specs/proof-engine.md
/// §2): bound before the chain starts, so it answers within moments of start;
/// requests wait in a bounded channel until the loop runs.
async fn start_engine(
    cfg: &NodeConfig,
    zkvms: &[Zkvm],
    provers: &BTreeMap<String, Arc<dyn Prover>>,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> Result<(Option<EngineLink>, Option<mpsc::Receiver<Accepted>>), NodeError> {
    let Some(addr) = cfg.proof_engine_listen else { return Ok((None, None)) };
    let listed: Vec<EngineZkvm> = zkvms
        .iter()
        .map(|z| EngineZkvm {
            name: z.name.clone(),
            kind: z.kind.as_str().to_string(),
            proof_type: z.zkboost_proof_type.clone(),
            // Someone else's prover: its proof bytes as they are, checked from the block alone.
            form: if matches!(z.kind, AdapterKind::Ere | AdapterKind::Zkboost) {
                ProofForm::Raw
            } else {
                ProofForm::WithPublicValues
            },
            can_verify: provers.get(&z.name).is_some_and(|p| p.can_verify()),
        })
        .collect();
    let offered = offers(&listed);
    let mut names = std::collections::BTreeSet::new();
    if let Some(twice) = offered.iter().find(|o| !names.insert(o.info.proof_type.clone())) {
        return Err(NodeError::ProofEngine(format!(
            "proof type {:?} would be offered by two zkVMs",
            twice.info.proof_type
        )));
    }
    let forms: BTreeMap<String, ProofForm> = listed.iter().map(|z| (z.name.clone(), z.form)).collect();
    let (tx, rx) = mpsc::channel(ENGINE_REQUESTS);
    let backend = NodeBackend { requests: tx, verifiers: provers.clone(), forms: forms.clone() };
    let engine = ProofEngine::new(offered, Arc::new(backend), Limits::default());
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| NodeError::Http { addr, source })?;
    let bound = listener.local_addr().map_err(|source| NodeError::Http { addr, source })?;
    let types: Vec<String> = engine.proof_types().into_iter().map(|t| t.proof_type).collect();
    tracker.spawn(slotproof_proof_engine::api::serve(listener, engine.clone(), stop.clone()));
    info!(target: "slotproof::proof_engine", addr = %bound, proof_types = %types.join(","), "proof-engine API (EIP-8025, zkboost-compatible) listening");
    Ok((Some(EngineLink { engine, forms: Arc::new(forms) }), Some(rx)))
}

/// The proving network when configured (`[p2p]`, `--p2p-listen`, `--bootnode`); otherwise the node proves alone.
fn start_network(
    cfg: &NodeConfig,
    zkvms: &[Zkvm],
    provers: &BTreeMap<String, Arc<dyn Prover>>,
    store: &Arc<ResultStore>,
    tokens: &Tokens,
    tracker: &TaskTracker,
) -> Result<(Coordination, Option<NetInbox>, Announce), NodeError> {
    let names = zkvms.iter().map(|z| z.name.clone()).collect();
    let Some(settings) = cfg.p2p.clone() else { return Ok((Coordination::Alone { zkvms: names }, None, None)) };
    let local: Vec<LocalZkvm> = zkvms
        .iter()
        .filter_map(|z| {
            let id = provers.get(&z.name)?.identity().clone();
            Some((z.name.clone(), id.version, id.proof_type, z.pool.len()))
        })
        .collect();
    let sim = setup::machine(cfg).sim;
    let all = network::all_verifiers(provers, store, sim);
    let tasks = network::Tasks { shutdown: setup::watch_of(&tokens.net, tracker), tracker: tracker.clone() };
    let started = network::start(settings, &cfg.data_dir, store.clone(), &local, all, cfg.slot_time, tasks)?;
    let (own_tx, own) = mpsc::unbounded_channel();
    let inbox = NetInbox { events: started.events, checked: started.checked, own };
    Ok((Coordination::Network(Box::new(started.net)), Some(inbox), Some(own_tx)))
}

/// Stops every part in dependency order; returns the blocks this run closed.
async fn stop(
    cfg: &NodeConfig,
    node: NodeLoop,
    mut inbox: Inbox,
    bg: Background,
    tokens: &Tokens,
    tracker: TaskTracker,
) -> (Vec<(u64, Hash32)>, Arc<ResultStore>) {
    let finished = node.finish();
    finished.stop_chain.cancel();
    let grace = cfg.shutdown_grace;
    let pipeline = finished.pipeline;
    let proofs = tokio::time::timeout(grace, tokio::task::spawn_blocking(move || pipeline.shutdown())).await;
    if proofs.is_err() {
        warn!(target: "slotproof::node", ?grace, "proofs still running after the grace period; their leases return to the queue for the next run");
    }
    // The recorder takes what finished, then stops.
    tokens.recorder.cancel();
    let _ = bg.queue.wake(PROOFS_QUEUE);
    let recorder = bg.recorder;
    let _ = tokio::time::timeout(grace, tokio::task::spawn_blocking(move || recorder.join())).await;
    drain_outbox(bg.sender, tokens, grace).await;
    announce_last(finished.coordination, &mut inbox).await;
    tokens.net.cancel();
    bg.status.update(|s| s.drained = true);
    tokens.http.cancel();
    tokens.root.cancel();
    tracker.close();
    if tokio::time::timeout(LAST_TASKS, tracker.wait()).await.is_err() {
        warn!(target: "slotproof::node", tasks = tracker.len(), "some background tasks did not stop in time");
    }
    (finished.closed_this_run, bg.store)
}

/// The queue's settings from the node's: the dedupe window (specs/queue.md §13).
fn queue_config(cfg: &NodeConfig) -> QueueConfig {
    let done_retention_ms = u64::try_from(cfg.done_retention.as_millis()).unwrap_or(u64::MAX);
    QueueConfig { done_retention_ms, ..QueueConfig::default() }
}

/// The outbox gets the grace period to empty; what is left is sent by the next run.
async fn drain_outbox(sender: Option<tokio::task::JoinHandle<()>>, tokens: &Tokens, grace: Duration) {
    let Some(mut sender) = sender else { return };
    tokens.sender_drain.cancel();
    if tokio::time::timeout(grace, &mut sender).await.is_err() {
        info!(target: "slotproof::submit", "outbox not empty after the grace period; the next run sends the rest");
        tokens.sender_stop.cancel();
        let _ = sender.await;
    }
}

/// Proofs finished during the grace period are still signed, stored and announced.
async fn announce_last(mut coordination: Coordination, inbox: &mut Inbox) {
    let (Some(net), Some(rx)) = (coordination.net(), inbox.net.as_mut()) else { return };
    while let Ok(p) = rx.own.try_recv() {
        let _ = net.own_proof(p).await;
    }
}
