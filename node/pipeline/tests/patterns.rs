//! push0's composition patterns on the threaded runtime (specs/pipeline.md §3),
//! each on the in-memory and the RocksDB queue.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slotproof_pipeline::payload::{Collected, ProofPayload};
use slotproof_pipeline::{Observer, Outcome, Pipeline, PipelineConfig, ProverSet, RuntimeOptions, StageEvent};
use slotproof_queue::{NewTask, Queue, QueueConfig, StateFilter};
use slotproof_zkvm::{
    CancelToken, ExecutionReport, ProofArtifact, Prover, ProverError, ProvingInput, Resources, ZkvmIdentity,
};

/// Records every stage event.
#[derive(Default)]
struct Events(Mutex<Vec<StageEvent>>);

impl Observer for Events {
    fn on_stage(&self, e: &StageEvent) {
        self.0.lock().unwrap().push(e.clone());
    }
}

impl Events {
    fn count(&self, stage: &str, outcome: Outcome) -> usize {
        self.0.lock().unwrap().iter().filter(|e| e.stage == stage && e.outcome == outcome).count()
    }
}

/// A test prover whose behaviour depends on the block: slow, failing or hanging.
struct Scripted {
    id: ZkvmIdentity,
    delay: BTreeMap<u64, Duration>,
    fail_permanent: Vec<u64>,
    fail_transient: Vec<u64>,
    /// When set, every proof is this many bytes.
    proof_len: Option<usize>,
}

impl Scripted {
    fn new(name: &str) -> Self {
        Scripted {
            id: ZkvmIdentity { name: name.into(), version: "test".into(), proof_type: 0xfe },
            delay: BTreeMap::new(),
            fail_permanent: vec![],
            fail_transient: vec![],
            proof_len: None,
        }
    }
}

impl Prover for Scripted {
    fn identity(&self) -> &ZkvmIdentity {
        &self.id
    }
    fn resources(&self) -> Resources {
        Resources::default()
    }
    fn execute(&self, _: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        Ok(ExecutionReport { cycles: 0, duration: Duration::ZERO })
    }
    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        if let Some(d) = self.delay.get(&input.block_number)
            && cancel.sleep(*d)
        {
            return Err(ProverError::Cancelled);
        }
        if self.fail_permanent.contains(&input.block_number) {
            return Err(ProverError::Permanent("scripted permanent failure".into()));
        }
        if self.fail_transient.contains(&input.block_number) {
            return Err(ProverError::Transient("scripted transient failure".into()));
        }
        Ok(ProofArtifact {
            zkvm: self.id.name.clone(),
            proof: self.proof_len.map_or_else(|| input.digest.to_vec(), |n| vec![0x5a; n]),
            public_values: vec![],
            cycles: None,
            proving_time: Duration::from_micros(1),
            simulated: true,
        })
    }
    fn verify(&self, _: &ProofArtifact, _: &ProvingInput) -> Result<(), ProverError> {
        Ok(())
    }
}

struct Setup {
    queue: Arc<Queue>,
    _dir: Option<tempfile::TempDir>,
}

fn memory() -> Setup {
    Setup {
        queue: Arc::new(Queue::memory(QueueConfig { backoff_base_ms: 5, backoff_max_ms: 20, ..Default::default() })),
        _dir: None,
    }
}

fn rocksdb() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cfg = QueueConfig { backoff_base_ms: 5, backoff_max_ms: 20, ..Default::default() };
    Setup { queue: Arc::new(Queue::open_rocksdb(&dir.path().join("queue"), cfg).unwrap()), _dir: Some(dir) }
}

fn start(setup: &Setup, toml: &str, provers: ProverSet, events: &Arc<Events>) -> Pipeline {
    let cfg = PipelineConfig::parse(toml, &|p| provers.knows(p)).unwrap();
    let opts = RuntimeOptions {
        lease_for: Duration::from_secs(5),
        observer: Some(events.clone()),
        ..RuntimeOptions::default()
    };
    Pipeline::start(cfg, setup.queue.clone(), &provers, opts).unwrap()
}

