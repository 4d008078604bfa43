//! The node's side of the proving network (specs/p2p.md §4–§6): heartbeats
//! and claims in, duties out; every message validated before it is
//! forwarded; own proofs signed and announced; announced proofs fetched from
//! the peer that forwarded them, checked (signature, block, zkVM verifier)
//! and recorded beside the node's own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slotproof_p2p::assign::{self, AssignConfig, Offer, Seen};
use slotproof_p2p::codec::{MAX_RANGE_COUNT, ProofRequest};
use slotproof_p2p::envelope;
use slotproof_p2p::topics::{MAX_CONTROL_MESSAGE_BYTES, MAX_PROOF_MESSAGE_BYTES, Topic};
use slotproof_p2p::wire::{
    self, BlockTask, Claim, ExecutionProof, Heartbeat, Progress, ProofAnnouncement, ProofEnvelope,
    ProofsByRangeRequest, ProofsByRootRequest, PublicInput, SignedProof, ZkvmOffer,
};
use slotproof_p2p::{Client, GossipMessage, MessageAcceptance, MessageId, Multiaddr, NetEvent, NetworkConfig, PeerId};
use slotproof_zkvm::{ProofArtifact, Prover, ProvingInput};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};
use tree_hash::TreeHash;

use crate::node::{hex_bytes, now_ms};
use crate::results::{ReceivedProof, ResultStore};

/// `[p2p]` after overrides.
#[derive(Clone, Debug)]
pub struct NetSettings {
    pub network: String,
    pub listen: Vec<Multiaddr>,
    pub bootnodes: Vec<Multiaddr>,
    pub mdns: bool,
    /// Distinct zkVMs wanted per block.
    pub k: usize,
    pub replicas: usize,
    /// Messages about blocks this many below the head are ignored.
    pub stale_blocks: u64,
}

impl Default for NetSettings {
    fn default() -> Self {
        NetSettings {
            network: "devnet".into(),
            listen: vec![],
            bootnodes: vec![],
            mdns: false,
            k: 2,
            replicas: 1,
            stale_blocks: 32,
        }
    }
}

/// Serves proofs from the store to peers.
struct StoreSource(Arc<ResultStore>);

impl slotproof_p2p::ProofSource for StoreSource {
    fn by_root(&self, hash: &[u8; 32], zkvm: &str) -> Vec<Vec<u8>> {
        self.0.signed_by_root(&wire::hash_hex(&(*hash).into()), zkvm).unwrap_or_default()
    }

    fn by_range(&self, start: u64, count: u64, zkvms: &[String]) -> Vec<Vec<u8>> {
        self.0.signed_by_range(start, count.min(MAX_RANGE_COUNT), zkvms).unwrap_or_default()
    }
}

/// A proof the node made, to sign and announce.
pub struct OwnProof {
    pub number: u64,
    pub hash: String,
    pub zkvm: String,
    pub proving_ms: u64,
    pub proof_type: u8,
    pub proof: Vec<u8>,
    pub public_values: Vec<u8>,
}

/// A fetched proof after its checks, back on the node loop.
pub struct Checked {
    /// The gossip message to report on (none for a by-range catch-up).
    report: Option<(MessageId, PeerId)>,
    pub number: u64,
    pub hash: String,
    pub result: Result<(ReceivedProof, Vec<u8>), (MessageAcceptance, String)>,
}

/// What this node knows of one block's coordination.
struct Coord {
    number: u64,
    announced: Instant,
    deadline_ms: u64,
    /// zkVMs this node queued.
    started: BTreeSet<String>,
    /// Of those, the ones it finished.
    done: BTreeSet<String>,
    /// zkVM → peer → when its last claim or progress arrived.
    claims: BTreeMap<String, BTreeMap<String, Instant>>,
    /// zkVMs with a verified proof from anyone: nobody takes those over.
    proved: BTreeSet<String>,
    /// Proof roots already held (a re-announcement is accepted without a fetch).
    roots: BTreeSet<[u8; 32]>,
}

struct PeerState {
    zkvms: BTreeSet<String>,
    seen: Instant,
    seq: u64,
}

