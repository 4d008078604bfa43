//! `slotproof bench prover`: one prove and one verify of a block with one
//! zkVM, timed, with the proof's size, the zkVM's cycle count when it has one,
//! (for the built-in STARK) its security level, and the peak memory of this
//! process or of a prover it ran as a child, whichever is larger.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use slotproof_progress::Progress;
use slotproof_zkvm::{CancelToken, stark};

use super::{peak_rss_mb, round3};
use crate::output::{JsonArgs, print_report};
use crate::zkvm_args::{ZkvmChoice, read_block};

#[derive(Args, Debug)]
pub struct ProverBenchArgs {
    /// The block to prove, as eth_getBlockByNumber(n, true) returns it.
    #[arg(long, value_name = "FILE")]
    block: PathBuf,
    // After the flags above: a flattened group's heading applies to what follows it.
    #[command(flatten)]
    zkvm: ZkvmChoice,
    #[command(flatten)]
    out: JsonArgs,
}

pub fn run(args: ProverBenchArgs) -> anyhow::Result<()> {
    let (input, meta) = read_block(&args.block)?;
    let prover = args.zkvm.prover()?;
    // A real zkVM can prove for minutes: say it is still at it.
    let proving = Progress::elapsed(format!("bench prover: proving block {}", meta.number));
    let start = Instant::now();
    let artifact = prover.prove(&input, &CancelToken::new());
    let prove_ms = start.elapsed().as_secs_f64() * 1e3;
    proving.finish();
    let artifact = artifact?;
    let start = Instant::now();
    let verified = prover.verify(&artifact, &input);
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    // Only a real proof system has a security level; simulated and test provers have none.
    let security_bits = match artifact.zkvm.as_str() {
        "stark" => Some(stark::security_bits(stark::header_of_input(&input)?.rlp.len())),
        _ => None,
    };
    let report = json!({
        "zkvm": artifact.zkvm, "block_number": meta.number, "prove_ms": round3(prove_ms),
        "verify_ms": round3(verify_ms), "verified": verified.is_ok(), "proof_bytes": artifact.proof.len(),
        "security_bits": security_bits, "simulated": artifact.simulated, "cycles": artifact.cycles,
        "peak_rss_mb": peak_rss_mb().map(round3),
    });
    print_report(&report, args.out.json)
}
