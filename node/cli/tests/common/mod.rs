//! Running the real `slotproof` binary and reading its `--json` output.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::Value;

pub fn slotproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slotproof")).args(args).env_remove("RUST_LOG").output().unwrap()
}

/// The last stdout line, parsed: the `--json` contract.
pub fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}
