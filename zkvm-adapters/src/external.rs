//! The external-process adapter (specs/provers.md §3): how installed zkVMs
//! (SP1, RISC Zero, ZisK, OpenVM hosts) plug in without code changes.
//!
//! The node writes the proving input to a file, runs the configured command with
//! `{input}`, `{output}` and `{gpu}` replaced, and reads the output JSON
//! `{"proof": base64, "public_values": base64, "cycles": int?, "proving_time_ms": int}`.
//! The command runs in its own process group so a timeout or a cancellation
//! kills it and everything it started. It never trusts the output: a missing,
//! unparsable or incomplete file is a permanent error naming the file.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Deserialize;
use tracing::{debug, warn};

use crate::cancel::CancelToken;
use crate::error::ProverError;
use crate::prover::{ExecutionReport, ProofArtifact, Prover, ProvingInput, Resources, ZkvmIdentity};

/// Lines of stderr kept for the error message of a failed run.
const STDERR_TAIL_LINES: usize = 20;
/// Exit status a wrapper uses to say "this input can never be proven" (EX_DATAERR).
pub const EXIT_PERMANENT: i32 = 65;
/// Largest output file read: EIP-8025's proof cap (4 MiB) base64-encoded, with room.
const MAX_OUTPUT_BYTES: u64 = 8 * 1024 * 1024;
/// Numbers every run's files, across all instances: several slots of one zkVM
/// share a work directory.
static RUNS: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug)]
pub struct ExternalConfig {
    pub identity: ZkvmIdentity,
    /// Program and arguments; `{input}`, `{output}`, `{gpu}` are replaced.
    pub command: Vec<String>,
    /// Optional verifier: `{input}` (the input file), `{digest}` (its blake3 in hex),
    /// `{proof}` and `{public_values}` (files of raw bytes).
    pub verify_command: Option<Vec<String>>,
    pub timeout: Duration,
    /// How long one verification may run (default: `timeout`); a verifier
    /// given a peer's proof should answer in seconds.
    pub verify_timeout: Option<Duration>,
    /// Where input and output files go.
    pub work_dir: PathBuf,
    /// The GPU this instance is pinned to (`CUDA_VISIBLE_DEVICES`), if any.
    pub gpu: Option<u32>,
    /// Set in the prover's environment (e.g. `RAYON_NUM_THREADS`).
    pub env: Vec<(String, String)>,
}

/// The last lines a prover wrote to stderr, filled by a reader thread that
/// signals when it reached end of file.
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl StderrTail {
    /// The tail, once the reader has drained the pipe (bounded: a grandchild may hold it open).
    fn text(&self) -> String {
        let _ = self.done.recv_timeout(Duration::from_millis(500));
        let t = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_empty() { "(no stderr)".to_string() } else { t.iter().cloned().collect::<Vec<_>>().join(" | ") }
    }
}

pub struct ExternalProver {
    cfg: ExternalConfig,
}

/// A file of one run, removed when the run is over, however it ended.
struct RunFile(PathBuf);

impl Drop for RunFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputFile {
    proof: String,
    #[serde(default)]
    public_values: String,
    cycles: Option<u64>,
    proving_time_ms: u64,
}

impl ExternalProver {
    pub fn new(cfg: ExternalConfig) -> Result<Self, ProverError> {
        if cfg.command.is_empty() {
            return Err(ProverError::Permanent(format!("zkVM {}: empty command", cfg.identity.name)));
        }
        std::fs::create_dir_all(&cfg.work_dir).map_err(|e| {
            ProverError::Permanent(format!("zkVM {}: creating {}: {e}", cfg.identity.name, cfg.work_dir.display()))
        })?;
        Ok(ExternalProver { cfg })
    }

    /// The input file of one run, named by the input's digest and the run, and
    /// removed when the run ends: a node that proves for months keeps no
    /// input files (the bytes are the node's own to keep, in its store).
    fn input_file(&self, input: &ProvingInput, run: u64) -> Result<RunFile, ProverError> {
        let hex = slotproof_primitives::hex::encode(&input.digest);
        let path = self.cfg.work_dir.join(format!("{hex}-{}-{run}.input", std::process::id()));
        std::fs::write(&path, &input.bytes)
            .map_err(|e| ProverError::Transient(format!("writing input {}: {e}", path.display())))?;
        Ok(RunFile(path))
    }

