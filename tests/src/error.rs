//! What can stop the harness before a test starts: a binary, a fixture or a
//! tool that is not where it should be. Each message says how to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "no slotproof binary at {path}: build it first with `cargo build --bin slotproof` (same profile and \
         CARGO_TARGET_DIR as the tests), or run the README's `cargo test --workspace`, which builds it; \
         or set SLOTPROOF_BIN to a built binary"
    )]
    BinaryMissing { path: PathBuf },
    #[error("SLOTPROOF_BIN={path} is not a file")]
    BinaryFromEnvMissing { path: PathBuf },
    #[error(
        "no slotproof-adversary binary at {path}: build it with `cargo build --bin slotproof-adversary` (same \
         profile and CARGO_TARGET_DIR as the tests), or set SLOTPROOF_ADVERSARY_BIN"
    )]
    AdversaryMissing { path: PathBuf },
    #[error("SLOTPROOF_ADVERSARY_BIN={path} is not a file")]
    AdversaryFromEnvMissing { path: PathBuf },
    #[error(
        "no slotproof-risc0 at {path}: build it with `zkvm-adapters/risc0/build.sh` (about 8 minutes once on \
         2 cores; .ci/run does), or set SLOTPROOF_RISC0_BIN"
    )]
    Risc0Missing { path: PathBuf },
    #[error("SLOTPROOF_RISC0_BIN={path} is not a file")]
    Risc0FromEnvMissing { path: PathBuf },
    #[error("cannot locate the running test executable")]
    CurrentExe(#[source] std::io::Error),
    #[error("the test executable {exe} is not in <target>/<profile>/deps/: set SLOTPROOF_BIN to the slotproof binary")]
    UnexpectedLayout { exe: PathBuf },
    #[error("CARGO_MANIFEST_DIR is not set: run the end-to-end tests through cargo (`cargo test -p slotproof-tests`)")]
    NoManifestDir,
    #[error(
        "Anvil is needed at {path}: run `npm install --no-save --no-audit --no-fund \
         @foundry-rs/anvil-linux-amd64@1.7.1` in the clone (.ci/run does), or set SLOTPROOF_ANVIL"
    )]
    AnvilMissing { path: PathBuf },
    #[error("starting {program}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
