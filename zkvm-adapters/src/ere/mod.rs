//! ere-server as a zkVM, both ways (specs/provers.md §9). `EreProver` proves
//! through someone's ere-server over Twirp (`Prove`, `Verify`, `ProgramVk`
//! of `api.ZkvmService`), the guest's input produced by an input encoder;
//! `Service` answers those calls with one of slotproof's own zkVMs, for
//! `slotproof ere-server`.
//!
//! The statement is the header-hash one every slotproof zkVM proves: public
//! values = block hash (32 bytes) ‖ block number (8 bytes, big-endian). An
//! ere-server's guest must commit exactly that for the block it is given;
//! a proof whose public values differ is refused.

pub mod proto;
mod service;
mod twirp;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use service::{ServedProof, Service};
pub use twirp::{CallError, MAX_REPLY_BYTES, Twirp};

use crate::cancel::CancelToken;
use crate::error::ProverError;
use crate::input::InputEncoding;
use crate::prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};
use crate::remote::clip;
use crate::stark;

/// A proof of a block within this, or it failed (ere-server runs one proof at a time).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Verification and the program key: quick calls.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// The proof type byte of proofs from an ere-server (EIP-8025 assigns none).
pub const ERE_PROOF_TYPE: u8 = 0x83;

#[derive(Clone, Debug)]
pub struct EreConfig {
    pub name: String,
    pub url: String,
    pub input: InputEncoding,
    pub timeout: Duration,
}

pub struct EreProver {
    id: ZkvmIdentity,
    twirp: Twirp,
    input: InputEncoding,
    timeout: Duration,
    /// The server's program key, asked once: it says whether the server's
    /// prover is one of slotproof's simulated ones.
    program: OnceLock<Vec<u8>>,
}

impl From<CallError> for ProverError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Transient { .. } => ProverError::Transient(e.to_string()),
            CallError::Refused { .. } => ProverError::Permanent(e.to_string()),
        }
    }
}

impl EreProver {
    pub fn new(cfg: EreConfig) -> EreProver {
        EreProver {
            id: ZkvmIdentity { name: cfg.name, version: "ere".into(), proof_type: ERE_PROOF_TYPE },
            twirp: Twirp::new(&cfg.url),
            input: cfg.input,
            timeout: cfg.timeout,
            program: OnceLock::new(),
        }
    }

    /// The guest's stdin for a block, and the public values its proof must carry.
    fn guest(&self, input: &ProvingInput) -> Result<(Vec<u8>, Vec<u8>), String> {
        let header = stark::block_header(input).map_err(|e| format!("{}: {e}", self.id.name))?;
        let stdin = match self.input {
            InputEncoding::HeaderRlp => header.rlp.clone(),
            InputEncoding::BlockJson => input.bytes.to_vec(),
        };
        Ok((stdin, stark::public_values(&header)))
    }

    /// `ProgramVk` of the server (what the operator compares with the guest they built).
    pub fn program_vk(&self) -> Result<Vec<u8>, ProverError> {
        if let Some(p) = self.program.get() {
            return Ok(p.clone());
        }
        let reply: proto::ProgramVkResponse =
            self.twirp.call("ProgramVk", &proto::ProgramVkRequest {}, VERIFY_TIMEOUT)?;
        match reply.result {
            Some(proto::program_vk_response::Result::Ok(ok)) => Ok(self.program.get_or_init(|| ok.program_vk).clone()),
            Some(proto::program_vk_response::Result::Err(e)) => {
                Err(ProverError::Permanent(format!("ProgramVk: {}", clip(&e))))
            }
            None => Err(ProverError::Permanent("ProgramVk: an empty reply".into())),
        }
    }
}

/// Public values as far as an error shows them.
fn hex(b: &[u8]) -> String {
    let shown = slotproof_primitives::hex::encode(&b[..b.len().min(64)]);
    if b.len() > 64 { format!("{shown}… ({} bytes)", b.len()) } else { shown }
}