    fn substitute(args: &[String], input: &Path, output: &Path, gpu: Option<u32>) -> Vec<String> {
        let gpu = gpu.map_or_else(String::new, |g| g.to_string());
        args.iter()
            .map(|a| {
                a.replace("{input}", &input.to_string_lossy())
                    .replace("{output}", &output.to_string_lossy())
                    .replace("{gpu}", &gpu)
            })
            .collect()
    }

    fn spawn(&self, argv: &[String]) -> Result<(Child, StderrTail), ProverError> {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        if let Some(gpu) = self.cfg.gpu {
            cmd.env("CUDA_VISIBLE_DEVICES", gpu.to_string());
        }
        cmd.envs(self.cfg.env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd.spawn().map_err(|e| {
            ProverError::Permanent(format!("zkVM {}: cannot run {:?}: {e}", self.cfg.identity.name, argv[0]))
        })?;
        let lines: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (done_tx, done) = std::sync::mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut t = lines.lock().unwrap_or_else(|e| e.into_inner());
                    if t.len() == STDERR_TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
                let _ = done_tx.send(());
            });
        }
        let tail = StderrTail { lines, done };
        Ok((child, tail))
    }

    /// Waits for the child, killing its whole process group after `limit` or on cancel.
    fn wait(&self, child: &mut Child, cancel: &CancelToken, limit: Duration) -> Result<ExitStatus, ProverError> {
        let start = Instant::now();
        let pgid = Pid::from_raw(child.id() as i32);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => {}
                Err(e) => return Err(ProverError::Transient(format!("waiting for {}: {e}", self.cfg.identity.name))),
            }
            let timed_out = start.elapsed() >= limit;
            if timed_out || cancel.is_cancelled() {
                if let Err(e) = killpg(pgid, Signal::SIGKILL) {
                    warn!(target: "slotproof::zkvm", zkvm = %self.cfg.identity.name, error = %e, "killing the prover's process group failed");
                }
                let _ = child.wait();
                return Err(if timed_out { ProverError::Timeout(limit) } else { ProverError::Cancelled });
            }
            // Short sleeps keep a no-op prover's turnaround low; the cancel token wakes us early.
            let slept = start.elapsed();
            let step =
                if slept < Duration::from_millis(20) { Duration::from_micros(200) } else { Duration::from_millis(5) };
            cancel.sleep(step);
        }
    }

    fn read_output(&self, path: &Path) -> Result<OutputFile, ProverError> {
        let name = &self.cfg.identity.name;
        let meta = std::fs::metadata(path)
            .map_err(|e| ProverError::Permanent(format!("zkVM {name} wrote no output at {}: {e}", path.display())))?;
        if meta.len() > MAX_OUTPUT_BYTES {
            return Err(ProverError::Permanent(format!(
                "zkVM {name} output {} is {} bytes, over the {MAX_OUTPUT_BYTES}-byte cap",
                path.display(),
                meta.len()
            )));
        }
        let text =
            std::fs::read(path).map_err(|e| ProverError::Permanent(format!("reading {}: {e}", path.display())))?;
        serde_json::from_slice(&text).map_err(|e| {
            ProverError::Permanent(format!(
                "zkVM {name} output {} is not the expected JSON {{proof, public_values, cycles?, proving_time_ms}}: {e}",
                path.display()
            ))
        })
    }
}

impl Prover for ExternalProver {
    fn identity(&self) -> &ZkvmIdentity {
        &self.cfg.identity
    }

    fn resources(&self) -> Resources {
        Resources { cpus: 1, gpus: u32::from(self.cfg.gpu.is_some()) }
    }

    fn execute(&self, _input: &ProvingInput) -> Result<ExecutionReport, ProverError> {
        Err(ProverError::Permanent(format!(
            "zkVM {}: the external adapter has no execute command",
            self.cfg.identity.name
        )))
    }

