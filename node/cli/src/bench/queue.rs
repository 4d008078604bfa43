//! The queue benchmark: P producers enqueue N tasks (flat out, or at a total
//! offered rate R; each keeps up to 64 enqueues in flight), C consumers lease
//! and ack them (one at a time each). Reports throughput,
//! enqueue-to-lease latency, and checks that nothing was lost or duplicated
//! against both the consumers' own records and the queue's stats.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use slotproof_progress::{Counter, Progress};
use slotproof_queue::{Durability, NewTask, Queue, QueueConfig};
use tracing::info;

use super::{Backend, BackendArgs, peak_rss_mb, quantile, round3};
use crate::output::{JsonArgs, print_report};

const QUEUE: &str = "bench";
/// Enqueues a producer keeps in flight before waiting for the oldest.
const PRODUCER_WINDOW: usize = 64;
/// Consumers give up when nothing arrives for this long after producers finish.
const DRAIN_IDLE: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct QueueBenchArgs {
    #[command(flatten)]
    store: BackendArgs,
    /// RocksDB: process (WAL, survives kill -9) or power (fsync with group commit).
    /// NATS is as durable as its JetStream server (file storage).
    #[arg(long, default_value = "process")]
    durability: Durability,
    /// Tasks to enqueue, lease and ack.
    #[arg(long, default_value_t = 200_000)]
    tasks: u64,
    /// Producer threads, enqueueing in turn.
    #[arg(long, default_value_t = 2)]
    producers: usize,
    /// Consumer threads, each leasing and acking one task at a time.
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Total offered load in tasks per second; flat out when absent.
    #[arg(long)]
    rate: Option<f64>,
    #[command(flatten)]
    out: JsonArgs,
}

#[derive(Serialize)]
struct Report {
    backend: Backend,
    durability: String,
    tasks: u64,
    producers: usize,
    /// Enqueues each producer keeps in flight.
    producer_window: usize,
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
    let (queue, scratch) = args.store.open("queue", cfg)?;
    let result = measure(&args, queue);
    scratch.finish();
    let report = result?;
    print_report(&report, args.out.json)
}

/// What the producer and consumer threads share.
struct Shared {
    q: Queue,
    start: Instant,
    /// Tasks in all; task i carries i in its payload.
    n: u64,
    /// Per task: how many times a consumer acked it.
    acks: Vec<AtomicU8>,
    acked_total: AtomicU64,
    producers_left: AtomicU64,
    /// Tasks acked, for the progress line.
    progress: Counter,
}

fn measure(args: &QueueBenchArgs, q: Queue) -> anyhow::Result<Report> {
    let n = args.tasks;
    let progress = Progress::count("bench queue", n, "tasks acked");
    let shared = Arc::new(Shared {
        q,
        start: Instant::now(),
        n,
        acks: (0..n).map(|_| AtomicU8::new(0)).collect(),
        acked_total: AtomicU64::new(0),
        producers_left: AtomicU64::new(args.producers as u64),
        progress: progress.counter(),
    });
    info!(target: "slotproof::bench", backend = ?args.store.backend, durability = %args.durability, tasks = n, producers = args.producers, consumers = args.consumers, rate = ?args.rate, "queue benchmark starting");
    let step = args.producers as u64;
    let producers: Vec<_> = (0..step)
        .map(|first| {
            let (shared, rate) = (shared.clone(), args.rate);
            thread::spawn(move || produce(&shared, first, step, rate))
        })
        .collect();
    let consumers: Vec<_> = (0..args.consumers)
        .map(|c| {
            let shared = shared.clone();
            thread::spawn(move || consume(&shared, c))
        })
        .collect();

    let mut producer_end = Duration::ZERO;
    for h in producers {
        producer_end = producer_end.max(h.join().map_err(|_| anyhow::anyhow!("producer thread panicked"))??);
    }
    let mut all = ConsumerLog { latencies: Vec::new(), acked_at: Vec::new() };
    for h in consumers {
        let log = h.join().map_err(|_| anyhow::anyhow!("consumer thread panicked"))??;
        all.latencies.extend(log.latencies);
        all.acked_at.extend(log.acked_at);
    }
    let elapsed = shared.start.elapsed();
    progress.finish();
    let (lost, duplicated) = shared.losses()?;
    Ok(report(args, producer_end, elapsed, all, lost, duplicated))
}

