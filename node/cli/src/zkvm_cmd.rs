//! `slotproof zkvms | prove | verify | devices`: the provers from the command
//! line (specs/provers.md). A proof file is JSON: the zkVM, the block it is for,
//! the input digest, and the proof bytes in base64. Which zkVM a command runs
//! comes from `zkvm_args`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use slotproof_primitives::hex;
use slotproof_zkvm::sim::PROFILES;
use slotproof_zkvm::slots::SlotKind;
use slotproof_zkvm::{BlockMeta, CancelToken, ProofArtifact, Prover, ProvingInput};
use slotproof_zkvm::{devices, registry};

use crate::output::{JsonArgs, print_json, print_json_or};
use crate::zkvm_args::{ZkvmChoice, ZkvmSetup, read_block};

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
    #[command(flatten)]
    out: JsonArgs,
}

/// Built-in names that can be used without configuring them.
fn builtin_rows() -> Vec<serde_json::Value> {
    let mut rows = vec![
        json!({"name": "stark", "kind": "stark", "simulated": false, "about": "built-in STARK (Plonky3): Keccak-256 of the header RLP is the block hash; not a zkEVM execution proof"}),
        json!({"name": "noop", "kind": "test", "simulated": true, "about": "returns at once; orchestration tests and benchmarks"}),
        json!({"name": "sleep:<ms>", "kind": "test", "simulated": true, "about": "sleeps <ms>, cancellable"}),
        json!({"name": "exec-noop", "kind": "external", "simulated": false, "about": "external adapter running /bin/sh that writes an empty proof"}),
        json!({"name": "risc0", "kind": "risc0", "simulated": false, "about": "RISC Zero (slotproof-risc0) proving the committed header-hash guest: Keccak-256 of the header RLP is the block hash; composite receipts; not a zkEVM execution proof"}),
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
            // A built-in that needs a program says whether it is there.
            if r["name"] == "risc0" {
                r["state"] = match slotproof_zkvm::risc0::find_program() {
                    Ok(_) => json!({"state": "ready"}),
                    Err(why) => json!({"state": "unavailable", "reason": why}),
                };
            }
            rows.push(r);
        }
    }
    if args.out.json {
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
        if let Some(why) = r["state"]["reason"].as_str() {
            println!("  {:<20} unavailable: {why}", "");
        }
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
    /// The block to prove, as eth_getBlockByNumber(n, true) returns it.
    #[arg(long, value_name = "FILE")]
    block: PathBuf,
    /// Where to write the proof file (JSON: zkVM, block, input digest, proof in base64).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    // After the flags above: a flattened group's heading applies to what follows it.
    #[command(flatten)]
    zkvm: ZkvmChoice,
    #[command(flatten)]
    output: JsonArgs,
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
        input_digest: hex::encode(&input.digest),
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
    print_json_or(args.output.json, &summary, || {
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
    /// The block the proof should be for, as eth_getBlockByNumber(n, true) returns it.
    #[arg(long, value_name = "FILE")]
    block: PathBuf,
    /// A proof file written by `slotproof prove`.
    #[arg(long, value_name = "FILE")]
    proof: PathBuf,
    #[command(flatten)]
    zkvm: ZkvmChoice,
    #[command(flatten)]
    out: JsonArgs,
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
    if file.input_digest != hex::encode(&input.digest) {
        bail!(
            "the proof is for another input of block {} (digest {}, expected {})",
            meta.number,
            file.input_digest,
            hex::encode(&input.digest)
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
    print_json_or(args.out.json, &summary, || {
        let label = if file.simulated { ", simulated" } else { "" };
        format!("valid: {} proof of block {} ({}){label}", file.zkvm, meta.number, meta.hash)
    })
}

#[derive(Args, Debug)]
pub struct DevicesArgs {
    #[command(flatten)]
    out: JsonArgs,
}

/// GPU inventory from `nvidia-smi`; "none" is an answer, not an error.
pub fn devices(args: DevicesArgs) -> anyhow::Result<()> {
    let inv = devices::inventory();
    if args.out.json {
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
