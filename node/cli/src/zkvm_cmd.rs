//! `slotproof zkvms | prove | verify | devices`: the provers from the command
//! line (specs/provers.md). A proof file is JSON: the zkVM, the block it is for,
//! the input digest, and the proof bytes in base64.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use slotproof_zkvm::sim::{PROFILES, SimOptions, SimProver};
use slotproof_zkvm::{BlockMeta, CancelToken, ProofArtifact, Prover, ProvingInput, block_input, builtin_prover, stark};

use crate::output::{print_json, print_json_or};

#[derive(Args, Debug, Clone)]
pub struct ZkvmChoice {
    /// A prover name: noop, sleep:<ms>, exec-noop, sim:<profile> (see `slotproof zkvms`).
    #[arg(long)]
    pub zkvm: String,
    /// Seed of a simulated zkVM's draws.
    #[arg(long, default_value_t = 0)]
    pub sim_seed: u64,
    /// Multiplies a simulated zkVM's times (0.25: a 3 s slot standing in for 12 s).
    #[arg(long, default_value_t = 1.0)]
    pub sim_time_scale: f64,
}

impl ZkvmChoice {
    pub fn prover(&self) -> anyhow::Result<Arc<dyn Prover>> {
        if self.zkvm.starts_with("sim:") {
            let opts = SimOptions { seed: self.sim_seed, time_scale: self.sim_time_scale, failure_rate: None };
            if let Some(p) = SimProver::from_name(&self.zkvm, opts) {
                return Ok(Arc::new(p));
            }
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Args, Debug)]
pub struct ZkvmsArgs {
    #[arg(long)]
    json: bool,
}

pub fn zkvms(args: ZkvmsArgs) -> anyhow::Result<()> {
    let mut rows = vec![
        json!({"name": "stark", "kind": "builtin", "simulated": false, "about": "built-in STARK (Plonky3): Keccak-256 of the header RLP is the block hash; not a zkEVM execution proof"}),
        json!({"name": "noop", "kind": "test", "simulated": true, "about": "returns at once; orchestration tests and benchmarks"}),
        json!({"name": "sleep:<ms>", "kind": "test", "simulated": true, "about": "sleeps <ms>, cancellable"}),
        json!({"name": "exec-noop", "kind": "external", "simulated": false, "about": "external adapter running /bin/sh that writes an empty proof"}),
    ];
    for p in PROFILES {
        rows.push(
            json!({"name": format!("sim:{}", p.name), "kind": "simulated", "simulated": true, "about": p.source}),
        );
    }
    if args.json {
        return print_json(&json!({ "zkvms": rows }));
    }
    for r in &rows {
        println!(
            "{:<20} {:<10} {}",
            r["name"].as_str().unwrap_or(""),
            r["kind"].as_str().unwrap_or(""),
            r["about"].as_str().unwrap_or("")
        );
    }
    Ok(())
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
    let query = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=index,name,memory.total,memory.used,utilization.gpu", "--format=csv,noheader,nounits"])
        .output();
    let (gpus, why_none) = match query {
        Err(e) => (vec![], Some(format!("nvidia-smi not available ({e})"))),
        Ok(out) if !out.status.success() => {
            (vec![], Some(format!("nvidia-smi failed: {}", String::from_utf8_lossy(&out.stderr).trim())))
        }
        Ok(out) => (parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout))?, None),
    };
    if args.json {
        return print_json(&json!({ "gpus": gpus, "note": why_none }));
    }
    if gpus.is_empty() {
        println!("no GPU found: {}", why_none.unwrap_or_else(|| "nvidia-smi listed none".into()));
    }
    for g in &gpus {
        println!(
            "gpu {}: {} ({} MiB, {} MiB used, {}% busy)",
            g["index"],
            g["name"].as_str().unwrap_or(""),
            g["memory_mib"],
            g["memory_used_mib"],
            g["utilization_pct"]
        );
    }
    Ok(())
}

fn parse_nvidia_smi(csv: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    csv.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() != 5 {
                bail!("unexpected nvidia-smi line {line:?}");
            }
            let num = |s: &str| s.parse::<u64>().ok();
            Ok(json!({"index": num(f[0]), "name": f[1], "memory_mib": num(f[2]), "memory_used_mib": num(f[3]), "utilization_pct": num(f[4])}))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_lines_parse() {
        let gpus =
            parse_nvidia_smi("0, NVIDIA H100 80GB HBM3, 81559, 0, 0\n1, NVIDIA H100 80GB HBM3, 81559, 1024, 37\n")
                .unwrap();
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[1]["utilization_pct"], 37);
        assert_eq!(gpus[0]["name"], "NVIDIA H100 80GB HBM3");
        assert!(parse_nvidia_smi("garbage").is_err());
    }
}
