//! The node's TOML config (`slotproof config init` writes a commented one).
//! Every key is optional; flags and `SLOTPROOF_*` variables override it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use slotproof_p2p::Multiaddr;
use slotproof_primitives::DurationError;
use slotproof_primitives::duration::parse_duration;
use slotproof_zkvm::registry::{RegistryError, ZkvmEntry, parse_entries};

/// What a config file may set, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub rpc_url: Option<String>,
    pub slot_time: Option<String>,
    pub http_listen: Option<String>,
    /// The EIP-8025 proof-engine API (specs/proof-engine.md §2); absent: off.
    pub proof_engine_listen: Option<String>,
    /// A beacon node's REST API, for Electra blocks' execution requests.
    pub beacon_url: Option<String>,
    pub max_catchup: Option<u64>,
    pub max_reorg_depth: Option<u64>,
    pub poll_interval: Option<String>,
    pub shutdown_grace: Option<String>,
    pub genesis_time: Option<u64>,
    pub sim_time_scale: Option<f64>,
    pub sim_seed: Option<u64>,
    /// Read by the zkVM registry (specs/provers.md §7).
    #[serde(rename = "zkvm")]
    pub zkvms: Vec<toml::Value>,
    pub ethproofs: Option<EthproofsFile>,
    pub p2p: Option<P2pFile>,
    pub queue: Option<QueueFile>,
    pub results: Option<ResultsFile>,
}

/// `[queue]` (specs/queue.md §13, §15).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueFile {
    /// How long a done task id is remembered: the dedupe window.
    pub done_retention: Option<String>,
    /// `rocksdb` (the default: embedded, in the data dir) or `nats`.
    pub backend: Option<String>,
    /// The NATS server(s), `nats://host:4222` (comma-separated for several).
    pub url: Option<String>,
    /// Names the JetStream stream, subjects and object bucket.
    pub prefix: Option<String>,
    pub replicas: Option<usize>,
    /// Whether this node's own zkVM slots prove (true), or only remote workers (false).
    pub local_provers: Option<bool>,
    pub creds_file: Option<PathBuf>,
    pub nkey_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// Where the node's queue lives.
#[derive(Clone, Debug, Default)]
pub enum QueueBackend {
    /// Embedded RocksDB under the data dir.
    #[default]
    RocksDb,
    /// A NATS JetStream server (specs/queue.md §15); remote workers can join.
    Nats { url: String, prefix: String, replicas: usize, auth: slotproof_queue::AuthSources },
}

impl QueueBackend {
    /// The NATS target, credentials resolved (files, else `SLOTPROOF_NATS_*`).
    pub fn nats_target(&self) -> Result<Option<slotproof_queue::NatsTarget>, slotproof_queue::QueueError> {
        let QueueBackend::Nats { url, prefix, replicas, auth } = self else { return Ok(None) };
        let mut t = slotproof_queue::NatsTarget::new(url.clone()).with_prefix(prefix.clone());
        t.replicas = *replicas;
        t.auth = auth.resolve(&|k| std::env::var(k).ok())?;
        Ok(Some(t))
    }
}

/// `[results]` (specs/chain.md §5).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultsFile {
    /// Block records kept below the newest; 0 keeps every record.
    pub keep_blocks: Option<u64>,
}

/// `[p2p]` (specs/p2p.md §1): present (or any network flag) turns the network on.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pFile {
    pub network: Option<String>,
    pub listen: Vec<String>,
    pub bootnodes: Vec<String>,
    pub mdns: bool,
    pub k: Option<usize>,
    pub replicas: Option<usize>,
    /// Node ids with standing from the start (specs/p2p.md §4).
    pub provers: Vec<String>,
    /// Dial peers' private addresses (specs/p2p.md §6).
    pub allow_private_addrs: bool,
    /// Fewer connected peers than this raises the `SlotproofFewPeers` alert (default 1).
    pub min_peers: Option<usize>,
}

/// `[ethproofs]` (specs/submission.md §5).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EthproofsFile {
    /// Base URL including `/api/v0`.
    pub url: Option<String>,
    /// First line is the bearer token (else `SLOTPROOF_ETHPROOFS_TOKEN`).
    pub token_file: Option<PathBuf>,
    /// Submit simulated zkVMs' proofs too (never by default).
    pub submit_simulated: bool,
    /// zkVM name → an existing cluster id; others are created at start.
    pub clusters: std::collections::BTreeMap<String, u64>,
    /// zkVM name → Ethproofs zkVM version id (the real service requires the right one).
    pub zkvm_version_ids: std::collections::BTreeMap<String, u64>,
}

