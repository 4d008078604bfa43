//! The proof engine's state (specs/proof-engine.md §2): the proof types it
//! offers, the (root, proof type) pairs asked for and not settled, the proofs
//! it holds, the roots whose blocks it knows, and the event stream. The node
//! reports proofs and failures in; HTTP handlers read and ask. Every table
//! has a bound: `Limits`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use slotproof_primitives::Hash32;
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::types::{EngineEvent, FailureReason, ProofStatus, ProofTypeInfo};

/// One proof type this engine offers, and the zkVM behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub info: ProofTypeInfo,
    /// The node's zkVM that proves and verifies this type.
    pub zkvm: String,
}

/// A request that passed every check, for the node to queue.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub root: Hash32,
    /// The block the request stands for (header rebuilt and checked).
    pub block: Arc<Value>,
    /// The zkVMs to prove it with (new pairs only: duplicates were dropped).
    pub zkvms: Vec<String>,
}

/// What the engine needs from the node.
pub trait Backend: Send + Sync + 'static {
    /// Hands an accepted request to the node (must not block; a full queue is an error).
    fn submit(&self, request: Accepted) -> Result<(), String>;
    /// Checks proof bytes of `zkvm` against the block `block` (number, input
    /// digest); may block (a verifier runs). `Err` says why it is invalid.
    fn verify(&self, zkvm: &str, block: KnownBlock, proof: &[u8]) -> Result<(), String>;
}

/// A block the engine can check proofs against, by its root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownBlock {
    pub number: u64,
    pub input_digest: Hash32,
}

/// Every bound of the engine's tables.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Proofs held for download (zkboost's `proof_cache_size` default).
    pub cached_proofs: usize,
    /// Bytes those proofs may take together.
    pub cached_bytes: usize,
    /// (root, proof type) pairs asked for and not settled: also the most
    /// requested proofs that can wait ahead of the followed chain's.
    pub pending: usize,
    /// How long a pair may stay pending before it fails as `proving_timeout`.
    pub pending_for: Duration,
    /// Roots of followed blocks the engine can verify proofs against.
    pub followed_roots: usize,
    /// Roots of blocks only requests named (kept apart: requests cannot push followed roots out).
    pub requested_roots: usize,
    /// Largest request body (an SSZ `NewPayloadRequest`).
    pub body_bytes: usize,
    /// Most transactions a request's payload may carry (a mainnet block holds a few thousand).
    pub request_transactions: usize,
    /// Requests decoded at once (decoding is CPU and memory work).
    pub decodes: usize,
    /// Open SSE streams.
    pub subscribers: usize,
    /// Events buffered for a slow SSE reader before it misses some.
    pub event_buffer: usize,
    /// Verifications running at once.
    pub verifications: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cached_proofs: 128,
            cached_bytes: 512 << 20,
            pending: 32,
            pending_for: Duration::from_secs(30 * 60),
            followed_roots: 1024,
            requested_roots: 256,
            body_bytes: 16 << 20,
            request_transactions: 16_384,
            decodes: 2,
            subscribers: 64,
            event_buffer: 1024,
            verifications: 2,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

/// The engine's own metrics, served on its `/metrics`.
#[derive(Default)]
pub struct EngineMetrics {
    pub requests: Counter,
    pub refused: Counter,
    pub completed: Counter,
    pub failures: Family<ReasonLabel, Counter>,
    pub verifications: Family<StatusLabel, Counter>,
    pub subscribers: Gauge,
    pub cached: Gauge,
    pub pending: Gauge,
}

impl EngineMetrics {
    pub fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("slotproof_proof_engine");
        r.register("requests", "Proof requests accepted", self.requests.clone());
        r.register("requests_refused", "Proof requests refused (4xx/5xx)", self.refused.clone());
        r.register("proofs_completed", "proof_complete events", self.completed.clone());
        r.register("proof_failures", "proof_failure events by reason", self.failures.clone());
        r.register("verifications", "Verifications by result", self.verifications.clone());
        r.register("sse_subscribers", "Open SSE streams", self.subscribers.clone());
        r.register("cached_proofs", "Proofs held for download", self.cached.clone());
        r.register("pending_proofs", "(root, proof type) pairs asked for and not settled", self.pending.clone());
        r
    }
}

