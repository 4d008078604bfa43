//! `slotproof bench gossip`: propagation latency of gossip across N node
//! processes on loopback, through the node's real network stack (TCP, noise,
//! yamux, gossipsub with validation and scoring). Every process publishes its
//! share of block-task messages; every other process records when each
//! arrived. Latency = arrival − publish, on the one machine clock.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use slotproof_p2p::topics::{MAX_CONTROL_MESSAGE_BYTES, Topic};
use slotproof_p2p::wire::{self, BlockTask};
use slotproof_p2p::{MessageAcceptance, NetEvent, NetworkConfig, ProofSource};
use slotproof_progress::Progress;
use tokio::sync::watch;

use super::{ScratchArgs, quantile, round3};
use crate::output::{JsonArgs, print_report};

#[derive(Args, Debug)]
pub struct GossipArgs {
    /// Node processes, each a full network stack on loopback.
    #[arg(long, default_value_t = 8)]
    nodes: usize,
    /// Messages in all, spread over the nodes.
    #[arg(long, default_value_t = 400)]
    messages: u64,
    /// Messages per second each node publishes (under the per-author rate limit).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    #[command(flatten)]
    scratch: ScratchArgs,
    #[command(flatten)]
    out: JsonArgs,
}

/// One process of the benchmark (started by `bench gossip`).
#[derive(Args, Debug)]
pub struct GossipPeerArgs {
    /// This process's place among the nodes: which messages it publishes.
    #[arg(long)]
    index: usize,
    /// Node processes in the benchmark.
    #[arg(long)]
    nodes: usize,
    /// Messages in all, spread over the nodes.
    #[arg(long)]
    messages: u64,
    /// Messages per second this node publishes.
    #[arg(long)]
    rate: f64,
    /// This node's data directory (its key).
    #[arg(long)]
    data_dir: PathBuf,
    /// Network id shared by the benchmark's nodes.
    #[arg(long)]
    network: String,
    /// Multiaddr to listen on.
    #[arg(long)]
    listen: String,
    /// A peer to join through (repeat).
    #[arg(long = "bootnode")]
    bootnodes: Vec<String>,
    /// Unix ms at which publishing starts (the mesh forms before it).
    #[arg(long)]
    start_ms: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct PeerReport {
    /// seq → publish time (µs since the epoch).
    sent: BTreeMap<u64, u64>,
    /// seq → arrival time.
    received: BTreeMap<u64, u64>,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

#[derive(Serialize)]
struct Report {
    nodes: usize,
    messages: u64,
    deliveries_expected: u64,
    deliveries: u64,
    delivered_fraction: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn run(args: GossipArgs) -> anyhow::Result<()> {
    if args.nodes < 2 {
        bail!("--nodes must be at least 2");
    }
    if !(args.rate > 0.0 && args.rate <= 20.0) {
        bail!("--rate must be in (0, 20] messages per second per node (the per-author limit)");
    }
    let dir = args.scratch.fresh_dir("gossip")?;
    let exe = std::env::current_exe()?;
    let network = format!("bench{}", std::process::id());
    let mut ids = Vec::new();
    let mut ports = Vec::new();
    for i in 0..args.nodes {
        let d = dir.join(format!("node{i}"));
        ids.push(slotproof_p2p::key::load_or_create(&d)?.public().to_peer_id().to_string());
        ports.push(free_port()?);
    }
    let addr = |i: usize| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", ports[i], ids[i]);
    // Publishing starts once every process had time to start and the mesh to form.
    let start_ms = now_us() / 1000 + 3000 + 150 * args.nodes as u64;
    let mut children = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut cmd = Command::new(&exe);
        cmd.args(["bench", "gossip-peer", "--index", &i.to_string(), "--nodes", &args.nodes.to_string()])
            .args(["--messages", &args.messages.to_string(), "--rate", &args.rate.to_string()])
            .arg("--data-dir")
            .arg(dir.join(format!("node{i}")))
            .args(["--network", &network, "--listen", &format!("/ip4/127.0.0.1/tcp/{port}")])
            .args(["--start-ms", &start_ms.to_string()]);
        // A ring plus node 0: every process has two ways in.
        if i > 0 {
            cmd.args(["--bootnode", &addr(0)]);
        }
        if i > 1 {
            cmd.args(["--bootnode", &addr(i - 1)]);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        children.push(cmd.spawn().context("starting a gossip peer process")?);
    }
    let progress = Progress::timed("bench gossip", expected_length(&args, start_ms));
    let mut reports = Vec::new();
    for mut c in children {
        let mut out = String::new();
        if let Some(mut s) = c.stdout.take() {
            s.read_to_string(&mut out)?;
        }
        let status = c.wait()?;
        if !status.success() {
            bail!("a gossip peer exited with {status}");
        }
        let last = out.lines().last().unwrap_or_default();
        reports.push(serde_json::from_str::<PeerReport>(last).context("a gossip peer's report")?);
    }
    progress.finish();
    let _ = std::fs::remove_dir_all(&dir);
    let sent: BTreeMap<u64, u64> = reports.iter().flat_map(|r| r.sent.clone()).collect();
    let mut lat: Vec<f64> = Vec::new();
    for r in &reports {
        for (seq, at) in &r.received {
            if let Some(t0) = sent.get(seq) {
                lat.push(at.saturating_sub(*t0) as f64 / 1000.0);
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    let expected = sent.len() as u64 * (args.nodes as u64 - 1);
    let mean = if lat.is_empty() { 0.0 } else { lat.iter().sum::<f64>() / lat.len() as f64 };
    let report = Report {
        nodes: args.nodes,
        messages: sent.len() as u64,
        deliveries_expected: expected,
        deliveries: lat.len() as u64,
        delivered_fraction: round3(lat.len() as f64 / expected.max(1) as f64),
        p50_ms: round3(quantile(&lat, 0.5)),
        p99_ms: round3(quantile(&lat, 0.99)),
        max_ms: round3(lat.last().copied().unwrap_or(0.0)),
        mean_ms: round3(mean),
    };
    print_report(&report, args.out.json)
}

/// About how long the peers run from now: until publishing starts at
/// `start_ms`, then the busiest peer's share of messages at `--rate`, then the
/// 3 s each peer waits for late arrivals.
fn expected_length(args: &GossipArgs, start_ms: u64) -> Duration {
    let until_start = Duration::from_millis(start_ms.saturating_sub(now_us() / 1000));
    let busiest = args.messages.div_ceil(args.nodes as u64);
    until_start + Duration::from_secs_f64(busiest as f64 / args.rate) + Duration::from_secs(3)
}

struct NoProofs;

impl ProofSource for NoProofs {
    fn by_root(&self, _: &[u8; 32], _: &str, _: usize) -> Vec<Vec<u8>> {
        vec![]
    }
    fn by_range(&self, _: u64, _: u64, _: &[String], _: usize) -> Vec<Vec<u8>> {
        vec![]
    }
}

pub fn peer(args: GossipPeerArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = rt.block_on(async move {
        let key = slotproof_p2p::key::load_or_create(&args.data_dir)?;
        let mut cfg = NetworkConfig::new(args.network.clone());
        cfg.listen = vec![args.listen.parse()?];
        cfg.bootnodes = args.bootnodes.iter().map(|b| b.parse()).collect::<Result<_, _>>()?;
        let (_stop_tx, stop) = watch::channel(false);
        let (client, mut events) = slotproof_p2p::start(key, cfg, Arc::new(NoProofs), stop)?;
        let mut report = PeerReport::default();
        let interval = Duration::from_secs_f64(1.0 / args.rate);
        let mine: Vec<u64> = (0..args.messages).filter(|s| (*s as usize) % args.nodes == args.index).collect();
        let publish_for = interval * mine.len() as u32;
        let start = Duration::from_millis(args.start_ms.saturating_sub(now_us() / 1000));
        let end = tokio::time::Instant::now() + start + publish_for + Duration::from_secs(3);
        let mut next = tokio::time::Instant::now() + start;
        let mut queue = mine.into_iter();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {
                    if let Some(seq) = queue.next() {
                        let task = BlockTask { number: seq, hash: Default::default(), parent_hash: Default::default(), slot: 0, deadline_ms: 0 };
                        report.sent.insert(seq, now_us());
                        // A publish with no mesh yet fails; the receivers count it as not delivered.
                        let _ = client.publish(Topic::Task, wire::encode(&task)).await;
                        next += interval;
                    } else {
                        next = end;
                    }
                }
                ev = events.recv() => {
                    let Some(ev) = ev else { bail!("the network task stopped") };
                    let NetEvent::Gossip(m) = ev else { continue };
                    let at = now_us();
                    let verdict = match wire::decode::<BlockTask>(&m.data, MAX_CONTROL_MESSAGE_BYTES) {
                        Ok(t) if m.topic == Topic::Task => { report.received.entry(t.number).or_insert(at); MessageAcceptance::Accept }
                        _ => MessageAcceptance::Reject,
                    };
                    client.report(m.id, m.from, verdict).await;
                }
            }
            if tokio::time::Instant::now() >= end {
                break;
            }
        }
        anyhow::Ok(report)
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