/// `[p2p]` after overrides (specs/p2p.md §1).
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
    /// The network's configured prover set: standing from the start (specs/p2p.md §4).
    pub provers: std::collections::BTreeSet<String>,
    /// Dial peers' private addresses; also on when a listen or bootnode address is private.
    pub allow_private: bool,
    /// The fewest peers the operator wants connected (for the `p2p_peers_wanted` metric and its alert).
    pub min_peers: usize,
}

impl NetSettings {
    /// The configured prover set, each a node id (specs/p2p.md §3 names rule).
    pub fn with_provers(mut self, provers: &[String]) -> Result<NetSettings, NetSettingsError> {
        for p in provers {
            slotproof_primitives::names::check_node_id(p)
                .map_err(|source| NetSettingsError::Prover { id: p.clone(), source })?;
        }
        self.provers = provers.iter().cloned().collect();
        Ok(self)
    }

    pub fn with_min_peers(mut self, min_peers: Option<usize>) -> NetSettings {
        self.min_peers = min_peers.unwrap_or(self.min_peers);
        self
    }

    pub fn allow_private(mut self, allow: bool) -> NetSettings {
        self.allow_private = allow;
        self
    }
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
            provers: Default::default(),
            allow_private: false,
            min_peers: 1,
        }
    }
}

/// Submission settings after overrides.
#[derive(Clone, Debug, Default)]
pub struct EthproofsConfig {
    pub url: String,
    pub token_file: Option<PathBuf>,
    pub submit_simulated: bool,
    pub clusters: std::collections::BTreeMap<String, u64>,
    pub zkvm_version_ids: std::collections::BTreeMap<String, u64>,
}

/// The settings a node runs with, after defaults and overrides.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    /// None: the embedded dev chain.
    pub rpc_url: Option<String>,
    pub slot_time: Duration,
    /// None: no HTTP listener.
    pub http_listen: Option<SocketAddr>,
    /// None: no proof-engine API (the default).
    pub proof_engine_listen: Option<SocketAddr>,
    /// A beacon node (REST API) giving Electra blocks' execution requests.
    pub beacon_url: Option<String>,
    pub max_catchup: u64,
    pub max_reorg_depth: u64,
    pub poll_interval: Duration,
    pub shutdown_grace: Duration,
    pub genesis_time: u64,
    /// None: slot_time / 12 s.
    pub sim_time_scale: Option<f64>,
    pub sim_seed: u64,
    pub zkvms: Vec<ZkvmEntry>,
    pub exit_after_blocks: Option<u64>,
    pub summary_json: Option<PathBuf>,
    /// None, or an empty URL: proofs are not submitted anywhere.
    pub ethproofs: Option<EthproofsConfig>,
    /// None: the node proves alone, with no network.
    pub p2p: Option<NetSettings>,
    /// `[queue] done_retention`: the queue's dedupe window.
    pub done_retention: Duration,
    /// `[queue] backend` and its settings.
    pub queue_backend: QueueBackend,
    /// `[queue] local_provers`: false leaves all proving to remote workers.
    pub local_provers: bool,
    /// `[results] keep_blocks`: records (and what hangs off them) kept below the newest; 0 keeps all.
    pub keep_blocks: u64,
}

/// A week of 12 s slots: block records older than this are pruned by default.
pub const DEFAULT_KEEP_BLOCKS: u64 = 50_400;

pub const DEFAULT_HTTP: &str = "127.0.0.1:9650";

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: PathBuf::from("slotproof-data"),
            rpc_url: None,
            slot_time: Duration::from_secs(12),
            http_listen: DEFAULT_HTTP.parse().ok(),
            proof_engine_listen: None,
            beacon_url: None,
            max_catchup: 32,
            max_reorg_depth: 64,
            poll_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
            genesis_time: slotproof_chain::slot::MAINNET_GENESIS_TIME,
            sim_time_scale: None,
            sim_seed: 0,
            zkvms: vec![],
            exit_after_blocks: None,
            summary_json: None,
            ethproofs: None,
            p2p: None,
            done_retention: Duration::from_millis(slotproof_queue::DEFAULT_DONE_RETENTION_MS),
            queue_backend: QueueBackend::RocksDb,
            local_provers: true,
            keep_blocks: DEFAULT_KEEP_BLOCKS,
        }
    }
}

/// Why `[p2p]` values (or the same values from flags) were refused.
#[derive(Debug, thiserror::Error)]
pub enum NetSettingsError {
    #[error("network {0:?}: use letters, digits, - and _")]
    Network(String),
    #[error("k and replicas must be at least 1")]
    Zero,
    #[error("prover {id:?} is not a node id")]
    Prover {
        id: String,
        #[source]
        source: slotproof_primitives::NameError,
    },
    #[error("{what} {addr:?} is not a multiaddr")]
    Addr {
        what: &'static str,
        addr: String,
        #[source]
        source: <Multiaddr as std::str::FromStr>::Err,
    },
}

