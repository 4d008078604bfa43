#!/usr/bin/env bash
# A chaos testnet on one machine (specs/p2p.md §7): Anvil producing a block
# every slot for the whole run, N honest `slotproof node`s (two zkVMs each,
# own data dir and ports on 127.0.0.1, node 0 the bootnode), H hostile
# `slotproof-adversary` processes making every attack of issue 13 with fresh
# identities, and one honest node SIGKILLed and restarted on its data dir
# every S seconds. Each honest process's RSS and data-dir size are sampled
# every 5 s; growth counts from its first sample after its first minute (a
# restarted process starts a new baseline), and RSS growth is what a process
# held for a whole minute (a proof's working memory is not growth; the peak
# sample is reported as honest_rss_peak_mb_max). At the end everything is
# stopped and the last line of stdout is one JSON object:
#   {"minutes", "honest", "hostile", "kills", "blocks", "coverage",
#    "deadline_share", "honest_rss_growth_mb_max", "honest_disk_growth_mb_max",
#    "honest_graylisted_by_honest", "hostile_identities_graylisted",
#    "honest_rss_peak_mb_max"}
# coverage: the share of the blocks Anvil made during the run with verified
# proofs of >= 2 distinct zkVMs by honest nodes; deadline_share: the same,
# counting only proofs their prover made within the deadline. Exits 0 only
# when coverage >= 0.99, no honest node was graylisted by an honest one and
# both growths are <= 64 MB; otherwise says on stderr what failed.
# Logs go to stderr and the work dir (kept with KEEP=1).
#
#   testnet/chaos.sh --honest N --hostile H --minutes M [--kill-every S] [--slot-time 3s]
#
# Binaries: $SLOTPROOF_BIN and $SLOTPROOF_ADVERSARY_BIN, else built once
# (release). Anvil: $SLOTPROOF_ANVIL, else this checkout's
# node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil, else `anvil` on PATH.
set -euo pipefail

usage() {
  echo "usage: $0 --honest N --hostile H --minutes M [--kill-every S] [--slot-time 3s]" >&2
  exit 2
}
HONEST=; HOSTILE=; MINUTES=; KILL_EVERY=0; SLOT_TIME=3s
while [[ $# -gt 0 ]]; do
  case $1 in
    --honest) HONEST=${2:?}; shift 2 ;;
    --hostile) HOSTILE=${2:?}; shift 2 ;;
    --minutes) MINUTES=${2:?}; shift 2 ;;
    --kill-every) KILL_EVERY=${2:?}; shift 2 ;;
    --slot-time) SLOT_TIME=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
[[ $HONEST =~ ^[0-9]+$ && $HONEST -ge 2 ]] || { echo "--honest: at least 2 (a block needs 2 zkVMs)" >&2; usage; }
[[ $HOSTILE =~ ^[0-9]+$ ]] || usage
[[ $MINUTES =~ ^[0-9]+$ && $MINUTES -ge 1 ]] || { echo "--minutes: a whole number >= 1" >&2; usage; }
[[ $KILL_EVERY =~ ^[0-9]+$ ]] || usage

ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/testnet/common.sh"
parse_slot_time "$SLOT_TIME"
N=$HONEST
NETWORK=${SLOTPROOF_NETWORK:-devnet}
GRAYLIST_LINE="peer score below the graylist: disconnected and blocked"
LIMIT_MB=64
SAMPLE_EVERY=5
BASELINE_AFTER=60

command -v python3 >/dev/null || { echo "chaos.sh needs python3 for the report" >&2; exit 2; }
find_bin
if [[ -n ${SLOTPROOF_ADVERSARY_BIN:-} ]]; then ADV=$SLOTPROOF_ADVERSARY_BIN
else
  echo "building slotproof-adversary (release) once..." >&2
  (cd "$ROOT" && cargo build --release -j2 --bin slotproof-adversary >&2)
  ADV=${CARGO_TARGET_DIR:-$ROOT/target}/release/slotproof-adversary
