//! `slotproof payload`: a block's EIP-8025 `NewPayloadRequest` (its root, and
//! its SSZ bytes for a proof-engine request), or the block an SSZ request
//! stands for (specs/proof-engine.md §1).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use slotproof_payload::{NewPayloadRequest, from_block_json, to_block_json};

use crate::output::{JsonArgs, print_json_or};

#[derive(Args)]
pub struct PayloadArgs {
    /// A block as `eth_getBlockByNumber(n, true)` returns it (JSON file).
    #[arg(long, conflicts_with = "ssz", required_unless_present = "ssz")]
    block: Option<PathBuf>,
    /// An SSZ-encoded NewPayloadRequest (any fork's variant, no selector byte).
    #[arg(long)]
    ssz: Option<PathBuf>,
    /// Write the request's SSZ encoding here (with --block).
    #[arg(long, requires = "block")]
    ssz_out: Option<PathBuf>,
    /// Write the block the request stands for here, its header rebuilt and checked (with --ssz).
    #[arg(long, requires = "ssz")]
    block_out: Option<PathBuf>,
    #[command(flatten)]
    output: JsonArgs,
}

pub fn run(args: PayloadArgs) -> anyhow::Result<()> {
    let request = match (&args.block, &args.ssz) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let block: serde_json::Value =
                serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))?;
            slotproof_primitives::Header::from_block_json(
                block.as_object().context("the block file is not a JSON object")?,
            )
            .context("the block's header")?;
            from_block_json(&block).with_context(|| format!("the NewPayloadRequest of {}", path.display()))?
        }
        (None, Some(path)) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            NewPayloadRequest::from_ssz(&bytes).with_context(|| path.display().to_string())?
        }
        (None, None) => anyhow::bail!("give --block or --ssz"),
    };
    let ssz = request.to_ssz()?;
    if let Some(out) = &args.ssz_out {
        std::fs::write(out, &ssz).with_context(|| format!("writing {}", out.display()))?;
    }
    let block = to_block_json(&request).context("rebuilding the block from the request")?;
    if let Some(out) = &args.block_out {
        std::fs::write(out, serde_json::to_vec_pretty(&block)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let root = request.root()?;
    let p = &request.payload;
    let report = json!({
        "block_number": p.block_number,
        "block_hash": p.block_hash.to_string(),
        "fork": request.fork.name(),
        "new_payload_request_root": root.to_string(),
        "ssz_bytes": ssz.len(),
        "transactions": p.transactions.len(),
        "withdrawals": p.withdrawals.len(),
        "versioned_hashes": request.versioned_hashes.len(),
    });
    print_json_or(args.output.json, &report, || {
        format!(
            "block {} ({}): new_payload_request_root {root} ({} bytes of SSZ, {} transactions)",
            p.block_number,
            request.fork,
            ssz.len(),
            p.transactions.len()
        )
    })
}
