//! `slotproof zkvms | prove | verify | devices`: the provers from the command
//! line (specs/provers.md). A proof file is JSON: the zkVM, the block it is for,
//! the input digest, and the proof bytes in base64.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use slotproof_primitives::hex::encode as hex;
use slotproof_zkvm::external::EXIT_PERMANENT;
use slotproof_zkvm::sim::{PROFILES, SimOptions, SimProver};
use slotproof_zkvm::slots::SlotKind;
use slotproof_zkvm::{BlockMeta, CancelToken, ProofArtifact, Prover, ProvingInput, block_input, builtin_prover, stark};
use slotproof_zkvm::{devices, registry};

use crate::output::{print_json, print_json_or};

#[derive(Args, Debug, Clone)]
pub struct ZkvmChoice {
    /// A zkVM name: one configured in --config, or a built-in (stark, noop,
    /// sleep:<ms>, exec-noop, sim:<profile>; see `slotproof zkvms`).
    #[arg(long)]
    pub zkvm: String,
    #[command(flatten)]
    pub setup: ZkvmSetup,
}

/// Where zkVMs come from: `[[zkvm]]` tables, and how simulated ones run.
#[derive(Args, Debug, Clone)]
pub struct ZkvmSetup {
    /// TOML file with `[[zkvm]]` tables (specs/provers.md §7).
    #[arg(long, env = "SLOTPROOF_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seed of a simulated zkVM's draws.
    #[arg(long, default_value_t = 0)]
    pub sim_seed: u64,
    /// Multiplies a simulated zkVM's times (0.25: a 3 s slot standing in for 12 s).
    #[arg(long, default_value_t = 1.0)]
    pub sim_time_scale: f64,
}

impl ZkvmSetup {
    pub fn sim_options(&self) -> SimOptions {
        SimOptions { seed: self.sim_seed, time_scale: self.sim_time_scale, failure_rate: None }
    }

    /// This machine as the registry sees it; one-shot commands keep external
    /// provers' files in a temporary directory.
    pub fn machine(&self, work_dir: PathBuf) -> registry::Machine {
        registry::Machine {
            gpus: devices::inventory().gpus.iter().map(|g| g.index).collect(),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            work_dir,
            sim: self.sim_options(),
        }
    }

    /// The configured entries, or the default set when no config is given.
    pub fn entries(&self) -> anyhow::Result<Vec<registry::ZkvmEntry>> {
        match &self.config {
            Some(path) => Ok(registry::load_entries(path)?),
            None => Ok(registry::default_entries()),
        }
    }
}

impl ZkvmChoice {
    pub fn prover(&self) -> anyhow::Result<Arc<dyn Prover>> {
        let entries = self.setup.entries()?;
        if let Some(entry) = entries.iter().find(|e| e.name == self.zkvm && self.setup.config.is_some()) {
            let work_dir = std::env::temp_dir().join(format!("slotproof-zkvm-{}", std::process::id()));
            let adapter = registry::build(std::slice::from_ref(entry), &self.setup.machine(work_dir))?
                .pop()
                .context("the registry built nothing")?;
            return match (adapter.state, adapter.pool) {
                (registry::AdapterState::Ready, Some(pool)) => Ok(pool),
                (registry::AdapterState::Unavailable(why), _) => bail!("zkVM {:?} is unavailable: {why}", self.zkvm),
                (registry::AdapterState::Ready, None) => bail!("zkVM {:?} has no worker slot", self.zkvm),
            };
        }
        if self.zkvm.starts_with("sim:")
            && let Some(p) = SimProver::from_name(&self.zkvm, self.setup.sim_options())
        {
            return Ok(Arc::new(p));
        }
        builtin_prover(&self.zkvm).with_context(|| format!("unknown zkVM {:?}: see `slotproof zkvms`", self.zkvm))
    }
}

pub fn read_block(path: &Path) -> anyhow::Result<(ProvingInput, BlockMeta)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading block {}", path.display()))?;
    block_input(&bytes).with_context(|| format!("block {}", path.display()))
}

#[derive(Serialize, Deserialize)]
struct ProofFile {
    zkvm: String,
    block_number: u64,
    block_hash: String,
    input_digest: String,
    proof: String,
    public_values: String,
    cycles: Option<u64>,
    proving_ms: u64,
    simulated: bool,
}