fi
if [[ -n ${SLOTPROOF_ANVIL:-} ]]; then ANVIL=$SLOTPROOF_ANVIL
elif [[ -x $ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ]]; then
  ANVIL=$ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
elif command -v anvil >/dev/null; then ANVIL=$(command -v anvil)
else echo "no Anvil: set SLOTPROOF_ANVIL or npm install @foundry-rs/anvil" >&2; exit 2; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/slotproof-chaos.XXXXXX")
CHAIN_PID=; SAMPLES=$WORK/samples.tsv
declare -a NODE_PID ADV_PID ID
cleanup() {
  local p
  for p in "${ADV_PID[@]}" "${NODE_PID[@]}" $CHAIN_PID; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${ADV_PID[@]}" "${NODE_PID[@]}" $CHAIN_PID; do kill -KILL "$p" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# A base port with room for the chain, N p2p, N HTTP and H adversary listeners.
pick_base_port 0 $(seq 1 "$N") $(seq 101 $((100 + N))) $(seq 201 $((200 + HOSTILE)))

# Anvil's head over JSON-RPC (decimal).
block_number() {
  local out
  out=$(curl -sf -m 5 -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "http://127.0.0.1:$BASE") || return 1
  [[ $out =~ \"result\":\"0x([0-9a-fA-F]+)\" ]] || return 1
  echo $(( 16#${BASH_REMATCH[1]} ))
}

start_chain() {
  local secs
  secs=$(( SLOT_MS / 1000 )).$(( SLOT_MS % 1000 / 100 ))
  "$ANVIL" --host 127.0.0.1 --port "$BASE" --block-time "$secs" --silent >"$WORK/anvil.log" 2>&1 &
  CHAIN_PID=$!
  for _ in $(seq 100); do block_number >/dev/null && return 0; sleep 0.2; done
  echo "Anvil did not answer on port $BASE" >&2; exit 1
}

# Honest node i on its data dir and ports; its log is appended across restarts.
start_node() {
  local i=$1 z1=${ZKVMS[$(( $1 % 4 ))]} z2=${ZKVMS[$(( ($1 + 1) % 4 ))]}
  local args=(node --rpc-url "ws://127.0.0.1:$BASE" --slot-time "$SLOT_TIME" --data-dir "$WORK/node$i"
              --http "127.0.0.1:$((BASE + 101 + i))" --p2p-listen "/ip4/127.0.0.1/tcp/$((BASE + 1 + i))"
              --network "$NETWORK" --zkvm "$z1" --zkvm "$z2")
  [[ $i -gt 0 ]] && args+=(--bootnode "$BOOT")
  echo "=== start $(date -u +%FT%TZ)" >>"$WORK/node$i.log"
  "$BIN" "${args[@]}" 2>>"$WORK/node$i.log" &
  NODE_PID[i]=$!
  BORN[i]=$SECONDS; BASE_RSS[i]=; BASE_DISK[i]=
  echo "node $i ${ID[i]} zkVMs $z1 $z2 (pid ${NODE_PID[i]})" >&2
}

start_adversary() {
  local j=$1
  # One fresh identity a minute, and the first one.
  "$ADV" --bootnode "$BOOT" --listen "/ip4/127.0.0.1/tcp/$((BASE + 201 + j))" --network "$NETWORK" \
    --minutes "$MINUTES" --identities $(( MINUTES + 1 )) --identities-file "$WORK/hostile$j.ids" \
    2>>"$WORK/hostile$j.log" &
  ADV_PID[j]=$!
  echo "adversary $j (pid ${ADV_PID[j]})" >&2
}

# RSS (kB) and data-dir size (kB) of node i now; growth against its baseline.
sample() {
  local i rss disk
  for i in "${!NODE_PID[@]}"; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${NODE_PID[i]}/status" 2>/dev/null) || continue
    [[ -n $rss ]] || continue
    disk=$(du -sk "$WORK/node$i" 2>/dev/null | cut -f1) || continue
    (( SECONDS - BORN[i] >= BASELINE_AFTER )) || continue
    [[ -n ${BASE_RSS[i]} ]] || { BASE_RSS[i]=$rss; BASE_DISK[i]=$disk; }
    printf '%s\t%s\t%s\t%s\n' "$i" "${NODE_PID[i]}" $(( rss - BASE_RSS[i] )) $(( disk - BASE_DISK[i] )) >>"$SAMPLES"
  done
}

# SIGKILL honest node k, then the same node again on its data dir and ports.
kill_and_restart() {
  local k=$1
  echo "SIGKILL node $k (pid ${NODE_PID[k]})" >&2
  kill -KILL "${NODE_PID[k]}" 2>/dev/null || true
  wait "${NODE_PID[k]}" 2>/dev/null || true
  sleep 3
  start_node "$k"
  KILLS=$(( KILLS + 1 ))
}

# SIGTERM, then SIGKILL whatever is still up after 30 s; a node that exits badly is reported.
stop_all() {
  local p i
  for p in "${ADV_PID[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${ADV_PID[@]}"; do wait "$p" 2>/dev/null || echo "an adversary exited with an error" >&2; done
  for p in "${NODE_PID[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for i in "${!NODE_PID[@]}"; do
    for _ in $(seq 300); do kill -0 "${NODE_PID[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${NODE_PID[i]}" 2>/dev/null && echo "node $i did not stop within 30 s: killed" >&2
    if ! wait "${NODE_PID[i]}"; then
      echo "node $i exited with an error; the end of its log:" >&2
      tail -n 20 "$WORK/node$i.log" >&2
    fi
  done
  kill -TERM "$CHAIN_PID" 2>/dev/null || true
  wait "$CHAIN_PID" 2>/dev/null || true
  ADV_PID=(); NODE_PID=(); CHAIN_PID=
}

for i in $(seq 0 $((N - 1))); do
  ID[i]=$("$BIN" p2p id --data-dir "$WORK/node$i")
done
BOOT=/ip4/127.0.0.1/tcp/$((BASE + 1))/p2p/${ID[0]}
declare -a BORN BASE_RSS BASE_DISK
KILLS=0

start_chain
for i in $(seq 0 $((N - 1))); do start_node "$i"; done
sleep 3
START_BLOCK=$(block_number)
for j in $(seq 0 $((HOSTILE - 1))); do start_adversary "$j"; done
echo "run: $MINUTES min from block $START_BLOCK; work dir $WORK" >&2

END=$(( SECONDS + MINUTES * 60 ))
LAST_KILL=$SECONDS; NEXT_VICTIM=0
while (( SECONDS < END )); do
  sleep "$SAMPLE_EVERY"
  sample
  if (( KILL_EVERY > 0 && SECONDS - LAST_KILL >= KILL_EVERY && SECONDS + 10 < END )); then
    kill_and_restart "$NEXT_VICTIM"
    NEXT_VICTIM=$(( (NEXT_VICTIM + 1) % N )); LAST_KILL=$SECONDS
  fi
done
END_BLOCK=$(block_number)
# Two slots more for the last block's proofs to be made and spread.
sleep $(( 2 * SLOT_MS / 1000 + 1 ))
stop_all

for i in $(seq 0 $((N - 1))); do
  printf '%s\n' "${ID[i]}" >>"$WORK/honest.ids"
  "$BIN" results --data-dir "$WORK/node$i" --json 2>>"$WORK/report.log" | tail -n 1 >"$WORK/results$i.json" || true
done
cat "$WORK"/hostile*.ids >"$WORK/hostile.ids" 2>/dev/null || : >"$WORK/hostile.ids"
cat "$WORK"/node*.log | grep -a "$GRAYLIST_LINE" >"$WORK/graylisted.log" || true

python3 "$ROOT/testnet/chaos_report.py" "$WORK" "$N" "$HOSTILE" "$MINUTES" "$KILLS" "$START_BLOCK" "$END_BLOCK" "$LIMIT_MB"
