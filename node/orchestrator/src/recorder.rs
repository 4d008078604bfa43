//! The recorder: reads proofs off the proofs queue, verifies each against
//! the stored input, records it against the slot deadline, then hands it on
//! (the Ethproofs outbox, the network's announcer). A proof is acked only
//! after its record is written, so a crash in between re-records the same
//! (block, zkVM) entry, never a second one. It never proves or schedules.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use slotproof_pipeline::PipelineError;
use slotproof_pipeline::payload::ProofPayload;
use slotproof_primitives::{ErrorChain, Hash32, now_ms};
use slotproof_proof_engine::FailureReason;
use slotproof_queue::{BlobError, BlobStore, Failure, Queue, QueueError};
use slotproof_zkvm::{Prover, ProvingInput};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::book::RecordBook;
use crate::engine_link::EngineLink;
use crate::error::NodeError;
use crate::metrics::{Metrics, ProofOutcome, ZkvmLabel};
use crate::network::OwnProof;
use crate::results::{BlockRecord, ProofRecord, ProofStatus, ResultsError};
use crate::submission::Submitting;

/// The queue every dispatcher writes its proofs to; the recorder reads it.
pub const PROOFS_QUEUE: &str = "proofs";

/// What the recorder needs, shared with nothing that writes the same way.
pub struct Recorder {
    pub book: Arc<RecordBook>,
    pub queue: Arc<Queue>,
    pub metrics: Arc<Metrics>,
    /// Set when proofs go to an Ethproofs-style API.
    pub submitting: Option<Arc<Submitting>>,
    /// Verifiers of the node's own zkVMs.
    pub zkvms: BTreeMap<String, Arc<dyn Prover>>,
    /// With a network: own verified proofs go to the loop to be signed and announced.
    pub announce: Option<mpsc::UnboundedSender<OwnProof>>,
    /// Proofs by digest: where dispatchers put them and the outbox reads them.
    pub blobs: Arc<BlobStore>,
    /// With the proof-engine API: proofs (and refusals) of blocks with a request root.
    pub engine: Option<EngineLink>,
}

