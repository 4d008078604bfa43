//! The RISC Zero adapter (specs/provers.md §8): a guest ELF proven by the
//! separate `slotproof-risc0` program through the external-process contract.
//! Owns turning a block into the guest's input (its input encoding), the public
//! values a proof of that block must carry, and finding the program; never
//! links RISC Zero (whose C++ kernels stay out of the node's build).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cancel::CancelToken;
use crate::error::ProverError;
use crate::external::{ExternalConfig, ExternalProver};
use crate::prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};
use crate::stark;

/// The program's file name, and the environment variable that overrides where it is.
pub const PROGRAM: &str = "slotproof-risc0";
pub const PROGRAM_ENV: &str = "SLOTPROOF_RISC0_BIN";
/// EIP-8025 proof type byte of a RISC Zero composite receipt (slotproof's range
/// starts at 0x80; 0x80 is the built-in STARK).
pub const PROOF_TYPE: u8 = 0x81;
/// The RISC Zero release `slotproof-risc0` is built with (zkvm-adapters/risc0/Cargo.toml).
pub const RISC0_VERSION: &str = "3.0.5";
/// sha256 of the committed header-hash guest, which the program carries and
/// runs when no `elf` is configured (zkvm-adapters/guests/header-hash).
pub const DEFAULT_GUEST_SHA256: &str = include_str!("../guests/header-hash/header-hash.elf.sha256");
/// A CPU proof of the header guest takes minutes on a small machine; later than
/// this, something is wrong.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Checking a receipt takes tens of milliseconds per segment; a verifier still
/// running after this is refused, not waited on for the proving timeout.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

pub use crate::input::InputEncoding;

/// Where `slotproof-risc0` is: `$SLOTPROOF_RISC0_BIN`, else next to this
/// executable, else on `PATH`. The error says how to get it.
pub fn find_program() -> Result<PathBuf, String> {
    locate(std::env::var_os(PROGRAM_ENV), std::env::current_exe().ok(), std::env::var_os("PATH"))
}

fn locate(
    explicit: Option<std::ffi::OsString>,
    exe: Option<PathBuf>,
    path: Option<std::ffi::OsString>,
) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        let p = PathBuf::from(p);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!("{PROGRAM_ENV}={} is not an executable file", p.display()))
        };
    }
    let beside = exe.and_then(|exe| Some(exe.parent()?.join(PROGRAM)));
    let on_path =
        path.into_iter().flat_map(|paths| std::env::split_paths(&paths).map(|d| d.join(PROGRAM)).collect::<Vec<_>>());
    beside.into_iter().chain(on_path).find(|p| executable(p)).ok_or_else(|| {
        format!(
            "{PROGRAM} is not built: run zkvm-adapters/risc0/build.sh (about 8 minutes once on 2 cores) and put it next to slotproof, on PATH, or in {PROGRAM_ENV}"
        )
    })
}

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One RISC Zero zkVM: its program, guest and input encoding.
#[derive(Clone, Debug)]
pub struct Risc0Config {
    pub name: String,
    pub program: PathBuf,
    /// The guest ELF; `None` runs the committed header-hash guest built into the program.
    pub elf: Option<PathBuf>,
    pub input: InputEncoding,
    /// Proving threads of one proof (`RAYON_NUM_THREADS`).
    pub threads: u32,
    pub timeout: Duration,
    pub work_dir: PathBuf,
    /// The GPU this slot is pinned to (a program built with RISC Zero's `cuda` feature).
    pub gpu: Option<u32>,
}

pub struct Risc0Prover {
    inner: ExternalProver,
    encoding: InputEncoding,
    threads: u32,
}