    fn prove(&self, input: &ProvingInput, cancel: &CancelToken) -> Result<ProofArtifact, ProverError> {
        let start = Instant::now();
        let run = RUNS.fetch_add(1, Ordering::SeqCst);
        let input_file = self.input_file(input, run)?;
        let input_path = &input_file.0;
        let output = self.cfg.work_dir.join(format!(
            "{}-{}-{run}.output.json",
            std::process::id(),
            self.cfg.identity.name.replace(['/', ':'], "_")
        ));
        let _ = std::fs::remove_file(&output);
        let argv = Self::substitute(&self.cfg.command, input_path, &output, self.cfg.gpu);
        debug!(target: "slotproof::zkvm", zkvm = %self.cfg.identity.name, block = input.block_number, ?argv, "starting external prover");
        let (mut child, tail) = self.spawn(&argv)?;
        let status = self.wait(&mut child, cancel, self.cfg.timeout)?;
        if !status.success() {
            let _ = std::fs::remove_file(&output);
            let msg = format!("zkVM {} exited with {status}: {}", self.cfg.identity.name, tail.text());
            return Err(if status.code() == Some(EXIT_PERMANENT) {
                ProverError::Permanent(msg)
            } else {
                ProverError::Transient(msg)
            });
        }
        let out = self.read_output(&output);
        let _ = std::fs::remove_file(&output);
        let out = out?;
        let decode = |field: &str, s: &str| {
            BASE64.decode(s).map_err(|e| {
                ProverError::Permanent(format!(
                    "zkVM {} output field {field} is not base64: {e}",
                    self.cfg.identity.name
                ))
            })
        };
        Ok(ProofArtifact {
            zkvm: self.cfg.identity.name.clone(),
            proof: decode("proof", &out.proof)?,
            public_values: decode("public_values", &out.public_values)?,
            cycles: out.cycles,
            // The prover's own figure, at least 1 ms; our wall time if it reports 0.
            proving_time: Duration::from_millis(out.proving_time_ms.max(1)).max(if out.proving_time_ms == 0 {
                start.elapsed()
            } else {
                Duration::ZERO
            }),
            simulated: false,
        })
    }

    fn can_verify(&self) -> bool {
        self.cfg.verify_command.is_some()
    }

    fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
        let Some(cmd) = &self.cfg.verify_command else {
            return Err(ProverError::Permanent(format!(
                "zkVM {} has no verify_command configured",
                self.cfg.identity.name
            )));
        };
        let hex = slotproof_primitives::hex::encode(&input.digest);
        let run = RUNS.fetch_add(1, Ordering::SeqCst);
        // The input is written only for a verifier that reads it (a block can be megabytes).
        let input_file = cmd.iter().any(|a| a.contains("{input}")).then(|| self.input_file(input, run)).transpose()?;
        let input_path = input_file.as_ref().map_or_else(String::new, |f| f.0.to_string_lossy().into_owned());
        let proof_file = RunFile(self.cfg.work_dir.join(format!("{}-verify-{run}.proof", std::process::id())));
        let values_file = RunFile(proof_file.0.with_extension("public_values"));
        for (file, bytes) in [(&proof_file, &artifact.proof), (&values_file, &artifact.public_values)] {
            std::fs::write(&file.0, bytes)
                .map_err(|e| ProverError::Transient(format!("writing {}: {e}", file.0.display())))?;
        }
        let argv: Vec<String> = cmd
            .iter()
            .map(|a| {
                a.replace("{input}", &input_path)
                    .replace("{digest}", &hex)
                    .replace("{proof}", &proof_file.0.to_string_lossy())
                    .replace("{public_values}", &values_file.0.to_string_lossy())
            })
            .collect();
        let (mut child, tail) = self.spawn(&argv)?;
        let limit = self.cfg.verify_timeout.unwrap_or(self.cfg.timeout);
        let status = self.wait(&mut child, &CancelToken::new(), limit)?;
        if status.success() {
            Ok(())
        } else {
            Err(ProverError::Invalid(format!(
                "{} verifier exited with {status}: {}",
                self.cfg.identity.name,
                tail.text()
            )))
        }
    }
}

