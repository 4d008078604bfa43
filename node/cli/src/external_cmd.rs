//! `slotproof external prove|verify`: this binary as an external prover,
//! speaking the file contract of specs/provers.md §3. Owns the contract's
//! files and exit codes; which zkVM runs comes from `zkvm_args`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use serde_json::json;
use slotproof_zkvm::external::EXIT_PERMANENT;
use slotproof_zkvm::{CancelToken, ProofArtifact};

use crate::zkvm_args::{ZkvmChoice, read_block};

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
        /// The block to prove ({input}), as eth_getBlockByNumber(n, true) returns it.
        #[arg(long)]
        input: PathBuf,
        /// Where to write the proof JSON ({output}).
        #[arg(long)]
        output: PathBuf,
        // Last: a flattened group's heading applies to what follows it.
        #[command(flatten)]
        zkvm: ZkvmChoice,
    },
    /// Exit 0 when {proof} with {public_values} proves {input}.
    Verify {
        /// The block the proof is for ({input}).
        #[arg(long)]
        input: PathBuf,
        /// The raw proof bytes ({proof}).
        #[arg(long)]
        proof: PathBuf,
        /// The raw public values ({public_values}).
        #[arg(long)]
        public_values: PathBuf,
        #[command(flatten)]
        zkvm: ZkvmChoice,
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