/// Whether a server's program key names one of slotproof's simulated or test
/// provers (`slotproof ere-server` answers `slotproof-<zkVM>/<version>`).
fn simulated_program(vk: &[u8]) -> bool {
    let text = String::from_utf8_lossy(vk);
    ["slotproof-sim:", "slotproof-noop/", "slotproof-sleep:", "slotproof-exec-noop/"]
        .iter()
        .any(|p| text.starts_with(p))
}

impl Prover for EreProver {
    fn identity(&self) -> &ZkvmIdentity {
        &self.id
    }

    fn resources(&self) -> Resources {
        // The work is the server's; here a thread waits.
        Resources { cpus: 0, gpus: 0 }
    }

    fn execute(&self, input: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        let (stdin, _) = self.guest(input).map_err(ProverError::Permanent)?;
        let started = Instant::now();
        let request = proto::ExecuteRequest { input_stdin: stdin, input_proofs: None };
        let reply: proto::ExecuteResponse = self.twirp.call("Execute", &request, self.timeout)?;
        match reply.result {
            Some(proto::execute_response::Result::Ok(ok)) => {
                let cycles = ok.report.get(0..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
                Ok(ExecutionReport { cycles, duration: started.elapsed() })
            }
            Some(proto::execute_response::Result::Err(e)) => {
                Err(ProverError::Permanent(format!("Execute: {}", clip(&e))))
            }
            None => Err(ProverError::Permanent("Execute: an empty reply".into())),
        }
    }

    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        let (stdin, expected) = self.guest(input).map_err(ProverError::Permanent)?;
        if cancel.is_cancelled() {
            return Err(ProverError::Cancelled);
        }
        let started = Instant::now();
        let request = proto::ProveRequest { input_stdin: stdin, input_proofs: None };
        let reply: proto::ProveResponse = self.twirp.call("Prove", &request, self.timeout)?;
        let ok = match reply.result {
            Some(proto::prove_response::Result::Ok(ok)) => ok,
            Some(proto::prove_response::Result::Err(e)) => {
                return Err(ProverError::Permanent(format!("Prove: {}", clip(&e))));
            }
            None => return Err(ProverError::Permanent("Prove: an empty reply".into())),
        };
        if ok.public_values != expected {
            return Err(ProverError::Permanent(format!(
                "the ere-server proved another statement: public values {}, the block's are {}",
                hex(&ok.public_values),
                hex(&expected)
            )));
        }
        let report = proto::report::read_proving(&ok.report);
        // A server that will not say its program is not taken as real.
        let simulated = self.program_vk().map(|vk| simulated_program(&vk))?;
        Ok(ProofArtifact {
            zkvm: self.id.name.clone(),
            proof: ok.proof,
            public_values: ok.public_values,
            cycles: report.and_then(|(_, c)| c),
            proving_time: report.map_or_else(|| started.elapsed(), |(t, _)| t),
            simulated,
        })
    }

    /// The server verifies; what it says the proof proves must be the block's
    /// statement (the artifact's own public values are not trusted).
    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
        let (_, expected) = self.guest(input).map_err(ProverError::Invalid)?;
        let request = proto::VerifyRequest { proof: artifact.proof.clone() };
        let reply: proto::VerifyResponse = self.twirp.call("Verify", &request, VERIFY_TIMEOUT)?;
        match reply.result {
            Some(proto::verify_response::Result::Ok(ok)) if ok.public_values == expected => Ok(()),
            Some(proto::verify_response::Result::Ok(ok)) => Err(ProverError::Invalid(format!(
                "the proof is of public values {}, the block's are {}",
                hex(&ok.public_values),
                hex(&expected)
            ))),
            Some(proto::verify_response::Result::Err(e)) => Err(ProverError::Invalid(format!("Verify: {}", clip(&e)))),
            None => Err(ProverError::Invalid("Verify: an empty reply".into())),
        }
    }
}
