//! Running the `slotproof` binary once and reading its `--json` output: the
//! single-binary CLI tests beside the CLI. The multi-process end-to-end tests
//! (nodes, Anvil, SIGKILL, several nodes) live in the workspace's `tests/`
//! crate, with their own harness.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::Value;

/// This checkout's crate directory, read when the test runs: a binary built for
/// another clone sharing the target directory must not read that clone's files.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run under cargo").into()
}

pub fn slotproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slotproof")).args(args).env_remove("RUST_LOG").output().unwrap()
}

/// The last stdout line, parsed: the `--json` contract.
pub fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}
