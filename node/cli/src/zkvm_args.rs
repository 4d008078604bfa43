//! Which zkVM a one-shot command runs (`prove`, `verify`, `external`, `bench
//! prover`): the `--zkvm` name, the `[[zkvm]]` tables it may come from, the
//! simulation knobs, and the block file it reads. Owns turning those flags into
//! a ready `Prover`; never proves or prints anything itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use slotproof_zkvm::sim::{SimOptions, SimProver};
use slotproof_zkvm::{BlockMeta, Prover, ProvingInput, block_input, builtin_prover};
use slotproof_zkvm::{devices, registry};

/// One zkVM by name, and where its configuration comes from.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "zkVM")]
pub struct ZkvmChoice {
    /// A zkVM name: one configured in --config, or a built-in (stark, noop,
    /// sleep:<ms>, exec-noop, sim:<profile>; see `slotproof zkvms`).
    #[arg(long)]
    pub zkvm: String,
    #[command(flatten)]
    pub setup: ZkvmSetup,
}

// Where zkVMs come from: `[[zkvm]]` tables, and how simulated ones run. (A plain
// comment: a doc comment on a flattened group becomes the command's description.)
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "zkVM")]
pub struct ZkvmSetup {
    /// TOML file with `[[zkvm]]` tables (specs/provers.md §7).
    #[arg(long, env = "SLOTPROOF_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seed of a simulated zkVM's draws: the same seed gives the same times and failures.
    #[arg(long, default_value_t = SimOptions::default().seed)]
    pub sim_seed: u64,
    /// Multiplies a simulated zkVM's times (0.25: a 3 s slot standing in for 12 s).
    #[arg(long, default_value_t = SimOptions::default().time_scale)]
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
    /// The named zkVM: the `[[zkvm]]` entry of that name when `--config` is given
    /// and has one, else a simulated profile or a built-in.
    pub fn prover(&self) -> anyhow::Result<Arc<dyn Prover>> {
        let entries = self.setup.entries()?;
        let configured = entries.into_iter().find(|e| e.name == self.zkvm && self.setup.config.is_some());
        // `risc0` unconfigured: the committed guest through slotproof-risc0.
        let entry = configured.or_else(|| {
            (self.zkvm == "risc0").then(|| registry::ZkvmEntry { name: self.zkvm.clone(), ..Default::default() })
        });
        if let Some(entry) = entry {
            let work_dir = std::env::temp_dir().join(format!("slotproof-zkvm-{}", std::process::id()));
            let adapter = registry::build(std::slice::from_ref(&entry), &self.setup.machine(work_dir))?
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

/// A block file, as `eth_getBlockByNumber(n, true)` returns it, made into proving input.
pub fn read_block(path: &Path) -> anyhow::Result<(ProvingInput, BlockMeta)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading block {}", path.display()))?;
    block_input(&bytes).with_context(|| format!("block {}", path.display()))
}
