//! The loop's handlers, driven one event at a time against a real results
//! store (RocksDB in a temp dir), an in-memory queue and a running pipeline
//! with orchestration-test provers (specs/chain.md §5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use slotproof_chain::{ChainEvent, FetchedBlock};
use slotproof_pipeline::{
    Ordering, Outcome, Pipeline, PipelineConfig, ProverSet, RuntimeOptions, StageConfig, StageEvent,
};
use slotproof_primitives::Hash32;
use slotproof_queue::{Queue, QueueConfig};
use slotproof_zkvm::testing::TestProver;
use tokio_util::sync::CancellationToken;

use super::{Flow, LoopParts, NodeLoop};
use crate::book::RecordBook;
use crate::clock::SlotSource;
use crate::coordination::Coordination;
use crate::metrics::Metrics;
use crate::recorder::PROOFS_QUEUE;
use crate::results::{ProofRecord, ProofStatus, ResultStore};
use crate::setup::prove_queue;
use crate::status::SharedStatus;

const ZKVMS: [&str; 2] = ["noop", "sleep:1"];

struct Harness {
    node: NodeLoop,
    store: Arc<ResultStore>,
    queue: Arc<Queue>,
    stop_chain: CancellationToken,
    _dir: tempfile::TempDir,
}

fn pipeline(queue: &Arc<Queue>) -> Pipeline {
    let mut provers = ProverSet::default();
    let stages = ZKVMS
        .iter()
        .enumerate()
        .map(|(i, z)| {
            provers.insert(*z, Arc::new(TestProver::from_name(z).unwrap()));
            StageConfig::dispatcher(format!("prove-{i}"), prove_queue(z), PROOFS_QUEUE, *z)
        })
        .collect();
    let known = |n: &str| ZKVMS.contains(&n);
    let cfg =
        PipelineConfig::from_stages("test", Ordering::Realtime { stale_after_blocks: 64 }, stages, &known).unwrap();
    Pipeline::start(cfg, queue.clone(), &provers, RuntimeOptions::default()).unwrap()
}

async fn harness(exit_after_blocks: Option<u64>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ResultStore::open(dir.path()).unwrap());
    let queue = Arc::new(Queue::memory(QueueConfig::default()));
    let stop_chain = CancellationToken::new();
    // Nothing listens there: the beacon clock stands in.
    let slots = SlotSource::new("http://127.0.0.1:9/", Duration::from_secs(12), 1_606_824_023).await;
    let zkvms: Vec<String> = ZKVMS.iter().map(|z| z.to_string()).collect();
    let parts = LoopParts {
        book: Arc::new(RecordBook::new(store.clone())),
        queue: queue.clone(),
        metrics: Arc::new(Metrics::new()),
        pipeline: pipeline(&queue),
        coordination: Coordination::Alone { zkvms: zkvms.clone() },
        submitting: None,
        zkvms,
        slots,
        status: SharedStatus::default(),
        open: Default::default(),
        stop_chain: stop_chain.clone(),
        exit_after_blocks,
        engine: None,
        requested: vec![],
    };
    Harness { node: NodeLoop::new(parts), store, queue, stop_chain, _dir: dir }
}

