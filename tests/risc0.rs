//! RISC Zero end to end (specs/provers.md §8): real receipts from the real
//! `slotproof-risc0` (built by zkvm-adapters/risc0/build.sh; .ci/run builds
//! it), through the `slotproof` commands and the node an operator runs.
//! Proving is minutes of CPU, so each test proves once and reuses the receipt.

// Test helpers outside #[test] fns: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use slotproof_tests::{EthproofsServer, Node, paths, serial, slotproof_command};

fn risc0_bin() -> PathBuf {
    paths::risc0_bin().unwrap_or_else(|e| panic!("{e}"))
}

/// `slotproof ARGS` with the RISC Zero prover where the node looks for it.
fn slotproof_r0(args: &[&str]) -> Output {
    slotproof_command().env("SLOTPROOF_RISC0_BIN", risc0_bin()).args(args).output().unwrap()
}

fn block(number: u64) -> PathBuf {
    paths::testdata().unwrap().join(format!("blocks/{number}.json"))
}

fn guest(name: &str, ext: &str) -> PathBuf {
    paths::workspace_root().unwrap().join(format!("zkvm-adapters/guests/{name}/{name}.{ext}"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The statement's public values of a block file: its hash, then its number (8 bytes, big-endian).
fn public_values_of(number: u64) -> Vec<u8> {
    let b = read_json(&block(number));
    let hash = b["hash"].as_str().unwrap().trim_start_matches("0x");
    let mut out: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap()).collect();
    out.extend_from_slice(&number.to_be_bytes());
    out
}

/// `slotproof verify` of a proof file: Ok, or the reason it printed.
fn verify(proof_file: &Path, number: u64, extra: &[&str]) -> Result<(), String> {
    let block = block(number);
    let mut args = vec!["verify", "--zkvm", "risc0", "--block", s(&block), "--proof", s(proof_file)];
    args.extend_from_slice(extra);
    let out = slotproof_r0(&args);
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// A copy of `file` with `change` applied, written beside it as `name`.
fn altered(file: &Path, name: &str, change: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v = read_json(file);
    change(&mut v);
    let out = file.with_file_name(name);
    std::fs::write(&out, serde_json::to_vec(&v).unwrap()).unwrap();
    out
}

fn with_proof_bytes(v: &mut Value, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = BASE64.decode(v["proof"].as_str().unwrap()).unwrap();
    change(&mut bytes);
    v["proof"] = BASE64.encode(&bytes).into();
}

/// One real receipt of mainnet block 16,000,000 verifies, and is refused with
/// a flipped byte, offered for another block (with its own public values or
/// the other block's), or checked against another guest; a valid receipt of
/// another image that commits exactly this block's public values is refused.
#[test]
fn a_real_risc0_receipt_verifies_and_every_substitute_is_refused() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    // The committed guests are the images the program computes.
    for g in ["header-hash", "journal-echo"] {
        let out = Command::new(risc0_bin()).args(["image-id", "--elf", s(&guest(g, "elf"))]).output().unwrap();
        let committed = std::fs::read_to_string(guest(g, "image-id")).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), committed.trim(), "{g}");
    }

    let proof = dir.path().join("16000000.risc0.json");
    let out = slotproof_r0(&["prove", "--zkvm", "risc0", "--block", s(&block(16_000_000)), "--out", s(&proof)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = read_json(&proof);
    assert_eq!((file["zkvm"].as_str(), file["simulated"].as_bool()), (Some("risc0"), Some(false)), "{file}");
    assert!(file["cycles"].as_u64().unwrap() > 0, "{file}");
    assert_eq!(BASE64.decode(file["public_values"].as_str().unwrap()).unwrap(), public_values_of(16_000_000));
    verify(&proof, 16_000_000, &[]).expect("the real receipt verifies");

    // A flipped byte anywhere is refused: in the middle (the seal) and at the end.
    for (name, at) in [("mid", 0.5), ("end", 1.0)] {
        let bad = altered(&proof, &format!("flip-{name}.json"), |v| {
            with_proof_bytes(v, |b| {
                let i = ((b.len() - 1) as f64 * at) as usize;
                b[i] ^= 0x01;
            })
        });
        let e = verify(&bad, 16_000_000, &[]).unwrap_err();
        assert!(e.contains("rejected"), "{name}: {e}");
    }

    // The receipt offered as block 16,000,001's proof: the file's block fields
    // are that block's (so only the proof itself can give it away).
    let other = dir.path().join("16000001.noop.json");
    let out = slotproof_r0(&["prove", "--zkvm", "noop", "--block", s(&block(16_000_001)), "--out", s(&other)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let other = read_json(&other);
    let as_other = |v: &mut Value| {
        for f in ["block_number", "block_hash", "input_digest"] {
            v[f] = other[f].clone();
        }
    };
    let e = verify(&altered(&proof, "other-block.json", as_other), 16_000_001, &[]).unwrap_err();
    assert!(e.contains("not block 16000001"), "{e}");
    // ... and with 16,000,001's public values claimed: the receipt's journal says otherwise.
    let claimed = altered(&proof, "other-block-claimed.json", |v| {
        as_other(v);
        v["public_values"] = BASE64.encode(public_values_of(16_000_001)).into();
    });
    let e = verify(&claimed, 16_000_001, &[]).unwrap_err();
    assert!(e.contains("journal") && e.contains("not the expected public values"), "{e}");

    // The real receipt checked as another guest's (configured elf): another image.
    let config = dir.path().join("echo.toml");
    let echo = guest("journal-echo", "elf");
    std::fs::write(&config, format!("[[zkvm]]\nname = \"risc0\"\nelf = {:?}\n", s(&echo))).unwrap();
    let e = verify(&proof, 16_000_000, &["--config", s(&config)]).unwrap_err();
    assert!(e.contains("does not verify for image"), "{e}");

    // A valid receipt from another image (a guest that commits whatever it is
    // given) carrying exactly this block's public values.
    let values = dir.path().join("values.bin");
    std::fs::write(&values, public_values_of(16_000_000)).unwrap();
    let lie = dir.path().join("lie.out.json");
    let out = Command::new(risc0_bin())
        .args(["prove", "--elf", s(&echo), "--input", s(&values), "--output", s(&lie)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lie = read_json(&lie);
    assert_eq!(BASE64.decode(lie["public_values"].as_str().unwrap()).unwrap(), public_values_of(16_000_000));
    let forged = altered(&proof, "forged.json", |v| v["proof"] = lie["proof"].clone());
    let e = verify(&forged, 16_000_000, &[]).unwrap_err();
    assert!(e.contains("does not verify for image"), "{e}");
}

/// `slotproof zkvms` says whether the RISC Zero prover is there, and why not.
#[test]
fn zkvms_lists_risc0_with_its_state() {
    let state = |bin: &Path| {
        let out = slotproof_command().env("SLOTPROOF_RISC0_BIN", bin).args(["zkvms", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        v["zkvms"].as_array().unwrap().iter().find(|z| z["name"] == "risc0").unwrap()["state"].clone()
    };
    assert_eq!(state(&risc0_bin())["state"], "ready");
    let missing = state(Path::new("/nonexistent/slotproof-risc0"));
    assert_eq!(missing["state"], "unavailable");
    assert!(missing["reason"].as_str().unwrap().contains("SLOTPROOF_RISC0_BIN"), "{missing}");
}

/// The node with `--zkvm stark --zkvm risc0` on one real mainnet block: two
/// real, verified proofs recorded; RISC Zero on this CPU is late and the record
/// says so; both go to the Ethproofs API with their cycle counts.
#[test]
fn the_node_records_one_block_with_stark_and_risc0_proofs() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = EthproofsServer::start(&dir.path().join("server"), &[]);
    let (_chain, ws) = Node::devchain("12s", 1, "1s");
    let data = dir.path().join("data");
    let summary = dir.path().join("summary.json");
    let args = [
        "node",
        "--rpc-url",
        &ws,
        "--zkvm",
        "stark",
        "--zkvm",
        "risc0",
        "--slot-time",
        "12s",
        "--exit-after-blocks",
        "1",
        "--summary-json",
        s(&summary),
        "--data-dir",
        s(&data),
        "--http",
        "off",
        "--ethproofs-url",
        &server.url(),
    ];
    let out = slotproof_command()
        .env("SLOTPROOF_RISC0_BIN", risc0_bin())
        .env("SLOTPROOF_ETHPROOFS_TOKEN", "team-key")
        .args(args)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let blocks = read_json(&summary);
    let blocks = blocks.as_array().unwrap();
    assert_eq!(blocks.len(), 1, "{log}");
    let b = &blocks[0];
    let proofs = b["proofs"].as_array().unwrap();
    let real_verified: BTreeSet<&str> = proofs
        .iter()
        .filter(|p| p["status"] == "proved" && p["verified"] == true && p["simulated"] == false)
        .map(|p| p["zkvm"].as_str().unwrap())
        .collect();
    assert_eq!(real_verified, BTreeSet::from(["risc0", "stark"]), "{b}");
    let risc0 = proofs.iter().find(|p| p["zkvm"] == "risc0").unwrap();
    // Honest about the deadline: a late RISC Zero proof misses the block's deadline.
    if risc0["within_deadline"] == false {
        assert_eq!(b["deadline_met"], false, "{b}");
        assert!(log.contains("late proof recorded"), "{log}");
    }

    // Submitted as proved, with the prover's cycle count, on the risc0 cluster.
    let cluster = log
        .lines()
        .find(|l| l.contains("ethproofs cluster created") && l.contains("zkvm=risc0"))
        .and_then(|l| l.split("cluster=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|id| id.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no risc0 cluster in the log: {log}"));
    let submitted: Vec<Value> = server
        .proofs()
        .into_iter()
        .filter(|p| p["proof_status"] == "proved" && p["cluster_id"].as_u64() == Some(cluster))
        .collect();
    assert_eq!(submitted.len(), 1, "{submitted:?}");
    assert_eq!(submitted[0]["block_number"].as_u64(), b["block_number"].as_u64());
    assert!(submitted[0]["proving_cycles"].as_u64().unwrap() > 0, "{:?}", submitted[0]);
}
