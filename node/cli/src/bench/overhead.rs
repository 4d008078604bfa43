//! `slotproof bench overhead`: push0's orchestration-overhead measurement on our
//! engine. Zero-time provers run a 3-stage pipeline (dispatch → dispatch →
//! fan-in k) on the RocksDB (or NATS, or memory) queue at an offered rate. A dispatcher's overhead for
//! a task is (prover start − its input committed) + (its output committed −
//! prover end); a collector's for a group is (output committed − last member
//! committed). Times are recorded during the run and combined afterwards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use slotproof_pipeline::{Observer, Outcome, Pipeline, PipelineConfig, ProverSet, RuntimeOptions, StageEvent};
use slotproof_progress::{Counter, Progress};
use slotproof_queue::{NewTask, QueueConfig, TaskId};
use tracing::info;

use super::{Backend, BackendArgs, quantile, round3};
use crate::output::{JsonArgs, print_report};

#[derive(Args, Debug)]
pub struct OverheadArgs {
    /// Offered load, tasks per second (all subtasks counted).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// How long to offer load.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Prover of both dispatch stages: `noop` (in-process) or `exec-noop` (a process per task).
    #[arg(long, default_value = "noop")]
    prover: String,
    /// Group size of the fan-in stage (subtasks per block).
    #[arg(long, default_value_t = 4)]
    k: u32,
    #[command(flatten)]
    store: BackendArgs,
    #[command(flatten)]
    out: JsonArgs,
}

/// Every stage event of the run, and the blocks whose fan-in finished (the progress).
struct Recorder {
    events: Mutex<Vec<StageEvent>>,
    blocks_done: Counter,
}

impl Observer for Recorder {
    fn on_stage(&self, e: &StageEvent) {
        if e.stage == FAN_IN && e.outcome == Outcome::Done {
            self.blocks_done.inc();
        }
        if let Ok(mut v) = self.events.lock() {
            v.push(e.clone());
        }
    }
}

const FAN_IN: &str = "fan-in";

/// (blocks, tasks) the run offers: rate × seconds tasks, rounded up to whole blocks of k.
fn sizes(args: &OverheadArgs) -> (u64, u64) {
    let total = (args.rate * args.seconds).round().max(1.0) as u64;
    let blocks = total.div_ceil(args.k as u64);
    (blocks, blocks * args.k as u64)
}

