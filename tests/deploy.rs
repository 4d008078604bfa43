//! What `deploy/` ships, checked by the tools that will read it:
//! `systemd-analyze verify` accepts the service unit (pointed at the built
//! binary, as an install points it at /usr/local/bin/slotproof) without a
//! single warning, and the unit keeps its hardening and its secret handling.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use slotproof_tests::paths::{slotproof_bin, workspace_root};

const UNIT: &str = "deploy/systemd/slotproof.service";
const INSTALLED_BIN: &str = "/usr/local/bin/slotproof";

fn unit_text() -> String {
    std::fs::read_to_string(workspace_root().unwrap().join(UNIT)).unwrap()
}

/// Lines `key=value` of the unit, comments left out.
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn systemd_accepts_the_unit_without_a_warning() {
    let text = unit_text();
    assert!(text.contains(&format!("ExecStart={INSTALLED_BIN} node")), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("slotproof.service");
    let bin = slotproof_bin().unwrap();
    std::fs::write(&unit, text.replace(INSTALLED_BIN, bin.to_str().unwrap())).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze (Debian's systemd package; .ci/run installs it): {e}"));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "systemd-analyze verify failed:\n{said}");
    assert!(said.trim().is_empty(), "systemd-analyze verify warned:\n{said}");
}

#[test]
fn the_unit_is_hardened_and_takes_the_token_as_a_credential() {
    let set = settings(&unit_text());
    let has = |k: &str, v: &str| set.iter().any(|(key, val)| key == k && val == v);
    for (k, v) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "slotproof"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("KillSignal", "SIGTERM"),
    ] {
        assert!(has(k, v), "{k}={v} missing from {UNIT}");
    }
    // The data dir is the state directory; no secret is ever on the command line.
    let exec = set.iter().find(|(k, _)| k == "ExecStart").map(|(_, v)| v.clone()).unwrap();
    assert!(exec.contains("--data-dir %S/slotproof"), "{exec}");
    assert!(!exec.contains("token") && !exec.contains("password"), "{exec}");
    let text = unit_text();
    assert!(text.contains("LoadCredential=ethproofs-token:"), "the token's credential is documented in the unit");
    assert!(text.contains("SLOTPROOF_ETHPROOFS_TOKEN_FILE=%d/ethproofs-token"));
}
