//! Where things are, found when the test runs: the `slotproof` binary, the
//! workspace root (for `testdata/`) and Anvil. Nothing here is a compile-time
//! path: a test binary built for another clone sharing the target directory
//! must not read that clone's files.

use std::path::{Path, PathBuf};

use crate::HarnessError;

/// A binary's file name on this platform.
fn exe_name(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// `<target>/<profile>/NAME`: the test executable runs as
/// `<target>/<profile>/deps/<test>-<hash>`, and cargo puts the workspace's
/// binaries one level up.
fn beside_the_profile(name: &str) -> Result<PathBuf, HarnessError> {
    let exe = std::env::current_exe().map_err(HarnessError::CurrentExe)?;
    let profile_dir = exe
        .parent()
        .filter(|deps| deps.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .ok_or_else(|| HarnessError::UnexpectedLayout { exe: exe.clone() })?;
    Ok(profile_dir.join(exe_name(name)))
}

/// `$SLOTPROOF_BIN` if set, else `<target>/<profile>/slotproof`.
pub fn slotproof_bin() -> Result<PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os("SLOTPROOF_BIN").map(PathBuf::from) {
        return if path.is_file() { Ok(path) } else { Err(HarnessError::BinaryFromEnvMissing { path }) };
    }
    let path = beside_the_profile("slotproof")?;
    if path.is_file() { Ok(path) } else { Err(HarnessError::BinaryMissing { path }) }
}

/// `$SLOTPROOF_ADVERSARY_BIN` if set, else `<target>/<profile>/slotproof-adversary`
/// (this crate's own binary, which cargo builds for this crate's tests).
pub fn adversary_bin() -> Result<PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os("SLOTPROOF_ADVERSARY_BIN").map(PathBuf::from) {
        return if path.is_file() { Ok(path) } else { Err(HarnessError::AdversaryFromEnvMissing { path }) };
    }
    let path = beside_the_profile("slotproof-adversary")?;
    if path.is_file() { Ok(path) } else { Err(HarnessError::AdversaryMissing { path }) }
}

/// `$SLOTPROOF_RISC0_BIN` if set, else `<target>/release/slotproof-risc0`,
/// where `zkvm-adapters/risc0/build.sh` puts it (always a release build: a
/// debug RISC Zero prover would take hours).
pub fn risc0_bin() -> Result<PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os("SLOTPROOF_RISC0_BIN").map(PathBuf::from) {
        return if path.is_file() { Ok(path) } else { Err(HarnessError::Risc0FromEnvMissing { path }) };
    }
    let beside = beside_the_profile("slotproof-risc0")?;
    let target =
        beside.parent().and_then(Path::parent).ok_or(HarnessError::UnexpectedLayout { exe: beside.clone() })?;
    let path = target.join("release").join(exe_name("slotproof-risc0"));
    if path.is_file() { Ok(path) } else { Err(HarnessError::Risc0Missing { path }) }
}

/// The workspace root: the parent of this crate's directory, which cargo
/// names in `CARGO_MANIFEST_DIR` when it runs the test.
pub fn workspace_root() -> Result<PathBuf, HarnessError> {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).ok_or(HarnessError::NoManifestDir)?;
    Ok(crate_dir.parent().map_or(crate_dir.clone(), Path::to_path_buf))
}

/// `<workspace>/testdata`: the real mainnet blocks and their provenance.
pub fn testdata() -> Result<PathBuf, HarnessError> {
    Ok(workspace_root()?.join("testdata"))
}

/// `$SLOTPROOF_ANVIL`, else the npm package installed in the clone (`.ci/run`).
pub fn anvil_bin() -> Result<PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os("SLOTPROOF_ANVIL") {
        return Ok(path.into());
    }
    let path = workspace_root()?.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if path.exists() { Ok(path) } else { Err(HarnessError::AnvilMissing { path }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lookup from this unit-test executable (also in `deps/`) names the
    /// binary beside the profile directory, or says how to build it.
    #[test]
    fn the_binary_is_looked_up_beside_the_profile_directory() {
        if std::env::var_os("SLOTPROOF_BIN").is_some() {
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let expected = exe.parent().unwrap().parent().unwrap().join(exe_name("slotproof"));
        match slotproof_bin() {
            Ok(path) => assert_eq!(path, expected),
            Err(HarnessError::BinaryMissing { path }) => {
                assert_eq!(path, expected);
                let message = HarnessError::BinaryMissing { path }.to_string();
                assert!(message.contains("cargo build --bin slotproof") && message.contains("cargo test --workspace"));
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }

    #[test]
    fn fixtures_are_read_from_this_checkout() {
        let root = workspace_root().unwrap();
        assert!(root.join("Cargo.toml").is_file() && root.join("tests/Cargo.toml").is_file(), "{}", root.display());
        assert!(testdata().unwrap().join("blocks/16000000.json").is_file());
    }
}