impl Risc0Prover {
    pub fn new(cfg: Risc0Config) -> Result<Self, ProverError> {
        let elf: Vec<String> = match &cfg.elf {
            Some(p) => vec!["--elf".into(), p.to_string_lossy().into_owned()],
            None => vec![],
        };
        let program = cfg.program.to_string_lossy().into_owned();
        let mut command = vec![program.clone(), "prove".into()];
        command.extend(elf.iter().cloned());
        command.extend(["--input", "{input}", "--output", "{output}"].map(String::from));
        let mut verify = vec![program, "verify".into()];
        verify.extend(elf);
        verify.extend(["--proof", "{proof}", "--public-values", "{public_values}"].map(String::from));
        // Named by content, so two different ELFs of one file name are told apart.
        let guest = match &cfg.elf {
            Some(p) => {
                let bytes = std::fs::read(p)
                    .map_err(|e| ProverError::Permanent(format!("reading guest ELF {}: {e}", p.display())))?;
                let stem = p.file_stem().map_or_else(|| "guest".into(), |s| s.to_string_lossy().into_owned());
                format!("{stem}-blake3-{}", &blake3::hash(&bytes).to_hex()[..12])
            }
            None => format!("header-hash-{}", &DEFAULT_GUEST_SHA256[..12]),
        };
        let inner = ExternalProver::new(ExternalConfig {
            identity: ZkvmIdentity {
                name: cfg.name,
                version: format!("risc0-zkvm-{RISC0_VERSION}/{guest}"),
                proof_type: PROOF_TYPE,
            },
            command,
            verify_command: Some(verify),
            timeout: cfg.timeout,
            verify_timeout: Some(VERIFY_TIMEOUT),
            work_dir: cfg.work_dir,
            gpu: cfg.gpu,
            env: vec![("RAYON_NUM_THREADS".into(), cfg.threads.max(1).to_string())],
        })?;
        Ok(Risc0Prover { inner, encoding: cfg.input, threads: cfg.threads.max(1) })
    }

    /// The guest's input for a block, and the public values its proof must
    /// carry; the error says why the block cannot be this guest's input.
    fn guest_input(&self, input: &ProvingInput) -> Result<(ProvingInput, Vec<u8>), String> {
        let header = stark::block_header(input).map_err(|e| format!("{}: {e}", self.identity().name))?;
        let expected = stark::public_values(&header);
        let guest = match self.encoding {
            InputEncoding::HeaderRlp => ProvingInput::new(input.block_number, header.rlp),
            InputEncoding::BlockJson => input.clone(),
        };
        Ok((guest, expected))
    }
}

impl Prover for Risc0Prover {
    fn identity(&self) -> &ZkvmIdentity {
        self.inner.identity()
    }

    fn resources(&self) -> Resources {
        Resources { cpus: self.threads, gpus: self.inner.resources().gpus }
    }

