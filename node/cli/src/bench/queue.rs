//! The queue benchmark: P producers enqueue N tasks (flat out, or at a total
//! offered rate R), C consumers lease and ack them. Reports throughput,
//! enqueue-to-lease latency, and checks that nothing was lost or duplicated
//! against both the consumers' own records and the queue's stats.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde::Serialize;
use slotproof_queue::{Durability, NewTask, Queue, QueueConfig};
use tracing::info;

use super::{peak_rss_mb, quantile, round3, scratch_dir};
use crate::output::print_report;

const QUEUE: &str = "bench";
/// Consumers give up when nothing arrives for this long after producers finish.
const DRAIN_IDLE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, ValueEnum, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Rocksdb,
    Memory,
}

#[derive(Args, Debug)]
pub struct QueueBenchArgs {
    #[arg(long, value_enum, default_value_t = Backend::Rocksdb)]
    backend: Backend,
    /// process (WAL, survives kill -9) or power (fsync with group commit).
    #[arg(long, default_value = "process")]
    durability: Durability,
    #[arg(long, default_value_t = 200_000)]
    tasks: u64,
    #[arg(long, default_value_t = 2)]
    producers: usize,
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Total offered load in tasks per second; flat out when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Where the RocksDB bench database goes (a fresh directory inside it, removed after).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    backend: Backend,
    durability: String,
    tasks: u64,
    producers: usize,
    consumers: usize,
    rate: Option<f64>,
    cores: usize,
    enqueue_per_s: f64,
    lease_ack_per_s: f64,
    /// lease+ack rate over each tenth of the tasks, in completion order: flat means no decay.
    lease_ack_per_s_by_decile: Vec<f64>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    lost: u64,
    duplicated: u64,
    elapsed_s: f64,
    peak_rss_mb: Option<f64>,
}

struct ConsumerLog {
    /// Enqueue-to-lease latency per task, nanoseconds.
    latencies: Vec<u64>,
    /// When each ack returned, nanoseconds since start.
    acked_at: Vec<u64>,
}

pub fn run(args: QueueBenchArgs) -> anyhow::Result<()> {
    if args.tasks == 0 || args.producers == 0 || args.consumers == 0 {
        bail!("--tasks, --producers and --consumers must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of tasks per second");
    }
    let cfg = QueueConfig { durability: args.durability, ..QueueConfig::default() };
    let scratch = match args.backend {
        Backend::Memory => None,
        Backend::Rocksdb => Some(scratch_dir(args.data_dir.as_deref(), "queue")?),
    };
    let queue = match &scratch {
        None => Queue::memory(cfg),
        Some(dir) => Queue::open_rocksdb(&dir.join("queue"), cfg)?,
    };
    let result = measure(&args, Arc::new(queue));
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let report = result?;
    print_report(&report, args.json)
}