/// Checks `[p2p]` values (and the same values from flags).
pub fn net_settings(
    network: Option<String>,
    listen: &[String],
    bootnodes: &[String],
    mdns: bool,
    k: Option<usize>,
    replicas: Option<usize>,
) -> Result<NetSettings, NetSettingsError> {
    let d = NetSettings::default();
    let addr = |what: &'static str, a: &String| {
        a.parse().map_err(|source| NetSettingsError::Addr { what, addr: a.clone(), source })
    };
    let network = network.unwrap_or(d.network);
    if network.is_empty() || !network.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(NetSettingsError::Network(network));
    }
    let k = k.unwrap_or(d.k);
    let replicas = replicas.unwrap_or(d.replicas);
    if k == 0 || replicas == 0 {
        return Err(NetSettingsError::Zero);
    }
    Ok(NetSettings {
        network,
        listen: listen.iter().map(|a| addr("listen", a)).collect::<Result<_, _>>()?,
        bootnodes: bootnodes.iter().map(|a| addr("bootnode", a)).collect::<Result<_, _>>()?,
        mdns,
        k,
        replicas,
        ..d
    })
}

/// A config file that cannot be used, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: not a valid node config")]
    Toml {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("config {path}: {key}")]
    Duration {
        path: PathBuf,
        key: &'static str,
        #[source]
        source: DurationError,
    },
    #[error("config {path}: http_listen: {value:?} is not host:port")]
    HttpListen {
        path: PathBuf,
        value: String,
        #[source]
        source: std::net::AddrParseError,
    },
    #[error("config {path}: sim_time_scale must be a positive number")]
    SimTimeScale { path: PathBuf },
    #[error("config {path}: [queue] {reason}")]
    Queue { path: PathBuf, reason: String },
    #[error("config {path}: [[zkvm]]")]
    Zkvm {
        path: PathBuf,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("config {path}: [p2p]")]
    P2p {
        path: PathBuf,
        #[source]
        source: NetSettingsError,
    },
}

/// A listen address: `host:port`, or a port alone (`3000`, `:3000`) on 127.0.0.1.
pub fn listen_addr(text: &str) -> Result<SocketAddr, std::net::AddrParseError> {
    let port = text.strip_prefix(':').unwrap_or(text);
    if port.parse::<u16>().is_ok() {
        return format!("127.0.0.1:{port}").parse();
    }
    text.parse()
}

fn duration(
    path: &Path,
    key: &'static str,
    value: &Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        Some(v) => parse_duration(v).map_err(|source| ConfigError::Duration { path: path.into(), key, source }),
        None => Ok(default),
    }
}