    fn execute(&self, input: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        self.inner.execute(input)
    }

    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        let (guest, expected) = self.guest_input(input).map_err(ProverError::Permanent)?;
        let artifact = self.inner.prove(&guest, cancel)?;
        // A guest that commits something else does not prove this block's statement.
        if artifact.public_values != expected {
            return Err(ProverError::Permanent(format!(
                "{}: the guest committed {} bytes that are not this block's hash and number",
                self.identity().name,
                artifact.public_values.len()
            )));
        }
        Ok(artifact)
    }

    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
        let (guest, expected) = self.guest_input(input).map_err(ProverError::Invalid)?;
        if artifact.public_values != expected {
            return Err(ProverError::Invalid(format!(
                "{}: public values are not block {}'s hash and number",
                self.identity().name,
                input.block_number
            )));
        }
        // The program checks the receipt's image id and that its journal is `expected`.
        self.inner.verify(artifact, &guest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(number: u64) -> ProvingInput {
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let bytes = std::fs::read(dir.join(format!("../testdata/blocks/{number}.json"))).unwrap();
        crate::block_input(&bytes).unwrap().0
    }

    /// A stand-in program that records its arguments and the guest input, and
    /// answers with public values read from a file: the adapter's side of the contract.
    fn stand_in(dir: &Path, public_values: &[u8]) -> Risc0Prover {
        let pv = dir.join("pv");
        std::fs::write(&pv, public_values).unwrap();
        let script = dir.join("risc0.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> {log}\ncase \"$1\" in\nprove) cp \"$3\" {dir}/guest-input; printf '{{\"proof\":\"cmVjZWlwdA==\",\"public_values\":\"%s\",\"cycles\":131072,\"proving_time_ms\":5}}' \"$(base64 -w0 {pv})\" > \"$5\";;\nverify) cmp -s \"$5\" {pv};;\nesac\n",
                log = dir.join("args").display(),
                dir = dir.display(),
                pv = pv.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        Risc0Prover::new(Risc0Config {
            name: "risc0".into(),
            program: script,
            elf: None,
            input: InputEncoding::HeaderRlp,
            threads: 2,
            timeout: Duration::from_secs(10),
            work_dir: dir.join("work"),
            gpu: None,
        })
        .unwrap()
    }

    #[test]
    fn the_guest_gets_the_header_rlp_and_the_proof_must_commit_hash_and_number() {
        let dir = tempfile::tempdir().unwrap();
        let input = block(16_000_000);
        let header = stark::header_of_input(&input).unwrap();
        let p = stand_in(dir.path(), &stark::public_values(&header));
        let a = p.prove(&input, &CancelToken::new()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("guest-input")).unwrap(), header.rlp);
        assert_eq!((a.cycles, a.simulated, p.identity().proof_type), (Some(131_072), false, PROOF_TYPE));
        assert!(p.verify(&a, &input).is_ok());
        // The same proof offered for another block is refused before the program runs.
        let other = block(16_000_001);
        assert!(matches!(p.verify(&a, &other), Err(ProverError::Invalid(m)) if m.contains("16000001")));
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        assert_eq!(args.lines().filter(|l| l.starts_with("verify")).count(), 1, "{args}");
    }

    #[test]
    fn the_program_is_found_by_variable_then_beside_then_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let (beside, on_path) = (dir.path().join("bin"), dir.path().join("path"));
        for d in [&beside, &on_path] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join(PROGRAM), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(d.join(PROGRAM), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        let exe = Some(beside.join("slotproof"));
        let path = Some(on_path.clone().into_os_string());
        assert_eq!(locate(None, exe.clone(), path.clone()), Ok(beside.join(PROGRAM)));
        assert_eq!(locate(None, Some(dir.path().join("slotproof")), path.clone()), Ok(on_path.join(PROGRAM)));
        let e = locate(Some(dir.path().join("nope").into()), exe, path).unwrap_err();
        assert!(e.contains("SLOTPROOF_RISC0_BIN") && e.contains("not an executable"), "{e}");
        let e = locate(None, None, None).unwrap_err();
        assert!(e.contains("zkvm-adapters/risc0/build.sh"), "{e}");
    }

    #[test]
    fn a_block_whose_header_is_not_its_hash_never_reaches_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let p = stand_in(dir.path(), b"");
        let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("../testdata/blocks/16000000.json")).unwrap()).unwrap();
        v["hash"] = format!("0x{}", "11".repeat(32)).into();
        let (input, _) = crate::block_input(&serde_json::to_vec(&v).unwrap()).unwrap();
        let e = p.prove(&input, &CancelToken::new()).unwrap_err();
        assert!(matches!(&e, ProverError::Permanent(m) if m.starts_with("risc0: ")), "{e}");
        let a = ProofArtifact {
            zkvm: "risc0".into(),
            proof: vec![1],
            public_values: vec![],
            cycles: None,
            proving_time: Duration::from_millis(1),
            simulated: false,
        };
        assert!(matches!(p.verify(&a, &input), Err(ProverError::Invalid(_))));
        assert!(!dir.path().join("args").exists(), "the program ran");
    }

    #[test]
    fn a_guest_committing_something_else_is_a_permanent_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = stand_in(dir.path(), b"not the statement");
        let e = p.prove(&block(16_000_000), &CancelToken::new()).unwrap_err();
        assert!(matches!(&e, ProverError::Permanent(m) if m.contains("not this block's hash")), "{e}");
    }

    #[test]
    fn the_committed_guest_matches_its_digest() {
        // coreutils' sha256sum: the node has no other use for SHA-256.
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let out = std::process::Command::new("sha256sum")
            .arg(dir.join("guests/header-hash/header-hash.elf"))
            .output()
            .expect("sha256sum runs");
        let digest = String::from_utf8(out.stdout).unwrap();
        assert_eq!(DEFAULT_GUEST_SHA256.split_whitespace().next(), digest.split_whitespace().next());
        assert_eq!(DEFAULT_GUEST_SHA256.len(), "  header-hash.elf\n".len() + 64);
    }
}