pub struct Net {
    pub client: Client,
    pub me: String,
    key: slotproof_p2p::Keypair,
    settings: NetSettings,
    assign: AssignConfig,
    slot: Duration,
    offers: Vec<ZkvmOffer>,
    mine: BTreeSet<String>,
    peers: BTreeMap<String, PeerState>,
    blocks: BTreeMap<String, Coord>,
    /// Messages about a block not known yet, held for the follower to deliver it.
    waiting: Vec<(Instant, String, GossipMessage)>,
    hb_seq: u64,
    last_heartbeat: Option<Instant>,
    last_progress: Instant,
    head: u64,
    checked_tx: mpsc::UnboundedSender<Checked>,
    verifiers: Arc<BTreeMap<String, Arc<dyn Prover>>>,
    store: Arc<ResultStore>,
    caught_up_with: BTreeSet<PeerId>,
}

/// What `start` hands the node loop.
pub struct Started {
    pub net: Net,
    pub events: mpsc::Receiver<NetEvent>,
    pub checked: mpsc::UnboundedReceiver<Checked>,
}

/// Each offered zkVM: (name, version, proof type, slots).
pub type LocalZkvm = (String, String, u8, usize);

#[allow(clippy::too_many_arguments)]
pub fn start(
    settings: NetSettings,
    data_dir: &Path,
    store: Arc<ResultStore>,
    local: &[LocalZkvm],
    verifiers: BTreeMap<String, Arc<dyn Prover>>,
    slot: Duration,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Started> {
    let key = slotproof_p2p::key::load_or_create(data_dir)?;
    let mut cfg = NetworkConfig::new(settings.network.clone());
    cfg.listen = settings.listen.clone();
    cfg.bootnodes = settings.bootnodes.clone();
    cfg.mdns = settings.mdns;
    let (client, events) = slotproof_p2p::start(key.clone(), cfg, Arc::new(StoreSource(store.clone())), shutdown)?;
    let me = client.local.to_string();
    info!(target: "slotproof::p2p", node_id = %me, network = %settings.network, k = settings.k, replicas = settings.replicas, "joining the proving network");
    let mut offers = Vec::new();
    for (name, version, proof_type, slots) in local {
        offers.push(ZkvmOffer {
            name: wire::name(name)?,
            version: wire::name(version.get(..64).unwrap_or(version))?,
            proof_type: *proof_type,
            free_slots: *slots as u16,
            total_slots: *slots as u16,
        });
    }
    let (checked_tx, checked) = mpsc::unbounded_channel();
    let net = Net {
        client,
        me,
        key,
        assign: AssignConfig::for_slot(slot, settings.k, settings.replicas),
        settings,
        slot,
        offers,
        mine: local.iter().map(|z| z.0.clone()).collect(),
        peers: BTreeMap::new(),
        blocks: BTreeMap::new(),
        waiting: Vec::new(),
        hb_seq: 0,
        last_heartbeat: None,
        last_progress: Instant::now(),
        head: 0,
        checked_tx,
        verifiers: Arc::new(verifiers),
        store,
        caught_up_with: BTreeSet::new(),
    };
    Ok(Started { net, events, checked })
}

fn name_ok(s: &str) -> Result<wire::Name, String> {
    wire::name(s).map_err(|e| e.to_string())
}

impl Net {
    fn heartbeat_every(&self) -> Duration {
        self.slot / 4
    }

    /// Peers heard from within three heartbeat intervals, and this node.
    fn live_offers(&self) -> Vec<Offer> {
        let horizon = self.heartbeat_every() * 3;
        let mut offers: Vec<Offer> = self
            .peers
            .iter()
            .filter(|(_, p)| p.seen.elapsed() < horizon)
            .map(|(peer, p)| Offer { peer: peer.clone(), zkvms: p.zkvms.clone() })
            .collect();
        offers.push(Offer { peer: self.me.clone(), zkvms: self.mine.clone() });
        offers
    }

    pub fn live_peers(&self) -> usize {
        self.live_offers().len() - 1
    }

    /// Distinct zkVMs the live network offers, capped at k: what "covered" means now.
    pub fn wanted(&self) -> usize {
        let offered: BTreeSet<String> = self.live_offers().into_iter().flat_map(|o| o.zkvms).collect();
        offered.len().min(self.settings.k).max(1)
    }

    async fn publish(&self, topic: Topic, data: Vec<u8>) {
        // No peers yet is normal for a lone or starting node.
        if let Err(e) = self.client.publish(topic, data).await {
            debug!(target: "slotproof::p2p", %topic, error = %e, "not published");
        }
    }

    /// A block the node queued: coordinate it and tell the network.
    pub async fn on_block(&mut self, number: u64, hash: &str, parent: &str, slot: u64, deadline_ms: u64) {
        self.head = self.head.max(number);
        self.blocks.entry(hash.to_string()).or_insert_with(|| Coord {
            number,
            announced: Instant::now(),
            deadline_ms,
            started: BTreeSet::new(),
            done: BTreeSet::new(),
            claims: BTreeMap::new(),
            proved: BTreeSet::new(),
            roots: BTreeSet::new(),
        });
        if let (Some(h), Some(p)) = (wire::hash_from_hex(hash), wire::hash_from_hex(parent)) {
            let task = BlockTask { number, hash: h, parent_hash: p, slot, deadline_ms };
            self.publish(Topic::Task, wire::encode(&task)).await;
        }
        // Messages that were waiting for this block.
        let (ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting).into_iter().partition(|w| w.1 == hash);
        self.waiting = rest;
        for (_, _, msg) in ready {
            self.on_gossip(msg).await;
        }
    }

    /// A block left the canonical chain.
    pub fn forget(&mut self, hash: &str) {
        self.blocks.remove(hash);
    }

    /// The (block, zkVM) pairs this node should start now; each is claimed on the network.
    pub async fn due(&mut self, now_ms: u64) -> Vec<(u64, String, String)> {
        let offers = self.live_offers();
        let mut out = Vec::new();
        for (hash, c) in &mut self.blocks {
            if now_ms > c.deadline_ms {
                continue;
            }
            let seen: BTreeMap<String, Seen> = c
                .claims
                .iter()
                .map(|(z, by)| (z.clone(), Seen { claims: by.iter().map(|(p, t)| (p.clone(), t.elapsed())).collect() }))
                .collect();
            for z in assign::duties(&self.me, hash, &offers, &seen, c.announced.elapsed(), &self.assign) {
                if c.started.contains(&z) || c.proved.contains(&z) {
                    continue;
                }
                c.started.insert(z.clone());
                out.push((c.number, hash.clone(), z));
            }
        }
        for (number, hash, z) in &out {
            let ranking = assign::rank_peers(hash, z, &offers);
            let rank = ranking.iter().position(|p| *p == self.me).unwrap_or(0) as u16;
            if let (Some(h), Ok(zkvm), Ok(node_id)) = (wire::hash_from_hex(hash), name_ok(z), name_ok(&self.me)) {
                let claim = Claim { number: *number, hash: h, zkvm, node_id, rank };
                self.publish(Topic::Claim, wire::encode(&claim)).await;
            }
            info!(target: "slotproof::p2p", block = number, zkvm = %z, rank, peers = offers.len() - 1, "claimed");
        }
        out
    }

    /// Heartbeats, progress for running proofs, expiry of what waited too long.
    pub async fn tick(&mut self, now_ms: u64, head: Option<(u64, &str)>) {
        if self.last_heartbeat.is_none_or(|t| t.elapsed() >= self.heartbeat_every()) {
            self.last_heartbeat = Some(Instant::now());
            // Wall-clock ms: a restarted node's heartbeats stay newer than its last run's.
            self.hb_seq = now_ms.max(self.hb_seq + 1);
            let (head_number, head_hash) =
                head.map_or((0, [0u8; 32].into()), |(n, h)| (n, wire::hash_from_hex(h).unwrap_or_default()));
            let busy: usize = self.blocks.values().map(|c| c.started.len() - c.done.len()).sum();
            let total: usize = self.offers.iter().map(|o| o.total_slots as usize).sum();
            if let (Ok(node_id), Ok(zkvms)) = (name_ok(&self.me), ssz_types::VariableList::new(self.offers.clone())) {
                let hb = Heartbeat {
                    node_id,
                    seq: self.hb_seq,
                    head_number,
                    head_hash,
                    zkvms,
                    load: (busy * 100 / total.max(1)).min(100) as u8,
                };
                self.publish(Topic::Heartbeat, wire::encode(&hb)).await;
            }
        }
        if self.last_progress.elapsed() >= self.slot / 6 {
            self.last_progress = Instant::now();
            let mut updates = Vec::new();
            for (hash, c) in &self.blocks {
                for z in c.started.difference(&c.done) {
                    if let (Some(h), Ok(zkvm), Ok(node_id)) = (wire::hash_from_hex(hash), name_ok(z), name_ok(&self.me))
                    {
                        updates.push(Progress { number: c.number, hash: h, zkvm, node_id, percent: 50 });
                    }
                }
            }
            for p in updates {
                self.publish(Topic::Progress, wire::encode(&p)).await;
            }
        }
        // Unknown blocks get half a slot to show up; then the message is ignored.
        let hold = self.slot / 2;
        let (expired, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|w| w.0.elapsed() > hold);
        self.waiting = keep;
        for (_, hash, msg) in expired {
            debug!(target: "slotproof::p2p", %hash, topic = %msg.topic, "message about an unknown block ignored");
            self.client.report(msg.id, msg.from, MessageAcceptance::Ignore).await;
        }
        // Coordination state is kept a few slots past each deadline.
        let keep_ms = (self.slot * 4).as_millis() as u64;
        self.blocks.retain(|_, c| now_ms <= c.deadline_ms + keep_ms);
    }

    /// Validates one gossip message, then reports accept / ignore / reject.
    pub async fn on_gossip(&mut self, msg: GossipMessage) {
        let verdict = self.validate(&msg);
        match verdict {
            Verdict::Report(acceptance, why) => {
                if acceptance == MessageAcceptance::Reject {
                    warn!(target: "slotproof::p2p", peer = %msg.from, topic = %msg.topic, reason = %why, "message rejected; the sender is penalised");
                } else if !why.is_empty() {
                    debug!(target: "slotproof::p2p", peer = %msg.from, topic = %msg.topic, reason = %why, "message ignored");
                }
                self.client.report(msg.id, msg.from, acceptance).await;
            }
            Verdict::Wait(hash) => self.waiting.push((Instant::now(), hash, msg)),
            Verdict::Fetch(ann) => self.fetch_announced(msg, ann),
        }
    }

    fn validate(&mut self, msg: &GossipMessage) -> Verdict {
        let reject = |why: String| Verdict::Report(MessageAcceptance::Reject, why);
        let author = msg.source.map(|p| p.to_string()).unwrap_or_default();
        macro_rules! decode {
            ($t:ty) => {
                match wire::decode::<$t>(&msg.data, MAX_CONTROL_MESSAGE_BYTES) {
                    Ok(m) => m,
                    Err(e) => return reject(e.to_string()),
                }
            };
        }
        let stale = |number: u64, head: u64, limit: u64| head > limit && number < head - limit;
        match msg.topic {
            Topic::Heartbeat => {
                let hb = decode!(Heartbeat);
                let id = wire::text(&hb.node_id);
                if id != author {
                    return reject(format!("heartbeat for {id} signed by {author}"));
                }
                if id == self.me {
                    return Verdict::Report(MessageAcceptance::Ignore, String::new());
                }
                let zkvms: BTreeSet<String> = hb.zkvms.iter().map(|o| wire::text(&o.name)).collect();
                let entry = self.peers.entry(id.clone()).or_insert_with(|| {
                    info!(target: "slotproof::p2p", peer = %id, zkvms = ?zkvms, "new prover on the network");
                    PeerState { zkvms: zkvms.clone(), seen: Instant::now(), seq: 0 }
                });
                if hb.seq <= entry.seq {
                    return Verdict::Report(MessageAcceptance::Ignore, "an old heartbeat".into());
                }
                *entry = PeerState { zkvms, seen: Instant::now(), seq: hb.seq };
                Verdict::Report(MessageAcceptance::Accept, String::new())
            }
            Topic::Task => {
                let task = decode!(BlockTask);
                if stale(task.number, self.head, self.settings.stale_blocks) {
                    return Verdict::Report(MessageAcceptance::Ignore, "stale block".into());
                }
                Verdict::Report(MessageAcceptance::Accept, String::new())
            }
            Topic::Claim | Topic::Progress => {
                let (number, hash, zkvm, node) = if msg.topic == Topic::Claim {
                    let c = decode!(Claim);
                    (c.number, c.hash, c.zkvm, c.node_id)
                } else {
                    let p = decode!(Progress);
                    (p.number, p.hash, p.zkvm, p.node_id)
                };
                let node = wire::text(&node);
                if node != author {
                    return reject(format!("claim for {node} signed by {author}"));
                }
                let hash = wire::hash_hex(&hash);
                let Some(c) = self.blocks.get_mut(&hash) else {
                    // Recorded but no longer (or never, after a restart) coordinated here.
                    return if self.recorded(number, &hash) {
                        Verdict::Report(MessageAcceptance::Accept, String::new())
                    } else if stale(number, self.head, self.settings.stale_blocks) {
                        Verdict::Report(MessageAcceptance::Ignore, "stale block".into())
                    } else {
                        Verdict::Wait(hash)
                    };
                };
                if c.number != number {
                    return reject(format!("block {hash} is number {}, not {number}", c.number));
                }
                c.claims.entry(wire::text(&zkvm)).or_default().insert(node, Instant::now());
                Verdict::Report(MessageAcceptance::Accept, String::new())
            }
            Topic::Proof => {
                let ann = decode!(ProofAnnouncement);
                let node = wire::text(&ann.node_id);
                if node != author {
                    return reject(format!("proof by {node} announced by {author}"));
                }
                if ann.proof_bytes > MAX_PROOF_MESSAGE_BYTES as u64 {
                    return reject(format!("a proof of {} bytes is over the cap", ann.proof_bytes));
                }
                let hash = wire::hash_hex(&ann.hash);
                match self.blocks.get(&hash) {
                    Some(c) if c.number != ann.number => {
                        reject(format!("block {hash} is number {}, not {}", c.number, ann.number))
                    }
                    Some(c) if c.roots.contains(&ann.proof_root.0) => {
                        Verdict::Report(MessageAcceptance::Accept, String::new())
                    }
                    Some(_) => Verdict::Fetch(ann),
                    None if self.recorded(ann.number, &hash) => Verdict::Fetch(ann),
                    // Staleness only for blocks this node does not hold: a held block can be checked.
                    None if stale(ann.number, self.head, self.settings.stale_blocks) => {
                        Verdict::Report(MessageAcceptance::Ignore, "stale block".into())
                    }
                    None => Verdict::Wait(hash),
                }
            }
        }
    }

    /// The node holds a record of this block (it may have been recorded before a restart).
    fn recorded(&self, number: u64, hash: &str) -> bool {
        self.store.get(number, hash).ok().flatten().is_some()
    }

    /// Fetches an announced proof from the peer that forwarded it (it checked
    /// the proof before forwarding, so it holds it), then checks it off the loop.
    fn fetch_announced(&self, msg: GossipMessage, ann: ProofAnnouncement) {
        let client = self.client.clone();
        let tx = self.checked_tx.clone();
        let ctx = self.check_context(ann.number, &wire::hash_hex(&ann.hash));
        tokio::spawn(async move {
            let hash = wire::hash_hex(&ann.hash);
            let request = ProofRequest::ByRoot(ProofsByRootRequest { hash: ann.hash, zkvm: ann.zkvm.clone() });
            let result = match client.fetch(msg.from, request).await {
                Err(e) => Err((MessageAcceptance::Ignore, format!("fetch failed: {e}"))),
                Ok(chunks) => {
                    let found = chunks
                        .iter()
                        .filter_map(|c| wire::decode::<SignedProof>(c, MAX_PROOF_MESSAGE_BYTES).ok())
                        .find(|s| s.message.tree_hash_root() == ann.proof_root);
                    match found {
                        None => Err((MessageAcceptance::Reject, "announced a proof it does not serve".into())),
                        Some(signed) => check(ctx, signed).await,
                    }
                }
            };
            let _ = tx.send(Checked { report: Some((msg.id, msg.from)), number: ann.number, hash, result });
        });
    }

    fn check_context(&self, number: u64, hash: &str) -> CheckContext {
        CheckContext::load(&self.store, &self.verifiers, number, hash)
    }

    /// The verdict on a fetched proof: report it, remember the proof.
    pub async fn on_checked(&mut self, c: &Checked) {
        let acceptance = match &c.result {
            Ok((p, _)) => {
                if let Some(coord) = self.blocks.get_mut(&c.hash) {
                    if p.verified {
                        coord.proved.insert(p.zkvm.clone());
                    }
                    if let Some(root) = p.root {
                        coord.roots.insert(root);
                    }
                }
                // Unverifiable here (an external zkVM without a verifier): not forwarded.
                if p.verified { MessageAcceptance::Accept } else { MessageAcceptance::Ignore }
            }
            Err((a, why)) => {
                if *a == MessageAcceptance::Reject {
                    warn!(target: "slotproof::p2p", block = c.number, reason = %why, "proof rejected; the sender is penalised");
                } else {
                    debug!(target: "slotproof::p2p", block = c.number, reason = %why, "proof not taken");
                }
                *a
            }
        };
        if let Some((id, from)) = &c.report {
            self.client.report(id.clone(), *from, acceptance).await;
        }
    }

    /// Signs, stores and announces a proof this node made.
    pub async fn own_proof(&mut self, p: OwnProof) -> anyhow::Result<()> {
        let hash =
            wire::hash_from_hex(&p.hash).ok_or_else(|| anyhow::anyhow!("block hash {} is not 32 bytes", p.hash))?;
        let env = ProofEnvelope {
            number: p.number,
            hash,
            zkvm: wire::name(&p.zkvm)?,
            node_id: wire::name(&self.me)?,
            proving_ms: p.proving_ms,
            public_values: wire::bytes(p.public_values, "public values")?,
            proof: ExecutionProof {
                proof_data: wire::bytes(p.proof, "proof")?,
                proof_type: p.proof_type,
                public_input: PublicInput { new_payload_request_root: hash },
            },
        };
        let root = env.tree_hash_root();
        let proof_bytes = env.proof.proof_data.len() as u64;
        let signed = envelope::sign(&self.key, env).ok_or_else(|| anyhow::anyhow!("signing failed"))?;
        self.store.put_signed(p.number, &p.hash, &p.zkvm, &self.me, &wire::encode(&signed))?;
        if let Some(c) = self.blocks.get_mut(&p.hash) {
            c.done.insert(p.zkvm.clone());
            c.proved.insert(p.zkvm.clone());
            c.roots.insert(root.0);
        }
        let ann = ProofAnnouncement {
            number: p.number,
            hash,
            zkvm: wire::name(&p.zkvm)?,
            node_id: wire::name(&self.me)?,
            proof_bytes,
            proof_root: root,
        };
        self.publish(Topic::Proof, wire::encode(&ann)).await;
        Ok(())
    }

    /// A proof this node started and could not finish: others may take it over.
    pub fn given_up(&mut self, number: u64, zkvm: &str) {
        for c in self.blocks.values_mut().filter(|c| c.number == number) {
            c.done.insert(zkvm.to_string());
        }
    }

    /// A new peer: ask it for the proofs of recent blocks (a restarted node catches up).
    pub fn on_connected(&mut self, peer: PeerId, from: u64) {
        if !self.caught_up_with.insert(peer) {
            return;
        }
        let client = self.client.clone();
        let tx = self.checked_tx.clone();
        let store = self.store.clone();
        let verifiers = self.verifiers.clone();
        let me = self.me.clone();
        let settle = self.slot / 2;
        tokio::spawn(async move {
            // Half a slot first, so the follower has recorded the blocks missed while down.
            tokio::time::sleep(settle).await;
            let request = ProofRequest::ByRange(ProofsByRangeRequest {
                start: from,
                count: MAX_RANGE_COUNT,
                zkvms: Default::default(),
            });
            let chunks = match client.fetch(peer, request).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(target: "slotproof::p2p", %peer, error = %e, "proofs by range: request failed");
                    return;
                }
            };
            debug!(target: "slotproof::p2p", %peer, from, proofs = chunks.len(), "proofs by range: answered");
            let mut taken = 0;
            for chunk in chunks {
                let Ok(signed) = wire::decode::<SignedProof>(&chunk, MAX_PROOF_MESSAGE_BYTES) else { continue };
                let (number, hash) = (signed.message.number, wire::hash_hex(&signed.message.hash));
                if wire::text(&signed.message.node_id) == me {
                    continue;
                }
                let ctx = CheckContext::load(&store, &verifiers, number, &hash);
                if ctx.input_digest.is_none() {
                    continue;
                }
                let result = check(ctx, signed).await;
                if let Err((_, why)) = &result {
                    debug!(target: "slotproof::p2p", %peer, block = number, reason = %why, "proof by range not taken");
                }
                taken += usize::from(result.is_ok());
                let _ = tx.send(Checked { report: None, number, hash, result });
            }
            if taken > 0 {
                info!(target: "slotproof::p2p", %peer, proofs = taken, "caught up on proofs by range");
            }
        });
    }
}