/// The command of `exec-noop`: a shell that writes an empty, well-formed output
/// file and exits, so the adapter's process start and file contract are what is measured.
pub fn exec_noop_command() -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        r#"printf '{"proof":"","public_values":"","proving_time_ms":0}' > "$1""#.into(),
        "exec-noop".into(),
        "{output}".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prover(dir: &Path, command: Vec<String>, timeout: Duration) -> ExternalProver {
        ExternalProver::new(ExternalConfig {
            identity: ZkvmIdentity { name: "ext".into(), version: "1".into(), proof_type: 1 },
            command,
            verify_command: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "test \"$(cat \"$1\")\" = ok".into(),
                "v".into(),
                "{proof}".into(),
            ]),
            timeout,
            verify_timeout: None,
            work_dir: dir.to_path_buf(),
            gpu: Some(3),
            env: vec![],
        })
        .unwrap()
    }

    fn sh(script: &str) -> Vec<String> {
        vec![
            "/bin/sh".into(),
            "-c".into(),
            script.into(),
            "ext".into(),
            "{input}".into(),
            "{output}".into(),
            "{gpu}".into(),
        ]
    }

    #[test]
    fn a_working_command_proves_through_the_file_contract() {
        let dir = tempfile::tempdir().unwrap();
        // Proof = base64("ok"); the GPU slot arrives both as {gpu} and CUDA_VISIBLE_DEVICES.
        let p = prover(
            dir.path(),
            sh(
                r#"test "$3" = 3 && test "$CUDA_VISIBLE_DEVICES" = 3 && test -s "$1" && printf '{"proof":"b2s=","public_values":"AQ==","cycles":7,"proving_time_ms":12}' > "$2""#,
            ),
            Duration::from_secs(10),
        );
        let input = ProvingInput::new(5, b"block bytes".to_vec());
        let a = p.prove(&input, &CancelToken::new()).unwrap();
        assert_eq!((a.proof.as_slice(), a.public_values.as_slice(), a.cycles), (&b"ok"[..], &[1u8][..], Some(7)));
        assert_eq!(a.proving_time, Duration::from_millis(12));
        assert!(!a.simulated);
        assert!(p.verify(&a, &input).is_ok());
        let mut bad = a.clone();
        bad.proof = b"no".to_vec();
        assert!(matches!(p.verify(&bad, &input), Err(ProverError::Invalid(_))));
        // Every run's files (input, output, proof, public values) are gone after it.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_hung_verifier_is_cut_at_its_own_timeout_and_reads_no_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = ExternalProver::new(ExternalConfig {
            identity: ZkvmIdentity { name: "ext".into(), version: "1".into(), proof_type: 1 },
            command: exec_noop_command(),
            verify_command: Some(vec!["/bin/sh".into(), "-c".into(), "sleep 30".into(), "v".into(), "{proof}".into()]),
            timeout: Duration::from_secs(60),
            verify_timeout: Some(Duration::from_millis(300)),
            work_dir: dir.path().to_path_buf(),
            gpu: None,
            env: vec![],
        })
        .unwrap();
        let input = ProvingInput::new(1, vec![7; 1000]);
        let a = p.prove(&input, &CancelToken::new()).unwrap();
        let start = Instant::now();
        assert_eq!(p.verify(&a, &input), Err(ProverError::Timeout(Duration::from_millis(300))));
        assert!(start.elapsed() < Duration::from_secs(5));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn failures_carry_stderr_and_exit_65_is_permanent() {
        let dir = tempfile::tempdir().unwrap();
        let input = ProvingInput::new(1, vec![1]);
        let p = prover(dir.path(), sh("echo 'gpu out of memory' >&2; exit 3"), Duration::from_secs(10));
        let e = p.prove(&input, &CancelToken::new()).unwrap_err();
        assert!(matches!(&e, ProverError::Transient(m) if m.contains("gpu out of memory")), "{e}");
        let p = prover(dir.path(), sh("echo 'unsupported block' >&2; exit 65"), Duration::from_secs(10));
        assert!(
            matches!(p.prove(&input, &CancelToken::new()), Err(ProverError::Permanent(m)) if m.contains("unsupported block"))
        );
    }

    #[test]
    fn garbage_or_missing_output_is_a_clear_permanent_error() {
        let dir = tempfile::tempdir().unwrap();
        let input = ProvingInput::new(1, vec![1]);
        for (script, needle) in [
            ("echo 'not json' > \"$2\"", "not the expected JSON"),
            ("true", "wrote no output"),
            ("printf '{\"proof\":\"!!\",\"proving_time_ms\":1}' > \"$2\"", "not base64"),
        ] {
            let e =
                prover(dir.path(), sh(script), Duration::from_secs(10)).prove(&input, &CancelToken::new()).unwrap_err();
            assert!(matches!(&e, ProverError::Permanent(m) if m.contains(needle)), "{script}: {e}");
        }
        assert!(matches!(
            prover(dir.path(), vec!["/nonexistent/prover".into()], Duration::from_secs(1)).prove(&input, &CancelToken::new()),
            Err(ProverError::Permanent(m)) if m.contains("cannot run")
        ));
    }

    #[test]
    fn a_hung_prover_is_killed_with_its_children_at_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        // The prover starts a grandchild and hangs; both must be gone after the timeout.
        let script = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let p = prover(dir.path(), sh(&script), Duration::from_millis(300));
        let start = Instant::now();
        let e = p.prove(&ProvingInput::new(1, vec![1]), &CancelToken::new()).unwrap_err();
        assert_eq!(e, ProverError::Timeout(Duration::from_millis(300)));
        assert!(start.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z");
        assert!(!alive, "grandchild {pid} survived the timeout");
    }

    #[test]
    fn cancellation_kills_the_prover() {
        let dir = tempfile::tempdir().unwrap();
        let p = prover(dir.path(), sh("sleep 60"), Duration::from_secs(60));
        let cancel = CancelToken::new();
        let c = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c.cancel();
        });
        let start = Instant::now();
        assert_eq!(p.prove(&ProvingInput::new(1, vec![1]), &cancel), Err(ProverError::Cancelled));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn exec_noop_runs() {
        let dir = tempfile::tempdir().unwrap();
        let p = prover(dir.path(), exec_noop_command(), Duration::from_secs(10));
        let a = p.prove(&ProvingInput::new(1, vec![1]), &CancelToken::new()).unwrap();
        assert!(a.proof.is_empty());
    }
}

