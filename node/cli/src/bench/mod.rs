//! `slotproof bench ...`: benchmarks that print numbers. Acceptance figures
//! come from a `--release` build. This module dispatches and holds what the
//! benchmarks share (scratch directories, quantiles, peak memory); each
//! benchmark is a file of its own.

mod gossip;
mod overhead;
mod prover;
mod queue;
mod scaling;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use slotproof_queue::{AuthSources, NatsTarget, Queue, QueueConfig};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Enqueue → lease → ack throughput and enqueue-to-lease latency of the task queue.
    Queue(queue::QueueBenchArgs),
    /// Per-stage orchestration overhead of a 3-stage pipeline with zero-time provers.
    Overhead(overhead::OverheadArgs),
    /// Dispatcher scaling efficiency with sleeping provers.
    Scaling(scaling::ScalingArgs),
    /// One prove and one verify of a block with one zkVM.
    Prover(prover::ProverBenchArgs),
    /// Gossip propagation latency across node processes on loopback.
    Gossip(gossip::GossipArgs),
    /// One process of `bench gossip` (started by it).
    #[command(hide = true)]
    GossipPeer(gossip::GossipPeerArgs),
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Queue(a) => queue::run(a),
        BenchCommand::Overhead(a) => overhead::run(a),
        BenchCommand::Scaling(a) => scaling::run(a),
        BenchCommand::Gossip(a) => gossip::run(a),
        BenchCommand::GossipPeer(a) => gossip::peer(a),
        BenchCommand::Prover(a) => prover::run(a),
    }
}

/// Peak resident memory of this process (/proc, Linux; None elsewhere), or of
/// the largest child it waited for (an external prover), whichever is larger.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb.max(children_peak_rss_kb()) / 1024.0)
}

/// ru_maxrss of the waited-for children (KiB on Linux).
fn children_peak_rss_kb() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0.0, |u| u.max_rss() as f64)
}

/// The q-quantile of sorted values (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `--data-dir` of the benchmarks that write databases.
#[derive(Args, Debug)]
pub struct ScratchArgs {
    /// Put the benchmark's databases in a fresh directory inside this one, removed after.
    /// Without it: the system temp dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl ScratchArgs {
    /// A fresh directory for a benchmark's database, inside `--data-dir` or the system temp dir.
    pub fn fresh_dir(&self, what: &str) -> anyhow::Result<PathBuf> {
        let base = self.data_dir.clone().unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
        let dir = base.join(format!("slotproof-bench-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }
}

/// Which queue store a benchmark runs on.
#[derive(Clone, Copy, Debug, ValueEnum, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The node's on-disk store.
    Rocksdb,
    /// NATS JetStream at `--nats-url` (specs/queue.md §15).
    Nats,
    /// In memory, no durability: the queue logic alone.
    Memory,
}

/// `--backend`, `--nats-url` and `--data-dir` of the benchmarks that run a queue.
#[derive(Args, Debug)]
pub struct BackendArgs {
    /// Which queue store: rocksdb (on disk), nats (JetStream at --nats-url) or memory.
    #[arg(long, value_enum, default_value_t = Backend::Rocksdb)]
    pub backend: Backend,
    /// The NATS server of `--backend nats`. The benchmark writes a stream of its own
    /// (prefix `bench-<pid>-<time>`) and deletes it after. Credentials as for the node
    /// (SLOTPROOF_NATS_CREDS, _NKEY, _TOKEN, _USER + _PASSWORD).
    #[arg(long, value_name = "nats://HOST:PORT")]
    pub nats_url: Option<String>,
    #[command(flatten)]
    pub scratch: ScratchArgs,
}

/// A benchmark's queue storage, removed by `finish` once the queue is dropped.
pub enum Scratch {
    None,
    Dir(PathBuf),
    Stream(NatsTarget),
}

impl BackendArgs {
    /// Opens a fresh queue on the chosen backend; `what` names its scratch directory.
    pub fn open(&self, what: &str, cfg: QueueConfig) -> anyhow::Result<(Queue, Scratch)> {
        if self.backend != Backend::Nats && self.nats_url.is_some() {
            bail!("--nats-url goes with --backend nats");
        }
        match self.backend {
            Backend::Memory => Ok((Queue::memory(cfg), Scratch::None)),
            Backend::Rocksdb => {
                let dir = self.scratch.fresh_dir(what)?;
                match Queue::open_rocksdb(&dir.join("queue"), cfg) {
                    Ok(q) => Ok((q, Scratch::Dir(dir))),
                    Err(e) => {
                        let _ = std::fs::remove_dir_all(&dir);
                        Err(e.into())
                    }
                }
            }
            Backend::Nats => {
                let Some(url) = &self.nats_url else { bail!("--backend nats needs --nats-url nats://HOST:PORT") };
                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
                let mut target =
                    NatsTarget::new(url.clone()).with_prefix(format!("bench-{}-{nanos}", std::process::id()));
                target.auth = AuthSources::default().resolve(&|k| std::env::var(k).ok())?;
                let q = Queue::open_nats(&target, cfg)?;
                Ok((q, Scratch::Stream(target)))
            }
        }
    }
}

impl Scratch {
    /// Removes the benchmark's directory or stream; call after the queue is dropped.
    pub fn finish(self) {
        match self {
            Scratch::None => {}
            Scratch::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Scratch::Stream(target) => {
                if let Err(e) = slotproof_queue::nats::delete_stream(&target) {
                    tracing::warn!(target: "slotproof::bench", stream = %target.stream_name(), error = %e, "could not delete the benchmark's stream");
                }
            }
        }
    }
}