#[derive(Args, Debug)]
pub struct ZkvmsArgs {
    #[command(flatten)]
    setup: ZkvmSetup,
    #[arg(long)]
    json: bool,
}

/// Built-in names that can be used without configuring them.
fn builtin_rows() -> Vec<serde_json::Value> {
    let mut rows = vec![
        json!({"name": "stark", "kind": "stark", "simulated": false, "about": "built-in STARK (Plonky3): Keccak-256 of the header RLP is the block hash; not a zkEVM execution proof"}),
        json!({"name": "noop", "kind": "test", "simulated": true, "about": "returns at once; orchestration tests and benchmarks"}),
        json!({"name": "sleep:<ms>", "kind": "test", "simulated": true, "about": "sleeps <ms>, cancellable"}),
        json!({"name": "exec-noop", "kind": "external", "simulated": false, "about": "external adapter running /bin/sh that writes an empty proof"}),
    ];
    for p in PROFILES {
        rows.push(json!({"name": format!("sim:{}", p.name), "kind": "sim", "simulated": true, "about": p.source}));
    }
    rows
}

/// `slotproof zkvms`: the configured adapters (the default set without
/// --config) with their state and worker slots, then the other built-ins.
pub fn zkvms(args: ZkvmsArgs) -> anyhow::Result<()> {
    let work_dir = std::env::temp_dir().join(format!("slotproof-zkvm-{}", std::process::id()));
    let machine = args.setup.machine(work_dir.clone());
    let adapters = registry::build(&args.setup.entries()?, &machine)?;
    let _ = std::fs::remove_dir_all(&work_dir);
    let mut rows: Vec<serde_json::Value> = adapters
        .iter()
        .map(|a| {
            json!({"name": a.name, "kind": a.kind, "simulated": a.simulated, "configured": true,
                "state": a.state, "slots": a.slots, "notes": a.notes})
        })
        .collect();
    for mut r in builtin_rows() {
        if adapters.iter().all(|a| r["name"] != a.name.as_str()) {
            r["configured"] = false.into();
            rows.push(r);
        }
    }
    if args.json {
        return print_json(&json!({ "zkvms": rows, "gpus": machine.gpus, "cores": machine.cores }));
    }
    for a in &adapters {
        let state = match &a.state {
            registry::AdapterState::Ready => "ready".to_string(),
            registry::AdapterState::Unavailable(why) => format!("unavailable: {why}"),
        };
        println!(
            "{:<22} {:<9} {:<12} {}",
            a.name,
            format!("{:?}", a.kind).to_lowercase(),
            slot_summary(&a.slots),
            state
        );
        for n in &a.notes {
            println!("{:<22} note: {n}", "");
        }
    }
    println!("\nalso available by name:");
    for r in rows.iter().filter(|r| r["configured"] == false) {
        println!("  {:<20} {}", r["name"].as_str().unwrap_or(""), r["about"].as_str().unwrap_or(""));
    }
    Ok(())
}

fn slot_summary(slots: &[SlotKind]) -> String {
    let gpus: Vec<String> =
        slots.iter().filter_map(|s| if let SlotKind::Gpu(g) = s { Some(g.to_string()) } else { None }).collect();
    let cpus = slots.iter().filter(|s| **s == SlotKind::Cpu).count();
    let virt = slots.iter().filter(|s| **s == SlotKind::Virtual).count();
    let mut parts = Vec::new();
    if !gpus.is_empty() {
        parts.push(format!("gpu {}", gpus.join(",")));
    }
    if cpus > 0 {
        parts.push(format!("{cpus} cpu"));
    }
    if virt > 0 {
        parts.push(format!("{virt} virtual"));
    }
    if parts.is_empty() { "no slots".into() } else { parts.join(" + ") }
}

