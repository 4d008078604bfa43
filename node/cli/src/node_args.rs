//! `slotproof node`'s flags, one group per concern (chain, zkVMs, network,
//! submission, HTTP, simulation, run control), and how they lay over the
//! config file into a `NodeConfig`.
//!
//! Defaults come from `NodeConfig::default()` and `NetSettings::default()`,
//! so `--help` shows the values the node really uses. A flag given on the
//! command line or through its `SLOTPROOF_*` variable wins over the config
//! file; a default clap filled in does not. Never runs the node.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command, FromArgMatches};
use slotproof_orchestrator::NodeConfig;
use slotproof_orchestrator::config::DEFAULT_HTTP;
use slotproof_orchestrator::config::NetSettings;
use slotproof_zkvm::registry::ZkvmEntry;

use crate::duration_arg::DurationArg;

/// The node's flags together with where clap found each value.
#[derive(Debug)]
pub struct NodeArgs {
    flags: NodeFlags,
    /// Kept to ask, flag by flag, whether the user set it or clap defaulted it.
    matches: ArgMatches,
}

impl FromArgMatches for NodeArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(NodeArgs { flags: NodeFlags::from_arg_matches(matches)?, matches: matches.clone() })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.flags.update_from_arg_matches(matches)?;
        self.matches = matches.clone();
        Ok(())
    }
}

impl Args for NodeArgs {
    fn augment_args(cmd: Command) -> Command {
        NodeFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        NodeFlags::augment_args_for_update(cmd)
    }
}

/// Which flags the user set, on the command line or through the environment.
#[derive(Clone, Copy)]
struct Given<'a>(&'a ArgMatches);

impl Given<'_> {
    /// `id` is the flag's field name. clap panics in debug builds on an id it
    /// does not know, so the tests that run `config()` catch a misspelt one.
    fn has(self, id: &str) -> bool {
        matches!(self.0.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
    }
}

#[derive(Args, Debug)]
struct NodeFlags {
    /// TOML config (`slotproof config init` writes a commented one); flags given win over it.
    #[arg(long, env = "SLOTPROOF_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the queue, the block records, the inputs and the node key live.
    #[arg(long, env = "SLOTPROOF_DATA_DIR", value_name = "DIR", default_value_os_t = NodeConfig::default().data_dir)]
    data_dir: PathBuf,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    queue: QueueBackendArgs,
    #[command(flatten)]
    zkvms: ZkvmArgs,
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    submission: SubmissionArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    sim: SimulationArgs,
    #[command(flatten)]
    run: RunArgs,
}

// Plain comments on the groups below: a doc comment on a flattened struct
// would become the `node` command's own description.

// Where the queue lives, and whether this node's own slots prove.
#[derive(Args, Debug)]
#[command(next_help_heading = "Queue")]
struct QueueBackendArgs {
    /// The queue's backend: `rocksdb` (embedded in the data dir, the default) or a NATS
    /// JetStream server `nats://HOST:4222` that remote workers lease from too.
    /// Credentials: [queue] in the config, or SLOTPROOF_NATS_CREDS/_NKEY/_TOKEN/_USER+_PASSWORD.
    #[arg(long = "queue", env = "SLOTPROOF_QUEUE", value_name = "rocksdb|nats://HOST:PORT")]
    queue_url: Option<String>,
    /// Names the NATS stream, subjects and object bucket (several nodes can share a server).
    #[arg(long, env = "SLOTPROOF_QUEUE_PREFIX", value_name = "PREFIX")]
    queue_prefix: Option<String>,
    /// Leave all proving to remote workers (`slotproof worker`); needs the NATS backend.
    #[arg(long)]
    no_local_provers: bool,
}

