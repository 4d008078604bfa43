"""The waiting and the verdict of a cluster.sh run (specs/workers.md §6).

    python3 cluster_report.py wait HOST:PORT SLOTS TIMEOUT_MS ZKVM...
        Polls the node's /status until every prove queue has done SLOTS tasks
        and nothing is pending or leased in them or in the proofs queue, or
        until TIMEOUT_MS; prints the last /status.

    python3 cluster_report.py report WORK W SLOTS ZKVM...
        Reads WORK/status.json (the node's /status before it stopped) and
        WORK/results.json (`slotproof results --json` of the stopped node);
        prints one JSON object as the last line of stdout; exits 1, saying
        why on stderr, when the acceptance does not hold.

lost: (block, zkVM) pairs of the chain's SLOTS blocks with no verified proof.
duplicated: proofs the node accepted beyond one per (block, zkVM) (the
workers' accepted proofs against the distinct pairs proved), plus proof
tasks handed to the recorder beyond the prove tasks completed.
"""

import json
import sys
import time
import urllib.request
from pathlib import Path


def status(http):
    with urllib.request.urlopen(f"http://{http}/status", timeout=5) as r:
        return json.load(r)


def drained(s, slots, zkvms):
    queues = s.get("queues", {})
    for z in zkvms:
        q = queues.get(f"prove:{z}", {})
        if q.get("done", 0) < slots or q.get("pending", 0) or q.get("leased", 0):
            return False
    proofs = queues.get("proofs", {})
    return not proofs.get("pending", 0) and not proofs.get("leased", 0)


def wait(http, slots, timeout_ms, zkvms):
    deadline = time.monotonic() + timeout_ms / 1000
    last = {}
    while True:
        try:
            last = status(http)
            if drained(last, slots, zkvms):
                break
        except OSError as e:
            print(f"/status: {e}", file=sys.stderr)
        if time.monotonic() > deadline:
            print("the prove queues did not drain in time; reporting what is there", file=sys.stderr)
            break
        time.sleep(0.2)
    print(json.dumps(last))


def report(work, workers, slots, zkvms):
    work = Path(work)
    s = json.loads((work / "status.json").read_text() or "{}")
    records = json.loads((work / "results.json").read_text()).get("blocks", [])
    blocks = [b for b in records if not b.get("orphaned")]
    proved = 0
    for b in blocks:
        ok = {p["zkvm"] for p in b.get("proofs", []) if p.get("status") == "proved" and p.get("verified")}
        proved += len(ok & set(zkvms))
    expected = slots * len(zkvms)
    lost = expected - proved

    by_worker = {w["id"]: w.get("proofs", 0) for w in s.get("workers", [])}
    accepted = sum(by_worker.values())
    queues = s.get("queues", {})
    prove_done = sum(queues.get(f"prove:{z}", {}).get("done", 0) for z in zkvms)
    handed_on = sum(queues.get("proofs", {}).get(k, 0) for k in ("done", "pending", "leased"))
    duplicated = max(0, accepted - proved) + max(0, handed_on - prove_done)

    out = {
        "workers": workers,
        "blocks": len(blocks),
        "proofs_by_worker": by_worker,
        "lost": lost,
        "duplicated": duplicated,
        "coverage": round(proved / expected, 4) if expected else 0.0,
    }
    failures = []
    if len(blocks) < slots:
        failures.append(f"the node recorded {len(blocks)} of the chain's {slots} blocks")
    if lost:
        failures.append(f"{lost} block x zkVM pairs were not proved")
    if duplicated:
        failures.append(f"{duplicated} proofs were accepted twice (accepted {accepted}, pairs proved {proved}, "
                        f"handed on {handed_on}, prove tasks done {prove_done})")
    provers = sum(1 for n in by_worker.values() if n > 0)
    if provers < min(workers, 3):
        failures.append(f"only {provers} workers proved anything")
    for f in failures:
        print(f"cluster: {f}", file=sys.stderr)
    print(json.dumps(out))
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "wait":
        wait(argv[2], int(argv[3]), int(argv[4]), argv[5:])
        return 0
    if len(argv) >= 5 and argv[1] == "report":
        return report(argv[2], int(argv[3]), int(argv[4]), argv[5:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
