//! `slotproof node`, `slotproof devchain`, `slotproof status`, `slotproof config init`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use slotproof_chain::devchain::DevChain;
use slotproof_orchestrator::{DEFAULT_CONFIG_TOML, NodeConfig};
use slotproof_primitives::duration::parse_duration;
use tokio::sync::watch;
use tracing::info;

use crate::duration_arg::DurationArg;
use crate::node_args::NodeArgs;
use crate::output::{JsonArgs, print_json, print_json_or};

/// A runtime whose shutdown flips on SIGINT or SIGTERM.
pub(crate) fn with_signals<T>(f: impl AsyncFnOnce(watch::Receiver<bool>) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => info!(target: "slotproof", "SIGINT"),
                _ = term.recv() => info!(target: "slotproof", "SIGTERM"),
            }
            let _ = tx.send(true);
        });
        f(rx).await
    })
}

pub fn node(args: NodeArgs) -> anyhow::Result<()> {
    let cfg = args.config()?;
    let report = with_signals(async |shutdown| Ok(slotproof_orchestrator::run(cfg, shutdown).await?))?;
    let met = report.blocks.iter().filter(|b| b.deadline_met).count();
    info!(target: "slotproof", blocks = report.blocks.len(), deadline_met = met, "node stopped");
    Ok(())
}

#[derive(Args, Debug)]
pub struct DevchainArgs {
    /// Where to serve JSON-RPC (HTTP and WebSocket on the same port).
    #[arg(long, default_value = "127.0.0.1:8545")]
    listen: SocketAddr,
    /// Slot length: one block every slot, e.g. 12s, 3s, 500ms.
    #[arg(long, default_value_t = NodeConfig::default().slot_time.into())]
    slot_time: DurationArg,
    /// Keeps the replay position here, so a restart continues.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Announce at most this many blocks, then keep serving them.
    #[arg(long)]
    blocks: Option<usize>,
    /// Wait this long before the first block (lets nodes start and connect).
    #[arg(long)]
    start_delay: Option<DurationArg>,
}

/// `slotproof devchain`: the embedded dev chain alone, for several nodes to share.
pub fn devchain(args: DevchainArgs) -> anyhow::Result<()> {
    if let Some(d) = &args.data_dir {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let position = args.data_dir.as_ref().map(|d| d.join("devchain.position"));
    with_signals(async |shutdown| {
        let chain = DevChain::embedded(args.slot_time.0, position)?;
        if let Some(n) = args.blocks {
            chain.set_limit(n);
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let (producer, delay) = (chain.clone(), args.start_delay.map(|d| d.0).unwrap_or_default());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            producer.produce(stop).await;
        });
        chain.serve(listener, shutdown).await?;
        Ok(())
    })
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The node's HTTP listener.
    #[arg(long = "http", env = "SLOTPROOF_HTTP", default_value = slotproof_orchestrator::config::DEFAULT_HTTP)]
    addr: SocketAddr,
    #[command(flatten)]
    out: JsonArgs,
}

