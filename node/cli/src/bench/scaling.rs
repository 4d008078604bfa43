//! `slotproof bench scaling`: throughput of one dispatcher stage as its worker
//! count grows, with provers that sleep M ms (push0's scaling experiment).
//! efficiency(n) = throughput(n) / (n × throughput(1)).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use slotproof_pipeline::{Observer, Outcome, Pipeline, PipelineConfig, ProverSet, RuntimeOptions, StageEvent};
use slotproof_progress::Progress;
use slotproof_queue::{NewTask, QueueConfig};
use tracing::info;

use super::{Backend, BackendArgs, round3};
use crate::output::{JsonArgs, print_report};

#[derive(Args, Debug)]
pub struct ScalingArgs {
    /// Worker counts to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    dispatchers: Vec<u32>,
    /// How long each proof sleeps; 0 uses the no-op prover.
    #[arg(long, default_value_t = 200)]
    prover_ms: u64,
    /// Proofs per worker at each count (default: about 3 s of sleeping, at least 1).
    #[arg(long)]
    per_worker: Option<u64>,
    #[command(flatten)]
    store: BackendArgs,
    #[command(flatten)]
    out: JsonArgs,
}

#[derive(Serialize)]
struct Point {
    dispatchers: u32,
    tasks: u64,
    seconds: f64,
    throughput_per_s: f64,
    efficiency: f64,
}

#[derive(Serialize)]
struct Report {
    prover_ms: u64,
    cores: usize,
    backend: Backend,
    results: Vec<Point>,
}

/// First prover start and last commit of the stage's successful tasks.
#[derive(Default)]
struct Span(Mutex<(Option<Instant>, Option<Instant>, u64)>);

impl Observer for Span {
    fn on_stage(&self, e: &StageEvent) {
        if e.outcome != Outcome::Done {
            return;
        }
        if let Ok(mut s) = self.0.lock() {
            let start = e.prover_start.unwrap_or(e.committed);
            s.0 = Some(s.0.map_or(start, |x| x.min(start)));
            s.1 = Some(s.1.map_or(e.committed, |x| x.max(e.committed)));
            s.2 += 1;
        }
    }
}

pub fn run(args: ScalingArgs) -> anyhow::Result<()> {
    if args.dispatchers.is_empty() || args.dispatchers.contains(&0) {
        bail!("--dispatchers needs positive counts, e.g. 1,8,32,128");
    }
    let prover = if args.prover_ms == 0 { "noop".to_string() } else { format!("sleep:{}", args.prover_ms) };
    let per_worker = args.per_worker.unwrap_or(3_000u64.checked_div(args.prover_ms).map_or(5_000, |n| n.max(1)));
    let mut counts = args.dispatchers.clone();
    if !counts.contains(&1) {
        counts.insert(0, 1); // efficiency needs the single-worker baseline
    }
    let mut base = None;
    let mut results = Vec::new();
    for &n in &counts {
        let (tasks, seconds) = measure(n, &prover, per_worker, &args.store)?;
        let throughput = tasks as f64 / seconds;
        let base_tp = *base.get_or_insert(throughput);
        info!(target: "slotproof::bench", dispatchers = n, tasks, seconds, throughput, "scaling point");
        if args.dispatchers.contains(&n) {
            results.push(Point {
                dispatchers: n,
                tasks,
                seconds: round3(seconds),
                throughput_per_s: round3(throughput),
                efficiency: (throughput / (n as f64 * base_tp) * 10_000.0).round() / 10_000.0,
            });
        }
    }
    let report = Report {
        prover_ms: args.prover_ms,
        cores: std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1),
        backend: args.store.backend,
        results,
    };
    print_report(&report, args.out.json)
}

fn measure(n: u32, prover: &str, per_worker: u64, store: &BackendArgs) -> anyhow::Result<(u64, f64)> {
    let toml = format!(
        "name = \"scaling\"\nstale_after_blocks = 1000000000\n[[stage]]\nname = \"prove\"\nkind = \"dispatcher\"\ninput = \"in\"\noutput = \"out\"\nprover = \"{prover}\"\nconcurrency = {n}\n"
    );
    let provers = ProverSet::default();
    let cfg = PipelineConfig::parse(&toml, &|p| provers.knows(p))?;
    let (queue, scratch) = store.open("scaling", QueueConfig::default())?;
    let result = (|| {
        let queue = Arc::new(queue);
        let tasks = n as u64 * per_worker;
        // Fill the queue first so the measurement sees only dispatch, not arrival.
        for chunk in (0..tasks).collect::<Vec<_>>().chunks(1000) {
            queue.enqueue(
                chunk
                    .iter()
                    .map(|&i| NewTask::new("in", i, i.to_be_bytes().to_vec()).with_pipeline("scaling", ""))
                    .collect(),
            )?;
        }
        let span = Arc::new(Span::default());
        let opts = RuntimeOptions { observer: Some(span.clone()), ..RuntimeOptions::default() };
        let pipeline = Pipeline::start(cfg, queue.clone(), &provers, opts)?;
        let progress = Progress::count(format!("bench scaling, concurrency {n}"), tasks, "tasks");
        let give_up = Instant::now() + Duration::from_secs(120);
        loop {
            let done = span.0.lock().map(|s| s.2).unwrap_or(0);
            progress.set(done);
            if done >= tasks || Instant::now() >= give_up {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        progress.finish();
        pipeline.shutdown();
        let s = span.0.lock().map(|s| *s).map_err(|_| anyhow::anyhow!("observer lock poisoned"))?;
        match s {
            (Some(a), Some(b), done) if done == tasks => Ok((done, (b - a).as_secs_f64().max(1e-9))),
            (_, _, done) => bail!("only {done} of {tasks} tasks finished with {n} dispatchers"),
        }
    })();
    scratch.finish();
    result
}