enum Verdict {
    Report(MessageAcceptance, String),
    Wait(String),
    Fetch(ProofAnnouncement),
}

struct CheckContext {
    number: u64,
    hash: String,
    /// None when the block is not recorded here.
    input_digest: Option<String>,
    deadline_ms: u64,
    verifiers: Arc<BTreeMap<String, Arc<dyn Prover>>>,
}

impl CheckContext {
    fn load(
        store: &ResultStore,
        verifiers: &Arc<BTreeMap<String, Arc<dyn Prover>>>,
        number: u64,
        hash: &str,
    ) -> CheckContext {
        let record = store.get(number, hash).ok().flatten();
        CheckContext {
            number,
            hash: hash.to_string(),
            input_digest: record.as_ref().map(|r| r.input_digest.clone()),
            deadline_ms: record.map_or(0, |r| r.deadline_ms),
            verifiers: verifiers.clone(),
        }
    }
}

/// Signature, block, then the zkVM's own verifier (on a blocking thread).
async fn check(
    ctx: CheckContext,
    signed: SignedProof,
) -> Result<(ReceivedProof, Vec<u8>), (MessageAcceptance, String)> {
    let reject = |why: String| (MessageAcceptance::Reject, why);
    let signer = envelope::check(&signed).map_err(|e| reject(format!("signature: {e}")))?;
    let m = &signed.message;
    if m.number != ctx.number || wire::hash_hex(&m.hash) != ctx.hash {
        return Err(reject("the proof is for another block".into()));
    }
    if m.proof.public_input.new_payload_request_root != m.hash {
        return Err(reject("public input does not name the block".into()));
    }
    let zkvm = wire::text(&m.zkvm);
    let mut received = ReceivedProof {
        zkvm: zkvm.clone(),
        node: signer.to_string(),
        proving_ms: m.proving_ms,
        proof_bytes: m.proof.proof_data.len() as u64,
        simulated: zkvm.starts_with("sim:"),
        verified: false,
        within_deadline: false,
        received_ms: now_ms(),
        root: Some(m.tree_hash_root().0),
        error: None,
    };
    let Some(digest) = ctx.input_digest else {
        return Err((MessageAcceptance::Ignore, "block not recorded here".into()));
    };
    let bytes = wire::encode(&signed);
    let Some(verifier) = ctx.verifiers.get(&zkvm).cloned() else {
        // specs/p2p.md §5: kept, marked unverified, not forwarded.
        received.error = Some(format!("no verifier for {zkvm} on this node"));
        return Ok((received, bytes));
    };
    let artifact = ProofArtifact {
        zkvm: zkvm.clone(),
        proof: m.proof.proof_data.to_vec(),
        public_values: m.public_values.to_vec(),
        cycles: None,
        proving_time: Duration::from_millis(m.proving_ms),
        simulated: received.simulated,
    };
    let reference = ProvingInput::new(ctx.number, hex_bytes(&digest));
    let verdict = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verifier.verify(&artifact, &reference)))
    })
    .await;
    match verdict {
        Ok(Ok(Ok(()))) => {
            received.verified = true;
            received.within_deadline = received.received_ms <= ctx.deadline_ms;
            Ok((received, bytes))
        }
        Ok(Ok(Err(e))) => Err(reject(format!("{zkvm} proof does not verify: {e}"))),
        _ => Err(reject(format!("{zkvm} verifier panicked on the proof"))),
    }
}

/// Verifiers for every zkVM this node can check: its own, plus the built-in
/// `stark` and every simulated profile (specs/p2p.md §5).
pub fn all_verifiers(
    own: &BTreeMap<String, Arc<dyn Prover>>,
    store: &Arc<ResultStore>,
    sim: slotproof_zkvm::sim::SimOptions,
) -> BTreeMap<String, Arc<dyn Prover>> {
    let mut out = own.clone();
    let mut add = |name: String, p: Arc<dyn Prover>| {
        out.entry(name)
            .or_insert_with(|| Arc::new(crate::inputs::StoredInput::new(p, store.clone())) as Arc<dyn Prover>);
    };
    add("stark".into(), Arc::new(slotproof_zkvm::stark::StarkProver::default()));
    for profile in slotproof_zkvm::sim::PROFILES {
        let name = format!("sim:{}", profile.name);
        if let Some(p) = slotproof_zkvm::sim::SimProver::from_name(&name, sim) {
            add(name, Arc::new(p));
        }
    }
    out
}
