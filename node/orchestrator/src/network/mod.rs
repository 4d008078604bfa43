//! The node's side of the proving network (specs/p2p.md §4–§6): heartbeats
//! and claims in, duties out; every message validated before it is
//! forwarded; own proofs signed and announced; announced proofs fetched from
//! the peer that forwarded them, checked (signature, block, zkVM verifier)
//! and recorded beside the node's own.
//!
//! `Net` owns the coordination state and the handlers the node loop calls.
//! The rules live in submodules that never call back into it: `coord`
//! (state and duties), `validate` (gossip verdicts), `check` (proof checks),
//! `fetch` (proofs from peers), `serve` (proofs to peers), `verifiers`.
//! Data flows one way: mod → {validate → coord, fetch → check, serve,
//! verifiers}; none of them imports this file.

pub mod check;
pub mod coord;
pub mod error;
pub mod fetch;
pub mod serve;
pub mod validate;
pub mod verifiers;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slotproof_p2p::assign::AssignConfig;
use slotproof_p2p::envelope;
use slotproof_p2p::wire::{BlockTask, Claim, Heartbeat, Progress, ProofAnnouncement, ProofEnvelope, ZkvmOffer};
use slotproof_p2p::{Client, GossipMessage, MessageAcceptance, NetEvent, NetworkConfig, PeerId, PubsubMessage};
use slotproof_primitives::Hash32;
use slotproof_zkvm::Prover;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use self::check::{CheckContext, Verifiers};
pub use self::check::{CheckError, Checked, Passed};
use self::coord::{Coord, NetState};
pub use self::error::NetError;
use self::fetch::CatchUp;
use self::serve::StoreSource;
use self::validate::{Learned, Verdict};
pub use self::verifiers::all_verifiers;
use crate::config::NetSettings;
use crate::results::ResultStore;

/// A proof the node made, to sign and announce.
pub type OwnProof = slotproof_p2p::wire::ProofParts;

/// Each offered zkVM: (name, version, proof type, slots).
pub type LocalZkvm = (String, String, u8, usize);

/// Announced proofs fetched at once, all peers together and from one peer
/// with standing (two from a peer without) (specs/p2p.md §5).
pub const MAX_FETCHES: usize = 8;
pub const MAX_FETCHES_PER_PEER: usize = 4;
pub const MAX_FETCHES_NO_STANDING: usize = 2;
/// Messages waiting for their block at once.
pub const MAX_WAITING: usize = 1024;
/// Proof verifications at once (an external verifier is a process each).
pub const MAX_VERIFICATIONS: usize = 2;
/// A peer is asked for a catch-up by range at most this often.
const CATCH_UP_EVERY: Duration = Duration::from_secs(600);
/// Earned standing lasts this many slots (specs/p2p.md §4).
const STANDING_SLOTS: u32 = 64;
/// Takeovers may start up to this many slots after a block's deadline: late, but covered.
const LATE_SLOTS: u32 = 2;

/// What `start` hands the node loop.
pub struct Started {
    pub net: Net,
    pub events: mpsc::Receiver<NetEvent>,
    pub checked: mpsc::UnboundedReceiver<Checked>,
}

pub struct Net {
    pub client: Client,
    /// This node's id (its peer id, as text).
    pub me: String,
    key: slotproof_p2p::Keypair,
    settings: NetSettings,
    assign: AssignConfig,
    slot: Duration,
    offers: Vec<ZkvmOffer>,
    state: NetState,
    /// Messages about a block not known yet, held for the follower to deliver it.
    waiting: Vec<(Instant, Hash32, GossipMessage)>,
    hb_seq: u64,
    last_heartbeat: Option<Instant>,
    last_progress: Instant,
    checked_tx: mpsc::UnboundedSender<Checked>,
    verifiers: Verifiers,
    /// Verifications at once (`MAX_VERIFICATIONS`).
    permits: Arc<Semaphore>,
    store: Arc<ResultStore>,
    /// Announced proofs being fetched, by root, with the peer asked.
    fetching: HashMap<Hash32, PeerId>,
    /// Peers asked for a catch-up by range, and when (`CATCH_UP_EVERY`).
    caught_up_with: HashMap<PeerId, Instant>,
    /// Connected peers to ask once they have standing: when connected, from which block.
    to_catch_up: HashMap<PeerId, (Instant, u64)>,
    /// Fetches and catch-ups run as tracked tasks: the node awaits them on shutdown.
    tracker: TaskTracker,
    /// Own proofs' announcements that found no peer to go to (a node just
    /// restarted, before its peers' subscriptions arrive), sent again on
    /// every tick: at most `MAX_UNANNOUNCED`, each for `UNANNOUNCED_FOR_SLOTS`.
    unannounced: VecDeque<(Instant, PubsubMessage)>,
}

