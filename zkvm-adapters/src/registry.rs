//! The zkVMs a node is configured with (`[[zkvm]]` tables, specs/provers.md §7),
//! turned into slot pools that are ready to prove, or marked unavailable with
//! the reason (no GPU, command not installed) so the node can say so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slotproof_primitives::duration::parse_duration;

pub use crate::error::RegistryError;
use crate::external::{ExternalConfig, ExternalProver};
use crate::prover::{Prover, ZkvmIdentity};
use crate::risc0;
use crate::sim::{SimOptions, SimProfile, SimProver};
use crate::slots::{SlotKind, SlotPool};
use crate::stark::StarkProver;

/// Timeout of an external prover when the entry gives none: a proof later
/// than this has missed several slots anyway.
pub const DEFAULT_EXTERNAL_TIMEOUT: Duration = Duration::from_secs(120);
/// Virtual slots of a simulated zkVM: a cluster that proves a few blocks at once.
pub const DEFAULT_SIM_SLOTS: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    External,
    Stark,
    Sim,
    Risc0,
    /// Someone's ere-server, over Twirp (specs/provers.md §9).
    Ere,
    /// A zkboost-compatible proof engine, over HTTP and SSE (specs/provers.md §10).
    Zkboost,
}

impl AdapterKind {
    /// The name config files and the proof-engine API use.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterKind::External => "external",
            AdapterKind::Stark => "stark",
            AdapterKind::Sim => "sim",
            AdapterKind::Risc0 => "risc0",
            AdapterKind::Ere => "ere",
            AdapterKind::Zkboost => "zkboost",
        }
    }
}

/// One `[[zkvm]]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZkvmEntry {
    /// How the node and the network call it (`sp1`, `stark`, `sim:pico-prism`).
    pub name: String,
    /// Inferred when absent: `stark` → stark, `risc0` → risc0, `sim:*` → sim, else external.
    pub kind: Option<AdapterKind>,
    pub version: Option<String>,
    /// EIP-8025 proof type byte of an external zkVM.
    pub proof_type: Option<u8>,
    #[serde(default)]
    pub command: Vec<String>,
    pub verify_command: Option<Vec<String>>,
    pub timeout: Option<String>,
    /// External zkVMs: one GPU per slot (`CUDA_VISIBLE_DEVICES` pinned).
    #[serde(default)]
    pub gpu: bool,
    pub slots_per_gpu: Option<u32>,
    /// CPU slots of a CPU-only adapter (at most the machine's cores).
    pub cpu_slots: Option<u32>,
    /// Virtual slots of a simulated zkVM.
    pub slots: Option<u32>,
    /// Simulated zkVMs: overrides the profile's failure rate.
    pub failure_rate: Option<f64>,
    /// RISC Zero zkVMs: the guest ELF (default: the committed header-hash guest).
    pub elf: Option<PathBuf>,
    /// RISC Zero and ere zkVMs: what the guest reads (`header-rlp`, the default, or `block-json`).
    pub input: Option<risc0::InputEncoding>,
    /// ere and zkboost zkVMs: the server's URL.
    pub url: Option<String>,
    /// zkboost: the proof type asked of the endpoint (required). ere: the
    /// zkboost proof type (EL/zkVM combination) the server's guest proves, if any.
    pub zkboost_proof_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    zkvm: Vec<ZkvmEntry>,
}

/// Reads the `[[zkvm]]` tables of a TOML file (other tables are left to their owners).
pub fn load_entries(path: &Path) -> Result<Vec<ZkvmEntry>, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read { path: path.into(), source })?;
    let file: ConfigFile =
        toml::from_str(&text).map_err(|source| RegistryError::Parse { path: Some(path.into()), source })?;
    Ok(file.zkvm)
}

/// The `[[zkvm]]` tables of TOML text that is not a file of its own (a flag's value).
pub fn parse_entries(text: &str) -> Result<Vec<ZkvmEntry>, RegistryError> {
    let file: ConfigFile = toml::from_str(text).map_err(|source| RegistryError::Parse { path: None, source })?;
    Ok(file.zkvm)
}

/// With no `[[zkvm]]` configured: the built-in STARK prover and the two
/// real-time-class simulated zkVMs.
pub fn default_entries() -> Vec<ZkvmEntry> {
    ["stark", "sim:sp1-hypercube", "sim:pico-prism"]
        .into_iter()
        .map(|name| ZkvmEntry { name: name.into(), ..ZkvmEntry::default() })
        .collect()
}