/// Why a proof was not recorded. A proof is never acked unrecorded: what may
/// pass (a store or outbox write) is retried, what cannot (an undecodable
/// payload, a proof of no block this node holds) is dead-lettered, kept for an
/// operator to inspect.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("undecodable proof payload")]
    Payload(#[source] PipelineError),
    #[error("no block {0} record for this proof's input")]
    NoRecord(u64),
    #[error("results store")]
    Store(#[from] ResultsError),
    #[error("ethproofs outbox")]
    Outbox(#[source] QueueError),
    /// The proof's bytes could not be read back (or stored for the outbox).
    #[error("proof blob")]
    Blob(#[source] BlobError),
}

impl RecordError {
    fn failure(&self) -> Failure {
        match self {
            RecordError::Payload(_) | RecordError::NoRecord(_) => Failure::Permanent,
            RecordError::Store(_) | RecordError::Outbox(_) => Failure::Transient,
            // A disk hiccup may pass; a missing or damaged blob never comes back.
            RecordError::Blob(e) if e.is_transient() => Failure::Transient,
            RecordError::Blob(_) => Failure::Permanent,
        }
    }
}

/// The verdict on one proof.
struct Verdict {
    verified: Result<(), String>,
    within: bool,
}

impl Recorder {
    /// Runs on its own thread until `stop` is cancelled and the proofs queue has nothing leasable left.
    pub fn spawn(self, stop: CancellationToken) -> Result<JoinHandle<()>, NodeError> {
        std::thread::Builder::new().name("recorder".into()).spawn(move || self.run(stop)).map_err(NodeError::Thread)
    }

    fn run(&self, stop: CancellationToken) {
        loop {
            let wait = Duration::from_millis(250);
            match self.queue.lease_wait(PROOFS_QUEUE, "recorder", Duration::from_secs(30), wait) {
                Ok(Some(lease)) => {
                    let settled = match self.record(lease.block_number, &lease.payload) {
                        Ok(()) => self.queue.ack(lease.id, lease.token),
                        Err(e) => {
                            let why = ErrorChain(&e).to_string();
                            warn!(target: "slotproof::node", block = lease.block_number, error = %why, failure = ?e.failure(), "recorder: proof not recorded; kept in the queue");
                            self.queue.nack(lease.id, lease.token, &why, e.failure()).map(|_| ())
                        }
                    };
                    if let Err(e) = settled {
                        warn!(target: "slotproof::node", error = %e, "recorder: could not settle a proof; it comes back when its lease ends (same entry)");
                    }
                }
                // Drained: on shutdown the loop only ends once nothing is left to record.
                Ok(None) if stop.is_cancelled() => return,
                Ok(None) => {}
                Err(e) => {
                    error!(target: "slotproof::node", error = %e, "recorder: queue error");
                    if stop.is_cancelled() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }

    fn verify(&self, proof: &ProofPayload, block: u64, input_digest: &Hash32, deadline_ms: u64) -> Verdict {
        let reference = ProvingInput::new(block, input_digest.as_bytes().to_vec());
        let verified = match self.zkvms.get(&proof.zkvm) {
            Some(p) => p.verify(&proof.artifact(), &reference).map_err(|e| e.to_string()),
            None => Err(format!("no verifier for {}", proof.zkvm)),
        };
        Verdict { verified, within: now_ms() <= deadline_ms }
    }

    fn record(&self, block: u64, payload: &[u8]) -> Result<(), RecordError> {
        let proof = ProofPayload::decode_stored(payload, &self.blobs).map_err(|e| match e {
            PipelineError::Blob(b) => RecordError::Blob(b),
            other => RecordError::Payload(other),
        })?;
        let recorded_ms = now_ms();
        // Which record: the one (at this height) whose input reference hashes to the proof's input.
        let Some(record) = self
            .book
            .store()
            .at_height(block)?
            .into_iter()
            .find(|r| ProvingInput::new(block, r.input_digest.as_bytes().to_vec()).digest == proof.input_digest)
        else {
            return Err(RecordError::NoRecord(block));
        };
        let verdict = self.verify(&proof, block, &record.input_digest, record.deadline_ms);
        let proving_ms = (proof.proving_us / 1000).max(1);
        self.count(&proof, &verdict);
        let ok = verdict.verified.is_ok();
        self.book.update(block, &record.block_hash, |r| {
            let entry = ProofRecord {
                status: if ok { ProofStatus::Proved } else { ProofStatus::Failed },
                proving_ms: Some(proving_ms),
                proof_bytes: Some(proof.proof.len() as u64),
                verified: ok,
                simulated: proof.simulated,
                latency_ms: Some(recorded_ms.saturating_sub(r.arrival_ms)),
                within_deadline: verdict.within && ok,
                error: verdict.verified.clone().err(),
            };
            r.proofs.insert(proof.zkvm.clone(), entry);
        })?;
        if let (Some(link), Some(root)) = (&self.engine, record.new_payload_request_root) {
            match &verdict.verified {
                Ok(()) => link.completed(root, &proof.zkvm, &proof.proof, &proof.public_values, proof.simulated),
                Err(why) => link.engine.failed(root, &proof.zkvm, FailureReason::ProvingError, why),
            }
        }
        if !verdict.within {
            info!(target: "slotproof::node", block, zkvm = %proof.zkvm, proving_ms, "late proof recorded (after the slot deadline)");
        }
        if ok {
            // Kept for the dashboard's download link (the newest followed
            // heights only, retention.rs); a requested block's number may be anything.
            // Only a copy: failing to keep it never holds up the outbox or the announcement.
            if !record.requested
                && let Err(e) = self.book.store().put_own_proof(block, &record.block_hash, &proof.zkvm, &proof.proof)
            {
                warn!(target: "slotproof::node", block, zkvm = %proof.zkvm, error = %slotproof_primitives::ErrorChain(&e), "could not keep the proof for download");
            }
            self.hand_on(&record, proving_ms, proof)?;
        }
        Ok(())
    }

    fn count(&self, proof: &ProofPayload, verdict: &Verdict) {
        let label = ZkvmLabel { zkvm: proof.zkvm.clone() };
        self.metrics.proving_seconds.get_or_create(&label).observe(proof.proving_us as f64 / 1e6);
        let outcome = match (&verdict.verified, verdict.within) {
            (Err(_), _) => ProofOutcome::Rejected,
            (Ok(()), true) => ProofOutcome::Proved,
            (Ok(()), false) => ProofOutcome::Late,
        };
        self.metrics.proof(&proof.zkvm, outcome);
    }

    /// A verified proof goes to the outbox (before the proof's ack: a crash in
    /// between re-enqueues the same entry, which the queue drops) and to the announcer.
    fn hand_on(&self, record: &BlockRecord, proving_ms: u64, proof: ProofPayload) -> Result<(), RecordError> {
        let (block, hash) = (record.block_number, record.block_hash);
        // A block only a proof-engine request named may be anyone's invention:
        // its proofs go to the requester alone, never out under its block number.
        if record.requested {
            return Ok(());
        }
        if let Some(s) = &self.submitting {
            // Already there for a proof that came by digest; stored now for one an older node queued inline.
            let digest = self.blobs.put(&proof.proof).map_err(RecordError::Blob)?;
            if let Some(task) = s.proved(block, &proof.zkvm, proving_ms, proof.cycles, digest) {
                self.queue.enqueue_one(task).map_err(RecordError::Outbox)?;
            }
        }
        if let Some(tx) = &self.announce {
            let proof_type = self.zkvms.get(&proof.zkvm).map_or(0, |p| p.identity().proof_type);
            let artifact = proof.artifact();
            let _ = tx.send(OwnProof {
                number: block,
                hash,
                zkvm: proof.zkvm,
                proving_ms,
                proof_type,
                proof: artifact.proof,
                public_values: artifact.public_values,
                new_payload_request_root: record.new_payload_request_root.unwrap_or(Hash32::ZERO),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ResultStore;
    use slotproof_queue::{NewTask, QueueConfig};
    use slotproof_zkvm::CancelToken;
    use slotproof_zkvm::testing::TestProver;

    struct Setup {
        store: Arc<ResultStore>,
        queue: Arc<Queue>,
        blobs: Arc<BlobStore>,
        _dir: tempfile::TempDir,
    }

    /// Runs a recorder over what is queued, until it has drained the proofs queue.
    fn record_all(s: &Setup) {
        record_all_submitting(s, None);
    }

    fn record_all_submitting(s: &Setup, submitting: Option<Arc<Submitting>>) {
        let zkvms: BTreeMap<String, Arc<dyn Prover>> =
            BTreeMap::from([("noop".to_string(), Arc::new(TestProver::noop()) as Arc<dyn Prover>)]);
        let recorder = Recorder {
            book: Arc::new(RecordBook::new(s.store.clone())),
            queue: s.queue.clone(),
            metrics: Arc::new(Metrics::new()),
            submitting,
            zkvms,
            announce: None,
            blobs: s.blobs.clone(),
            engine: None,
        };
        let stop = CancellationToken::new();
        stop.cancel();
        recorder.spawn(stop).unwrap().join().unwrap();
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ResultStore::open(dir.path()).unwrap());
        let blobs = Arc::new(BlobStore::open(&dir.path().join("proofs")).unwrap());
        Setup { store, queue: Arc::new(Queue::memory(QueueConfig::default())), blobs, _dir: dir }
    }

    /// A proof payload from the test prover over the input named by `digest`.
    fn proof(block: u64, digest: Hash32) -> Vec<u8> {
        let reference = ProvingInput::new(block, digest.as_bytes().to_vec());
        let a = TestProver::noop().prove(&reference, &CancelToken::new()).unwrap();
        let p = ProofPayload {
            zkvm: "noop".into(),
            simulated: true,
            proving_us: 1_000,
            input_digest: reference.digest,
            proof: a.proof,
            public_values: a.public_values,
            cycles: None,
        };
        p.encode()
    }

    fn counts(q: &Queue) -> (u64, u64) {
        let stats = q.stats().unwrap();
        let c = stats.queues.get(PROOFS_QUEUE).cloned().unwrap_or_default();
        (c.done, c.dead)
    }

    #[test]
    fn a_proof_is_recorded_then_acked() {
        let s = setup();
        let (hash, digest) = (Hash32([1; 32]), Hash32([2; 32]));
        let record = BlockRecord {
            block_number: 7,
            block_hash: hash,
            input_digest: digest,
            deadline_ms: u64::MAX,
            zkvms: vec!["noop".into()],
            ..Default::default()
        };
        s.store.put(&record).unwrap();
        s.queue.enqueue_one(NewTask::new(PROOFS_QUEUE, 7, proof(7, digest))).unwrap();
        record_all(&s);
        let r = s.store.get(7, &hash).unwrap().unwrap();
        assert_eq!(r.proofs["noop"].status, ProofStatus::Proved);
        assert!(r.proofs["noop"].verified && r.proofs["noop"].within_deadline);
        assert_eq!(counts(&s.queue), (1, 0));
    }

    /// specs/submission.md §2: whether the proof came inline (a payload an
    /// older node queued) or by digest, the outbox entry refers to the stored
    /// proof by digest, and the file holds the proof's bytes.
    #[test]
    fn the_outbox_entry_refers_to_the_stored_proof_inline_or_not() {
        let s = setup();
        for (block, digest) in [(7u64, Hash32([2; 32])), (8, Hash32([3; 32]))] {
            let record = BlockRecord {
                block_number: block,
                block_hash: Hash32([block as u8; 32]),
                input_digest: digest,
                deadline_ms: u64::MAX,
                zkvms: vec!["noop".into()],
                ..Default::default()
            };
            s.store.put(&record).unwrap();
        }
        let inline = proof(7, Hash32([2; 32]));
        let stored = ProofPayload::decode(&proof(8, Hash32([3; 32]))).unwrap().encode_stored(&s.blobs).unwrap();
        s.queue.enqueue_one(NewTask::new(PROOFS_QUEUE, 7, inline.clone())).unwrap();
        s.queue.enqueue_one(NewTask::new(PROOFS_QUEUE, 8, stored)).unwrap();
        let limiter = Arc::new(slotproof_submit::Limiter::ethproofs());
        let client = slotproof_submit::Client::new("http://127.0.0.1:9/api/v0", "k", limiter).unwrap();
        let submitting =
            Submitting { client, health: Arc::default(), clusters: BTreeMap::from([("noop".to_string(), 3)]) };
        record_all_submitting(&s, Some(Arc::new(submitting)));
        assert_eq!(counts(&s.queue), (2, 0));
        let entries = s.queue.live_payloads().unwrap();
        assert_eq!(entries.len(), 2, "one proved entry per proof");
        for (info, payload) in entries {
            let digest = slotproof_submit::Submission::blob_ref(&payload).expect("by digest");
            let bytes = s.blobs.get(&digest).unwrap();
            let expected = ProofPayload::decode(&proof(info.block_number, Hash32([info.block_number as u8 - 5; 32])));
            assert_eq!(bytes, expected.unwrap().proof, "block {}", info.block_number);
        }
    }

    /// specs/chain.md §5: a proof the recorder cannot record is never acked
    /// (deleted); one that can never be recorded is dead-lettered, kept.
    #[test]
    fn a_proof_that_cannot_be_recorded_is_kept_not_acked() {
        let s = setup();
        s.queue.enqueue_one(NewTask::new(PROOFS_QUEUE, 8, proof(8, Hash32([3; 32])))).unwrap();
        s.queue.enqueue_one(NewTask::new(PROOFS_QUEUE, 9, b"not a proof".to_vec())).unwrap();
        record_all(&s);
        assert_eq!(counts(&s.queue), (0, 2), "both dead-lettered with the reason, none deleted");
        let view = s.queue.view().unwrap();
        let dead = view.list(Some(PROOFS_QUEUE), slotproof_queue::StateFilter::Dead, 10, s.queue.now_ms());
        let errors: Vec<String> = dead.iter().filter_map(|t| t.last_error.clone()).collect();
        assert!(errors.iter().any(|e| e.contains("no block 8 record")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("undecodable proof payload")), "{errors:?}");
    }
}
