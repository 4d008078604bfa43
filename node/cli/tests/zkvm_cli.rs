//! `slotproof prove | verify | zkvms | devices | bench prover` on the real
//! mainnet blocks in testdata/, as a user would run them (specs/provers.md).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::{json_of, slotproof};

fn block(n: u64) -> String {
    let p: PathBuf = common::manifest_dir().join("../../testdata/blocks").join(format!("{n}.json"));
    p.to_str().unwrap().to_string()
}

#[test]
fn testdata_blocks_match_their_provenance() {
    let dir: PathBuf = common::manifest_dir().join("../../testdata");
    let prov: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("PROVENANCE.json")).unwrap()).unwrap();
    let files = prov["files"].as_array().unwrap();
    assert_eq!(files.len(), 15, "13 blocks and 2 receipt lists");
    for f in files {
        let path = dir.join(f["file"].as_str().unwrap());
        let out = std::process::Command::new("sha256sum").arg(&path).output().unwrap();
        let sum = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string();
        assert_eq!(sum, f["sha256"].as_str().unwrap(), "{} changed", path.display());
    }
}

/// Proves block 21230866 with `zkvm`, verifies it, then shows that another
/// block and a flipped proof byte (at `flip_at` of the proof's length) are refused.
fn prove_verify_and_tamper(zkvm: &[&str], simulated: bool, flip_at: fn(usize) -> usize) {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("proof.json");
    let proof = proof.to_str().unwrap();
    let proved =
        json_of(&slotproof(&[&["prove"], zkvm, &["--block", &block(21230866), "--out", proof, "--json"]].concat()));
    assert_eq!(proved["block_hash"], "0x6987698bd5b5c557891ecd8215df64fdaea8ea1d928646ff56249d608d42f27f");
    assert_eq!(proved["simulated"], simulated);
    let ok =
        json_of(&slotproof(&[&["verify"], zkvm, &["--block", &block(21230866), "--proof", proof, "--json"]].concat()));
    assert_eq!((ok["verified"].as_bool(), ok["simulated"].as_bool()), (Some(true), Some(simulated)));

    let other = slotproof(&[&["verify"], zkvm, &["--block", &block(21230867), "--proof", proof]].concat());
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("not block 21230867"));

    let other_zkvm =
        slotproof(&["verify", "--zkvm", "sim:sp1-hypercube", "--block", &block(21230866), "--proof", proof]);
    assert!(!other_zkvm.status.success());

    let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(proof).unwrap()).unwrap();
    let mut bytes = base64_decode(file["proof"].as_str().unwrap());
    let at = flip_at(bytes.len());
    bytes[at] ^= 1;
    file["proof"] = base64_encode(&bytes).into();
    std::fs::write(proof, serde_json::to_vec(&file).unwrap()).unwrap();
    let tampered = slotproof(&[&["verify"], zkvm, &["--block", &block(21230866), "--proof", proof]].concat());
    assert!(!tampered.status.success());
    let err = String::from_utf8_lossy(&tampered.stderr);
    assert!(err.contains("invalid") && !err.contains("panicked"), "{err}");
}

#[test]
fn simulated_prove_then_verify_and_tampering_is_caught() {
    prove_verify_and_tamper(&["--zkvm", "sim:pico-prism", "--sim-time-scale", "0.001"], true, |len| len - 1);
}

#[test]
fn stark_prove_then_verify_and_tampering_is_caught() {
    // A byte in the middle of the openings: the STARK itself must notice.
    prove_verify_and_tamper(&["--zkvm", "stark"], false, |len| len / 2);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"number\": 5}").unwrap();
    let out = slotproof(&["prove", "--zkvm", "noop", "--block", garbage.to_str().unwrap(), "--out", "/dev/null"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("block field number"), "{err}");
    let out = slotproof(&["prove", "--zkvm", "sp99", "--block", &block(16000000), "--out", "/dev/null"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown zkVM \"sp99\""));
}