impl QueueBackendArgs {
    fn apply(&self, c: &mut NodeConfig) -> anyhow::Result<()> {
        use slotproof_orchestrator::config::QueueBackend;
        match self.queue_url.as_deref() {
            None => {}
            Some("rocksdb") => c.queue_backend = QueueBackend::RocksDb,
            Some(url) if slotproof_queue::nats::is_nats_url(url) => {
                // Flags replace the URL; the file's other NATS settings stay.
                c.queue_backend = match std::mem::take(&mut c.queue_backend) {
                    QueueBackend::Nats { prefix, replicas, auth, .. } => {
                        QueueBackend::Nats { url: url.to_string(), prefix, replicas, auth }
                    }
                    QueueBackend::RocksDb => QueueBackend::Nats {
                        url: url.to_string(),
                        prefix: slotproof_queue::nats::DEFAULT_PREFIX.into(),
                        replicas: 1,
                        auth: Default::default(),
                    },
                };
            }
            Some(other) => bail!("--queue {other:?}: expected rocksdb or nats://HOST:PORT"),
        }
        if let Some(p) = &self.queue_prefix {
            match &mut c.queue_backend {
                QueueBackend::Nats { prefix, .. } => *prefix = p.clone(),
                QueueBackend::RocksDb => bail!("--queue-prefix applies to the NATS backend only"),
            }
        }
        if self.no_local_provers {
            c.local_provers = false;
        }
        Ok(())
    }
}

// The chain followed and its slot clock.
#[derive(Args, Debug)]
#[command(next_help_heading = "Chain")]
struct ChainArgs {
    /// Execution RPC to follow: ws(s):// subscribes to new heads, http(s):// polls.
    /// Without it the node runs the embedded dev chain (real mainnet blocks at slot cadence).
    #[arg(long, env = "SLOTPROOF_RPC_URL", value_name = "URL")]
    rpc_url: Option<String>,
    /// Slot length, which is also the proving deadline, e.g. 12s, 2s, 500ms.
    #[arg(long, env = "SLOTPROOF_SLOT_TIME", value_name = "DURATION", default_value_t = NodeConfig::default().slot_time.into())]
    slot_time: DurationArg,
    /// Beacon node REST API (e.g. http://127.0.0.1:5052): Electra blocks' execution requests,
    /// needed for their NewPayloadRequest roots.
    #[arg(long, env = "SLOTPROOF_BEACON_URL", value_name = "URL")]
    beacon_url: Option<String>,
}

// Which provers run.
#[derive(Args, Debug)]
#[command(next_help_heading = "zkVMs")]
struct ZkvmArgs {
    /// Prove with this zkVM (repeat for several), each with its defaults; replaces the
    /// config's `[[zkvm]]` tables. Without either: the default set (`slotproof zkvms`).
    #[arg(long = "zkvm", value_name = "NAME")]
    zkvm: Vec<String>,
}

// The proving network (specs/p2p.md).
#[derive(Args, Debug)]
#[command(next_help_heading = "Network (any of these flags, or a [p2p] table, turns it on)")]
struct NetworkArgs {
    /// Listen for peers on this multiaddr (repeat), e.g. /ip4/0.0.0.0/tcp/9000.
    #[arg(long = "p2p-listen", env = "SLOTPROOF_P2P_LISTEN", value_name = "MULTIADDR", value_delimiter = ',')]
    listen: Vec<String>,
    /// A peer to join through (repeat), e.g. /ip4/10.0.0.1/tcp/9000/p2p/12D3KooW...
    #[arg(long = "bootnode", env = "SLOTPROOF_BOOTNODES", value_name = "MULTIADDR", value_delimiter = ',')]
    bootnodes: Vec<String>,
    /// Network id: names the topics and protocols, so separate networks ignore each other.
    #[arg(long, env = "SLOTPROOF_NETWORK", default_value_t = NetSettings::default().network)]
    network: String,
    /// Find peers on the local network by mDNS.
    #[arg(long)]
    mdns: bool,
    /// Distinct zkVMs wanted per block.
    #[arg(long, default_value_t = NetSettings::default().k)]
    k: usize,
    /// Provers per wanted zkVM.
    #[arg(long, default_value_t = NetSettings::default().replicas)]
    replicas: usize,
    /// A node id with standing from the start (repeat): a permissioned network's prover set.
    /// Others earn standing by delivering proofs this node verifies (specs/p2p.md §4).
    #[arg(long = "p2p-prover", env = "SLOTPROOF_P2P_PROVERS", value_name = "NODE_ID", value_delimiter = ',')]
    provers: Vec<String>,
    /// Dial peers' private addresses (10/8, 192.168/16, 127/8, ...). On by itself when a
    /// listen or bootnode address is private (a local testnet).
    #[arg(long = "p2p-allow-private")]
    allow_private: bool,
}

