//! Worker slots: one adapter instance per slot, each pinned to what it runs on
//! (a GPU, a CPU share, or nothing for simulated zkVMs). The pool is itself a
//! `Prover`: a proof checks a slot out for its duration, so at most one proof
//! runs per slot and a GPU slot's process only sees its GPU.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::cancel::CancelToken;
use crate::error::ProverError;
use crate::prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};

/// What a slot runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "index")]
pub enum SlotKind {
    Gpu(u32),
    Cpu,
    /// Simulated zkVMs: they wait, they do not compute.
    Virtual,
}

pub struct SlotPool {
    identity: ZkvmIdentity,
    slots: Vec<(SlotKind, Arc<dyn Prover>)>,
    free: Mutex<Vec<usize>>,
    freed: Condvar,
}

/// How often a proof waiting for a slot rechecks its cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(50);

impl SlotPool {
    /// `slots` must not be empty; every instance is the same zkVM.
    pub fn new(slots: Vec<(SlotKind, Arc<dyn Prover>)>) -> Result<SlotPool, ProverError> {
        let identity = slots
            .first()
            .map(|(_, p)| p.identity().clone())
            .ok_or_else(|| ProverError::Permanent("a zkVM needs at least one worker slot".into()))?;
        let free = (0..slots.len()).rev().collect();
        Ok(SlotPool { identity, slots, free: Mutex::new(free), freed: Condvar::new() })
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn kinds(&self) -> Vec<SlotKind> {
        self.slots.iter().map(|(k, _)| *k).collect()
    }

    /// Runs `f` on a free slot, waiting for one; gives up if `cancel` fires.
    fn with_slot<T>(
        &self,
        cancel: &CancelToken,
        f: impl FnOnce(&dyn Prover) -> Result<T, ProverError>,
    ) -> Result<T, ProverError> {
        let index = {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(i) = free.pop() {
                    break i;
                }
                if cancel.is_cancelled() {
                    return Err(ProverError::Cancelled);
                }
                free = self.freed.wait_timeout(free, CANCEL_POLL).unwrap_or_else(|e| e.into_inner()).0;
            }
        };
        // Give the slot back even if the prover panics.
        struct Release<'a>(&'a SlotPool, usize);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.free.lock().unwrap_or_else(|e| e.into_inner()).push(self.1);
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self, index);
        f(self.slots[index].1.as_ref())
    }
}

impl Prover for SlotPool {
    fn identity(&self) -> &ZkvmIdentity {
        &self.identity
    }

    fn resources(&self) -> Resources {
        self.slots.first().map(|(_, p)| p.resources()).unwrap_or_default()
    }

    fn execute(&self, input: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        self.with_slot(&CancelToken::new(), |p| p.execute(input))
    }

    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        self.with_slot(cancel, |p| p.prove(input, cancel))
    }

    /// Verification does not hold a proving slot: peers' proofs are checked
    /// while local proofs run.
    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
        match self.slots.first() {
            Some((_, p)) => p.verify(artifact, input),
            None => Err(ProverError::Permanent("no worker slot".into())),
        }
    }

    fn can_verify(&self) -> bool {
        self.slots.first().is_some_and(|(_, p)| p.can_verify())
    }
}
