//! `slotproof-risc0`: RISC Zero's prover and verifier behind slotproof's
//! external-process contract (specs/provers.md §3, §8). It owns running a guest
//! ELF under RISC Zero and checking a receipt against an image id and an
//! expected journal; it never reads blocks or knows what the guest proves: the
//! node gives it the guest's input bytes and the public values it expects.
//!
//! ```text
//! slotproof-risc0 prove  [--elf FILE] --input FILE --output FILE
//! slotproof-risc0 verify [--elf FILE] --proof FILE --public-values FILE
//! slotproof-risc0 image-id [--elf FILE]
//! slotproof-risc0 version
//! ```
//!
//! Without `--elf` the committed header-hash guest (built into this binary) runs.
//! Receipts are composite (one STARK per segment): succinct and Groth16 receipts
//! need RISC Zero's recursion programs, which this build does not carry.
//! Exit status: 0 done; 65 the input can never be proven (the guest fails on it);
//! 1 anything else (a bad receipt in `verify`, an I/O error). A receipt that
//! kills `verify` outright (a signal) is refused all the same by the node.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bincode::Options as _;
use risc0_binfmt::ProgramBinary;
use risc0_zkvm::{
    Digest, ExecutorEnv, ExecutorImpl, InnerReceipt, LocalProver, Prover as _, ProverOpts, Receipt, compute_image_id,
};

/// The committed header-hash guest (zkvm-adapters/guests/header-hash).
const DEFAULT_GUEST: &[u8] = include_bytes!("../../guests/header-hash/header-hash.elf");
/// A guest input larger than this is refused: a block header is under 1 KB and
/// a full block with its witness is a few MB.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// The largest receipt read: EIP-8025's proof cap (specs/p2p.md).
const MAX_PROOF_BYTES: u64 = 4 * 1024 * 1024;
/// A guest ELF larger than this is refused before parsing.
const MAX_ELF_BYTES: u64 = 64 * 1024 * 1024;
/// Public values larger than this are refused (a journal is a few words).
const MAX_PUBLIC_VALUES_BYTES: u64 = 1024 * 1024;
/// EX_DATAERR: the external contract's "this input can never be proven".
const EXIT_PERMANENT: u8 = 65;

/// An error that means the input can never be proven.
#[derive(Debug)]
struct Permanent(String);

impl std::fmt::Display for Permanent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Permanent {}

struct Args {
    command: String,
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse() -> anyhow::Result<Args> {
        let mut it = std::env::args().skip(1);
        let command = it.next().context("no command: prove, verify, image-id or version")?;
        let mut flags = Vec::new();
        while let Some(flag) = it.next() {
            let Some(name) = flag.strip_prefix("--") else { bail!("unexpected argument {flag:?}") };
            let value = it.next().with_context(|| format!("--{name} needs a value"))?;
            flags.push((name.to_string(), value));
        }
        Ok(Args { command, flags })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn path(&self, name: &str) -> anyhow::Result<PathBuf> {
        self.get(name).map(PathBuf::from).with_context(|| format!("{}: --{name} FILE is required", self.command))
    }

    /// Refuses flags the command does not take (a typo must not silently use the default guest).
    fn only(&self, allowed: &[&str]) -> anyhow::Result<()> {
        match self.flags.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
            Some((n, _)) => bail!("{}: unknown flag --{n} (takes {})", self.command, allowed.join(", ")),
            None => Ok(()),
        }
    }
}

fn read_capped(path: &Path, cap: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path).with_context(|| format!("reading {what} {}", path.display()))?.len();
    if len > cap {
        bail!("{what} {} is {len} bytes, over the {cap}-byte limit", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// The guest as RISC Zero loads it: the user ELF joined with the v1compat kernel.
struct Guest {
    program: Vec<u8>,
    image_id: Digest,
}

impl Guest {
    fn load(args: &Args) -> anyhow::Result<Guest> {
        let user_elf = match args.get("elf") {
            Some(path) => read_capped(Path::new(path), MAX_ELF_BYTES, "guest ELF")?,
            None => DEFAULT_GUEST.to_vec(),
        };
        let program = ProgramBinary::new(&user_elf, risc0_zkos_v1compat::V1COMPAT_ELF).encode();
        let image_id = compute_image_id(&program).context("the guest ELF is not a RISC Zero guest")?;
        Ok(Guest { program, image_id })
    }
}

/// The codec of a receipt's bytes: bincode with fixed-width integers, bounded,
/// and no trailing bytes (an appended byte is a different proof, and refused).
fn codec() -> impl bincode::Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_limit(MAX_PROOF_BYTES).reject_trailing_bytes()
}

/// Peak resident memory of this process in MB (Linux reports KiB).
fn peak_rss_mb() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| u.max_rss() as f64 / 1024.0)
}