// Where proofs are submitted (specs/submission.md).
#[derive(Args, Debug)]
#[command(next_help_heading = "Submission")]
struct SubmissionArgs {
    /// Submit proofs to this Ethproofs-style API (base URL including /api/v0); the bearer
    /// token comes from SLOTPROOF_ETHPROOFS_TOKEN or --ethproofs-token-file.
    #[arg(long, env = "SLOTPROOF_ETHPROOFS_URL", value_name = "URL")]
    ethproofs_url: Option<String>,
    /// File whose first line is the Ethproofs bearer token.
    #[arg(long, env = "SLOTPROOF_ETHPROOFS_TOKEN_FILE", value_name = "FILE")]
    ethproofs_token_file: Option<PathBuf>,
    /// Submit simulated zkVMs' proofs too (labelled simulated; never by default).
    #[arg(long)]
    submit_simulated: bool,
}

// The node's own HTTP listener.
#[derive(Args, Debug)]
#[command(next_help_heading = "HTTP")]
struct HttpArgs {
    /// Listener for /health, /status and /metrics (host:port), or `off` for none.
    #[arg(long = "http", env = "SLOTPROOF_HTTP", value_name = "HOST:PORT|off", default_value = DEFAULT_HTTP)]
    http_listen: String,
    /// Serve the EIP-8025 proof-engine API (zkboost-compatible) for consensus clients here
    /// (host:port, or a port alone on 127.0.0.1). Off by default.
    #[arg(long, env = "SLOTPROOF_PROOF_ENGINE_LISTEN", value_name = "HOST:PORT|PORT")]
    proof_engine_listen: Option<String>,
}

// How simulated zkVMs behave.
#[derive(Args, Debug)]
#[command(next_help_heading = "Simulation")]
struct SimulationArgs {
    /// Multiplies simulated zkVMs' proving times. Without it: slot time / 12 s, so a
    /// 3 s slot behaves like a 12 s one.
    #[arg(long, env = "SLOTPROOF_SIM_TIME_SCALE", value_name = "FACTOR")]
    sim_time_scale: Option<f64>,
    /// Seed of simulated zkVMs' draws: the same seed gives the same times and failures.
    #[arg(long, env = "SLOTPROOF_SIM_SEED", default_value_t = NodeConfig::default().sim_seed)]
    sim_seed: u64,
}

// When the run ends and what it leaves behind.
#[derive(Args, Debug)]
#[command(next_help_heading = "Run control and output")]
struct RunArgs {
    /// Exit 0 after this many blocks closed in this run (their work drained).
    #[arg(long, value_name = "N")]
    exit_after_blocks: Option<u64>,
    /// At exit, write a JSON array to this file, one object per block of this run.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
}

impl NodeArgs {
    /// The config file (or the defaults) with the flags given laid over it.
    pub fn config(&self) -> anyhow::Result<NodeConfig> {
        let f = &self.flags;
        let given = Given(&self.matches);
        let mut c = match &f.config {
            Some(path) => NodeConfig::from_file(path)?,
            None => NodeConfig::default(),
        };
        if given.has("data_dir") {
            c.data_dir = f.data_dir.clone();
        }
        f.chain.apply(given, &mut c)?;
        f.queue.apply(&mut c)?;
        f.zkvms.apply(&mut c);
        f.network.apply(given, &mut c)?;
        f.submission.apply(&mut c);
        f.http.apply(given, &mut c)?;
        f.sim.apply(given, &mut c)?;
        c.exit_after_blocks = f.run.exit_after_blocks;
        c.summary_json = f.run.summary_json.clone();
        Ok(c)
    }
}

impl ChainArgs {
    fn apply(&self, given: Given<'_>, c: &mut NodeConfig) -> anyhow::Result<()> {
        if let Some(u) = &self.rpc_url {
            // An empty URL given on purpose means the dev chain, whatever the file says.
            c.rpc_url = Some(u.clone()).filter(|u| !u.is_empty());
        }
        if let Some(u) = &self.beacon_url {
            c.beacon_url = Some(u.clone()).filter(|u| !u.is_empty());
        }
        if given.has("slot_time") {
            if self.slot_time.0.is_zero() {
                bail!("--slot-time must be more than zero");
            }
            c.slot_time = self.slot_time.0;
        }
        Ok(())
    }
}