#[test]
fn zkvms_devices_and_bench_prover_report() {
    let z = json_of(&slotproof(&["zkvms", "--json"]));
    let names: Vec<&str> = z["zkvms"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    for n in
        ["stark", "noop", "exec-noop", "sim:zisk-8x5090", "sim:risc0-8x5090", "sim:sp1-hypercube", "sim:pico-prism"]
    {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    // With or without a GPU, `devices` answers and exits 0.
    let d = json_of(&slotproof(&["devices", "--json"]));
    assert!(d["gpus"].is_array());
    let b = json_of(&slotproof(&[
        "bench",
        "prover",
        "--zkvm",
        "sim:sp1-hypercube",
        "--sim-time-scale",
        "0.001",
        "--block",
        &block(19900000),
        "--json",
    ]));
    for f in ["zkvm", "block_number", "prove_ms", "verify_ms", "proof_bytes", "security_bits", "peak_rss_mb"] {
        assert!(b.get(f).is_some(), "missing {f}: {b}");
    }
    assert_eq!(b["block_number"], 19900000);
    assert_eq!(b["verified"], true);
    assert!(b["security_bits"].is_null(), "a simulated prover has no security level");

    let s = json_of(&slotproof(&["bench", "prover", "--zkvm", "stark", "--block", &block(16000000), "--json"]));
    assert_eq!((s["verified"].as_bool(), s["simulated"].as_bool()), (Some(true), Some(false)));
    assert!(s["security_bits"].as_u64().unwrap() >= 100, "{s}");
    assert!(s["proof_bytes"].as_u64().unwrap() <= 600 * 1024, "{s}");
}

/// The external adapter against a second process that really proves: this
/// binary's `external prove|verify` runs the STARK prover behind the file
/// contract (specs/provers.md §3).
#[test]
fn the_external_adapter_drives_a_real_prover_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_slotproof");
    let config = dir.path().join("zkvms.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[zkvm]]
name = "stark-ext"
version = "self"
proof_type = 128
timeout = "60s"
command = [{bin:?}, "external", "prove", "--zkvm", "stark", "--input", "{{input}}", "--output", "{{output}}"]
verify_command = [{bin:?}, "external", "verify", "--zkvm", "stark", "--input", "{{input}}", "--proof", "{{proof}}", "--public-values", "{{public_values}}"]
"#
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let listed = json_of(&slotproof(&["zkvms", "--config", config, "--json"]));
    let row = &listed["zkvms"][0];
    assert_eq!((row["name"].as_str(), row["state"]["state"].as_str()), (Some("stark-ext"), Some("ready")), "{row}");

    let zkvm = ["--zkvm", "stark-ext", "--config", config];
    let proof = dir.path().join("proof.json");
    let proof = proof.to_str().unwrap();
    let proved = json_of(&slotproof(
        &[&["prove"], &zkvm[..], &["--block", &block(18884864), "--out", proof, "--json"]].concat(),
    ));
    assert_eq!(proved["simulated"], false);
    assert!(proved["proof_bytes"].as_u64().unwrap() > 100_000, "a real STARK proof: {proved}");
    let ok = json_of(&slotproof(
        &[&["verify"], &zkvm[..], &["--block", &block(18884864), "--proof", proof, "--json"]].concat(),
    ));
    assert_eq!(ok["verified"], true);

    // The external verifier rejects a flipped byte, and says so through the adapter.
    let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(proof).unwrap()).unwrap();
    let mut bytes = base64_decode(file["proof"].as_str().unwrap());
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    file["proof"] = base64_encode(&bytes).into();
    std::fs::write(proof, serde_json::to_vec(&file).unwrap()).unwrap();
    let bad = slotproof(&[&["verify"], &zkvm[..], &["--block", &block(18884864), "--proof", proof]].concat());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("verifier exited") && err.contains("does not verify"), "{err}");

    // A block the prover cannot take: the second process exits 65, a permanent failure with its stderr.
    let garbage = dir.path().join("block.json");
    let mut block_json: serde_json::Value = serde_json::from_slice(&std::fs::read(block(18884864)).unwrap()).unwrap();
    block_json["stateRoot"] = format!("0x{}", "00".repeat(32)).into();
    std::fs::write(&garbage, serde_json::to_vec(&block_json).unwrap()).unwrap();
    let out =
        slotproof(&[&["prove"], &zkvm[..], &["--block", garbage.to_str().unwrap(), "--out", "/dev/null"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("permanent") && err.contains("not the Keccak-256"), "{err}");
}