impl NodeConfig {
    /// The defaults with a config file applied.
    pub fn from_file(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let file: FileConfig =
            toml::from_str(&text).map_err(|e| ConfigError::Toml { path: path.into(), source: Box::new(e) })?;
        let d = NodeConfig::default();
        let http_listen = match file.http_listen.as_deref() {
            None => d.http_listen,
            Some("") | Some("off") => None,
            Some(a) => Some(a.parse().map_err(|source| ConfigError::HttpListen {
                path: path.into(),
                value: a.to_string(),
                source,
            })?),
        };
        if file.sim_time_scale.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
            return Err(ConfigError::SimTimeScale { path: path.into() });
        }
        Ok(NodeConfig {
            data_dir: file.data_dir.unwrap_or(d.data_dir),
            rpc_url: file.rpc_url.filter(|u| !u.is_empty()),
            slot_time: duration(path, "slot_time", &file.slot_time, d.slot_time)?,
            http_listen,
            proof_engine_listen: match file.proof_engine_listen.as_deref() {
                None | Some("") | Some("off") => None,
                Some(a) => Some(listen_addr(a).map_err(|source| ConfigError::HttpListen {
                    path: path.into(),
                    value: a.to_string(),
                    source,
                })?),
            },
            beacon_url: file.beacon_url.filter(|u| !u.is_empty()),
            max_catchup: file.max_catchup.unwrap_or(d.max_catchup),
            max_reorg_depth: file.max_reorg_depth.unwrap_or(d.max_reorg_depth),
            poll_interval: duration(path, "poll_interval", &file.poll_interval, d.poll_interval)?,
            shutdown_grace: duration(path, "shutdown_grace", &file.shutdown_grace, d.shutdown_grace)?,
            genesis_time: file.genesis_time.unwrap_or(d.genesis_time),
            sim_time_scale: file.sim_time_scale,
            sim_seed: file.sim_seed.unwrap_or(d.sim_seed),
            zkvms: parse_entries(&text).map_err(|e| ConfigError::Zkvm { path: path.into(), source: Box::new(e) })?,
            exit_after_blocks: None,
            summary_json: None,
            // Kept without a URL too: `--ethproofs-url` may supply it.
            p2p: match file.p2p {
                Some(p) => Some(
                    net_settings(p.network, &p.listen, &p.bootnodes, p.mdns, p.k, p.replicas)
                        .and_then(|n| n.with_provers(&p.provers))
                        .map_err(|source| ConfigError::P2p { path: path.into(), source })?
                        .allow_private(p.allow_private_addrs)
                        .with_min_peers(p.min_peers),
                ),
                None => None,
            },
            done_retention: duration(
                path,
                "done_retention",
                &file.queue.as_ref().and_then(|q| q.done_retention.clone()),
                d.done_retention,
            )?,
            queue_backend: queue_backend(path, file.queue.as_ref())?,
            local_provers: file.queue.as_ref().and_then(|q| q.local_provers).unwrap_or(d.local_provers),
            keep_blocks: file.results.and_then(|r| r.keep_blocks).unwrap_or(d.keep_blocks),
            ethproofs: file.ethproofs.map(|e| EthproofsConfig {
                url: e.url.unwrap_or_default(),
                token_file: e.token_file,
                submit_simulated: e.submit_simulated,
                clusters: e.clusters,
                zkvm_version_ids: e.zkvm_version_ids,
            }),
        })
    }

    /// Simulated zkVMs run at slot_time / 12 s unless told otherwise, so a 3 s
    /// slot behaves like a 12 s one.
    pub fn effective_sim_time_scale(&self) -> f64 {
        self.sim_time_scale.unwrap_or(self.slot_time.as_secs_f64() / 12.0)
    }
}

/// `[queue] backend` and the NATS settings that go with it.
fn queue_backend(path: &Path, q: Option<&QueueFile>) -> Result<QueueBackend, ConfigError> {
    let Some(q) = q else { return Ok(QueueBackend::RocksDb) };
    let bad = |reason: String| ConfigError::Queue { path: path.into(), reason };
    match q.backend.as_deref().unwrap_or("rocksdb") {
        "rocksdb" => Ok(QueueBackend::RocksDb),
        "nats" => Ok(QueueBackend::Nats {
            url: q.url.clone().filter(|u| !u.is_empty()).ok_or_else(|| bad("backend = \"nats\" needs url".into()))?,
            prefix: q.prefix.clone().unwrap_or_else(|| slotproof_queue::nats::DEFAULT_PREFIX.into()),
            replicas: q.replicas.unwrap_or(1),
            auth: slotproof_queue::AuthSources {
                creds_file: q.creds_file.clone(),
                nkey_file: q.nkey_file.clone(),
                token_file: q.token_file.clone(),
                user: q.user.clone(),
                password_file: q.password_file.clone(),
            },
        }),
        other => Err(bad(format!("backend {other:?}: expected rocksdb or nats"))),
    }
}

/// `slotproof config init`: every key with its default, commented.
pub const DEFAULT_CONFIG_TOML: &str = r#"# slotproof node configuration. Every key is optional; the values shown are
# the defaults. Flags and SLOTPROOF_* environment variables override them.

# Where the queue, results, proving inputs and the dev chain position live.
# data_dir = "slotproof-data"

# Execution RPC (http(s):// or ws(s)://; WebSocket gets newHeads pushed).
# Empty: the embedded dev chain, replaying the real mainnet blocks in testdata/.
# rpc_url = ""

# Slot length: the proving deadline of every block. Shorter for tests.
# slot_time = "12s"

# HTTP listener for /health, /status and /metrics ("off" to disable).
# http_listen = "127.0.0.1:9650"

# EIP-8025 proof-engine API, zkboost-compatible, for consensus clients
# (specs/proof-engine.md). Off unless set; a port alone listens on 127.0.0.1.
# proof_engine_listen = "127.0.0.1:3000"

# Beacon node REST API: Electra blocks' execution requests, without which
# their NewPayloadRequest root cannot be built (unless they have none).
# beacon_url = ""

# Blocks fetched behind a new head at most (older ones are recorded as a gap),
# and the deepest reorg followed.
# max_catchup = 32
# max_reorg_depth = 64
# poll_interval = "500ms"

# On SIGINT/SIGTERM: how long running proofs may finish.
# shutdown_grace = "10s"