impl ZkvmArgs {
    fn apply(&self, c: &mut NodeConfig) {
        if !self.zkvm.is_empty() {
            c.zkvms = self.zkvm.iter().map(|name| ZkvmEntry { name: name.clone(), ..ZkvmEntry::default() }).collect();
        }
    }
}

impl NetworkArgs {
    fn any(&self, given: Given<'_>) -> bool {
        !self.listen.is_empty()
            || !self.bootnodes.is_empty()
            || given.has("network")
            || self.mdns
            || given.has("k")
            || given.has("replicas")
            || !self.provers.is_empty()
            || self.allow_private
    }

    /// Flags over the config's `[p2p]`; a flag not given keeps the file's value.
    fn apply(&self, given: Given<'_>, c: &mut NodeConfig) -> anyhow::Result<()> {
        if !self.any(given) {
            return Ok(());
        }
        let base = c.p2p.clone().unwrap_or_default();
        let listen: Vec<String> = if self.listen.is_empty() {
            base.listen.iter().map(|a| a.to_string()).collect()
        } else {
            self.listen.clone()
        };
        let bootnodes: Vec<String> = if self.bootnodes.is_empty() {
            base.bootnodes.iter().map(|a| a.to_string()).collect()
        } else {
            self.bootnodes.clone()
        };
        let pick = |id: &str, flag: usize, file: usize| if given.has(id) { flag } else { file };
        let network = if given.has("network") { self.network.clone() } else { base.network };
        let settings = slotproof_orchestrator::config::net_settings(
            Some(network),
            &listen,
            &bootnodes,
            self.mdns || base.mdns,
            Some(pick("k", self.k, base.k)),
            Some(pick("replicas", self.replicas, base.replicas)),
        )
        .map_err(|e| anyhow::Error::new(e).context("p2p"))?;
        let provers =
            if self.provers.is_empty() { base.provers.iter().cloned().collect() } else { self.provers.clone() };
        let settings = settings
            .with_provers(&provers)
            .map_err(|e| anyhow::Error::new(e).context("p2p"))?
            .allow_private(self.allow_private || base.allow_private);
        c.p2p = Some(settings);
        Ok(())
    }
}

impl SubmissionArgs {
    fn apply(&self, c: &mut NodeConfig) {
        if let Some(url) = self.ethproofs_url.as_ref().filter(|u| !u.is_empty()) {
            let e = c.ethproofs.get_or_insert_with(Default::default);
            e.url = url.clone();
        }
        if let Some(e) = c.ethproofs.as_mut() {
            if let Some(f) = &self.ethproofs_token_file {
                e.token_file = Some(f.clone());
            }
            e.submit_simulated |= self.submit_simulated;
        }
    }
}

impl HttpArgs {
    fn apply(&self, given: Given<'_>, c: &mut NodeConfig) -> anyhow::Result<()> {
        if given.has("http_listen") {
            c.http_listen = match self.http_listen.as_str() {
                "off" | "" => None,
                a => Some(a.parse().with_context(|| format!("--http {a:?} is not host:port"))?),
            };
        }
        if let Some(a) = &self.proof_engine_listen {
            c.proof_engine_listen = match a.as_str() {
                "off" | "" => None,
                a => Some(
                    slotproof_orchestrator::config::listen_addr(a)
                        .with_context(|| format!("--proof-engine-listen {a:?} is not host:port or a port"))?,
                ),
            };
        }
        Ok(())
    }
}