/// Waits until `sink` has `n` tasks (pending, never leased: nothing reads a sink).
fn wait_sink(q: &Queue, sink: &str, n: u64) -> Vec<slotproof_queue::TaskInfo> {
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        let v = q.view().unwrap();
        let got = v.list(Some(sink), StateFilter::All, usize::MAX, q.now_ms());
        if got.len() as u64 >= n || Instant::now() > give_up {
            return got;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn block_task(queue: &str, block: u64, subtask: u32) -> NewTask {
    NewTask::new(queue, block, format!("input {block}/{subtask}").into_bytes()).with_subtask(subtask)
}

const SEQUENTIAL: &str = r#"
stale_after_blocks = 1000
[[stage]]
name = "d1"
kind = "dispatcher"
input = "q1"
output = "q2"
prover = "noop"
concurrency = 2
[[stage]]
name = "d2"
kind = "dispatcher"
input = "q2"
output = "q3"
prover = "noop"
"#;

/// §3 sequential composition: D1 → Q2 → D2, every task reaches the sink once.
fn sequential_stages_hand_off_everything(s: Setup) {
    let events = Arc::new(Events::default());
    let p = start(&s, SEQUENTIAL, ProverSet::default(), &events);
    p.submit((0..50).map(|b| block_task("q1", b, 0)).collect()).unwrap();
    let out = wait_sink(&s.queue, "q3", 50);
    p.shutdown();
    assert_eq!(out.len(), 50);
    let proof = ProofPayload::decode(&s_payload(&s.queue, &out[0])).unwrap();
    assert_eq!((proof.zkvm.as_str(), proof.simulated), ("noop", true));
    assert_eq!(events.count("d1", Outcome::Done), 50);
    assert_eq!(events.count("d2", Outcome::Done), 50);
    let stats = s.queue.stats().unwrap();
    assert_eq!((stats.queues["q1"].done, stats.queues["q2"].done), (50, 50));
}

const FAN_IN: &str = r#"
[[stage]]
name = "prove"
kind = "dispatcher"
input = "parts"
output = "proofs"
prover = "noop"
concurrency = 4
[[stage]]
name = "join"
kind = "collector"
input = "proofs"
output = "blocks"
strategy = "fan-in"
k = 4
"#;

/// §3 fan-in of k: one output per block, with its k subtasks.
fn fan_in_emits_one_output_per_complete_group(s: Setup) {
    let events = Arc::new(Events::default());
    let p = start(&s, FAN_IN, ProverSet::default(), &events);
    p.submit((0..10).flat_map(|b| (0..4).map(move |i| block_task("parts", b, i))).collect()).unwrap();
    let out = wait_sink(&s.queue, "blocks", 10);
    p.shutdown();
    assert_eq!(out.len(), 10);
    for t in out {
        let c = Collected::decode(&s_payload(&s.queue, &t)).unwrap();
        assert!(!c.partial);
        let subtasks: Vec<u32> = c.members.iter().map(|m| m.subtask).collect();
        assert_eq!(subtasks, vec![0, 1, 2, 3], "block {}", t.block_number);
    }
    assert_eq!(events.count("join", Outcome::Done), 10, "each group emits exactly once");
}

fn s_payload(q: &Queue, t: &slotproof_queue::TaskInfo) -> Vec<u8> {
    // Sinks are never leased by the pipeline; lease here to read the payload.
    let lease = q.lease(&t.queue, "reader", Duration::from_secs(5)).unwrap().unwrap();
    let bytes = lease.payload.to_vec();
    q.ack(lease.id, lease.token).unwrap();
    bytes
}

const JOIN: &str = r#"
[[stage]]
name = "left"
kind = "dispatcher"
input = "a"
output = "a-out"
prover = "noop"
[[stage]]
name = "right"
kind = "dispatcher"
input = "b"
output = "b-out"
prover = "slow"
[[stage]]
name = "join"
kind = "collector"
input = ["a-out", "b-out"]
output = "joined"
strategy = "match"
"#;

/// §3 multi-queue join: one message per flow with the same key; the faster flow is buffered.
fn match_joins_flows_by_key(s: Setup) {
    let events = Arc::new(Events::default());
    let mut provers = ProverSet::default();
    let mut slow = Scripted::new("slow");
    for b in 0..5 {
        slow.delay.insert(b, Duration::from_millis(20));
    }
    provers.insert("slow", Arc::new(slow));
    let p = start(&s, JOIN, provers, &events);
    p.submit((0..5).flat_map(|b| [block_task("a", b, 0), block_task("b", b, 0)]).collect()).unwrap();
    let out = wait_sink(&s.queue, "joined", 5);
    p.shutdown();
    assert_eq!(out.len(), 5);
    let c = Collected::decode(&s_payload(&s.queue, &out[0])).unwrap();
    let queues: Vec<&str> = c.members.iter().map(|m| m.queue.as_str()).collect();
    assert_eq!(queues, vec!["a-out", "b-out"]);
}

const FIRST_K: &str = r#"
[[stage]]
name = "zk-a"
kind = "dispatcher"
input = "for-a"
output = "proofs"
prover = "zk-a"
[[stage]]
name = "zk-b"
kind = "dispatcher"
input = "for-b"
output = "proofs"
prover = "zk-b"
[[stage]]
name = "collect"
kind = "collector"
input = "proofs"
output = "results"
strategy = "first-k-distinct"
k = 2
deadline = "300ms"
"#;

/// §3 first-k-distinct: k distinct zkVMs, or a partial result at the deadline.
fn first_k_distinct_emits_partial_at_deadline(s: Setup) {
    let events = Arc::new(Events::default());
    let mut provers = ProverSet::default();
    provers.insert("zk-a", Arc::new(Scripted::new("zk-a")));
    let mut b = Scripted::new("zk-b");
    b.delay.insert(2, Duration::from_secs(2)); // block 2: zk-b misses the deadline
    provers.insert("zk-b", Arc::new(b));
    let p = start(&s, FIRST_K, provers, &events);
    p.submit((1..=2).flat_map(|n| [block_task("for-a", n, 0), block_task("for-b", n, 0)]).collect()).unwrap();
    let out = wait_sink(&s.queue, "results", 2);
    assert_eq!(out.len(), 2);
    // The late proof of block 2 arrives after its group emitted: acked as late, no second output.
    let give_up = Instant::now() + Duration::from_secs(10);
    while events.count("collect", Outcome::Late) == 0 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    p.shutdown();
    assert_eq!(events.count("collect", Outcome::Done), 1);
    assert_eq!(events.count("collect", Outcome::Partial), 1);
    assert_eq!(events.count("collect", Outcome::Late), 1);
    assert_eq!(wait_sink(&s.queue, "results", 2).len(), 2, "never emitted twice");
    let by_block: BTreeMap<u64, Collected> =
        out.iter().map(|t| (t.block_number, Collected::decode(&s_payload(&s.queue, t)).unwrap())).collect();
    assert!(!by_block[&1].partial && by_block[&1].members.len() == 2);
    assert!(by_block[&2].partial && by_block[&2].members.len() == 1 && by_block[&2].members[0].target == "zk-a");
}

/// §4 failures: transient retries then dead-letter, permanent at once; other blocks flow.
fn failing_provers_dead_letter_without_blocking_others(s: Setup) {
    let events = Arc::new(Events::default());
    let mut provers = ProverSet::default();
    let mut p1 = Scripted::new("flaky");
    p1.fail_transient.push(3);
    p1.fail_permanent.push(4);
    provers.insert("flaky", Arc::new(p1));
    let toml = SEQUENTIAL.replacen("prover = \"noop\"", "prover = \"flaky\"\nmax_attempts = 3", 1);
    let p = start(&s, &toml, provers, &events);
    p.submit((0..8).map(|b| block_task("q1", b, 0)).collect()).unwrap();
    let out = wait_sink(&s.queue, "q3", 6);
    let give_up = Instant::now() + Duration::from_secs(10);
    while s.queue.stats().unwrap().total.dead < 2 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    p.shutdown();
    assert_eq!(out.len(), 6);
    let dead = s.queue.view().unwrap().list(Some("q1"), StateFilter::Dead, 10, s.queue.now_ms());
    let by_block: BTreeMap<u64, (u32, String)> =
        dead.iter().map(|t| (t.block_number, (t.attempts, t.last_error.clone().unwrap_or_default()))).collect();
    assert_eq!(by_block[&3].0, 3, "transient: all attempts used");
    assert_eq!(by_block[&4].0, 1, "permanent: dead at once");
    assert!(by_block[&4].1.contains("scripted permanent failure"));
    assert_eq!(events.count("d1", Outcome::Retrying), 2);
}

/// §4 timeouts and cancellation: a hung prover is stopped; a cancelled block goes nowhere.
fn timeouts_and_cancellation_stop_provers(s: Setup) {
    let events = Arc::new(Events::default());
    let mut provers = ProverSet::default();
    let mut hang = Scripted::new("hang");
    hang.delay.insert(1, Duration::from_secs(60));
    hang.delay.insert(2, Duration::from_secs(60));
    provers.insert("hang", Arc::new(hang));
    let toml = "[[stage]]\nname = \"d\"\nkind = \"dispatcher\"\ninput = \"in\"\noutput = \"out\"\nprover = \"hang\"\n\
                concurrency = 2\ntimeout = \"200ms\"\nmax_attempts = 1\n";
    let p = start(&s, toml, provers, &events);
    p.submit(vec![block_task("in", 1, 0)]).unwrap();
    let started = Instant::now();
    while s.queue.stats().unwrap().total.dead < 1 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(started.elapsed() < Duration::from_secs(5), "the 60 s prover was stopped at its timeout");
    let dead = s.queue.view().unwrap().list(Some("in"), StateFilter::Dead, 10, s.queue.now_ms());
    assert!(dead[0].last_error.as_deref().unwrap_or("").contains("timed out"), "{:?}", dead[0].last_error);

    p.submit(vec![block_task("in", 2, 0).with_max_attempts(1)]).unwrap();
    // Cancel only once the hung prover holds block 2's lease, so the
    // cancellation has a running prover to stop.
    let submitted = Instant::now();
    while s.queue.stats().unwrap().queues["in"].leased == 0 {
        assert!(submitted.elapsed() < Duration::from_secs(10), "block 2 was never leased");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(p.cancel_block(2, "reorged out").unwrap() >= 1);
    let cancelled_at = Instant::now();
    while events.count("d", Outcome::Cancelled) == 0 && cancelled_at.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    p.shutdown();
    assert_eq!(events.count("d", Outcome::Cancelled), 1);
    assert!(
        s.queue.stats().unwrap().queues.get("out").is_none_or(|c| c.live() == 0),
        "no output for cancelled or timed-out blocks"
    );
}

const SIMULATED_ZKVMS: &str = r#"
inputs = ["for-pico", "for-sp1", "for-zisk"]
[[stage]]
name = "pico"
kind = "dispatcher"
input = "for-pico"
output = "proofs"
prover = "sim:pico-prism"
[[stage]]
name = "sp1"
kind = "dispatcher"
input = "for-sp1"
output = "proofs"
prover = "sim:sp1-hypercube"
[[stage]]
name = "zisk"
kind = "dispatcher"
input = "for-zisk"
output = "proofs"
prover = "sim:zisk-8x5090"
[[stage]]
name = "close"
kind = "collector"
input = "proofs"
output = "results"
strategy = "first-k-distinct"
k = 2
deadline = "60ms"
"#;

/// §3 with calibrated simulated zkVMs at 1/500 time scale (a 12 s slot in 24 ms):
/// each block closes once, with proofs from distinct zkVMs that verify.
fn simulated_zkvms_close_each_block_once(s: Setup) {
    use slotproof_zkvm::sim::{SimOptions, SimProver};
    let events = Arc::new(Events::default());
    let opts = SimOptions { seed: 7, time_scale: 0.002, failure_rate: Some(0.0) };
    let mut provers = ProverSet::default();
    let mut sims = BTreeMap::new();
    for name in ["sim:pico-prism", "sim:sp1-hypercube", "sim:zisk-8x5090"] {
        let p = Arc::new(SimProver::from_name(name, opts).unwrap());
        provers.insert(name, p.clone());
        sims.insert(name.to_string(), p);
    }
    let p = start(&s, SIMULATED_ZKVMS, provers, &events);
    let blocks = 4u64;
    p.submit((0..blocks).flat_map(|b| ["for-pico", "for-sp1", "for-zisk"].map(|q| block_task(q, b, 0))).collect())
        .unwrap();
    let out = wait_sink(&s.queue, "results", blocks);
    // Stragglers arrive after their block closed: wait until the collector has
    // taken every proof (each zkVM proves each block once), late ones included.
    let give_up = Instant::now() + Duration::from_secs(20);
    while s.queue.stats().unwrap().queues.get("proofs").is_none_or(|c| c.done < 3 * blocks) {
        assert!(Instant::now() < give_up, "not every proof reached the collector");
        std::thread::sleep(Duration::from_millis(5));
    }
    p.shutdown();
    assert_eq!(out.len() as u64, blocks);
    let closed = s.queue.view().unwrap().list(Some("results"), StateFilter::All, usize::MAX, s.queue.now_ms()).len();
    assert_eq!(closed as u64, blocks, "no block closed twice");
    for t in &out {
        let c = Collected::decode(&s_payload(&s.queue, t)).unwrap();
        let zkvms: std::collections::BTreeSet<&str> = c.members.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(zkvms.len(), c.members.len(), "distinct zkVMs");
        assert!(c.partial || c.members.len() == 2);
        for m in &c.members {
            let proof = ProofPayload::decode(&m.payload).unwrap();
            assert!(proof.simulated);
            let artifact = proof.artifact();
            let input = ProvingInput::new(t.block_number, format!("input {}/0", t.block_number).into_bytes());
            assert_eq!(input.digest, proof.input_digest);
            sims[&proof.zkvm].verify(&artifact, &input).unwrap();
        }
    }
}

/// §5 sequential: block N's final output is committed before N+1's, even when a
/// later block's proof would finish first.
fn sequential_ordering_emits_blocks_in_order(s: Setup) {
    let events = Arc::new(Events::default());
    let mut provers = ProverSet::default();
    let mut slow_first = Scripted::new("slow-first");
    slow_first.delay.insert(10, Duration::from_millis(300));
    provers.insert("slow-first", Arc::new(slow_first));
    let toml = "ordering = \"sequential\"\n[[stage]]\nname = \"prove\"\nkind = \"dispatcher\"\ninput = \"in\"\noutput = \"done\"\n\
                prover = \"slow-first\"\nconcurrency = 3\n";
    let p = start(&s, toml, provers, &events);
    p.submit((10..13).map(|b| block_task("in", b, 0)).collect()).unwrap();
    wait_sink(&s.queue, "done", 3);
    p.shutdown();
    let order: Vec<u64> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.stage == "prove" && e.outcome == Outcome::Done)
        .map(|e| e.block)
        .collect();
    assert_eq!(order, vec![10, 11, 12]);
    let done = s.queue.view().unwrap().list(Some("done"), StateFilter::All, 10, s.queue.now_ms());
    let seqs: Vec<(u64, u64)> = done.iter().map(|t| (t.seq, t.block_number)).collect();
    let mut by_seq = seqs.clone();
    by_seq.sort();
    assert_eq!(by_seq.iter().map(|x| x.1).collect::<Vec<_>>(), vec![10, 11, 12], "committed in block order: {seqs:?}");
}

const ONE_STAGE: &str = r#"
[[stage]]
name = "d"
kind = "dispatcher"
input = "in"
output = "out"
prover = "big"
"#;

/// specs/pipeline.md §4: with a blob store a dispatcher's proof larger than
/// the queue's 5 MiB payload cap commits at once (the payload carries the
/// digest) and reads back whole; inline it could never commit.
fn a_proof_over_the_payload_cap_travels_by_digest(s: Setup) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(slotproof_queue::BlobStore::open(dir.path()).unwrap());
    let mut provers = ProverSet::default();
    let mut big = Scripted::new("big");
    big.proof_len = Some(slotproof_queue::MAX_PAYLOAD_BYTES + 1024);
    provers.insert("big", Arc::new(big));
    let events = Arc::new(Events::default());
    let cfg = PipelineConfig::parse(ONE_STAGE, &|p| provers.knows(p)).unwrap();
    let opts = RuntimeOptions {
        lease_for: Duration::from_secs(5),
        observer: Some(events.clone()),
        blobs: Some(blobs.clone()),
        ..RuntimeOptions::default()
    };
    let p = Pipeline::start(cfg, s.queue.clone(), &provers, opts).unwrap();
    p.submit(vec![block_task("in", 1, 0)]).unwrap();
    let out = wait_sink(&s.queue, "out", 1);
    p.shutdown();
    assert_eq!(out.len(), 1);
    assert!(out[0].payload_len < 1024, "the payload carries a digest: {} bytes", out[0].payload_len);
    let proof = ProofPayload::decode_stored(&s_payload(&s.queue, &out[0]), &blobs).unwrap();
    assert_eq!(proof.proof.len(), slotproof_queue::MAX_PAYLOAD_BYTES + 1024);
    assert_eq!(events.count("d", Outcome::Done), 1);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory { $( #[test] fn $name() { super::$name(super::memory()) } )* }
        mod rocksdb { $( #[test] fn $name() { super::$name(super::rocksdb()) } )* }
    };
}

both_backends!(
    sequential_stages_hand_off_everything,
    fan_in_emits_one_output_per_complete_group,
    match_joins_flows_by_key,
    first_k_distinct_emits_partial_at_deadline,
    failing_provers_dead_letter_without_blocking_others,
    timeouts_and_cancellation_stop_provers,
    simulated_zkvms_close_each_block_once,
    sequential_ordering_emits_blocks_in_order,
    a_proof_over_the_payload_cap_travels_by_digest,
);