/// A GET over plain HTTP/1.1: enough for our own listener, no client stack.
fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .with_context(|| format!("no slotproof node listening on {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("{path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_string())
}

/// `slotproof status`: the recent-blocks table of a running node.
pub fn status(args: StatusArgs) -> anyhow::Result<()> {
    let body = http_get(args.addr, "/status")?;
    let v: Value = serde_json::from_str(&body).context("the node's /status is not JSON")?;
    if args.out.json {
        return print_json(&v);
    }
    println!(
        "rpc {} ({}), head {}",
        v["rpc_url"].as_str().unwrap_or("?"),
        if v["rpc_up"] == true { "up" } else { "DOWN" },
        v["head"]["number"].as_u64().map_or("-".into(), |n| n.to_string())
    );
    if let Some(net) = v["network"].as_object() {
        let peers = net.get("peers").and_then(Value::as_array).map_or(0, Vec::len);
        println!(
            "network: node {}, {peers} peers connected, {} provers live",
            net.get("node_id").and_then(Value::as_str).unwrap_or("?"),
            net.get("live_provers").and_then(Value::as_u64).unwrap_or(0)
        );
    }
    println!("{:>10}  {:<12} {:>8}  {:<9} proofs", "block", "hash", "slot", "deadline");
    for b in v["recent_blocks"].as_array().into_iter().flatten() {
        let proofs: Vec<String> = b["proofs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let ms = p["proving_ms"].as_u64().map_or(String::new(), |ms| format!(" {:.2}s", ms as f64 / 1e3));
                format!("{} {}{ms}", p["zkvm"].as_str().unwrap_or("?"), p["status"].as_str().unwrap_or("?"))
            })
            .chain(b["network_proofs"].as_array().into_iter().flatten().map(|p| {
                let node = p["node"].as_str().unwrap_or("?");
                let short = node.get(node.len().saturating_sub(6)..).unwrap_or(node);
                let ok = if p["verified"] == true { "verified" } else { "unverified" };
                format!("{} by …{short} {ok}", p["zkvm"].as_str().unwrap_or("?"))
            }))
            .collect();
        let deadline = match (b["closed"].as_bool(), b["deadline_met"].as_bool()) {
            (Some(false), _) => "open",
            (_, Some(true)) => "met",
            _ => "missed",
        };
        println!(
            "{:>10}  {:<12} {:>8}  {:<9} {}",
            b["block_number"].as_u64().unwrap_or(0),
            b["block_hash"].as_str().and_then(|h| h.get(..12)).unwrap_or(""),
            b["slot"].as_u64().unwrap_or(0),
            deadline,
            proofs.join(", ")
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Write a commented default config.
    Init {
        /// Where to write it; refuses to overwrite.
        #[arg(long, default_value = "slotproof.toml")]
        out: PathBuf,
        #[command(flatten)]
        output: JsonArgs,
    },
}

pub fn config(args: ConfigArgs) -> anyhow::Result<()> {
    match args.command {
        ConfigCommand::Init { out, output } => {
            if out.exists() {
                bail!("{} exists; not overwriting it", out.display());
            }
            std::fs::write(&out, DEFAULT_CONFIG_TOML).with_context(|| format!("writing {}", out.display()))?;
            print_json_or(output.json, &serde_json::json!({"written": out}), || format!("wrote {}", out.display()))
        }
    }
}

#[derive(Args, Debug)]
pub struct ResultsArgs {
    /// The stopped node's data directory; its block records live in `<data-dir>/results`.
    #[arg(long, env = "SLOTPROOF_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    out: JsonArgs,
}

/// `slotproof results`: every block record of a stopped node.
pub fn results(args: ResultsArgs) -> anyhow::Result<()> {
    if !args.data_dir.join("results").exists() {
        bail!("no slotproof results at {}", args.data_dir.join("results").display());
    }
    let store = slotproof_orchestrator::results::ResultStore::open(&args.data_dir)?;
    let records = store.all()?;
    let blocks: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut v = slotproof_orchestrator::summary_of(r);
            v["closed"] = r.closed.into();
            v["orphaned"] = r.orphaned.into();
            v
        })
        .collect();
    if args.out.json {
        return print_json(&serde_json::json!({ "blocks": blocks }));
    }
    for (r, v) in records.iter().zip(&blocks) {
        let proved = v["proofs"].as_array().map_or(0, |p| p.iter().filter(|p| p["status"] == "proved").count());
        println!(
            "{:>10} {} slot {:>6} {}{} proofs {proved}/{}",
            r.block_number,
            r.block_hash,
            r.slot,
            if r.deadline_met {
                "met"
            } else if r.closed {
                "missed"
            } else {
                "open"
            },
            if r.orphaned { " orphaned" } else { "" },
            r.zkvms.len()
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct EthproofsServerArgs {
    /// Where to serve the API (its base URL is http://<listen>/api/v0).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the server keeps teams, clusters and proofs across restarts.
    #[arg(long)]
    data_dir: PathBuf,
    /// An API key; repeat for several teams (one team per key). Visible to
    /// other users in `ps`: prefer --api-keys-file or
    /// SLOTPROOF_ETHPROOFS_API_KEYS (comma-separated). Keys from every source
    /// are used; at least one is needed.
    #[arg(long = "api-key")]
    api_keys: Vec<String>,
    /// A file of API keys, one per line; blank lines and `#` comments are skipped.
    #[arg(long)]
    api_keys_file: Option<PathBuf>,
    /// Requests per window per key for the status calls and GET /proofs, e.g. 60/60s.
    #[arg(long, default_value = "60/60s")]
    rate_limit: String,
    /// Execution RPC for block facts (`GET /blocks/{block}`), e.g. a dev chain.
    #[arg(long)]
    rpc_url: Option<String>,
}

/// `slotproof ethproofs-server`: an Ethproofs-compatible service for testnets.
pub fn ethproofs_server(args: EthproofsServerArgs) -> anyhow::Result<()> {
    let (n, window) = args.rate_limit.split_once('/').context("--rate-limit is N/DURATION, e.g. 60/60s")?;
    let rate_limit = slotproof_ethproofs_server::RateLimit {
        requests: n.trim().parse().context("--rate-limit: N must be a positive integer")?,
        window: parse_duration(window).map_err(anyhow::Error::msg)?,
    };
    if rate_limit.requests == 0 || rate_limit.window.is_zero() {
        bail!("--rate-limit must allow at least one request per non-zero window");
    }
    let env_keys = match std::env::var(slotproof_ethproofs_server::API_KEYS_ENV) {
        Ok(keys) => Some(keys),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => bail!("{} is not UTF-8", slotproof_ethproofs_server::API_KEYS_ENV),
    };
    let api_keys = slotproof_ethproofs_server::api_keys(&slotproof_ethproofs_server::KeySources {
        args: &args.api_keys,
        file: args.api_keys_file.as_deref(),
        env: env_keys.as_deref(),
    })?;
    let state = slotproof_ethproofs_server::state(slotproof_ethproofs_server::ServerConfig {
        data_dir: args.data_dir,
        api_keys,
        rate_limit,
        rpc_url: args.rpc_url,
    })?;
    with_signals(async |shutdown| {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        slotproof_ethproofs_server::serve(listener, state, shutdown).await?;
        Ok(())
    })
}