#[cfg(test)]
mod wrapper_tests {
    use super::*;

    fn wrapped(dir: &Path, host: &str) -> ExternalProver {
        // Read at run time: a test binary may be shared by several clones of the repo.
        let crate_dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let wrapper = crate_dir.join("wrappers/wrap-host.sh");
        let wrapper = wrapper.display();
        // The stand-in host is given through the environment the wrapper reads.
        let script = format!("ZKVM_HOST_CMD='{host}' exec {wrapper} \"$1\" \"$2\" \"$3\"");
        ExternalProver::new(ExternalConfig {
            identity: ZkvmIdentity { name: "wrapped".into(), version: "1".into(), proof_type: 1 },
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                script,
                "wrapped".into(),
                "{input}".into(),
                "{output}".into(),
                "{gpu}".into(),
            ],
            verify_command: None,
            timeout: Duration::from_secs(20),
            verify_timeout: None,
            work_dir: dir.to_path_buf(),
            gpu: Some(1),
            env: vec![],
        })
        .unwrap()
    }

    #[test]
    fn the_wrapper_turns_host_files_into_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host.sh");
        // A stand-in host: proof = the input upper-cased, public values = its length.
        std::fs::write(&host, "#!/bin/sh\ntr 'a-z' 'A-Z' < \"$1\" > \"$2\"; wc -c < \"$1\" | tr -d ' \\n' > \"$3\"\n")
            .unwrap();
        std::fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let p = wrapped(dir.path(), host.to_str().unwrap());
        let a = p.prove(&ProvingInput::new(1, b"abc".to_vec()), &CancelToken::new()).unwrap();
        assert_eq!(a.proof, b"ABC");
        assert_eq!(a.public_values, b"3");
    }

    #[test]
    fn the_wrapper_passes_failures_through() {
        let dir = tempfile::tempdir().unwrap();
        let input = ProvingInput::new(1, b"x".to_vec());
        let e = wrapped(dir.path(), "sh -c 'echo unsupported >&2; exit 65'")
            .prove(&input, &CancelToken::new())
            .unwrap_err();
        assert!(matches!(&e, ProverError::Permanent(m) if m.contains("unsupported")), "{e}");
        let e = wrapped(dir.path(), "true").prove(&input, &CancelToken::new()).unwrap_err();
        assert!(matches!(&e, ProverError::Transient(m) if m.contains("wrote no proof")), "{e}");
    }
}
