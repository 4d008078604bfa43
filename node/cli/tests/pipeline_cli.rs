//! `slotproof pipeline check` and the pipeline benchmarks, run as a user would.
#![allow(clippy::unwrap_used)]

mod common;

use common::{json_of, slotproof};

use std::process::Output;

fn check(toml: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    slotproof(&["pipeline", "check", file.to_str().unwrap()])
}

const MINIMAL: &str =
    "[[stage]]\nname = \"a\"\nkind = \"dispatcher\"\ninput = \"q1\"\noutput = \"q2\"\nprover = \"noop\"\n";

#[test]
fn check_accepts_the_minimal_form() {
    let out = check(MINIMAL);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn check_refuses_cycles_and_unknown_queues_with_noop_provers() {
    let cycle = format!(
        "{MINIMAL}[[stage]]\nname = \"b\"\nkind = \"dispatcher\"\ninput = \"q2\"\noutput = \"q1\"\nprover = \"noop\"\n[[stage]]\nname = \"c\"\nkind = \"dispatcher\"\ninput = \"start\"\noutput = \"q1\"\nprover = \"noop\"\n"
    );
    let unknown = format!(
        "inputs = [\"q1\"]\n{MINIMAL}[[stage]]\nname = \"b\"\nkind = \"dispatcher\"\ninput = \"q9\"\noutput = \"q3\"\nprover = \"noop\"\n"
    );
    for (toml, needle) in [(cycle.as_str(), "cycle: a -> b -> a"), (unknown.as_str(), "unknown queue \"q9\"")] {
        let out = check(toml);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(needle) && err.contains("line "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_eq!(err.matches(needle).count(), 1, "said once: {err}");
    }
    let missing = slotproof(&["pipeline", "check", "/nonexistent/pipeline.toml"]);
    assert!(!missing.status.success());
}

#[test]
fn overhead_and_scaling_benchmarks_print_their_fields() {
    let r = json_of(&slotproof(&["bench", "overhead", "--rate", "200", "--seconds", "1", "--json"]));
    for f in ["rate", "tasks", "p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        assert!(r[f].is_number(), "missing {f}: {r}");
    }
    assert_eq!(r["lost"].as_u64(), Some(0), "{r}");
    assert_eq!(r["completed_blocks"].as_u64(), Some(50));
    let s = json_of(&slotproof(&[
        "bench",
        "scaling",
        "--dispatchers",
        "1,4",
        "--prover-ms",
        "20",
        "--per-worker",
        "5",
        "--json",
    ]));
    assert_eq!(s["prover_ms"].as_u64(), Some(20));
    let results = s["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1]["dispatchers"].as_u64(), Some(4));
    assert!(results[1]["efficiency"].as_f64().unwrap() > 0.5, "{s}");
}

#[test]
fn every_example_pipeline_in_specs_checks() {
    let dir = common::manifest_dir().join("../../specs/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = slotproof(&["pipeline", "check", path.to_str().unwrap()]);
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
            n += 1;
        }
    }
    assert!(n >= 2, "examples found: {n}");
}