# Beacon genesis (unix seconds) for slot numbers on a real chain (mainnet's).
# genesis_time = 1606824023

# Simulated zkVM timing: default slot_time / 12s.
# sim_time_scale = 1.0
# sim_seed = 0

# Submission to an Ethproofs-style API (specs/submission.md). Token from
# SLOTPROOF_ETHPROOFS_TOKEN or token_file; never logged.
# [ethproofs]
# url = "https://ethproofs.org/api/v0"
# token_file = "/etc/slotproof/ethproofs.token"
# submit_simulated = false
# clusters = { stark = 3 }            # existing cluster ids; others are created once
# zkvm_version_ids = { stark = 1 }    # Ethproofs zkVM version ids (default 1)

# The proving network (specs/p2p.md). Without [p2p] (and without a network
# flag such as --p2p-listen or --bootnode) the node proves alone. The node
# key is <data_dir>/node.key.
# [p2p]
# network = "devnet"                       # topic and protocol names
# listen = ["/ip4/0.0.0.0/tcp/9000"]
# bootnodes = ["/ip4/192.0.2.1/tcp/9000/p2p/12D3KooW..."]
# mdns = false
# k = 2                                    # distinct zkVMs wanted per block
# replicas = 1                             # provers per wanted zkVM
# min_peers = 1                            # fewer connected peers raises an alert

# Retention. The queue remembers a done task id this long: within it a task
# decided again (after a crash, a restart) is dropped as a duplicate; after it
# the same task could run again (specs/queue.md §13).
# [queue]
# done_retention = "1440m"
#
# The queue's backend: "rocksdb" (embedded in data_dir) or "nats", a NATS
# JetStream server that remote workers (`slotproof worker`) lease from too
# (specs/queue.md §15, specs/workers.md). Credentials come from one of the
# files below, else SLOTPROOF_NATS_CREDS / _NKEY / _TOKEN / _USER + _PASSWORD;
# they are never logged. local_provers = false leaves proving to workers.
# backend = "rocksdb"
# url = "nats://127.0.0.1:4222"
# prefix = "slotproof"
# replicas = 1
# local_provers = true
# creds_file = "/etc/slotproof/nats.creds"
#
# Block records (and their proving inputs, signed proofs and proof files)
# kept below the newest block; 0 keeps everything (specs/chain.md §5).
# [results]
# keep_blocks = 50400

# zkVMs (specs/provers.md §7). Without any [[zkvm]] the node runs the built-in
# STARK prover and two simulated real-time zkVMs:
#
# [[zkvm]]
# name = "stark"
#
# [[zkvm]]
# name = "sim:sp1-hypercube"
#
# [[zkvm]]
# name = "sim:pico-prism"
#
# An installed zkVM behind the external-process adapter:
#
# [[zkvm]]
# name = "sp1"
# command = ["/opt/sp1/prove.sh", "{input}", "{output}", "{gpu}"]
# verify_command = ["/opt/sp1/verify.sh", "{input}", "{proof}", "{public_values}"]
# gpu = true
# timeout = "120s"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_default_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.toml");
        std::fs::write(&p, DEFAULT_CONFIG_TOML).unwrap();
        let c = NodeConfig::from_file(&p).unwrap();
        let d = NodeConfig::default();
        assert_eq!((c.slot_time, c.http_listen, c.max_catchup), (d.slot_time, d.http_listen, d.max_catchup));
        assert!(c.zkvms.is_empty() && c.rpc_url.is_none());
        assert_eq!((c.done_retention, c.keep_blocks), (d.done_retention, d.keep_blocks));
    }

    #[test]
    fn bad_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.toml");
        for (text, key) in [
            ("slot_time = \"soon\"\n", "slot_time"),
            ("http_listen = \"nowhere\"\n", "http_listen"),
            ("slot_tmie = \"2s\"\n", "slot_tmie"),
            ("sim_time_scale = -1.0\n", "sim_time_scale"),
            ("[[zkvm]]\nname = \"x\"\nbogus = 1\n", "bogus"),
            ("[p2p]\nlisten = [\"tcp/9000\"]\n", "listen"),
            ("[p2p]\nk = 0\n", "k and replicas"),
            ("[p2p]\nnetwork = \"a b\"\n", "network"),
            ("[queue]\ndone_retention = \"a while\"\n", "done_retention"),
            ("[results]\nkeep_blocks = -1\n", "keep_blocks"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = NodeConfig::from_file(&p).unwrap_err();
            let chain = slotproof_primitives::ErrorChain(&e).to_string();
            assert!(chain.contains(key), "{text:?}: {chain}");
        }
    }
}