/// A real mainnet block from testdata/.
fn block(number: u64) -> FetchedBlock {
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../../testdata/blocks");
    let json: Value = serde_json::from_slice(&std::fs::read(root.join(format!("{number}.json"))).unwrap()).unwrap();
    let hash = |k: &str| json[k].as_str().unwrap().parse::<Hash32>().unwrap();
    let timestamp = u64::from_str_radix(json["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    FetchedBlock { number, hash: hash("hash"), parent_hash: hash("parentHash"), timestamp, json: Arc::new(json) }
}

fn new_block(number: u64) -> ChainEvent {
    ChainEvent::Block { block: block(number), receipts: None, witness: None }
}

fn stage_event(block: u64, prover: &str, outcome: Outcome) -> StageEvent {
    StageEvent {
        stage: "prove-0".into(),
        prover: Some(prover.into()),
        block,
        inputs: vec![],
        outputs: vec![],
        prover_start: None,
        prover_end: None,
        committed: Instant::now(),
        outcome,
    }
}

/// Polls `f` until it holds or 10 s pass.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn proofs_in_queue(queue: &Queue) -> u64 {
    queue.stats().unwrap().queues.get(PROOFS_QUEUE).map_or(0, |c| c.pending + c.delayed + c.leased)
}

#[tokio::test]
async fn a_block_alone_is_recorded_opened_and_proved_by_every_zkvm() {
    let mut h = harness(None).await;
    let b = block(16000000);
    h.node.on_chain_event(new_block(16000000)).await.unwrap();
    let r = h.store.get(b.number, &b.hash).unwrap().expect("recorded");
    assert_eq!(r.zkvms, ZKVMS.map(String::from));
    assert_eq!(r.parent_hash, b.parent_hash);
    assert!(h.store.input(&r.input_digest).is_some(), "the input is stored under its digest");
    assert!(h.node.open.contains(&(b.number, b.hash)));
    assert_eq!(h.node.status.snapshot().head.map(|x| x.hash), Some(b.hash));
    // One task per zkVM went through the pipeline: two proofs wait for the recorder.
    eventually("two proofs", || proofs_in_queue(&h.queue) == 2);
}

#[tokio::test]
async fn a_block_delivered_again_keeps_its_record() {
    let mut h = harness(None).await;
    let b = block(16000001);
    h.node.on_chain_event(new_block(b.number)).await.unwrap();
    let book = RecordBook::new(h.store.clone());
    book.update(b.number, &b.hash, |r| {
        r.proofs.insert("noop".into(), ProofRecord::default());
    })
    .unwrap();
    h.node.on_chain_event(new_block(b.number)).await.unwrap();
    assert!(h.store.get(b.number, &b.hash).unwrap().unwrap().proofs.contains_key("noop"), "not overwritten");
}

#[tokio::test]
async fn a_reorged_block_is_orphaned_and_no_longer_open() {
    let mut h = harness(None).await;
    let b = block(16000003);
    h.node.on_chain_event(new_block(b.number)).await.unwrap();
    h.node.on_chain_event(ChainEvent::Reorg { orphaned: vec![(b.number, b.hash)] }).await.unwrap();
    assert!(h.store.get(b.number, &b.hash).unwrap().unwrap().orphaned);
    assert!(h.node.open.is_empty());
}

#[tokio::test]
async fn closing_after_the_deadline_records_failed_and_missed_zkvms() {
    let mut h = harness(None).await;
    let b = block(16000004);
    h.node.on_chain_event(new_block(b.number)).await.unwrap();
    h.node.on_stage_event(&stage_event(b.number, "noop", Outcome::Dead("prover exploded".into())));
    // Not before its deadline.
    let deadline = h.store.get(b.number, &b.hash).unwrap().unwrap().deadline_ms;
    h.node.close_ready_blocks(deadline.saturating_sub(1)).unwrap();
    assert!(h.node.open.contains(&(b.number, b.hash)), "still open before the deadline");
    h.node.close_ready_blocks(deadline + 1).unwrap();
    let r = h.store.get(b.number, &b.hash).unwrap().unwrap();
    assert!(r.closed && !r.deadline_met);
    let noop = &r.proofs["noop"];
    assert_eq!((noop.status, noop.error.as_deref()), (ProofStatus::Failed, Some("prover exploded")));
    assert_eq!(r.proofs["sleep:1"].status, ProofStatus::Missed);
    assert!(h.node.open.is_empty() && h.node.dead.is_empty() && h.node.queued_at.is_empty(), "per-block state pruned");
    assert_eq!(h.node.closed_this_run, vec![(b.number, b.hash)]);
}

#[tokio::test]
async fn a_block_closes_early_once_every_zkvm_proved_in_time() {
    let mut h = harness(None).await;
    let b = block(16000005);
    h.node.on_chain_event(new_block(b.number)).await.unwrap();
    let book = RecordBook::new(h.store.clone());
    for z in ZKVMS {
        let p =
            ProofRecord { status: ProofStatus::Proved, verified: true, within_deadline: true, ..Default::default() };
        book.update(b.number, &b.hash, |r| {
            r.proofs.insert(z.into(), p);
        })
        .unwrap();
    }
    h.node.close_ready_blocks(0).unwrap();
    let r = h.store.get(b.number, &b.hash).unwrap().unwrap();
    assert!(r.closed && r.deadline_met);
}

#[tokio::test]
async fn exit_after_blocks_stops_following_then_ends_once_drained() {
    let mut h = harness(Some(1)).await;
    let b = block(17000000);
    h.node.on_chain_event(new_block(b.number)).await.unwrap();
    assert_eq!(h.node.exit_check(), Flow::Continue);
    assert!(!h.stop_chain.is_cancelled(), "no block closed yet");
    eventually("two proofs", || proofs_in_queue(&h.queue) == 2);
    h.node.close_ready_blocks(u64::MAX).unwrap();
    assert_eq!(h.node.exit_check(), Flow::Continue, "proofs still wait for the recorder");
    assert!(h.stop_chain.is_cancelled() && !h.node.following);
    while let Some(l) = h.queue.lease(PROOFS_QUEUE, "test", Duration::from_secs(5)).unwrap() {
        h.queue.ack(l.id, l.token).unwrap();
    }
    assert_eq!(h.node.exit_check(), Flow::Done);
}

/// An engine whose backend the test plays: requests go nowhere (the test
/// hands them to the loop itself), nothing verifies.
struct NoBackend;

impl slotproof_proof_engine::Backend for NoBackend {
    fn submit(&self, _: slotproof_proof_engine::Accepted) -> Result<(), String> {
        Ok(())
    }
    fn verify(&self, _: &str, _: slotproof_proof_engine::KnownBlock, _: &[u8]) -> Result<(), String> {
        Err("not here".into())
    }
}

fn with_engine(h: &mut Harness) -> Arc<slotproof_proof_engine::ProofEngine> {
    let offers = crate::engine_link::offers(
        &ZKVMS
            .iter()
            .map(|z| crate::engine_link::EngineZkvm {
                name: z.to_string(),
                kind: "sim".into(),
                proof_type: None,
                form: slotproof_proof_engine::ProofForm::WithPublicValues,
                can_verify: true,
            })
            .collect::<Vec<_>>(),
    );
    let engine = slotproof_proof_engine::ProofEngine::new(offers, Arc::new(NoBackend), Default::default());
    h.node.engine = Some(crate::engine_link::EngineLink { engine: engine.clone(), forms: Arc::default() });
    engine
}

fn request(number: u64, zkvms: &[&str]) -> slotproof_proof_engine::Accepted {
    let json = block(number).json;
    let root = slotproof_payload::from_block_json(&json).unwrap().root().unwrap();
    slotproof_proof_engine::Accepted { root, block: json, zkvms: zkvms.iter().map(|z| z.to_string()).collect() }
}

/// specs/proof-engine.md §2: a request for a block the chain has not shown
/// enters like a followed block, first in line, never stale, the head unmoved.
#[tokio::test]
async fn a_request_for_an_unseen_block_is_recorded_and_queued_first() {
    let mut h = harness(None).await;
    with_engine(&mut h);
    let a = request(19_900_000, &["noop"]);
    let b = block(19_900_000);
    h.node.on_engine_request(a.clone()).await.unwrap();
    let r = h.store.get(b.number, &b.hash).unwrap().expect("recorded");
    assert_eq!(r.zkvms, vec!["noop".to_string()]);
    assert_eq!(r.new_payload_request_root, Some(a.root));
    assert!(r.requested, "only a request named it");
    assert!(h.store.input(&r.input_digest).is_some());
    assert!(h.node.open.contains(&(b.number, b.hash)));
    assert_eq!(h.node.pipeline.ctx().head(), 0, "a request does not move the followed chain's head");
    eventually("the requested proof", || proofs_in_queue(&h.queue) == 1);
}

/// A request for a block whose zkVM is already on its way adds no second task.
#[tokio::test]
async fn a_request_for_a_block_in_progress_joins_it() {
    let mut h = harness(None).await;
    with_engine(&mut h);
    h.node.on_chain_event(new_block(16_000_000)).await.unwrap();
    // Every task the noop queue ever held, whatever state it is in now.
    let stats = |q: &Queue| {
        let c = q.stats().unwrap().queues.get(&prove_queue("noop")).cloned().unwrap_or_default();
        c.pending + c.leased + c.done + c.delayed + c.dead
    };
    let before = stats(&h.queue);
    h.node.on_engine_request(request(16_000_000, &["noop"])).await.unwrap();
    assert_eq!(stats(&h.queue), before, "no new task");
}

/// A proving task given up on fails the pending request with a reason.
#[tokio::test]
async fn a_dead_task_fails_the_request() {
    let mut h = harness(None).await;
    let engine = with_engine(&mut h);
    let a = request(21_230_866, &["noop"]);
    let mut events = engine.subscribe();
    // Claimed as the API does before handing the request on.
    assert!(engine.parse_types(Some("noop")).is_ok());
    h.node.on_engine_request(a.clone()).await.unwrap();
    engine
        .know_requested(a.root, slotproof_proof_engine::KnownBlock { number: 21_230_866, input_digest: Hash32::ZERO });
    assert_eq!(engine.claim(a.root, &["noop".to_string()]).unwrap(), ["noop"]);
    h.node.on_stage_event(&stage_event(21_230_866, "noop", Outcome::Dead("prover timed out after 3s".into())));
    let e = events.try_recv().expect("a failure event");
    assert_eq!(
        e,
        slotproof_proof_engine::EngineEvent::Failure {
            root: a.root,
            proof_type: "noop".into(),
            reason: slotproof_proof_engine::FailureReason::ProvingTimeout,
            error: "prover timed out after 3s".into()
        }
    );
}

/// A request that names a block before the chain shows it: when the follower
/// delivers it, the block keeps the request's record and input (the proofs
/// queued for the request name that input), becomes followed, and its own
/// zkVMs' tasks name the same input, so every proof finds its record.
#[tokio::test]
async fn a_block_requested_before_the_chain_shows_it_keeps_one_record() {
    let mut h = harness(None).await;
    with_engine(&mut h);
    let b = block(16_000_001);
    h.node.on_engine_request(request(16_000_001, &["noop"])).await.unwrap();
    let requested = h.store.get(b.number, &b.hash).unwrap().unwrap();
    // The follower's input differs (receipts added): a different digest.
    let receipts = serde_json::json!([]);
    let followed = ChainEvent::Block { block: b.clone(), receipts: Some(receipts), witness: None };
    h.node.on_chain_event(followed).await.unwrap();
    let r = h.store.get(b.number, &b.hash).unwrap().unwrap();
    assert!(!r.requested, "followed now");
    assert_eq!(r.input_digest, requested.input_digest, "the request's input is kept");
    assert_eq!(r.zkvms, ZKVMS.map(String::from), "the node's zkVMs are added");
    // Both zkVMs prove (noop once: the request's task and the block's are one),
    // and every proof names the input the record holds: the recorder finds it.
    eventually("a proof per zkVM", || proofs_in_queue(&h.queue) == 2);
    let reference = slotproof_zkvm::ProvingInput::new(b.number, r.input_digest.as_bytes().to_vec()).digest;
    for (info, payload) in h.queue.live_payloads().unwrap().into_iter().filter(|(i, _)| i.queue == PROOFS_QUEUE) {
        let proof = slotproof_pipeline::payload::ProofPayload::decode(&payload).unwrap();
        assert_eq!(proof.input_digest, reference, "{} names an input no record has", info.target);
    }
}

/// A request for a block already closed leaves it closed: its verdict stands
/// and it is not counted twice in the run's summary.
#[tokio::test]
async fn a_request_for_a_closed_block_does_not_reopen_it() {
    let mut h = harness(None).await;
    with_engine(&mut h);
    let b = block(16_000_003);
    h.node.on_chain_event(new_block(b.number)).await.unwrap();
    h.node.close_ready_blocks(u64::MAX).unwrap();
    assert_eq!(h.node.closed_this_run, vec![(b.number, b.hash)]);
    h.node.on_engine_request(request(16_000_003, &["noop"])).await.unwrap();
    assert!(!h.node.open.contains(&(b.number, b.hash)), "still closed");
    h.node.close_ready_blocks(u64::MAX).unwrap();
    assert_eq!(h.node.closed_this_run, vec![(b.number, b.hash)], "counted once");
}
