//! The harness of slotproof's end-to-end tests (the test files beside `src/`
//! in this crate): it finds the `slotproof` binary, the workspace's fixtures
//! and Anvil at run time, runs the binary as an operator does (one-shot
//! commands and long-running processes with their logs captured), and waits
//! for conditions with a deadline instead of sleeping.
//!
//! It owns no product code and never links the node's crates: whatever is
//! tested here goes through the binary, its flags, its HTTP endpoints and its
//! `--json` output. (The hostile peer in `network.rs` and this crate's
//! `slotproof-adversary` binary, in `adversary/`, link `slotproof-p2p` to
//! speak the wire protocol on purpose badly; this library does not.)
//!
//! The binary is found at run time, not through `CARGO_BIN_EXE_slotproof`
//! (which only the package owning the binary gets): `$SLOTPROOF_BIN`, else
//! `<target>/<profile>/slotproof` beside this test executable. `cargo test
//! --workspace` builds it (node/cli keeps integration tests, so cargo builds
//! its binary); `cargo test -p slotproof-tests` alone does not rebuild it, so
//! run `cargo build --bin slotproof` first.

pub mod error;
pub mod ethproofs;
pub mod http;
pub mod paths;
pub mod poll;
pub mod process;
pub mod webdriver;

pub use error::HarnessError;
pub use ethproofs::EthproofsServer;
pub use poll::{wait_for, wait_for_every};
pub use process::{Node, free_port, json_of, results, serial, slotproof, slotproof_command, spawn_listening};