/// Roots and their blocks, the oldest forgotten beyond a bound.
#[derive(Default)]
struct Known {
    blocks: HashMap<Hash32, KnownBlock>,
    order: VecDeque<Hash32>,
}

impl Known {
    fn insert(&mut self, root: Hash32, block: KnownBlock, bound: usize) {
        if self.blocks.insert(root, block).is_none() {
            self.order.push_back(root);
            while self.order.len() > bound {
                if let Some(old) = self.order.pop_front() {
                    self.blocks.remove(&old);
                }
            }
        }
    }
}

#[derive(Default)]
struct State {
    /// Proofs by (root, proof type), oldest first for eviction.
    cache: HashMap<(Hash32, String), Bytes>,
    order: VecDeque<(Hash32, String)>,
    cached_bytes: usize,
    pending: HashMap<(Hash32, String), Instant>,
    followed: Known,
    requested: Known,
}

pub struct ProofEngine {
    offers: BTreeMap<String, Offer>,
    state: Mutex<State>,
    events: broadcast::Sender<EngineEvent>,
    pub(crate) backend: Arc<dyn Backend>,
    pub limits: Limits,
    pub metrics: EngineMetrics,
    pub(crate) verifying: Arc<tokio::sync::Semaphore>,
    pub(crate) decoding: Arc<tokio::sync::Semaphore>,
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
}

/// Why a proof type in a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TypeRefusal {
    Empty,
    Duplicate(String),
    Unknown(String),
    VerifierOnly(String),
}