/// What the machine offers and how simulated zkVMs run.
#[derive(Clone, Debug)]
pub struct Machine {
    pub gpus: Vec<u32>,
    pub cores: usize,
    /// External adapters put their files under `<work_dir>/<name>`.
    pub work_dir: PathBuf,
    pub sim: SimOptions,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum AdapterState {
    Ready,
    Unavailable(String),
}

pub struct Adapter {
    pub name: String,
    pub kind: AdapterKind,
    pub simulated: bool,
    pub state: AdapterState,
    /// Set when ready.
    pub pool: Option<Arc<SlotPool>>,
    pub slots: Vec<SlotKind>,
    /// Notes for the operator (a clamped slot count, …).
    pub notes: Vec<String>,
}

fn entry_err(e: &ZkvmEntry, message: impl Into<String>) -> RegistryError {
    RegistryError::Entry { name: e.name.clone(), message: message.into() }
}

/// Checks every entry and builds its slots. Config mistakes are errors; facts
/// about this machine (no GPU, command not installed) make an adapter unavailable.
pub fn build(entries: &[ZkvmEntry], machine: &Machine) -> Result<Vec<Adapter>, RegistryError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let name_ok = !e.name.is_empty()
            && e.name.len() <= 64
            && e.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if !name_ok {
            return Err(entry_err(e, "name must be 1-64 of A-Z a-z 0-9 _ . : -"));
        }
        if !seen.insert(e.name.as_str()) {
            return Err(entry_err(e, "configured twice"));
        }
        let kind = e.kind.unwrap_or(if e.name == "stark" {
            AdapterKind::Stark
        } else if e.name == "risc0" {
            AdapterKind::Risc0
        } else if e.name.starts_with("sim:") {
            AdapterKind::Sim
        } else {
            AdapterKind::External
        });
        for (set, field) in [(e.slots_per_gpu, "slots_per_gpu"), (e.cpu_slots, "cpu_slots"), (e.slots, "slots")] {
            if set == Some(0) {
                return Err(entry_err(e, format!("{field} must be at least 1")));
            }
        }
        out.push(match kind {
            AdapterKind::External => external(e, machine)?,
            AdapterKind::Stark => stark(e, machine)?,
            AdapterKind::Sim => sim(e, machine)?,
            AdapterKind::Risc0 => risc0(e, machine)?,
            AdapterKind::Ere => ere(e)?,
            AdapterKind::Zkboost => zkboost(e)?,
        });
    }
    Ok(out)
}

fn refuse_fields(e: &ZkvmEntry, kind: &str, fields: &[(&str, bool)]) -> Result<(), RegistryError> {
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(entry_err(e, format!("{field} does not apply to a {kind} zkVM"))),
        None => Ok(()),
    }
}

fn cpu_slots(e: &ZkvmEntry, machine: &Machine, notes: &mut Vec<String>) -> u32 {
    let cores = u32::try_from(machine.cores.max(1)).unwrap_or(u32::MAX);
    let wanted = e.cpu_slots.unwrap_or(1);
    if wanted > cores {
        notes.push(format!("cpu_slots {wanted} lowered to the machine's {cores} cores"));
    }
    wanted.min(cores)
}

/// How long one proof of a process-backed zkVM (external, risc0) may run: the
/// entry's `timeout`, else its kind's default; `None` for in-process kinds.
pub fn process_timeout(e: &ZkvmEntry, kind: AdapterKind) -> Result<Option<Duration>, RegistryError> {
    match kind {
        AdapterKind::External => timeout_or(e, DEFAULT_EXTERNAL_TIMEOUT).map(Some),
        AdapterKind::Risc0 => timeout_or(e, risc0::DEFAULT_TIMEOUT).map(Some),
        AdapterKind::Ere => timeout_or(e, crate::ere::DEFAULT_TIMEOUT).map(Some),
        AdapterKind::Zkboost => timeout_or(e, crate::zkboost::DEFAULT_TIMEOUT).map(Some),
        AdapterKind::Stark | AdapterKind::Sim => Ok(None),
    }
}