impl SimulationArgs {
    fn apply(&self, given: Given<'_>, c: &mut NodeConfig) -> anyhow::Result<()> {
        if let Some(s) = self.sim_time_scale {
            if !(s > 0.0 && s.is_finite()) {
                bail!("--sim-time-scale must be a positive number");
            }
            c.sim_time_scale = Some(s);
        }
        if given.has("sim_seed") {
            c.sim_seed = self.sim_seed;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Node {
        #[command(flatten)]
        args: NodeArgs,
    }

    fn parse(flags: &[&str]) -> NodeArgs {
        Node::try_parse_from(std::iter::once("node").chain(flags.iter().copied())).expect("flags parse").args
    }

    fn config(flags: &[&str]) -> NodeConfig {
        parse(flags).config().expect("a valid config")
    }

    #[test]
    fn defaults_shown_in_help_are_the_config_defaults() {
        let (node, net) = (NodeConfig::default(), NetSettings::default());
        let f = parse(&[]).flags;
        assert_eq!(f.data_dir, node.data_dir);
        assert_eq!(f.chain.slot_time.0, node.slot_time);
        assert_eq!(f.http.http_listen.parse().ok(), node.http_listen);
        assert_eq!(f.sim.sim_seed, node.sim_seed);
        assert_eq!((f.network.network, f.network.k, f.network.replicas), (net.network, net.k, net.replicas));
    }

    #[test]
    fn no_flags_is_the_default_config() {
        let (c, d) = (config(&[]), NodeConfig::default());
        assert_eq!(c.data_dir, d.data_dir);
        assert_eq!(c.slot_time, d.slot_time);
        assert_eq!(c.http_listen, d.http_listen);
        assert_eq!((c.sim_seed, c.sim_time_scale), (d.sim_seed, d.sim_time_scale));
        assert!(c.rpc_url.is_none() && c.zkvms.is_empty() && c.ethproofs.is_none());
        assert!(c.p2p.is_none(), "no network flag: the node proves alone");
    }

    fn file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.toml");
        std::fs::write(&path, text).expect("write config");
        let path = path.to_str().expect("utf-8 path").to_string();
        (dir, path)
    }

    const FILE: &str = r#"
data_dir = "from-file"
slot_time = "3s"
http_listen = "off"
sim_seed = 7
[p2p]
network = "filenet"
k = 3
replicas = 2
"#;

    #[test]
    fn defaults_do_not_override_the_config_file() {
        let (_dir, path) = file(FILE);
        let c = config(&["--config", &path]);
        assert_eq!(c.data_dir, PathBuf::from("from-file"));
        assert_eq!(c.slot_time, Duration::from_secs(3));
        assert_eq!(c.http_listen, None);
        assert_eq!(c.sim_seed, 7);
        let net = c.p2p.expect("[p2p] turns the network on");
        assert_eq!((net.network.as_str(), net.k, net.replicas), ("filenet", 3, 2));
    }

    #[test]
    fn flags_given_override_the_config_file() {
        let (_dir, path) = file(FILE);
        let c = config(&[
            "--config",
            &path,
            "--data-dir",
            "from-flag",
            "--slot-time",
            "12s",
            "--http",
            "127.0.0.1:9650",
            "--sim-seed",
            "0",
            "--network",
            "devnet",
            "--k",
            "2",
        ]);
        // Each flag given equals its default: given, not defaulted, is what wins.
        assert_eq!(c.data_dir, PathBuf::from("from-flag"));
        assert_eq!(c.slot_time, Duration::from_secs(12));
        assert_eq!(c.http_listen, "127.0.0.1:9650".parse().ok());
        assert_eq!(c.sim_seed, 0);
        let net = c.p2p.expect("network on");
        assert_eq!((net.network.as_str(), net.k, net.replicas), ("devnet", 2, 2), "replicas not given: the file's");
    }

    #[test]
    fn any_network_flag_turns_the_network_on() {
        for flags in [&["--k", "2"][..], &["--replicas", "1"], &["--network", "devnet"], &["--mdns"]] {
            let net = config(flags).p2p.unwrap_or_else(|| panic!("{flags:?} turns the network on"));
            assert_eq!((net.k, net.replicas), (2, 1), "{flags:?}");
        }
        let net = config(&["--p2p-listen", "/ip4/127.0.0.1/tcp/0"]).p2p.expect("--p2p-listen turns it on");
        assert_eq!(net.listen.len(), 1);
    }

    #[test]
    fn zkvm_flags_replace_the_configured_set() {
        let names: Vec<String> =
            config(&["--zkvm", "stark", "--zkvm", "sim:pico-prism"]).zkvms.into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["stark", "sim:pico-prism"]);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (flags, says) in [
            (&["--slot-time", "0s"][..], "--slot-time"),
            (&["--http", "nowhere"], "--http"),
            (&["--sim-time-scale=-1"], "--sim-time-scale"),
            (&["--k", "0"], "k and replicas"),
        ] {
            let err = parse(flags).config().expect_err("refused");
            assert!(format!("{err:#}").contains(says), "{flags:?}: {err:#}");
        }
    }
}