impl std::fmt::Display for TypeRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRefusal::Empty => f.write_str("proof_types must contain at least one valid value"),
            TypeRefusal::Duplicate(t) => write!(f, "duplicate proof type '{t}' in proof_types"),
            TypeRefusal::Unknown(t) => write!(f, "no zkVM configured for proof type '{t}'"),
            TypeRefusal::VerifierOnly(t) => write!(f, "proof type '{t}' is verifier-only: this node cannot prove it"),
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProofEngine {
    pub fn new(offers: Vec<Offer>, backend: Arc<dyn Backend>, limits: Limits) -> Arc<ProofEngine> {
        let (events, _) = broadcast::channel(limits.event_buffer.max(1));
        Arc::new(ProofEngine {
            offers: offers.into_iter().map(|o| (o.info.proof_type.clone(), o)).collect(),
            state: Mutex::new(State::default()),
            events,
            backend,
            verifying: Arc::new(tokio::sync::Semaphore::new(limits.verifications.max(1))),
            decoding: Arc::new(tokio::sync::Semaphore::new(limits.decodes.max(1))),
            streams: Arc::new(tokio::sync::Semaphore::new(limits.subscribers.max(1))),
            limits,
            metrics: EngineMetrics::default(),
        })
    }

    /// The offered types, sorted by name (`GET /v1/proof_types`).
    pub fn proof_types(&self) -> Vec<ProofTypeInfo> {
        self.offers.values().map(|o| o.info.clone()).collect()
    }

    pub fn offer(&self, proof_type: &str) -> Option<&Offer> {
        self.offers.get(proof_type)
    }

    /// The proof types a zkVM's proofs are offered under.
    pub fn types_of(&self, zkvm: &str) -> Vec<String> {
        self.offers.values().filter(|o| o.zkvm == zkvm).map(|o| o.info.proof_type.clone()).collect()
    }

    /// `proof_types` of a request: comma-separated, trimmed, at least one, no
    /// duplicates, each offered and provable.
    pub fn parse_types(&self, list: Option<&str>) -> Result<Vec<String>, TypeRefusal> {
        let mut out: Vec<String> = Vec::new();
        for t in list.unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if out.iter().any(|o| o == t) {
                return Err(TypeRefusal::Duplicate(t.into()));
            }
            match self.offers.get(t) {
                None => return Err(TypeRefusal::Unknown(t.into())),
                Some(o) if !o.info.can_prove => return Err(TypeRefusal::VerifierOnly(t.into())),
                Some(_) => out.push(t.into()),
            }
        }
        if out.is_empty() { Err(TypeRefusal::Empty) } else { Ok(out) }
    }

    /// Marks the pairs not yet held or asked for as pending and returns their
    /// types (zkboost's dedup: the others are dropped silently). `Err` when
    /// the pending table is full.
    pub fn claim(&self, root: Hash32, types: &[String]) -> Result<Vec<String>, String> {
        let mut s = lock(&self.state);
        self.expire(&mut s);
        let new: Vec<String> = types
            .iter()
            .filter(|t| !s.cache.contains_key(&(root, (*t).clone())) && !s.pending.contains_key(&(root, (*t).clone())))
            .cloned()
            .collect();
        if s.pending.len() + new.len() > self.limits.pending {
            return Err(format!("{} proofs are pending already (the bound)", s.pending.len()));
        }
        let now = Instant::now();
        for t in &new {
            s.pending.insert((root, t.clone()), now);
        }
        self.metrics.pending.set(s.pending.len() as i64);
        Ok(new)
    }

    /// Forgets pairs claimed for a request the node could not take.
    pub(crate) fn unclaim(&self, root: Hash32, types: &[String]) {
        let mut s = lock(&self.state);
        for t in types {
            s.pending.remove(&(root, t.clone()));
        }
        self.metrics.pending.set(s.pending.len() as i64);
    }

    /// Fails pairs pending past `pending_for` (the node calls it on its tick).
    pub fn expire_pending(&self) {
        let mut s = lock(&self.state);
        self.expire(&mut s);
        self.metrics.pending.set(s.pending.len() as i64);
    }

    /// Pairs pending past `pending_for` fail as `proving_timeout`.
    fn expire(&self, s: &mut State) {
        let limit = self.limits.pending_for;
        let expired: Vec<(Hash32, String)> =
            s.pending.iter().filter(|(_, at)| at.elapsed() > limit).map(|(k, _)| k.clone()).collect();
        for (root, proof_type) in expired {
            s.pending.remove(&(root, proof_type.clone()));
            let error = format!("no proof within {}s of the request", limit.as_secs());
            self.emit(EngineEvent::Failure { root, proof_type, reason: FailureReason::ProvingTimeout, error });
        }
    }

    pub(crate) fn zkvm_of(&self, proof_type: &str) -> Option<String> {
        self.offers.get(proof_type).map(|o| o.zkvm.clone())
    }

    /// The node follows the block of `root`.
    pub fn know_followed(&self, root: Hash32, block: KnownBlock) {
        let bound = self.limits.followed_roots;
        lock(&self.state).followed.insert(root, block, bound);
    }

    /// Only a request named the block of `root` (kept apart, so requests
    /// cannot push followed roots out).
    pub fn know_requested(&self, root: Hash32, block: KnownBlock) {
        let bound = self.limits.requested_roots;
        lock(&self.state).requested.insert(root, block, bound);
    }

    pub fn known(&self, root: &Hash32) -> Option<KnownBlock> {
        let s = lock(&self.state);
        s.followed.blocks.get(root).or_else(|| s.requested.blocks.get(root)).copied()
    }

    /// A verified proof of `zkvm` for the block of `root`, in the engine's
    /// byte form: held for download under every type the zkVM is offered as,
    /// announced once per (root, type).
    pub fn completed(&self, root: Hash32, zkvm: &str, proof: Vec<u8>) {
        let types = self.types_of(zkvm);
        if types.is_empty() {
            return;
        }
        let bytes = Bytes::from(proof);
        let mut announce = Vec::new();
        {
            let mut s = lock(&self.state);
            for t in types {
                let key = (root, t.clone());
                s.pending.remove(&key);
                if s.cache.contains_key(&key) {
                    continue;
                }
                s.cached_bytes += bytes.len();
                s.cache.insert(key.clone(), bytes.clone());
                s.order.push_back(key);
                announce.push(t);
            }
            while s.order.len() > self.limits.cached_proofs || s.cached_bytes > self.limits.cached_bytes {
                let Some(old) = s.order.pop_front() else { break };
                if let Some(b) = s.cache.remove(&old) {
                    s.cached_bytes -= b.len();
                }
            }
            self.metrics.cached.set(s.cache.len() as i64);
            self.metrics.pending.set(s.pending.len() as i64);
        }
        for proof_type in announce {
            info!(target: "slotproof::proof_engine", root = %root, %proof_type, "proof complete");
            self.metrics.completed.inc();
            self.emit(EngineEvent::Complete { root, proof_type });
        }
    }

    /// The node gave up on `zkvm` for the block of `root`: every pending pair
    /// of its types fails (pairs nobody asked for raise no event).
    pub fn failed(&self, root: Hash32, zkvm: &str, reason: FailureReason, error: &str) {
        let mut failed = Vec::new();
        {
            let mut s = lock(&self.state);
            for t in self.types_of(zkvm) {
                if s.pending.remove(&(root, t.clone())).is_some() {
                    failed.push(t);
                }
            }
            self.metrics.pending.set(s.pending.len() as i64);
        }
        for proof_type in failed {
            warn!(target: "slotproof::proof_engine", root = %root, %proof_type, reason = reason.as_str(), %error, "proof failed");
            self.emit(EngineEvent::Failure { root, proof_type, reason, error: error.to_string() });
        }
    }

    fn emit(&self, e: EngineEvent) {
        if let EngineEvent::Failure { reason, .. } = &e {
            self.metrics.failures.get_or_create(&ReasonLabel { reason: reason.as_str().into() }).inc();
        }
        // No subscriber is not an error: the proof stays downloadable.
        let _ = self.events.send(e);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// The proof held for (root, type).
    pub fn proof(&self, root: &Hash32, proof_type: &str) -> Option<Bytes> {
        lock(&self.state).cache.get(&(*root, proof_type.to_string())).cloned()
    }

    /// The types held for `root` (the catch-up replay of a filtered stream).
    pub fn held_types(&self, root: &Hash32) -> Vec<String> {
        let s = lock(&self.state);
        s.order.iter().filter(|(r, _)| r == root).map(|(_, t)| t.clone()).collect()
    }

    pub(crate) fn count_verification(&self, status: ProofStatus) {
        let status = match status {
            ProofStatus::Valid => "VALID",
            ProofStatus::Invalid => "INVALID",
        };
        self.metrics.verifications.get_or_create(&StatusLabel { status: status.into() }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl Backend for Nothing {
        fn submit(&self, _: Accepted) -> Result<(), String> {
            Ok(())
        }
        fn verify(&self, _: &str, _: KnownBlock, _: &[u8]) -> Result<(), String> {
            Err("no".into())
        }
    }

    fn engine(limits: Limits) -> Arc<ProofEngine> {
        let offer = |t: &str, prove: bool| Offer {
            info: ProofTypeInfo { proof_type: t.into(), kind: "stark".into(), can_prove: prove, can_verify: true },
            zkvm: t.into(),
        };
        ProofEngine::new(vec![offer("stark", true), offer("verify-only", false)], Arc::new(Nothing), limits)
    }

    fn root(b: u8) -> Hash32 {
        Hash32([b; 32])
    }

    #[test]
    fn proof_types_are_checked_as_zkboost_does() {
        let e = engine(Limits::default());
        assert_eq!(e.parse_types(Some(" stark ")).unwrap(), ["stark"]);
        assert_eq!(e.parse_types(Some("")), Err(TypeRefusal::Empty));
        assert_eq!(e.parse_types(None), Err(TypeRefusal::Empty));
        assert_eq!(e.parse_types(Some("stark,stark")), Err(TypeRefusal::Duplicate("stark".into())));
        assert_eq!(e.parse_types(Some("reth-sp1")), Err(TypeRefusal::Unknown("reth-sp1".into())));
        assert_eq!(e.parse_types(Some("verify-only")), Err(TypeRefusal::VerifierOnly("verify-only".into())));
    }

    /// specs/proof-engine.md §2: pending pairs are bounded, a held or pending
    /// pair is dropped from a new request, and a completion settles it once.
    #[test]
    fn pending_pairs_are_bounded_deduplicated_and_settled_once() {
        let e = engine(Limits { pending: 2, ..Limits::default() });
        let stark = ["stark".to_string()];
        assert_eq!(e.claim(root(1), &stark).unwrap().len(), 1);
        assert!(e.claim(root(1), &stark).unwrap().is_empty(), "pending: dropped");
        assert_eq!(e.claim(root(2), &stark).unwrap().len(), 1);
        assert!(e.claim(root(3), &stark).is_err(), "the bound");
        let mut events = e.subscribe();
        e.completed(root(1), "stark", b"proof".to_vec());
        e.completed(root(1), "stark", b"again".to_vec());
        assert_eq!(events.try_recv().unwrap(), EngineEvent::Complete { root: root(1), proof_type: "stark".into() });
        assert!(events.try_recv().is_err(), "one event per pair");
        assert_eq!(e.proof(&root(1), "stark").unwrap().as_ref(), b"proof");
        assert!(e.claim(root(1), &stark).unwrap().is_empty(), "held: dropped");
        assert_eq!(e.claim(root(3), &stark).unwrap().len(), 1, "a settled pair frees its place");
        // A failure is told only for a pending pair.
        e.failed(root(9), "stark", FailureReason::ProvingError, "x");
        assert!(events.try_recv().is_err());
        e.failed(root(2), "stark", FailureReason::ProvingError, "x");
        assert!(matches!(events.try_recv().unwrap(), EngineEvent::Failure { .. }));
    }

    #[test]
    fn held_proofs_are_bounded_by_count_and_bytes() {
        let e = engine(Limits { cached_proofs: 2, cached_bytes: 10, ..Limits::default() });
        e.completed(root(1), "stark", vec![0; 4]);
        e.completed(root(2), "stark", vec![0; 4]);
        e.completed(root(3), "stark", vec![0; 4]);
        assert!(e.proof(&root(1), "stark").is_none(), "oldest out by count");
        e.completed(root(4), "stark", vec![0; 8]);
        assert!(e.proof(&root(3), "stark").is_none() && e.proof(&root(4), "stark").is_some(), "out by bytes");
    }

    #[test]
    fn pending_pairs_expire_as_proving_timeouts() {
        let e = engine(Limits { pending_for: Duration::ZERO, ..Limits::default() });
        let mut events = e.subscribe();
        e.claim(root(1), &["stark".to_string()]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        e.expire_pending();
        assert!(matches!(
            events.try_recv().unwrap(),
            EngineEvent::Failure { reason: FailureReason::ProvingTimeout, .. }
        ));
    }

    /// Requests cannot push followed roots out of the table.
    #[test]
    fn requested_roots_do_not_evict_followed_ones() {
        let e = engine(Limits { followed_roots: 2, requested_roots: 2, ..Limits::default() });
        let block = |n| KnownBlock { number: n, input_digest: Hash32::ZERO };
        e.know_followed(root(1), block(1));
        for b in 10..20 {
            e.know_requested(root(b), block(b as u64));
        }
        assert_eq!(e.known(&root(1)), Some(block(1)));
        assert!(e.known(&root(10)).is_none() && e.known(&root(19)).is_some());
    }
}
