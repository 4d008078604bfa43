//! The recorder: reads proofs off the proofs queue, verifies each against
//! the stored input, records it against the slot deadline, then hands it on
//! (the Ethproofs outbox, the network's announcer). A proof is acked only
//! after its record is written, so a crash in between re-records the same
//! (block, zkVM) entry, never a second one. It never proves or schedules.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail};
use slotproof_pipeline::payload::ProofPayload;
use slotproof_primitives::{Hash32, now_ms};
use slotproof_queue::Queue;
use slotproof_zkvm::{Prover, ProvingInput};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::book::RecordBook;
use crate::error::NodeError;
use crate::metrics::{Metrics, ProofOutcome, ZkvmLabel};
use crate::network::OwnProof;
use crate::results::{ProofRecord, ProofStatus};
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
                    if let Err(e) = self.record(lease.block_number, &lease.payload) {
                        warn!(target: "slotproof::node", block = lease.block_number, error = %format!("{e:#}"), "recorder: proof not recorded");
                    }
                    if let Err(e) = self.queue.ack(lease.id, lease.token) {
                        warn!(target: "slotproof::node", error = %e, "recorder: ack failed; the proof will be recorded again (same entry)");
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

    fn record(&self, block: u64, payload: &[u8]) -> anyhow::Result<()> {
        let proof = ProofPayload::decode(payload).context("undecodable proof payload")?;
        let recorded_ms = now_ms();
        // Which record: the one (at this height) whose input reference hashes to the proof's input.
        let Some(record) = self
            .book
            .store()
            .at_height(block)?
            .into_iter()
            .find(|r| ProvingInput::new(block, r.input_digest.as_bytes().to_vec()).digest == proof.input_digest)
        else {
            bail!("no block {block} record for this proof's input");
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
        if !verdict.within {
            info!(target: "slotproof::node", block, zkvm = %proof.zkvm, proving_ms, "late proof recorded (after the slot deadline)");
        }
        if ok {
            self.hand_on(block, record.block_hash, proving_ms, proof)?;
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
    fn hand_on(&self, block: u64, hash: Hash32, proving_ms: u64, proof: ProofPayload) -> anyhow::Result<()> {
        if let Some(task) =
            self.submitting.as_ref().and_then(|s| s.proved(block, &proof.zkvm, proving_ms, proof.cycles, &proof.proof))
        {
            self.queue.enqueue_one(task)?;
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
            });
        }
        Ok(())
    }
}