/// One producer: tasks `first`, `first + step`, ... with the enqueue time in
/// the payload; returns when it finished, measured from the start. It keeps
/// up to `PRODUCER_WINDOW` enqueues in flight rather than waiting a store
/// round trip for each, and returns once all are written.
fn produce(s: &Shared, first: u64, step: u64, rate: Option<f64>) -> anyhow::Result<Duration> {
    let mut i = first;
    let mut window = VecDeque::with_capacity(PRODUCER_WINDOW);
    while i < s.n {
        if let Some(rate) = rate {
            // Absolute schedule: task i is offered at i / rate seconds.
            let due = s.start + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        let mut payload = i.to_be_bytes().to_vec();
        payload.extend_from_slice(&(s.start.elapsed().as_nanos() as u64).to_be_bytes());
        let (_, written) = s.q.enqueue_unwaited(vec![NewTask::new(QUEUE, i, payload)])?;
        window.push_back(written);
        if window.len() >= PRODUCER_WINDOW
            && let Some(oldest) = window.pop_front()
        {
            oldest.wait()?;
        }
        i += step;
    }
    for written in window {
        written.wait()?;
    }
    s.producers_left.fetch_sub(1, Ordering::SeqCst);
    Ok(s.start.elapsed())
}

/// One consumer: lease and ack until every task is acked, or nothing arrives
/// for `DRAIN_IDLE` after the producers finished.
fn consume(s: &Shared, c: usize) -> anyhow::Result<ConsumerLog> {
    let worker = format!("bench-consumer-{c}");
    let mut log = ConsumerLog { latencies: Vec::new(), acked_at: Vec::new() };
    let mut idle_since = None::<Instant>;
    while s.acked_total.load(Ordering::SeqCst) < s.n {
        let Some(lease) = s.q.lease_wait(QUEUE, &worker, Duration::from_secs(60), Duration::from_millis(50))? else {
            if s.producers_left.load(Ordering::SeqCst) == 0 {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() > DRAIN_IDLE {
                    break;
                }
            }
            continue;
        };
        idle_since = None;
        let leased_ns = s.start.elapsed().as_nanos() as u64;
        let p = &lease.payload;
        let index = u64::from_be_bytes(p[0..8].try_into()?);
        let enqueued_ns = u64::from_be_bytes(p[8..16].try_into()?);
        s.q.ack(lease.id, lease.token)?;
        log.acked_at.push(s.start.elapsed().as_nanos() as u64);
        log.latencies.push(leased_ns.saturating_sub(enqueued_ns));
        if let Some(slot) = s.acks.get(index as usize) {
            slot.fetch_add(1, Ordering::SeqCst);
        }
        s.acked_total.fetch_add(1, Ordering::SeqCst);
        s.progress.inc();
    }
    Ok(log)
}

impl Shared {
    /// (lost, duplicated) once every thread has finished.
    fn losses(&self) -> anyhow::Result<(u64, u64)> {
        let once = self.acks.iter().filter(|a| a.load(Ordering::SeqCst) >= 1).count() as u64;
        let duplicated = self.acks.iter().map(|a| a.load(Ordering::SeqCst).saturating_sub(1) as u64).sum::<u64>();
        let stats = self.q.stats()?;
        // Lost from either point of view: tasks no consumer acked, or tasks the queue does not count done.
        let lost = self.n.saturating_sub(once).max(self.n.saturating_sub(stats.total.done));
        Ok((lost, duplicated))
    }
}

/// Lease+ack rate over all acks, and over each tenth of them in completion order.
fn lease_ack_rates(acked_at: &mut [u64]) -> (f64, Vec<f64>) {
    acked_at.sort_unstable();
    let overall = match (acked_at.first(), acked_at.last()) {
        (Some(first), Some(last)) if last > first => (acked_at.len() - 1) as f64 / ((last - first) as f64 / 1e9),
        _ => 0.0,
    };
    let by_decile = acked_at
        .chunks((acked_at.len() / 10).max(2))
        .filter(|c| c.len() >= 2 && c[c.len() - 1] > c[0])
        .map(|c| ((c.len() - 1) as f64 / ((c[c.len() - 1] - c[0]) as f64 / 1e9)).round())
        .collect();
    (overall, by_decile)
}

fn report(
    args: &QueueBenchArgs,
    producer_end: Duration,
    elapsed: Duration,
    mut log: ConsumerLog,
    lost: u64,
    duplicated: u64,
) -> Report {
    let n = args.tasks;
    let (lease_ack_per_s, by_decile) = lease_ack_rates(&mut log.acked_at);
    let mut lat_ms: Vec<f64> = log.latencies.iter().map(|&ns| ns as f64 / 1e6).collect();
    lat_ms.sort_by(f64::total_cmp);
    Report {
        backend: args.store.backend,
        durability: match args.store.backend {
            Backend::Memory => "none".into(),
            Backend::Nats => "jetstream".into(),
            Backend::Rocksdb => args.durability.to_string(),
        },
        tasks: n,
        producers: args.producers,
        producer_window: PRODUCER_WINDOW,
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
    }
}
