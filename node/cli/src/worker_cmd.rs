//! `slotproof worker`: a remote prover worker (specs/workers.md §5). It runs
//! the zkVMs named with `--zkvm` (from `--config`'s `[[zkvm]]` tables or the
//! built-ins) with their slots and GPUs, and proves tasks leased from the
//! node whose queue is on `--queue nats://…`. With `--json` it prints what it
//! did as one JSON line when it stops.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use slotproof_queue::{AuthSources, NatsTarget};
use slotproof_workers::{WorkerOptions, worker};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::node_cmd::with_signals;
use crate::output::print_json_or;
use crate::zkvm_args::ZkvmSetup;

#[derive(Args)]
pub struct WorkerArgs {
    /// The node's NATS server (its `--queue`).
    #[arg(long = "queue", env = "SLOTPROOF_QUEUE", value_name = "nats://HOST:PORT")]
    queue_url: String,
    /// The node's queue prefix (its `--queue-prefix`).
    #[arg(long, env = "SLOTPROOF_QUEUE_PREFIX", default_value = slotproof_queue::nats::DEFAULT_PREFIX)]
    queue_prefix: String,
    /// zkVMs to prove with (repeat the flag); each runs with its configured slots.
    #[arg(long = "zkvm", required = true, value_name = "NAME")]
    zkvms: Vec<String>,
    /// This worker's name in the node's /status (default: host name and process id).
    #[arg(long, env = "SLOTPROOF_WORKER_ID")]
    id: Option<String>,
    /// NATS credentials: a .creds file (else SLOTPROOF_NATS_CREDS, _NKEY, _TOKEN, _USER+_PASSWORD).
    #[arg(long, value_name = "FILE")]
    nats_creds: Option<PathBuf>,
    /// A file whose first line is the NATS token.
    #[arg(long, value_name = "FILE")]
    nats_token_file: Option<PathBuf>,
    #[command(flatten)]
    setup: ZkvmSetup,
    /// Where external provers keep their files.
    #[arg(long, default_value = "slotproof-worker")]
    work_dir: PathBuf,
    /// Print a JSON summary as the last line when the worker stops.
    #[arg(long)]
    json: bool,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    if !slotproof_queue::nats::is_nats_url(&args.queue_url) {
        bail!("--queue {:?}: a worker needs the node's NATS server, nats://HOST:PORT", args.queue_url);
    }
    let mut target = NatsTarget::new(args.queue_url.clone()).with_prefix(args.queue_prefix.clone());
    let sources = AuthSources {
        creds_file: args.nats_creds.clone(),
        token_file: args.nats_token_file.clone(),
        ..Default::default()
    };
    target.auth = sources.resolve(&|k| std::env::var(k).ok())?;
    let all = args.setup.entries()?;
    let mut entries = Vec::new();
    for name in &args.zkvms {
        let entry = all
            .iter()
            .find(|e| &e.name == name)
            .cloned()
            .unwrap_or_else(|| slotproof_zkvm::registry::ZkvmEntry { name: name.clone(), ..Default::default() });
        entries.push(entry);
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", if host.is_empty() { "worker" } else { &host }, std::process::id()));
    let opts = WorkerOptions { target, id, entries, machine: args.setup.machine(args.work_dir.clone()) };
    let summary = with_signals(async |mut shutdown| {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            let _ = shutdown.wait_for(|s| *s).await;
            on_signal.cancel();
        });
        worker::run(opts, stop).await.context("worker")
    })?;
    info!(target: "slotproof::worker", worker = %summary.worker, proofs = summary.proofs, failures = summary.failures, leases_lost = summary.leases_lost, "worker stopped");
    print_json_or(args.json, &summary, || {
        format!(
            "worker {}: {} proofs, {} failures, {} leases lost",
            summary.worker, summary.proofs, summary.failures, summary.leases_lost
        )
    })
}