fn timeout_or(e: &ZkvmEntry, default: Duration) -> Result<Duration, RegistryError> {
    match &e.timeout {
        Some(t) => parse_duration(t).map_err(|source| RegistryError::Timeout { name: e.name.clone(), source }),
        None => Ok(default),
    }
}

const NO_GPU: &str = "needs a GPU and this machine has none";

/// `gpu`, `slots_per_gpu` and `cpu_slots` of a process-backed zkVM agree.
fn check_slot_fields(e: &ZkvmEntry) -> Result<(), RegistryError> {
    if e.gpu && e.cpu_slots.is_some() {
        return Err(entry_err(e, "cpu_slots does not apply with gpu = true (use slots_per_gpu)"));
    }
    if !e.gpu && e.slots_per_gpu.is_some() {
        return Err(entry_err(e, "slots_per_gpu needs gpu = true"));
    }
    Ok(())
}

/// The GPU each slot is pinned to (`None`: a CPU slot); `None` when the entry
/// wants GPUs and the machine has none.
fn slot_pins(e: &ZkvmEntry, machine: &Machine, notes: &mut Vec<String>) -> Option<Vec<Option<u32>>> {
    if !e.gpu {
        return Some(vec![None; cpu_slots(e, machine, notes) as usize]);
    }
    if machine.gpus.is_empty() {
        return None;
    }
    let per = e.slots_per_gpu.unwrap_or(1) as usize;
    Some(machine.gpus.iter().flat_map(|g| std::iter::repeat_n(Some(*g), per)).collect())
}

fn ready(
    e: &ZkvmEntry,
    kind: AdapterKind,
    simulated: bool,
    slots: Vec<(SlotKind, Arc<dyn Prover>)>,
    notes: Vec<String>,
) -> Result<Adapter, RegistryError> {
    let pool = SlotPool::new(slots).map_err(|err| entry_err(e, err.to_string()))?;
    Ok(Adapter {
        name: e.name.clone(),
        kind,
        simulated,
        state: AdapterState::Ready,
        slots: pool.kinds(),
        pool: Some(Arc::new(pool)),
        notes,
    })
}

fn unavailable(e: &ZkvmEntry, kind: AdapterKind, reason: String) -> Adapter {
    Adapter {
        name: e.name.clone(),
        kind,
        simulated: false,
        state: AdapterState::Unavailable(reason),
        pool: None,
        slots: vec![],
        notes: vec![],
    }
}

fn stark(e: &ZkvmEntry, machine: &Machine) -> Result<Adapter, RegistryError> {
    refuse_fields(
        e,
        "stark",
        &[
            ("command", !e.command.is_empty()),
            ("verify_command", e.verify_command.is_some()),
            ("gpu", e.gpu),
            ("slots_per_gpu", e.slots_per_gpu.is_some()),
            ("slots", e.slots.is_some()),
            ("failure_rate", e.failure_rate.is_some()),
            ("proof_type", e.proof_type.is_some()),
            ("elf", e.elf.is_some()),
            ("input", e.input.is_some()),
            ("url", e.url.is_some()),
            ("zkboost_proof_type", e.zkboost_proof_type.is_some()),
        ],
    )?;
    let mut notes = Vec::new();
    let n = cpu_slots(e, machine, &mut notes);
    let slots = (0..n).map(|_| (SlotKind::Cpu, Arc::new(StarkProver::default()) as Arc<dyn Prover>)).collect();
    ready(e, AdapterKind::Stark, false, slots, notes)
}