/// Own proof announcements kept to send again.
const MAX_UNANNOUNCED: usize = 64;
/// How long, in slots, an unsent announcement is tried again.
const UNANNOUNCED_FOR_SLOTS: u32 = 8;

/// How the network's tasks are stopped and awaited: the swarm stops when
/// `shutdown` flips; every task it starts is tracked by `tracker`.
pub struct Tasks {
    pub shutdown: watch::Receiver<bool>,
    pub tracker: TaskTracker,
}

/// Joins the network: loads the node key, starts the swarm, and returns the
/// handle with the channels the node loop listens on.
pub fn start(
    settings: NetSettings,
    data_dir: &Path,
    store: Arc<ResultStore>,
    local: &[LocalZkvm],
    verifiers: std::collections::BTreeMap<String, Arc<dyn Prover>>,
    slot: Duration,
    tasks: Tasks,
) -> Result<Started, NetError> {
    let Tasks { shutdown, tracker } = tasks;
    let key = slotproof_p2p::key::load_or_create(data_dir)?;
    let mut cfg = NetworkConfig::new(settings.network.clone());
    cfg.listen = settings.listen.clone();
    cfg.bootnodes = settings.bootnodes.clone();
    cfg.mdns = settings.mdns;
    let source = Arc::new(StoreSource(store.clone()));
    let (client, events, swarm) = slotproof_p2p::start_owned(key.clone(), cfg, source, shutdown)?;
    // The swarm stops on `shutdown`; tracked so the node waits for it.
    tracker.spawn(async move {
        let _ = swarm.await;
    });
    let me = client.local.to_string();
    info!(target: "slotproof::p2p", node_id = %me, network = %settings.network, k = settings.k, replicas = settings.replicas, "joining the proving network");
    let offers = local
        .iter()
        .map(|(name, version, proof_type, slots)| {
            ZkvmOffer::new(name, version, *proof_type, u16::try_from(*slots).unwrap_or(u16::MAX))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (checked_tx, checked) = mpsc::unbounded_channel();
    let mine = local.iter().map(|z| z.0.clone()).collect();
    let mut state = NetState::new(me.clone(), mine, settings.stale_blocks);
    // specs/p2p.md §5: only zkVMs this node can verify are wanted, ranked, stored or forwarded.
    state.verifiable = verifiers.iter().filter(|(_, v)| v.can_verify()).map(|(z, _)| z.clone()).collect();
    state.standing.provers = settings.provers.clone();
    state.standing.window = slot * STANDING_SLOTS;
    state.late_ms = (slot * LATE_SLOTS).as_millis() as u64;
    let unverifiable: Vec<&String> = state.mine.difference(&state.verifiable).collect();
    if !unverifiable.is_empty() {
        warn!(target: "slotproof::p2p", zkvms = ?unverifiable, "no verifier (verify_command) for these zkVMs: proved for this node's own records only; peers ignore their proofs");
    }
    let net = Net {
        client,
        key,
        assign: AssignConfig::for_slot(slot, settings.k, settings.replicas),
        state,
        me,
        settings,
        slot,
        offers,
        waiting: Vec::new(),
        hb_seq: 0,
        last_heartbeat: None,
        last_progress: Instant::now(),
        checked_tx,
        verifiers: Arc::new(verifiers),
        permits: Arc::new(Semaphore::new(MAX_VERIFICATIONS)),
        store,
        fetching: HashMap::new(),
        caught_up_with: HashMap::new(),
        to_catch_up: HashMap::new(),
        tracker,
        unannounced: VecDeque::new(),
    };
    Ok(Started { net, events, checked })
}

impl Net {
    fn heartbeat_every(&self) -> Duration {
        self.slot / 4
    }

    /// Peers count as live within three heartbeat intervals (specs/p2p.md §4).
    fn horizon(&self) -> Duration {
        self.heartbeat_every() * 3
    }

    /// Live peers, not counting this node.
    pub fn live_peers(&self) -> usize {
        self.state.live_offers(self.horizon()).len() - 1
    }

    /// Distinct zkVMs the live network offers, capped at k: what "covered" means now.
    pub fn wanted(&self) -> usize {
        self.state.wanted(self.horizon(), self.settings.k)
    }

    async fn publish(&self, msg: PubsubMessage) -> bool {
        let topic = msg.topic();
        // No peers yet is normal for a lone or starting node.
        match self.client.publish(topic, msg.encode()).await {
            Ok(()) => true,
            Err(e) => {
                debug!(target: "slotproof::p2p", %topic, error = %e, "not published");
                false
            }
        }
    }

    /// Sends again, oldest first, own proof announcements that found no peer;
    /// stops at the first that still finds none.
    async fn announce_unannounced(&mut self) {
        let keep = self.slot * UNANNOUNCED_FOR_SLOTS;
        self.unannounced.retain(|(at, _)| at.elapsed() < keep);
        while let Some((at, msg)) = self.unannounced.pop_front() {
            if !self.publish(msg.clone()).await {
                self.unannounced.push_front((at, msg));
                return;
            }
            debug!(target: "slotproof::p2p", "proof announced once peers were there");
        }
    }

    /// A block the node queued: coordinate it and tell the network.
    pub async fn on_block(&mut self, number: u64, hash: Hash32, parent: Hash32, slot: u64, deadline_ms: u64) {
        self.state.head = self.state.head.max(number);
        self.state.blocks.entry(hash).or_insert_with(|| Coord::new(number, deadline_ms));
        self.publish(PubsubMessage::Task(BlockTask::new(number, hash, parent, slot, deadline_ms))).await;
        // Messages that were waiting for this block.
        let (ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting).into_iter().partition(|w| w.1 == hash);
        self.waiting = rest;
        for (_, _, msg) in ready {
            self.on_gossip(msg).await;
        }
    }

    /// A block left the canonical chain.
    pub fn forget(&mut self, hash: Hash32) {
        self.state.blocks.remove(&hash);
    }

    /// The (block, hash, zkVM) triples this node should start now; each is claimed on the network.
    pub async fn due(&mut self, now_ms: u64) -> Vec<(u64, Hash32, String)> {
        let offers = self.state.live_offers(self.horizon());
        let duties = self.state.take_duties(now_ms, &offers, &self.assign);
        for d in &duties {
            match Claim::new(d.number, d.hash, &d.zkvm, &self.me, d.rank) {
                Ok(claim) => {
                    self.publish(PubsubMessage::Claim(claim)).await;
                }
                Err(e) => warn!(target: "slotproof::p2p", zkvm = %d.zkvm, error = %e, "claim not sent"),
            }
            info!(target: "slotproof::p2p", block = d.number, zkvm = %d.zkvm, rank = d.rank, peers = offers.len() - 1, "claimed");
        }
        duties.into_iter().map(|d| (d.number, d.hash, d.zkvm)).collect()
    }

    /// Heartbeats, progress for running proofs, expiry of what waited too long.
    pub async fn tick(&mut self, now_ms: u64, head: Option<(u64, Hash32)>) {
        if self.last_heartbeat.is_none_or(|t| t.elapsed() >= self.heartbeat_every()) {
            self.last_heartbeat = Some(Instant::now());
            self.send_heartbeat(now_ms, head).await;
        }
        if self.last_progress.elapsed() >= self.slot / 6 {
            self.last_progress = Instant::now();
            self.send_progress().await;
        }
        self.expire_waiting().await;
        self.announce_unannounced().await;
        // Coordination state is kept a few slots past each deadline.
        let keep_ms = (self.slot * 4).as_millis() as u64;
        self.state.retire_blocks(now_ms, keep_ms);
        self.caught_up_with.retain(|_, at| at.elapsed() < CATCH_UP_EVERY);
        self.catch_up_with_standing();
    }

    async fn send_heartbeat(&mut self, now_ms: u64, head: Option<(u64, Hash32)>) {
        // Wall-clock ms: a restarted node's heartbeats stay newer than its last run's.
        self.hb_seq = now_ms.max(self.hb_seq + 1);
        let total: usize = self.offers.iter().map(|o| o.total_slots as usize).sum();
        let head = head.unwrap_or((0, Hash32::ZERO));
        match Heartbeat::new(&self.me, self.hb_seq, head, self.offers.clone(), self.state.load(total)) {
            Ok(hb) => {
                self.publish(PubsubMessage::Heartbeat(hb)).await;
            }
            Err(e) => warn!(target: "slotproof::p2p", error = %e, "heartbeat not sent"),
        }
    }

    /// Claims are renewed as progress while their proofs run (specs/p2p.md §4).
    async fn send_progress(&self) {
        let updates: Vec<_> = self
            .state
            .running()
            .filter_map(|(hash, c, zkvm)| Progress::new(c.number, *hash, zkvm, &self.me, 50).ok())
            .collect();
        for p in updates {
            self.publish(PubsubMessage::Progress(p)).await;
        }
    }

    /// Unknown blocks get half a slot to show up; then the message is ignored.
    async fn expire_waiting(&mut self) {
        let hold = self.slot / 2;
        let (expired, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|w| w.0.elapsed() > hold);
        self.waiting = keep;
        for (_, hash, msg) in expired {
            debug!(target: "slotproof::p2p", %hash, topic = %msg.topic, "message about an unknown block ignored");
            self.client.report(msg.id, msg.from, MessageAcceptance::Ignore).await;
        }
    }

    /// Validates one gossip message, applies what it taught, then reports accept / ignore / reject.
    pub async fn on_gossip(&mut self, msg: GossipMessage) {
        let author = msg.source.map(|p| p.to_string()).unwrap_or_default();
        let store = &self.store;
        let recorded = |number: u64, hash: Hash32| store.get(number, &hash).ok().flatten().is_some();
        let verdict = validate::validate(&self.state, msg.topic, &msg.data, &author, &recorded);
        let acceptance = match verdict {
            Verdict::Accept(learned) => {
                self.learn(learned);
                MessageAcceptance::Accept
            }
            Verdict::Ignore(why) => {
                debug!(target: "slotproof::p2p", peer = %msg.from, topic = %msg.topic, reason = %why, "message ignored");
                MessageAcceptance::Ignore
            }
            Verdict::Reject(why) => {
                warn!(target: "slotproof::p2p", peer = %msg.from, topic = %msg.topic, reason = %why, "message rejected; the sender is penalised");
                MessageAcceptance::Reject
            }
            Verdict::Wait(hash) if self.waiting.len() < MAX_WAITING => {
                return self.waiting.push((Instant::now(), hash, msg));
            }
            Verdict::Wait(_) => {
                debug!(target: "slotproof::p2p", peer = %msg.from, "waiting list full: message ignored");
                MessageAcceptance::Ignore
            }
            Verdict::Fetch(ann) => match self.may_fetch(&ann, msg.from) {
                true => return self.fetch_announced(msg, *ann),
                false => MessageAcceptance::Ignore,
            },
        };
        self.client.report(msg.id, msg.from, acceptance).await;
    }

    /// Records what an accepted message taught.
    fn learn(&mut self, learned: Learned) {
        match learned {
            Learned::Nothing => {}
            Learned::Peer { id, zkvms, seq } => {
                let new = !self.state.peers.contains_key(&id);
                let expiry = self.horizon() * 10;
                if self.state.learn_peer(id.clone(), zkvms.clone(), seq, expiry) && new {
                    info!(target: "slotproof::p2p", peer = %id, zkvms = ?zkvms, standing = self.state.standing.has(&id), "new prover on the network");
                }
            }
            Learned::Claim { hash, zkvm, peer } => {
                if let Some(c) = self.state.blocks.get_mut(&hash) {
                    c.claims.entry(zkvm).or_default().insert(peer, Instant::now());
                }
            }
        }
    }

    /// Whether an announced proof may be fetched now: not already being
    /// fetched (by root), and within `MAX_FETCHES` and `MAX_FETCHES_PER_PEER`.
    fn may_fetch(&self, ann: &ProofAnnouncement, from: PeerId) -> bool {
        let from_peer = self.fetching.values().filter(|p| **p == from).count();
        // A forwarder without standing gets fewer: its proofs are how it earns standing.
        let per_peer =
            if self.state.standing.has(&from.to_string()) { MAX_FETCHES_PER_PEER } else { MAX_FETCHES_NO_STANDING };
        let ok = !self.fetching.contains_key(&ann.root()) && self.fetching.len() < MAX_FETCHES && from_peer < per_peer;
        if !ok {
            debug!(target: "slotproof::p2p", peer = %from, root = %ann.root(), fetching = self.fetching.len(), "announced proof not fetched now (already fetching it, or at the fetch limit)");
        }
        ok
    }

    /// Fetches and checks an announced proof off the loop; the result comes back as `Checked`.
    fn fetch_announced(&mut self, msg: GossipMessage, ann: ProofAnnouncement) {
        self.fetching.insert(ann.root(), msg.from);
        let ctx = CheckContext::load(&self.store, &self.verifiers, &self.permits, ann.number, ann.block_hash());
        let (client, tx) = (self.client.clone(), self.checked_tx.clone());
        self.tracker.spawn(async move {
            let _ = tx.send(fetch::announced(client, msg, ann, ctx).await);
        });
    }

    /// The verdict on a fetched proof: report it, remember it, and say
    /// whether to keep it (store and record). A verified proof earns its
    /// signer standing unless another node delivered the same proof data
    /// first (specs/p2p.md §4).
    pub async fn on_checked(&mut self, c: &Checked) -> bool {
        if let Some(root) = c.root {
            self.fetching.remove(&root);
        }
        let (acceptance, keep) = match &c.result {
            Ok(passed) => self.on_passed(c.hash, passed),
            Err(e) => {
                let a = e.acceptance();
                if a == MessageAcceptance::Reject {
                    warn!(target: "slotproof::p2p", block = c.number, reason = %e, "proof rejected; the sender is penalised");
                } else {
                    debug!(target: "slotproof::p2p", block = c.number, reason = %e, "proof not taken");
                }
                (a, false)
            }
        };
        if let Some((id, from)) = &c.report {
            self.client.report(id.clone(), *from, acceptance).await;
        }
        keep
    }

    fn on_passed(&mut self, hash: Hash32, passed: &Passed) -> (MessageAcceptance, bool) {
        let p = &passed.proof;
        let Some(coord) = self.state.blocks.get_mut(&hash) else {
            // A block no longer coordinated (a catch-up): kept, earns nothing.
            return (MessageAcceptance::Accept, true);
        };
        coord.proved.insert(p.zkvm.clone());
        coord.delivered.insert(p.node.clone());
        if let Some(root) = p.root {
            coord.roots.insert(Hash32(root));
        }
        // Deterministic provers give honest replicas the same bytes, so a
        // later copy is kept (it is a valid proof, and the store bounds them
        // per (block, zkVM)); but only the first deliverer earns standing, so
        // re-signing others' proofs buys no say in assignment.
        let first = coord.first_by.entry(passed.data_digest).or_insert_with(|| p.node.clone());
        if *first != p.node {
            debug!(target: "slotproof::p2p", node = %p.node, first = %first, zkvm = %p.zkvm, "the same proof data came first from another node: kept, earns no standing");
            return (MessageAcceptance::Accept, true);
        }
        if !self.state.standing.has(&p.node) {
            info!(target: "slotproof::p2p", node = %p.node, zkvm = %p.zkvm, "peer earned standing with a verified proof");
        }
        self.state.standing.earn(&p.node);
        (MessageAcceptance::Accept, true)
    }

    /// Signs, stores and announces a proof this node made.
    pub async fn own_proof(&mut self, p: OwnProof) -> Result<(), NetError> {
        let (number, hash, zkvm) = (p.number, p.hash, p.zkvm.clone());
        let signed = envelope::sign(&self.key, ProofEnvelope::new(&self.me, p)?)?;
        self.store
            .put_signed(number, &hash, &zkvm, &self.me, &signed.encode())
            .map_err(|source| NetError::Store { number, source })?;
        if let Some(c) = self.state.blocks.get_mut(&hash) {
            c.done.insert(zkvm.clone());
            c.first_by.entry(check::data_digest(&zkvm, signed.message.proof_data())).or_insert_with(|| self.me.clone());
            c.proved.insert(zkvm);
            c.roots.insert(signed.root());
        }
        let announcement = PubsubMessage::Proof(ProofAnnouncement::of(&signed));
        if !self.publish(announcement.clone()).await {
            if self.unannounced.len() >= MAX_UNANNOUNCED {
                self.unannounced.pop_front();
            }
            self.unannounced.push_back((Instant::now(), announcement));
        }
        Ok(())
    }

    /// A proof this node started and could not finish: others may take it over.
    pub fn given_up(&mut self, number: u64, zkvm: &str) {
        for c in self.state.blocks.values_mut().filter(|c| c.number == number) {
            c.done.insert(zkvm.to_string());
        }
    }

    /// A new peer: once it has standing, ask it for the proofs of recent
    /// blocks (a restarted node catches up). Waiting until then means a
    /// stranger is never asked, so it cannot answer with megabytes of junk;
    /// peers connected to and not yet asked are kept at most `MAX_PEERS`.
    pub fn on_connected(&mut self, peer: PeerId, from: u64) {
        if self.caught_up_with.contains_key(&peer) || self.to_catch_up.len() >= coord::MAX_PEERS {
            return;
        }
        self.to_catch_up.insert(peer, (Instant::now(), from));
        self.catch_up_with_standing();
    }

    pub fn on_disconnected(&mut self, peer: &PeerId) {
        self.to_catch_up.remove(peer);
    }

    /// Starts the catch-ups of connected peers that have standing now; at
    /// most one per peer per `CATCH_UP_EVERY` (the table of peers asked is
    /// pruned on the same clock, so free identities cannot grow it).
    fn catch_up_with_standing(&mut self) {
        let ready: Vec<(PeerId, u64)> = self
            .to_catch_up
            .iter()
            .filter(|(p, _)| self.state.standing.has(&p.to_string()))
            .map(|(p, (_, from))| (*p, *from))
            .collect();
        for (peer, from) in ready {
            self.to_catch_up.remove(&peer);
            self.caught_up_with.insert(peer, Instant::now());
            let job = CatchUp {
                client: self.client.clone(),
                peer,
                from,
                settle: self.slot / 2,
                me: self.me.clone(),
                store: self.store.clone(),
                verifiers: self.verifiers.clone(),
                permits: self.permits.clone(),
            };
            self.tracker.spawn(fetch::by_range(job, self.checked_tx.clone()));
        }
        self.to_catch_up.retain(|_, (at, _)| at.elapsed() < CATCH_UP_EVERY);
    }
}