#[derive(Args, Debug)]
pub struct ProveArgs {
    #[command(flatten)]
    zkvm: ZkvmChoice,
    /// The block as eth_getBlockByNumber(n, true) returns it.
    #[arg(long)]
    block: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn prove(args: ProveArgs) -> anyhow::Result<()> {
    let (input, meta) = read_block(&args.block)?;
    let prover = args.zkvm.prover()?;
    let artifact = prover
        .prove(&input, &CancelToken::new())
        .with_context(|| format!("{} failed on block {}", args.zkvm.zkvm, meta.number))?;
    let file = ProofFile {
        zkvm: artifact.zkvm.clone(),
        block_number: meta.number,
        block_hash: meta.hash.clone(),
        input_digest: hex(&input.digest),
        proof: BASE64.encode(&artifact.proof),
        public_values: BASE64.encode(&artifact.public_values),
        cycles: artifact.cycles,
        proving_ms: artifact.proving_time.as_millis().max(1) as u64,
        simulated: artifact.simulated,
    };
    std::fs::write(&args.out, serde_json::to_vec_pretty(&file)?)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let summary = json!({"zkvm": file.zkvm, "block_number": meta.number, "block_hash": meta.hash, "proof_bytes": artifact.proof.len(),
        "proving_ms": file.proving_ms, "simulated": file.simulated, "out": args.out});
    print_json_or(args.json, &summary, || {
        let label = if file.simulated { " (simulated)" } else { "" };
        let bytes = artifact.proof.len();
        format!(
            "proved block {} with {}: {bytes} bytes in {} ms{label} -> {}",
            meta.number,
            file.zkvm,
            file.proving_ms,
            args.out.display()
        )
    })
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    zkvm: ZkvmChoice,
    #[arg(long)]
    block: PathBuf,
    #[arg(long)]
    proof: PathBuf,
    #[arg(long)]
    json: bool,
}

/// Checks a proof file against a block; Err says what does not match.
fn check(
    prover: &dyn Prover,
    zkvm: &str,
    input: &ProvingInput,
    meta: &BlockMeta,
    file: &ProofFile,
) -> anyhow::Result<()> {
    if file.zkvm != zkvm {
        bail!("the proof is from zkVM {:?}, not {zkvm:?}", file.zkvm);
    }
    if file.block_number != meta.number || file.block_hash != meta.hash {
        bail!(
            "the proof is for block {} ({}), not block {} ({})",
            file.block_number,
            file.block_hash,
            meta.number,
            meta.hash
        );
    }
    if file.input_digest != hex(&input.digest) {
        bail!(
            "the proof is for another input of block {} (digest {}, expected {})",
            meta.number,
            file.input_digest,
            hex(&input.digest)
        );
    }
    let artifact = ProofArtifact {
        zkvm: file.zkvm.clone(),
        proof: BASE64.decode(&file.proof).context("proof field is not base64")?,
        public_values: BASE64.decode(&file.public_values).context("public_values field is not base64")?,
        cycles: file.cycles,
        proving_time: std::time::Duration::from_millis(file.proving_ms),
        simulated: file.simulated,
    };
    prover.verify(&artifact, input)?;
    Ok(())
}

fn read_proof(path: &Path) -> anyhow::Result<ProofFile> {
    let bytes = std::fs::read(path).with_context(|| format!("reading proof {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("proof {} is not a slotproof proof file", path.display()))
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let (input, meta) = read_block(&args.block)?;
    let prover = args.zkvm.prover()?;
    let file = read_proof(&args.proof)?;
    check(prover.as_ref(), &prover.identity().name, &input, &meta, &file)
        .with_context(|| format!("proof {} is invalid", args.proof.display()))?;
    let summary =
        json!({"verified": true, "simulated": file.simulated, "zkvm": file.zkvm, "block_number": meta.number});
    print_json_or(args.json, &summary, || {
        let label = if file.simulated { ", simulated" } else { "" };
        format!("valid: {} proof of block {} ({}){label}", file.zkvm, meta.number, meta.hash)
    })
}

/// `slotproof bench prover`: one prove and one verify of a block.
pub fn bench(zkvm: &ZkvmChoice, block: &Path) -> anyhow::Result<serde_json::Value> {
    let (input, meta) = read_block(block)?;
    let prover = zkvm.prover()?;
    let start = Instant::now();
    let artifact = prover.prove(&input, &CancelToken::new())?;
    let prove_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    let verified = prover.verify(&artifact, &input);
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    // Only a real proof system has a security level; simulated and test provers have none.
    let security_bits = match artifact.zkvm.as_str() {
        "stark" => Some(stark::security_bits(stark::header_of_input(&input)?.rlp.len())),
        _ => None,
    };
    Ok(json!({
        "zkvm": artifact.zkvm, "block_number": meta.number, "prove_ms": crate::bench::round3(prove_ms),
        "verify_ms": crate::bench::round3(verify_ms), "verified": verified.is_ok(), "proof_bytes": artifact.proof.len(),
        "security_bits": security_bits, "simulated": artifact.simulated,
        "peak_rss_mb": crate::bench::peak_rss_mb().map(crate::bench::round3),
    }))
}

#[derive(Args, Debug)]
pub struct DevicesArgs {
    #[arg(long)]
    json: bool,
}

/// GPU inventory from `nvidia-smi`; "none" is an answer, not an error.
pub fn devices(args: DevicesArgs) -> anyhow::Result<()> {
    let inv = devices::inventory();
    if args.json {
        return print_json(&json!({ "gpus": inv.gpus, "note": inv.note }));
    }
    if inv.gpus.is_empty() {
        println!("no GPU found: {}", inv.note.unwrap_or_default());
    }
    for g in &inv.gpus {
        let opt = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
        println!(
            "gpu {}: {} ({} MiB, {} MiB used, {}% busy)",
            g.index,
            g.name,
            opt(g.memory_mib),
            opt(g.memory_used_mib),
            opt(g.utilization_pct)
        );
    }
    Ok(())
}

/// `slotproof external prove|verify`: this binary as an external prover,
/// speaking the file contract of specs/provers.md §3. Lets a built-in run in a
/// process of its own (another machine's slot, a container) and is how the
/// external adapter is tested against a prover that really proves.
#[derive(Args, Debug)]
pub struct ExternalArgs {
    #[command(subcommand)]
    command: ExternalCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ExternalCommand {
    /// Read {input} (block JSON), write {output} ({proof, public_values, cycles, proving_time_ms}).
    Prove {
        #[command(flatten)]
        zkvm: ZkvmChoice,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
    },
    /// Exit 0 when {proof} with {public_values} proves {input}.
    Verify {
        #[command(flatten)]
        zkvm: ZkvmChoice,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        proof: PathBuf,
        #[arg(long)]
        public_values: PathBuf,
    },
}

/// Runs the contract; a bad input exits with EXIT_PERMANENT so the calling
/// node dead-letters instead of retrying.
pub fn external(args: ExternalArgs) -> anyhow::Result<ExitCode> {
    let permanent = |e: anyhow::Error| {
        eprintln!("error: {e:#}");
        Ok(ExitCode::from(EXIT_PERMANENT as u8))
    };
    match args.command {
        ExternalCommand::Prove { zkvm, input, output } => {
            let (input, _) = match read_block(&input) {
                Ok(block) => block,
                Err(e) => return permanent(e),
            };
            let prover = zkvm.prover()?;
            let artifact = match prover.prove(&input, &CancelToken::new()) {
                Ok(a) => a,
                Err(e) if e.is_transient() => return Err(e.into()),
                Err(e) => return permanent(e.into()),
            };
            let file = json!({
                "proof": BASE64.encode(&artifact.proof),
                "public_values": BASE64.encode(&artifact.public_values),
                "cycles": artifact.cycles,
                "proving_time_ms": artifact.proving_time.as_millis().max(1) as u64,
            });
            std::fs::write(&output, serde_json::to_vec(&file)?)
                .with_context(|| format!("writing {}", output.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        ExternalCommand::Verify { zkvm, input, proof, public_values } => {
            let (input, _) = read_block(&input)?;
            let prover = zkvm.prover()?;
            let artifact = ProofArtifact {
                zkvm: prover.identity().name.clone(),
                proof: std::fs::read(&proof).with_context(|| format!("reading {}", proof.display()))?,
                public_values: std::fs::read(&public_values)
                    .with_context(|| format!("reading {}", public_values.display()))?,
                cycles: None,
                proving_time: std::time::Duration::ZERO,
                simulated: false,
            };
            prover.verify(&artifact, &input)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