fn sim(e: &ZkvmEntry, machine: &Machine) -> Result<Adapter, RegistryError> {
    refuse_fields(
        e,
        "simulated",
        &[
            ("command", !e.command.is_empty()),
            ("verify_command", e.verify_command.is_some()),
            ("gpu", e.gpu),
            ("slots_per_gpu", e.slots_per_gpu.is_some()),
            ("cpu_slots", e.cpu_slots.is_some()),
            ("proof_type", e.proof_type.is_some()),
            ("elf", e.elf.is_some()),
            ("input", e.input.is_some()),
            ("url", e.url.is_some()),
            ("zkboost_proof_type", e.zkboost_proof_type.is_some()),
        ],
    )?;
    let profile = e.name.strip_prefix("sim:").and_then(SimProfile::by_name).ok_or_else(|| {
        let known: Vec<String> = crate::sim::PROFILES.iter().map(|p| format!("sim:{}", p.name)).collect();
        entry_err(e, format!("no such simulated profile; known: {}", known.join(", ")))
    })?;
    if let Some(rate) = e.failure_rate
        && !(0.0..=1.0).contains(&rate)
    {
        return Err(entry_err(e, format!("failure_rate {rate} is not within 0..=1")));
    }
    let opts = SimOptions { failure_rate: e.failure_rate.or(machine.sim.failure_rate), ..machine.sim };
    let slots = (0..e.slots.unwrap_or(DEFAULT_SIM_SLOTS))
        .map(|_| {
            let p = SimProver::from_name(&format!("sim:{}", profile.name), opts);
            p.map(|p| (SlotKind::Virtual, Arc::new(p) as Arc<dyn Prover>))
                .ok_or_else(|| entry_err(e, "no such simulated profile"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ready(e, AdapterKind::Sim, true, slots, vec![])
}

fn external(e: &ZkvmEntry, machine: &Machine) -> Result<Adapter, RegistryError> {
    refuse_fields(
        e,
        "external",
        &[
            ("slots", e.slots.is_some()),
            ("failure_rate", e.failure_rate.is_some()),
            ("elf", e.elf.is_some()),
            ("input", e.input.is_some()),
            ("url", e.url.is_some()),
            ("zkboost_proof_type", e.zkboost_proof_type.is_some()),
        ],
    )?;
    let Some(program) = e.command.first() else {
        return Err(entry_err(
            e,
            "an external zkVM needs command = [program, args…] ({input} {output} {gpu} are filled in)",
        ));
    };
    check_slot_fields(e)?;
    let timeout = timeout_or(e, DEFAULT_EXTERNAL_TIMEOUT)?;
    if let Some(missing) =
        std::iter::once(program).chain(e.verify_command.iter().flat_map(|v| v.first())).find(|p| !runnable(p))
    {
        return Ok(unavailable(
            e,
            AdapterKind::External,
            format!("command {missing:?} is not installed or not executable"),
        ));
    }
    let mut notes = Vec::new();
    let Some(pins) = slot_pins(e, machine, &mut notes) else {
        return Ok(unavailable(e, AdapterKind::External, NO_GPU.into()));
    };
    let identity = ZkvmIdentity {
        name: e.name.clone(),
        version: e.version.clone().unwrap_or_else(|| "unknown".into()),
        proof_type: e.proof_type.unwrap_or(0),
    };
    let work_dir = machine.work_dir.join(e.name.replace(['/', ':'], "_"));
    let slots = pins
        .into_iter()
        .map(|gpu| {
            let cfg = ExternalConfig {
                identity: identity.clone(),
                command: e.command.clone(),
                verify_command: e.verify_command.clone(),
                timeout,
                verify_timeout: None,
                work_dir: work_dir.clone(),
                gpu,
                env: vec![],
            };
            let kind = gpu.map_or(SlotKind::Cpu, SlotKind::Gpu);
            ExternalProver::new(cfg).map(|p| (kind, Arc::new(p) as Arc<dyn Prover>))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| entry_err(e, err.to_string()))?;
    ready(e, AdapterKind::External, false, slots, notes)
}

/// The URL of a remote zkVM: http(s), no credentials in logs (they are redacted) .
fn remote_url(e: &ZkvmEntry, kind: &str) -> Result<String, RegistryError> {
    let url = e.url.clone().ok_or_else(|| entry_err(e, format!("a {kind} zkVM needs url = \"http://host:port\"")))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(entry_err(
            e,
            format!("url {:?} is not http(s)://", slotproof_primitives::redact::redact_url(&url)),
        ));
    }
    Ok(url)
}

/// Remote zkVMs prove on the server: one slot waits per proof the server runs
/// at once (`slots`, default 1: an ere-server or zkboost backend proves one at a time).
fn remote_slots(e: &ZkvmEntry, prover: Arc<dyn Prover>) -> Vec<(SlotKind, Arc<dyn Prover>)> {
    (0..e.slots.unwrap_or(1)).map(|_| (SlotKind::Virtual, prover.clone())).collect()
}

fn remote_refusals(e: &ZkvmEntry, kind: &str) -> Result<(), RegistryError> {
    refuse_fields(
        e,
        kind,
        &[
            ("command", !e.command.is_empty()),
            ("verify_command", e.verify_command.is_some()),
            ("gpu", e.gpu),
            ("slots_per_gpu", e.slots_per_gpu.is_some()),
            ("cpu_slots", e.cpu_slots.is_some()),
            ("failure_rate", e.failure_rate.is_some()),
            ("proof_type", e.proof_type.is_some()),
            ("elf", e.elf.is_some()),
        ],
    )
}

/// An ere-server's zkVM (specs/provers.md §9).
fn ere(e: &ZkvmEntry) -> Result<Adapter, RegistryError> {
    remote_refusals(e, "ere")?;
    let url = remote_url(e, "ere")?;
    if let Some(t) = &e.zkboost_proof_type
        && !crate::zkboost::ZKBOOST_PROOF_TYPES.contains(&t.as_str())
    {
        return Err(entry_err(
            e,
            format!(
                "zkboost_proof_type {t:?} is not one of zkboost's: {}",
                crate::zkboost::ZKBOOST_PROOF_TYPES.join(", ")
            ),
        ));
    }
    let timeout = timeout_or(e, crate::ere::DEFAULT_TIMEOUT)?;
    let cfg = crate::ere::EreConfig { name: e.name.clone(), url, input: e.input.unwrap_or_default(), timeout };
    let prover: Arc<dyn Prover> = Arc::new(crate::ere::EreProver::new(cfg));
    ready(e, AdapterKind::Ere, false, remote_slots(e, prover), vec![])
}

/// A zkboost-compatible endpoint's proof type (specs/provers.md §10).
fn zkboost(e: &ZkvmEntry) -> Result<Adapter, RegistryError> {
    remote_refusals(e, "zkboost")?;
    refuse_fields(e, "zkboost", &[("input", e.input.is_some())])?;
    let url = remote_url(e, "zkboost")?;
    let proof_type = e.zkboost_proof_type.clone().filter(|t| !t.is_empty()).ok_or_else(|| {
        entry_err(e, "a zkboost zkVM needs zkboost_proof_type = \"…\" (the type asked of the endpoint)")
    })?;
    // It goes into URLs as it is: the characters of names only.
    if !proof_type.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')) {
        return Err(entry_err(e, "zkboost_proof_type must be of A-Z a-z 0-9 _ . : -"));
    }
    let timeout = timeout_or(e, crate::zkboost::DEFAULT_TIMEOUT)?;
    let cfg = crate::zkboost::ZkboostConfig { name: e.name.clone(), url, proof_type, timeout };
    let prover: Arc<dyn Prover> = Arc::new(crate::zkboost::ZkboostProver::new(cfg));
    ready(e, AdapterKind::Zkboost, false, remote_slots(e, prover), vec![])
}

/// A RISC Zero zkVM (specs/provers.md §8): `slotproof-risc0` proving the
/// configured guest, each slot's proof on `cores / cpu_slots` threads.
fn risc0(e: &ZkvmEntry, machine: &Machine) -> Result<Adapter, RegistryError> {
    refuse_fields(
        e,
        "risc0",
        &[
            ("command", !e.command.is_empty()),
            ("verify_command", e.verify_command.is_some()),
            ("slots", e.slots.is_some()),
            ("failure_rate", e.failure_rate.is_some()),
            ("proof_type", e.proof_type.is_some()),
            ("url", e.url.is_some()),
            ("zkboost_proof_type", e.zkboost_proof_type.is_some()),
        ],
    )?;
    check_slot_fields(e)?;
    if let Some(elf) = &e.elf
        && !elf.is_file()
    {
        return Err(entry_err(e, format!("elf {} is not a file", elf.display())));
    }
    let timeout = timeout_or(e, risc0::DEFAULT_TIMEOUT)?;
    let program = match risc0::find_program() {
        Ok(p) => p,
        Err(why) => return Ok(unavailable(e, AdapterKind::Risc0, why)),
    };
    let mut notes = Vec::new();
    let Some(pins) = slot_pins(e, machine, &mut notes) else {
        return Ok(unavailable(e, AdapterKind::Risc0, NO_GPU.into()));
    };
    // Every proof's threads share the machine: two CPU slots on 8 cores prove on 4 each.
    let cores = u32::try_from(machine.cores.max(1)).unwrap_or(u32::MAX);
    let threads = (cores / u32::try_from(pins.len()).unwrap_or(1).max(1)).max(1);
    let work_dir = machine.work_dir.join(e.name.replace(['/', ':'], "_"));
    let slots = pins
        .into_iter()
        .map(|gpu| {
            let cfg = risc0::Risc0Config {
                name: e.name.clone(),
                program: program.clone(),
                elf: e.elf.clone(),
                input: e.input.unwrap_or_default(),
                threads,
                timeout,
                work_dir: work_dir.clone(),
                gpu,
            };
            let kind = gpu.map_or(SlotKind::Cpu, SlotKind::Gpu);
            risc0::Risc0Prover::new(cfg).map(|p| (kind, Arc::new(p) as Arc<dyn Prover>))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| entry_err(e, err.to_string()))?;
    ready(e, AdapterKind::Risc0, false, slots, notes)
}

/// Whether `program` names an executable file, directly or on `PATH`.
fn runnable(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        return executable(Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| executable(&dir.join(program))))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::cancel::CancelToken;
    use crate::prover::ProvingInput;

    fn machine(gpus: &[u32], dir: &Path) -> Machine {
        Machine { gpus: gpus.to_vec(), cores: 2, work_dir: dir.to_path_buf(), sim: SimOptions::default() }
    }

    fn build_text(text: &str, m: &Machine) -> Result<Vec<Adapter>, String> {
        build(&parse_entries(text).map_err(|e| e.to_string())?, m).map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_set_is_ready_with_cpu_and_virtual_slots() {
        let dir = tempfile::tempdir().unwrap();
        let adapters = build(&default_entries(), &machine(&[], dir.path())).unwrap();
        let names: Vec<&str> = adapters.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["stark", "sim:sp1-hypercube", "sim:pico-prism"]);
        assert!(adapters.iter().all(|a| a.state == AdapterState::Ready));
        assert_eq!(adapters[0].slots, [SlotKind::Cpu]);
        assert_eq!(adapters[1].slots, vec![SlotKind::Virtual; DEFAULT_SIM_SLOTS as usize]);
        assert!(adapters[1].simulated && !adapters[0].simulated);
    }

    #[test]
    fn config_mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let m = machine(&[0], dir.path());
        let cases = [
            ("[[zkvm]]\nname = \"sp1\"\ncomand = [\"x\"]\n", "unknown field `comand`"),
            ("[[zkvm]]\nname = \"stark\"\n[[zkvm]]\nname = \"stark\"\n", "configured twice"),
            ("[[zkvm]]\nname = \"sp1\"\n", "needs command"),
            ("[[zkvm]]\nname = \"sim:sp2\"\n", "no such simulated profile"),
            ("[[zkvm]]\nname = \"stark\"\ngpu = true\n", "gpu does not apply to a stark zkVM"),
            ("[[zkvm]]\nname = \"sim:pico-prism\"\nslots = 0\n", "slots must be at least 1"),
            ("[[zkvm]]\nname = \"sp1\"\ncommand = [\"/bin/sh\"]\ntimeout = \"2h\"\n", "timeout: invalid duration unit"),
            (
                "[[zkvm]]\nname = \"sp1\"\ncommand = [\"/bin/sh\"]\nslots_per_gpu = 2\n",
                "slots_per_gpu needs gpu = true",
            ),
            ("[[zkvm]]\nname = \"sim:zisk-8x5090\"\nfailure_rate = 2.0\n", "not within 0..=1"),
            (
                "[[zkvm]]\nname = \"risc0\"\ninput = \"ssz\"\n",
                "unknown variant `ssz`, expected `header-rlp` or `block-json`",
            ),
            ("[[zkvm]]\nname = \"risc0\"\nelf = \"/nonexistent/guest.elf\"\n", "is not a file"),
            ("[[zkvm]]\nname = \"risc0\"\ncommand = [\"x\"]\n", "command does not apply to a risc0 zkVM"),
            ("[[zkvm]]\nname = \"stark\"\nelf = \"g.elf\"\n", "elf does not apply to a stark zkVM"),
            ("[[zkvm]]\nname = \"sp1\"\ncommand = [\"/bin/sh\"]\ninput = \"header-rlp\"\n", "input does not apply"),
        ];
        for (text, expected) in cases {
            let e = build_text(text, &m).err().unwrap_or_default();
            assert!(e.contains(expected), "{text:?} gave {e:?}");
        }
        // Tables for other parts of the node are left alone.
        assert!(build_text("[node]\nslot_time = \"3s\"\n[[zkvm]]\nname = \"stark\"\n", &m).is_ok());
    }

    #[test]
    fn machine_facts_make_an_adapter_unavailable_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let gpu_zkvm = "[[zkvm]]\nname = \"sp1\"\ncommand = [\"/bin/sh\", \"-c\", \"true\"]\ngpu = true\n";
        let a = build_text(gpu_zkvm, &machine(&[], dir.path())).unwrap();
        assert_eq!(a[0].state, AdapterState::Unavailable("needs a GPU and this machine has none".into()));
        assert!(a[0].pool.is_none());
        let missing = "[[zkvm]]\nname = \"zisk\"\ncommand = [\"cargo-zisk-not-installed\", \"prove\"]\n";
        let a = build_text(missing, &machine(&[0], dir.path())).unwrap();
        assert!(matches!(&a[0].state, AdapterState::Unavailable(r) if r.contains("not installed")), "{:?}", a[0].state);
        let clamped = build_text("[[zkvm]]\nname = \"stark\"\ncpu_slots = 8\n", &machine(&[], dir.path())).unwrap();
        assert_eq!(clamped[0].slots.len(), 2);
        assert!(clamped[0].notes[0].contains("lowered"));
    }

    /// Two GPUs, one slot each, four proofs at once: every run sees exactly one
    /// GPU in CUDA_VISIBLE_DEVICES, no GPU ever runs two proofs, both are used.
    #[test]
    fn gpu_slots_pin_one_process_per_gpu() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        std::fs::create_dir(&locks).unwrap();
        let script = format!(
            r#"mkdir "{locks}/gpu-$CUDA_VISIBLE_DEVICES" || exit 1
test "$3" = "$CUDA_VISIBLE_DEVICES" || exit 1
sleep 0.3
rmdir "{locks}/gpu-$CUDA_VISIBLE_DEVICES"
printf '{{"proof":"%s","public_values":"","proving_time_ms":300}}' "$(printf 'gpu%s' "$CUDA_VISIBLE_DEVICES" | base64)" > "$2""#,
            locks = locks.display()
        );
        let text = format!(
            "[[zkvm]]\nname = \"gpu-zkvm\"\ngpu = true\ncommand = [\"/bin/sh\", \"-c\", {script:?}, \"w\", \"{{input}}\", \"{{output}}\", \"{{gpu}}\"]\n"
        );
        let adapters = build_text(&text, &machine(&[0, 1], dir.path())).unwrap();
        assert_eq!(adapters[0].slots, [SlotKind::Gpu(0), SlotKind::Gpu(1)]);
        let pool = adapters[0].pool.clone().unwrap();
        let started = Instant::now();
        let handles: Vec<_> = (0..4u64)
            .map(|b| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    pool.prove(&ProvingInput::new(b, format!("block {b}").into_bytes()), &CancelToken::new())
                })
            })
            .collect();
        let mut used: Vec<String> =
            handles.into_iter().map(|h| String::from_utf8(h.join().unwrap().unwrap().proof).unwrap()).collect();
        used.sort();
        assert_eq!(used, ["gpu0", "gpu0", "gpu1", "gpu1"]);
        // Two rounds of two, not four at once and not one at a time.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(600), "{took:?}");
    }

    #[test]
    fn a_proof_waiting_for_a_slot_can_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[zkvm]]\nname = \"slow\"\ncommand = [\"/bin/sh\", \"-c\", \"sleep 2\"]\ntimeout = \"5s\"\n";
        let pool = build_text(text, &machine(&[], dir.path())).unwrap()[0].pool.clone().unwrap();
        let busy = pool.clone();
        let first = std::thread::spawn(move || busy.prove(&ProvingInput::new(1, b"a".to_vec()), &CancelToken::new()));
        std::thread::sleep(Duration::from_millis(200));
        let cancel = CancelToken::new();
        let waiter = {
            let (pool, cancel) = (pool.clone(), cancel.clone());
            std::thread::spawn(move || pool.prove(&ProvingInput::new(2, b"b".to_vec()), &cancel))
        };
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
        assert!(matches!(waiter.join().unwrap(), Err(crate::error::ProverError::Cancelled)));
        assert!(first.join().unwrap().is_err(), "the sleeper writes no output");
    }
}