fn measure(args: &QueueBenchArgs, q: Arc<Queue>) -> anyhow::Result<Report> {
    let n = args.tasks;
    let start = Instant::now();
    let acks: Arc<Vec<AtomicU8>> = Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
    let acked_total = Arc::new(AtomicU64::new(0));
    let producers_left = Arc::new(AtomicU64::new(args.producers as u64));
    info!(target: "slotproof::bench", backend = ?args.backend, durability = %args.durability, tasks = n, producers = args.producers, consumers = args.consumers, rate = ?args.rate, "queue benchmark starting");

    let producers: Vec<_> = (0..args.producers)
        .map(|p| {
            let (q, left, rate, step) = (q.clone(), producers_left.clone(), args.rate, args.producers as u64);
            thread::spawn(move || -> anyhow::Result<Duration> {
                let mut i = p as u64;
                while i < n {
                    if let Some(rate) = rate {
                        // Absolute schedule: task i is offered at i / rate seconds.
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            thread::sleep(wait);
                        }
                    }
                    let mut payload = i.to_be_bytes().to_vec();
                    payload.extend_from_slice(&(start.elapsed().as_nanos() as u64).to_be_bytes());
                    q.enqueue_one(NewTask::new(QUEUE, i, payload))?;
                    i += step;
                }
                left.fetch_sub(1, Ordering::SeqCst);
                Ok(start.elapsed())
            })
        })
        .collect();

    let consumers: Vec<_> = (0..args.consumers)
        .map(|c| {
            let (q, acks, total, left) = (q.clone(), acks.clone(), acked_total.clone(), producers_left.clone());
            thread::spawn(move || -> anyhow::Result<ConsumerLog> {
                let worker = format!("bench-consumer-{c}");
                let mut log = ConsumerLog { latencies: Vec::new(), acked_at: Vec::new() };
                let mut idle_since = None::<Instant>;
                while total.load(Ordering::SeqCst) < n {
                    let Some(lease) =
                        q.lease_wait(QUEUE, &worker, Duration::from_secs(60), Duration::from_millis(50))?
                    else {
                        if left.load(Ordering::SeqCst) == 0 {
                            let since = *idle_since.get_or_insert_with(Instant::now);
                            if since.elapsed() > DRAIN_IDLE {
                                break;
                            }
                        }
                        continue;
                    };
                    idle_since = None;
                    let leased_ns = start.elapsed().as_nanos() as u64;
                    let p = &lease.payload;
                    let index = u64::from_be_bytes(p[0..8].try_into()?);
                    let enqueued_ns = u64::from_be_bytes(p[8..16].try_into()?);
                    q.ack(lease.id, lease.token)?;
                    log.acked_at.push(start.elapsed().as_nanos() as u64);
                    log.latencies.push(leased_ns.saturating_sub(enqueued_ns));
                    if let Some(slot) = acks.get(index as usize) {
                        slot.fetch_add(1, Ordering::SeqCst);
                    }
                    total.fetch_add(1, Ordering::SeqCst);
                }
                Ok(log)
            })
        })
        .collect();

    let mut producer_end = Duration::ZERO;
    for h in producers {
        producer_end = producer_end.max(h.join().map_err(|_| anyhow::anyhow!("producer thread panicked"))??);
    }
    let mut latencies = Vec::new();
    let mut acked_at = Vec::new();
    for h in consumers {
        let log = h.join().map_err(|_| anyhow::anyhow!("consumer thread panicked"))??;
        latencies.extend(log.latencies);
        acked_at.extend(log.acked_at);
    }
    let elapsed = start.elapsed();

    let once = acks.iter().filter(|a| a.load(Ordering::SeqCst) >= 1).count() as u64;
    let duplicated = acks.iter().map(|a| a.load(Ordering::SeqCst).saturating_sub(1) as u64).sum::<u64>();
    let stats = q.stats()?;
    // Lost from either point of view: tasks no consumer acked, or tasks the queue does not count done.
    let lost = n.saturating_sub(once).max(n.saturating_sub(stats.total.done));

    acked_at.sort_unstable();
    let lease_ack_per_s = match (acked_at.first(), acked_at.last()) {
        (Some(first), Some(last)) if last > first => (acked_at.len() - 1) as f64 / ((last - first) as f64 / 1e9),
        _ => 0.0,
    };
    let by_decile = acked_at
        .chunks((acked_at.len() / 10).max(2))
        .filter(|c| c.len() >= 2 && c[c.len() - 1] > c[0])
        .map(|c| ((c.len() - 1) as f64 / ((c[c.len() - 1] - c[0]) as f64 / 1e9)).round())
        .collect();
    let mut lat_ms: Vec<f64> = latencies.iter().map(|&ns| ns as f64 / 1e6).collect();
    lat_ms.sort_by(f64::total_cmp);

    Ok(Report {
        backend: args.backend,
        durability: if args.backend == Backend::Memory { "none".into() } else { args.durability.to_string() },
        tasks: n,
        producers: args.producers,
        consumers: args.consumers,
        rate: args.rate,
        cores: thread::available_parallelism().map(|c| c.get()).unwrap_or(1),
        enqueue_per_s: (n as f64 / producer_end.as_secs_f64()).round(),
        lease_ack_per_s: lease_ack_per_s.round(),
        lease_ack_per_s_by_decile: by_decile,
        p50_ms: round3(quantile(&lat_ms, 0.50)),
        p99_ms: round3(quantile(&lat_ms, 0.99)),
        max_ms: round3(lat_ms.last().copied().unwrap_or(0.0)),
        lost,
        duplicated,
        elapsed_s: round3(elapsed.as_secs_f64()),
        peak_rss_mb: peak_rss_mb().map(round3),
    })
}
