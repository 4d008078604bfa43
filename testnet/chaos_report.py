"""The verdict of a chaos.sh run (specs/p2p.md §7), from its work dir.

Reads the honest nodes' records (results<i>.json, `slotproof results --json`
of stopped nodes), the honest and hostile peer ids (honest.ids, hostile.ids),
the graylist lines the honest nodes logged (graylisted.log) and the RSS and
disk samples (samples.tsv: node, pid, rss growth kB, disk growth kB; RSS
growth is what a process held for a whole minute, see HELD_WINDOW). Prints
one JSON object as the last line of stdout; exits 1, saying why on stderr,
when the acceptance does not hold.

    python3 chaos_report.py WORK HONEST HOSTILE MINUTES KILLS START_BLOCK END_BLOCK LIMIT_MB
"""

import json
import re
import sys
from pathlib import Path

MIN_COVERAGE = 0.99
# Distinct zkVMs a block needs (the node's default --k).
K = 2


def lines(path):
    return [l.strip() for l in path.read_text().splitlines() if l.strip()] if path.exists() else []


def records(work, i):
    """Block records of honest node i by number; none when it never wrote any."""
    text = (work / f"results{i}.json").read_text().strip() if (work / f"results{i}.json").exists() else ""
    if not text:
        print(f"node {i}: no results (see report.log)", file=sys.stderr)
        return {}
    return {b["block_number"]: b for b in json.loads(text).get("blocks", [])}


def block_verdict(number, nodes, honest):
    """(covered, in time) for one block over every honest node's record of it."""
    zkvms, in_time = set(), set()
    for node_id, blocks in nodes:
        b = blocks.get(number)
        if b is None:
            continue
        for p in b.get("proofs", []):
            if p.get("verified"):
                zkvms.add(p["zkvm"])
                if p.get("within_deadline"):
                    in_time.add(p["zkvm"])
        for p in b.get("network_proofs", []):
            if p.get("verified") and p.get("node") in honest and p.get("node") != node_id:
                zkvms.add(p["zkvm"])
    return len(zkvms) >= K, len(in_time) >= K


def graylisted(work):
    """Peer ids some honest node graylisted."""
    out = set()
    for l in lines(work / "graylisted.log"):
        m = re.search(r"peer=(\S+)", l) or re.search(r"(12D3KooW[1-9A-HJ-NP-Za-km-z]+)", l)
        if m:
            out.add(m.group(1))
    return out


# Samples (5 s apart) in the window whose lowest RSS counts as held: a
# proof's working memory (a STARK proof takes ~40 MB for a second) is not
# growth; memory a process keeps for a whole minute is.
HELD_WINDOW = 12


def growth_mb(work):
    """Per honest process (by pid): the largest RSS it held for a whole
    window above its baseline, and the largest disk growth; the max over
    processes (MB). Also the largest single RSS sample (the peak, with
    working memory), reported but not judged."""
    by_pid, disk, peak = {}, 0, 0
    for l in lines(work / "samples.tsv"):
        _, pid, r, d = l.split("\t")
        by_pid.setdefault(pid, []).append(int(r))
        disk, peak = max(disk, int(d)), max(peak, int(r))
    held = 0
    for series in by_pid.values():
        for end in range(HELD_WINDOW, len(series) + 1):
            held = max(held, min(series[end - HELD_WINDOW : end]))
    return round(held / 1024, 1), round(disk / 1024, 1), round(peak / 1024, 1)


def main(argv):
    work = Path(argv[1])
    n, hostile, minutes, kills, start, end = (int(a) for a in argv[2:8])
    limit_mb = float(argv[8])
    ids = lines(work / "honest.ids")
    honest = set(ids)
    hostile_ids = set(lines(work / "hostile.ids"))
    nodes = [(ids[i], records(work, i)) for i in range(n)]
    numbers = range(start + 1, end + 1)
    verdicts = [block_verdict(x, nodes, honest) for x in numbers]
    blocks = len(verdicts)
    share = lambda picked: round(sum(1 for v in verdicts if picked(v)) / blocks, 4) if blocks else 0.0
    grays = graylisted(work)
    rss, disk, peak = growth_mb(work)
    out = {
        "minutes": minutes,
        "honest": n,
        "hostile": hostile,
        "kills": kills,
        "blocks": blocks,
        "coverage": share(lambda v: v[0]),
        "deadline_share": share(lambda v: v[1]),
        "honest_rss_growth_mb_max": rss,
        "honest_disk_growth_mb_max": disk,
        "honest_graylisted_by_honest": len(grays & honest),
        "hostile_identities_graylisted": len(grays & hostile_ids),
        "honest_rss_peak_mb_max": peak,
    }
    failed = []
    if out["coverage"] < MIN_COVERAGE:
        missed = [x for x, v in zip(numbers, verdicts) if not v[0]]
        failed.append(f"coverage {out['coverage']} < {MIN_COVERAGE} (blocks without {K} honest zkVMs: {missed[:20]})")
    if out["honest_graylisted_by_honest"]:
        failed.append(f"honest nodes graylisted by honest ones: {sorted(grays & honest)}")
    if rss > limit_mb:
        failed.append(f"honest RSS grew {rss} MB > {limit_mb}")
    if disk > limit_mb:
        failed.append(f"honest disk grew {disk} MB > {limit_mb}")
    if blocks == 0:
        failed.append("the chain made no blocks during the run")
    for f in failed:
        print(f"chaos: FAILED: {f}", file=sys.stderr)
    print(json.dumps(out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
