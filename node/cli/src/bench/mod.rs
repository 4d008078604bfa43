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

use anyhow::Context;
use clap::{Args, Subcommand};

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
