//! The swarm's one owner (specs/p2p.md §1): an event loop task holding the
//! libp2p swarm, and a cloneable `Client` that sends it commands over a
//! bounded channel, replies on oneshots. Inbound gossip reaches the node over
//! a bounded channel after the rate limit; the node validates each message
//! and reports accept / ignore / reject back through the client.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId};
use libp2p::identity::Keypair;
use libp2p::request_response::ResponseChannel;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, identify, kad, mdns, ping,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::codec::{ProofCodec, ProofRequest, ProofResponse, by_range_protocol, by_root_protocol};
use crate::error::P2pError;
use crate::inbound::Inbound;
use crate::ratelimit::{RateLimiter, Verdict};
use crate::scoring;
use crate::topics::{ALL, MAX_GOSSIP_FRAME_BYTES, MAX_GOSSIP_MESSAGE_BYTES, Topic};

const COMMANDS: usize = 256;
/// Below this many connections the node dials peers its DHT knows.
const TARGET_PEERS: usize = 8;
const BOOTSTRAP_EVERY: Duration = Duration::from_secs(30);
const INBOUND: usize = 1024;

#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Topic and protocol names are per network id.
    pub network: String,
    pub listen: Vec<Multiaddr>,
    pub bootnodes: Vec<Multiaddr>,
    pub mdns: bool,
    /// Gossipsub heartbeat (mesh upkeep).
    pub gossip_heartbeat: Duration,
    /// Dial peers' private addresses too. Also on when the node's own listen
    /// or bootnode addresses are private (`transport::private_network`).
    pub allow_private: bool,
}

impl NetworkConfig {
    pub fn new(network: impl Into<String>) -> Self {
        NetworkConfig {
            network: network.into(),
            listen: vec![],
            bootnodes: vec![],
            mdns: false,
            gossip_heartbeat: Duration::from_millis(500),
            allow_private: false,
        }
    }
}

/// Serves request-response from the node's store.
pub trait ProofSource: Send + Sync + 'static {
    /// Encoded `SignedProof`s for (block hash, zkVM), at most `max_bytes` in all.
    fn by_root(&self, hash: &[u8; 32], zkvm: &str, max_bytes: usize) -> Vec<Vec<u8>>;
    /// Encoded `SignedProof`s for blocks `start..start + count`, in number order, at most `max_bytes` in all.
    fn by_range(&self, start: u64, count: u64, zkvms: &[String], max_bytes: usize) -> Vec<Vec<u8>>;
}

#[derive(Debug)]
pub struct GossipMessage {
    pub topic: Topic,
    /// The peer that forwarded it to us (the one penalised on reject).
    pub from: PeerId,
    /// The signed author.
    pub source: Option<PeerId>,
    pub id: MessageId,
    pub data: Vec<u8>,
}

#[derive(Debug)]
pub enum NetEvent {
    Gossip(GossipMessage),
    Connected(PeerId),
    Disconnected(PeerId),
    Listening(Multiaddr),
}

#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub peer: PeerId,
    pub score: f64,
}

enum Command {
    Publish { topic: Topic, data: Vec<u8>, reply: oneshot::Sender<Result<(), P2pError>> },
    Report { id: MessageId, from: PeerId, acceptance: MessageAcceptance },
    Fetch { peer: PeerId, request: ProofRequest, reply: oneshot::Sender<Result<ProofResponse, P2pError>> },
    Peers { reply: oneshot::Sender<Vec<PeerInfo>> },
}

/// The node's handle on the network.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    pub local: PeerId,
}

impl Client {
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), P2pError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Publish { topic, data, reply }).await.map_err(|_| P2pError::Stopped)?;
        rx.await.map_err(|_| P2pError::Stopped)?
    }

    /// The verdict on a gossip message; forwarded only on accept.
    pub async fn report(&self, id: MessageId, from: PeerId, acceptance: MessageAcceptance) {
        let _ = self.tx.send(Command::Report { id, from, acceptance }).await;
    }

    pub async fn fetch(&self, peer: PeerId, request: ProofRequest) -> Result<ProofResponse, P2pError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Fetch { peer, request, reply }).await.map_err(|_| P2pError::Stopped)?;
        rx.await.map_err(|_| P2pError::Stopped)?
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Peers { reply }).await.is_err() {
            return vec![];
        }
        rx.await.unwrap_or_default()
    }
}

