//! `slotproof queue ...`: read a node's queue (running or stopped) and requeue
//! dead-lettered work on a stopped node (specs/queue.md §8), on RocksDB
//! (`--data-dir`) or on NATS JetStream (`--queue-url`, specs/queue.md §15).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use slotproof_primitives::now_ms;
use slotproof_queue::{
    AuthSources, NatsTarget, Queue, QueueConfig, QueueStats, QueueView, StateFilter, TaskId, TaskInfo, TaskState,
    read_view,
};

use crate::output::{JsonArgs, print_json};

/// How many tasks `list` and `dead` print unless told otherwise.
const LIST_LIMIT: usize = 50;

/// Where the queue is: a node's data directory (RocksDB) or its NATS server.
#[derive(Args, Debug)]
pub struct DataDirArgs {
    /// The node's data directory; its RocksDB queue lives in `<data-dir>/queue`.
    #[arg(long, env = "SLOTPROOF_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A node's queue on NATS JetStream (the node's `--queue nats://…`); used instead of --data-dir.
    #[arg(long, value_name = "nats://HOST:PORT")]
    queue_url: Option<String>,
    /// The node's queue prefix (its `--queue-prefix`).
    #[arg(long, default_value = slotproof_queue::nats::DEFAULT_PREFIX)]
    queue_prefix: String,
    /// NATS credentials: a .creds file (else SLOTPROOF_NATS_CREDS, _NKEY, _TOKEN, _USER+_PASSWORD).
    #[arg(long, value_name = "FILE")]
    nats_creds: Option<PathBuf>,
}

/// A queue location, resolved.
enum Location {
    Rocks(PathBuf),
    Nats(NatsTarget),
}

impl DataDirArgs {
    fn location(&self) -> anyhow::Result<Location> {
        if let Some(url) = &self.queue_url {
            if !slotproof_queue::nats::is_nats_url(url) {
                bail!("--queue-url {url:?}: expected nats://HOST:PORT");
            }
            let mut target = NatsTarget::new(url.clone()).with_prefix(self.queue_prefix.clone());
            let sources = AuthSources { creds_file: self.nats_creds.clone(), ..Default::default() };
            target.auth = sources.resolve(&|k| std::env::var(k).ok())?;
            return Ok(Location::Nats(target));
        }
        let Some(dir) = &self.data_dir else {
            bail!("say where the queue is: --data-dir DIR or --queue-url nats://…")
        };
        if dir.exists() && !dir.is_dir() {
            bail!("data dir {} is not a directory", dir.display());
        }
        Ok(Location::Rocks(dir.join("queue")))
    }
}

#[derive(Args, Debug)]
pub struct QueueArgs {
    #[command(subcommand)]
    command: QueueCommand,
}

#[derive(Subcommand, Debug)]
enum QueueCommand {
    /// Depth per state and queue, oldest pending age. Safe on a running node.
    Stats {
        #[command(flatten)]
        dir: DataDirArgs,
        #[command(flatten)]
        out: JsonArgs,
    },
    /// Live tasks in lease order. Safe on a running node.
    List {
        #[command(flatten)]
        dir: DataDirArgs,
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// all, pending, delayed, leased or dead.
        #[arg(long, default_value = "all")]
        state: StateFilter,
        /// Print at most this many tasks.
        #[arg(long, default_value_t = LIST_LIMIT)]
        limit: usize,
        #[command(flatten)]
        out: JsonArgs,
    },
    /// Dead-lettered tasks with their last error. Safe on a running node.
    Dead {
        #[command(flatten)]
        dir: DataDirArgs,
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Print at most this many tasks.
        #[arg(long, default_value_t = LIST_LIMIT)]
        limit: usize,
        #[command(flatten)]
        out: JsonArgs,
    },
    /// Move dead tasks back to pending (attempts reset). Needs the node stopped.
    Requeue {
        #[command(flatten)]
        dir: DataDirArgs,
        /// One task id (64 hex characters).
        #[arg(long, conflicts_with = "all")]
        id: Option<TaskId>,
        /// Every dead task (of `--queue` if given).
        #[arg(long)]
        all: bool,
        /// With --all: only this queue's dead tasks.
        #[arg(long)]
        queue: Option<String>,
        #[command(flatten)]
        out: JsonArgs,
    },
}

