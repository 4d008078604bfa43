//! Running the real `slotproof` binary: one-shot commands whose `--json`
//! answer is read back, and long-running processes (a node, the dev chain,
//! the Ethproofs server) whose stderr is captured for the test to read.
//! Panics are the failure mode here: this is test support, and each panic
//! says what did not happen.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::paths;

/// The binary, looked up once per test executable; a missing binary fails
/// every test with the message that says how to build it.
fn bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| paths::slotproof_bin().unwrap_or_else(|e| panic!("{e}")))
}

/// `slotproof` with the caller's environment, less `RUST_LOG` (the tests read
/// the default log lines).
pub fn slotproof_command() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Runs `slotproof ARGS` to completion.
pub fn slotproof(args: &[&str]) -> Output {
    slotproof_command().args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", bin().display()))
}

/// The last stdout line, parsed: the `--json` contract.
pub fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not one JSON line ({e}): {stdout}"))
}

/// Every block record of a stopped node (`slotproof results --json`).
pub fn results(data_dir: &Path) -> Vec<Value> {
    let dir = data_dir.to_str().expect("test paths are UTF-8");
    let out = json_of(&slotproof(&["results", "--data-dir", dir, "--json"]));
    out["blocks"].as_array().cloned().unwrap_or_else(|| panic!("no blocks array: {out}"))
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Multi-process tests run one at a time (2-core CI): each holds this guard.
/// Cargo runs test executables one after another, so one guard per
/// executable is enough.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A loopback port nobody listens on right now, and never one this process
/// handed out before: the kernel may offer a just-released port again, and a
/// node given the same port for p2p and HTTP fails to start.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().expect("a bound socket has an address").port();
        if given.insert(port) {
            return port;
        }
    }
}

/// Starts a quiet server process and waits until it accepts connections on `port`.
pub fn spawn_listening(cmd: &mut Command, port: u16, what: &str) -> Child {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what} ({:?}): {e}", cmd.get_program()));
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{what} did not listen on port {port} within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A running `slotproof` process (a node, the dev chain), its stderr kept
/// for the test to read; killed on drop.
pub struct Node {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Node {
    /// `slotproof devchain` on a free loopback port, announcing `blocks`
    /// blocks every `slot` after `start_delay`; its `ws://` URL with it.
    pub fn devchain(slot: &str, blocks: usize, start_delay: &str) -> (Node, String) {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let blocks = blocks.to_string();
        let args =
            ["devchain", "--listen", &listen, "--slot-time", slot, "--blocks", &blocks, "--start-delay", start_delay];
        (Node::start(&args), format!("ws://{listen}"))
    }

    pub fn start(args: &[&str]) -> Node {
        let mut child = slotproof_command()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting slotproof {args:?}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        Node { child, stderr }
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn wait_log(&self, needle: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Sends a signal by name (`-TERM`, `-KILL`).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args([sig, &pid]).status().expect("running kill");
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    /// Still running (not exited).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