/// Connections held at most (specs/p2p.md §6).
const MAX_INCOMING: u32 = 64;
const MAX_PENDING_INCOMING: u32 = 16;
const MAX_PER_PEER: u32 = 2;
/// Request-response streams open at once per connection.
const MAX_STREAMS: usize = 8;

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    // One behaviour per protocol: a behaviour offers all its protocols for
    // every request, so a by-range request could land on by-root.
    by_root: request_response::Behaviour<ProofCodec>,
    by_range: request_response::Behaviour<ProofCodec>,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Gossipsub with manual validation and peer scoring (specs/p2p.md §3, §5):
/// each message is held to its topic's cap, the RPC frame to gossipsub's
/// default so control traffic (IHAVE / IWANT lists) grows with the network.
fn build_gossipsub(key: &Keypair, cfg: &NetworkConfig) -> Result<gossipsub::Behaviour, P2pError> {
    let mut builder = gossipsub::ConfigBuilder::default();
    builder
        .heartbeat_interval(cfg.gossip_heartbeat)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_FRAME_BYTES);
    for t in ALL {
        builder.max_transmit_size_for_topic(MAX_GOSSIP_MESSAGE_BYTES, IdentTopic::new(t.full(&cfg.network)).hash());
    }
    let gossip_cfg = builder.build().map_err(|e| P2pError::setup("gossipsub config", e))?;
    let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gossip_cfg)
        .map_err(|e| P2pError::setup("gossipsub", e))?;
    gossipsub
        .with_peer_score(scoring::params(&cfg.network), scoring::thresholds())
        .map_err(|e| P2pError::setup("gossipsub peer scoring", e))?;
    for t in ALL {
        gossipsub
            .subscribe(&IdentTopic::new(t.full(&cfg.network)))
            .map_err(|e| P2pError::setup("gossipsub subscription", e))?;
    }
    Ok(gossipsub)
}

fn build_behaviour(key: &Keypair, cfg: &NetworkConfig) -> Result<Behaviour, P2pError> {
    let me = key.public().to_peer_id();
    let gossipsub = build_gossipsub(key, cfg)?;
    let kad_protocol = StreamProtocol::try_from_owned(format!("/slotproof/{}/kad/1", cfg.network))
        .map_err(|e| P2pError::setup("kademlia protocol name", e))?;
    let mut kad = kad::Behaviour::with_config(me, kad::store::MemoryStore::new(me), kad::Config::new(kad_protocol));
    // Every node serves the DHT: test networks have no public addresses for auto mode to confirm.
    kad.set_mode(Some(kad::Mode::Server));
    let rr = |protocol| {
        request_response::Behaviour::with_codec(
            ProofCodec,
            [(protocol, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(10))
                .with_max_concurrent_streams(MAX_STREAMS),
        )
    };
    let mdns = if cfg.mdns {
        Some(mdns::tokio::Behaviour::new(mdns::Config::default(), me).map_err(|e| P2pError::setup("mdns", e))?)
    } else {
        None
    };
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established_incoming(Some(MAX_INCOMING))
        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
        .with_max_established_per_peer(Some(MAX_PER_PEER));
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(limits),
        blocked: Default::default(),
        gossipsub,
        identify: identify::Behaviour::new(identify::Config::new(
            format!("/slotproof/{}/1", cfg.network),
            key.public(),
        )),
        ping: ping::Behaviour::default(),
        kad,
        by_root: rr(by_root_protocol(&cfg.network)),
        by_range: rr(by_range_protocol(&cfg.network)),
        mdns: mdns.into(),
    })
}

/// Starts the swarm on its own task. Listening failures are errors here, not later.
pub fn start(
    key: Keypair,
    cfg: NetworkConfig,
    source: Arc<dyn ProofSource>,
    shutdown: watch::Receiver<bool>,
) -> Result<(Client, mpsc::Receiver<NetEvent>), P2pError> {
    start_owned(key, cfg, source, shutdown).map(|(client, events, _task)| (client, events))
}