#[derive(Serialize, Default)]
struct Dist {
    samples: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn dist(mut v: Vec<f64>) -> Dist {
    v.sort_by(f64::total_cmp);
    Dist {
        samples: v.len(),
        p50_ms: round3(quantile(&v, 0.5)),
        p90_ms: round3(quantile(&v, 0.9)),
        p99_ms: round3(quantile(&v, 0.99)),
        max_ms: round3(v.last().copied().unwrap_or(0.0)),
    }
}

#[derive(Serialize)]
struct Report {
    rate: f64,
    seconds: f64,
    prover: String,
    backend: Backend,
    tasks: u64,
    completed_blocks: u64,
    cores: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    stages: HashMap<String, Dist>,
    /// Time inside the prover call (for exec-noop: process start and file contract).
    prover_time: Dist,
    end_to_end: Dist,
    lost: u64,
}

fn pipeline_toml(prover: &str, k: u32) -> String {
    format!(
        "name = \"overhead\"\nstale_after_blocks = 1000000000\n\
         [[stage]]\nname = \"dispatch-1\"\nkind = \"dispatcher\"\ninput = \"q1\"\noutput = \"q2\"\nprover = \"{prover}\"\nconcurrency = 2\n\
         [[stage]]\nname = \"dispatch-2\"\nkind = \"dispatcher\"\ninput = \"q2\"\noutput = \"q3\"\nprover = \"{prover}\"\nconcurrency = 2\n\
         [[stage]]\nname = \"fan-in\"\nkind = \"collector\"\ninput = \"q3\"\noutput = \"q4\"\nstrategy = \"fan-in\"\nk = {k}\n"
    )
}

pub fn run(args: OverheadArgs) -> anyhow::Result<()> {
    if !(args.rate > 0.0 && args.seconds > 0.0) {
        bail!("--rate and --seconds must be positive");
    }
    let provers = ProverSet::default();
    let cfg = PipelineConfig::parse(&pipeline_toml(&args.prover, args.k), &|p| provers.knows(p))
        .with_context(|| format!("prover {:?} is not available to the benchmark", args.prover))?;
    let (queue, scratch) = args.store.open("overhead", QueueConfig::default())?;
    let progress = Progress::count("bench overhead", sizes(&args).0, "blocks");
    let result = (|| {
        let queue = Arc::new(queue);
        let rec = Arc::new(Recorder { events: Mutex::default(), blocks_done: progress.counter() });
        let opts = RuntimeOptions { observer: Some(rec.clone()), ..RuntimeOptions::default() };
        let pipeline = Pipeline::start(cfg, queue.clone(), &provers, opts)?;
        let report = measure(&args, &pipeline, &rec);
        pipeline.shutdown();
        report
    })();
    progress.finish();
    scratch.finish();
    let report = result?;
    print_report(&report, args.out.json)
}

fn measure(args: &OverheadArgs, pipeline: &Pipeline, rec: &Recorder) -> anyhow::Result<Report> {
    let (blocks, tasks) = sizes(args);
    info!(target: "slotproof::bench", rate = args.rate, seconds = args.seconds, tasks, "overhead benchmark starting");
    let start = Instant::now();
    let mut committed: HashMap<TaskId, Instant> = HashMap::new();
    let mut entered: HashMap<u64, Instant> = HashMap::new();
    for i in 0..tasks {
        let due = start + Duration::from_secs_f64(i as f64 / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let (block, sub) = (i / args.k as u64, (i % args.k as u64) as u32);
        let t = NewTask::new("q1", block, i.to_be_bytes().to_vec()).with_subtask(sub);
        let ids = pipeline.submit(vec![t])?;
        let now = Instant::now();
        entered.entry(block).or_insert(now);
        for e in ids {
            committed.insert(e.id(), now);
        }
    }
    // Drain: wait until every block's fan-in has emitted, or give up after 30 s of no progress.
    let mut last = (0usize, Instant::now());
    loop {
        let done = rec
            .events
            .lock()
            .map(|v| v.iter().filter(|e| e.stage == FAN_IN && e.outcome == Outcome::Done).count())
            .unwrap_or(0);
        if done as u64 >= blocks {
            break;
        }
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    let events = rec.events.lock().map(|v| v.clone()).unwrap_or_default();
    for e in &events {
        for o in &e.outputs {
            committed.insert(*o, e.committed);
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut per_stage: HashMap<String, Vec<f64>> = HashMap::new();
    let mut end_to_end = Vec::new();
    let mut prover_time = Vec::new();
    for e in events.iter().filter(|e| e.outcome == Outcome::Done) {
        if let (Some(ps), Some(pe)) = (e.prover_start, e.prover_end) {
            prover_time.push(ms(pe.saturating_duration_since(ps)));
        }
        let inputs_at = e.inputs.iter().filter_map(|i| committed.get(i)).copied();
        let overhead = match (e.prover_start, e.prover_end) {
            (Some(ps), Some(pe)) => {
                let Some(input_at) = inputs_at.max() else { continue };
                // The next stage can lease an output a few µs before its producer's
                // commit call returns (they share one group commit): clamp at zero.
                ms(ps.saturating_duration_since(input_at)) + ms(e.committed.saturating_duration_since(pe))
            }
            _ => {
                let Some(last_member) = inputs_at.max() else { continue };
                if let Some(first) = entered.get(&e.block) {
                    end_to_end.push(ms(e.committed.saturating_duration_since(*first)));
                }
                ms(e.committed.saturating_duration_since(last_member))
            }
        };
        per_stage.entry(e.stage.clone()).or_default().push(overhead);
    }
    let all: Vec<f64> = per_stage.values().flatten().copied().collect();
    let overall = dist(all);
    let completed_blocks = end_to_end.len() as u64;
    Ok(Report {
        rate: args.rate,
        seconds: args.seconds,
        prover: args.prover.clone(),
        backend: args.store.backend,
        tasks,
        completed_blocks,
        cores: std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1),
        p50_ms: overall.p50_ms,
        p90_ms: overall.p90_ms,
        p99_ms: overall.p99_ms,
        max_ms: overall.max_ms,
        stages: per_stage.into_iter().map(|(k, v)| (k, dist(v))).collect(),
        prover_time: dist(prover_time),
        end_to_end: dist(end_to_end),
        lost: blocks - completed_blocks,
    })
}