fn prove(args: &Args) -> anyhow::Result<()> {
    args.only(&["elf", "input", "output"])?;
    let (input_path, output) = (args.path("input")?, args.path("output")?);
    let guest = Guest::load(args)?;
    let input = read_capped(&input_path, MAX_INPUT_BYTES, "guest input")?;
    let start = Instant::now();
    // Execute first: a guest that fails on this input fails in milliseconds,
    // and that failure is permanent, unlike a prover that runs out of memory.
    let env = ExecutorEnv::builder().write_slice(&input).build()?;
    let session = ExecutorImpl::from_elf(env, &guest.program)
        .and_then(|mut exec| exec.run())
        .map_err(|e| Permanent(format!("the guest fails on this input: {e:#}")))?;
    let user_cycles = session.user_cycles;
    drop(session);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    eprintln!(
        "slotproof-risc0: image {} executes in {user_cycles} user cycles; proving a composite receipt on {threads} threads",
        guest.image_id
    );
    let env = ExecutorEnv::builder().write_slice(&input).build()?;
    let info = LocalProver::new("local").prove_with_opts(env, &guest.program, &ProverOpts::composite())?;
    let proving_time_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    // A receipt we cannot verify ourselves is a bug or a broken machine, never sent.
    info.receipt.verify(guest.image_id).context("the new receipt does not verify")?;
    let proof = codec().serialize(&info.receipt).context("encoding the receipt")?;
    let report = serde_json::json!({
        "proof": BASE64.encode(&proof),
        "public_values": BASE64.encode(&info.receipt.journal.bytes),
        "cycles": info.stats.total_cycles,
        "proving_time_ms": proving_time_ms,
    });
    // Straight to the output: the node reads it only after exit status 0, and
    // removes it whatever happened, so a kill mid-write leaves nothing behind.
    std::fs::write(&output, serde_json::to_vec(&report)?).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "slotproof-risc0: proved in {proving_time_ms} ms: {} segments, {} total cycles ({} user, {} paging), receipt {} bytes, peak RSS {:.0} MB",
        info.stats.segments,
        info.stats.total_cycles,
        info.stats.user_cycles,
        info.stats.paging_cycles,
        proof.len(),
        peak_rss_mb()
    );
    Ok(())
}

/// Why a receipt is refused; every path of `verify` that is not Ok ends here.
fn check(guest: &Guest, proof: &[u8], expected: &[u8]) -> anyhow::Result<()> {
    let receipt: Receipt = codec().deserialize(proof).context("the proof is not a RISC Zero receipt")?;
    if !matches!(receipt.inner, InnerReceipt::Composite(_)) {
        bail!("the receipt is not a composite receipt (the only kind this verifier accepts)");
    }
    receipt
        .verify(guest.image_id)
        .with_context(|| format!("the receipt does not verify for image {}", guest.image_id))?;
    if receipt.journal.bytes != expected {
        bail!(
            "the receipt's journal ({} bytes) is not the expected public values ({} bytes)",
            receipt.journal.bytes.len(),
            expected.len()
        );
    }
    Ok(())
}

/// Address space of a `verify` run: a receipt needs ~100 MB to check, and a
/// hostile one (deeply nested assumptions that bincode would follow until the
/// stack or memory runs out) must end as a refusal, not eat the machine.
const VERIFY_ADDRESS_SPACE: u64 = 4 * 1024 * 1024 * 1024;

/// A hostile receipt can still abort this process (a stack overflow is not a
/// panic); the node reads any non-zero exit as a refusal. No core file is left.
fn limit_verifier() -> anyhow::Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_CORE, 0, 0).context("disabling core files")?;
    setrlimit(Resource::RLIMIT_AS, VERIFY_ADDRESS_SPACE, VERIFY_ADDRESS_SPACE).context("limiting memory")?;
    Ok(())
}

fn verify(args: &Args) -> anyhow::Result<()> {
    args.only(&["elf", "proof", "public-values"])?;
    limit_verifier()?;
    let guest = Guest::load(args)?;
    let proof = read_capped(&args.path("proof")?, MAX_PROOF_BYTES, "proof")?;
    let expected = read_capped(&args.path("public-values")?, MAX_PUBLIC_VALUES_BYTES, "public values")?;
    // A malformed seal must be a refusal, never a crash of the verifier.
    match std::panic::catch_unwind(|| check(&guest, &proof, &expected)) {
        Ok(result) => result,
        Err(_) => bail!("the receipt is malformed (the verifier panicked on it)"),
    }
}

fn run() -> anyhow::Result<()> {
    if std::env::var_os("RISC0_DEV_MODE").is_some() {
        bail!("RISC0_DEV_MODE is set: this build never fakes proofs; unset it");
    }
    let args = Args::parse()?;
    match args.command.as_str() {
        "prove" => prove(&args),
        "verify" => verify(&args),
        "image-id" => {
            args.only(&["elf"])?;
            println!("{}", Guest::load(&args)?.image_id);
            Ok(())
        }
        "version" => {
            args.only(&[])?;
            println!("risc0-zkvm {}", risc0_zkvm::VERSION);
            Ok(())
        }
        other => bail!("unknown command {other:?}: prove, verify, image-id or version"),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slotproof-risc0: {e:#}");
            if e.downcast_ref::<Permanent>().is_some() { ExitCode::from(EXIT_PERMANENT) } else { ExitCode::FAILURE }
        }
    }
}