/// [`start`], also handing back the swarm's task, for a caller that awaits it on shutdown.
pub fn start_owned(
    key: Keypair,
    cfg: NetworkConfig,
    source: Arc<dyn ProofSource>,
    shutdown: watch::Receiver<bool>,
) -> Result<(Client, mpsc::Receiver<NetEvent>, tokio::task::JoinHandle<()>), P2pError> {
    let behaviour = build_behaviour(&key, &cfg)?;
    let allow_private = cfg.allow_private || crate::transport::private_network(&cfg.listen, &cfg.bootnodes);
    if allow_private {
        info!(target: "slotproof::p2p", "private network: peers' private addresses are dialled");
    }
    let transport = crate::transport::build(&key, allow_private)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_other_transport(|_| transport)
        .map_err(|e| P2pError::setup("transport", e))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| P2pError::setup("swarm", e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    for addr in &cfg.listen {
        swarm.listen_on(addr.clone()).map_err(|source| P2pError::Listen { addr: addr.clone(), source })?;
    }
    for addr in &cfg.bootnodes {
        if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() {
            swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            warn!(target: "slotproof::p2p", %addr, error = %e, "bootnode not dialled");
        }
    }
    let (tx, rx) = mpsc::channel(COMMANDS);
    let (events_tx, events) = mpsc::channel(INBOUND);
    let (served_tx, served_rx) = mpsc::unbounded_channel();
    let local = key.public().to_peer_id();
    let event_loop = EventLoop {
        swarm,
        network: cfg.network.clone(),
        bootnodes: cfg.bootnodes.clone(),
        commands: rx,
        events: events_tx,
        source,
        pending: HashMap::new(),
        limiter: RateLimiter::default(),
        inbound: Inbound::default(),
        served_tx,
        served_rx,
        allow_private,
        connected: HashSet::new(),
        blocked: HashSet::new(),
        last_bootstrap: None,
    };
    let task = tokio::spawn(event_loop.run(shutdown));
    Ok((Client { tx, local }, events, task))
}

/// An answer read off the swarm task, to send on its channel.
struct Served {
    range: bool,
    peer: PeerId,
    channel: ResponseChannel<ProofResponse>,
    response: ProofResponse,
    /// The bytes `Inbound::admit` allowed it, given back when it is sent.
    allowed: usize,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    network: String,
    bootnodes: Vec<Multiaddr>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    source: Arc<dyn ProofSource>,
    /// Outbound requests by (is by-range, id): ids are per behaviour.
    pending: HashMap<(bool, OutboundRequestId), oneshot::Sender<Result<ProofResponse, P2pError>>>,
    limiter: RateLimiter,
    /// Admission of inbound proof requests; answers come back on `served_rx`
    /// (at most `inbound::MAX_IN_FLIGHT` at once, so the channel is bounded by admission).
    inbound: Inbound,
    served_tx: mpsc::UnboundedSender<Served>,
    served_rx: mpsc::UnboundedReceiver<Served>,
    allow_private: bool,
    connected: HashSet<PeerId>,
    blocked: HashSet<PeerId>,
    last_bootstrap: Option<Instant>,
}

impl EventLoop {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut upkeep = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                command = self.commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                Some(served) = self.served_rx.recv() => self.on_served(served),
                _ = upkeep.tick() => self.upkeep(),
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        debug!(target: "slotproof::p2p", "network loop stopped");
    }

    /// Disconnects and blocks peers below the graylist; redials bootnodes when alone.
    fn upkeep(&mut self) {
        let low: Vec<(PeerId, f64)> = self
            .connected
            .iter()
            .filter_map(|p| self.swarm.behaviour().gossipsub.peer_score(p).map(|s| (*p, s)))
            .filter(|(_, s)| *s < scoring::GRAYLIST_THRESHOLD)
            .collect();
        for (peer, score) in low {
            warn!(target: "slotproof::p2p", %peer, score, "peer score below the graylist: disconnected and blocked");
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            self.blocked.insert(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let now = Instant::now();
        self.limiter.prune(now);
        self.inbound.prune(now);
        if self.connected.is_empty() {
            for addr in self.bootnodes.clone() {
                let _ = self.swarm.dial(addr);
            }
        }
        if !self.connected.is_empty() && self.last_bootstrap.is_none_or(|t| t.elapsed() >= BOOTSTRAP_EVERY) {
            self.bootstrap();
        }
        self.fill();
    }

    /// A DHT walk: finds the network's other nodes beyond the bootnodes.
    fn bootstrap(&mut self) {
        self.last_bootstrap = Some(Instant::now());
        let _ = self.swarm.behaviour_mut().kad.bootstrap();
    }

    /// Dials peers the DHT knows while under the target, so the mesh does
    /// not hang on the bootnodes alone.
    fn fill(&mut self) {
        let want = TARGET_PEERS.saturating_sub(self.connected.len());
        if want == 0 {
            return;
        }
        let me = *self.swarm.local_peer_id();
        let mut candidates = Vec::new();
        for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
            for e in bucket.iter() {
                let peer = *e.node.key.preimage();
                if peer != me && !self.connected.contains(&peer) && !self.blocked.contains(&peer) {
                    candidates.push((peer, e.node.value.iter().cloned().collect::<Vec<_>>()));
                }
            }
        }
        for (peer, addrs) in candidates.into_iter().take(want) {
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer).addresses(addrs).build();
            let _ = self.swarm.dial(opts);
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic.full(&self.network)), data)
                    .map(|_| ())
                    .map_err(|source| P2pError::Publish { topic, source });
                let _ = reply.send(result);
            }
            Command::Report { id, from, acceptance } => {
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&id, &from, acceptance);
            }
            Command::Fetch { peer, request, reply } => {
                let b = self.swarm.behaviour_mut();
                let key = match request {
                    ProofRequest::ByRoot(_) => (false, b.by_root.send_request(&peer, request)),
                    ProofRequest::ByRange(_) => (true, b.by_range.send_request(&peer, request)),
                };
                self.pending.insert(key, reply);
            }
            Command::Peers { reply } => {
                let g = &self.swarm.behaviour().gossipsub;
                let peers = self
                    .connected
                    .iter()
                    .map(|p| PeerInfo { peer: *p, score: g.peer_score(p).unwrap_or(0.0) })
                    .collect();
                let _ = reply.send(peers);
            }
        }
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.clone().with(libp2p::multiaddr::Protocol::P2p(*self.swarm.local_peer_id()));
                info!(target: "slotproof::p2p", addr = %full, "p2p listening");
                let _ = self.events.try_send(NetEvent::Listening(full));
            }
            SwarmEvent::ConnectionEstablished { peer_id, num_established, .. }
                if num_established.get() == 1 && self.connected.insert(peer_id) =>
            {
                info!(target: "slotproof::p2p", peer = %peer_id, peers = self.connected.len(), "peer connected");
                if self.last_bootstrap.is_none() {
                    self.bootstrap();
                }
                let _ = self.events.try_send(NetEvent::Connected(peer_id));
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } if self.connected.remove(&peer_id) => {
                info!(target: "slotproof::p2p", peer = %peer_id, peers = self.connected.len(), "peer disconnected");
                self.limiter.forget(&peer_id);
                let _ = self.events.try_send(NetEvent::Disconnected(peer_id));
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(target: "slotproof::p2p", peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                // What a peer says it listens on is its word: private or named
                // addresses are not kept unless this is a private network.
                for addr in info.listen_addrs.into_iter().take(8) {
                    if self.allow_private || crate::transport::is_global(&addr) {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                    if !self.connected.contains(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::ByRoot(event)) => self.on_proofs(false, event),
            SwarmEvent::Behaviour(BehaviourEvent::ByRange(event)) => self.on_proofs(true, event),
            _ => {}
        }
    }

    fn on_gossip(&mut self, from: PeerId, id: MessageId, message: gossipsub::Message) {
        let g = &mut self.swarm.behaviour_mut().gossipsub;
        let Some(topic) = Topic::parse(message.topic.as_str(), &self.network) else {
            g.report_message_validation_result(&id, &from, MessageAcceptance::Reject);
            return;
        };
        let author = message.source.unwrap_or(from);
        match self.limiter.check(author, topic, Instant::now()) {
            Verdict::Allowed => {}
            Verdict::Excess(n) => {
                // Excess is dropped; a sustained flood counts as invalid messages.
                let verdict = if n % scoring::RATE_EXCESS_BEFORE_PENALTY == 0 {
                    warn!(target: "slotproof::p2p", %author, peer = %from, %topic, "author over its rate limit: penalised");
                    MessageAcceptance::Reject
                } else {
                    MessageAcceptance::Ignore
                };
                g.report_message_validation_result(&id, &from, verdict);
                return;
            }
        }
        let msg = GossipMessage { topic, from, source: message.source, id: id.clone(), data: message.data };
        if self.events.try_send(NetEvent::Gossip(msg)).is_err() {
            // The node is behind: drop quietly (peers re-gossip), never block the swarm.
            g.report_message_validation_result(&id, &from, MessageAcceptance::Ignore);
        }
    }

    /// Admits an inbound request and reads its answer on a blocking thread, so
    /// a store read of megabytes never stalls the swarm; refused requests are
    /// dropped (the peer sees its request fail).
    fn on_request(
        &mut self,
        range: bool,
        peer: PeerId,
        request: ProofRequest,
        channel: ResponseChannel<ProofResponse>,
    ) {
        let allowed = match self.inbound.admit(peer, Instant::now()) {
            Ok(bytes) => bytes,
            Err(why) => {
                debug!(target: "slotproof::p2p", %peer, ?why, "proof request refused");
                return;
            }
        };
        let (source, tx) = (self.source.clone(), self.served_tx.clone());
        tokio::task::spawn_blocking(move || {
            let response = match &request {
                ProofRequest::ByRoot(r) => source.by_root(&r.hash.0, &String::from_utf8_lossy(&r.zkvm), allowed),
                ProofRequest::ByRange(r) => {
                    let zkvms: Vec<String> = r.zkvms.iter().map(|z| String::from_utf8_lossy(z).into_owned()).collect();
                    source.by_range(r.start, r.count, &zkvms, allowed)
                }
            };
            let _ = tx.send(Served { range, peer, channel, response, allowed });
        });
    }

    fn on_served(&mut self, s: Served) {
        self.inbound.done(&s.peer, s.allowed);
        debug!(target: "slotproof::p2p", peer = %s.peer, proofs = s.response.len(), "served a proof request");
        let b = self.swarm.behaviour_mut();
        let _ = if s.range {
            b.by_range.send_response(s.channel, s.response)
        } else {
            b.by_root.send_response(s.channel, s.response)
        };
    }

    fn on_proofs(&mut self, range: bool, event: request_response::Event<ProofRequest, ProofResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.on_request(range, peer, request, channel)
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(reply) = self.pending.remove(&(range, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let Some(reply) = self.pending.remove(&(range, request_id)) {
                    let _ = reply.send(Err(P2pError::Request { peer, source: error }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(target: "slotproof::p2p", %peer, %error, "inbound proof request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Fixed(Mutex<Vec<(u64, Vec<u8>)>>);

    impl ProofSource for Fixed {
        fn by_root(&self, _: &[u8; 32], _: &str, _: usize) -> Vec<Vec<u8>> {
            self.0.lock().unwrap().iter().map(|(_, b)| b.clone()).take(1).collect()
        }
        fn by_range(&self, start: u64, count: u64, _: &[String], _: usize) -> Vec<Vec<u8>> {
            let all = self.0.lock().unwrap();
            all.iter().filter(|(n, _)| (start..start + count).contains(n)).map(|(_, b)| b.clone()).collect()
        }
    }

    /// Two swarms on loopback: gossip goes through validation, proofs come back by root and by range.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gossip_and_proof_requests_between_two_swarms() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (a_key, b_key) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let a_id = a_key.public().to_peer_id();
        let mut a_cfg = NetworkConfig::new("unit");
        a_cfg.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
        let mut b_cfg = NetworkConfig::new("unit");
        b_cfg.bootnodes = vec![format!("/ip4/127.0.0.1/tcp/{port}/p2p/{a_id}").parse().unwrap()];
        let served = vec![(10u64, vec![1u8; 300_000]), (11, vec![2u8; 10]), (500, vec![3u8; 10])];
        let (_stop_tx, stop) = watch::channel(false);
        let (a, _a_events) = start(a_key, a_cfg, Arc::new(Fixed(Mutex::new(served))), stop.clone()).unwrap();
        let (b, mut b_events) = start(b_key, b_cfg, Arc::new(Fixed(Mutex::new(vec![]))), stop).unwrap();
        // Connected, and the mesh formed: a publish from A reaches B, which must validate it.
        let until = Instant::now() + Duration::from_secs(20);
        let got = loop {
            assert!(Instant::now() < until, "no gossip arrived");
            let _ = a.publish(Topic::Task, b"hello".to_vec()).await;
            match tokio::time::timeout(Duration::from_millis(300), b_events.recv()).await {
                Ok(Some(NetEvent::Gossip(m))) => break m,
                _ => continue,
            }
        };
        assert_eq!((got.topic, got.data.as_slice(), got.source), (Topic::Task, &b"hello"[..], Some(a_id)));
        b.report(got.id, got.from, MessageAcceptance::Accept).await;
        let range = crate::wire::ProofsByRangeRequest { start: 10, count: 5, zkvms: Default::default() };
        let chunks = b.fetch(a_id, ProofRequest::ByRange(range)).await.unwrap();
        assert_eq!(chunks.len(), 2, "blocks 10 and 11, not 500");
        assert_eq!(chunks[0].len(), 300_000);
        let root =
            crate::wire::ProofsByRootRequest { hash: Default::default(), zkvm: crate::wire::name("stark").unwrap() };
        assert_eq!(b.fetch(a_id, ProofRequest::ByRoot(root)).await.unwrap().len(), 1);
        assert!(b.peers().await.iter().any(|p| p.peer == a_id));
    }
}