pub fn run(args: QueueArgs) -> anyhow::Result<()> {
    match args.command {
        QueueCommand::Stats { dir, out } => {
            let stats = read(&dir.location()?)?.stats(now_ms());
            if out.json { print_json(&stats) } else { print_stats(&stats) }
        }
        QueueCommand::List { dir, queue, state, limit, out } => {
            let tasks = read(&dir.location()?)?.list(queue.as_deref(), state, limit, now_ms());
            print_tasks(&tasks, out.json)
        }
        QueueCommand::Dead { dir, queue, limit, out } => {
            let tasks = read(&dir.location()?)?.list(queue.as_deref(), StateFilter::Dead, limit, now_ms());
            print_tasks(&tasks, out.json)
        }
        QueueCommand::Requeue { dir, id, all, queue, out } => {
            if id.is_none() && !all {
                bail!("say which dead tasks to requeue: --id ID or --all");
            }
            let q = open_writer(&dir.location()?)?;
            let n = match id {
                Some(id) => q.requeue(id).map(|_| 1)?,
                None => q.requeue_dead(queue.as_deref())?,
            };
            if out.json {
                print_json(&json!({ "requeued": n }))
            } else {
                println!("requeued {n} task(s)");
                Ok(())
            }
        }
    }
}

fn read(at: &Location) -> anyhow::Result<QueueView> {
    Ok(match at {
        Location::Rocks(path) => read_view(path)?,
        Location::Nats(target) => slotproof_queue::nats::read_view(target)
            .with_context(|| format!("reading the queue stream {} at {}", target.stream_name(), target.shown_url()))?,
    })
}

/// Opens the queue as its writer, for requeue: only with no node running, as
/// the writer fences any other (a running node's next write would fail).
fn open_writer(at: &Location) -> anyhow::Result<Queue> {
    match at {
        Location::Rocks(path) => {
            if !path.exists() {
                bail!("no slotproof queue database at {}", path.display());
            }
            Queue::open_rocksdb(path, QueueConfig::default())
                .with_context(|| format!("requeue needs the node stopped (it opens {} as the writer)", path.display()))
        }
        Location::Nats(target) => {
            // The stream must exist: requeue never creates a queue.
            slotproof_queue::nats::read_view(target).with_context(|| {
                format!("reading the queue stream {} at {}", target.stream_name(), target.shown_url())
            })?;
            let serving = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(slotproof_workers::service::node_serving(target))?;
            if serving {
                bail!(
                    "a node is serving the queue {} at {} (it answers on {}); stop it first: requeue opens the queue as its writer, which would fence the node",
                    target.stream_name(),
                    target.shown_url(),
                    target.subject(slotproof_workers::protocol::PING)
                );
            }
            Ok(Queue::open_nats(target, QueueConfig::default())?)
        }
    }
}

fn print_stats(s: &QueueStats) -> anyhow::Result<()> {
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>9} {:>11} {:>14}",
        "queue", "pending", "delayed", "leased", "dead", "done", "oldest_pending"
    );
    let rows = s.queues.iter().map(|(n, c)| (n.as_str(), c)).chain(std::iter::once(("TOTAL", &s.total)));
    for (name, c) in rows {
        let age = c.oldest_pending_age_ms.map_or("-".to_string(), |a| format!("{:.1}s", a as f64 / 1000.0));
        println!("{name:<24} {:>9} {:>9} {:>9} {:>9} {:>11} {age:>14}", c.pending, c.delayed, c.leased, c.dead, c.done);
    }
    Ok(())
}

fn task_json(t: &TaskInfo, now: u64) -> serde_json::Value {
    let lease = match &t.state {
        TaskState::Leased { worker, deadline_ms, .. } => json!({ "worker": worker, "deadline_ms": deadline_ms }),
        _ => serde_json::Value::Null,
    };
    json!({
        "id": t.id.to_hex(), "queue": t.queue, "state": t.state.label(now), "pipeline": t.pipeline,
        "stage": t.stage, "block_number": t.block_number, "subtask": t.subtask, "target": t.target,
        "priority": t.priority, "attempts": t.attempts, "max_attempts": t.max_attempts,
        "enqueued_at_ms": t.enqueued_at_ms, "payload_bytes": t.payload_len, "lease": lease,
        "last_error": t.last_error,
    })
}

fn print_tasks(tasks: &[TaskInfo], json: bool) -> anyhow::Result<()> {
    let now = now_ms();
    if json {
        let list: Vec<_> = tasks.iter().map(|t| task_json(t, now)).collect();
        return print_json(&json!({ "tasks": list, "count": list.len() }));
    }
    println!(
        "{:<14} {:<16} {:<8} {:>10} {:>4} {:<12} {:>8}  last_error",
        "id", "queue", "state", "block", "sub", "target", "attempts"
    );
    for t in tasks {
        println!(
            "{:<14} {:<16} {:<8} {:>10} {:>4} {:<12} {:>4}/{:<3}  {}",
            &t.id.to_hex()[..12],
            t.queue,
            t.state.label(now),
            t.block_number,
            t.subtask,
            t.target,
            t.attempts,
            t.max_attempts,
            t.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
