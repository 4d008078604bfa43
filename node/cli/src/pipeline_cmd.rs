//! `slotproof pipeline check FILE`: load a pipeline definition and report
//! every problem before anything runs (specs/pipeline.md §2).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use slotproof_pipeline::{PipelineConfig, ProverSet, StageKind};

use crate::output::{JsonArgs, print_json};

#[derive(Args, Debug)]
pub struct PipelineArgs {
    #[command(subcommand)]
    command: PipelineCommand,
}

#[derive(Subcommand, Debug)]
enum PipelineCommand {
    /// Check a pipeline TOML: cycles, unknown queues, missing provers, bad values.
    Check {
        /// The pipeline definition (TOML, specs/pipeline.md §2).
        file: PathBuf,
        #[command(flatten)]
        out: JsonArgs,
    },
}

pub fn run(args: PipelineArgs) -> anyhow::Result<()> {
    match args.command {
        PipelineCommand::Check { file, out } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let provers = ProverSet::default();
            let cfg = PipelineConfig::parse(&text, &|p| provers.knows(p))
                .with_context(|| format!("{} is refused", file.display()))?;
            if out.json {
                let stages: Vec<_> = cfg
                    .stages
                    .iter()
                    .map(|s| {
                        let kind = match &s.kind {
                            StageKind::Dispatcher { prover } => json!({ "dispatcher": prover }),
                            StageKind::Collector { strategy } => json!({ "collector": format!("{strategy:?}") }),
                        };
                        json!({ "name": s.name, "kind": kind, "inputs": s.inputs, "output": s.output, "concurrency": s.concurrency })
                    })
                    .collect();
                print_json(
                    &json!({ "ok": true, "name": cfg.name, "inputs": cfg.inputs, "sinks": cfg.sinks, "stages": stages }),
                )
            } else {
                println!(
                    "{}: ok: pipeline {:?}, {} stages, inputs {:?}, sinks {:?}, ordering {:?}",
                    file.display(),
                    cfg.name,
                    cfg.stages.len(),
                    cfg.inputs,
                    cfg.sinks,
                    cfg.ordering
                );
                Ok(())
            }
        }
    }
}
